package compare

import (
	"fmt"
	"net/netip"
	"strings"

	"netlab/internal/api"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// Two questions where the models name and share things differently:
// how a workload finds another by name, and what two containers sharing
// one network namespace look like.

// KubernetesName is the name a pod looks up: the Service every cluster has.
const KubernetesName = "kubernetes.default.svc.cluster.local"

// nameLookup asks a's resolver for a name: in the Docker model, the other
// container's of its node (Docker's embedded DNS knows it on a
// user-defined network, nothing knows it on the default bridge); in the
// Kubernetes model, the Service kubernetes.default (the cluster DNS).
func (sub *subject) nameLookup() *api.Cell {
	name := KubernetesName
	if sub.s.Mode == topo.DockerMode {
		if sub.b == nil {
			return &api.Cell{Error: fmt.Sprintf("%s runs one workload: no other name to look up", sub.node.Name)}
		}
		name = sub.b.Name
	}
	server := netops.Nameserver(sub.a.NS)
	c := &api.Cell{From: label(sub.a), To: name}
	if server == "" {
		c.Note = fmt.Sprintf("no resolver: %s has no resolv.conf of the lab's", sub.a.Name)
		if sub.s.Mode == topo.OverlayMode {
			c.Note = "no cluster DNS yet: netlab apply starts it"
		}
		return c
	}
	c.Server = server
	ips, rcode, err := lookup(sub.a.NS, server, name)
	if err != nil {
		c.Note = "no answer from " + server + ": " + short(err)
		return c
	}
	c.Rcode, c.Resolved = rcode, ips
	c.Reachable = len(ips) > 0
	switch {
	case sub.s.Mode == topo.OverlayMode && c.Reachable:
		c.Note = fmt.Sprintf("the cluster DNS (%s) answers a Service's name with its ClusterIP, the same on every node", server)
	case sub.s.Mode == topo.OverlayMode:
		c.Note = fmt.Sprintf("the cluster DNS (%s) does not know %s", server, name)
	case c.Reachable:
		c.Note = fmt.Sprintf("Docker's embedded DNS (%s, in %s's own namespace) answers the containers of its networks", server, sub.a.Name)
		if sub.b.IP.IsValid() && !containsAddr(ips, sub.b) {
			c.Note += fmt.Sprintf(": not %s's address", sub.b.Name)
		}
	case server == "127.0.0.11":
		c.Note = fmt.Sprintf("Docker's embedded DNS does not know %s: not on a network of %s's", name, sub.a.Name)
	default:
		c.Note = fmt.Sprintf("no name on the default bridge: %s asks the node's nameserver %s, which does not know %s ('docker-mode --network NAME' gives names)",
			sub.a.Name, server, name)
	}
	return c
}

func containsAddr(ips []string, w *state.Workload) bool {
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && (a == w.IP || attachedAt(w, a)) {
			return true
		}
	}
	return false
}

func attachedAt(w *state.Workload, a netip.Addr) bool {
	for _, at := range w.Networks {
		if at.IP == a {
			return true
		}
	}
	return false
}

// sharedNamespace finds two containers in one network namespace and asks
// one's server from the other's side at 127.0.0.1: Docker's
// --network container:NAME, or a pod's containers (app and sidecar).
func (sub *subject) sharedNamespace() *api.Cell {
	if sub.s.Mode == topo.DockerMode {
		for i := range sub.s.Workloads {
			w := &sub.s.Workloads[i]
			owner, ok := strings.CutPrefix(w.Mode, topo.ModeContainer)
			if !ok {
				continue
			}
			ow := sub.s.Workload(owner)
			if ow == nil {
				continue
			}
			to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ow.Port))
			c := &api.Cell{From: w.Name + " (--network container:" + owner + ")", To: to.String()}
			sub.askShared(c, w.NS, to, owner)
			if c.Reachable {
				c.Note = fmt.Sprintf("%s has no namespace of its own: %d processes share %s's, one address (%s), one loopback", w.Name, c.Processes, owner, ow.IP)
			}
			return c
		}
		return &api.Cell{From: label(sub.a), Note: "no container of this lab shares another's namespace ('docker run --network container:NAME' makes one: examples/docker-networks.yaml)"}
	}
	if len(sub.a.Containers) < 2 {
		return &api.Cell{From: label(sub.a), Note: sub.a.Name + " runs one container"}
	}
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sub.a.Port))
	c := &api.Cell{From: sub.a.Name + " (" + strings.Join(sub.a.Containers, ", ") + ")", To: to.String()}
	sub.askShared(c, sub.a.NS, to, sub.a.Name)
	if c.Reachable {
		c.Note = fmt.Sprintf("a pod is one namespace: its %d containers (%d processes by name) share one address (%s) and one loopback",
			len(sub.a.Containers), c.Processes, sub.a.IP)
	}
	return c
}

// askShared asks to from ns: the server of want should answer, and the
// namespace should hold more than one process.
func (sub *subject) askShared(c *api.Cell, ns netops.NS, to netip.AddrPort, want string) {
	c.Processes = pidsIn(ns)
	a, err := ask(ns, to)
	if err != nil {
		c.Note = "no answer: " + short(err)
		return
	}
	c.AnsweredBy, c.SeenSource = a.Name, a.Client
	if a.Container != "" {
		c.AnsweredBy += "/" + a.Container
	}
	c.Reachable = a.Name == want && c.Processes > 1
}
