package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/netops"
)

func newDown(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove everything a lab made (every netlab lab without --lab), and nothing else",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			mode, err := g.mode()
			if err != nil {
				return err
			}
			chosen, err := g.chosen()
			if err != nil {
				return err
			}
			labs := []string{chosen}
			if chosen == "" {
				labs = inventory.Labs() // a scan of every namespace: only when asked for all
			}
			if mode != netops.DryRun {
				if err := needRoot("down"); err != nil {
					return err
				}
			}
			out := c.OutOrStdout()
			opts := lab.DownOptions{Mode: mode, Out: out}
			var errs []error
			total := 0
			for _, l := range labs {
				rm, err := lab.Remove(l, opts, c.ErrOrStderr())
				if err != nil {
					errs = append(errs, fmt.Errorf("lab %q: %w", l, err))
					continue
				}
				if rm.Namespaces+rm.Processes+rm.HostObjects == 0 {
					continue
				}
				total++
				if mode != netops.DryRun {
					fmt.Fprintf(out, "Removed lab %q: %d namespaces (with every interface, route and rule in them), %d processes",
						l, rm.Namespaces, rm.Processes)
					if rm.HostObjects > 0 {
						fmt.Fprintf(out, ", and %d links and rules of this machine's own", rm.HostObjects)
					}
					fmt.Fprintln(out, ".")
					for _, l := range rm.Host {
						fmt.Fprintln(out, "  "+l+".")
					}
				}
			}
			if total == 0 && len(errs) == 0 && mode != netops.DryRun {
				if chosen != "" {
					fmt.Fprintf(out, "Nothing to remove: lab %q is not up.\n", chosen)
				} else {
					fmt.Fprintln(out, "Nothing to remove: no netlab lab is up.")
				}
			}
			return errors.Join(errs...)
		},
	}
}
