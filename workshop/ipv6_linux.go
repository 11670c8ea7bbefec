package workshop

import (
	"fmt"
	"net/netip"

	"netlab/internal/netops"
	"netlab/internal/topo"
	"netlab/overlay"
)

// The dual-stack exercises, on an overlay lab built with --ipv6: the same
// two nodes and four pods, each pod with an IPv6 address beside its IPv4
// one, and flannel-v6.1 beside flannel.1.

func init() {
	register(Exercise{
		N: 17, ID: "k8s-ipv6-half-cluster", Title: "IPv4 crosses between the nodes, IPv6 does not",
		Model: Kubernetes, Difficulty: "medium", Flags: []string{"--ipv6"},
		Story: func(e *Env) string {
			return fmt.Sprintf("The cluster went dual-stack this morning. pod1 reaches pod3 at %s, but not at its IPv6 address %s: "+
				"connections time out. node1 and node2 ping each other over IPv6 (%s), and pods of one node reach each other over IPv6.",
				e.Server("pod3"), server6(e, "pod3"), e.Node("node2").IP6)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			mac, err := vtepMACOf(e, "node1", "node2", v6)
			if err != nil {
				return nil, err
			}
			return []netops.Op{netops.FdbDel{NS: e.NS("node1"), MAC: mac, Dev: overlay.Device6(e.S.Topology.Overlay), Dst: e.Node("node2").IP6.String()}}, nil
		},
		// Sound: an FDB entry on flannel-v6.1 for node2's IPv6 VTEP MAC at
		// node2's IPv6 address. Refused: routing node2's IPv6 pods via its
		// underlay address from node1 alone (the answers still come back
		// in the tunnel), an all-zero entry, and breaking IPv4 to mend
		// IPv6.
		Criteria: []Criterion{
			podToPodOf("pod1", "pod3", v6),
			podToPodOf("pod3", "pod1", v6),
			podToPod("pod1", "pod3"),
			inTunnelOf("pod1", "pod3", v6),
			fdbForOf("node1", "node2", v6),
		},
		Solution: func(e *Env) []string {
			mac, _ := vtepMACOf(e, "node1", "node2", v6)
			return []string{fmt.Sprintf("sudo bridge -n %s fdb append %s dev %s dst %s", e.NS("node1"), mac, overlay.Device6(e.S.Topology.Overlay), e.Node("node2").IP6)}
		},
	})

	register(Exercise{
		N: 18, ID: "k8s-ipv6-big-transfers", Title: "Big IPv6 transfers hang, IPv4 is fine",
		Model: Kubernetes, Difficulty: "hard", Flags: []string{"--ipv6"},
		Story: func(e *Env) string {
			return fmt.Sprintf("Last night the nodes' IPv6 moved onto a 6in4 link (IPv6 carried inside IPv4) between the racks. "+
				"Since then pod1 pings pod3 at %s and small IPv6 requests work, but large IPv6 transfers between pods of different nodes hang, "+
				"either way. Over IPv4 (%s) the same transfers are fine.", e.W("pod3").IP6, e.W("pod3").IP)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			// The link carries 20 bytes less IPv6 than the nodes' eth1
			// say, and drops what is bigger without a word. IPv4 crosses
			// it as before.
			return narrowLink(e, v6, sixInFourMTU(e), fmt.Sprintf("the 6in4 link between the nodes carries %d bytes of IPv6 at most", sixInFourMTU(e))), nil
		},
		// Sound: flannel-v6.1's MTU down to what fits (the link's less
		// VXLAN over IPv6's 70 bytes): the nodes then answer bigger pod
		// packets with Packet Too Big, and path MTU discovery does the
		// rest; or every pod's MTU down as well. Refused: clamping TCP's
		// MSS (transfers pass, but any other big packet still vanishes),
		// and lowering flannel.1's MTU (IPv4's: it changes nothing).
		Criteria: []Criterion{
			transferOf(false, v6),
			transferOf(true, v6),
			transfer(false),
			noSilentLossOf("pod1", "pod3", v6),
			noSilentLossOf("pod3", "pod1", v6),
		},
		Solution: func(e *Env) []string {
			var cmds []string
			for _, n := range []string{"node1", "node2"} {
				cmds = append(cmds, fmt.Sprintf("sudo ip -n %s link set %s mtu %d", e.NS(n), overlay.Device6(e.S.Topology.Overlay), sixInFourMTU(e)-topo.VXLANOverhead6))
			}
			return cmds
		},
	})
}

// server6 is workload name's web server at its IPv6 address.
func server6(e *Env, name string) netip.AddrPort {
	w := e.W(name)
	return netip.AddrPortFrom(w.IP6, uint16(w.Port))
}

// sixInFourMTU is what exercise 18's link carries of IPv6: 20 bytes (an
// IPv4 header) less than the nodes believe.
func sixInFourMTU(e *Env) int { return e.S.Topology.UnderlayMTU - 20 }
