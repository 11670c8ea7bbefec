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
	"strings"
	"syscall"
	"time"

	"netlab/internal/agent"
	"netlab/internal/netops"
)

// AgentPort is where the outside host's server listens.
const AgentPort = 80

// Running reports whether anything of lab exists: a state file, a marked
// namespace or an agent.
func Running(lab string) bool {
	if _, err := os.Stat(statePath(lab)); err == nil {
		return true
	}
	lo := Scan(lab)
	if len(lo.Namespaces) > 0 {
		return true
	}
	for _, l := range AgentLabs() {
		if l == lab {
			return true
		}
	}
	return false
}

// Up builds plan for topology t with runner r and starts the hosts'
// servers (exe is the netlab binary). The caller holds the lab's lock. If
// anything fails, or ctx is cancelled, Up removes all it made and says what
// failed.
func Up(ctx context.Context, t *Topology, plan Plan, r *netops.Runner, exe string) (*State, error) {
	if Running(t.Lab) {
		return nil, Inputf("lab %q is already up (or left over from an earlier run): run 'sudo netlab down --lab %s' first, or pick another name with --lab", t.Lab, t.Lab)
	}
	s := &State{Lab: t.Lab, Mode: t.Mode, Status: StatusBuilding, Created: time.Now().UTC().Truncate(time.Second),
		Topology: t, Workloads: plan.Workloads, Namespaces: plan.Namespaces}
	if err := Save(s); err != nil {
		return nil, fmt.Errorf("write state: %w", err)
	}
	fail := func(step string, err error) (*State, error) {
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
	for _, h := range plan.Agents {
		if err := ctx.Err(); err != nil {
			return fail("start servers", err)
		}
		if err := StartAgent(exe, t.Lab, h); err != nil {
			return fail("start server on "+h.Name, err)
		}
	}
	s.Status = StatusUp
	if err := Save(s); err != nil {
		return fail("write state", err)
	}
	return s, nil
}

// Endpoints returns the sockets host's agent serves: every workload on a
// node, or port 80 on the outside host.
func Endpoints(s *State, host string) ([]agent.Endpoint, error) {
	t := s.Topology
	if t.Outside != nil && host == t.Outside.Name {
		return []agent.Endpoint{{NS: string(t.Outside.NS), Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), AgentPort),
			Name: host, Node: host, IP: t.Outside.IP}}, nil
	}
	var eps []agent.Endpoint
	found := false
	for _, n := range t.Nodes {
		found = found || n.Name == host
	}
	if !found {
		return nil, fmt.Errorf("lab %q has no host %q", s.Lab, host)
	}
	for _, w := range s.Workloads {
		if w.Node == host {
			eps = append(eps, agent.Endpoint{NS: string(w.NS), Addr: netip.AddrPortFrom(w.IP, uint16(w.Port)),
				Name: w.Name, Node: host, IP: w.IP})
		}
	}
	return eps, nil
}

// StartAgent starts host's server inside the host's namespace, detached
// from netlab, and waits until it says it is listening.
func StartAgent(exe, lab string, h Host) error {
	logf, err := os.OpenFile(filepath.Join(Dir(lab), "agent-"+h.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	cmd := exec.Command(exe, AgentArgs(lab, h.Name)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{wr} // fd 3: "ready" or the reason it is not
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	// Started from a thread inside the host's namespace, the agent is born
	// there: `ip netns pids` lists it with its host.
	err = netops.Do(h.NS, cmd.Start)
	wr.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", exe, err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(rd).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l == "ready" {
			return cmd.Process.Release()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if l == "" {
			l = "it exited without a word; see " + logf.Name()
		}
		return errors.New(l)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("server on %s not ready after 30s; see %s", h.Name, logf.Name())
	}
}
