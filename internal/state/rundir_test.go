package state

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"netlab/internal/topo"
)

func rootOnly(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the run directory must belong to root")
	}
}

// withRunDir points RunDir at a fresh directory for the test.
func withRunDir(t *testing.T) string {
	t.Helper()
	old := RunDir
	RunDir = filepath.Join(t.TempDir(), "run")
	t.Cleanup(func() { RunDir = old })
	return RunDir
}

func TestRunDirRefusesWhatIsNotRoots(t *testing.T) {
	rootOnly(t)
	top := t.TempDir()
	elsewhere := filepath.Join(top, "elsewhere")
	require.NoError(t, os.Mkdir(elsewhere, 0o700))

	link := filepath.Join(top, "link")
	require.NoError(t, os.Symlink(elsewhere, link))
	assert.ErrorContains(t, ensureDir(link), "is not a directory (a symlink or a file)")

	users := filepath.Join(top, "users")
	require.NoError(t, os.Mkdir(users, 0o700))
	require.NoError(t, os.Chown(users, 65534, 65534))
	assert.ErrorContains(t, ensureDir(users), "belongs to uid 65534, not to root")

	loose := filepath.Join(top, "loose")
	require.NoError(t, os.Mkdir(loose, 0o755))
	require.NoError(t, ensureDir(loose), "an older netlab's 0755 is tightened")
	fi, err := os.Stat(loose)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}

func TestRunDirFilesNeverFollowSymlinks(t *testing.T) {
	rootOnly(t)
	run := withRunDir(t)
	target := filepath.Join(t.TempDir(), "target")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o644))
	require.NoError(t, ensureLabDir("docker"))

	// A planted state file is not read, a planted temporary file not written through.
	require.NoError(t, os.Symlink(target, Path("docker")))
	_, err := Load("docker")
	assert.ErrorIs(t, err, ErrNoState)
	require.NoError(t, os.Remove(Path("docker")))
	require.NoError(t, os.Symlink(target, Path("docker")+".tmp"))
	top, err := topo.Resolve(opts())
	require.NoError(t, err)
	err = Save(&State{Lab: "docker", Mode: "docker", Topology: top})
	assert.ErrorContains(t, err, "is a symlink")
	data, _ := os.ReadFile(target)
	assert.Equal(t, "keep", string(data), "nothing written through the symlink")

	// A planted lock is not locked.
	require.NoError(t, os.Symlink(target, filepath.Join(run, "overlay.lock")))
	_, err = Acquire("overlay", io.Discard)
	assert.ErrorContains(t, err, "is a symlink")

	// Names that are not lab names never become paths.
	_, err = Acquire("../x", io.Discard)
	assert.Error(t, err)
	assert.ErrorContains(t, RemoveDir("../x"), "refusing to remove")
	_, err = Load("../../etc")
	assert.ErrorIs(t, err, ErrNoState)
}

func TestLockWaitHasALimit(t *testing.T) {
	rootOnly(t)
	withRunDir(t)
	old := LockWait
	LockWait = 300 * time.Millisecond
	t.Cleanup(func() { LockWait = old })
	held, err := Acquire("docker", io.Discard)
	require.NoError(t, err)
	defer held.Release()
	// Another holder (another process in real life; flock locks belong to
	// the open file, so a second open file here is another holder).
	start := time.Now()
	_, err = Acquire("docker", io.Discard)
	assert.ErrorContains(t, err, `lab "docker" is still locked after 300ms`)
	assert.ErrorContains(t, err, "fuser -v")
	assert.Less(t, time.Since(start), 5*time.Second)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(RunDir, "docker.lock"), &st))
	assert.Equal(t, uint32(0o600), st.Mode&0o777)
}

// TestRecordsLeaveNothing: the last record removed takes its directory
// with it; a record that stays keeps it; removing a record twice is no
// error.
func TestRecordsLeaveNothing(t *testing.T) {
	rootOnly(t)
	withRunDir(t)
	require.NoError(t, SaveRecord("a", []byte("{}")))
	require.NoError(t, SaveRecord("b", []byte("{}")))
	require.NoError(t, RemoveRecord("a"))
	_, err := os.Stat(RecordDir())
	require.NoError(t, err, "b's record keeps the directory")
	require.NoError(t, RemoveRecord("b"))
	_, err = os.Stat(RecordDir())
	assert.True(t, os.IsNotExist(err), "the last record took its directory")
	require.NoError(t, RemoveRecord("b"))
}
