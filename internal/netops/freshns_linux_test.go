package netops_test

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// freshNS is a network namespace of the test's own, named from prefix,
// removed when the test ends.
func freshNS(t *testing.T, prefix string) netops.NS {
	t.Helper()
	ns := netops.NS(labtest.Name(prefix))
	require.NoError(t, exec.Command("ip", "netns", "add", string(ns)).Run())
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", string(ns)).Run() })
	return ns
}
