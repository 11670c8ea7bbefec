package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"netlab/internal/inventory"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/kube"
)

// openCluster is the overlay lab --lab names (overlay by default), locked
// for a change when lock is set.
func openCluster(g *globals, c *cobra.Command, lock bool) (*kube.Cluster, func(), error) {
	name, err := g.labName("overlay")
	if err != nil {
		return nil, nil, err
	}
	if !inventory.Running(name) {
		return nil, nil, usagef("lab %s is not up: start the Kubernetes model with 'sudo netlab overlay-mode%s'", name, labFlag(name, "overlay"))
	}
	release := func() {}
	if lock {
		lk, err := state.Acquire(name, c.ErrOrStderr())
		if err != nil {
			return nil, nil, err
		}
		release = lk.Release
	}
	s, err := state.Load(name)
	if err != nil {
		release()
		return nil, nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		release()
		return nil, nil, err
	}
	mode, err := g.mode()
	if err != nil {
		release()
		return nil, nil, err
	}
	out := c.ErrOrStderr()
	if mode == netops.DryRun {
		out = c.OutOrStdout()
	}
	r := netops.NewRunner(mode, out)
	cl, err := kube.Open(s, exe, r)
	if err != nil {
		r.Close()
		release()
		return nil, nil, usagef("%v", err)
	}
	cl.Log = c.ErrOrStderr()
	if mode != netops.DryRun {
		mendController(c.ErrOrStderr(), cl.Exe, name, len(cl.Store.Pods))
	}
	if lock {
		if err := cl.Preflight(); err != nil {
			r.Close()
			release()
			return nil, nil, usagef("%v", err)
		}
		// What an interrupted command left (pods made, never recorded)
		// goes before anything else changes.
		gone, err := cl.SweepOrphans(context.Background())
		if err != nil {
			r.Close()
			release()
			return nil, nil, err
		}
		if len(gone) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "Note: removed %s that an interrupted command left, not in lab %s's records: %s\n",
				plural(len(gone), "pod namespace"), name, strings.Join(gone, " "))
		}
	}
	return cl, func() { r.Close(); release() }, nil
}

// namespaceFlag gives c (and its verbs) kubectl's -n/--namespace: the
// namespace of the objects named, default unless given.
func namespaceFlag(g *globals, c *cobra.Command) {
	c.PersistentFlags().StringVarP(&g.namespace, "namespace", "n", "default", "the namespace of the objects named, as kubectl's -n")
}

// ns is the namespace -n gave, checked as the API server checks one.
func (g *globals) ns() (string, error) {
	if g.namespace == "" {
		return "default", nil
	}
	if err := kube.CheckNamespace(g.namespace); err != nil {
		return "", usagef("--namespace: %v", err)
	}
	return g.namespace, nil
}

// kubeVerb runs f on the lab's cluster, locked, after probing its pods
// again (so that rules follow pods that turned Ready or unready).
func kubeVerb(g *globals, c *cobra.Command, verb string, f func(ctx context.Context, cl *kube.Cluster) (string, error)) error {
	return withCluster(g, c, verb, func(ctx context.Context, cl *kube.Cluster) error {
		said, err := f(ctx, cl)
		var lines []string
		if said != "" {
			lines = []string{said}
		}
		return finish(ctx, g, c, cl, lines, err)
	})
}

// withCluster runs f on the lab's cluster, locked, after probing its pods
// again, with a context a signal ends.
func withCluster(g *globals, c *cobra.Command, verb string, f func(ctx context.Context, cl *kube.Cluster) error) error {
	if err := needRoot(verb); err != nil {
		return err
	}
	cl, done, err := openCluster(g, c, true)
	if err != nil {
		return err
	}
	defer done()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := cl.Refresh(ctx); err != nil {
		return err
	}
	return f(ctx, cl)
}

// finish ends a verb that changed the cluster: what it did, a line each
// (marked in a dry run), the lab's controller kept running, and what an
// interrupting signal leaves (interrupted).
func finish(ctx context.Context, g *globals, c *cobra.Command, cl *kube.Cluster, said []string, err error) error {
	for _, s := range said {
		if g.dryRun {
			s = "# " + s + " (dry run)"
		}
		fmt.Fprintln(c.OutOrStdout(), s)
	}
	if !g.dryRun {
		keepWatching(c, cl)
	}
	return interrupted(ctx, cl, err)
}

// interrupted keeps what a command interrupted by a signal (Ctrl-C,
// SIGTERM, SIGHUP) had made: the cluster's records are saved as they
// are, so its pods are listed and its rollout goes on in the lab's
// controller, as a Kubernetes rollout goes on when kubectl stops
// watching. (A kill -9 saves nothing: the next command, or the
// controller, removes the pods it made and never recorded.)
func interrupted(ctx context.Context, cl *kube.Cluster, err error) error {
	if ctx.Err() == nil || cl.Dry() {
		return err
	}
	if serr := cl.Save(); serr != nil {
		return fmt.Errorf("interrupted, and what it made could not be recorded: %w", serr)
	}
	return fmt.Errorf("interrupted: what was made is kept, and the lab's controller goes on with any rollout ('netlab get deployments%s' shows where it stands)", labFlag(cl.S.Lab, "overlay"))
}

// mendController starts lab's controller again if it should run (the lab
// has pods) and does not (it was killed, or crashed), and says so: until
// it runs again, a pod that turns unready stays in its Services' rules
// while 'get endpoints' leaves it out.
func mendController(w io.Writer, exe, lab string, pods int) {
	if pods == 0 || kube.ControllerRunning(lab) {
		return
	}
	if _, err := kube.EnsureController(exe, lab); err != nil {
		fmt.Fprintf(w, "Warning: lab %s's controller (%s) is not running and did not start again: %v\n", lab, names.ControllerName, err)
		return
	}
	fmt.Fprintf(w, "Note: lab %s's controller (%s), which keeps Services on the pods that are Ready, was not running: netlab started it again (its log: %s).\n",
		lab, names.ControllerName, filepath.Join(state.Dir(lab), "controller.log"))
}

// keepWatching makes sure the lab's controller runs, which keeps its
// Services on the pods that are Ready between commands.
func keepWatching(c *cobra.Command, cl *kube.Cluster) {
	if len(cl.Store.Pods) == 0 {
		return
	}
	if _, err := kube.EnsureController(cl.Exe, cl.S.Lab); err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "Warning: the lab's controller did not start (%v): pods that turn unready stay in their Services until the next netlab command\n", err)
	}
}
