package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/internal/lab"
	"netlab/internal/netops"
	"netlab/internal/podruntime/netlabpod"
	"netlab/internal/topo"
)

// Where provisioning records a real node's identity and the topology every
// node reads (see scripts/provision.sh). NETLAB_CONFIG_DIR moves them.
var (
	configDir    = envOr("NETLAB_CONFIG_DIR", "/etc/netlab")
	identityFile = filepath.Join(configDir, "node")
	topologyFile = filepath.Join(configDir, "topology.yaml")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newModeCmd(g *globals, m lab.Mode) *cobra.Command {
	var nodes, count decimal
	var topoFile, node string
	var setOwn func(*topo.Options)
	c := &cobra.Command{
		Use:   m.Verb,
		Short: m.Short,
		Long: m.Long + `

Inside a VM provisioned by the Vagrantfile it needs no flags: it builds this
VM's share of the lab (` + identityFile + ` names the node,
` + topologyFile + ` the topology every node reads).`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name, err := g.labName(m.Name)
			if err != nil {
				return err
			}
			runMode, err := g.mode()
			if err != nil {
				return err
			}
			flagsSet := c.Flags().Changed("nodes") || c.Flags().Changed(m.Workloads) || c.Flags().Changed("topology")
			if node == "" && !flagsSet {
				node, topoFile = vmIdentity()
			}
			if node != "" && topoFile == "" {
				if _, err := os.Stat(topologyFile); err == nil {
					topoFile = topologyFile
				}
			}
			o := topo.Options{Lab: name, Mode: m.Name, Nodes: int(nodes), Workloads: int(count),
				File: topoFile, WorkloadsF: "--" + m.Workloads, Node: node,
				NodesSet: c.Flags().Changed("nodes"), WorkloadsSet: c.Flags().Changed(m.Workloads)}
			setOwn(&o)
			t, plan, err := lab.Resolve(o)
			if err != nil {
				return err
			}
			return up(c, t, plan, runMode, m.Verb)
		},
	}
	nodes, count = topo.DefaultNodes, topo.DefaultWorkloads
	c.Flags().Var(&nodes, "nodes", fmt.Sprintf("number of nodes (1-%d)", topo.MaxNodes))
	c.Flags().Var(&count, m.Workloads, fmt.Sprintf("%s per node (1-%d)", m.Workloads, topo.MaxWorkloads))
	c.Flags().StringVar(&topoFile, "topology", "", "topology file (YAML or JSON) instead of --nodes/--"+m.Workloads)
	c.Flags().StringVar(&node, "node", "", "build only this node's share, on this machine's own network stack (a VM)")
	setOwn = m.AddFlags(c.Flags())
	return c
}

// vmIdentity returns the node name provisioning recorded, if any, and the
// topology file that goes with it.
func vmIdentity() (node, topoFile string) {
	data, err := os.ReadFile(identityFile)
	if err != nil {
		return "", ""
	}
	return strings.TrimSpace(string(data)), topologyFile
}

// up builds a planned lab, or prints it as a script with --dry-run.
func up(c *cobra.Command, t *topo.Topology, plan lab.Plan, mode netops.Mode, verb string) error {
	out := c.OutOrStdout()
	if mode == netops.DryRun {
		fmt.Fprintf(out, "#!/usr/bin/env bash\n# netlab %s --lab %s: the commands netlab runs, as a script.\n", verb, t.Lab)
		fmt.Fprintf(out, "# Run it as root. Remove what it made with: sudo netlab down --lab %s\nset -euo pipefail\n\n", t.Lab)
		fmt.Fprint(out, netops.Script(plan.Ops))
		fmt.Fprintf(out, "\n# netlab then starts the workloads' processes (netlab-pod: a web server in\n# each container, an app and a sidecar in each pod); this script does not.\n")
		return nil
	}
	if err := needRoot(verb); err != nil {
		return err
	}
	if err := canRunWorkloads(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	start := time.Now()
	s, err := lab.Build(ctx, t, plan, lab.BuildOptions{Mode: mode, Out: out, Log: c.ErrOrStderr()})
	if err != nil {
		return err
	}
	printUp(out, s, time.Since(start))
	return nil
}

// canRunWorkloads says why this netlab cannot start the workloads'
// processes, if it cannot: it was built without cgo.
func canRunWorkloads() error {
	if !netlabpod.Embedded {
		return fmt.Errorf("this netlab was built without cgo, so it cannot run the containers' processes: install gcc and rebuild (make build)")
	}
	return nil
}
