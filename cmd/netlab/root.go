package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
)

// globals are the flags every verb takes.
type globals struct {
	lab     labValue
	dryRun  bool
	explain bool
	// namespace is kubectl's -n of the verbs that name Kubernetes objects.
	namespace string
}

// labValue is --lab: a name, and whether it was given at all, so that
// --lab "" (an unset shell variable, say) is bad input rather than "every
// lab".
type labValue struct {
	name string
	set  bool
}

func (v *labValue) String() string { return v.name }
func (v *labValue) Type() string   { return "string" }
func (v *labValue) Set(s string) error {
	v.name, v.set = s, true
	return nil
}

// chosen returns the lab --lab names, checked, or "" when --lab is not
// given.
func (g *globals) chosen() (string, error) {
	if !g.lab.set {
		return "", nil
	}
	if err := names.CheckLabName(g.lab.name); err != nil {
		return "", usagef("%v", err)
	}
	return g.lab.name, nil
}

// decimal is an int flag in plain decimal: pflag's IntVar also takes 0x10
// and 010, which nobody counting containers means.
type decimal int

func (d *decimal) String() string { return strconv.Itoa(int(*d)) }
func (d *decimal) Type() string   { return "int" }
func (d *decimal) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || strings.TrimLeft(s, "-+0123456789") != "" {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*d = decimal(n)
	return nil
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "netlab",
		Short: "Build container networking for real, in the kernel, and compare the Docker and Kubernetes models",
		Long: `netlab builds container networking labs for real, in the Linux kernel:
network namespaces, veth pairs, bridges, routes and iptables rules.

  sudo netlab docker-mode      the Docker model: docker0, containers, NAT, a published port
  sudo netlab overlay-mode     the Kubernetes model: pod CIDRs, cni0, VXLAN between nodes, no NAT
  sudo netlab compare          both models asked the same questions with real packets
  sudo netlab trace pod1 pod3  one packet's walk, hop by hop, confirmed by a real packet
  sudo netlab exercise list    the workshop's exercises: broken labs, checked with real packets
  sudo netlab status           what is up (--json for scripts)
  sudo netlab exec c1 -- ping -c1 172.17.0.3
  sudo netlab down             remove everything the lab made, and nothing else

Add --dry-run to see the equivalent ip/iptables/sysctl commands without
changing anything, or --explain to see each command as it runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q: 'netlab --help' lists them", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	root.PersistentFlags().Var(&g.lab, "lab", "lab name (default: the mode's name, e.g. docker)")
	root.PersistentFlags().BoolVar(&g.dryRun, "dry-run", false, "print the equivalent commands, change nothing")
	root.PersistentFlags().BoolVar(&g.explain, "explain", false, "print each command as it runs")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c.HasParent() {
			return usagef("%v (see '%s --help')", err, c.CommandPath())
		}
		return usagef("%v (see 'netlab --help')", err)
	})
	for _, m := range lab.Modes() {
		root.AddCommand(newModeCmd(g, m))
	}
	root.AddCommand(newStatus(g), newCompare(g), newTrace(g), newExercise(g), newApply(g), newGet(g), newDelete(g), newRollout(g), newScale(g), newSet(g), newTraffic(g), newDNSServer(g), newDockerDNS(g), newAPIServer(g), newController(g), newExec(g), newCapture(g), newDiagram(g), newWeb(g), newNetpol(g), newExplain(g), newDown(g))
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// mode returns the runner mode the flags ask for.
func (g *globals) mode() (netops.Mode, error) {
	switch {
	case g.dryRun && g.explain:
		return 0, usagef("--dry-run and --explain do not go together: one changes nothing, the other changes the kernel")
	case g.dryRun:
		return netops.DryRun, nil
	case g.explain:
		return netops.Explain, nil
	}
	return netops.Apply, nil
}

// labName returns --lab, or def, checked.
func (g *globals) labName(def string) (string, error) {
	name, err := g.chosen()
	if err != nil || name != "" {
		return name, err
	}
	return def, nil
}

// needRoot refuses to go on without root, naming the verb to rerun.
func needRoot(verb string) error {
	if os.Geteuid() != 0 {
		return usagef("netlab %s needs root: run 'sudo netlab %s' (network namespaces, and netlab's run directory, are root's)", verb, verb)
	}
	return nil
}

// noArgs rejects stray arguments with a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("netlab %s takes no arguments, got %q (see 'netlab %s --help')", c.Name(), args, c.Name())
	}
	return nil
}

// labFlag is the --lab flag a command needs to reach lab name of mode: none
// for the mode's default lab.
func labFlag(name, mode string) string {
	if name == mode {
		return ""
	}
	return fmt.Sprintf(" --lab %s", name)
}
