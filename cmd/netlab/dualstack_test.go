package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/who"
)

// askAt asks the server at addr (IPv4 or IPv6) from ns who it is and whom
// it saw.
func askAt(t *testing.T, ns netops.NS, addr netip.AddrPort) who.Answer {
	t.Helper()
	a, err := who.Ask(ns, addr)
	require.NoError(t, err, "%s -> %s", ns, addr)
	return a
}

// TestOverlayDualStackTruths: with --ipv6, every truth of the Kubernetes
// model holds for IPv6 too, proven with packets: every pod reaches every
// pod, on its node and across nodes, by its IPv6 address, and sees the
// asker's own IPv6 address (no NAT); a node reaches a pod untranslated;
// a pod leaving the cluster takes its node's IPv6 address (flannel's
// NAT66, as for IPv4). flannel-v6.1 carries it: the same VNI over the
// underlay's IPv6, an FDB entry per peer pointing at the peer's IPv6
// address, a neighbour entry per peer VTEP and a route per peer /64, and
// the wire shows VXLAN in IPv6. The pods' MTU fits VXLAN over IPv6 (1500 -
// 70), which a ping with DF proves byte for byte, in both families.
func TestOverlayDualStackTruths(t *testing.T) {
	labtest.Root(t)
	for _, backend := range []string{"vxlan", "host-gw"} {
		t.Run(backend, func(t *testing.T) { overlayDualStack(t, backend) })
	}
}

