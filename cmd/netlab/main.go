// Command netlab builds container networking labs for real, in the Linux
// kernel: the Docker model and the Kubernetes model, side by side.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"netlab/internal/podruntime/netlabpod"
	"netlab/internal/topo"
	"netlab/kube"
)

// Exit codes (a contract: scripts and workshop material depend on them).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	code := run(os.Args[1:])
	if code == exitUsage {
		tellSupervisor('u') // this 2 is netlab's own, not a runtime abort
	}
	os.Exit(code)
}

// tellSupervisor tells netlab's supervising parent (netlab_pod.c) how this
// process ends: 'u', with exit code 2 for bad usage; 'x', by becoming
// another program whose exit code is its own.
func tellSupervisor(how byte) {
	fd, err := strconv.Atoi(netlabpod.StatusFD())
	if err != nil || fd < 3 {
		return
	}
	f := os.NewFile(uintptr(fd), "supervisor")
	_, _ = f.Write([]byte{how})
	f.Close()
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "netlab: "+err.Error())
	if topo.IsInput(err) || kube.IsInput(err) || isUsage(err) {
		return exitUsage
	}
	return exitFailed
}

// exitError passes a command's own exit code through (netlab exec).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is bad usage of the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}
