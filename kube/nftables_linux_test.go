package kube

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// TestNFTablesLoads: the kernel takes GenerateNFT's transaction as it is
// (nft -f, in a network namespace of the test's own), and `nft list`
// shows its chains, maps and sets, the endpoints' verdict map and an
// affinity set with its timeout among them.
func TestNFTablesLoads(t *testing.T) {
	labtest.Root(t)
	labtest.Tool(t, "nft", "nftables")
	ns := string(labtest.NetNS(t, "nft"))
	s := svc("ns1", "svc1", "10.96.0.41", ep("10.244.1.5", 9376), ep("10.244.2.5", 9376))
	s.NodePort, s.AffinitySeconds = 30080, 10800
	lines := GenerateNFT([]ServicePort{s, svc("ns1", "empty", "10.96.0.42")}, NFTOptions{
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		NodePortIPs: []netip.Addr{netip.MustParseAddr("192.168.56.11")},
	})
	f := filepath.Join(t.TempDir(), "kube-proxy.nft")
	require.NoError(t, os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-f", f).CombinedOutput()
	require.NoError(t, err, "nft -f: %s", out)
	out, err = exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", "kube-proxy").CombinedOutput()
	require.NoError(t, err, string(out))
	listed := string(out)
	for _, want := range []string{
		"chain " + NFTServiceChain(s) + " {",
		"numgen random mod 2 vmap { 0 : goto " + NFTEndpointChain(s, s.Endpoints[0]) + ", 1 : goto " + NFTEndpointChain(s, s.Endpoints[1]) + " }",
		"meta l4proto tcp dnat to 10.244.2.5:9376",
		"set " + NFTAffinitySet(s, s.Endpoints[0]) + " {",
		"timeout 3h",
		"10.96.0.41 . tcp . 80 : goto " + NFTServiceChain(s),
		"tcp . 30080 : goto " + NFTExternalChain(s),
		`10.96.0.42 . tcp . 80 comment "ns1/empty:p80" : goto reject-chain`,
		// The base chains as a live kube-proxy's table lists them (a k3s
		// node's `nft list table ip kube-proxy`, 2025): nft names dstnat
		// and srcnat where the hook has them.
		"chain filter-prerouting {\n\t\ttype filter hook prerouting priority dstnat - 10; policy accept;\n\t\tct state new jump firewall-check\n\t}",
		"chain filter-output-post-dnat {\n\t\ttype filter hook output priority -90; policy accept;\n\t\tct state new jump cluster-ips-check\n\t}",
		"chain nat-postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tjump masquerading\n\t}",
		"chain masquerading {\n\t\tmeta mark & 0x00004000 == 0x00000000 return\n\t\tmeta mark set meta mark ^ 0x00004000\n\t\tmasquerade fully-random\n\t}",
	} {
		assert.Contains(t, listed, want)
	}
}

// TestNFTablesSync: a sync brings a table to the new rule set in one
// transaction, as kube-proxy's does: an endpoint gone takes its chain with
// it, a Service gone its chains and affinity sets, an affinity set that
// stays keeps the clients it holds, a changed timeout makes the set anew,
// and nothing of another table is touched.
func TestNFTablesSync(t *testing.T) {
	labtest.Root(t)
	labtest.Tool(t, "nft", "nftables")
	ns := string(labtest.NetNS(t, "nfs"))
	nft := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
		require.NoError(t, err, "nft %v: %s", args, out)
		return string(out)
	}
	// Another table of the node's, which no sync may touch.
	nft("add table ip other")
	nft("add chain ip other keep")
	o := NFTOptions{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"), Owner: "netlab:x"}
	sticky := svc("ns1", "sticky", "10.96.0.41", ep("10.244.1.5", 9376), ep("10.244.2.5", 9376))
	sticky.AffinitySeconds = 600
	gone := svc("ns1", "gone", "10.96.0.42", ep("10.244.1.7", 80))
	gone.AffinitySeconds = 60
	var synced map[string]string // the last sync's fingerprints
	var lines []string           // the last sync's transaction
	load := func(ports ...ServicePort) NFTRuleSet {
		t.Helper()
		rs := NFT(ports, o)
		prev, err := nftLoaded(netops.NS(ns), "ip")
		require.NoError(t, err)
		lines = rs.Sync(prev, synced)
		f := filepath.Join(t.TempDir(), "sync.nft")
		require.NoError(t, os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
		nft("-f", f)
		synced = rs.Hashes()
		return rs
	}
	load(sticky, gone)
	aff := NFTAffinitySet(sticky, sticky.Endpoints[0])
	nft("add element ip kube-proxy " + aff + " { 10.244.3.9 }") // a client the kernel has seen
	listed := nft("list", "table", "ip", "kube-proxy")
	assert.Contains(t, listed, "chain "+NFTEndpointChain(gone, gone.Endpoints[0])+" {")
	assert.Contains(t, listed, `comment "rules for kube-proxy (netlab:x)"`)

	// sticky loses an endpoint; gone goes.
	sticky.Endpoints = sticky.Endpoints[:1]
	rs := load(sticky)
	listed = nft("list", "table", "ip", "kube-proxy")
	assert.NotContains(t, listed, "gone", "the Service's chains, set and map elements went with it")
	assert.NotContains(t, listed, "10.244.2.5", "the endpoint's chain and set went")
	assert.Contains(t, listed, "numgen random mod 1 vmap { 0 : goto "+NFTEndpointChain(sticky, sticky.Endpoints[0])+" }")
	assert.Regexp(t, `set `+regexp.QuoteMeta(aff)+` \{[^}]*elements = \{ 10\.244\.3\.9 expires`, listed, "the client stays with its endpoint")
	// What the table holds is exactly the rule set's: each chain once.
	chains := regexp.MustCompile(`(?m)^\tchain (\S+) \{`).FindAllStringSubmatch(listed, -1)
	var names []string
	for _, c := range chains {
		names = append(names, c[1])
	}
	assert.ElementsMatch(t, rs.Chains, names)

	// A new timeout makes the set anew (nft cannot change it in place).
	sticky.AffinitySeconds = 30
	load(sticky)
	listed = nft("list", "table", "ip", "kube-proxy")
	assert.Contains(t, listed, "timeout 30s")
	assert.NotContains(t, listed, "10.244.3.9", "a new set starts empty")
	assert.Contains(t, nft("list", "table", "ip", "other"), "chain keep", "another table is untouched")

	// A second load of the same rule set changes nothing: same listing,
	// and no chain is written again (a partial sync: only the maps and
	// sets are refilled).
	load(sticky)
	assert.Equal(t, listed, nft("list", "table", "ip", "kube-proxy"))
	for _, l := range lines {
		assert.False(t, strings.HasPrefix(l, "add rule ") || strings.HasPrefix(l, "flush chain "), "nothing changed, yet: %s", l)
	}
	// A new Service: its chains are written, sticky's left alone.
	other := svc("ns1", "other", "10.96.0.44", ep("10.244.1.8", 80))
	load(sticky, other)
	written := strings.Join(lines, "\n")
	assert.Contains(t, written, "add rule ip kube-proxy "+NFTServiceChain(other)+" ")
	assert.NotContains(t, written, "add rule ip kube-proxy "+NFTServiceChain(sticky)+" ", "an unchanged Service's chain is not written again")
	assert.NotContains(t, written, "flush chain ip kube-proxy "+NFTServiceChain(sticky))
	listed = nft("list", "table", "ip", "kube-proxy")
	assert.Contains(t, listed, "chain "+NFTEndpointChain(other, other.Endpoints[0])+" {")
	assert.Contains(t, listed, "numgen random mod 1 vmap { 0 : goto "+NFTEndpointChain(sticky, sticky.Endpoints[0])+" }")
	assert.Contains(t, listed, "10.96.0.41 . tcp . 80 : goto "+NFTServiceChain(sticky), "the maps are refilled in full")
	// A full sync (no fingerprints) writes every chain, and ends the same.
	synced = nil
	load(sticky, other)
	assert.Contains(t, strings.Join(lines, "\n"), "add rule ip kube-proxy "+NFTServiceChain(sticky)+" ")
	assert.Equal(t, listed, nft("list", "table", "ip", "kube-proxy"))
}
