package overlay

import (
	"fmt"
	"net/netip"

	"netlab/internal/api"
	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/internal/topo"
)

func init() { lab.RegisterView(Mode, view{}) }

// view describes a Kubernetes-model lab (lab.View).
type view struct{}

func (view) Model() string { return "the Kubernetes model" }
func (view) Kind() string  { return "pod" }

func (view) Bridge(s *state.State, n topo.Node) (string, netip.Prefix) {
	return s.Topology.Overlay.Bridge, netip.PrefixFrom(n.Gateway(), n.PodCIDR.Bits())
}

func hostGW(s *state.State) bool { return s.Topology.Overlay.Backend == topo.HostGW }

func (view) Underlay(s *state.State) string {
	if hostGW(s) {
		return "; host-gw: pod CIDRs routed via the nodes, no encapsulation"
	}
	return "; VXLAN between nodes on UDP " + fmt.Sprint(s.Topology.Overlay.Port)
}

func (view) NodeDetail(s *state.State, n topo.Node) string {
	if hostGW(s) {
		return fmt.Sprintf("   host-gw mtu %d", s.Topology.MTU())
	}
	t := s.Topology
	d := fmt.Sprintf("   %s %s mtu %d", t.Overlay.Device, n.VTEP(), t.MTU4())
	if t.IPv6 {
		d += fmt.Sprintf(", %s %s mtu %d", Device6(t.Overlay), n.VTEP6(), t.MTU6())
	}
	return d
}

func (view) NodeInterfaces(s *state.State, n topo.Node) string {
	if hostGW(s) {
		return ""
	}
	i := fmt.Sprintf(", %s %s", s.Topology.Overlay.Device, n.VTEP())
	if s.Topology.IPv6 {
		i += fmt.Sprintf(", %s %s", Device6(s.Topology.Overlay), n.VTEP6())
	}
	return i
}

func (view) Built(s *state.State) []string {
	t := s.Topology
	o := t.Overlay
	ls := []string{
		fmt.Sprintf("a pod CIDR of its own (node K: %s's K-th /%d) behind %s, a bridge with its first address.", o.ClusterCIDR, o.SubnetLen, o.Bridge),
		"per pod: one network namespace shared by its containers (app on :" + fmt.Sprint(o.AppPort) + ", and a sidecar that asks it over localhost);\n    in Kubernetes the pause container holds that namespace, here it is a named one (ip netns list).",
	}
	if hostGW(s) {
		ls = append(ls,
			"flannel's host-gw backend: per peer node a route to its pod CIDR via its underlay address; no tunnel, no encapsulation (the nodes share one L2 segment).",
			fmt.Sprintf("MTU %d on cni0 and every pod: the underlay's, nothing added.", t.MTU()))
	} else {
		ls = append(ls,
			fmt.Sprintf("%s: VXLAN, VNI %d, UDP %d on the underlay, learning off; per peer node a route, a permanent ARP and a permanent FDB entry.", o.Device, o.VNI, o.Port),
			mtuLine(t))
	}
	if t.IPv6 {
		ls = append(ls, dualStackLine(t))
	}
	ls = append(ls, fmt.Sprintf("iptables: no NAT inside %s; MASQUERADE only for pods leaving it.", o.ClusterCIDR))
	if o.Proxy() == topo.ProxyNFTables {
		ls = append(ls, "kube-proxy in nftables mode: Services will be table ip kube-proxy (nft list table ip kube-proxy), not KUBE-* chains.")
	}
	if t.ChecksumFix != "" {
		ls = append(ls, "TX checksum offload is off on "+o.Device+" ("+t.ChecksumFix+": flannel#1279 drops such packets there).")
	}
	return ls
}

// mtuLine says where the IPv4 overlay's MTU comes from.
func mtuLine(t *topo.Topology) string {
	o := t.Overlay
	if t.IPv6 {
		return fmt.Sprintf("MTU %d on %s: the underlay's %d less the 50 bytes of VXLAN headers over IPv4.", t.MTU4(), o.Device, t.UnderlayMTU)
	}
	return fmt.Sprintf("MTU %d on %s and every pod: the underlay's %d less the 50 bytes of VXLAN headers.", t.MTU4(), o.Device, t.UnderlayMTU)
}

