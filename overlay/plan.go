package overlay

import (
	"fmt"
	"net/netip"

	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// Mode is the name of the Kubernetes model's mode and its default lab name.
const Mode = topo.OverlayMode

// UnderlayBridge is the switch of the embedded underlay network.
const UnderlayBridge = "br-underlay"

// Containers are the containers of every pod, in the order they start.
var Containers = []string{"app", "sidecar"}

// Plan returns the ops that build topology t's local nodes (all of them
// when embedded), the pods they run, and every namespace they name.
func Plan(t *topo.Topology) lab.Plan {
	return lab.PlanWith(t, lab.Model{
		Workload: pod,
		Node:     Node,
		Make:     Pod,
		Firewall: func(t *topo.Topology, node topo.Node, _ []state.Workload) []netops.Op {
			ops := []netops.Op{netops.IPTables{NS: node.NS, Marker: names.RuleMarker(t.Lab), Chains: Chains(), Rules: Rules(t, node)}}
			if t.IPv6 {
				ops = append(ops, netops.IPTables{NS: node.NS, IPv6: true, Marker: names.RuleMarker(t.Lab), Chains: Chains(), Rules: Rules6(t, node)})
			}
			return ops
		},
	}, UnderlayBridge)
}

func pod(t *topo.Topology, node topo.Node, n, i int) state.Workload {
	name := fmt.Sprintf("pod%d", n)
	ip, _ := ipam.Nth(node.PodCIDR, uint64(i+2)) // .1 is cni0
	w := state.Workload{Name: name, Kind: "pod", Node: node.Name, NS: names.NetnsName(t.Lab, name),
		IP: ip, Prefix: node.PodCIDR.Bits(), HostIface: "veth-" + name, Port: t.Overlay.AppPort,
		Containers: Containers}
	if t.IPv6 {
		// host-local's IPv6 range, in the same order (::1 is cni0).
		w.IP6, _ = ipam.Nth(node.PodCIDR6, uint64(i+2))
		w.Prefix6 = node.PodCIDR6.Bits()
	}
	return w
}

// GatewayMAC is cni0's MAC on the node whose gateway is gw: 0a:58 and the
// four bytes of gw, as CNI's hwaddr package makes a MAC from an IPv4
// address. CNI's bridge plugin sets the bridge's (random) MAC so that it
// stays; netlab sets one derived from the node, the same on every run.
func GatewayMAC(gw netip.Addr) string {
	b := gw.As4()
	return fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// VTEPMAC is the MAC of a node's flannel.1. flannel picks one at random and
// publishes it in a Kubernetes node annotation; netlab derives it from the
// node's underlay address, so every node knows every peer's without a
// control plane. 0e: a locally administered unicast address.
func VTEPMAC(underlay netip.Addr) string { return vtepMAC(0x6c, underlay) }

// VTEPMAC6 is the MAC of a node's flannel-v6.1 in a dual-stack lab, from
// its IPv4 underlay address too: 0e:66 (6 for IPv6) and its four bytes.
func VTEPMAC6(underlay netip.Addr) string { return vtepMAC(0x66, underlay) }

// vtepMAC is 0e, then second, then the four bytes of the node's IPv4
// underlay address.
func vtepMAC(second byte, underlay netip.Addr) string {
	b := underlay.As4()
	return fmt.Sprintf("0e:%02x:%02x:%02x:%02x:%02x", second, b[0], b[1], b[2], b[3])
}

// Device6 is flannel's IPv6 VXLAN device: flannel-v6.<VNI>.
func Device6(o topo.Overlay) string { return fmt.Sprintf("flannel-v6.%d", o.VNI) }

// Node returns the ops that make a node's share of the cluster network:
// forwarding, cni0 with the node's pod CIDR, flannel.1 and, per peer node,
// the route, ARP entry and FDB entry that reach its pods.
func Node(t *topo.Topology, node topo.Node) []netops.Op {
	o, mtu := t.Overlay, t.MTU()
	ops := []netops.Op{
		// Forwarding, and kube-proxy's route_localnet (it sets it for its
		// localhost NodePorts: 127.0.0.1:<nodePort> DNATed to a pod).
		netops.Sysctl{NS: node.NS, Settings: []netops.KV{{Key: "net.ipv4.ip_forward", Value: "1"}, {Key: "net.ipv4.conf.all.route_localnet", Value: "1"}}},
		// cni0's MAC is set, as CNI's bridge plugin sets it ("Otherwise,
		// the bridge will take the lowest-numbered mac on the bridge, and
		// will change as ifs churn"): a bridge whose MAC is its own keeps
		// it as pods come and go. Else a pod's neighbour entry for its
		// gateway can name a port's MAC that the bridge no longer answers
		// to, and the pod is cut off from other nodes until the entry
		// goes stale (seconds; seen by the NetworkPolicy probe).
		netops.BridgeAdd{NS: node.NS, Name: o.Bridge, Alias: names.Marker(t.Lab, o.Bridge), MTU: mtu, MAC: GatewayMAC(node.Gateway())},
		netops.AddrAdd{NS: node.NS, Dev: o.Bridge, CIDR: netip.PrefixFrom(node.Gateway(), node.PodCIDR.Bits()).String()},
	}
	if t.IPv6 {
		// Dual-stack: IPv6 forwarding, and cni0's IPv6 gateway (no DAD:
		// the pods' first packets need it at once).
		ops = append(ops,
			lab.Forwarding6(t, node.NS),
			netops.AddrAdd{NS: node.NS, Dev: o.Bridge, CIDR: netip.PrefixFrom(node.Gateway6(), node.PodCIDR6.Bits()).String(), NoDAD: true})
	}
	if o.Backend == topo.HostGW {
		// flannel's host-gw: no tunnel, no encapsulation. Each peer's pod
		// CIDR is routed via that peer's own underlay address, which the
		// nodes reach directly because they share one L2 segment; the
		// peer routes the packet on into its cni0.
		for _, peer := range t.Nodes {
			if peer.Name != node.Name {
				ops = append(ops, netops.RouteAdd{NS: node.NS, Dst: peer.PodCIDR.String(), Via: peer.IP.String(), Dev: node.Iface})
				if t.IPv6 {
					ops = append(ops, netops.RouteAdd{NS: node.NS, Dst: peer.PodCIDR6.String(), Via: peer.IP6.String(), Dev: node.Iface})
				}
			}
		}
		return ops
	}
	ops = append(ops, netops.VxlanAdd{NS: node.NS, Name: o.Device, Alias: names.Marker(t.Lab, o.Device), VNI: o.VNI,
		MAC: VTEPMAC(node.IP), Local: node.IP.String(), Dev: node.Iface, Port: o.Port, MTU: t.MTU4(),
		Addr: netip.PrefixFrom(node.VTEP(), 32).String()})
	if t.ChecksumFix != "" {
		// flannel#1279: on some virtual NICs and kernels the checksums of
		// VXLAN packets come out wrong and the peer drops them.
		ops = append(ops, netops.Ethtool{NS: node.NS, Dev: o.Device, Settings: []string{"tx-checksum-ip-generic", "off"}})
	}
	for _, peer := range t.Nodes {
		if peer.Name == node.Name {
			continue
		}
		mac := VTEPMAC(peer.IP)
		ops = append(ops,
			netops.NeighReplace{NS: node.NS, IP: peer.VTEP().String(), MAC: mac, Dev: o.Device},
			netops.FdbReplace{NS: node.NS, MAC: mac, Dev: o.Device, Dst: peer.IP.String()},
			netops.RouteAdd{NS: node.NS, Dst: peer.PodCIDR.String(), Via: peer.VTEP().String(), Dev: o.Device, Onlink: true},
		)
	}
	if t.IPv6 {
		ops = append(ops, vxlan6(t, node)...)
	}
	return ops
}

// vxlan6 is flannel's IPv6 overlay on a node of a dual-stack lab (flannel's
// EnableIPv6): flannel-v6.1, the same VNI and port, over the underlay's
// IPv6 addresses, with the node's IPv6 pod CIDR's network address as a
// /128 (no DAD: it is the node's source address towards other nodes' pods
// at once; router advertisements are not heeded, as flannel sets it, by
// the node's default accept_ra=0);
// per peer, the neighbour entry of its VTEP, the FDB entry to its IPv6
// underlay address and the route to its IPv6 pod CIDR. Its MTU is what
// fits VXLAN over IPv6 (70 bytes less than the underlay's, where flannel
// v0.28 takes 50 for both devices).
func vxlan6(t *topo.Topology, node topo.Node) []netops.Op {
	o, dev := t.Overlay, Device6(t.Overlay)
	ops := []netops.Op{
		netops.VxlanAdd{NS: node.NS, Name: dev, Alias: names.Marker(t.Lab, dev), VNI: o.VNI,
			MAC: VTEPMAC6(node.IP), Local: node.IP6.String(), Dev: node.Iface, Port: o.Port, MTU: t.MTU6(),
			Addr: netip.PrefixFrom(node.VTEP6(), 128).String(), NoDAD: true},
	}
	for _, peer := range t.Nodes {
		if peer.Name == node.Name {
			continue
		}
		mac := VTEPMAC6(peer.IP)
		ops = append(ops,
			netops.NeighReplace{NS: node.NS, IP: peer.VTEP6().String(), MAC: mac, Dev: dev},
			netops.FdbReplace{NS: node.NS, MAC: mac, Dev: dev, Dst: peer.IP6.String()},
			netops.RouteAdd{NS: node.NS, Dst: peer.PodCIDR6.String(), Via: peer.VTEP6().String(), Dev: dev, Onlink: true},
		)
	}
	return ops
}

// Pod returns the ops that make pod w on node: its namespace, its veth pair
// into cni0 (at the overlay's MTU, in hairpin mode as flannel's CNI config,
// hairpinMode: true, gives every pod: a pod reaching itself through a
// Service goes out of its bridge port and back in), its address and its
// default route.
func Pod(t *topo.Topology, node topo.Node, w state.Workload) []netops.Op {
	ns := lab.Netns(t.Lab, w.Name)
	if t.IPv6 {
		// Dual-stack: IPv6 on, and eth0 without DAD, as the CNI bridge
		// plugin leaves it (accept_dad=0: hairpin mode would echo its
		// probes back and fail them), nor router solicitations.
		ns = lab.NetnsIPv6(t.Lab, w.Name, lab.QuietIPv6...)
	}
	ops := []netops.Op{
		ns,
		netops.VethAdd{NS: node.NS, Name: w.HostIface, Master: t.Overlay.Bridge, Alias: names.Marker(t.Lab, w.Name),
			PeerNS: w.NS, PeerName: "eth0", MTU: t.MTU(), Hairpin: true},
		netops.AddrAdd{NS: w.NS, Dev: "eth0", CIDR: netip.PrefixFrom(w.IP, w.Prefix).String()},
		netops.RouteAdd{NS: w.NS, Dst: "default", Via: node.Gateway().String()},
	}
	if w.IP6.IsValid() {
		ops = append(ops,
			netops.AddrAdd{NS: w.NS, Dev: "eth0", CIDR: netip.PrefixFrom(w.IP6, w.Prefix6).String()},
			netops.RouteAdd{NS: w.NS, Dst: "default", Via: node.Gateway6().String()})
	}
	return ops
}

// flannel's chains, as flanneld v0.28.9 names them
// (pkg/trafficmngr/iptables/iptables.go). netlab's rules in them carry its
// lab's marker in a second comment, so down finds them on a real node;
// the chains' names are flannel's, as a learner meets them on a node.
const (
	PostroutingChain = "FLANNEL-POSTRTG" // nat: who is masqueraded
	ForwardChain     = "FLANNEL-FWD"     // filter: pod traffic forwarded
	// KubeProxyMark is kube-proxy's masquerade mark, which flannel leaves
	// to kube-proxy's own MASQUERADE (no double NAT).
	KubeProxyMark = "0x4000/0x4000"
)

// Chains are flannel's iptables chains on a node.
func Chains() []netops.Chain {
	return []netops.Chain{
		{Table: "nat", Name: PostroutingChain},
		{Table: "filter", Name: ForwardChain},
	}
}

// Rules returns a node's iptables rules, flanneld's (--ip-masq, iptables
// with --random-fully, v0.28.9's masqRules and forwardRules) for the
// node's pod CIDR, rule for rule and in flannel's order, each with
// flannel's comment: no NAT inside the cluster or for what arrives for
// this node's pods, MASQUERADE for pods leaving the cluster and for
// anything outside it headed into the cluster through this node, and
// forwarding for pod traffic whatever the FORWARD policy.
func Rules(t *topo.Topology, node topo.Node) []netops.Rule {
	return rules(t.Overlay.ClusterCIDR, node.PodCIDR, "224.0.0.0/4")
}

// Rules6 are a dual-stack node's ip6tables rules, flanneld's masqIP6Rules
// and forward rules for its IPv6 network: the same as IPv4's, with the
// IPv6 CIDRs and IPv6's multicast (ff00::/8).
func Rules6(t *topo.Topology, node topo.Node) []netops.Rule {
	return rules(t.Overlay.ClusterCIDR6, node.PodCIDR6, "ff00::/8")
}

// rules are flannel's rules of one family: the cluster's CIDR, the node's
// pod CIDR, and the family's multicast range (never masqueraded).
func rules(clusterCIDR, podCIDR netip.Prefix, multicast string) []netops.Rule {
	cluster, pods := clusterCIDR.String(), podCIDR.String()
	masq := func(why string, spec ...string) netops.Rule {
		return netops.Rule{Table: "nat", Chain: PostroutingChain, Spec: flannelSpec("flanneld masq", spec), Why: why}
	}
	fwd := func(why string, spec ...string) netops.Rule {
		return netops.Rule{Table: "filter", Chain: ForwardChain, Spec: flannelSpec("flanneld forward", spec), Why: why}
	}
	return []netops.Rule{
		{Table: "nat", Chain: "POSTROUTING", Spec: flannelSpec("flanneld masq", []string{"-j", PostroutingChain}),
			Why: "flannel: who is masqueraded"},
		masq("kube-proxy masquerades what it marked", "-m", "mark", "--mark", KubeProxyMark, "-j", "RETURN"),
		masq("pods of this node to the cluster: no NAT", "-s", pods, "-d", cluster, "-j", "RETURN"),
		masq("the cluster to pods of this node: no NAT", "-s", cluster, "-d", pods, "-j", "RETURN"),
		masq("outside to pods of this node: no NAT", "!", "-s", cluster, "-d", pods, "-j", "RETURN"),
		masq("pods leaving the cluster take the address of the node", "-s", cluster, "!", "-d", multicast, "-j", "MASQUERADE", "--random-fully"),
		masq("outside to pods of another node, through this one: masqueraded", "!", "-s", cluster, "-d", cluster, "-j", "MASQUERADE", "--random-fully"),
		{Table: "filter", Chain: "FORWARD", Spec: flannelSpec("flanneld forward", []string{"-j", ForwardChain}),
			Why: "flannel: pod traffic is forwarded"},
		fwd("traffic from pods", "-s", cluster, "-j", "ACCEPT"),
		fwd("traffic to pods", "-d", cluster, "-j", "ACCEPT"),
	}
}

// flannelSpec is spec with flannel's comment before its jump, where
// flannel writes it.
func flannelSpec(comment string, spec []string) []string {
	j := len(spec)
	for i, a := range spec {
		if a == "-j" {
			j = i
			break
		}
	}
	out := append(append([]string{}, spec[:j]...), "-m", "comment", "--comment", comment)
	return append(out, spec[j:]...)
}
