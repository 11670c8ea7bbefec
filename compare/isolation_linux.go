package compare

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"netlab/internal/api"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
	"netlab/trace"
)

// What keeps two workloads apart. In the Docker model, networks: the
// containers of two user-defined networks on one host cannot reach each
// other (the node drops what crosses between their bridges). In the
// Kubernetes model every pod reaches every pod until a NetworkPolicy
// selects one.

// isolation asks, with a real connection, two workloads the lab keeps
// apart (and walks the node's rules for the one that drops it); when the
// lab keeps none apart, two that reach each other, and says so.
func (sub *subject) isolation() *api.Cell {
	if sub.s.Mode == topo.DockerMode {
		return sub.networkIsolation()
	}
	return sub.policyIsolation()
}

// networks are the Docker networks of a container with a namespace of its
// own ("bridge" for the default one); none for the other network modes.
func networks(w *state.Workload) []string {
	if w.Mode != "" || !w.IP.IsValid() {
		return nil
	}
	if len(w.Networks) == 0 {
		return []string{"bridge"}
	}
	var out []string
	for _, at := range w.Networks {
		out = append(out, at.Network)
	}
	return out
}

func shareNetwork(a, b []string) bool {
	for _, n := range a {
		if slices.Contains(b, n) {
			return true
		}
	}
	return false
}

// networkIsolation asks between two containers of a's node that share no
// network, the first such pair; else a and b, on one network.
func (sub *subject) networkIsolation() *api.Cell {
	ws := sub.s.OnNode(sub.node.Name)
	for i := range ws {
		x := &ws[i]
		nx := networks(x)
		if nx == nil {
			continue
		}
		for j := range ws {
			y := &ws[j]
			ny := networks(y)
			if ny == nil || i == j || shareNetwork(nx, ny) {
				continue
			}
			c := sub.apart(x.NS, label(x), x.IP, y.Name, server(y))
			what := fmt.Sprintf("%s is on %s, %s on %s: no network in common", x.Name, strings.Join(nx, ", "), y.Name, strings.Join(ny, ", "))
			if c.Reachable {
				c.Note = what + ", yet it answered: nothing keeps them apart"
			} else {
				c.Note = what + ", " + sub.node.Name + " keeps them apart"
			}
			return c
		}
	}
	if sub.b == nil || networks(sub.a) == nil || networks(sub.b) == nil {
		return &api.Cell{Error: fmt.Sprintf("%s runs one container with a network: nothing to keep apart", sub.node.Name)}
	}
	c := sub.apart(sub.a.NS, label(sub.a), sub.a.IP, sub.b.Name, server(sub.b))
	common := networks(sub.a)[0]
	if c.Reachable {
		c.Note = fmt.Sprintf("every container of %s is on %s, which keeps nothing apart; two Docker networks are kept apart by the node (docker-mode --topology examples/docker-networks.yaml)", sub.node.Name, common)
	} else {
		c.Note = fmt.Sprintf("%s and %s are both on %s, yet no answer", sub.a.Name, sub.b.Name, common)
	}
	return c
}

