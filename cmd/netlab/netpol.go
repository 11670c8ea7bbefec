package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"netlab/kube"
)

func newNetpol(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "netpol",
		Short: "NetworkPolicy: probe who reaches whom, as Kubernetes' e2e tests do",
	}
	c.AddCommand(newNetpolProbe(g))
	return c
}

// probeReport is netpol probe --json.
type probeReport struct {
	Cells       []kube.Cell      `json:"cells"`
	Differences int              `json:"differences"`
	Ports       []kube.ProbePort `json:"ports"`
	// Skipped are the probe pods of other machines, which ask from there.
	Skipped []string `json:"skipped,omitempty"`
	// Made are the probe's objects this run applied.
	Made []string `json:"made,omitempty"`
}

func newNetpolProbe(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "probe [--json]",
		Short: "Every probe pod asks every other on 80 and 81, TCP and UDP: the policies' table beside the packets'",
		Long: `Probe the lab's NetworkPolicies as Kubernetes' e2e network policy tests and
cyclonus do. The probe's namespaces x, y and z (labelled ns=x...) and pods
a, b and c in each (labelled pod=a...) are made if missing; each pod serves
ports 80 and 81 over TCP and UDP (containers cont-80-tcp ... with ports
named serve-80-tcp ...). Every pod then asks every pod on each port, with
real connections and datagrams.

For each port it prints the table the policies call for (computed by
netlab's own evaluator from the objects, never from the rules) and the one
the packets made: a row is the client, a column the server, '.' allowed,
'X' denied. Then the cells that differ, and why the policies decide as
they do. It exits 1 when any cell differs.`,
		Example: "  sudo netlab netpol probe\n  sudo netlab apply -f examples/netpol/deny-all.yaml && sudo netlab netpol probe",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if g.dryRun {
				return usagef("netpol probe sends packets: it has no --dry-run")
			}
			return withCluster(g, c, "netpol probe", func(ctx context.Context, cl *kube.Cluster) error {
				return runProbe(ctx, c, cl, asJSON)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the cells as JSON: {\"cells\":[{\"from\":\"x/a\",\"to\":\"y/b\",\"port\":80,\"protocol\":\"TCP\",\"expected\":true,\"observed\":true}, ...]}")
	return c
}

// runProbe makes what the probe lacks, probes, and prints the tables (or
// the JSON); a difference is exit 1.
func runProbe(ctx context.Context, c *cobra.Command, cl *kube.Cluster, asJSON bool) error {
	var rep probeReport
	missing, err := cl.ProbeMissing()
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		objs, err := cl.Plan(missing)
		if err != nil {
			return err
		}
		said, err := cl.Apply(ctx, objs)
		rep.Made = said
		keepWatching(c, cl)
		if err := interrupted(ctx, cl, err); err != nil {
			return err
		}
	}
	cells, skipped, err := cl.Probe(ctx, kube.ProbePorts)
	if err != nil {
		return err
	}
	rep.Cells, rep.Skipped, rep.Ports = cells, skipped, kube.ProbePorts
	diffs := kube.Differences(cells)
	rep.Differences = len(diffs)
	if asJSON {
		if err := writeJSON(c.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		printProbe(c.OutOrStdout(), rep, diffs, len(cl.Store.Policies))
	}
	if len(diffs) > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// printProbe prints, for each port, the expected and observed tables
// side by side, then the differences.
func printProbe(w io.Writer, rep probeReport, diffs []kube.Cell, policies int) {
	if len(rep.Made) > 0 {
		fmt.Fprintf(w, "Made what the probe lacked: %d objects (namespaces x, y, z labelled ns=x...; pods a, b, c in each, labelled pod=a...).\n\n", len(rep.Made))
	}
	keys := kube.ProbeKeys()
	cell := map[string]kube.Cell{}
	for _, c := range rep.Cells {
		cell[fmt.Sprintf("%s %s %d/%s", c.From, c.To, c.Port, c.Protocol)] = c
	}
	count := fmt.Sprintf("%d NetworkPolicies", policies)
	if policies == 1 {
		count = "1 NetworkPolicy"
	}
	fmt.Fprintf(w, "%s. Rows ask, columns answer: '.' allowed, 'X' denied, '?' not asked from here.\n", count)
	grid := func(pp kube.ProbePort, observed bool) []string {
		head := "     "
		for _, k := range keys {
			head += fmt.Sprintf(" %-3s", k)
		}
		lines := []string{head}
		for _, from := range keys {
			l := fmt.Sprintf("%-5s", from)
			for _, to := range keys {
				c, ok := cell[fmt.Sprintf("%s %s %s", from, to, pp)]
				v := c.Expected
				if observed {
					v = c.Observed
				}
				mark := map[bool]string{true: ".", false: "X"}[v]
				if !ok {
					mark = "?"
				} else if observed && c.Observed != c.Expected {
					mark += "!"
				}
				l += fmt.Sprintf(" %-3s", mark)
			}
			lines = append(lines, l)
		}
		return lines
	}
	for _, pp := range rep.Ports {
		exp, obs := grid(pp, false), grid(pp, true)
		fmt.Fprintf(w, "\nport %-8s %-37s    %s\n", pp, "expected (the policies)", "observed (the packets; ! differs)")
		for i := range exp {
			fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-50s %s", exp[i], obs[i]), " "))
		}
	}
	fmt.Fprintln(w)
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(w, "Not asked from here (their pods run on another machine: probe there too): %s\n", strings.Join(rep.Skipped, ", "))
	}
	if len(diffs) == 0 {
		fmt.Fprintf(w, "All %d cells as the policies say.\n", len(rep.Cells))
		return
	}
	fmt.Fprintf(w, "%d of %d cells differ from what the policies say:\n", len(diffs), len(rep.Cells))
	for i, d := range diffs {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more (--json lists them all)\n", len(diffs)-20)
			break
		}
		exp := map[bool]string{true: "allowed", false: "denied"}
		fmt.Fprintf(w, "  %s -> %s %d/%s: expected %s, observed %s", d.From, d.To, d.Port, d.Protocol, exp[d.Expected], exp[d.Observed])
		if d.Error != "" {
			fmt.Fprintf(w, " (%s)", d.Error)
		}
		if d.Why != "" {
			fmt.Fprintf(w, ": %s", d.Why)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Next: 'sudo netlab trace' one of them, or read the node's rules: 'ip netns exec <lab>-node1 iptables-save -t filter | grep KUBE-'.")
}
