package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// Leftovers is what netlab finds of a lab in the kernel and /proc.
type Leftovers struct {
	Namespaces []netops.NS
	// Stale are empty files in /run/netns that never became namespaces
	// (netlab was killed between creating the file and mounting the
	// namespace on it), known as the lab's by their marker or its plan.
	Stale []netops.NS
}

// Scan finds lab's namespaces: the names its state file planned and every
// namespace named "<lab>-..." whose loopback carries lab's marker. Only
// namespaces that carry the marker are ever reported, so Scan never claims
// a namespace someone else made.
func Scan(lab string) Leftovers {
	var lo Leftovers
	planned := map[netops.NS]bool{}
	if s, err := state.Load(lab); err == nil {
		for _, ns := range s.Namespaces {
			planned[ns] = true
		}
	}
	ents, _ := os.ReadDir(netops.NetnsDir)
	prefix := lab + "-"
	var candidates []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		p := netops.Path(netops.NS(name))
		if !netops.IsNetns(p) {
			ours := planned[netops.NS(name)] || strings.HasPrefix(netops.FileMarker(p), names.MarkerPrefix(lab))
			if fi, err := os.Stat(p); ours && err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
				lo.Stale = append(lo.Stale, netops.NS(name))
			}
			continue
		}
		candidates = append(candidates, name)
	}
	ours := make([]bool, len(candidates))
	// Reading a marker means entering the namespace; a few threads do a
	// thousand namespaces in a fraction of the time one would.
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				alias, err := netops.LoAlias(candidates[i])
				ours[i] = err == nil && strings.HasPrefix(alias, names.MarkerPrefix(lab))
			}
		}()
	}
	for i := range candidates {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, name := range candidates {
		if ours[i] {
			lo.Namespaces = append(lo.Namespaces, netops.NS(name))
		}
	}
	return lo
}

// Labs returns every lab netlab has traces of: state directories, marked
// namespaces, workload processes and marked links of this machine.
func Labs() []string {
	seen := map[string]bool{}
	for _, l := range state.StateLabs() {
		seen[l] = true
	}
	for _, l := range RuntimeLabs() {
		seen[l] = true
	}
	for _, l := range hostLabs() {
		seen[l] = true
	}
	ents, _ := os.ReadDir(netops.NetnsDir)
	for _, e := range ents {
		p := netops.Path(netops.NS(e.Name()))
		if !netops.IsNetns(p) {
			if l, ok := names.LabOfMarker(netops.FileMarker(p)); ok && strings.HasPrefix(e.Name(), l+"-") {
				seen[l] = true
			}
			continue
		}
		if alias, err := netops.LoAlias(e.Name()); err == nil {
			if l, ok := names.LabOfMarker(alias); ok && strings.HasPrefix(e.Name(), l+"-") {
				seen[l] = true
			}
		}
	}
	var labs []string
	for l := range seen {
		labs = append(labs, l)
	}
	sort.Strings(labs)
	return labs
}

// Removed says what Down removed.
type Removed struct {
	Namespaces int
	Processes  int
	// HostObjects are links and rules removed from a real node's own
	// namespace.
	HostObjects int
	// topo.Host says, a line each, what became of the sysctls the lab set on a
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
	lo := Scan(lab)
	realNode := false
	var sysctls []state.HostSysctl
	if s, err := state.Load(lab); err == nil {
		realNode = !s.Topology.Embedded
		sysctls = s.HostSysctls
	}
	inodes := map[uint64]bool{}
	for _, ns := range lo.Namespaces {
		var st unix.Stat_t
		if unix.Stat(netops.Path(ns), &st) == nil {
			inodes[st.Ino] = true
		}
	}
	// The processes go first: a namespace lives on while a process is in it.
	pids := labProcesses(lab, inodes)
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
	if run(host) == len(host) {
		rm.HostObjects = opCount(host)
	}
	var nsOps []netops.Op
	for _, ns := range append(lo.Namespaces, lo.Stale...) {
		nsOps = append(nsOps, netops.NetnsDel{Name: string(ns)})
	}
	rm.Namespaces = run(nsOps)
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
