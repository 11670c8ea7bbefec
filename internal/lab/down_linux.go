package lab

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"netlab/internal/inventory"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// Removed says what Down removed.
type Removed struct {
	Namespaces int
	Processes  int
	// HostObjects are links and rules removed from a real node's own
	// namespace.
	HostObjects int
	// Host says, a line each, what became of the sysctls the lab set on a
	// real node's own stack: put back, or kept for another lab.
	Host []string
}

// DownOptions say how Down reports what it does.
type DownOptions struct {
	// Mode is netops.DryRun (print the commands, change nothing),
	// netops.Explain (print each as it runs) or netops.Apply.
	Mode netops.Mode
	// Out gets the printed commands.
	Out io.Writer
}

// Down removes everything of lab: its processes, then its namespaces (the
// kernel frees every interface, route and rule inside them with them), then
// its state. It works from the kernel's own markers, so it needs no state
// file, and it may run any number of times. The caller holds lab's lock.
func Down(lab string) (Removed, error) { return DownWith(lab, DownOptions{Mode: netops.Apply}) }

// DownWith is Down, printing or only showing what it does. Every kernel
// change goes through netops, as up's do: what --dry-run prints is what
// down does.
func DownWith(lab string, o DownOptions) (Removed, error) {
	var rm Removed
	if o.Out == nil {
		o.Out = io.Discard
	}
	dry := o.Mode == netops.DryRun
	say := func(format string, a ...any) {
		switch o.Mode {
		case netops.DryRun:
			fmt.Fprintf(o.Out, format+"\n", a...)
		case netops.Explain:
			fmt.Fprintf(o.Out, "+ "+format+"\n", a...)
		}
	}
	r := netops.NewRunner(o.Mode, o.Out)
	defer r.Close()
	// run applies ops one by one, on through failures: down removes all
	// it can, and says what it could not.
	var errs []error
	run := func(ops []netops.Op) int {
		done := 0
		for _, op := range ops {
			if err := r.Run(context.Background(), []netops.Op{op}); err != nil {
				errs = append(errs, err)
				continue
			}
			done++
		}
		return done
	}
	lo := inventory.Scan(lab)
	realNode := false
	var sysctls []state.HostSysctl
	st, err := state.Load(lab)
	if err == nil {
		realNode = !st.Topology.Embedded
		sysctls = st.HostSysctls
	} else {
		st = nil
	}
	inodes := map[uint64]bool{}
	for _, ns := range lo.Namespaces {
		var st unix.Stat_t
		if unix.Stat(netops.Path(ns), &st) == nil {
			inodes[st.Ino] = true
		}
	}
	// The processes go first: a namespace lives on while a process is in it.
	pids := inventory.Processes(lab, inodes)
	for _, p := range pids {
		say("kill -9 %d", p)
	}
	if !dry {
		kill(pids)
		left := waitGone(pids)
		rm.Processes = len(pids) - len(left)
		if len(left) > 0 {
			errs = append(errs, fmt.Errorf("processes %v of lab %q did not stop", left, lab))
		}
	} else {
		rm.Processes = len(pids)
	}
	// On a real node the lab's bridge, flannel.1 and rules live in the
	// machine's own namespace: they carry the lab's marker too. They go
	// before the namespaces, whose teardown holds the kernel's rtnl lock
	// for a while and would make even reading links here wait for it.
	host, err := hostTeardown(lab, realNode)
	if err != nil {
		errs = append(errs, err)
	}
	host = append(hostRoutes(st), host...)
	if run(host) == len(host) {
		rm.HostObjects = opCount(host)
	}
	var nsOps []netops.Op
	for _, ns := range append(lo.Namespaces, lo.Stale...) {
		nsOps = append(nsOps, netops.NetnsDel{Name: string(ns)})
	}
	rm.Namespaces = run(nsOps)
	if !dry {
		netops.SweepResolvConf(lab)
	}
	if !dry && (realNode || len(host) > 0) {
		// On a real node the host ends of the workloads' veths are here, and
		// go with their namespaces: down is done when they are gone.
		if err := waitVeths(lab); err != nil {
			errs = append(errs, err)
		}
	}
	// Last, with the lab's links gone: put back what it set on the machine,
	// unless a lab still here needs it.
	lines, restore := restoreHostSysctls(lab, sysctls)
	rm.Host = lines
	run(restore)
	say("rm -rf %s", state.Dir(lab))
	if !dry && len(errs) == 0 {
		if err := state.RemoveDir(lab); err != nil {
			errs = append(errs, err)
		}
	}
	return rm, errors.Join(errs...)
}
