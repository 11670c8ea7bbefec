package workshop

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/internal/who"
	"netlab/overlay"
)

// The Kubernetes model's exercises, on an overlay lab of two nodes with
// two pods each (pod1, pod2 on node1; pod3, pod4 on node2), flannel's
// VXLAN between them, and the outside host.

func init() {
	register(Exercise{
		N: 6, ID: "k8s-cross-node", Title: "Pods on node1 cannot reach node2's pods",
		Model: Kubernetes, Difficulty: "easy",
		Story: func(e *Env) string {
			return fmt.Sprintf("pod1 and pod2 on node1 cannot reach any pod of node2 (pod3 is %s): connections time out. "+
				"Pods of one node still reach each other, and node2's pods reach the outside host.", e.W("pod3").IP)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			n2 := e.Node("node2")
			return []netops.Op{netops.RouteDel{NS: e.NS("node1"), Dst: n2.PodCIDR.String(), Via: n2.VTEP().String(), Dev: e.S.Topology.Overlay.Device}}, nil
		},
		// Sound: node1's route back via the tunnel, or host-gw's routes on
		// both nodes (each pod CIDR via the other node's underlay address).
		// Refused: node1's route via the underlay alone (the answers still
		// come back in the tunnel: asymmetric).
		Criteria: []Criterion{
			podToPod("pod1", "pod3"),
			podToPod("pod3", "pod1"),
			nodeToPod("node1", "pod3"),
			symmetric("pod1", "pod3"),
		},
		Solution: func(e *Env) []string {
			n2 := e.Node("node2")
			return []string{fmt.Sprintf("sudo ip -n %s route add %s via %s dev %s onlink", e.NS("node1"), n2.PodCIDR, n2.VTEP(), e.S.Topology.Overlay.Device)}
		},
	})

	register(Exercise{
		N: 7, ID: "k8s-packets-vanish", Title: "The route is there, but packets vanish",
		Model: Kubernetes, Difficulty: "medium",
		Story: func(e *Env) string {
			n2 := e.Node("node2")
			return fmt.Sprintf("pod1 cannot reach pod3 (%s) on node2, though node1 has its route to %s and "+
				"node1 and node2 ping each other fine on %s.", e.W("pod3").IP, n2.PodCIDR, e.S.Topology.Underlay)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			mac, err := vtepMAC(e, "node1", "node2")
			if err != nil {
				return nil, err
			}
			return []netops.Op{netops.FdbDel{NS: e.NS("node1"), MAC: mac, Dev: e.S.Topology.Overlay.Device, Dst: e.Node("node2").IP.String()}}, nil
		},
		// Sound: an FDB entry for node2's VTEP MAC (append, add or
		// replace). Refused: routing node2's pods around the tunnel from
		// node1 only (the replies still come back in it: asymmetric), and
		// an all-zero (default) entry, which sends every unknown MAC to
		// node2 (a third node's pods would vanish into node2).
		Criteria: []Criterion{
			podToPod("pod1", "pod3"),
			podToPod("pod3", "pod1"),
			nodeToPod("node1", "pod3"),
			inTunnel("pod1", "pod3"),
			fdbFor("node1", "node2"),
		},
		Solution: func(e *Env) []string {
			mac, _ := vtepMAC(e, "node1", "node2")
			return []string{fmt.Sprintf("sudo bridge -n %s fdb append %s dev %s dst %s", e.NS("node1"), mac, e.S.Topology.Overlay.Device, e.Node("node2").IP)}
		},
	})

	register(Exercise{
		N: 8, ID: "k8s-large-transfers", Title: "Ping works, large transfers hang",
		Model: Kubernetes, Difficulty: "medium",
		Story: func(e *Env) string {
			return fmt.Sprintf("Last night the network between the nodes moved onto a VPN link. Since then pod1 pings pod3 (%s) "+
				"fine and small requests work, but any large transfer between pods of different nodes hangs forever, either way. "+
				"Pods of one node are fine.", e.W("pod3").IP)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			// The link between the nodes carries less than their eth1
			// say, and drops what is bigger without a word, as a VPN or a
			// cloud network may.
			return narrowLink(e, v4, vpnMTU(e), fmt.Sprintf("the link between the nodes carries %d bytes at most", vpnMTU(e))), nil
		},
		Criteria: []Criterion{
			{"pod1 pings pod3", func(e *Env) Outcome {
				r := e.Ping("pod1", e.W("pod3").IP, 2)
				return Outcome{Pass: r.Received > 0, Observed: e.PingText("pod1", e.W("pod3").IP, r, ""), Hint: "even small packets are lost"}
			}},
			transfer(false),
			transfer(true),
			noSilentLoss("pod1", "pod3"),
			noSilentLoss("pod3", "pod1"),
		},
		Solution: func(e *Env) []string {
			t := e.S.Topology
			m := vpnMTU(e) - topo.VXLANOverhead
			var cmds []string
			for _, n := range []string{"node1", "node2"} {
				cmds = append(cmds, fmt.Sprintf("sudo ip -n %s link set %s mtu %d", e.NS(n), t.Overlay.Device, m))
			}
			for _, w := range e.S.Workloads {
				cmds = append(cmds, fmt.Sprintf("sudo ip -n %s link set eth0 mtu %d", w.NS, m),
					fmt.Sprintf("sudo ip -n %s link set %s mtu %d", e.NS(w.Node), w.HostIface, m))
			}
			for _, n := range []string{"node1", "node2"} {
				cmds = append(cmds, fmt.Sprintf("sudo ip -n %s link set %s mtu %d", e.NS(n), t.Overlay.Bridge, m))
			}
			return cmds
		},
	})

	register(Exercise{
		N: 9, ID: "k8s-no-outside", Title: "A node's pods cannot reach the outside world",
		Model: Kubernetes, Difficulty: "medium",
		Story: func(e *Env) string {
			return fmt.Sprintf("pods on node1 cannot reach the outside host (%s): connections time out. "+
				"Pods on node2 can, and pods reach each other across nodes.", e.OutsideServer())
		},
		Break: func(e *Env) ([]netops.Op, error) {
			r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`^-A \S+ -s `+regexp.QuoteMeta(e.S.Topology.Overlay.ClusterCIDR.String())+` ! -d 224\.0\.0\.0/4 .*-j MASQUERADE`))
			if err != nil {
				return nil, err
			}
			return []netops.Op{netops.IPTablesDel{NS: e.NS("node1"), Table: "nat", Rules: []string{"-D" + r[2:]}}}, nil
		},
		Criteria: []Criterion{
			{"pod1 reaches the outside host, seen as node1", func(e *Env) Outcome {
				var a Asked
				srcs := e.SynSources("outside", "eth1", 80, func() { a = e.Ask("pod1", e.OutsideServer()) })
				want := e.Node("node1").IP.String()
				o := Outcome{Pass: a.Err == nil && a.Answer.Client == want, Observed: a.Text}
				switch {
				case o.Pass:
				case len(srcs) == 0:
					o.Hint = "nothing from pod1 reached the outside host: follow it with 'sudo netlab trace --lab " + e.S.Lab + " pod1 outside'"
				case a.Err == nil:
					o.Hint = fmt.Sprintf("the outside host saw %s: it answered a pod address only because something now routes the cluster's range to node1. "+
						"Pods leaving the cluster must take their node's address.", a.Answer.Client)
				default:
					o.Hint = fmt.Sprintf("pod1's connection reached the outside host from %s, a pod address, and the outside host %s. "+
						"Compare node1's nat table with node2's (iptables -t nat -S).", strings.Join(srcs, ", "), e.RouteBack("outside", srcs[0]))
				}
				return o
			}},
			podToPod("pod1", "pod3"),
		},
		Solution: func(e *Env) []string {
			chain := "POSTROUTING"
			if r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`-d `+regexp.QuoteMeta(e.S.Topology.Overlay.ClusterCIDR.String())+` .*-j RETURN`)); err == nil {
				chain = strings.Fields(r)[1]
			}
			return []string{fmt.Sprintf("sudo ip netns exec %s iptables -t nat -A %s -s %s ! -d 224.0.0.0/4 -j MASQUERADE",
				e.NS("node1"), chain, e.S.Topology.Overlay.ClusterCIDR)}
		},
	})

	register(Exercise{
		N: 10, ID: "k8s-build-a-pod", Title: "Build a pod by hand",
		Model: Kubernetes, Difficulty: "hard",
		Story: func(e *Env) string {
			n1 := e.Node("node1")
			return fmt.Sprintf("Be the CNI plugin: connect one new pod to node1 by hand, with ip alone. It needs a network namespace "+
				"of its own, a veth pair whose other end is a port of %s on node1 (%s), an unused address of node1's pod CIDR %s, "+
				"and a default route via %s. Then pod3 on node2 must reach it, and it must see pod3's own address.",
				e.S.Topology.Overlay.Bridge, e.NS("node1"), n1.PodCIDR, n1.Gateway())
		},
		Break: func(e *Env) ([]netops.Op, error) { return nil, nil },
		Criteria: []Criterion{
			{"a new pod has an address of node1's pod CIDR", func(e *Env) Outcome {
				p, ok := newPod(e)
				if !ok {
					return Outcome{Observed: fmt.Sprintf("no network namespace but the lab's has an address in %s", e.Node("node1").PodCIDR),
						Hint: "make one: ip netns add NAME, then a veth pair into it (ip link add ... type veth peer name eth0 netns NAME)"}
				}
				return Outcome{Pass: true, Observed: fmt.Sprintf("namespace %s has %s on %s", p.ns, p.ip, p.dev.Attrs().Name)}
			}},
			{"its other end is a port of node1's cni0", func(e *Env) Outcome {
				p, ok := newPod(e)
				if !ok {
					return Outcome{Observed: "no new pod yet", Hint: "first the pod's namespace and address"}
				}
				return podPort(e, p)
			}},
			{"its MTU is the overlay's, as the CNI plugin sets it", func(e *Env) Outcome {
				p, ok := newPod(e)
				if !ok {
					return Outcome{Observed: "no new pod yet", Hint: "first the pod's namespace and address"}
				}
				return podLinkMTU(e, p)
			}},
			{"pod3 reaches it, and it sees pod3's own address", func(e *Env) Outcome {
				p, ok := newPod(e)
				if !ok {
					return Outcome{Observed: "no new pod yet", Hint: "first the pod's namespace and address"}
				}
				seen, err := connectTo(e, "pod3", p)
				text := fmt.Sprintf("%s → %s (%s): ", e.label("pod3"), p.ip, p.ns)
				if err != nil {
					return Outcome{Observed: text + "no connection (" + lastWords(err) + ")",
						Hint: "follow it: " + EndOf(e.Walk("pod3", p.ip, 0)) + ". Does the new pod have a route back to pod3?"}
				}
				o := Outcome{Pass: seen == e.W("pod3").IP, Observed: text + "it saw " + seen.String()}
				if !o.Pass {
					o.Hint = "the new pod saw " + seen.String() + ", not pod3's address: something rewrote the source on the way"
				}
				return o
			}},
			{"it reaches the outside host, seen as node1", func(e *Env) Outcome {
				p, ok := newPod(e)
				if !ok {
					return Outcome{Observed: "no new pod yet", Hint: "first the pod's namespace and address"}
				}
				var a who.Answer
				c, err := who.Dial(p.ns, e.OutsideServer(), askTimeout)
				if err == nil {
					a, err = who.AskConn(c, e.OutsideServer().String())
					c.Close()
				}
				text := fmt.Sprintf("%s %s → %s: ", p.ns, p.ip, e.OutsideServer())
				if err != nil {
					return Outcome{Observed: text + "no answer (" + lastWords(err) + ")", Hint: "a pod leaves its node by its default route: which is the new pod's? (ip -n " + string(p.ns) + " route)"}
				}
				return Outcome{Pass: a.Client == e.Node("node1").IP.String(), Observed: text + "the outside saw " + a.Client,
					Hint: "pods leave the cluster with their node's address"}
			}},
		},
		Solution: func(e *Env) []string {
			n1 := e.Node("node1")
			ip := freeAddr(e)
			br, mtu := e.S.Topology.Overlay.Bridge, e.S.Topology.MTU()
			p := "pod-" + e.S.Lab // any free name will do
			return []string{
				"sudo ip netns add " + p,
				fmt.Sprintf("sudo ip -n %s link add veth-mypod master %s mtu %d up type veth peer name eth0 mtu %d netns %s", e.NS("node1"), br, mtu, mtu, p),
				"sudo ip -n " + p + " link set lo up",
				"sudo ip -n " + p + " link set eth0 up",
				fmt.Sprintf("sudo ip -n %s addr add %s/%d dev eth0", p, ip, n1.PodCIDR.Bits()),
				fmt.Sprintf("sudo ip -n %s route add default via %s", p, n1.Gateway()),
				"# " + p + " is yours: netlab never removes it. When you are done: sudo ip netns del " + p,
			}
		},
	})
}

