package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"netlab/internal/api"
	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/kube"
	"netlab/overlay"
)

// labDocs reads every lab as it really is: its state file says what it
// should be, the kernel and /proc what is there. A lab whose state is
// unreadable has a nil state.
func labDocs(labs []string) ([]api.Status, []*state.State) {
	var docs []api.Status
	var states []*state.State
	for _, l := range labs {
		s, err := state.Load(l)
		if err != nil {
			if inventory.Running(l) {
				docs = append(docs, damagedJSON(l))
				states = append(states, nil)
			}
			continue
		}
		d := statusJSON(s)
		addPods(&d, s, appliedPods(s))
		h := inventory.Check(s)
		d.Status, d.Hint = h.Status, h.Hint
		for _, ns := range h.Missing {
			d.Missing = append(d.Missing, string(ns))
		}
		docs = append(docs, d)
		states = append(states, s)
	}
	return docs, states
}

func newStatus(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show what is up: a topology picture and a table (--json for scripts)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			chosen, err := g.chosen()
			if err != nil {
				return err
			}
			// The run directory is root's alone.
			if err := needRoot("status"); err != nil {
				return err
			}
			labs := inventory.Labs()
			if chosen != "" {
				labs = []string{chosen}
			}
			docs, states := labDocs(labs)
			out := c.OutOrStdout()
			if asJSON {
				// With --lab, the one lab's object; without, an array of
				// every lab's, in name order ([] when none is up).
				switch {
				case chosen == "" && docs == nil:
					return writeJSON(out, []api.Status{})
				case chosen == "":
					return writeJSON(out, docs)
				case len(docs) == 0:
					return notUp(chosen)
				}
				return writeJSON(out, docs[0])
			}
			if len(docs) == 0 {
				if chosen != "" {
					return notUp(chosen)
				}
				fmt.Fprintln(out, "No lab is up. Start one with: sudo netlab docker-mode")
				return nil
			}
			for i, d := range docs {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if states[i] == nil {
					fmt.Fprintf(out, "Lab %q: damaged: %s.\n", d.Lab, d.Hint)
					continue
				}
				printStatus(out, states[i], d.Status, kubeSummary(states[i]), appliedPods(states[i]))
				if states[i].Mode == overlay.Mode {
					if st, err := kube.LoadStore(d.Lab); err == nil {
						if exe, err := os.Executable(); err == nil {
							mendController(out, exe, d.Lab, len(st.Pods))
						}
					}
				}
				if d.Hint != "" {
					fmt.Fprintf(out, "\n%s: %s.\n", strings.ToUpper(d.Status[:1])+d.Status[1:], d.Hint)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return c
}

func notUp(name string) error {
	m := modeOf(name)
	return usagef("lab %q is not up: start it with 'sudo netlab %s%s'", name, m.Verb, labFlag(name, m.Name))
}

// modeOf guesses the mode that makes a lab of this name, for hints: the
// one whose default lab it is, else the first.
func modeOf(name string) lab.Mode {
	ms := lab.Modes()
	for _, m := range ms {
		if m.Name == name {
			return m
		}
	}
	return ms[0]
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