// dualStackLine says what a dual-stack lab adds: flannel's EnableIPv6.
func dualStackLine(t *topo.Topology) string {
	o := t.Overlay
	line := fmt.Sprintf("dual-stack (--ipv6, flannel's EnableIPv6): every node also has a /%d of %s on %s (node1's %s) and every pod an IPv6 address; the underlay is also %s; ip6tables: flannel's NAT66 rules, no NAT inside %s.",
		o.SubnetLen6, o.ClusterCIDR6, o.Bridge, t.Nodes[0].PodCIDR6, t.Underlay6, o.ClusterCIDR6)
	if o.Backend == topo.HostGW {
		return line + " Per peer node, an IPv6 route to its /64 via its IPv6 underlay address."
	}
	return line + fmt.Sprintf(" %s: VXLAN VNI %d over the underlay's IPv6, with a route, a neighbour and an FDB entry per peer; MTU %d (VXLAN over IPv6 costs 70 bytes), which is then every pod's MTU, a pod's eth0 having one for both families.",
		Device6(o), o.VNI, t.MTU6())
}

func (view) Steps(s *state.State, cmd func(string, ...any) string) []lab.Step {
	t := s.Topology
	o := t.Overlay
	local := t.LocalNodes()[0]
	n1 := s.OnNode(local.Name)
	var steps []lab.Step
	for _, peerNode := range t.Nodes {
		if peerNode.Name == local.Name {
			continue
		}
		var p state.Workload
		if peer := s.OnNode(peerNode.Name); len(peer) > 0 {
			p = peer[0]
		} else if !t.Embedded {
			// On a real node the peer's pods are another machine's: its
			// first pod has the first address after its cni0's.
			a, _ := ipam.Nth(peerNode.PodCIDR, 2)
			p = state.Workload{Name: "its first pod", IP: a}
		} else {
			break
		}
		steps = append(steps,
			lab.Step{Cmd: cmd("exec %s -- curl -s %s:%d", n1[0].Name, p.IP, o.AppPort), Why: fmt.Sprintf("%s on %s sees %s's own IP: no NAT", p.Name, peerNode.Name, n1[0].Name)},
			traceStep(s, cmd, n1[0].Name, p.IP, local, peerNode),
			wireStep(s, cmd, local),
			lab.Step{Cmd: cmd("exec %s -- curl -s %s:%d", local.Name, p.IP, o.AppPort), Why: "a node reaches any pod, untranslated"})
		break
	}
	if t.IPv6 && len(t.Nodes) > 1 && t.Embedded {
		if peer := s.OnNode(t.Nodes[1].Name); len(peer) > 0 && peer[0].IP6.IsValid() && t.Nodes[1].Name != local.Name {
			steps = append(steps,
				lab.Step{Cmd: cmd("exec %s -- curl -s '[%s]:%d'", n1[0].Name, peer[0].IP6, o.AppPort), Why: fmt.Sprintf("IPv6 too: %s sees %s's own IPv6 address", peer[0].Name, n1[0].Name)},
				lab.Step{Cmd: cmd("exec %s -- ping -6 -c1 -M do -s %d %s", n1[0].Name, t.MTU6()-48, peer[0].IP6), Why: fmt.Sprintf("%d bytes with IPv6's headers: the most that fits", t.MTU6())})
		}
	}
	steps = append(steps, lab.Step{Cmd: cmd("exec %s -c sidecar -- curl -s localhost:%d", n1[0].Name, o.AppPort), Why: "two containers of a pod share localhost"})
	if t.Outside != nil {
		steps = append(steps, lab.Step{Cmd: cmd("exec %s -- curl -s %s", n1[0].Name, t.Outside.IP), Why: "leaving the cluster: MASQUERADE to the node's address"})
	}
	return steps
}