// podToPod: from reaches to's server and to sees from's own address.
func podToPod(from, to string) Criterion { return podToPodOf(from, to, v4) }

// podToPodOf is podToPod in family f: to's address of f, and from seen as
// its own address of f.
func podToPodOf(from, to string, f family) Criterion {
	name := from + " reaches " + to + " without NAT"
	if f.prefix != "" {
		name = from + " reaches " + to + " over " + strings.TrimSpace(f.prefix) + " without NAT"
	}
	return Criterion{name, func(e *Env) Outcome {
		dst, want := f.ip(e.W(to)), f.ip(e.W(from))
		a := e.Ask(from, netip.AddrPortFrom(dst, uint16(e.W(to).Port)))
		o := Outcome{Pass: a.Err == nil && a.Answer.Name == to && a.Answer.Client == want.String(), Observed: a.Text}
		switch {
		case o.Pass:
		case a.Err == nil && a.Answer.Name == to:
			o.Hint = fmt.Sprintf("%s answered but saw %s, not %s: something on the way rewrites the source, which Kubernetes forbids between pods",
				to, a.Answer.Client, want)
		case dst.Is4():
			o.Hint = "follow it: " + EndOf(e.Walk(from, dst, e.W(to).Port)) + "."
		default: // trace walks IPv4 only
			dev, dev6 := e.S.Topology.Overlay.Device, overlay.Device6(e.S.Topology.Overlay)
			o.Hint = fmt.Sprintf("compare what carries IPv4 between the nodes with what carries IPv6: %s and %s, their routes (ip -6 route), "+
				"neighbours (ip -6 neigh show dev %s) and FDB entries (bridge fdb show dev %s).", dev, dev6, dev6, dev6)
		}
		return o
	}}
}

