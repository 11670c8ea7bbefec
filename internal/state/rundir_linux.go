package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"netlab/internal/names"
)

// The run directory and everything in it belong to root alone: a local
// user who could write there could point a state file or a lock at
// something else, or hold a lab's lock forever. Every file is opened
// without following symlinks and checked for its owner.

// ensureDir makes directory p (mode 0700) if it is missing, and checks
// that it is a directory of this process's user that no one else may
// enter. A directory of ours with looser permissions (an older netlab's
// 0755) is tightened; anything else is refused with what to do.
func ensureDir(p string) error {
	if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("make %s: %w", p, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s is not a directory (a symlink or a file): netlab keeps its state there, and will not follow it; remove it ('sudo rm %s')", p, p)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to uid %d, not to root: netlab keeps its state there; remove it ('sudo rm -r %s') and netlab makes its own", p, st.Uid, p)
	case st.Mode&0o077 != 0:
		if err := unix.Chmod(p, 0o700); err != nil {
			return fmt.Errorf("make %s root's alone: %w", p, err)
		}
	}
	return nil
}

// ensureLabDir makes (or checks) the run directory and lab's directory in it.
func ensureLabDir(lab string) error {
	if err := ensureDir(RunDir); err != nil {
		return err
	}
	return ensureDir(Dir(lab))
}

// OpenOwn opens a file of the run directory without following a symlink,
// and checks that it is a regular file of this process's user.
func OpenOwn(p string, flag int, perm uint32) (*os.File, error) {
	fd, err := unix.Open(p, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink: netlab does not follow one in its run directory; remove it", p)
		}
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file of root's: remove it", p)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// readOwn reads a file of the run directory, as openOwn opens it.
func readOwn(p string) ([]byte, error) {
	f, err := OpenOwn(p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<20))
}

// writeOwn writes a file of a lab's directory atomically: readers see the
// old file or the new one.
func writeOwn(p string, data []byte) error {
	tmp := p + ".tmp"
	f, err := OpenOwn(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// RemoveDir removes lab's directory, which is always RunDir/<lab>: lab
// is a checked name, and nothing outside RunDir is ever removed.
func RemoveDir(lab string) error {
	if err := names.CheckLabName(lab); err != nil {
		return fmt.Errorf("refusing to remove the state of a lab named %q: %w", lab, err)
	}
	d := Dir(lab)
	if filepath.Dir(d) != filepath.Clean(RunDir) {
		return fmt.Errorf("refusing to remove %s: not in %s", d, RunDir)
	}
	return os.RemoveAll(d)
}

// Save writes s atomically: readers see the old file or the new one.
func Save(s *State) error {
	if err := ensureLabDir(s.Lab); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeOwn(Path(s.Lab), append(data, '\n'))
}

// Load reads lab's state. A missing or unreadable file is ErrNoState.
func Load(lab string) (*State, error) {
	if names.CheckLabName(lab) != nil {
		return nil, fmt.Errorf("%w: %q is not a lab name", ErrNoState, lab)
	}
	data, err := readOwn(Path(lab))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoState, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil || s.Lab != lab || s.Topology == nil {
		return nil, fmt.Errorf("%w: %s is damaged", ErrNoState, Path(lab))
	}
	return &s, nil
}

// Locked reports whether a command holds lab's lock now.
func Locked(lab string) bool {
	f, err := OpenOwn(filepath.Join(RunDir, lab+".lock"), unix.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// SaveFile writes one more file of lab's, name (a plain file name) in its
// directory, atomically: what a verb keeps beside the state (an exercise's
// progress). It goes when the lab goes.
func SaveFile(lab, name string, data []byte) error {
	if name != filepath.Base(name) || name == "state.json" || strings.HasSuffix(name, ".tmp") {
		return fmt.Errorf("%q is not a file name of a lab's own", name)
	}
	if err := ensureLabDir(lab); err != nil {
		return err
	}
	return writeOwn(filepath.Join(Dir(lab), name), data)
}

// LoadFile reads a file SaveFile wrote; os.ErrNotExist when there is none.
func LoadFile(lab, name string) ([]byte, error) {
	if names.CheckLabName(lab) != nil || name != filepath.Base(name) {
		return nil, os.ErrNotExist
	}
	return readOwn(filepath.Join(Dir(lab), name))
}

// RecordDir holds what outlives a lab: the record of an exercise (solved
// or not), which stays after the exercise's lab is gone.
func RecordDir() string { return filepath.Join(RunDir, "_records") } // no lab is called that

// SaveRecord writes lab's record, atomically.
func SaveRecord(lab string, data []byte) error {
	if err := names.CheckLabName(lab); err != nil {
		return err
	}
	if err := ensureDir(RunDir); err != nil {
		return err
	}
	if err := ensureDir(RecordDir()); err != nil {
		return err
	}
	return writeOwn(filepath.Join(RecordDir(), lab+".json"), data)
}

// LoadRecord reads lab's record; os.ErrNotExist when there is none.
func LoadRecord(lab string) ([]byte, error) {
	if names.CheckLabName(lab) != nil {
		return nil, os.ErrNotExist
	}
	return readOwn(filepath.Join(RecordDir(), lab+".json"))
}

// RemoveRecord removes lab's record, if any.
func RemoveRecord(lab string) error {
	if err := names.CheckLabName(lab); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(RecordDir(), lab+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		// The last record gone, its directory goes too: netlab leaves
		// nothing in /run/netlab that holds nothing (a directory with
		// records in it stays: Remove refuses it).
		_ = os.Remove(RecordDir())
	}
	return err
}
