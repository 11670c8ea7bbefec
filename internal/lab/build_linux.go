package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"netlab/internal/inventory"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// The one way a lab is built and removed, whoever asks: the mode verbs,
// compare (which builds a missing lab) and the workshop's exercises call
// Resolve, Build and Remove, never the command line.

// BuildOptions say how Build runs.
type BuildOptions struct {
	// Mode is netops.Apply, or netops.Explain to print each command as it
	// runs (to Out). A dry run is the caller's: netops.Script of the plan.
	Mode netops.Mode
	// Out is where Explain prints; Log where waits for the lab's lock and
	// warnings go. Either may be nil (then nothing is printed there).
	Out, Log io.Writer
	// Exe is the netlab binary that runs the workloads' processes; empty,
	// the running one.
	Exe string
}

// Resolve is the topology o describes, checked against this machine when
// it is a real node's share, and the plan of o.Mode's model for it.
// Nothing changes.
func Resolve(o topo.Options) (*topo.Topology, Plan, error) {
	m, ok := ModeNamed(o.Mode)
	if !ok {
		var have []string
		for _, m := range Modes() {
			have = append(have, m.Name)
		}
		return nil, Plan{}, topo.Inputf("no model %q: this netlab has %s", o.Mode, strings.Join(have, ", "))
	}
	t, err := topo.Resolve(o)
	if err != nil {
		return nil, Plan{}, err
	}
	if t.Mode == topo.OverlayMode && t.Overlay.Proxy() == topo.ProxyNFTables {
		if _, err := exec.LookPath("nft"); err != nil {
			return nil, Plan{}, topo.Inputf("--proxy-mode nftables: kube-proxy's nftables mode needs the nft tool, which is not installed: 'sudo apt-get install nftables' (make deps installs it), or leave kube-proxy in iptables mode")
		}
	}
	if !t.Embedded {
		if err := CheckHost(t); err != nil {
			return nil, Plan{}, err
		}
	}
	return t, m.Plan(t), nil
}

// Build brings lab t up as plan says, holding the lab's lock while it
// does. Up rolls back everything it made when anything fails or ctx is
// cancelled; then not even the lock stays.
func Build(ctx context.Context, t *topo.Topology, plan Plan, o BuildOptions) (*state.State, error) {
	out, log := orDiscard(o.Out), orDiscard(o.Log)
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	lk, err := state.Acquire(t.Lab, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if !inventory.Running(t.Lab) {
			lk.Remove() // a failed build rolled back: not even its lock stays
		}
		lk.Release()
	}()
	// Idle containers and pods hold no neighbour entry; the ones you ping,
	// curl or publish do: a warning here, a refusal where netlab itself
	// will talk to every pod (apply, scale).
	if err := CheckNeigh(len(plan.Workloads)); err != nil {
		fmt.Fprintf(log, "Warning: %v\n", err)
	}
	r := netops.NewRunner(o.Mode, out)
	defer r.Close()
	return Up(ctx, t, plan, r, exe)
}

// Remove takes lab down (DownWith) holding its lock; once all of it is
// gone, the lock goes too.
func Remove(lab string, o DownOptions, log io.Writer) (Removed, error) {
	lk, err := state.Acquire(lab, orDiscard(log))
	if err != nil {
		return Removed{}, err
	}
	rm, err := DownWith(lab, o)
	if err == nil && o.Mode != netops.DryRun {
		lk.Remove() // nothing of the lab is left, not even its lock
	} else {
		lk.Release()
	}
	return rm, err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
