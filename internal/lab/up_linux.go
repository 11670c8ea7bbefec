package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"netlab/internal/inventory"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/podruntime"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// OutsidePort is where the outside host's server listens.
const OutsidePort = 80

// Up builds plan for topology t with runner r and starts the hosts'
// servers (exe is the netlab binary). The caller holds the lab's lock. If
// anything fails, or ctx is cancelled, Up removes all it made and says what
// failed.
func Up(ctx context.Context, t *topo.Topology, plan Plan, r *netops.Runner, exe string) (*state.State, error) {
	if inventory.Running(t.Lab) {
		return nil, topo.Inputf("lab %q is already up (or left over from an earlier run): run 'sudo netlab down --lab %s' first, or pick another name with --lab", t.Lab, t.Lab)
	}
	// A namespace of the plan's name that is already there is someone
	// else's (the lab's own would have made it inventory.Running): refuse before
	// anything changes, and so never remove it on a rollback.
	for _, ns := range plan.Namespaces {
		if _, err := os.Lstat(netops.Path(ns)); err == nil {
			return nil, topo.Inputf("a network namespace %s is already on this machine, and netlab did not make it: pick another lab name with --lab, or remove it ('ip netns del %s') if it is yours to remove", ns, ns)
		}
	}
	s := &state.State{Lab: t.Lab, Mode: t.Mode, Status: state.StatusBuilding, Created: time.Now().UTC().Truncate(time.Second),
		Topology: t, Workloads: plan.Workloads, Namespaces: plan.Namespaces, Proxies: plan.Proxies}
	if !t.Embedded {
		s.HostSysctls = hostSysctls(t.Lab, plan)
	}
	_, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables")
	s.BrNetfilter = err == nil
	if err := state.Save(s); err != nil {
		return nil, fmt.Errorf("write state: %w", err)
	}
	fail := func(step string, err error) (*state.State, error) {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		_, derr := Down(t.Lab)
		msg := fmt.Errorf("%s: %w", step, err)
		if derr != nil {
			return nil, fmt.Errorf("%w; rolling back also failed: %v (run 'sudo netlab down --lab %s')", msg, derr, t.Lab)
		}
		return nil, fmt.Errorf("%w; everything this run made was removed again", msg)
	}
	if err := r.Run(ctx, plan.Ops); err != nil {
		return fail("build", err)
	}
	for _, h := range plan.Runtimes {
		if err := ctx.Err(); err != nil {
			return fail("start workloads", err)
		}
		if err := StartRuntime(exe, s, h); err != nil {
			return fail("start workloads on "+h.Name, err)
		}
	}
	for _, d := range plan.Daemons {
		if err := StartProcess(t.Lab, d.Host.NS, exe, d.Args, "", d.Log); err != nil {
			return fail(d.Args[0]+" on "+d.Host.Name, err)
		}
	}
	s.Status = state.StatusUp
	if err := state.Save(s); err != nil {
		return fail("write state", err)
	}
	return s, nil
}

// Spec returns the netlab-pod spec of host's workloads: one line per
// container or pod on a node, or the web server of the outside host.
func Spec(s *state.State, host string) (string, error) {
	t := s.Topology
	if t.Outside != nil && host == t.Outside.Name {
		return podruntime.Spec([]podruntime.Line{{Netns: netops.Path(t.Outside.NS), Name: host, IP: t.Outside.IP, Node: host, Kind: podruntime.Web, Port: OutsidePort}})
	}
	found := false
	for _, n := range t.Nodes {
		found = found || n.Name == host
	}
	if !found {
		return "", fmt.Errorf("lab %q has no host %q", s.Lab, host)
	}
	var lines []podruntime.Line
	for _, w := range s.Workloads {
		if w.Node != host {
			continue
		}
		kind := podruntime.Web
		if w.Kind == "pod" {
			kind = podruntime.Pod
		}
		ip := w.IP
		if !ip.IsValid() {
			ip = netip.MustParseAddr("127.0.0.1") // Docker's network none: lo alone
		}
		lines = append(lines, podruntime.Line{Netns: netops.Path(w.NS), Name: w.Name, IP: ip, Node: host, Kind: kind, Port: w.Port})
	}
	for _, p := range s.Proxies {
		switch {
		case p.Node != host:
		case p.Reserve:
			kind := podruntime.Reserve
			if p.Listen6 {
				kind = podruntime.Reserve6
			}
			lines = append(lines, podruntime.Line{Netns: "-", Name: "dockerd", IP: p.Target, Node: host, Kind: kind,
				Port: p.HostPort})
		default:
			kind := podruntime.Proxy
			if p.Listen6 {
				kind = podruntime.Proxy6
			}
			// "-": in the runtime's own namespace, the node's.
			lines = append(lines, podruntime.Line{Netns: "-", Name: "docker-proxy", IP: p.Target, Node: host, Kind: kind,
				Port: p.HostPort, Seventh: strconv.Itoa(p.TargetPort)})
		}
	}
	return podruntime.Spec(lines)
}

// StartRuntime starts netlab-pod (exe, the netlab binary, which has it built
// in) for host: it runs the processes of the host's containers or pods,
// each inside its namespace. It is started from the host's own namespace,
// so it is one of the host's processes, and detached from netlab;
// StartRuntime waits until every server listens.
func StartRuntime(exe string, s *state.State, h topo.Host) error {
	spec, err := Spec(s, h.Name)
	if err != nil {
		return err
	}
	return StartSpec(exe, s.Lab, h, spec, "runtime-"+h.Name+".log")
}

// StartSpec starts a runtime of lab on host h for the workloads of spec
// (netlab_pod.c's lines), logging to logName in the lab's directory, and
// waits until every server listens.
func StartSpec(exe, labName string, h topo.Host, spec, logName string) error {
	return StartProcess(labName, h.NS, exe, names.RuntimeArgs(labName, h.Name), spec, logName)
}

// StartProcess starts one of lab's processes (exe with args, a runtime
// whose command line inventory recognises), detached, born in namespace
// ns, with stdin as its input and its output appended to logName in the
// lab's directory, and waits until it writes "ready" on fd 3 (or the
// reason it is not).
func StartProcess(labName string, ns netops.NS, exe string, args []string, stdin, logName string) error {
	logf, err := state.OpenOwn(filepath.Join(state.Dir(labName), logName), unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{wr} // fd 3: "ready" or the reason it is not
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	// Started from a thread inside the namespace, the process is born
	// there: `ip netns pids` lists it with its host or pod.
	err = netops.Do(ns, cmd.Start)
	wr.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", exe, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(rd).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l == "ready" {
			return nil // cmd.Wait reaps it if it ever ends while netlab runs
		}
		_ = cmd.Process.Kill()
		<-waited
		if l == "" {
			l = "it exited without a word; see " + logf.Name()
		}
		return errors.New(l)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-waited
		return fmt.Errorf("%s %s not ready after 30s; see %s", args[0], strings.Join(args[1:], " "), logf.Name())
	}
}
