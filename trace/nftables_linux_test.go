package trace

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/kube"
)

// TestNFTablesWalk: the walk's nftables evaluation, against kube-proxy's
// rule set as the kernel lists it back (loaded in a namespace of the
// test's own): the verdict map to a service chain, numgen to an endpoint
// (the first, or the one the real packet took), the affinity set before
// it, the NodePort map, the mark and the masquerade it asks for, the
// no-endpoint and invalid-port rejects, the unallocated ClusterIP's drop;
// and an expression it does not know, said so, not matched.
func TestNFTablesWalk(t *testing.T) {
	labtest.Root(t)
	labtest.Tool(t, "nft", "nftables")
	ns := string(labtest.NetNS(t, "nfw"))
	web := kube.ServicePort{Namespace: "ns1", Name: "web", PortName: "http", Protocol: "TCP", ClusterIP: netip.MustParseAddr("10.96.0.41"), Port: 80, NodePort: 30080,
		Endpoints: []kube.Endpoint{{IP: netip.MustParseAddr("10.244.1.5"), Port: 9376}, {IP: netip.MustParseAddr("10.244.2.5"), Port: 9376}}}
	sticky := web
	sticky.Name, sticky.NodePort, sticky.AffinitySeconds, sticky.ClusterIP = "sticky", 0, 600, netip.MustParseAddr("10.96.0.43")
	empty := kube.ServicePort{Namespace: "ns1", Name: "empty", Protocol: "TCP", ClusterIP: netip.MustParseAddr("10.96.0.42"), Port: 80}
	lines := kube.GenerateNFT([]kube.ServicePort{web, sticky, empty}, kube.NFTOptions{
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		NodePortIPs: []netip.Addr{netip.MustParseAddr("192.168.56.11")},
	})
	lines = append(lines,
		// The client the kernel has seen: it sticks to the second endpoint.
		"add element ip kube-proxy "+kube.NFTAffinitySet(sticky, sticky.Endpoints[1])+" { 10.244.1.9 }",
		// A table of another program's, with an expression the walk does
		// not know.
		"add table ip other", "add chain ip other foreign { type filter hook forward priority 10 ; }",
		"add rule ip other foreign meta cpu 1 drop",
		// Tracing switched on (as netlab's own trace does): no verdict.
		"add chain ip other pre { type filter hook prerouting priority -150 ; }",
		"add rule ip other pre meta nftrace set 1")
	r := netops.NewRunner(netops.Apply, nil)
	defer r.Close()
	require.NoError(t, r.Run(t.Context(), []netops.Op{netops.NFT{NS: netops.NS(ns), Lines: lines}}))
	j, err := netops.NFTRuleset(netops.NS(ns))
	require.NoError(t, err)
	text, err := netops.NFTRulesetText(netops.NS(ns))
	require.NoError(t, err)
	n, err := ParseNFT(j, text)
	require.NoError(t, err)
	require.NotNil(t, n)

	pod := netip.MustParseAddr("10.244.1.9")
	pkt := func(src, dst string, port int) Packet {
		return Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: "tcp", Sport: 40000, Dport: port, In: "cni0"}
	}
	first := kube.NFTEndpointChain(web, web.Endpoints[0])
	second := kube.NFTEndpointChain(web, web.Endpoints[1])

	// Tracing on is no verdict, and no rule the walk cannot judge.
	assert.Empty(t, n.EvalHook("ip", "filter", "prerouting", -1000, 1000, pkt(pod.String(), "10.96.0.41", 80)).Unknown)

	// A ClusterIP: the map, numgen, the first endpoint when nothing forces it.
	v := n.EvalHook("ip", "nat", "prerouting", -1000, 1000, pkt(pod.String(), "10.96.0.41", 80))
	assert.Equal(t, "DNAT", v.Target)
	assert.Equal(t, "10.244.1.5:9376", v.To)
	assert.True(t, v.Random)
	assert.Equal(t, "ip kube-proxy", v.Table)
	assert.Equal(t, "nat-prerouting", v.Chain)
	assert.Equal(t, "chain "+first+": meta l4proto tcp dnat to 10.244.1.5:9376", v.Rule)
	assert.Equal(t, []string{"chain nat-prerouting: jump services",
		"chain services: ip daddr . meta l4proto . th dport vmap @service-ips",
		"chain " + kube.NFTServiceChain(web) + ": numgen random mod 2 vmap { 0 : goto " + first + ", 1 : goto " + second + " }"}, v.Via)
	assert.Zero(t, v.Mark, "a pod's own connection is not marked")
	// The real packet took the second: the walk follows it.
	p := pkt(pod.String(), "10.96.0.41", 80)
	p.Choose = func(rule string) bool {
		return slices.Contains(n.DNATs(strings.TrimPrefix(rule, "goto ")), "10.244.2.5:9376")
	}
	assert.Equal(t, "10.244.2.5:9376", n.EvalHook("ip", "nat", "prerouting", -1000, 1000, p).To)

	// From a node: marked for masquerading, which postrouting does.
	v = n.EvalHook("ip", "nat", "output", -1000, 1000, pkt("192.168.56.11", "10.96.0.41", 80))
	assert.Equal(t, "DNAT", v.Target)
	assert.Equal(t, uint32(0x4000), v.Mark)
	q := pkt("192.168.56.11", "10.244.1.5", 9376)
	q.Mark = v.Mark
	post := n.EvalHook("ip", "nat", "postrouting", -1000, 1000, q)
	assert.Equal(t, "MASQUERADE", post.Target)
	assert.Equal(t, "chain masquerading: masquerade fully-random", post.Rule)
	assert.Zero(t, post.Mark, "masquerading clears the mark")
	assert.Equal(t, "", n.EvalHook("ip", "nat", "postrouting", -1000, 1000, pkt(pod.String(), "10.244.1.5", 9376)).Target, "unmarked: not masqueraded")

	// The NodePort, on the node's own address.
	v = n.EvalHook("ip", "nat", "prerouting", -1000, 1000, pkt("192.168.56.1", "192.168.56.11", 30080))
	assert.Equal(t, "DNAT", v.Target)
	assert.Contains(t, v.Via, "chain "+kube.NFTExternalChain(web)+": goto "+kube.NFTServiceChain(web))
	assert.Equal(t, uint32(0x4000), v.Mark)
	assert.Equal(t, "", n.EvalHook("ip", "nat", "prerouting", -1000, 1000, pkt("192.168.56.1", "192.168.56.12", 30080)).Target, "not a NodePort address of this node")

	// Affinity: the client in the second endpoint's set goes there.
	v = n.EvalHook("ip", "nat", "prerouting", -1000, 1000, pkt(pod.String(), "10.96.0.43", 80))
	assert.Equal(t, "10.244.2.5:9376", v.To)
	assert.False(t, v.Random, "the affinity set decided, not numgen")
	assert.Equal(t, "10.244.1.5:9376", n.EvalHook("ip", "nat", "prerouting", -1000, 1000, pkt("10.244.1.10", "10.96.0.43", 80)).To, "another client: numgen")

	// What filter-forward refuses: no endpoints, a port no Service has,
	// an address no Service holds.
	v = n.EvalHook("ip", "filter", "forward", -1000, 1000, pkt(pod.String(), "10.96.0.42", 80))
	assert.Equal(t, "REJECT", v.Target)
	assert.Equal(t, "chain reject-chain: reject", v.Rule)
	assert.Equal(t, []string{"chain filter-forward: ct state new jump service-endpoints-check",
		"chain service-endpoints-check: ip daddr . meta l4proto . th dport vmap @no-endpoint-services"}, v.Via)
	v = n.EvalHook("ip", "filter", "forward", -1000, 1000, pkt(pod.String(), "10.96.0.41", 81))
	assert.Equal(t, "REJECT", v.Target)
	assert.Equal(t, `chain cluster-ips-check: ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`, v.Rule)
	v = n.EvalHook("ip", "filter", "forward", -1000, 1000, pkt(pod.String(), "10.96.0.99", 80))
	assert.Equal(t, "DROP", v.Target)
	assert.Contains(t, v.Rule, "Drop traffic to unallocated ClusterIPs")
	v = n.EvalHook("ip", "filter", "forward", -1000, 1000, pkt(pod.String(), "10.244.2.5", 9376))
	assert.Equal(t, "", v.Target, "a pod's own address passes")
	assert.Equal(t, []string{"chain foreign: meta cpu 1 drop"}, v.Unknown, "the rule the walk cannot judge is said")
}
