package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lock is held by every command that changes a lab.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes lab's lock, waiting (and saying so on w) while another
// netlab command holds it. down removes a gone lab's lock file while it
// holds the lock; so after flock succeeds, Acquire checks that the file it
// locked is still the one at the path, and tries again if not: two commands
// can never hold locks on two different files for the same lab.
func Acquire(lab string, w io.Writer) (*Lock, error) {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(RunDir, lab+".lock")
	said := false
	for {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", p, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			if !said {
				fmt.Fprintf(w, "waiting for another netlab command on lab %q to finish...\n", lab)
				said = true
			}
			if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
				f.Close()
				return nil, fmt.Errorf("lock %s: %w", p, err)
			}
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(p, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return &Lock{f: f, path: p}, nil
		}
		f.Close() // removed by a down while we waited: lock the new one
	}
}

// Release lets the next command in.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Remove deletes the lock file of a lab that is gone, then releases it.
func (l *Lock) Remove() {
	if l != nil && l.f != nil {
		_ = os.Remove(l.path)
	}
	l.Release()
}
