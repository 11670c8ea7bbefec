package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"netlab/compare"
	"netlab/internal/inventory"
	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/who"
	"netlab/kube"
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
	// netlab capture decodes it too: VXLAN in IPv6, outer and inner.
	captured, _ := captureCLI(t, name, func() { _, _ = probe.Ping(pod1, "fd00:10:244:2::2", 2, 2*time.Second) },
		"node1", "--count", "2", "--", "ip6", "and", "udp", "port", "8472")
	assert.Regexp(t, `IP6 fd00:56::11\.\d+ > fd00:56::12\.8472: VXLAN.*vni 1`, captured, "netlab capture: the outer IPv6 header")
	assert.Contains(t, captured, "IP6 fd00:10:244:1::2 > fd00:10:244:2::2: ICMP6, echo request", "and the inner packet")
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

// TestRealNodesDualStack: on two "VMs" whose private network has IPv6
// addresses beside IPv4 ones (as provision.sh gives them) and whose NAT NIC
// has an address and a default route learned from a router advertisement
// (as QEMU's user network sends one), --ipv6 is refused until the VM has
// its underlay address, then builds both models dual-stack across the two
// kernels (pod to pod over IPv6 without NAT, a published port over IPv6),
// and down leaves each VM as it was: no ip6tables rule or chain of the
// lab's, the same IPv6 addresses and routes (the router's among them), the
// same forwarding setting.
func TestRealNodesDualStack(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	r := a.nl(t, "overlay-mode", "--ipv6", "--lab", a.lab, "--node", "node1")
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "--ipv6: fd00:56::11 is node1's IPv6 address on the underlay, but eth1 here does not have it")
	assert.Empty(t, inventory.Scan(a.lab).Namespaces, "refused before any change")
	for i, v := range []vm{a, b} {
		sh(t, "ip", "-n", string(v.ns), "addr", "add", []string{"fd00:56::11/64", "fd00:56::12/64"}[i], "dev", "eth1", "nodad")
		// What a router advertisement leaves on the NAT NIC.
		sh(t, "ip", "-n", string(v.ns), "addr", "add", "fec0::5054:ff:fe12:3501/64", "dev", "eth0", "nodad")
		sh(t, "ip", "-n", string(v.ns), "-6", "route", "add", "default", "via", "fe80::2", "dev", "eth0", "proto", "ra")
	}
	ipv6State := func(v vm) string {
		return sh(t, "ip", "-n", string(v.ns), "-6", "addr", "show", "scope", "global") +
			sh(t, "ip", "-n", string(v.ns), "-6", "route", "show") +
			sh(t, "ip", "netns", "exec", string(v.ns), "sysctl", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.forwarding", "net.ipv6.conf.eth0.accept_ra") +
			sh(t, "ip", "netns", "exec", string(v.ns), "ip6tables-save", "-t", "nat") +
			sh(t, "ip", "netns", "exec", string(v.ns), "ip6tables-save", "-t", "filter")
	}
	strip := func(s string) string { return regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(s, "") }
	before := map[vm]string{a: strip(ipv6State(a)), b: strip(ipv6State(b))}

	a.mustNL(t, "overlay-mode", "--ipv6", "--lab", a.lab, "--node", "node1")
	b.mustNL(t, "overlay-mode", "--ipv6", "--lab", b.lab, "--node", "node2")
	pod1, pod3 := netops.NS(a.lab+"-pod1"), netops.NS(b.lab+"-pod3")
	ans := askAt(t, pod1, netip.MustParseAddrPort("[fd00:10:244:2::2]:9376"))
	assert.Equal(t, "pod3", ans.Name)
	assert.Equal(t, "fd00:10:244:1::2", ans.Client, "pod to pod across VMs over IPv6: no NAT")
	ans = askAt(t, pod3, netip.MustParseAddrPort("[fd00:10:244:1::3]:9376"))
	assert.Equal(t, "fd00:10:244:2::2", ans.Client)
	assert.Contains(t, sh(t, "ip", "-n", string(a.ns), "-6", "addr", "show", "dev", "eth0"), "fec0::5054:ff:fe12:3501/64", "the NAT NIC keeps its router's address")
	assert.Contains(t, sh(t, "ip", "-n", string(a.ns), "-6", "route", "show", "default"), "default via fe80::2 dev eth0 proto ra", "and its router's default route")
	assert.NotContains(t, sh(t, "ip", "-n", string(a.ns), "-6", "addr", "show", "dev", "eth0"), "fd00:", "no address of the lab's on the NAT NIC")
	assert.Equal(t, "2\n", sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv6.conf.eth0.accept_ra"),
		"forwarding is on: the NAT NIC takes router advertisements still (accept_ra 2), or the kernel would drop its router")
	assert.Contains(t, sh(t, "ip", "netns", "exec", string(a.ns), "ip6tables-save", "-t", "nat"), "FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8")
	downOnVM(t, a)
	downOnVM(t, b)
	for _, v := range []vm{a, b} {
		assert.Equal(t, before[v], strip(ipv6State(v)), "%s: IPv6 as it was before the lab, to the rule", v.ns)
	}

	// The Docker model on VM1: its published port over IPv6, from VM2.
	a.mustNL(t, "docker-mode", "--ipv6", "--lab", a.lab, "--node", "node1")
	ans = askAt(t, b.ns, netip.MustParseAddrPort("[fd00:56::11]:8080"))
	assert.Equal(t, "c1", ans.Name)
	assert.Equal(t, "fd00:172:17::2", ans.IP, "c1 answers at its IPv6 address")
	assert.Equal(t, "fd00:56::12", ans.Client, "VM2 seen as itself: DNAT, no proxy in the way")
	assert.Contains(t, sh(t, "ip", "netns", "exec", string(a.ns), "ip6tables-save", "-t", "nat"), "-s fd00:172:17::/64 ! -o docker0", "NAT66 in netlab's own chain")
	downOnVM(t, a)
	assert.Equal(t, before[a], strip(ipv6State(a)), "IPv6 as it was before the Docker lab, to the rule")
}