// traceStep and wireStep show the way between nodes, as the backend makes it.
func traceStep(s *state.State, cmd func(string, ...any) string, from string, to netip.Addr, local, peer topo.Node) lab.Step {
	hop := fmt.Sprintf("%s's %s", peer.Name, s.Topology.Overlay.Device)
	if hostGW(s) {
		hop = fmt.Sprintf("%s itself (%s)", peer.Name, peer.IP)
	}
	return lab.Step{Cmd: cmd("exec %s -- traceroute -n %s", from, to), Why: fmt.Sprintf("%s, %s, then the pod", local.Gateway(), hop)}
}

func wireStep(s *state.State, cmd func(string, ...any) string, local topo.Node) lab.Step {
	if hostGW(s) {
		return lab.Step{Cmd: cmd("exec %s -- tcpdump -ni %s -c4 icmp", local.Name, local.Iface), Why: "the pods' own packets on the wire, no tunnel (another terminal)"}
	}
	return lab.Step{Cmd: cmd("exec %s -- tcpdump -ni %s -c4 -T vxlan udp port %d", local.Name, local.Iface, s.Topology.Overlay.Port), Why: "VXLAN on the wire, while you ping (another terminal)"}
}

// Join: the tunnel between two nodes' flannel.1, or host-gw's route.
func (view) Join(s *state.State, a, b topo.Node) string {
	if hostGW(s) {
		return fmt.Sprintf("%s via %s", b.PodCIDR, b.IP)
	}
	o := s.Topology.Overlay
	return fmt.Sprintf("VXLAN VNI %d, UDP %d: %s %s ↔ %s", o.VNI, o.Port, o.Device, a.VTEP(), b.VTEP())
}

// Decode shows VXLAN's outer and inner headers: flannel's port 8472 is
// not VXLAN's registered 4789, which tcpdump decodes by itself.
func (view) Decode(s *state.State) []string {
	if hostGW(s) {
		return nil
	}
	return []string{"-T", "vxlan"}
}

func (view) Status(s *state.State, d *api.Status) {
	t := s.Topology
	d.ClusterCIDR, d.MTU, d.Backend, d.ProxyMode = t.Overlay.ClusterCIDR.String(), t.MTU(), t.Overlay.Backend, t.Overlay.Proxy()
	status6(t, d)
	if hostGW(s) {
		for i := range d.Nodes {
			for _, n := range t.Nodes {
				if d.Nodes[i].Role == "node" && d.Nodes[i].Name == n.Name {
					d.Nodes[i].PodCIDR = n.PodCIDR.String()
				}
			}
		}
		return
	}
	for i := range d.Nodes {
		for _, n := range t.Nodes {
			if d.Nodes[i].Role == "node" && d.Nodes[i].Name == n.Name {
				d.Nodes[i].PodCIDR, d.Nodes[i].VTEP, d.Nodes[i].VTEPMAC = n.PodCIDR.String(), n.VTEP().String(), VTEPMAC(n.IP)
				if t.IPv6 {
					d.Nodes[i].VTEP6, d.Nodes[i].VTEPMAC6 = n.VTEP6().String(), VTEPMAC6(n.IP)
				}
			}
		}
	}
}

// status6 fills in a dual-stack lab's IPv6 prefixes: the cluster's, and
// each node's pod CIDR and cni0 address.
func status6(t *topo.Topology, d *api.Status) {
	if !t.IPv6 {
		return
	}
	d.ClusterCIDR6 = t.Overlay.ClusterCIDR6.String()
	for i := range d.Nodes {
		for _, n := range t.Nodes {
			if d.Nodes[i].Role == "node" && d.Nodes[i].Name == n.Name {
				d.Nodes[i].PodCIDR6, d.Nodes[i].BridgeIP6 = n.PodCIDR6.String(), n.Gateway6().String()
			}
		}
	}
}

// Published: a pod is reached at its own address; a NodePort needs a
// Service, which this lab has none of.
func (view) Published(*state.State, state.Workload) (netip.AddrPort, bool) {
	return netip.AddrPort{}, false
}