// nodeToPod: a node pings a pod of another node.
func nodeToPod(node, pod string) Criterion {
	return Criterion{node + " reaches " + pod, func(e *Env) Outcome {
		dst := e.W(pod).IP
		r := e.Ping(node, dst, 2)
		o := Outcome{Pass: r.Received > 0, Observed: e.PingText(node, dst, r, "")}
		if !o.Pass {
			o.Hint = "follow it: " + EndOf(e.Walk(node, dst, 0)) + "."
		}
		return o
	}}
}

// podRoute is the device a's node routes a packet from pod a to pod b by.
func podRoute(e *Env, a, b string) (string, error) { return podRouteOf(e, a, b, v4) }

// podRouteOf is podRoute in family f: between the pods' addresses of it.
func podRouteOf(e *Env, a, b string, f family) (string, error) {
	node := e.W(a).Node
	h, err := netops.Netlink(e.NS(node))
	if err != nil {
		return "", err
	}
	defer h.Close()
	src, dst := f.ip(e.W(a)), f.ip(e.W(b))
	rs, err := h.RouteGetWithOptions(net.IP(dst.AsSlice()), &netlink.RouteGetOptions{Iif: e.S.Topology.Overlay.Bridge, SrcAddr: net.IP(src.AsSlice())})
	if err != nil || len(rs) == 0 {
		return "", fmt.Errorf("%s has no route from %s to %s: %v", node, src, dst, err)
	}
	l, err := h.LinkByIndex(rs[0].LinkIndex)
	if err != nil {
		return "", err
	}
	return l.Attrs().Name, nil
}