// TestCompareDualStack: when both labs are dual-stack, compare asks the
// questions of addresses and packets over IPv6 too (rows and verdicts
// ending in _ipv6), and the seed's three requirements come out per family
// as they do for IPv4: Docker fails them, Kubernetes passes them. The
// IPv6 cells are IPv6's own: pod1's IPv6 address seen across nodes,
// Docker's NAT66, 70 bytes of VXLAN in IPv6, a don't-fragment payload of
// 1430 - 48. IPv4-only labs have no such rows.
func TestCompareDualStack(t *testing.T) {
	labtest.Root(t)
	d, o := labtest.NewLab(t, "cd"), labtest.NewLab(t, "co")
	labtest.MustRun(t, "docker-mode", "--lab", d, "--ipv6")
	labtest.MustRun(t, "overlay-mode", "--lab", o, "--ipv6")
	doc, _ := runCompare(t, "--docker-lab", d, "--overlay-lab", o, "--quick")
	for _, req := range []string{"no_nat_workload_workload", "no_nat_node_workload", "self_ip_is_seen_ip"} {
		for _, id := range []string{req, req + "_ipv6"} {
			assert.Equal(t, "FAIL", doc.verdict(t, id, "docker"), id)
			assert.Equal(t, "PASS", doc.verdict(t, id, "kubernetes"), id)
		}
	}
	c := doc.cell(t, "cross_node_ipv6", "kubernetes")
	assert.True(t, c.Reachable)
	assert.Equal(t, "[fd00:10:244:2::2]:9376", c.To)
	assert.Equal(t, []string{"fd00:10:244:1::1", "fd00:10:244:2::", "fd00:10:244:2::2"}, c.Hops)
	assert.Contains(t, c.Path, "node1 veth-pod1 → flannel-v6.1", "the walk's path, in IPv6")
	assert.Contains(t, c.Path, "node2 flannel-v6.1 → veth-pod3")
	c = doc.cell(t, "source_seen_ipv6", "kubernetes")
	assert.Equal(t, "fd00:10:244:1::2", c.SeenSource)
	require.NotNil(t, c.Translated)
	assert.False(t, *c.Translated)
	c = doc.cell(t, "source_seen_ipv6", "docker")
	assert.Equal(t, "fd00:56::11", c.SeenSource, "through node2's published port over IPv6: NAT66 to node1's address")
	assert.Equal(t, "[fd00:56::12]:8080", c.To)
	c = doc.cell(t, "workload_to_outside_ipv6", "docker")
	assert.Equal(t, "fd00:56::11", c.SeenSource)
	c = doc.cell(t, "encapsulation_ipv6", "kubernetes")
	require.NotNil(t, c.Overhead)
	assert.Equal(t, 70, *c.Overhead, "VXLAN in IPv6: 40 + 8 + 8 + 14")
	c = doc.cell(t, "encapsulation", "kubernetes")
	require.NotNil(t, c.Overhead)
	assert.Equal(t, 50, *c.Overhead)
	c = doc.cell(t, "mtu_ipv6", "kubernetes")
	assert.Equal(t, 1430, c.MTU)
	require.NotNil(t, c.MaxDFPayload)
	assert.Equal(t, 1382, *c.MaxDFPayload)
	c = doc.cell(t, "routed_to_workload_ipv6", "docker")
	assert.False(t, c.Reachable)
	assert.Contains(t, c.Note, "dropped on node1 in raw PREROUTING (-d fd00:172:17::2/128", "Docker 28's IPv6 raw drop, counted")

	txt := labtest.MustRun(t, "compare", "--docker-lab", d, "--overlay-lab", o, "--quick").Stdout
	assert.Contains(t, txt, "other node, IPv6")
	assert.Contains(t, txt, "no NAT between containers, over IPv6")
	for _, l := range strings.Split(txt, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), compare.TextWidth, "%q", l)
	}
}

