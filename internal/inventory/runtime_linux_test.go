package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProc makes a /proc/PID directory with a command line, a real uid and
// an executable, as runtimeLab reads them.
func fakeProc(t *testing.T, args []string, uid, exe string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tnetlab\nUid:\t"+uid+"\t"+uid+"\t"+uid+"\t"+uid+"\n"), 0o644))
	require.NoError(t, os.Symlink(exe, filepath.Join(dir, "exe")))
	return dir
}

// TestRuntimeRecognised: a lab's process is recognised by what netlab
// started (root, the netlab binary, its exact arguments and a name it
// would give), never by a command line anyone can imitate.
func TestRuntimeRecognised(t *testing.T) {
	args := func(verb, lab, host string) []string {
		return []string{"/usr/local/bin/netlab", verb, "--lab", lab, "--host", host}
	}
	for _, tc := range []struct {
		name string
		dir  string
		want string
	}{
		{"the runtime", fakeProc(t, args("netlab-pod", "overlay", "node1"), "0", "/usr/local/bin/netlab"), "overlay"},
		{"the DNS server", fakeProc(t, args("netlab-dns", "overlay", "node1"), "0", "/usr/local/bin/netlab"), "overlay"},
		{"the controller", fakeProc(t, args("netlab-kube", "overlay", "kube"), "0", "/usr/local/bin/netlab"), "overlay"},
		{"a binary replaced on disk since it started", fakeProc(t, args("netlab-pod", "lab1", "node1"), "0", "/usr/local/bin/netlab (deleted)"), "lab1"},
		{"a user's process", fakeProc(t, args("netlab-pod", "overlay", "node1"), "1000", "/usr/local/bin/netlab"), ""},
		{"another binary", fakeProc(t, args("netlab-pod", "overlay", "node1"), "0", "/usr/bin/python3"), ""},
		{"a path for a lab", fakeProc(t, args("netlab-pod", "../../etc", "node1"), "0", "/usr/local/bin/netlab"), ""},
		{"another verb", fakeProc(t, args("docker-mode", "overlay", "node1"), "0", "/usr/local/bin/netlab"), ""},
		{"an argument more", fakeProc(t, append(args("netlab-pod", "overlay", "node1"), "x"), "0", "/usr/local/bin/netlab"), ""},
		{"a bad host", fakeProc(t, args("netlab-pod", "overlay", "node 1"), "0", "/usr/local/bin/netlab"), ""},
	} {
		assert.Equal(t, tc.want, IsRuntime(tc.dir), tc.name)
	}
}

// TestServerComm: the name the runtime gives a pod's server, cut as the
// kernel keeps it (15 bytes: role and name, 7 each).
func TestServerComm(t *testing.T) {
	assert.Equal(t, "web:myapp-5", ServerComm("myapp-5c56d9bb4d-r5h99"))
	assert.Equal(t, "web:solo", ServerComm("solo"))
	assert.Equal(t, "app:pod1", comm("app", "pod1"))
}
