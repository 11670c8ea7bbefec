package netops_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// TestNFT: a transaction is loaded in the namespace named, and only there;
// one with an error loads nothing (the table stays as it was) and says
// what nft said; the printed commands, replayed by a shell in a fresh
// namespace, make the same table, comments, braces and quotes included.
func TestNFT(t *testing.T) {
	labtest.Root(t)
	labtest.Tool(t, "nft", "nftables")
	ns, replay := labtest.NetNS(t, "nf"), labtest.NetNS(t, "nfr")
	table := labtest.Name("tbl")
	list := func(ns netops.NS) string {
		out, err := exec.Command("ip", "netns", "exec", string(ns), "nft", "list", "table", "ip", table).CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	op := netops.NFT{NS: ns, Lines: []string{
		"add table ip " + table + ` { comment "netlab's test" ; }`,
		"add chain ip " + table + " pick",
		"add chain ip " + table + " in { type filter hook input priority -110 ; }",
		"add map ip " + table + ` ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "a map" ; }`,
		"add rule ip " + table + " in ip daddr . meta l4proto . th dport vmap @ips",
		"add rule ip " + table + ` pick ip saddr != 10.0.0.0/8 drop comment "not a pod's"`,
		"add element ip " + table + ` ips { 10.96.0.1 . tcp . 80 comment "ns/svc:p" : goto pick }`,
	}}
	r := netops.NewRunner(netops.Apply, nil)
	defer r.Close()
	require.NoError(t, r.Run(context.Background(), []netops.Op{op}))
	got := list(ns)
	for _, want := range []string{`comment "netlab's test"`, "type filter hook input priority -110; policy accept;",
		`10.96.0.1 . tcp . 80 comment "ns/svc:p" : goto pick`, `ip saddr != 10.0.0.0/8 drop comment "not a pod's"`} {
		assert.Contains(t, got, want)
	}
	out, _ := exec.Command("nft", "list", "tables").CombinedOutput()
	assert.NotContains(t, string(out), table, "nothing in the machine's own namespace")

	// An error: nothing of the transaction is loaded.
	bad := netops.NFT{NS: ns, Lines: []string{
		"add rule ip " + table + " pick ip saddr 10.0.0.1 accept",
		"add rule ip " + table + " pick goto missing",
	}}
	err := r.Run(context.Background(), []netops.Op{bad})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nft -f")
	assert.Equal(t, got, list(ns), "the first rule went with the second: one transaction")

	// The printed commands make the same table.
	op.NS = replay
	for _, c := range op.Commands() {
		require.True(t, strings.HasPrefix(c, "ip netns exec "+string(replay)+" nft '"), c)
		out, err := exec.Command("sh", "-c", c).CombinedOutput()
		require.NoError(t, err, "%s: %s", c, out)
	}
	assert.Equal(t, got, list(replay))
}
