package lab

import (
	"net/netip"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// Plan is what a mode will build: the ops in order, the workloads they
// create, every namespace they name, and the hosts whose workloads get
// processes (one netlab-pod runtime per host).
type Plan struct {
	Ops        []netops.Op
	Workloads  []state.Workload
	Namespaces []netops.NS
	Runtimes   []topo.Host
	// Proxies are the userland proxies of published ports (Docker's
	// docker-proxy), run by their node's runtime.
	Proxies []state.Proxy
	// Daemons are the lab's servers beside the runtimes (netlab run with
	// Args, in Host's namespace), started after them.
	Daemons []Daemon
	// Peers are the workloads of the nodes this machine does not build (a
	// real node's peers): their names and addresses, which every machine
	// of the lab computes alike.
	Peers []state.Workload
}

// Daemon is one of a lab's servers: netlab with Args, in Host's
// namespace, logging to Log in the lab's directory.
type Daemon struct {
	Host topo.Host
	Args []string
	Log  string
}

// Add appends ops and records the namespaces they create.
func (p *Plan) Add(ops ...netops.Op) {
	for _, op := range netops.Flatten(ops) {
		if a, ok := op.(netops.NetnsAdd); ok {
			p.Namespaces = append(p.Namespaces, netops.NS(a.Name))
		}
	}
	p.Ops = append(p.Ops, ops...)
}

// NoIPv6 are the sysctls that turn IPv6 off in a namespace, for every
// interface there and every one created later: the lab is IPv4 only, and
// IPv6 autoconf on a thousand bridge ports would make setup quadratic
// (Docker does the same).
var NoIPv6 = []netops.KV{
	{Key: "net.ipv6.conf.all.disable_ipv6", Value: "1"},
	{Key: "net.ipv6.conf.default.disable_ipv6", Value: "1"},
}

// Pinned are the sysctls a lab depends on, set in every namespace netlab
// makes, because a new namespace inherits the IPv4 ones from the machine's
// (net.core.devconf_inherit_init_net=0): a host hardened with strict
// reverse-path filtering or without redirects would otherwise change what
// learners see. They are a fresh kernel's values. Bridged packets pass
// iptables where br_netfilter is loaded, as on every Docker host and
// Kubernetes node (netlab loads no module: without it, the keys are absent
// and skipped).
var Pinned = []netops.KV{
	{Key: "net.ipv4.conf.all.rp_filter", Value: "0"},
	{Key: "net.ipv4.conf.default.rp_filter", Value: "0"},
	{Key: "net.ipv4.conf.all.arp_ignore", Value: "0"},
	{Key: "net.ipv4.conf.default.arp_ignore", Value: "0"},
	{Key: "net.ipv4.conf.all.arp_announce", Value: "0"},
	{Key: "net.ipv4.conf.default.arp_announce", Value: "0"},
	{Key: "net.ipv4.conf.all.accept_redirects", Value: "1"},
	{Key: "net.ipv4.conf.default.accept_redirects", Value: "1"},
	{Key: "net.ipv4.conf.all.send_redirects", Value: "1"},
	{Key: "net.ipv4.conf.default.send_redirects", Value: "1"},
	{Key: "net.bridge.bridge-nf-call-iptables", Value: "1", Optional: true},
}

// ContainerSysctls are what Docker sets in every container (20.10 and
// later): any port may be bound without privileges, and any group may send
// ICMP echo with an unprivileged socket.
var ContainerSysctls = []netops.KV{
	{Key: "net.ipv4.ip_unprivileged_port_start", Value: "0"},
	{Key: "net.ipv4.ping_group_range", Value: "0 2147483647"},
}

// QuietIPv6 are the sysctls of a dual-stack workload's namespace that
// keep its interfaces from announcing themselves with multicast: no
// duplicate address detection and no router solicitations. On a bridge
// with no MLD querier (docker0, cni0) every such packet is flooded to every
// port, so a thousand workloads would make setup quadratic; their
// addresses are the lab's own, and no router advertises on the bridge.
var QuietIPv6 = []netops.KV{
	{Key: "net.ipv6.conf.default.accept_dad", Value: "0"},
	{Key: "net.ipv6.conf.default.router_solicitations", Value: "0"},
}

// Netns is the op that creates the namespace of lab's object obj, marked as
// lab's, IPv4 only, with the pinned sysctls and any more given.
func Netns(lab, obj string, more ...netops.KV) netops.NetnsAdd {
	return netnsWith(lab, obj, NoIPv6, more)
}

// NetnsIPv6 is Netns with IPv6 on (all.disable_ipv6 = 0, which sets default
// too, whatever this machine's are): more may turn it off for what comes
// later (default.disable_ipv6 = 1).
func NetnsIPv6(lab, obj string, more ...netops.KV) netops.NetnsAdd {
	return netnsWith(lab, obj, []netops.KV{{Key: "net.ipv6.conf.all.disable_ipv6", Value: "0"}}, more)
}

func netnsWith(lab, obj string, ipv6, more []netops.KV) netops.NetnsAdd {
	kvs := append(append(append([]netops.KV{}, ipv6...), Pinned...), more...)
	return netops.NetnsAdd{Name: string(names.NetnsName(lab, obj)), Marker: names.Marker(lab, obj), Sysctls: kvs}
}

// Forwarding6 is the op that turns IPv6 forwarding on in node ns of a
// dual-stack lab; on a real node, the routers learned on the machine's
// interfaces that take router advertisements are kept first (accept_ra 2:
// forwarding on would make the kernel drop them, and the default route
// they gave).
func Forwarding6(t *topo.Topology, ns netops.NS) netops.Sysctl {
	var kvs []netops.KV
	for _, i := range t.KeepRA {
		kvs = append(kvs, netops.KV{Key: "net.ipv6.conf." + i + ".accept_ra", Value: "2"})
	}
	return netops.Sysctl{NS: ns, Settings: append(kvs, netops.KV{Key: "net.ipv6.conf.all.forwarding", Value: "1"})}
}

// Underlay returns the ops of the embedded underlay: a namespace holding a
// switch (the Vagrant private network), and every host (nodes and the
// outside host) as a namespace wired to it with eth1, as in a VM. Nodes get
// a default route via the outside host, which plays the rest of the world.
func Underlay(t *topo.Topology, bridge string) []netops.Op {
	ul := t.UnderlayNetns()
	ops := []netops.Op{
		Netns(t.Lab, "underlay"),
		netops.BridgeAdd{NS: ul, Name: bridge, Alias: names.Marker(t.Lab, bridge)},
	}
	for _, h := range t.Hosts() {
		ns := Netns(t.Lab, h.Name)
		if t.IPv6 {
			// Dual-stack: IPv6 on, and no router advertisements heeded:
			// the lab's addresses and routes are its own. No duplicate
			// address detection on the links made here either: nothing
			// can duplicate an address on them, and DAD holds a new
			// interface's link-local address for a second, in which the
			// kernel sends no neighbour solicitation for a packet it
			// forwards (its source must be a usable link-local address):
			// a node would drop the first packets for its pods.
			ns = NetnsIPv6(t.Lab, h.Name, netops.KV{Key: "net.ipv6.conf.default.accept_ra", Value: "0"},
				netops.KV{Key: "net.ipv6.conf.default.accept_dad", Value: "0"})
		}
		ops = append(ops,
			ns,
			netops.VethAdd{NS: ul, Name: h.Name, Master: bridge, Alias: names.Marker(t.Lab, h.Name),
				PeerNS: h.NS, PeerName: h.Iface, MTU: t.UnderlayMTU},
			netops.AddrAdd{NS: h.NS, Dev: h.Iface, CIDR: netip.PrefixFrom(h.IP, t.Underlay.Bits()).String()},
		)
		if t.IPv6 {
			ops = append(ops, netops.AddrAdd{NS: h.NS, Dev: h.Iface, CIDR: netip.PrefixFrom(h.IP6, t.Underlay6.Bits()).String(), NoDAD: true})
		}
		if t.Outside != nil && h.Name != t.Outside.Name {
			ops = append(ops, netops.RouteAdd{NS: h.NS, Dst: "default", Via: t.Outside.IP.String()})
			if t.IPv6 {
				ops = append(ops, netops.RouteAdd{NS: h.NS, Dst: "default", Via: t.Outside.IP6.String()})
			}
		}
	}
	return ops
}

// Model is what differs between the two networking models: how a node is
// wired, how its workloads are named and made, and its firewall.
type Model struct {
	// state.Workload names and addresses the i-th workload of node, the n-th of
	// the lab (numbered across every node, built here or not, so that every
	// machine of a real cluster agrees on names).
	Workload func(t *topo.Topology, node topo.Node, n, i int) state.Workload
	// topo.Node returns the ops that wire a node, before its workloads.
	Node func(t *topo.Topology, node topo.Node) []netops.Op
	// Make returns the ops that make one workload on node.
	Make func(t *topo.Topology, node topo.Node, w state.Workload) []netops.Op
	// Firewall returns a node's iptables (and ip6tables), after its
	// workloads.
	Firewall func(t *topo.Topology, node topo.Node, ws []state.Workload) []netops.Op
}

// PlanWith plans topology t with model m: the embedded underlay if any, then
// each local node, its workloads side by side, and its firewall.
func PlanWith(t *topo.Topology, m Model, underlayBridge string) Plan {
	var p Plan
	if t.Embedded {
		p.Add(Underlay(t, underlayBridge)...)
	}
	local := map[string]bool{}
	for _, n := range t.LocalNodes() {
		local[n.Name] = true
	}
	n := 0
	for _, node := range t.Nodes {
		var ws []state.Workload
		var groups [][]netops.Op
		for i := 0; i < node.Workloads; i++ {
			n++
			w := m.Workload(t, node, n, i)
			ws = append(ws, w)
			groups = append(groups, m.Make(t, node, w))
		}
		if !local[node.Name] {
			p.Peers = append(p.Peers, ws...)
			continue
		}
		p.Add(m.Node(t, node)...)
		// Workloads do not depend on each other: build them side by side.
		p.Add(netops.Parallel{Groups: groups})
		p.Add(m.Firewall(t, node, ws)...)
		p.Workloads = append(p.Workloads, ws...)
		p.Runtimes = append(p.Runtimes, node.Host)
	}
	if t.Outside != nil {
		p.Runtimes = append(p.Runtimes, *t.Outside)
	}
	return p
}
