package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/compare"
	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

func newCompare(g *globals) *cobra.Command {
	var dockerLab, overlayLab, hostgwLab string
	var asJSON, markdown, quick bool
	c := &cobra.Command{
		Use:   "compare",
		Short: "Ask the Docker and the Kubernetes model the same questions with real packets, side by side",
		Long: `Ask both models the same questions with real packets and print one table,
a column per model: the same node, another node, the source address the
receiver saw, a node to a workload, the outside host, the MTU, the bytes of
encapsulation on the underlay and TCP throughput. Then the seed's three
Kubernetes requirements, PASS or FAIL for each model, with the evidence.

It uses the running labs docker and overlay (--docker-lab, --overlay-lab
pick others) and builds whichever is missing, with the default topology,
leaving it up. --hostgw-lab NAME adds a third column; with the default labs,
a running host-gw overlay lab adds it by itself.`,
		Example: "  sudo netlab compare\n  sudo netlab compare --quick --json\n  sudo netlab overlay-mode --lab hostgw --backend host-gw && sudo netlab compare",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if g.lab.set {
				return usagef("compare takes --docker-lab, --overlay-lab and --hostgw-lab, not --lab")
			}
			if g.dryRun {
				return usagef("compare changes nothing but the labs it builds: run 'netlab docker-mode --dry-run' to see those")
			}
			if asJSON && markdown {
				return usagef("--json and --markdown do not go together: pick one")
			}
			for flag, v := range map[string]string{"--docker-lab": dockerLab, "--overlay-lab": overlayLab} {
				if err := names.CheckLabName(v); err != nil {
					return usagef("%s: %v", flag, err)
				}
			}
			if c.Flags().Changed("hostgw-lab") {
				if err := names.CheckLabName(hostgwLab); err != nil {
					return usagef("--hostgw-lab: %v", err)
				}
			}
			if err := needRoot("compare"); err != nil {
				return err
			}
			log := c.ErrOrStderr()
			var cols []compare.Column
			d, err := compareLab(g, log, dockerLab, topo.DockerMode)
			if err != nil {
				return err
			}
			o, err := compareLab(g, log, overlayLab, topo.OverlayMode)
			if err != nil {
				return err
			}
			cols = append(cols, compare.Column{Key: "docker", State: d}, compare.Column{Key: "kubernetes", State: o})
			if c.Flags().Changed("hostgw-lab") {
				h, err := compareLab(g, log, hostgwLab, topo.OverlayMode, "--backend", topo.HostGW)
				if err != nil {
					return err
				}
				cols = append(cols, compare.Column{Key: "hostgw", State: h})
			} else if h := runningHostGW(o.Lab); h != nil && !c.Flags().Changed("docker-lab") && !c.Flags().Changed("overlay-lab") {
				// Labs named on the command line are the ones asked: a
				// host-gw lab joins by itself only the default pair.
				cols = append(cols, compare.Column{Key: "hostgw", State: h})
			}
			for _, col := range cols[2:] {
				if col.State.Topology.Overlay.Backend != topo.HostGW {
					return usagef("--hostgw-lab %s: that lab's backend is %s, not host-gw", col.State.Lab, col.State.Topology.Overlay.Backend)
				}
			}
			if !asJSON && !markdown {
				fmt.Fprintln(log, "asking every model the same questions (a few seconds)...")
			}
			res := compare.Run(cols, compare.Options{Quick: quick})
			out := c.OutOrStdout()
			switch {
			case asJSON:
				return writeJSON(out, res)
			case markdown:
				compare.Markdown(out, res)
			default:
				compare.Text(out, res)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dockerLab, "docker-lab", "docker", "the Docker-model lab (built if it is not up)")
	c.Flags().StringVar(&overlayLab, "overlay-lab", "overlay", "the Kubernetes-model lab (built if it is not up)")
	c.Flags().StringVar(&hostgwLab, "hostgw-lab", "hostgw", "a Kubernetes-model lab with flannel's host-gw backend, for a third column (built if it is not up)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the comparison as JSON, for scripts")
	c.Flags().BoolVar(&markdown, "markdown", false, "print the comparison as Markdown, for handouts")
	c.Flags().BoolVar(&quick, "quick", false, "skip the throughput row (iperf3)")
	return c
}

// compareLab returns the running lab name of mode, building it first, with
// the mode's defaults and its own flags extra, when it is not up.
func compareLab(g *globals, log io.Writer, name, mode string, extra ...string) (*state.State, error) {
	if inventory.Running(name) {
		s, err := state.Load(name)
		if err != nil {
			return nil, fmt.Errorf("lab %s is up but its state is unreadable (%v): 'sudo netlab down --lab %s' and run compare again", name, err, name)
		}
		if s.Mode != mode {
			return nil, usagef("lab %s was built by %s-mode, not %s-mode: pick another name (see 'netlab compare --help')", name, s.Mode, mode)
		}
		if h := inventory.Check(s); h.Status != state.StatusUp {
			return nil, fmt.Errorf("lab %s is %s: %s", name, h.Status, h.Hint)
		}
		return s, nil
	}
	m, ok := lab.ModeNamed(mode)
	if !ok {
		return nil, fmt.Errorf("compare needs mode %s, which this netlab lacks", mode)
	}
	o, err := m.Options(name, extra)
	if err != nil {
		return nil, err
	}
	t, plan, err := lab.Resolve(o)
	if err != nil {
		return nil, err
	}
	if err := canRunWorkloads(); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "lab %s is not up: building it (netlab %s --lab %s%s)...\n", name, m.Verb, name, strings.TrimRight(" "+strings.Join(extra, " "), " "))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	start := time.Now()
	bo := lab.BuildOptions{Mode: netops.Apply, Log: log}
	if g.explain {
		bo.Mode, bo.Out = netops.Explain, log
	}
	s, err := lab.Build(ctx, t, plan, bo)
	if err != nil {
		return nil, fmt.Errorf("build lab %s: %w", name, err)
	}
	fmt.Fprintf(log, "lab %s is up (%.1f s); it stays up: 'sudo netlab down --lab %s' removes it.\n", name, time.Since(start).Seconds(), name)
	return s, nil
}

// runningHostGW is a running host-gw overlay lab other than skip, if any:
// the one called hostgw first.
func runningHostGW(skip string) *state.State {
	var found *state.State
	for _, l := range inventory.Labs() {
		if l == skip || !inventory.Running(l) {
			continue
		}
		s, err := state.Load(l)
		if err != nil || s.Mode != topo.OverlayMode || s.Topology.Overlay.Backend != topo.HostGW {
			continue
		}
		if l == "hostgw" {
			return s
		}
		if found == nil {
			found = s
		}
	}
	return found
}
