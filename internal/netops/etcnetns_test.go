package netops_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// TestResolvConfFollowsNoSymlink: a pod's /etc/netns/NS/resolv.conf is
// written, read back and removed without following a symlink planted at
// the directory or the file, and not into a directory someone else owns:
// the planted target is left as it was.
func TestResolvConfFollowsNoSymlink(t *testing.T) {
	labtest.Root(t)
	old := netops.EtcNetns
	netops.EtcNetns = filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { netops.EtcNetns = old })
	victim := t.TempDir()
	victimFile := filepath.Join(victim, "resolv.conf")
	require.NoError(t, os.WriteFile(victimFile, []byte("nameserver 192.0.2.53\n"), 0o644))
	write := func(ns string) error {
		op := netops.ResolvConf{NS: netops.NS(ns), Marker: "netlab:tlab", Lines: []string{"nameserver 10.96.0.10"}}
		return netops.NewRunner(netops.Apply, io.Discard).Run(context.Background(), []netops.Op{op})
	}
	// The normal case.
	require.NoError(t, write("tlab-ok"))
	data, err := os.ReadFile(filepath.Join(netops.EtcNetns, "tlab-ok", "resolv.conf"))
	require.NoError(t, err)
	assert.Equal(t, "# netlab:tlab\nnameserver 10.96.0.10\n", string(data))

	// A symlink in place of the namespace's directory.
	require.NoError(t, os.Symlink(victim, filepath.Join(netops.EtcNetns, "tlab-dir")))
	assert.Error(t, write("tlab-dir"))
	// A symlink in place of the file.
	require.NoError(t, os.Mkdir(filepath.Join(netops.EtcNetns, "tlab-file"), 0o755))
	require.NoError(t, os.Symlink(victimFile, filepath.Join(netops.EtcNetns, "tlab-file", "resolv.conf")))
	assert.Error(t, write("tlab-file"))
	// A directory of another user's.
	require.NoError(t, os.Mkdir(filepath.Join(netops.EtcNetns, "tlab-user"), 0o755))
	require.NoError(t, os.Chown(filepath.Join(netops.EtcNetns, "tlab-user"), 1000, 1000))
	assert.Error(t, write("tlab-user"))
	// The sweep after a crash reads and removes nothing through a link.
	require.NoError(t, os.WriteFile(victimFile, []byte("# netlab:tlab\nnameserver 192.0.2.53\n"), 0o644))
	netops.SweepResolvConf("tlab")
	data, err = os.ReadFile(victimFile)
	require.NoError(t, err, "the planted target is still there")
	assert.Equal(t, "# netlab:tlab\nnameserver 192.0.2.53\n", string(data))
	_, err = os.Stat(filepath.Join(netops.EtcNetns, "tlab-ok"))
	assert.True(t, os.IsNotExist(err), "netlab's own file of a namespace that is gone is swept")
	// /etc/netns itself as a symlink: nothing written there either.
	require.NoError(t, os.RemoveAll(netops.EtcNetns))
	require.NoError(t, os.Symlink(victim, netops.EtcNetns))
	assert.Error(t, write("tlab-top"))
	_, err = os.Stat(filepath.Join(victim, "tlab-top"))
	assert.True(t, os.IsNotExist(err))
}
