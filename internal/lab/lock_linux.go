package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lock is held by every command that changes a lab.
type Lock struct{ f *os.File }

// Acquire takes lab's lock, waiting (and saying so on w) while another
// netlab command holds it. Lock files are never removed, so two commands
// can never hold locks on two different files for the same lab.
func Acquire(lab string, w io.Writer) (*Lock, error) {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(RunDir, lab+".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		fmt.Fprintf(w, "waiting for another netlab command on lab %q to finish...\n", lab)
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
	}
	return &Lock{f: f}, nil
}

// Release lets the next command in.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
