package workshop

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"netlab/internal/netops"
	"netlab/kube"
)

// The NetworkPolicy exercises: a policy a colleague wrote is the break.
// The learner reads it (netlab get netpol -o yaml), applies a better one
// (netlab apply -f), and the checks ask with real connections and
// lookups what a policy must let through and what it must keep out, so
// that deleting the policy, or opening everything, is refused.

// asWritten is a break that is the manifests themselves: the policy as
// its author wrote it is what is wrong, and nothing else is broken.
func asWritten(*Env) ([]netops.Op, error) { return nil, nil }

// applyLine applies doc, an object as a one-line YAML flow document, as
// a learner types it: sudo netlab apply --lab L -f - <<< '...'.
func applyLine(e *Env, doc string) string {
	return fmt.Sprintf("sudo netlab apply --lab %s -f - <<< '%s'", e.S.Lab, doc)
}

// verdict is what the lab's policies say of a TCP (or UDP) connection
// from one pod to another's port: netlab's evaluator, for hints.
func (e *Env) verdict(from, to string, port int, proto corev1.Protocol) (kube.Verdict, bool) {
	st, err := kube.LoadStore(e.S.Lab)
	if err != nil {
		return kube.Verdict{}, false
	}
	set := st.PolicySet()
	f, t := set.Pod(from), set.Pod(to)
	if f == nil || t == nil {
		return kube.Verdict{}, false
	}
	return set.Evaluate(kube.Peer{Pod: f}, kube.Peer{Pod: t}, int32(port), proto), true
}

// podServer is the address and port a pod of netlab apply's serves on
// (port), "" when it has no address.
func (e *Env) podServer(key string, port int) (netip.AddrPort, bool) {
	p, ok := e.Pod(key)
	if !ok || !p.IP.IsValid() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(p.IP, uint16(port)), true
}

// reaches: a connection from one pod to another's port is answered by
// that pod (want), or refused (!want): the policy must let the one
// through and keep the other out. lead is where to look when it does not.
func reaches(from, to string, port int, want bool, lead string) Criterion {
	name := fmt.Sprintf("%s reaches %s on port %d", from, to, port)
	if !want {
		name = fmt.Sprintf("%s is kept out of %s's port %d", from, to, port)
	}
	return Criterion{name, func(e *Env) Outcome {
		addr, ok := e.podServer(to, port)
		if !ok {
			return Outcome{Observed: "no pod " + to + " in lab " + e.S.Lab, Hint: "the exercise's pods are gone: 'sudo netlab exercise reset' starts over"}
		}
		_, toName, _ := strings.Cut(to, "/")
		a := e.Ask(from, addr)
		answered := a.Err == nil && a.Answer.Name == toName
		o := Outcome{Pass: answered == want, Observed: a.Text}
		if o.Pass {
			return o
		}
		v, _ := e.verdict(from, to, port, corev1.ProtocolTCP)
		if want {
			o.Hint = fmt.Sprintf("the policies say: %s. %s", v.Why(from, to), lead)
		} else {
			o.Hint = fmt.Sprintf("%s got in, and must not: %s. %s", from, v.Why(from, to), lead)
		}
		return o
	}}
}

// resolvesService: a pod finds a Service by its name, with the resolver
// its resolv.conf names (the cluster DNS), over UDP or TCP.
func resolvesService(from, ns, svc string, tcp bool) Criterion {
	proto := map[bool]string{false: "UDP", true: "TCP"}[tcp]
	host := svc + "." + ns + ".svc.cluster.local"
	return Criterion{fmt.Sprintf("%s finds %s by name (%s)", from, host, proto), func(e *Env) Outcome {
		l := e.Lookup(from, host, tcp)
		want := ""
		if st, err := kube.LoadStore(e.S.Lab); err == nil {
			for _, s := range st.Services {
				if s.Namespace == ns && s.Name == svc {
					want = s.ClusterIP.String()
				}
			}
		}
		o := Outcome{Pass: l.Err == nil && len(l.Addrs) == 1 && l.Addrs[0] == want, Observed: l.Text}
		switch {
		case o.Pass:
		case l.Err == nil:
			o.Hint = fmt.Sprintf("the answer is not the Service's ClusterIP (%s)", want)
		default:
			o.Hint = e.Once("dns-policy-"+from+proto, func() string { return dnsPolicyHint(e, from, tcp) })
		}
		return o
	}}
}