// family is what an overlay exercise checks in one address family: the
// VXLAN device (flannel.1, flannel-v6.1), its neighbour table's family,
// and a node's VTEP and underlay addresses and a pod's address in it.
type family struct {
	dev    func(topo.Overlay) string
	nl     int
	vtep   func(topo.Node) netip.Addr
	node   func(topo.Node) netip.Addr
	ip     func(state.Workload) netip.Addr
	neigh  string // what the neighbour entry is called: ARP, NDP
	prefix string // "" or "IPv6 ", in the criteria's names
	hdr    int    // an ICMP echo's headers: 28 (IPv4), 48 (IPv6)
}

var (
	v4 = family{dev: func(o topo.Overlay) string { return o.Device }, nl: netlink.FAMILY_V4, vtep: topo.Node.VTEP,
		node: func(n topo.Node) netip.Addr { return n.IP }, ip: func(w state.Workload) netip.Addr { return w.IP }, neigh: "ARP", hdr: 28}
	v6 = family{dev: overlay.Device6, nl: netlink.FAMILY_V6, vtep: topo.Node.VTEP6,
		node: func(n topo.Node) netip.Addr { return n.IP6 }, ip: func(w state.Workload) netip.Addr { return w.IP6 }, neigh: "neighbour", prefix: "IPv6 ", hdr: 48}
)

