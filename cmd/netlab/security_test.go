package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/inventory"
	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/state"
)

// impostor starts a program named netlab that only sleeps, as uid, with
// the runtime's command line for lab and host. (A C program: netlab's own
// binary, given that command line, would become the runtime.)
func impostor(t *testing.T, uid int, labName, host string) *exec.Cmd {
	t.Helper()
	dir, err := os.MkdirTemp("", "netlab-impostor")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // nobody may run it
	src := filepath.Join(dir, "sleep.c")
	require.NoError(t, os.WriteFile(src, []byte("#include <unistd.h>\nint main(void) { sleep(60); return 0; }\n"), 0o644))
	bin := filepath.Join(dir, "netlab")
	out, err := exec.Command("gcc", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, string(out))
	cmd := exec.Command(bin)
	cmd.Args = []string{bin, names.RuntimeName, "--lab", labName, "--host", host}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestImpostorProcesses: a local user's process whose command line reads
// like the runtime's (the lab name a path out of /run/netlab) does not make
// root's down lock or remove anything; neither does root's own process
// with a name netlab would never give.
func TestImpostorProcesses(t *testing.T) {
	labtest.Root(t)
	// It runs 'netlab down' of every lab, as root would: a lab someone has
	// up on this machine (a learner's, a developer's) would go too, so
	// then it runs where it cannot meet them.
	if labtest.Isolated(t) {
		return
	}
	victim := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(victim, "keep"), []byte("mine"), 0o644))
	rel, err := filepath.Rel(state.RunDir, victim)
	require.NoError(t, err)
	spoofed := labtest.Name("i") // a valid name, claimed by nobody's process
	user := impostor(t, 65534, spoofed, "node1")
	path := impostor(t, 65534, rel, "node1")
	rootPath := impostor(t, 0, rel, "node1")
	time.Sleep(100 * time.Millisecond)

	for _, l := range inventory.RuntimeLabs() {
		assert.NotEqual(t, spoofed, l, "a user's process is not netlab's runtime")
		assert.NotEqual(t, rel, l, "a path is not a lab name")
	}
	r := labtest.Run(t, "down")
	assert.Equal(t, 0, r.Code, r.Stderr)
	assert.NotContains(t, r.Stdout+r.Stderr, spoofed)
	assert.FileExists(t, filepath.Join(victim, "keep"), "nothing outside the run directory is removed")
	_, err = os.Stat(filepath.Join(state.RunDir, spoofed+".lock"))
	assert.True(t, os.IsNotExist(err), "no lock taken for a spoofed lab")
	for _, p := range []*exec.Cmd{user, path, rootPath} {
		assert.NoError(t, p.Process.Signal(syscall.Signal(0)), "down killed none of them")
	}
}

// TestRunDirIsRootsAlone: the run directory, each lab's directory and its
// files are root's alone, so no local user can read, plant or hold them.
func TestRunDirIsRootsAlone(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "p")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "1")
	for p, want := range map[string]os.FileMode{
		state.RunDir:    0o700 | os.ModeDir,
		state.Dir(name): 0o700 | os.ModeDir,
		filepath.Join(state.Dir(name), "state.json"):        0o600,
		filepath.Join(state.Dir(name), "runtime-node1.log"): 0o600,
		filepath.Join(state.RunDir, name+".lock"):           0o600,
	} {
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		assert.Equal(t, want, fi.Mode(), p)
		assert.Equal(t, uint32(0), fi.Sys().(*syscall.Stat_t).Uid, p)
	}
	labtest.MustRun(t, "down", "--lab", name)
}

// TestUserCannotHoldALock: a local user can neither open a lab's lock (to
// hold it forever, blocking root's down) nor read or plant files in the
// run directory.
func TestUserCannotHoldALock(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "l")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "1")
	lock := filepath.Join(state.RunDir, name+".lock")
	for _, argv := range [][]string{
		{"flock", "-x", lock, "true"},
		{"cat", filepath.Join(state.Dir(name), "state.json")},
		{"ln", "-s", "/etc", filepath.Join(state.RunDir, "planted")},
	} {
		out, err := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)...).CombinedOutput()
		assert.Error(t, err, "as nobody: %v: %s", argv, out)
		assert.Contains(t, string(out), "Permission denied", "%v", argv)
	}
	r := labtest.MustRun(t, "down", "--lab", name)
	assert.Contains(t, r.Stdout, "Removed lab")
}

// TestRuntimeAbortIsNotBadInput: when the Go runtime aborts (here: it
// cannot start a thread under a pids limit), it exits with 2, which netlab
// promises only for bad input with nothing changed. netlab's supervisor
// reports 1 instead, says what to run, and down leaves nothing.
func TestRuntimeAbortIsNotBadInput(t *testing.T) {
	labtest.Root(t)
	pids := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(pids, "cgroup.procs")); err != nil {
		t.Skip("needs the cgroup v1 pids controller at /sys/fs/cgroup/pids to limit netlab's threads")
	}
	name := labtest.NewLab(t, "a")
	cg := filepath.Join(pids, "netlab-test-"+name)
	require.NoError(t, os.Mkdir(cg, 0o755))
	t.Cleanup(func() { _ = os.Remove(cg) })
	require.NoError(t, os.WriteFile(filepath.Join(cg, "pids.max"), []byte("4"), 0o644))
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" docker-mode --lab "$3" --nodes 1 --containers 20`,
		"sh", cg, labtest.Binary(t), name)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode(), "an abort is a failure, not bad input")
	assert.Contains(t, string(out), "the Go runtime aborted")
	assert.Contains(t, string(out), "'sudo netlab down' removes what it made")
	labtest.MustRun(t, "down", "--lab", name)
	labtest.AssertGone(t, name)
}
