package netops_test

import (
	"context"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// TestIPSets: sets are made in the namespace named, and only there; made
// again they hold exactly their new entries (no temporary set is left);
// a hash:net's nomatch entry carves its address out; destroyed, they are
// gone. The printed commands, replayed by a shell in a fresh namespace,
// make the same sets.
func TestIPSets(t *testing.T) {
	labtest.Root(t)
	ns, replay := labtest.NetNS(t, "is"), labtest.NetNS(t, "isr")
	ipset := func(ns netops.NS, args ...string) (string, error) {
		out, err := exec.Command("ip", append([]string{"netns", "exec", string(ns), "ipset"}, args...)...).CombinedOutput()
		return string(out), err
	}
	saved := func(ns netops.NS) []string {
		out, err := ipset(ns, "save")
		require.NoError(t, err, out)
		var ls []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if i := strings.Index(l, " initval "); i >= 0 {
				l = l[:i] // the hash seed: random per set
			}
			if l != "" {
				ls = append(ls, l)
			}
		}
		sort.Strings(ls)
		return ls
	}
	r := netops.NewRunner(netops.Apply, nil)
	defer r.Close()
	op := netops.IPSets{NS: ns, Sets: []netops.IPSet{
		{Name: "KUBE-SRC-TEST", Type: "hash:ip", Family: "inet", Entries: []string{"10.244.1.2", "10.244.2.3"}},
		{Name: "KUBE-DST-NET", Type: "hash:net", Family: "inet", Entries: []string{"10.244.0.0/16", "10.244.1.3/32 nomatch"}},
		{Name: "inet6:KUBE-SRC-TEST", Type: "hash:ip", Family: "inet6", Entries: []string{"fd00:10:244:1::2"}},
	}}
	require.NoError(t, r.Run(context.Background(), []netops.Op{op}))
	got := saved(ns)
	assert.Contains(t, got, "add KUBE-SRC-TEST 10.244.1.2")
	assert.Contains(t, got, "add KUBE-DST-NET 10.244.1.3 nomatch")
	assert.Contains(t, got, "add inet6:KUBE-SRC-TEST fd00:10:244:1::2")
	for _, l := range got {
		assert.NotContains(t, l, "TMP-", "no temporary set left")
	}
	_, err := ipset(ns, "test", "KUBE-DST-NET", "10.244.1.4")
	assert.NoError(t, err, "in the CIDR")
	_, err = ipset(ns, "test", "KUBE-DST-NET", "10.244.1.3")
	assert.Error(t, err, "the nomatch entry carves it out")
	out, _ := exec.Command("ipset", "list", "-n").CombinedOutput()
	assert.NotContains(t, string(out), "KUBE-SRC-TEST", "nothing in the machine's own namespace")

	// The printed commands make the same sets.
	op.NS = replay
	for _, c := range op.Commands() {
		out, err := exec.Command("sh", "-c", c).CombinedOutput()
		require.NoError(t, err, "%s: %s", c, out)
	}
	assert.Equal(t, got, saved(replay))

	// Refilled: exactly the new entries.
	op.NS = ns
	op.Sets = []netops.IPSet{{Name: "KUBE-SRC-TEST", Type: "hash:ip", Family: "inet", Entries: []string{"10.244.3.4"}}}
	require.NoError(t, r.Run(context.Background(), []netops.Op{op}))
	got = saved(ns)
	assert.Contains(t, got, "add KUBE-SRC-TEST 10.244.3.4")
	assert.NotContains(t, got, "add KUBE-SRC-TEST 10.244.1.2")

	// A set an iptables rule uses cannot be destroyed; the error says so
	// and the set stays.
	_, err = exec.Command("ip", "netns", "exec", string(ns), "iptables", "-A", "FORWARD", "-m", "set", "--match-set", "KUBE-SRC-TEST", "src", "-j", "ACCEPT").CombinedOutput()
	require.NoError(t, err)
	err = r.Run(context.Background(), []netops.Op{netops.IPSets{NS: ns, Destroy: []string{"KUBE-SRC-TEST"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use")
	assert.Contains(t, saved(ns), "add KUBE-SRC-TEST 10.244.3.4")
	require.NoError(t, exec.Command("ip", "netns", "exec", string(ns), "iptables", "-F", "FORWARD").Run())
	require.NoError(t, r.Run(context.Background(), []netops.Op{netops.IPSets{NS: ns, Destroy: []string{"KUBE-SRC-TEST", "KUBE-DST-NET", "inet6:KUBE-SRC-TEST"}}}))
	assert.Empty(t, saved(ns))
}