// symmetric: pods a and b of two nodes are joined the same way both ways
// (both nodes route into the tunnel, or both over the underlay).
func symmetric(a, b string) Criterion {
	return Criterion{fmt.Sprintf("%s → %s and %s → %s take the same way", a, b, b, a), func(e *Env) Outcome {
		ab, err := podRoute(e, a, b)
		if err != nil {
			return Outcome{Observed: err.Error()}
		}
		ba, err := podRoute(e, b, a)
		if err != nil {
			return Outcome{Observed: err.Error()}
		}
		na, nb := e.W(a).Node, e.W(b).Node
		o := Outcome{Pass: ab == ba, Observed: fmt.Sprintf("%s sends %s's packets to %s out %s; %s sends the answers out %s", na, a, b, ab, nb, ba)}
		if !o.Pass {
			o.Hint = fmt.Sprintf("the packets go one way (%s) and their answers another (%s): a firewall or a tunnel endpoint between them sees "+
				"only half of each connection. Both nodes must route the other's pods the same way.", ab, ba)
		}
		return o
	}}
}

// inTunnel: the route a pod's packets to a pod of another node take on
// their node goes into the overlay's device, as flannel's vxlan backend
// routes them.
func inTunnel(from, to string) Criterion { return inTunnelOf(from, to, v4) }

// inTunnelOf is inTunnel in family f, through f's VXLAN device.
func inTunnelOf(from, to string, f family) Criterion {
	return Criterion{from + "'s " + f.prefix + "packets to " + to + " cross in the tunnel", func(e *Env) Outcome {
		dev, node := f.dev(e.S.Topology.Overlay), e.W(from).Node
		out, err := podRouteOf(e, from, to, f)
		if err != nil {
			return Outcome{Observed: err.Error()}
		}
		o := Outcome{Pass: out == dev, Observed: fmt.Sprintf("%s routes %s → %s out %s", node, f.ip(e.W(from)), f.ip(e.W(to)), out)}
		if !o.Pass {
			o.Hint = fmt.Sprintf("the packets leave %s by %s, around the tunnel, while the answers still come back in it: "+
				"the lab's overlay carries pod traffic in %s both ways. Why did %s stop carrying it?", node, out, dev, dev)
		}
		return o
	}}
}

// fdbFor: node's overlay device has an FDB entry for peer's VTEP MAC that
// sends it to peer's address, as flannel writes one per node.
func fdbFor(node, peer string) Criterion { return fdbForOf(node, peer, v4) }

// fdbForOf is fdbFor in family f: f's VXLAN device, and the peer's
// underlay address of f.
func fdbForOf(node, peer string, f family) Criterion {
	return Criterion{node + "'s " + f.prefix + "tunnel knows where " + peer + "'s VTEP is", func(e *Env) Outcome {
		dev := f.dev(e.S.Topology.Overlay)
		mac, err := vtepMACOf(e, node, peer, f)
		if err != nil {
			return Outcome{Observed: err.Error(), Hint: "the overlay's " + f.neigh + " entry for " + peer + "'s VTEP must be there"}
		}
		h, err := netops.Netlink(e.NS(node))
		if err != nil {
			return Outcome{Observed: err.Error()}
		}
		defer h.Close()
		l, err := h.LinkByName(dev)
		if err != nil {
			return Outcome{Observed: err.Error()}
		}
		fdb, _ := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		var entries []string
		found, zero := false, false
		for _, n := range fdb {
			if n.IP == nil {
				continue
			}
			entries = append(entries, n.HardwareAddr.String()+" dst "+n.IP.String())
			if n.HardwareAddr.String() == mac && n.IP.Equal(net.IP(f.node(e.Node(peer)).AsSlice())) {
				found = true
			}
			zero = zero || n.HardwareAddr.String() == "00:00:00:00:00:00"
		}
		o := Outcome{Pass: found, Observed: fmt.Sprintf("%s's %s FDB: %s", node, dev, strings.Join(entries, ", "))}
		switch {
		case found:
		case zero:
			o.Hint = "an all-zero entry sends every MAC the device does not know to one node: with a third node, its pods would vanish into " + peer +
				". flannel writes one entry per node, for that node's VTEP MAC."
		default:
			o.Hint = fmt.Sprintf("%s's VTEP MAC is %s (ip -n %s neigh show dev %s). Where does %s send a frame for it?", peer, mac, e.NS(node), dev, dev)
		}
		return o
	}}
}

// vtepMAC is the MAC that on's ARP entry gives peer's VTEP.
func vtepMAC(e *Env, on, peer string) (string, error) { return vtepMACOf(e, on, peer, v4) }

