package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netlab/internal/lab"
	"netlab/internal/netops"
	"netlab/internal/state"
)

func newCapture(g *globals) *cobra.Command {
	var count int
	duration := seconds(10 * time.Second)
	var write string
	c := &cobra.Command{
		Use:   "capture WHERE [--count N] [--duration D] [--write FILE.pcap] [-- FILTER...]",
		Short: "tcpdump in the right namespace: a node's underlay, NODE:IFACE, a container or pod, or the underlay switch",
		Long: `Capture packets where they pass, with tcpdump in the right namespace:

  NODE          the node's underlay interface (eth1)
  NODE:IFACE    any interface of the node (docker0, cni0, flannel.1, veth-c1, ...)
  c1, pod1      a container's or pod's eth0
  outside       the outside host's eth1
  underlay      the switch between the hosts (embedded labs)

On an underlay of the Kubernetes model's VXLAN backend, packets to UDP 8472
are decoded as VXLAN (tcpdump -T vxlan): the outer and the inner headers are
both shown. A capture always stops by itself: after --count packets or
--duration, whichever comes first. --write saves it for Wireshark instead.`,
		Example: "  sudo netlab capture node1                     # VXLAN between nodes, outer and inner\n  sudo netlab capture pod1 -- icmp\n  sudo netlab capture node1:docker0 --count 4\n  sudo netlab capture underlay --write lab.pcap",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			chosen, err := g.chosen()
			if err != nil {
				return err
			}
			if count < 1 || count > 100000 {
				return usagef("--count %d: from 1 to 100000 packets", count)
			}
			if duration <= 0 || time.Duration(duration) > time.Hour {
				return usagef("--duration %s: more than 0 and at most an hour", duration.String())
			}
			if err := needRoot("capture"); err != nil {
				return err
			}
			// What follows WHERE is tcpdump's filter expression, never its
			// options: '-- -Z root -w F -G 1 -z script' once ran a script.
			for _, a := range args[1:] {
				if strings.HasPrefix(a, "-") {
					return usagef("%q: what follows -- is a filter (tcpdump's expression, e.g. 'icmp' or 'port 8472'), not an option: netlab's own flags go before --", a)
				}
			}
			if strings.HasPrefix(write, "-") {
				return usagef("--write %q: a file name (a path not starting with '-')", write)
			}
			ns, iface, s, err := captureWhere(chosen, args[0])
			if err != nil {
				return err
			}
			argv := []string{"tcpdump", "-n", "-l", "-i", iface, "-c", fmt.Sprint(count)}
			if s != nil && iface != "eth0" {
				argv = append(argv, lab.ViewOf(s).Decode(s)...)
			}
			if write != "" {
				argv = append(argv, "-w", write)
			}
			if len(args) > 1 {
				argv = append(append(argv, "--"), args[1:]...)
			}
			full := argv
			if ns != netops.Host {
				full = append([]string{"ip", "netns", "exec", string(ns)}, argv...)
			}
			if g.explain || g.dryRun {
				fmt.Fprintln(c.ErrOrStderr(), "+ "+joinQuoted(full))
				if g.dryRun {
					return nil
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(duration))
			defer cancel()
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			cmd := exec.CommandContext(ctx, full[0], full[1:]...)
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // tcpdump then says what it caught
			cmd.WaitDelay = 2 * time.Second
			cmd.Stdout, cmd.Stderr = c.OutOrStdout(), c.ErrOrStderr()
			cmd.Env = append(os.Environ(), "LC_ALL=C")
			if err := cmd.Run(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("tcpdump in %s on %s: %w", nsLabel(ns), iface, err)
			}
			return nil
		},
	}
	c.Flags().IntVar(&count, "count", 10, "stop after this many packets")
	c.Flags().Var(&duration, "duration", "stop after this long: seconds (10), or a duration (1m30s)")
	c.Flags().StringVar(&write, "write", "", "write the packets to this pcap file (for Wireshark) instead of printing them")
	return c
}

func nsLabel(ns netops.NS) string {
	if ns == netops.Host {
		return "this machine"
	}
	return string(ns)
}

// captureWhere finds the namespace and interface of WHERE, and the lab's
// state when WHERE carries the lab's own traffic between hosts.
func captureWhere(chosen, where string) (netops.NS, string, *state.State, error) {
	name, iface, hasIface := strings.Cut(where, ":")
	if hasIface && iface == "" {
		return "", "", nil, usagef("%s: give an interface after the colon, e.g. node1:eth1", where)
	}
	if name == "underlay" {
		s, err := underlayLab(chosen)
		if err != nil {
			return "", "", nil, err
		}
		if !hasIface {
			iface = "br-underlay"
		}
		return s.Topology.UnderlayNetns(), iface, s, nil
	}
	s, ns, w, err := findName(chosen, name)
	if err != nil {
		return "", "", nil, err
	}
	if w != nil {
		if !hasIface {
			iface = "eth0"
		}
		return ns, iface, nil, nil // inside a workload: its own packets, no tunnel
	}
	if !hasIface {
		iface = "eth1"
		for _, n := range s.Topology.Nodes {
			if n.Name == name {
				iface = n.Iface
			}
		}
	}
	return ns, iface, s, nil
}

// underlayLab is the one embedded lab whose underlay switch to capture on.
func underlayLab(chosen string) (*state.State, error) {
	labs := state.StateLabs()
	if chosen != "" {
		labs = []string{chosen}
	}
	var found []*state.State
	for _, l := range labs {
		if s, err := state.Load(l); err == nil && s.Topology.Embedded {
			found = append(found, s)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, usagef("several labs have an underlay switch: say which with --lab")
	}
	return nil, usagef("no embedded lab is up to capture its underlay (on a real node, capture NODE)")
}

// seconds is a duration flag that takes plain seconds (10) as well as Go's
// durations (1m30s).
type seconds time.Duration

func (d *seconds) String() string { return time.Duration(*d).String() }
func (d *seconds) Type() string   { return "duration" }
func (d *seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		// NaN, infinities and what overflows a duration are no length of
		// time; negative ones are refused by the verb, with its range.
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > float64(math.MaxInt64)/float64(time.Second) {
			return fmt.Errorf("%q is not seconds (10) or a duration (1m30s)", v)
		}
		*d = seconds(time.Duration(n * float64(time.Second)))
		return nil
	}
	t, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not seconds (10) or a duration (1m30s)", v)
	}
	*d = seconds(t)
	return nil
}