// dnsPolicyHint says what the policies make of from's query to the
// cluster DNS pod: the query goes to 10.96.0.10:53 and, DNATed, to the
// DNS pod, where an egress policy judges it.
func dnsPolicyHint(e *Env, from string, tcp bool) string {
	proto := corev1.ProtocolUDP
	if tcp {
		proto = corev1.ProtocolTCP
	}
	st, err := kube.LoadStore(e.S.Lab)
	if err != nil {
		return err.Error()
	}
	dnsPod := ""
	for _, p := range st.Pods {
		if p.System == "dns" {
			dnsPod = p.Namespace + "/" + p.Name
		}
	}
	v, ok := e.verdict(from, dnsPod, 53, proto)
	if !ok {
		return "the cluster DNS has no pod: 'sudo netlab get pods -n kube-system'"
	}
	s := fmt.Sprintf("%s asks %s, the Service kube-dns, whose pod is %s (port 53, %s). The policies say: %s. ",
		from, e.Nameserver(from), dnsPod, proto, v.Why(from, dnsPod))
	if v.Allowed {
		return s + "They allow it, so look at the node's rules ('sudo netlab trace')."
	}
	return s + "A resolver asks over UDP, and over TCP when the answer is big: both go to the DNS pod's port 53 in kube-system ('sudo netlab get pods -n kube-system --show-labels')."
}

