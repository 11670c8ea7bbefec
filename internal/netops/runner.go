package netops

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
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
		if p, ok := op.(Parallel); ok {
			if err := r.parallel(ctx, p); err != nil {
				return err
			}
			continue
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

// Workers is how many groups of a Parallel op run at once. Creating a
// namespace is mostly kernel work that runs on every core; two workers per
// core keep the cores busy while the other waits for the kernel's locks.
var Workers = 2 * runtime.NumCPU()

// parallel runs a Parallel op's groups on several workers, each with its
// own namespace handles. Printing modes run the groups in order instead, so
// the commands print exactly as a script would run them.
func (r *Runner) parallel(ctx context.Context, p Parallel) error {
	if r.Mode != Apply || Workers < 2 {
		for _, g := range p.Groups {
			if err := r.Run(ctx, g); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan []Op)
	errc := make(chan error, Workers)
	var wg sync.WaitGroup
	for w := 0; w < Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := &Runner{Mode: Apply, Out: r.Out, k: newKernel()}
			defer sub.Close()
			for g := range next {
				if err := sub.Run(ctx, g); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	func() {
		defer close(next)
		for _, g := range p.Groups {
			select {
			case next <- g:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
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
