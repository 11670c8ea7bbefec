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

	"netlab/bridge"
	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/overlay"
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

// mode is what differs between the two models' verbs.
type mode struct {
	verb, name, workloads, short, long string
	plan                               func(*topo.Topology) lab.Plan
	// flags adds the mode's own flags; after parsing, they fill in o.
	flags func(c *cobra.Command) func(o *topo.Options)
}

var modes = []mode{
	{verb: "docker-mode", name: bridge.Mode, workloads: "containers",
		short: "Build the Docker model: a docker0 bridge per host, containers, NAT and a published port",
		long: `Build the Docker networking model in an embedded lab: hosts node1..nodeN on an
underlay network (192.168.56.0/24, as two Vagrant VMs), an outside host, and on
every host a docker0 bridge (172.17.0.1/16, the same on every host) with
containers, MASQUERADE for traffic leaving the host and node:8080 published to
the host's first container:80.`,
		plan: bridge.Plan, flags: dockerFlags},
	{verb: "overlay-mode", name: overlay.Mode, workloads: "pods",
		short: "Build the Kubernetes model: a pod CIDR and cni0 per node, pods, a flannel-style VXLAN overlay, no NAT",
		long: `Build the Kubernetes networking model in an embedded lab: nodes node1..nodeN on
the same underlay as docker-mode, an outside host, and on every node a pod CIDR
(10.244.K.0/24 out of 10.244.0.0/16) behind a cni0 bridge, pods (one network
namespace shared by an app and a sidecar container), and flannel.1, a VXLAN
device (VNI 1, UDP 8472) with a route, ARP and FDB entry per peer node. No NAT
between pods or between nodes and pods; MASQUERADE only out of the cluster.`,
		plan: overlay.Plan},
}

func newModeCmd(g *globals, m mode) *cobra.Command {
	var nodes, count decimal
	var topoFile, node string
	fill := func(*topo.Options) {}
	c := &cobra.Command{
		Use:   m.verb,
		Short: m.short,
		Long: m.long + `

Inside a VM provisioned by the Vagrantfile it needs no flags: it builds this
VM's share of the lab (` + identityFile + ` names the node,
` + topologyFile + ` the topology every node reads).`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			name, err := g.labName(m.name)
			if err != nil {
				return err
			}
			runMode, err := g.mode()
			if err != nil {
				return err
			}
			flagsSet := c.Flags().Changed("nodes") || c.Flags().Changed(m.workloads) || c.Flags().Changed("topology")
			if node == "" && !flagsSet {
				node, topoFile = vmIdentity()
			}
			if node != "" && topoFile == "" {
				if _, err := os.Stat(topologyFile); err == nil {
					topoFile = topologyFile
				}
			}
			o := topo.Options{Lab: name, Mode: m.name, Nodes: int(nodes), Workloads: int(count),
				File: topoFile, WorkloadsF: "--" + m.workloads, Node: node,
				NodesSet: c.Flags().Changed("nodes"), WorkloadsSet: c.Flags().Changed(m.workloads)}
			fill(&o)
			t, err := topo.Resolve(o)
			if err != nil {
				return err
			}
			if !t.Embedded {
				if err := lab.CheckHost(t); err != nil {
					return err
				}
			}
			return up(c, t, m.plan(t), runMode, m.verb)
		},
	}
	nodes, count = 2, 2
	c.Flags().Var(&nodes, "nodes", fmt.Sprintf("number of nodes (1-%d)", topo.MaxNodes))
	c.Flags().Var(&count, m.workloads, fmt.Sprintf("%s per node (1-%d)", m.workloads, topo.MaxWorkloads))
	c.Flags().StringVar(&topoFile, "topology", "", "topology file (YAML or JSON) instead of --nodes/--"+m.workloads)
	c.Flags().StringVar(&node, "node", "", "build only this node's share, on this machine's own network stack (a VM)")
	if m.flags != nil {
		fill = m.flags(c)
	}
	return c
}

// dockerFlags are docker-mode's own: --userland-proxy, daemon.json's
// "userland-proxy".
func dockerFlags(c *cobra.Command) func(o *topo.Options) {
	var proxy bool
	c.Flags().BoolVar(&proxy, "userland-proxy", true, "Docker's userland-proxy: true (its default) runs docker-proxy on the published port; false catches everything with rules (hairpin, route_localnet)")
	return func(o *topo.Options) {
		if c.Flags().Changed("userland-proxy") {
			o.UserlandProxy = &proxy
		}
	}
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
	if !runtimeEmbedded {
		return fmt.Errorf("this netlab was built without cgo, so it cannot run the containers' processes: install gcc and rebuild (make build)")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	lk, err := state.Acquire(t.Lab, c.ErrOrStderr())
	if err != nil {
		return err
	}
	defer func() {
		if !inventory.Running(t.Lab) {
			lk.Remove() // a failed up rolled back: not even its lock stays
		}
		lk.Release()
	}()
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
