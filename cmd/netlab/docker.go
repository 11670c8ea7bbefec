package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/bridge"
	"netlab/internal/lab"
	"netlab/internal/netops"
)

func newDockerMode(g *globals) *cobra.Command {
	var nodes, containers int
	var topo string
	c := &cobra.Command{
		Use:   "docker-mode",
		Short: "Build the Docker model: a docker0 bridge per host, containers, NAT and a published port",
		Long: `Build the Docker networking model in an embedded lab: hosts node1..nodeN on an
underlay network (192.168.56.0/24, as two Vagrant VMs), an outside host, and on
every host a docker0 bridge (172.17.0.1/16, the same on every host) with
containers, MASQUERADE for traffic leaving the host and node:8080 published to
the host's first container:80.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name, err := g.labName(bridge.Mode)
			if err != nil {
				return err
			}
			mode, err := g.mode()
			if err != nil {
				return err
			}
			t, err := lab.Resolve(lab.Options{Lab: name, Mode: bridge.Mode, Nodes: nodes, Workloads: containers,
				File: topo, WorkloadsF: "--containers",
				NodesSet: c.Flags().Changed("nodes"), WorkloadsSet: c.Flags().Changed("containers")})
			if err != nil {
				return err
			}
			return up(c, t, bridge.Plan(t), mode, "docker-mode")
		},
	}
	c.Flags().IntVar(&nodes, "nodes", 2, fmt.Sprintf("number of hosts (1-%d)", lab.MaxNodes))
	c.Flags().IntVar(&containers, "containers", 2, fmt.Sprintf("containers per host (1-%d)", lab.MaxWorkloads))
	c.Flags().StringVar(&topo, "topology", "", "topology file (YAML or JSON) instead of --nodes/--containers")
	return c
}

// up builds a planned lab, or prints it as a script with --dry-run.
func up(c *cobra.Command, t *lab.Topology, plan lab.Plan, mode netops.Mode, verb string) error {
	out := c.OutOrStdout()
	if mode == netops.DryRun {
		fmt.Fprintf(out, "#!/usr/bin/env bash\n# netlab %s --lab %s: the commands netlab runs, as a script.\n", verb, t.Lab)
		fmt.Fprintf(out, "# Run it as root. Remove what it made with: sudo netlab down --lab %s\nset -euo pipefail\n\n", t.Lab)
		fmt.Fprint(out, netops.Script(plan.Ops))
		fmt.Fprintf(out, "\n# netlab then starts the containers' processes (netlab-pod, a web server in\n# each container's namespace); this script does not.\n")
		return nil
	}
	if err := needRoot(verb); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	lk, err := lab.Acquire(t.Lab, c.ErrOrStderr())
	if err != nil {
		return err
	}
	defer lk.Release()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	r := netops.NewRunner(mode, out)
	defer r.Close()
	start := time.Now()
	s, err := lab.Up(ctx, t, plan, r, exe)
	if err != nil {
		return err
	}
	printUp(out, s, time.Since(start))
	return nil
}
