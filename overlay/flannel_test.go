package overlay

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/topo"
)

// flannelRules are flanneld's rules for a node (testdata, from flannel's
// own source) with the cluster CIDR and the node's pod CIDR filled in.
func flannelRules(t testing.TB, cluster, pods string) []string {
	data, err := os.ReadFile(filepath.Join("testdata", "flannel-v0.28.9.rules"))
	require.NoError(t, err)
	var rules []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, strings.NewReplacer("CLUSTER", cluster, "PODS", pods).Replace(l))
		}
	}
	return rules
}

// TestRules: flannel's rules, from flanneld v0.28.9 as data
// (testdata/flannel-v0.28.9.rules), equal netlab's for each node, word for
// word and in order.
func TestRules(t *testing.T) {
	top := resolve(t, topo.Options{})
	for _, node := range top.Nodes {
		want := flannelRules(t, top.Overlay.ClusterCIDR.String(), node.PodCIDR.String())
		var got []string
		for _, r := range Rules(top, node) {
			assert.NotEmpty(t, r.Why)
			got = append(got, "-A "+r.Chain+" "+strings.Join(r.Spec, " "))
		}
		assert.Equal(t, want, got, node.Name)
	}
}

// TestRulesInTheKernel: the rules as a node's iptables-save lists them,
// loaded through netops in a fresh namespace, are flannel's once netlab's
// marker comment is left out: what a learner reads on a node is what
// flanneld writes.
func TestRulesInTheKernel(t *testing.T) {
	labtest.Root(t)
	top := resolve(t, topo.Options{})
	node := top.Nodes[1]
	ns := labtest.Name("fl")
	require.NoError(t, exec.Command("ip", "netns", "add", ns).Run())
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	marker := names.RuleMarker("x")
	op := netops.IPTables{NS: netops.NS(ns), Marker: marker, Chains: Chains(), Rules: Rules(top, node)}
	r := netops.NewRunner(netops.Apply, nil)
	defer r.Close()
	require.NoError(t, r.Run(context.Background(), []netops.Op{op}))
	var got []string
	for _, table := range []string{"nat", "filter"} {
		save, err := netops.IPTablesSave(netops.NS(ns), table)
		require.NoError(t, err)
		for _, l := range strings.Split(save, "\n") {
			if !strings.HasPrefix(l, "-A ") {
				continue
			}
			assert.Contains(t, l, `--comment "`+marker+" ", "down finds every rule by its marker")
			l = markerComment.ReplaceAllString(l, "")
			got = append(got, strings.ReplaceAll(l, `"`, ""))
		}
	}
	assert.Equal(t, flannelRules(t, top.Overlay.ClusterCIDR.String(), node.PodCIDR.String()), got)
}

var markerComment = names.MustRE(` -m comment --comment "netlab:[^"]*"`)
