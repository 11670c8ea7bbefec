package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"netlab/internal/names"
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
	if err := names.CheckLabName(lab); err != nil {
		return nil, err
	}
	if err := ensureDir(RunDir); err != nil {
		return nil, err
	}
	p := filepath.Join(RunDir, lab+".lock")
	said := false
	start := time.Now()
	deadline := start.Add(LockWait)
	for {
		f, err := OpenOwn(p, unix.O_RDWR|unix.O_CREAT, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock: %w", err)
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if err == nil || !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
				break
			}
			// A lab's controller holds the lock for a moment each second:
			// only a wait that lasts is worth a word.
			if !said && time.Since(start) > 500*time.Millisecond {
				fmt.Fprintf(w, "waiting for another netlab command on lab %q to finish...\n", lab)
				said = true
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("lab %q is still locked after %s: if no other netlab command runs, something else holds %s ('fuser -v %s' names it)", lab, LockWait, p, p)
			}
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(p, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return &Lock{f: f, path: p}, nil
		}
		f.Close() // removed by a down while we waited: lock the new one
	}
}

// LockWait is how long a command waits for another one on the same lab:
// far longer than the largest lab's up or down takes.
var LockWait = 2 * time.Minute

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
