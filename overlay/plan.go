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
		Firewall: func(t *topo.Topology, node topo.Node, _ []state.Workload) netops.IPTables {
			return netops.IPTables{NS: node.NS, Marker: names.RuleMarker(t.Lab), Chains: Chains(t.Lab), Rules: Rules(t)}
		},
	}, UnderlayBridge)
}

func pod(t *topo.Topology, node topo.Node, n, i int) state.Workload {
	name := fmt.Sprintf("pod%d", n)
	ip, _ := ipam.Nth(node.PodCIDR, uint64(i+2)) // .1 is cni0
	return state.Workload{Name: name, Kind: "pod", Node: node.Name, NS: names.NetnsName(t.Lab, name),
		IP: ip, Prefix: node.PodCIDR.Bits(), HostIface: "veth-" + name, Port: t.Overlay.AppPort,
		Containers: Containers}
}

// VTEPMAC is the MAC of a node's flannel.1. flannel picks one at random and
// publishes it in a Kubernetes node annotation; netlab derives it from the
// node's underlay address, so every node knows every peer's without a
// control plane. 0e: a locally administered unicast address.
func VTEPMAC(underlay netip.Addr) string {
	b := underlay.As4()
	return fmt.Sprintf("0e:6c:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// Node returns the ops that make a node's share of the cluster network:
// forwarding, cni0 with the node's pod CIDR, flannel.1 and, per peer node,
// the route, ARP entry and FDB entry that reach its pods.
func Node(t *topo.Topology, node topo.Node) []netops.Op {
	o, mtu := t.Overlay, t.MTU()
	ops := []netops.Op{
		netops.Sysctl{NS: node.NS, Settings: []netops.KV{{Key: "net.ipv4.ip_forward", Value: "1"}}},
		netops.BridgeAdd{NS: node.NS, Name: o.Bridge, Alias: names.Marker(t.Lab, o.Bridge), MTU: mtu},
		netops.AddrAdd{NS: node.NS, Dev: o.Bridge, CIDR: netip.PrefixFrom(node.Gateway(), node.PodCIDR.Bits()).String()},
	}
	if o.Backend == topo.HostGW {
		// flannel's host-gw: no tunnel, no encapsulation. Each peer's pod
		// CIDR is routed via that peer's own underlay address, which the
		// nodes reach directly because they share one L2 segment; the
		// peer routes the packet on into its cni0.
		for _, peer := range t.Nodes {
			if peer.Name != node.Name {
				ops = append(ops, netops.RouteAdd{NS: node.NS, Dst: peer.PodCIDR.String(), Via: peer.IP.String(), Dev: node.Iface})
			}
		}
		return ops
	}
	ops = append(ops, netops.VxlanAdd{NS: node.NS, Name: o.Device, Alias: names.Marker(t.Lab, o.Device), VNI: o.VNI,
		MAC: VTEPMAC(node.IP), Local: node.IP.String(), Dev: node.Iface, Port: o.Port, MTU: mtu,
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
	return ops
}

// Pod returns the ops that make pod w on node: its namespace, its veth pair
// into cni0 (at the overlay's MTU), its address and its default route.
func Pod(t *topo.Topology, node topo.Node, w state.Workload) []netops.Op {
	return []netops.Op{
		lab.Netns(t.Lab, w.Name),
		netops.VethAdd{NS: node.NS, Name: w.HostIface, Master: t.Overlay.Bridge, Alias: names.Marker(t.Lab, w.Name),
			PeerNS: w.NS, PeerName: "eth0", MTU: t.MTU()},
		netops.AddrAdd{NS: w.NS, Dev: "eth0", CIDR: netip.PrefixFrom(w.IP, w.Prefix).String()},
		netops.RouteAdd{NS: w.NS, Dst: "default", Via: node.Gateway().String()},
	}
}

// Chains are the lab's own iptables chains on a node.
func Chains(labName string) []netops.Chain {
	return []netops.Chain{
		{Table: "nat", Name: names.ChainName(labName, "SNAT")},
		{Table: "filter", Name: names.ChainName(labName, "FWD")},
	}
}

// Rules returns a node's iptables rules, flannel's in spirit: no NAT
// inside the cluster CIDR, MASQUERADE for pods leaving it, and forwarding
// for pod traffic whatever the FORWARD policy.
func Rules(t *topo.Topology) []netops.Rule {
	cluster := t.Overlay.ClusterCIDR.String()
	snat, fwd := names.ChainName(t.Lab, "SNAT"), names.ChainName(t.Lab, "FWD")
	return []netops.Rule{
		{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-j", snat},
			Why: "source NAT for pods leaving the cluster"},
		{Table: "nat", Chain: snat, Spec: []string{"-s", cluster, "-d", cluster, "-j", "RETURN"},
			Why: "pod to pod: no NAT inside the cluster"},
		{Table: "nat", Chain: snat, Spec: []string{"-s", cluster, "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"},
			Why: "pods leaving the cluster take the node's address"},
		{Table: "filter", Chain: "FORWARD", Insert: true, Spec: []string{"-j", fwd},
			Why: "forwarding for pods, whatever the FORWARD policy"},
		{Table: "filter", Chain: fwd, Spec: []string{"-s", cluster, "-j", "ACCEPT"},
			Why: "traffic from pods"},
		{Table: "filter", Chain: fwd, Spec: []string{"-d", cluster, "-j", "ACCEPT"},
			Why: "traffic to pods"},
	}
}
