package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/state"
)

// TestForeignChains: kube-proxy chains a lab did not make are refused,
// named with whose they are; the lab's own pass.
func TestForeignChains(t *testing.T) {
	c := &Cluster{S: &state.State{Lab: "lab"}}
	ours := `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -m comment --comment "netlab:lab kube-proxy" -j KUBE-SERVICES
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -m comment --comment "netlab:lab kube-proxy" -j KUBE-NODEPORTS
COMMIT
`
	require.NoError(t, c.foreignChains("*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n", "nat", "node node1"), "no KUBE chain: nothing to refuse")
	err := c.foreignChains(ours, "nat", "node node1")
	require.Error(t, err, "before the lab made any, every KUBE chain is another's")
	assert.Contains(t, err.Error(), "KUBE-NODEPORTS (not netlab's), KUBE-SERVICES (not netlab's)")

	c.Store.Jumps = true
	require.NoError(t, c.foreignChains(ours, "nat", "node node1"), "the lab's own chains")
	for _, tc := range []struct{ extra, want string }{
		{`-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -j KUBE-SVC-NPX46M4PTMTKRN6Y`, "KUBE-SERVICES (not netlab's)"},
		{`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`, "KUBE-SERVICES (not netlab's)"},
		{`-A KUBE-NODEPORTS -m comment --comment "netlab:other kube-proxy" -j RETURN`, "KUBE-NODEPORTS (lab other's)"},
	} {
		err := c.foreignChains(ours+tc.extra+"\n", "nat", "this machine (node1)")
		require.Error(t, err, tc.extra)
		assert.Contains(t, err.Error(), "this machine (node1) already has kube-proxy chains in its nat table that lab lab did not make: "+tc.want)
	}
}