// policyIsolation asks a connection the lab's NetworkPolicies deny, from
// a pod of a's node (to one on another node when there is one); with no
// policy denying anything, a to the other node's workload, which answers.
func (sub *subject) policyIsolation() *api.Cell {
	st, err := kube.LoadStore(sub.s.Lab)
	if err != nil {
		return &api.Cell{Error: err.Error()}
	}
	set := st.PolicySet()
	if from, to, port, v, ok := deniedPair(st, set, sub.node.Name); ok {
		fp, tp := policyPod(set, from), policyPod(set, to)
		c := sub.apart(from.NS, from.Namespace+"/"+from.Name+" "+from.IP.String(), from.IP, to.Name, netip.AddrPortFrom(to.IP, uint16(port)))
		c.Meant = tp.Key()
		c.Note = "NetworkPolicy: " + v.Why(fp.Key(), tp.Key())
		if c.Reachable {
			c.Note += ", yet it answered: the rules do not do what the policies say"
		}
		return c
	}
	w := sub.c
	if w == nil {
		w = sub.b
	}
	if w == nil {
		return &api.Cell{Error: fmt.Sprintf("%s runs one pod: nothing to keep apart", sub.node.Name)}
	}
	c := sub.apart(sub.a.NS, label(sub.a), sub.a.IP, w.Name, server(w))
	switch {
	case len(set.Policies) == 0 && c.Reachable:
		c.Note = fmt.Sprintf("no NetworkPolicy in lab %s: every pod reaches every pod; one that selects a pod keeps the others out (netlab apply -f examples/netpol/deny-all.yaml, netlab netpol probe)", sub.s.Lab)
	case c.Reachable:
		n := fmt.Sprintf("%d NetworkPolicies", len(set.Policies))
		if len(set.Policies) == 1 {
			n = "1 NetworkPolicy"
		}
		c.Note = fmt.Sprintf("lab %s has %s, denying nothing between its pods", sub.s.Lab, n)
	default:
		c.Note = fmt.Sprintf("%s did not answer, and no NetworkPolicy denies it", w.Name)
	}
	return c
}

// policyPod is pod p of set.
func policyPod(set *kube.PolicySet, p kube.Pod) *kube.PolicyPod {
	if pp := set.Pod(p.Namespace + "/" + p.Name); pp != nil {
		return pp
	}
	return &kube.PolicyPod{Namespace: p.Namespace, Name: p.Name}
}

// deniedPair finds a TCP connection the policies deny, from a ready pod
// of node to the port a ready pod serves: one to another node first (the
// packet crosses the overlay before a rule drops it), from a pod of the
// user's rather than the cluster's own (the DNS) first.
func deniedPair(st kube.Store, set *kube.PolicySet, node string) (from, to kube.Pod, port int, v kube.Verdict, ok bool) {
	if len(set.Policies) == 0 {
		return
	}
	best := -1
	for _, f := range st.Pods {
		if f.Node != node || !f.Ready || !f.IP.IsValid() {
			continue
		}
		for _, t := range st.Pods {
			if t.Namespace == f.Namespace && t.Name == f.Name || !t.Ready || !t.IP.IsValid() {
				continue
			}
			for _, ct := range t.Template.Containers {
				if ct.ServesUDP() {
					continue
				}
				p := ct.ServePort()
				score := 0
				if t.Node != f.Node {
					score += 2
				}
				if f.System == "" {
					score++
				}
				if score <= best {
					continue
				}
				vv := set.Evaluate(kube.Peer{Pod: policyPod(set, f)}, kube.Peer{Pod: policyPod(set, t)}, int32(p), corev1.ProtocolTCP)
				if vv.Allowed {
					continue
				}
				from, to, port, v, ok, best = f, t, p, vv, true, score
				if best == 3 {
					return
				}
			}
		}
	}
	return
}

// apart asks to from ns (the workload at src, shown as from) with a real
// connection, reachable when want answered, and walks the way through the
// kernel's tables for the rule that drops it.
func (sub *subject) apart(ns netops.NS, from string, src netip.Addr, want string, to netip.AddrPort) *api.Cell {
	c := &api.Cell{From: from, To: to.String(), Meant: want}
	a, err := ask(ns, to)
	if err != nil {
		c.Failed = short(err)
	} else {
		c.AnsweredBy, c.SeenSource = a.Name, a.Client
		c.Reachable = a.Name == want
	}
	t := trace.Walk(trace.Request{State: sub.s, SrcNS: ns, Src: api.TraceEnd{IP: src.String()}, Dst: to.Addr(), Proto: "tcp", Port: int(to.Port())})
	if t.Outcome == "dropped" && len(t.Hops) > 0 {
		h := t.Hops[len(t.Hops)-1]
		c.DroppedBy = h.Host + ": " + h.Filter
	}
	return c
}
