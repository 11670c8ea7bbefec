package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"netlab/internal/inventory"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// The controller is what keeps a lab's Services true between netlab
// commands: every second it probes every pod, as the kubelet does, and
// when one turned Ready or unready (its server died, its probe fails), it
// rewrites every node's rules, as kube-proxy does when the endpoints
// change. It also goes on with a rollout that waits for another
// machine's pods, as the deployment controller does. It holds the lab's lock only while it looks, so netlab commands
// interleave with it.

// Period is how often the controller looks.
var Period = time.Second

// RunController is the controller's loop, until ctx ends or the lab is
// gone. It rests a Period between rounds, however long a round took, so
// that netlab commands waiting for the lab's lock get it.
func RunController(ctx context.Context, lab, exe string) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(Period):
		}
		if !inventory.Running(lab) {
			return nil // the lab went down
		}
		// A bad moment (the lab going down under it, say): look again.
		_ = once(ctx, lab, exe)
	}
}

// once probes every pod without the lab's lock (probes of pods that do
// not answer take a second each), then, under the lock, records what it
// found in the objects as they are then, and rewrites the rules if a pod
// turned Ready or unready.
func once(ctx context.Context, lab, exe string) error {
	open := func() (*Cluster, func(), error) {
		s, err := state.Load(lab)
		if err != nil {
			return nil, nil, err
		}
		r := netops.NewRunner(netops.Apply, io.Discard)
		c, err := Open(s, exe, r)
		if err != nil {
			r.Close()
			return nil, nil, err
		}
		return c, r.Close, nil
	}
	started := time.Now()
	c, done, err := open()
	if err != nil {
		return err
	}
	if len(c.Store.Pods) == 0 {
		done()
		return nil
	}
	found := c.ProbeAll(c.Store.Pods)
	done()
	lk, err := state.Acquire(lab, io.Discard)
	if err != nil {
		return err
	}
	defer lk.Release()
	if !inventory.Running(lab) {
		return nil
	}
	c, done, err = open()
	if err != nil {
		return err
	}
	defer done()
	// What the probes found is stale if a command changed the objects
	// meanwhile (a rollout that held the lock while its pods turned Ready):
	// recorded, it would take Ready pods out of their Services until the
	// next round. Probe again then, next round.
	if fi, err := os.Stat(filepath.Join(state.Dir(lab), storeFile)); err != nil || !fi.ModTime().After(started) {
		if err := c.Record(ctx, found); err != nil {
			return err
		}
	}
	// Pods an interrupted command made and never recorded go.
	if gone, err := c.SweepOrphans(ctx); err != nil {
		return err
	} else if len(gone) > 0 {
		fmt.Fprintf(os.Stderr, "%s removed %d pod namespaces an interrupted command left: %v\n", time.Now().Format(time.RFC3339), len(gone), gone)
	}
	// The kubelet's part: servers that died start again (with back-off).
	if changed, err := c.KeepRunning(ctx, time.Now()); err != nil {
		return err
	} else if changed {
		if err := c.save(); err != nil {
			return err
		}
	}
	// A rollout that waits for another machine's pods goes on from here.
	return c.Continue(ctx)
}

// ControllerRunning reports whether lab's controller runs.
func ControllerRunning(lab string) bool {
	ents, _ := os.ReadDir("/proc")
	want := []byte("\x00" + names.ControllerName + "\x00--lab\x00" + lab + "\x00")
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(data, want) && inventory.IsRuntime(filepath.Join("/proc", e.Name())) == lab {
			return true
		}
	}
	return false
}

// EnsureController starts lab's controller when it does not run: detached,
// in the machine's own namespace, a runtime of the lab that down ends. It
// reports whether it had to start one (the first time, or after the
// controller died: then the rules may lag the pods until its first round).
func EnsureController(exe, lab string) (bool, error) {
	if ControllerRunning(lab) {
		return false, nil
	}
	logf, err := state.OpenOwn(filepath.Join(state.Dir(lab), "controller.log"), syscall.O_CREAT|syscall.O_WRONLY|syscall.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, names.ControllerName, "--lab", lab, "--host", "kube")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return false, err
	}
	go func() { _ = cmd.Wait() }()
	return true, nil
}