func overlayDualStack(t *testing.T, backend string) {
	name := labtest.NewLab(t, "6")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--ipv6", "--backend", backend)
	st := readStatus(t, name)
	require.True(t, st.IPv6, "status --json says dual-stack")
	node1, outside := names.NetnsName(name, "node1"), names.NetnsName(name, "outside")
	_, node1IP6 := st.node6("node1")
	_, node2IP6 := st.node6("node2")
	assert.Equal(t, "fd00:56::11", node1IP6)
	assert.Equal(t, "fd00:56::12", node2IP6)
	pods := map[string]string{"pod1": "fd00:10:244:1::2", "pod2": "fd00:10:244:1::3", "pod3": "fd00:10:244:2::2", "pod4": "fd00:10:244:2::3"}
	for p, ip6 := range pods {
		assert.Equal(t, ip6, st.ip6(p), "%s's IPv6 address, from its node's /64", p)
	}

	// Every pod to every pod, by IPv6, no NAT: the asker is seen as itself.
	for from, fromIP := range pods {
		for to, toIP := range pods {
			if from == to {
				continue
			}
			a := askAt(t, names.NetnsName(name, from), netip.AddrPortFrom(netip.MustParseAddr(toIP), 9376))
			assert.Equal(t, to, a.Name)
			assert.Equal(t, toIP, a.IP, "the pod answers at the IPv6 address it was asked at")
			assert.Equal(t, fromIP, a.Client, "%s -> %s: no NAT in IPv6 either", from, to)
		}
	}
	// A node reaches a pod untranslated; a pod leaving the cluster takes
	// its node's IPv6 address.
	a := askAt(t, node1, netip.MustParseAddrPort("[fd00:10:244:2::2]:9376"))
	assert.Contains(t, []string{"fd00:10:244:1::", node1IP6}, a.Client, "node1 as itself (flannel-v6.1's address, or its underlay's with host-gw)")
	a = askAt(t, names.NetnsName(name, "pod1"), netip.MustParseAddrPort("[fd00:56::1]:80"))
	assert.Equal(t, "outside", a.Name)
	assert.Equal(t, node1IP6, a.Client, "leaving the cluster: MASQUERADE to node1's IPv6 address (flannel's NAT66)")
	// The outside host has no route to the pods: nothing reaches a pod
	// from outside but through a node (as in IPv4).
	r, err := probe.Ping(outside, "fd00:10:244:1::2", 1, time.Second)
	require.NoError(t, err)
	assert.False(t, r.OK(), "the outside host has no route to the pod network")

	nl, err := netops.Netlink(node1)
	require.NoError(t, err)
	defer nl.Close()
	pod1 := names.NetnsName(name, "pod1")
	if backend == "host-gw" {
		_, err = nl.LinkByName("flannel-v6.1")
		assert.Error(t, err, "no VXLAN with host-gw")
		assert.Contains(t, sh(t, "ip", "-n", string(node1), "-6", "route", "show", "fd00:10:244:2::/64"),
			"fd00:10:244:2::/64 via fd00:56::12 dev eth1", "node2's IPv6 pod CIDR via node2's IPv6 address")
		hops, out, err := probe.Traceroute(pod1, "fd00:10:244:2::2", 5)
		require.NoError(t, err, out)
		require.Len(t, hops, 3, out)
		assert.Equal(t, []string{"fd00:10:244:1::1", "fd00:56::12", "fd00:10:244:2::2"}, []string{hops[0].Addr, hops[1].Addr, hops[2].Addr})
		dfProbes(t, pod1, 1500)
		return
	}
	l, err := nl.LinkByName("flannel-v6.1")
	require.NoError(t, err)
	v := l.(*netlink.Vxlan)
	assert.Equal(t, 1, v.VxlanId, "the same VNI as flannel.1")
	assert.Equal(t, 8472, v.Port)
	assert.Equal(t, node1IP6, v.SrcAddr.String(), "over the underlay's IPv6")
	assert.Equal(t, 1430, l.Attrs().MTU, "VXLAN over IPv6 costs 70 bytes")
	fdb, err := nl.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	require.NoError(t, err)
	var dsts []string
	for _, f := range fdb {
		if f.IP != nil {
			dsts = append(dsts, f.HardwareAddr.String()+" dst "+f.IP.String())
		}
	}
	assert.Equal(t, []string{"0e:66:c0:a8:38:0c dst " + node2IP6}, dsts, "one FDB entry: node2's VTEP MAC at node2's IPv6 address")
	nd, err := nl.NeighList(l.Attrs().Index, netlink.FAMILY_V6)
	require.NoError(t, err)
	var vteps []string
	for _, n := range nd {
		if n.State&netlink.NUD_PERMANENT != 0 {
			vteps = append(vteps, n.IP.String()+" "+n.HardwareAddr.String())
		}
	}
	assert.Equal(t, []string{"fd00:10:244:2:: 0e:66:c0:a8:38:0c"}, vteps, "node2's VTEP, a permanent neighbour entry (NDP never asked)")
	assert.Contains(t, sh(t, "ip", "-n", string(node1), "-6", "route", "show", "fd00:10:244:2::/64"),
		"fd00:10:244:2::/64 via fd00:10:244:2:: dev flannel-v6.1")

	hops, out, err := probe.Traceroute(pod1, "fd00:10:244:2::2", 5)
	require.NoError(t, err, out)
	require.Len(t, hops, 3, out)
	assert.Equal(t, []string{"fd00:10:244:1::1", "fd00:10:244:2::", "fd00:10:244:2::2"}, []string{hops[0].Addr, hops[1].Addr, hops[2].Addr},
		"cni0, node2's flannel-v6.1, the pod: the underlay never shows")
	wire := capture(t, node1, "ip6 and udp port 8472", func() {
		r, err := probe.Ping(pod1, "fd00:10:244:2::2", 1, 2*time.Second)
		require.NoError(t, err)
		assert.True(t, r.OK(), r.Output)
	})
	assert.Contains(t, wire, "IP6 fd00:56::11.", "the outer packet: IPv6 between the nodes")
	assert.Contains(t, wire, "VXLAN, flags [I] (0x08), vni 1", "VXLAN inside")
	assert.Contains(t, wire, "IP6 fd00:10:244:1::2 > fd00:10:244:2::2: ICMP6, echo request", "the pods' own packet inside")
	dfProbes(t, pod1, 1430)
}

// dfProbes proves a pod's MTU with pings that may not be fragmented: from
// pod1 to pod3 on the other node, the largest that fits (mtu less 48
// bytes of IPv6 and ICMPv6 headers, 28 of IPv4 and ICMP) arrives, one
// byte more is refused at once.
func dfProbes(t *testing.T, pod1 netops.NS, mtu int) {
	t.Helper()
	for _, c := range []struct {
		to  string
		hdr int
	}{{"fd00:10:244:2::2", 48}, {"10.244.2.2", 28}} {
		r, err := probe.Ping(pod1, c.to, 1, 2*time.Second, "-M", "do", "-s", fmt.Sprint(mtu-c.hdr))
		require.NoError(t, err)
		assert.True(t, r.OK(), "%d bytes to %s fit: %s", mtu, c.to, r.Output)
		r, err = probe.Ping(pod1, c.to, 1, 2*time.Second, "-M", "do", "-s", fmt.Sprint(mtu-c.hdr+1))
		require.NoError(t, err)
		assert.True(t, strings.Contains(r.Output, "message too long") || strings.Contains(r.Output, "mtu"), "%d bytes to %s do not: %s", mtu+1, c.to, r.Output)
	}
}
