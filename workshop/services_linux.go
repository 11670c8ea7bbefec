package workshop

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"netlab/internal/netops"
	"netlab/internal/topo"
	"netlab/internal/who"
	"netlab/kube"
)

// The Services exercises: the seed's Service over three pods of app:
// MyApp, with kube-proxy's rules on both nodes, broken in one rule.

// myApp is the Deployment and the seed's Service the exercises start from.
const myApp = `apiVersion: apps/v1
kind: Deployment
metadata: {name: myapp}
spec:
  replicas: 3
  selector: {matchLabels: {app: MyApp}}
  template:
    metadata: {labels: {app: MyApp}}
    spec:
      containers: [{name: web, image: "netlab/web:red", ports: [{name: http, containerPort: 9376}]}]
---
{"kind": "Service", "apiVersion": "v1", "metadata": {"name": "my-service"},
 "spec": {"selector": {"app": "MyApp"}, "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}]}}
`

// service is a Service of the lab's store.
func (e *Env) service(name string) (kube.Service, bool) {
	c, err := kube.Open(e.S, "", nil)
	if err != nil {
		return kube.Service{}, false
	}
	for _, s := range c.Store.Services {
		if s.Namespace == "default" && s.Name == name {
			return s, true
		}
	}
	return kube.Service{}, false
}