// vtepMACOf is vtepMAC in family f: from f's VXLAN device's neighbour
// entry for the peer's VTEP address of f.
func vtepMACOf(e *Env, on, peer string, f family) (string, error) {
	h, err := netops.Netlink(e.NS(on))
	if err != nil {
		return "", err
	}
	defer h.Close()
	l, err := h.LinkByName(f.dev(e.S.Topology.Overlay))
	if err != nil {
		return "", err
	}
	ns, err := h.NeighList(l.Attrs().Index, f.nl)
	if err != nil {
		return "", err
	}
	vtep := f.vtep(e.Node(peer))
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == vtep {
			return n.HardwareAddr.String(), nil
		}
	}
	return "", fmt.Errorf("%s has no %s entry for %s's VTEP %s", on, f.neigh, peer, vtep)
}

// transfer: pod1 sends (or receives) 2 MB of TCP with pod3.
func transfer(receive bool) Criterion { return transferOf(receive, v4) }

// transferOf is transfer in family f: to pod3's address of f.
func transferOf(receive bool, f family) Criterion {
	name := "pod1 sends 2 MB to pod3"
	if receive {
		name = "pod1 receives 2 MB from pod3"
	}
	if f.prefix != "" {
		name += " over " + strings.TrimSpace(f.prefix)
	}
	return Criterion{name, func(e *Env) Outcome {
		ok, what := e.TransferAt("pod1", "pod3", f.ip(e.W("pod3")), "2M", receive)
		o := Outcome{Pass: ok, Observed: what}
		if !ok {
			o.Hint = mtuHintOf(e, f)
		}
		return o
	}}
}

// noSilentLoss: the biggest packet from may send to (its eth0's MTU, don't
// fragment) passes or comes back refused; one byte more is refused by
// from itself. Either way, nothing vanishes without a word.
func noSilentLoss(from, to string) Criterion { return noSilentLossOf(from, to, v4) }

// noSilentLossOf is noSilentLoss in family f: over IPv6, which no router
// fragments, the biggest packet (the MTU less 48 bytes of IPv6 and ICMPv6
// headers) arrives or comes back refused (Packet Too Big).
func noSilentLossOf(from, to string, f family) Criterion {
	return Criterion{"no " + f.prefix + "packet " + from + " may send to " + to + " is lost in silence", func(e *Env) Outcome {
		_, mtu := podMTU(e, from)
		dst := f.ip(e.W(to))
		fits := e.Ping(from, dst, 1, "-M", "do", "-s", fmt.Sprint(mtu-f.hdr))
		over := e.Ping(from, dst, 1, "-M", "do", "-s", fmt.Sprint(mtu-f.hdr+1))
		loud := func(r probe.PingResult) bool { return r.Received > 0 || len(r.Errors) > 0 }
		o := Outcome{Pass: loud(fits) && loud(over) && over.Received == 0,
			Observed: e.PingText(from, dst, fits, fmt.Sprintf(" (%d bytes, don't fragment)", mtu-f.hdr)) + "; " +
				e.PingText(from, dst, over, fmt.Sprintf(" (%d bytes, don't fragment)", mtu-f.hdr+1))}
		if !o.Pass {
			o.Hint = mtuHintOf(e, f)
		}
		return o
	}}
}

// narrowLink makes the underlay carry at most mtu bytes of family f's
// packets and drop what is bigger without a word (why says so in the
// rule's comment): bridged packets pass ip(6)tables there. The nodes hand
// the link real packets, not offloaded bundles of them, as a VPN's or a
// tunnel's device would take them.
func narrowLink(e *Env, f family, mtu int, why string) []netops.Op {
	u := e.S.Topology.UnderlayNetns()
	var ops []netops.Op
	for _, n := range []string{"node1", "node2"} {
		ops = append(ops, netops.Ethtool{NS: e.NS(n), Dev: e.Node(n).Iface,
			Settings: []string{"tso", "off", "gso", "off", "tx-udp_tnl-segmentation", "off", "tx-udp_tnl-csum-segmentation", "off"}})
	}
	key := "net.bridge.bridge-nf-call-iptables"
	if f.prefix != "" {
		key = "net.bridge.bridge-nf-call-ip6tables"
	}
	return append(ops,
		netops.Sysctl{NS: u, Settings: []netops.KV{{Key: key, Value: "1"}}},
		netops.IPTables{NS: u, IPv6: f.prefix != "", Marker: names.RuleMarker(e.S.Lab), Rules: []netops.Rule{{Table: "filter", Chain: "FORWARD",
			Spec: []string{"-m", "length", "--length", fmt.Sprintf("%d:65535", mtu+1), "-j", "DROP"}, Why: why}}})
}