// advertise sends one router advertisement (router lifetime 1800 s, no
// prefix) from namespace ns out of dev, to all nodes, as a router (QEMU's
// user network, a VirtualBox NAT) does.
func advertise(t *testing.T, ns netops.NS, dev string) {
	t.Helper()
	require.NoError(t, netops.Do(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		defer c.Close()
		p := c.IPv6PacketConn()
		if err := p.SetMulticastHopLimit(255); err != nil {
			return err
		}
		if err := p.SetMulticastInterface(ifi); err != nil {
			return err
		}
		// Current hop limit 64, no flags, router lifetime 1800 s,
		// reachable time and retransmission timer unspecified.
		body := []byte{64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
		msg, err := (&icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}).Marshal(nil)
		if err != nil {
			return err
		}
		_, err = c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: dev})
		return err
	}))
}

// TestRealNodeKeepsRouters: a VM whose NAT NIC learned its default route
// from a router advertisement keeps it through a dual-stack lab, though the
// lab turns IPv6 forwarding on, which makes the kernel drop the routers it
// learned on an interface of accept_ra 1 (shown first, on the same kernel,
// without netlab); down puts accept_ra and forwarding back as they were.
func TestRealNodeKeepsRouters(t *testing.T) {
	labtest.Root(t)
	a, _ := twoVMs(t)
	sh(t, "ip", "-n", string(a.ns), "addr", "add", "fd00:56::11/64", "dev", "eth1", "nodad")
	nat := netops.NS(string(a.ns) + "-nat")
	sysctl := func(kv ...string) {
		sh(t, append([]string{"ip", "netns", "exec", string(a.ns), "sysctl", "-qw"}, kv...)...)
	}
	router := func() string {
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if r := sh(t, "ip", "-n", string(a.ns), "-6", "route", "show", "default", "dev", "eth0"); r != "" {
				return r
			}
		}
		return ""
	}
	sysctl("net.ipv6.conf.eth0.accept_ra=1", "net.ipv6.conf.all.forwarding=0")
	// eth0's link-local address must be usable to hear the router.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !strings.Contains(sh(t, "ip", "-n", string(nat), "-6", "addr", "show", "dev", "eth0"), "tentative") &&
			!strings.Contains(sh(t, "ip", "-n", string(a.ns), "-6", "addr", "show", "dev", "eth0"), "tentative") {
			break
		}
	}
	advertise(t, nat, "eth0")
	require.Contains(t, router(), "proto ra", "the VM learned its router")
	sysctl("net.ipv6.conf.all.forwarding=1")
	assert.Empty(t, sh(t, "ip", "-n", string(a.ns), "-6", "route", "show", "default", "dev", "eth0"),
		"without netlab: forwarding on, and the kernel dropped the router of an interface of accept_ra 1")
	sysctl("net.ipv6.conf.all.forwarding=0")
	advertise(t, nat, "eth0")
	require.Contains(t, router(), "proto ra")

	a.mustNL(t, "overlay-mode", "--ipv6", "--lab", a.lab, "--node", "node1")
	assert.Equal(t, "1\n2\n", sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.accept_ra"))
	assert.Contains(t, sh(t, "ip", "-n", string(a.ns), "-6", "route", "show", "default", "dev", "eth0"), "proto ra",
		"with the lab's forwarding on, eth0 kept its router: accept_ra 2")
	downOnVM(t, a)
	assert.Equal(t, "0\n1\n", sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.accept_ra"),
		"down put both back")
	assert.Contains(t, sh(t, "ip", "-n", string(a.ns), "-6", "route", "show", "default", "dev", "eth0"), "proto ra", "and the router is still there")

	// A machine that forwards already takes no advertisement on accept_ra
	// 1: netlab leaves it so, rather than start taking them with 2.
	sysctl("net.ipv6.conf.all.forwarding=1")
	a.mustNL(t, "overlay-mode", "--ipv6", "--lab", a.lab, "--node", "node1")
	assert.Equal(t, "1\n", sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv6.conf.eth0.accept_ra"), "accept_ra left alone")
	downOnVM(t, a)
	assert.Equal(t, "1\n", sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv6.conf.all.forwarding"), "forwarding as it was")
}

// TestAppliedPodsDualStack: in a dual-stack cluster the pods 'netlab
// apply' makes get an IPv6 address too, as Kubernetes gives every pod one
// of each family (status.podIPs: IPv4 first, the cluster's first family):
// the same host number in their node's /64; they answer over IPv6 without
// NAT, and the seed's Service, SingleStack as Kubernetes defaults it, stays
// IPv4.
func TestAppliedPodsDualStack(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "a")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--ipv6")
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json")
	var list struct {
		Items []corev1.Pod `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "get", "pods", "-o", "json", "--lab", name).Stdout), &list))
	st := readStatus(t, name)
	pod1 := names.NetnsName(name, "pod1")
	seen := 0
	for _, p := range list.Items {
		if !strings.HasPrefix(p.Name, "myapp-") {
			continue
		}
		seen++
		require.Len(t, p.Status.PodIPs, 2, "%s: one address per family", p.Name)
		v4, v6 := netip.MustParseAddr(p.Status.PodIPs[0].IP), netip.MustParseAddr(p.Status.PodIPs[1].IP)
		assert.True(t, v4.Is4() && v6.Is6(), "IPv4 first: %v", p.Status.PodIPs)
		b4 := v4.As4()
		assert.Equal(t, fmt.Sprintf("fd00:10:244:%d::%x", b4[2], b4[3]), v6.String(), "the same host number in its node's /64")
		assert.Equal(t, v6.String(), st.ip6(p.Name), "status --json says it too")
		a := askAt(t, pod1, netip.AddrPortFrom(v6, 9376))
		assert.Equal(t, p.Name, a.Name)
		assert.Equal(t, "fd00:10:244:1::2", a.Client, "no NAT over IPv6")
	}
	assert.Equal(t, 3, seen)
	svc := serviceOf(t, labtest.MustRun(t, "get", "service", "my-service", "-o", "json", "--lab", name).Stdout)
	assert.True(t, netip.MustParseAddr(svc.ClusterIP).Is4(), "SingleStack, the cluster's first family")
	a := askAt(t, pod1, netip.AddrPortFrom(netip.MustParseAddr(svc.ClusterIP), 80))
	assert.True(t, strings.HasPrefix(a.Name, "myapp-"), "the Service answers, over IPv4")
}

// dualStackService is a NodePort Service of myapp's pods of both
// families (PreferDualStack), an IPv6-only one, and one of IPv6 with no
// endpoints.
const dualStackService = `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  ipFamilyPolicy: PreferDualStack
  selector: {app: MyApp}
  ports: [{port: 80, targetPort: 9376, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web6}
spec:
  ipFamilies: [IPv6]
  selector: {app: MyApp}
  ports: [{port: 80, targetPort: 9376}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody6}
spec:
  ipFamilies: [IPv6]
  selector: {app: nobody}
  ports: [{port: 80}]
`

// TestDualStackServices: a dual-stack Service is one Service with a
// ClusterIP of each family, proven with packets over IPv6 as over IPv4:
// its IPv6 ClusterIP from a pod spreads over the pods' IPv6 addresses and
// keeps the client's own (no NAT inside the cluster); its NodePort answers
// the outside host at a node's IPv6 address (masqueraded, as in IPv4); an
// IPv6 Service without endpoints refuses at once. kube-proxy's IPv6 rules
// are in ip6tables under the same KUBE-SVC name as the IPv4 ones; the
// cluster DNS answers AAAA and the ip6.arpa PTR; and deleting the
// Services leaves no KUBE-SVC chain in either family. In kube-proxy's
// nftables mode, the same with packets, and its two tables (ip and ip6
// kube-proxy) name the Service's chain alike.
func TestDualStackServices(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testDualStackServices)
}

func testDualStackServices(t *testing.T, mode string) {
	name := labtest.NewLab(t, "a")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--ipv6", "--proxy-mode", mode)
	svcFile := manifest(t, dualStackService)
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", svcFile)
	var web corev1.Service
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "get", "service", "web", "-o", "json", "--lab", name).Stdout), &web))
	assert.Equal(t, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, web.Spec.IPFamilies)
	require.Len(t, web.Spec.ClusterIPs, 2)
	v4, v6 := netip.MustParseAddr(web.Spec.ClusterIPs[0]), netip.MustParseAddr(web.Spec.ClusterIPs[1])
	assert.Equal(t, web.Spec.ClusterIP, v4.String(), "clusterIP is the first family's")
	assert.True(t, kube.ServiceCIDR.Contains(v4) && kube.ServiceCIDR6.Contains(v6), "%v", web.Spec.ClusterIPs)
	var web6 corev1.Service
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "get", "service", "web6", "-o", "json", "--lab", name).Stdout), &web6))
	assert.Equal(t, corev1.IPFamilyPolicySingleStack, *web6.Spec.IPFamilyPolicy)
	only6 := netip.MustParseAddr(web6.Spec.ClusterIP)
	assert.True(t, only6.Is6(), "an IPv6 Service's clusterIP is IPv6")

	pod1 := names.NetnsName(name, "pod1")
	pod16 := "fd00:10:244:1::2"
	pods6 := map[string]bool{}
	for _, p := range getPods(t, name) {
		if strings.HasPrefix(p.Name, "myapp-") {
			pods6[p.Name] = true
		}
	}
	require.Len(t, pods6, 3)
	for _, vip := range []netip.Addr{v6, only6} {
		seen := map[string]bool{}
		for range 30 {
			a := askAt(t, pod1, netip.AddrPortFrom(vip, 80))
			assert.True(t, pods6[a.Name], "%s answered %s", vip, a.Name)
			assert.Equal(t, pod16, a.Client, "no NAT inside the cluster, over IPv6 too")
			seen[a.Name] = true
		}
		assert.Greater(t, len(seen), 1, "%s: spread over the pods", vip)
	}
	a := askAt(t, pod1, netip.AddrPortFrom(v4, 80))
	assert.True(t, pods6[a.Name], "the same Service over IPv4")

	// The NodePort at each node's IPv6 address, from the outside host.
	st := readStatus(t, name)
	outside := names.NetnsName(name, "outside")
	for _, n := range []string{"node1", "node2"} {
		_, ip6 := st.node6(n)
		a := askAt(t, outside, netip.AddrPortFrom(netip.MustParseAddr(ip6), 30080))
		assert.True(t, pods6[a.Name], "NodePort at %s", ip6)
		assert.NotEqual(t, "fd00:56::1", a.Client, "the node masqueraded the outside host")
	}

	// No endpoints: REJECT, at once (not a timeout).
	var nobody corev1.Service
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "get", "service", "nobody6", "-o", "json", "--lab", name).Stdout), &nobody))
	start := time.Now()
	_, err := who.Ask(pod1, netip.AddrPortFrom(netip.MustParseAddr(nobody.Spec.ClusterIP), 80))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
	assert.Less(t, time.Since(start), 2*time.Second)

	// kube-proxy's two proxiers: the same KUBE-SVC chain in both tables
	// (nftables mode: the same service- chain in table ip and ip6).
	node1, _ := st.node("node1")
	sp := kube.ServicePort{Namespace: "default", Name: "web", Protocol: "TCP"}
	chain := kube.ServiceChain(sp)
	tools := []string{"iptables-save", "ip6tables-save"}
	list := func(tool string) string {
		if mode == "iptables" {
			return sh(t, "ip", "netns", "exec", string(node1), tool, "-t", "nat")
		}
		fam := map[string]string{"iptables-save": "ip", "ip6tables-save": "ip6"}[tool]
		return sh(t, "ip", "netns", "exec", string(node1), "nft", "list", "table", fam, "kube-proxy")
	}
	if mode == "iptables" {
		save4, save6 := list(tools[0]), list(tools[1])
		assert.Contains(t, save4, "-d "+v4.String()+"/32 -p tcp -m comment --comment \"default/web cluster IP\"")
		assert.Contains(t, save6, "-d "+v6.String()+"/128 -p tcp -m comment --comment \"default/web cluster IP\"")
		assert.Contains(t, save4, ":"+chain)
		assert.Contains(t, save6, ":"+chain)
		assert.Contains(t, save6, "! -d ::1/128")
		assert.NotContains(t, save6, "127.0.0.0/8")
	} else {
		chain = kube.NFTServiceChain(sp)
		t4, t6 := list(tools[0]), list(tools[1])
		assert.Contains(t, t4, v4.String()+" . tcp . 80 : goto "+chain)
		assert.Contains(t, t6, v6.String()+" . tcp . 80 : goto "+chain)
		assert.Contains(t, t6, "ip6 daddr "+v6.String()+" tcp dport 80 ip6 saddr != fd00:10:244::/56 jump mark-for-masquerade")
		assert.Contains(t, t6, "type ipv6_addr . inet_proto . inet_service : verdict")
		tr := runTrace(t, "--lab", name, "pod1", v6.String(), "--port", "80")
		assert.True(t, tr.Confirmed, "%v", tr.Disagreements)
	}

	// The cluster DNS: AAAA beside A, and the IPv6 ClusterIP's PTR.
	r := resolver(pod1)
	ctx := context.Background()
	ips, err := r.LookupNetIP(ctx, "ip6", "web.default.svc.cluster.local")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{v6}, ips)
	ips, err = r.LookupNetIP(ctx, "ip4", "web.default.svc.cluster.local")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{v4}, ips)
	back, err := r.LookupAddr(ctx, v6.String())
	require.NoError(t, err)
	assert.Equal(t, []string{"web.default.svc.cluster.local."}, back)
	ips, err = r.LookupNetIP(ctx, "ip6", "fd00-10-244-1--2.default.pod.cluster.local")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr(pod16)}, ips, "pods insecure, IPv6")

	labtest.MustRun(t, "delete", "--lab", name, "-f", svcFile)
	for _, tool := range tools {
		assert.NotContains(t, list(tool), chain, "%s: the Service's chains went with it", tool)
	}
}

// TestIPv6ServiceInIPv4Lab: a Service of IPv6 in a lab of IPv4 alone is
// refused as the API server refuses it, by field, and nothing is made.
func TestIPv6ServiceInIPv4Lab(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "a")
	labtest.MustRun(t, "overlay-mode", "--lab", name)
	for _, tc := range []struct{ spec, want string }{
		{"{ipFamilies: [IPv6], ports: [{port: 80}]}", "spec.ipFamilies[0]: IPv6: not configured on this cluster"},
		{"{ipFamilyPolicy: RequireDualStack, ports: [{port: 80}]}", "spec.ipFamilyPolicy: RequireDualStack: this cluster is not configured for dual-stack services"},
		{"{clusterIP: 'fd00:10:96::20', ports: [{port: 80}]}", "not configured on this cluster"},
	} {
		f := manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s6}\nspec: "+tc.spec+"\n")
		r := labtest.Run(t, "apply", "--lab", name, "-f", f)
		assert.NotEqual(t, 0, r.Code, tc.spec)
		assert.Contains(t, r.Stderr, tc.want, tc.spec)
		assert.Contains(t, r.Stderr, "--ipv6", "says what to do")
		assert.NotEqual(t, 0, labtest.Run(t, "get", "service", "s6", "--lab", name).Code, "nothing was made")
	}
	// PreferDualStack there is IPv4 alone, as in a cluster of one family.
	f := manifest(t, "apiVersion: v1\nkind: Service\nmetadata: {name: s4}\nspec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n")
	labtest.MustRun(t, "apply", "--lab", name, "-f", f)
	var s corev1.Service
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "get", "service", "s4", "-o", "json", "--lab", name).Stdout), &s))
	assert.Equal(t, []corev1.IPFamily{corev1.IPv4Protocol}, s.Spec.IPFamilies)
	assert.Len(t, s.Spec.ClusterIPs, 1)
}

// TestTraceIPv6: trace walks IPv6 as it walks IPv4, from the kernel's
// IPv6 tables, and one real packet confirms it: pod1 → pod3 across nodes
// goes by flannel-v6.1's permanent neighbour and FDB entries into VXLAN
// over the nodes' IPv6 addresses; pod1 → a dual-stack Service's IPv6
// ClusterIP is DNAT'd by kube-proxy's ip6tables rules to a pod's IPv6
// address; pod1 → the outside host leaves masqueraded to node1's IPv6
// address (flannel's NAT66); in the Docker model a container's packet
// to the outside host is masqueraded too (NAT66). With the FDB entry for
// node2's IPv6 VTEP gone, the walk stops there and says what netlab had
// built.
func TestTraceIPv6(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "t")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--ipv6")
	st := readStatus(t, name)
	pod3 := st.ip6("pod3")

	d := runTrace(t, "--lab", name, "pod1", "pod3", "--ipv6")
	assert.True(t, d.Confirmed, "%v", d.Disagreements)
	assert.Empty(t, d.Expected)
	assert.Equal(t, "delivered", d.Outcome)
	assert.Equal(t, "pod3", d.DeliveredTo)
	assert.Equal(t, pod3, d.Dst.IP)
	assert.Equal(t, "fd00:10:244:1::2", d.Src.IP, "pod1's IPv6 address is the source")
	var encap *traceHop
	for i, h := range d.Hops {
		if h.Encapsulation != nil {
			encap = &d.Hops[i]
		}
	}
	require.NotNil(t, encap, "the walk crosses the tunnel")
	assert.Equal(t, "flannel-v6.1", encap.Out)
	assert.Equal(t, "fd00:56::11", encap.Encapsulation.Src)
	assert.Equal(t, "fd00:56::12", encap.Encapsulation.Dst, "VXLAN over the nodes' IPv6 addresses")
	assert.Contains(t, encap.Neighbour, "PERMANENT", "flannel's neighbour entry, never NDP's")
	assert.Contains(t, encap.FDB, "dst fd00:56::12 self permanent")

	// A dual-stack Service: kube-proxy's ip6tables rules DNAT it.
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", manifest(t, dualStackService))
	d = runTrace(t, "--lab", name, "pod1", "svc/web", "--ipv6")
	assert.True(t, d.Confirmed, "%v", d.Disagreements)
	assert.Equal(t, "delivered", d.Outcome)
	var dnat string
	for _, h := range d.Hops {
		for _, r := range h.Rewrite {
			if strings.HasPrefix(r.What, "dst ") {
				dnat = r.What
				assert.Contains(t, r.Rule, "KUBE-SEP-")
				assert.NotEmpty(t, r.Conntrack, "conntrack confirms it")
			}
		}
	}
	assert.Regexp(t, `^dst \[fd00:10:96::[0-9a-f]+\]:80 → \[fd00:10:244:[12]::[0-9a-f]+\]:9376$`, dnat)

	// Out of the cluster: flannel's NAT66 MASQUERADE, in ip6tables.
	d = runTrace(t, "--lab", name, "pod1", "outside", "--ipv6")
	if !assert.True(t, d.Confirmed, "%v", d.Disagreements) {
		for _, h := range d.Hops {
			t.Logf("hop %s %s in=%s out=%s route=%s pkt=%s rw=%v", h.Host, h.Action, h.In, h.Out, h.Route, h.Packet, h.Rewrite)
		}
	}
	var snat string
	for _, h := range d.Hops {
		for _, r := range h.Rewrite {
			if strings.HasPrefix(r.What, "src ") {
				snat = r.What
			}
		}
	}
	assert.Equal(t, "src fd00:10:244:1::2 → fd00:56::11", snat)

	// Break it: without its FDB entry flannel-v6.1 has no tunnel to node2.
	node1, _ := st.node("node1")
	var mac string
	for _, l := range strings.Split(sh(t, "bridge", "-n", string(node1), "fdb", "show", "dev", "flannel-v6.1"), "\n") {
		if strings.Contains(l, "dst fd00:56::12") {
			mac = strings.Fields(l)[0]
		}
	}
	require.NotEmpty(t, mac)
	sh(t, "bridge", "-n", string(node1), "fdb", "del", mac, "dev", "flannel-v6.1", "dst", "fd00:56::12")
	d = runTrace(t, "--lab", name, "pod1", pod3)
	assert.Equal(t, "dropped", d.Outcome)
	assert.True(t, d.Confirmed, "the real packet is lost too: %v", d.Disagreements)
	require.NotEmpty(t, d.Expected)
	assert.Contains(t, d.Expected[0], "fdb replace "+mac+" dev flannel-v6.1 dst fd00:56::12 self permanent'; the kernel has no FDB entry for "+mac)

	// The Docker model: NAT66 on the way out.
	dk := labtest.NewLab(t, "t6")
	labtest.MustRun(t, "docker-mode", "--lab", dk, "--ipv6")
	d = runTrace(t, "--lab", dk, "c1", "outside", "--ipv6")
	assert.True(t, d.Confirmed, "%v", d.Disagreements)
	snat = ""
	for _, h := range d.Hops {
		for _, r := range h.Rewrite {
			if strings.HasPrefix(r.What, "src ") {
				snat = r.What
			}
		}
	}
	assert.Equal(t, "src fd00:172:17::2 → fd00:56::11", snat, "Docker's MASQUERADE in ip6tables")
}