// Exercise 19's namespace shop: a frontend locked down to its backend,
// and an admin pod it must not reach.
const lockdown = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Pod
metadata: {name: frontend, namespace: shop, labels: {app: frontend}}
spec: {containers: [{name: web, image: "netlab/web:frontend", ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: backend, namespace: shop, labels: {app: backend}}
spec: {containers: [{name: api, image: "netlab/web:backend", ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: admin, namespace: shop, labels: {app: admin}}
spec: {containers: [{name: web, image: "netlab/web:admin", ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec: {selector: {app: backend}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: frontend-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: frontend}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: backend}}}]
    ports: [{port: 8080, protocol: TCP}]
`

// Exercise 20's namespaces: the database of team data, the shop team's
// API and web pods, a QA team's API, and a reports job beside the
// database.
const andOr = `apiVersion: v1
kind: Namespace
metadata: {name: data, labels: {team: data}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: qa, labels: {team: qa}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data, labels: {app: db}}
spec: {containers: [{name: db, image: "netlab/web:db", ports: [{name: postgres, containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reports, namespace: data, labels: {role: api}}
spec: {containers: [{name: job, image: "netlab/web:reports"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {role: api}}
spec: {containers: [{name: api, image: "netlab/web:api"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {role: web}}
spec: {containers: [{name: web, image: "netlab/web:web"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: qa, labels: {role: api}}
spec: {containers: [{name: api, image: "netlab/web:qa-api"}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: shop}}
    - podSelector: {matchLabels: {role: api}}
    ports: [{port: 5432}]
`

// Exercise 21's namespace: a web pod whose port is named web (and a
// metrics port beside it), its client, and a batch job.
const portName = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  containers:
  - {name: web, image: "netlab/web:web", ports: [{name: web, containerPort: 8080}]}
  - {name: metrics, image: "netlab/web:metrics", ports: [{name: metrics, containerPort: 9090}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {role: client}}
spec: {containers: [{name: client, image: "netlab/web:client"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: batch, namespace: shop, labels: {role: batch}}
spec: {containers: [{name: batch, image: "netlab/web:batch"}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: http}]
`

func init() {
	register(Exercise{
		N: 19, ID: "k8s-netpol-dns", Title: "The lockdown broke name lookups",
		Model: Kubernetes, Difficulty: "easy", Manifests: lockdown, Break: asWritten,
		Story: func(e *Env) string {
			be, _ := e.podServer("shop/backend", 8080)
			return fmt.Sprintf("Security locked shop/frontend down with the NetworkPolicy shop/frontend-egress: it may talk to the backend and nothing else. "+
				"Since then frontend logs 'could not resolve host: backend.shop.svc.cluster.local', though calls to the backend's own address (%s) work. "+
				"Let frontend find names again, over UDP and TCP, and open nothing else: it must still not reach shop/admin, nor the outside host. "+
				"Read the policy with 'sudo netlab get netpol -n shop --lab %s -o yaml', and change policies with 'sudo netlab apply --lab %s -f FILE'.",
				be, e.S.Lab, e.S.Lab)
		},
		Criteria: []Criterion{
			resolvesService("shop/frontend", "shop", "backend", false),
			resolvesService("shop/frontend", "shop", "backend", true),
			reaches("shop/frontend", "shop/backend", 8080, true, "The backend is what frontend is for: keep the rule that lets it in."),
			reaches("shop/frontend", "shop/admin", 80, false, "Let DNS out, not everything: a rule's 'to' and 'ports' narrow it to the DNS pod's port 53."),
			{"shop/frontend is kept out of the outside host", func(e *Env) Outcome {
				a := e.Ask("shop/frontend", e.OutsideServer())
				o := Outcome{Pass: a.Err != nil, Observed: a.Text}
				if !o.Pass {
					o.Hint = "frontend reached the outside host: an egress rule without 'to' (or with 0.0.0.0/0) lets a pod out to anywhere on its ports. Narrow it to the DNS pod's port 53."
				}
				return o
			}},
		},
		Solution: func(e *Env) []string {
			return []string{
				"# a second policy for frontend: policies add up, so it may now also ask the cluster DNS (kube-system's DNS pod, port 53, UDP and TCP)",
				applyLine(e, `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: frontend-dns, namespace: shop}, `+
					`spec: {podSelector: {matchLabels: {app: frontend}}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, `+
					`podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]}}`),
			}
		},
	})

	register(Exercise{
		N: 20, ID: "k8s-netpol-and-or", Title: "The database lets in more than the API",
		Model: Kubernetes, Difficulty: "medium", Manifests: andOr, Break: asWritten,
		Story: func(e *Env) string {
			db, _ := e.podServer("data/db", 5432)
			return fmt.Sprintf("The database data/db (%s) must take connections from one kind of client only: the API pods (role: api) of the shop team's namespaces (team: shop). "+
				"Its NetworkPolicy data/db-ingress was written for that, yet an audit saw shop/web connect to the database, and data/reports too. "+
				"Fix the policy so that shop/api gets in and no one else does (qa/api is another team's API). "+
				"Read it with 'sudo netlab get netpol db-ingress -n data --lab %s -o yaml'; 'sudo netlab get pods -A --show-labels --lab %s' and 'sudo netlab get ns --show-labels --lab %s' show the labels.",
				db, e.S.Lab, e.S.Lab, e.S.Lab)
		},
		Criteria: []Criterion{
			reaches("shop/api", "data/db", 5432, true, "Both conditions must hold for one peer: its namespace's labels and its own."),
			reaches("shop/web", "data/db", 5432, false, "A 'from' list is a list of alternatives: each entry lets in what it matches alone. Are namespaceSelector and podSelector two entries (a '-' before each) or one?"),
			reaches("data/reports", "data/db", 5432, false, "A podSelector alone, in a 'from' entry, picks pods of the policy's own namespace (data): role: api there is data/reports."),
			reaches("qa/api", "data/db", 5432, false, "namespaceSelector: {} selects every namespace: the API of the shop team's namespaces only."),
		},
		Solution: func(e *Env) []string {
			return []string{
				"# one peer with both selectors: pods labelled role: api AND in a namespace labelled team: shop (no '-' before podSelector)",
				applyLine(e, `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: db-ingress, namespace: data}, `+
					`spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress], ingress: [{from: [{namespaceSelector: {matchLabels: {team: shop}}, `+
					`podSelector: {matchLabels: {role: api}}}], ports: [{port: 5432}]}]}}`),
			}
		},
	})

	register(Exercise{
		N: 21, ID: "k8s-netpol-port-name", Title: "The policy keeps out the client it was written for",
		Model: Kubernetes, Difficulty: "medium", Manifests: portName, Break: asWritten,
		Story: func(e *Env) string {
			web, _ := e.podServer("shop/web", 8080)
			return fmt.Sprintf("shop/web serves its site on %s and its metrics on port 9090. The NetworkPolicy shop/web-ingress went in to let the site's clients "+
				"(role: client) in and keep everyone else out. Since then shop/client gets 'connection refused' from %s too. "+
				"Fix the policy: shop/client reaches the site; shop/batch does not, and the metrics port stays closed to both. "+
				"'sudo netlab get netpol web-ingress -n shop --lab %s -o yaml' and 'sudo netlab get pod web -n shop --lab %s -o yaml' show what each says.",
				web, web, e.S.Lab, e.S.Lab)
		},
		Criteria: []Criterion{
			reaches("shop/client", "shop/web", 8080, true, "A port given by name matches a container port of that name on the selected pod: which names does shop/web give its ports?"),
			reaches("shop/batch", "shop/web", 8080, false, "Only role: client is to be let in."),
			reaches("shop/client", "shop/web", 9090, false, "A rule without ports lets its peers in on every port: name the site's port only."),
			reaches("shop/batch", "shop/web", 9090, false, "Only the site's port, for role: client only."),
		},
		Solution: func(e *Env) []string {
			return []string{
				"# the pod names its port web, not http: the rule's port by that name (or by number, 8080)",
				applyLine(e, `{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web-ingress, namespace: shop}, `+
					`spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress], ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: web}]}]}}`),
			}
		},
	})
}