// vpnMTU is what exercise 8's underlay carries: 100 less than the nodes
// believe.
func vpnMTU(e *Env) int { return e.S.Topology.UnderlayMTU - 100 }

// podMTU is the MTU of a workload's eth0.
func podMTU(e *Env, name string) (string, int) {
	l, err := e.Link(name, "eth0")
	if err != nil {
		return err.Error(), e.S.Topology.MTU()
	}
	return fmt.Sprintf("%s's eth0 has MTU %d", name, l.Attrs().MTU), l.Attrs().MTU
}

// mtuHintOf says what don't-fragment pings of several sizes did in family
// f, pod to pod and node to node, and where to look.
func mtuHintOf(e *Env, f family) string {
	return e.Once("mtu"+f.prefix, func() string { return mtuSeen(e, f) })
}

func mtuSeen(e *Env, f family) string {
	what := func(r probe.PingResult) string {
		switch {
		case r.Received > 0:
			return "pass"
		case len(r.Errors) > 0:
			return "are refused (" + r.Errors[0] + ")"
		}
		return "vanish without a word"
	}
	_, mtu := podMTU(e, "pod1")
	var seen []string
	for _, size := range []int{56, mtu - f.hdr} {
		seen = append(seen, fmt.Sprintf("%d bytes %s", size, what(e.Ping("pod1", f.ip(e.W("pod3")), 1, "-M", "do", "-s", fmt.Sprint(size)))))
	}
	under := e.S.Topology.UnderlayMTU
	var nodes []string
	for _, size := range []int{under - f.hdr, under - 100 - f.hdr} {
		nodes = append(nodes, fmt.Sprintf("%d bytes %s", size, what(e.Ping("node1", f.node(e.Node("node2")), 1, "-M", "do", "-s", fmt.Sprint(size)))))
	}
	if f.prefix != "" {
		return "pings over IPv6 (never fragmented by a router) pod1 → pod3: " + strings.Join(seen, ", ") + "; node1 → node2: " + strings.Join(nodes, ", ") +
			". Big IPv6 packets are lost without a word somewhere: what does a pod's IPv6 packet become between the nodes, how big may it be there, and who should say so?"
	}
	return "don't-fragment pings pod1 → pod3: " + strings.Join(seen, ", ") + "; node1 → node2: " + strings.Join(nodes, ", ") +
		". Big packets are lost without a word somewhere: what does a pod's packet become on the wire between the nodes, and how big may it be there?"
}

// pod is a pod a learner built: its namespace, address and interface.
type pod struct {
	ns  netops.NS
	ip  netip.Addr
	dev netlink.Link
}

// newPod finds a namespace the lab did not make with an address of node1's
// pod CIDR that is none of the lab's.
func newPod(e *Env) (pod, bool) {
	n1 := e.Node("node1")
	ours := map[netops.NS]bool{}
	for _, ns := range e.S.Namespaces {
		ours[ns] = true
	}
	taken := map[netip.Addr]bool{n1.Gateway(): true, n1.VTEP(): true}
	for _, w := range e.S.Workloads {
		taken[w.IP] = true
	}
	ents, _ := os.ReadDir(netops.NetnsDir)
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		ns := netops.NS(name)
		if ours[ns] || !netops.IsNetns(netops.Path(ns)) {
			continue
		}
		// A namespace netlab made (for this lab or any other: its pods
		// share these addresses) is not the learner's pod.
		if alias, err := netops.LoAlias(name); err == nil && strings.HasPrefix(alias, "netlab:") {
			continue
		}
		h, err := netops.Netlink(ns)
		if err != nil {
			continue
		}
		as, _ := h.AddrList(nil, netlink.FAMILY_V4)
		for _, a := range as {
			ip, _ := netip.AddrFromSlice(a.IP.To4())
			if n1.PodCIDR.Contains(ip) && !taken[ip] {
				l, err := h.LinkByIndex(a.LinkIndex)
				h.Close()
				if err != nil {
					return pod{}, false
				}
				return pod{ns: ns, ip: ip, dev: l}, true
			}
		}
		h.Close()
	}
	return pod{}, false
}

