package netops

import (
	"context"
	"fmt"
	"io"
)

// Mode says what a Runner does with ops.
type Mode int

const (
	// Apply changes the kernel and prints nothing.
	Apply Mode = iota
	// DryRun prints the equivalent commands and changes nothing.
	DryRun
	// Explain prints each command as it is applied.
	Explain
)

// Runner applies ops in order, printing their commands as its Mode says.
type Runner struct {
	Mode Mode
	Out  io.Writer
	k    *kernel
}

// NewRunner returns a Runner writing commands to out.
func NewRunner(mode Mode, out io.Writer) *Runner {
	return &Runner{Mode: mode, Out: out, k: newKernel()}
}

// Run applies ops in order and stops at the first failure, which it reports
// together with the command that failed. It stops early, with ctx's error,
// when ctx is cancelled.
func (r *Runner) Run(ctx context.Context, ops []Op) error {
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		cmds := op.Commands()
		switch r.Mode {
		case DryRun:
			for _, c := range cmds {
				fmt.Fprintln(r.Out, c)
			}
			continue
		case Explain:
			for _, c := range cmds {
				fmt.Fprintln(r.Out, "+ "+c)
			}
		}
		if err := r.k.apply(op); err != nil {
			return &OpError{Command: cmds[0], Err: err}
		}
	}
	return nil
}

// Close releases the namespace handles the runner holds.
func (r *Runner) Close() { r.k.close() }

// OpError is a failed op: the first of its equivalent commands, and why.
type OpError struct {
	Command string
	Err     error
}

func (e *OpError) Error() string { return fmt.Sprintf("%s: %v", e.Command, e.Err) }

func (e *OpError) Unwrap() error { return e.Err }
