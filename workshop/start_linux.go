package workshop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
)

// StartOptions say how Start runs.
type StartOptions struct {
	// Explain prints every command that builds and breaks the lab to Log.
	Explain bool
	// Log gets what Start is doing (nil: nothing is printed).
	Log io.Writer
	// Exe is the netlab binary that runs the workloads' processes; empty,
	// the running one.
	Exe string
	// HintsAfter: check shows hints by itself once this many checks
	// failed (0: only when asked).
	HintsAfter int
	// DockerVersion builds a Docker exercise's lab as that Docker does
	// (topo.DockerVersions; empty: the default, 28).
	DockerVersion string
}

// ErrRunning means the exercise is running already.
var ErrRunning = errors.New("running already")

// Start builds exercise x's lab as its mode verb would with x.Flags,
// applies its manifests, breaks it through netops (so Explain prints what
// it breaks) and records it as running. A lab left by an interrupted
// start goes first; when anything fails once the lab is up, the lab is
// removed again. The Env it returns tells x's story.
func Start(ctx context.Context, x Exercise, o StartOptions) (*Env, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	mode := netops.Apply
	if o.Explain {
		mode = netops.Explain
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Exe = exe
	}
	if HalfStarted(x) {
		// An interrupted start: the lab is up, its break maybe half done.
		fmt.Fprintf(log, "lab %s was left by an interrupted start of exercise %d: removing it, then starting over\n", x.Lab(), x.N)
		if err := Stop(x, log); err != nil {
			return nil, err
		}
	}
	if inventory.Running(x.Lab()) {
		return nil, ErrRunning
	}
	m, ok := lab.ModeNamed(x.Model.Mode())
	if !ok {
		return nil, fmt.Errorf("exercise %d needs mode %s, which this netlab lacks", x.N, x.Model.Mode())
	}
	flags := x.Flags
	if own := slices.Index(x.Flags, "--docker-version"); o.DockerVersion != "" && own >= 0 {
		if o.DockerVersion != x.Flags[own+1] {
			return nil, &topo.InputError{Msg: fmt.Sprintf("--docker-version %s: exercise %d is about Docker %s's rules, and runs on Docker %s only",
				o.DockerVersion, x.N, x.Flags[own+1], x.Flags[own+1])}
		}
	} else if o.DockerVersion != "" {
		if x.Model != Docker {
			return nil, &topo.InputError{Msg: fmt.Sprintf("--docker-version: exercise %d is on the %s model, which has no Docker", x.N, x.Model.Title())}
		}
		flags = append(append([]string{}, x.Flags...), "--docker-version", o.DockerVersion)
	}
	t, plan, err := x.Resolve(m, flags)
	if err != nil {
		return nil, fmt.Errorf("exercise %d: %w", x.N, err)
	}
	fmt.Fprintf(log, "building lab %s (netlab %s --lab %s %s)...\n", x.Lab(), m.Verb, x.Lab(), strings.Join(flags, " "))
	s, err := lab.Build(ctx, t, plan, lab.BuildOptions{Mode: mode, Out: log, Log: log, Exe: o.Exe})
	if err != nil {
		return nil, fmt.Errorf("build lab %s: %w", x.Lab(), err)
	}
	env, err := breakLab(ctx, x, s, mode, log, o)
	if err != nil {
		_ = Stop(x, nil)
		return nil, fmt.Errorf("break lab %s: %w (the lab is removed again)", x.Lab(), err)
	}
	return env, nil
}

// Resolve resolves x's lab as m's verb would with flags (and x's topology
// file, written for the moment to a file of its own).
func (x Exercise) Resolve(m lab.Mode, flags []string) (*topo.Topology, lab.Plan, error) {
	opts, err := m.Options(x.Lab(), flags)
	if err != nil {
		return nil, lab.Plan{}, err
	}
	if x.Topology != "" {
		f, err := os.CreateTemp("", "netlab-exercise-*.yaml")
		if err != nil {
			return nil, lab.Plan{}, err
		}
		defer os.Remove(f.Name())
		_, err = f.WriteString(x.Topology)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, lab.Plan{}, err
		}
		opts.File = f.Name()
	}
	return lab.Resolve(opts)
}

// breakLab applies x's manifests to its fresh lab s, breaks it, and
// records x as running, holding the lab's lock.
func breakLab(ctx context.Context, x Exercise, s *state.State, mode netops.Mode, log io.Writer, o StartOptions) (*Env, error) {
	lk, err := state.Acquire(x.Lab(), log)
	if err != nil {
		return nil, err
	}
	defer lk.Release()
	r := netops.NewRunner(mode, log)
	defer r.Close()
	if x.Manifests != "" {
		if err := apply(ctx, s, r, log, o.Exe, x.Manifests); err != nil {
			return nil, err
		}
		if s, err = state.Load(x.Lab()); err != nil {
			return nil, err
		}
	}
	env := &Env{S: s}
	ops, err := x.Break(env)
	if err != nil {
		return nil, err
	}
	if err := r.Run(ctx, ops); err != nil {
		return nil, err
	}
	return env, SaveProgress(x, Progress{ID: x.ID, Started: time.Now().UTC().Truncate(time.Second), HintsAfter: o.HintsAfter})
}

// apply applies manifests to lab s as 'netlab apply -f' does, and starts
// the lab's controller, which keeps the Services on the Ready pods.
func apply(ctx context.Context, s *state.State, r *netops.Runner, log io.Writer, exe, manifests string) error {
	objs, err := kube.Parse([]byte(manifests))
	if err != nil {
		return err
	}
	cl, err := kube.Open(s, exe, r)
	if err != nil {
		return err
	}
	cl.Log = log
	if err := cl.Preflight(); err != nil {
		return err
	}
	if err := cl.Refresh(ctx); err != nil {
		return err
	}
	if objs, err = cl.Plan(objs); err != nil {
		return err
	}
	if _, err := cl.Apply(ctx, objs); err != nil {
		return err
	}
	_, err = kube.EnsureController(exe, s.Lab)
	return err
}

// Stop removes exercise x's lab and everything it made (its progress
// with it).
func Stop(x Exercise, log io.Writer) error {
	_, err := lab.Remove(x.Lab(), lab.DownOptions{Mode: netops.Apply}, log)
	return err
}