// podPort checks that the new pod's interface is a veth whose peer is an
// up port of node1's bridge.
func podPort(e *Env, p pod) Outcome {
	br := e.S.Topology.Overlay.Bridge
	if p.dev.Type() != "veth" {
		return Outcome{Observed: fmt.Sprintf("%s's %s is a %s, not a veth", p.ns, p.dev.Attrs().Name, p.dev.Type()),
			Hint: "a pod is joined to its node by a veth pair"}
	}
	h, err := netops.Netlink(e.NS("node1"))
	if err != nil {
		return Outcome{Observed: err.Error()}
	}
	defer h.Close()
	peer, err := h.LinkByIndex(p.dev.Attrs().ParentIndex)
	if err != nil || peer.Type() != "veth" || peer.Attrs().ParentIndex != p.dev.Attrs().Index {
		return Outcome{Observed: fmt.Sprintf("%s's %s has no peer on node1", p.ns, p.dev.Attrs().Name),
			Hint: "the veth pair's other end belongs in node1's namespace " + string(e.NS("node1"))}
	}
	master := "no bridge"
	if m, err := h.LinkByIndex(peer.Attrs().MasterIndex); err == nil && peer.Attrs().MasterIndex > 0 {
		master = m.Attrs().Name
	}
	up := peer.Attrs().OperState == netlink.OperUp
	o := Outcome{Pass: master == br && up, Observed: fmt.Sprintf("%s's %s is paired with %s on node1: a port of %s, %s",
		p.ns, p.dev.Attrs().Name, peer.Attrs().Name, master, strings.ToLower(peer.Attrs().OperState.String()))}
	if !o.Pass {
		o.Hint = fmt.Sprintf("node1's end must be an up port of %s (ip link set ... master %s up)", br, br)
	}
	return o
}

// podLinkMTU checks both ends of the new pod's veth against the overlay's
// MTU: a pod at 1500 behind a 1450 tunnel sends packets that cannot cross
// it (those over 1450 are fragmented or refused at node1's flannel.1).
func podLinkMTU(e *Env, p pod) Outcome {
	want := e.S.Topology.MTU()
	got := p.dev.Attrs().MTU
	peerMTU := -1
	if h, err := netops.Netlink(e.NS("node1")); err == nil {
		if peer, err := h.LinkByIndex(p.dev.Attrs().ParentIndex); err == nil && peer.Type() == "veth" {
			peerMTU = peer.Attrs().MTU
		}
		h.Close()
	}
	o := Outcome{Pass: got == want && (peerMTU == want || peerMTU == -1),
		Observed: fmt.Sprintf("%s's %s has MTU %d; the overlay's is %d", p.ns, p.dev.Attrs().Name, got, want)}
	if peerMTU != -1 {
		o.Observed += fmt.Sprintf(", node1's end %d", peerMTU)
	}
	if !o.Pass {
		o.Hint = fmt.Sprintf("the other pods have %d (ip -n %s link show eth0): the tunnel between the nodes adds %d bytes to every packet. "+
			"What does a bigger packet from your pod do at node1's %s?", want, e.NS("pod1"), topo.VXLANOverhead, e.S.Topology.Overlay.Device)
	}
	return o
}

// connectTo connects from a workload to a listener in the new pod, and
// returns the address the pod saw.
func connectTo(e *Env, from string, p pod) (netip.Addr, error) {
	var l *net.TCPListener
	err := netops.Do(p.ns, func() error {
		var err error
		l, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IP(p.ip.AsSlice())})
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	defer l.Close()
	to := netip.AddrPortFrom(p.ip, uint16(l.Addr().(*net.TCPAddr).Port))
	got := make(chan netip.Addr, 1)
	go func() {
		_ = l.SetDeadline(time.Now().Add(2 * time.Second))
		c, err := l.AcceptTCP()
		if err != nil {
			got <- netip.Addr{}
			return
		}
		got <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		c.Close()
	}()
	c, err := who.Dial(e.NS(from), to, askTimeout)
	if err != nil {
		l.Close()
		<-got
		return netip.Addr{}, err
	}
	c.Close()
	return <-got, nil
}

// freeAddr is an address of node1's pod CIDR that nothing in the lab has.
func freeAddr(e *Env) netip.Addr {
	n1 := e.Node("node1")
	taken := map[netip.Addr]bool{}
	for _, w := range e.S.Workloads {
		taken[w.IP] = true
	}
	a := n1.PodCIDR.Addr()
	for i := 0; i < 50; i++ {
		a = a.Next()
	}
	for taken[a] {
		a = a.Next()
	}
	return a
}