// readyPods are the Ready pods a Service of the lab's store selects:
// its endpoints, as kube-proxy sends to them.
func (e *Env) readyPods(name string) []kube.Pod {
	c, err := kube.Open(e.S, "", nil)
	if err != nil {
		return nil
	}
	s, ok := e.service(name)
	if !ok {
		return nil
	}
	var out []kube.Pod
	for _, p := range c.Store.Pods {
		if p.Namespace == s.Namespace && p.Ready && kube.Matches(s.Selector, p.Template.Labels) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (e *Env) vip(name string) netip.AddrPort {
	s, _ := e.service(name)
	port := 80
	if len(s.Ports) > 0 {
		port = s.Ports[0].Port
	}
	return netip.AddrPortFrom(s.ClusterIP, uint16(port))
}

// spread asks to n times from a workload, a few at a time, and counts
// who answered ("refused", "no answer" for failures).
func (e *Env) spread(from string, to netip.AddrPort, n int) map[string]int {
	out := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range min(n, 8) {
		wg.Go(func() {
			for range next {
				who := e.askOnce(from, to)
				mu.Lock()
				out[who]++
				mu.Unlock()
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return out
}

// askOnce asks to once from a workload: the name of who answered, or
// "refused" or "no answer".
func (e *Env) askOnce(from string, to netip.AddrPort) string {
	c, err := who.Dial(e.NS(from), to, askTimeout)
	if err != nil {
		if strings.Contains(err.Error(), "refused") {
			return "refused"
		}
		return "no answer"
	}
	defer c.Close()
	a, err := who.AskConn(c, to.String())
	if err != nil {
		return "no answer"
	}
	return a.Name
}

func counts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// allAnswered: n requests from a workload to a Service, every one
// answered, and every Ready pod of the Service among those answering (with
// three pods, one of them gets none of 60 requests once in 10^10).
func allAnswered(from string, n int) Criterion {
	return Criterion{fmt.Sprintf("%d requests from %s to my-service are all answered, by every pod of the Service", n, from), func(e *Env) Outcome {
		to := e.vip("my-service")
		got := e.spread(from, to, n)
		bad := got["refused"] + got["no answer"]
		var idle []string
		for _, p := range e.readyPods("my-service") {
			if got[p.Name] == 0 {
				idle = append(idle, p.Name)
			}
		}
		o := Outcome{Pass: bad == 0 && len(idle) == 0, Observed: fmt.Sprintf("%s → %s, %d requests: %s", e.label(from), to, n, counts(got))}
		rules := "iptables -t nat -S"
		if e.S.Topology.Overlay.Proxy() == topo.ProxyNFTables {
			rules = "nft list table ip kube-proxy, or 'netlab explain svc/my-service'"
		}
		if bad == 0 && len(idle) > 0 {
			o.Hint = fmt.Sprintf("every request was answered, but never by %s, a Ready pod of the Service: a Service sends to all of its pods. "+
				"Compare node1's rules for my-service with node2's (%s).", strings.Join(idle, ", "), rules)
		} else if !o.Pass {
			o.Hint = fmt.Sprintf("%d of %d were refused at once (a reset: something at the far end has no server on that port), the rest answered by the pods. "+
				"Where do the refused ones go? Follow a few with 'sudo netlab trace --lab %s %s %s --port %d' and look at each hop's dnat.",
				got["refused"], n, e.S.Lab, from, to.Addr(), to.Port())
		}
		return o
	}}
}

func init() {
	register(Exercise{
		N: 11, ID: "k8s-service-refuses", Title: "A Service refuses one request in three",
		Model: Kubernetes, Difficulty: "medium", Manifests: myApp,
		Story: func(e *Env) string {
			return fmt.Sprintf("Calls from pods on node1 to my-service (%s) fail about one time in three with 'connection refused'; "+
				"the same calls from pods on node2 all work, and each of the three pods of app: MyApp answers when asked directly.", e.vip("my-service"))
		},
		Break: func(e *Env) ([]netops.Op, error) {
			s, ok := e.service("my-service")
			if !ok {
				return nil, fmt.Errorf("no Service my-service")
			}
			r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`^-A KUBE-SEP-\S+ .*-j DNAT --to-destination \S+:`+fmt.Sprint(s.Ports[0].TargetPort)+`$`))
			if err != nil {
				return nil, err
			}
			args := netops.SplitSaved(r)
			wrong := strings.Replace(r, fmt.Sprintf(":%d", s.Ports[0].TargetPort), fmt.Sprintf(":%d", s.Ports[0].TargetPort+1), 1)
			return []netops.Op{
				netops.IPTablesDel{NS: e.NS("node1"), Table: "nat", Rules: []string{"-D" + r[2:]}},
				netops.IPTablesRaw{NS: e.NS("node1"), Table: "nat", Rule: wrong, Chain: args[1]},
			}, nil
		},
		Criteria: []Criterion{allAnswered("pod1", 60), allAnswered("pod3", 60)},
		Solution: func(e *Env) []string {
			s, _ := e.service("my-service")
			r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`^-A KUBE-SEP-\S+ .*-j DNAT --to-destination \S+:`+fmt.Sprint(s.Ports[0].TargetPort+1)+`$`))
			if err != nil {
				return []string{"# the rule that DNATs to the wrong port is gone already"}
			}
			right := strings.Replace(r, fmt.Sprintf(":%d", s.Ports[0].TargetPort+1), fmt.Sprintf(":%d", s.Ports[0].TargetPort), 1)
			ns := e.NS("node1")
			return []string{
				fmt.Sprintf("sudo ip netns exec %s iptables -t nat -D%s", ns, r[2:]),
				fmt.Sprintf("sudo ip netns exec %s iptables -t nat %s", ns, right),
			}
		},
	})

	register(Exercise{
		N: 12, ID: "k8s-service-no-endpoints", Title: "A Service without pods keeps clients waiting",
		Model: Kubernetes, Difficulty: "easy",
		Manifests: myApp + "---\n" + `{"kind": "Service", "apiVersion": "v1", "metadata": {"name": "backend"},
 "spec": {"selector": {"app": "backend"}, "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}]}}
`,
		Story: func(e *Env) string {
			return fmt.Sprintf("The Service backend (%s) has no pods yet. Clients on node2 that call it are told at once that "+
				"nothing listens, and move on; clients on node1 hang until their own time-out.", e.vip("backend"))
		},
		Break: func(e *Env) ([]netops.Op, error) {
			r, err := e.SavedRule("node1", "filter", regexp.MustCompile(`^-A KUBE-SERVICES .*default/backend has no endpoints.*-j REJECT`))
			if err != nil {
				return nil, err
			}
			return []netops.Op{netops.IPTablesDel{NS: e.NS("node1"), Table: "filter", Rules: []string{"-D" + r[2:]}}}, nil
		},
		// Refused: a REJECT wider than backend's address and port (the
		// whole Service range, say), which refuses my-service too.
		Criteria: []Criterion{refusedAtOnce("pod1"), refusedAtOnce("pod3"), allAnswered("pod1", 30)},
		Solution: func(e *Env) []string {
			to := e.vip("backend")
			return []string{fmt.Sprintf(`sudo ip netns exec %s iptables -I KUBE-SERVICES -m comment --comment "default/backend has no endpoints" -d %s/32 -p tcp -m tcp --dport %d -j REJECT`,
				e.NS("node1"), to.Addr(), to.Port())}
		},
	})

	register(Exercise{
		N: 13, ID: "k8s-uneven-balancing", Title: "One pod takes nearly all the traffic",
		Model: Kubernetes, Difficulty: "hard", Manifests: myApp,
		Story: func(e *Env) string {
			return fmt.Sprintf("Of the three pods behind my-service (%s), one runs hot and the two others are nearly idle, "+
				"from whichever node the calls come.", e.vip("my-service"))
		},
		Break: func(e *Env) ([]netops.Op, error) {
			var ops []netops.Op
			for _, n := range []string{"node1", "node2"} {
				r, err := e.SavedRule(n, "nat", regexp.MustCompile(`^-A KUBE-SVC-\S+ .*--probability 0\.3333.* -j KUBE-SEP-`))
				if err != nil {
					return nil, err
				}
				args := netops.SplitSaved(r)
				ops = append(ops, netops.IPTablesRaw{NS: e.NS(n), Table: "nat", Chain: args[1], Replace: 2,
					Rule: regexp.MustCompile(`--probability \S+`).ReplaceAllString(r, "--probability 0.90000000000")})
			}
			return ops, nil
		},
		Criteria: []Criterion{rulesEven("node1"), rulesEven("node2"), evenly("pod1"), evenly("pod3")},
		Solution: func(e *Env) []string {
			var cmds []string
			for _, n := range []string{"node1", "node2"} {
				// The first balancing rule of the chain, whatever its probability
				// now (iptables-save prints the kernel's rounding of it).
				r, err := e.SavedRule(n, "nat", regexp.MustCompile(`^-A KUBE-SVC-\S+ .*--probability \S+ .*-j KUBE-SEP-`))
				if err != nil {
					continue
				}
				chain := netops.SplitSaved(r)[1]
				right := regexp.MustCompile(`--probability \S+`).ReplaceAllString(r, "--probability 0.3333333333")
				cmds = append(cmds, fmt.Sprintf("sudo ip netns exec %s iptables -t nat -R %s 2%s", e.NS(n), chain, strings.TrimPrefix(right, "-A "+chain)))
			}
			return cmds
		},
	})
}

// refusedAtOnce: a connection to a Service without endpoints is refused
// within a second.
func refusedAtOnce(from string) Criterion {
	return Criterion{"from " + from + ", backend refuses at once", func(e *Env) Outcome {
		to := e.vip("backend")
		start := time.Now()
		_, err := who.Dial(e.NS(from), to, 1500*time.Millisecond) // enough to tell "at once" from "never"
		took := time.Since(start)
		refused := err != nil && strings.Contains(err.Error(), "refused")
		what := "connected"
		if err != nil {
			what = lastWords(err)
		}
		o := Outcome{Pass: refused && took < time.Second, Observed: fmt.Sprintf("%s → %s: %s after %d ms", e.label(from), to, what, took.Milliseconds())}
		if !o.Pass {
			o.Hint = fmt.Sprintf("%s waited %d ms and got '%s': nothing answered it. From the other node the same call is refused at once: "+
				"compare the two nodes' filter tables (iptables -S) for what answers a Service without endpoints.", from, took.Milliseconds(), what)
		}
		return o
	}}
}

// evenly: evenRequests requests from a workload spread over the three
// pods, each inside evenBounds (TestEvenlyArithmetic has the odds).
func evenly(from string) Criterion {
	n := evenRequests
	lo, hi := evenBounds(n, 3)
	return Criterion{fmt.Sprintf("%d requests from %s spread evenly over the three pods (%d to %d each)", n, from, lo, hi), func(e *Env) Outcome {
		to := e.vip("my-service")
		got := e.spread(from, to, n)
		pass := len(got) == 3
		for _, c := range got {
			pass = pass && c >= lo && c <= hi
		}
		o := Outcome{Pass: pass, Observed: fmt.Sprintf("%s → %s, %d requests: %s", e.label(from), to, n, counts(got))}
		if !pass {
			o.Hint = "kube-proxy gives the i-th of N endpoints the probability 1/(N−i) of what the rules before it left over, so that each gets 1/N. " +
				"Read the --probability of each rule of my-service's KUBE-SVC chain on the node " + from + " is on."
		}
		return o
	}}
}

// rulesEven: the rules of my-service on a node give each Ready pod a
// third of the new connections, computed from the rules as the kernel
// takes them (Shares).
func rulesEven(node string) Criterion {
	return Criterion{"my-service's rules on " + node + " give each pod a third", func(e *Env) Outcome {
		save, err := netops.IPTablesSave(e.NS(node), "nat")
		if err != nil {
			return Outcome{Observed: err.Error()}
		}
		shares, err := Shares(save, "default/my-service")
		if err != nil {
			return Outcome{Observed: node + ": " + err.Error(), Hint: "kube-proxy's rules for my-service must be there: KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-…"}
		}
		var eps []string
		for _, p := range e.readyPods("my-service") {
			eps = append(eps, fmt.Sprintf("%s:%d", p.IP, p.Template.Containers[0].ServePort()))
		}
		ok, text := even(shares, eps, evenTolerance)
		o := Outcome{Pass: ok, Observed: node + "'s rules give: " + text}
		if !ok {
			o.Hint = "each rule of a KUBE-SVC chain takes its --probability of what the rules before it left over: " +
				"with p1, p2 and a last rule, the pods get p1, (1−p1)·p2 and (1−p1)·(1−p2). Make each a third."
		}
		return o
	}}
}
