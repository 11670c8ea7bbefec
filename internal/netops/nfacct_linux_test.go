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

// TestNfacct: the counters are made in the namespace named, and only
// there; made again they keep their counts; removed, they are gone, and
// removing them again is no error. The printed commands say the same with
// the nfacct tool.
func TestNfacct(t *testing.T) {
	labtest.Root(t)
	ns := labtest.NetNS(t, "nf")
	require.NoError(t, exec.Command("ip", "-n", string(ns), "link", "set", "lo", "up").Run())
	require.True(t, netops.NfacctAvailable(ns), "this kernel keeps nfacct counters")
	r := netops.NewRunner(netops.Apply, nil)
	defer r.Close()
	list := func() string {
		out, err := exec.Command("ip", "netns", "exec", string(ns), "nfacct", "list").CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	add := netops.Nfacct{NS: ns, Names: []string{"a_pkts", "b_pkts"}}
	assert.Equal(t, []string{"ip netns exec " + string(ns) + " nfacct add a_pkts 2>/dev/null || true", "ip netns exec " + string(ns) + " nfacct add b_pkts 2>/dev/null || true"}, add.Commands())
	require.NoError(t, r.Run(context.Background(), []netops.Op{add}))
	assert.Contains(t, list(), "= a_pkts;")
	assert.Contains(t, list(), "= b_pkts;")
	names, err := netops.NfacctCounters(ns)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a_pkts", "b_pkts"}, names)
	require.NoError(t, exec.Command("ip", "netns", "exec", string(ns), "iptables", "-A", "OUTPUT", "-m", "nfacct", "--nfacct-name", "a_pkts").Run())
	require.NoError(t, exec.Command("ip", "netns", "exec", string(ns), "ping", "-c1", "-W1", "127.0.0.1").Run())
	require.NoError(t, r.Run(context.Background(), []netops.Op{add}), "made again: no error")
	assert.NotContains(t, list(), "pkts = 00000000000000000000, bytes = 00000000000000000000 } = a_pkts", "and its counts kept")
	require.NoError(t, r.Run(context.Background(), []netops.Op{netops.Nfacct{NS: ns, Del: true, Names: []string{"a_pkts", "b_pkts"}}}))
	l := list()
	assert.Contains(t, l, "= a_pkts;", "a counter a rule counts into stays")
	assert.False(t, strings.Contains(l, "b_pkts"), "b is gone")
	require.NoError(t, r.Run(context.Background(), []netops.Op{netops.Nfacct{NS: ns, Del: true, Names: []string{"b_pkts"}}}), "gone already: no error")
}
