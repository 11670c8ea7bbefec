package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"netlab/internal/api"
	"netlab/internal/topo"
)

func newExplain(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "explain svc/NAME [-n NAMESPACE] [--json]",
		Short: "Show one Service's rules in kube-proxy's two modes, iptables and nftables, step by step",
		Long: `Show what kube-proxy writes for one Service, in its iptables mode (KUBE-SERVICES,
KUBE-SVC-…, KUBE-SEP-… chains) and in its nftables mode (table kube-proxy: the
verdict map service-ips, a service- chain with numgen, endpoint- chains), side by
side, step by step: find the Service by its ClusterIP, protocol and port, mark what
must be masqueraded, choose an endpoint at random, DNAT to it. The lab's own mode
(overlay-mode --proxy-mode) is the one loaded on every node; the other is what
that mode would write for the same Service and endpoints.`,
		Example: "  sudo netlab explain svc/my-service\n  sudo netlab explain svc/kube-dns -n kube-system --json",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("explain takes one Service: svc/NAME")
			}
			kind, name, ok := strings.Cut(args[0], "/")
			if k, known := kubeKind(kind); !ok || !known || k != "service" || name == "" {
				return usagef("%q: explain takes a Service as svc/NAME", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := needRoot("explain"); err != nil {
				return err
			}
			ns, err := g.ns()
			if err != nil {
				return err
			}
			cl, done, err := openCluster(g, c, false)
			if err != nil {
				return err
			}
			defer done()
			_, name, _ := strings.Cut(args[0], "/")
			ports, err := cl.ExplainService(ns, name)
			if err != nil {
				return err
			}
			e := api.Explain{Version: api.Version, Lab: cl.S.Lab, Service: ns + "/" + name, ProxyMode: cl.S.Topology.Overlay.Proxy(), Ports: ports}
			if asJSON {
				return writeJSON(c.OutOrStdout(), e)
			}
			renderExplain(c.OutOrStdout(), e)
			return nil
		},
	}
	namespaceFlag(g, c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the steps and rules as JSON")
	return c
}

// renderExplain prints each port's steps, each with both modes' rules.
func renderExplain(w io.Writer, e api.Explain) {
	other := topo.ProxyNFTables
	if e.ProxyMode == topo.ProxyNFTables {
		other = topo.ProxyIPTables
	}
	for i, p := range e.Ports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		eps := "no endpoint"
		if len(p.Endpoints) > 0 {
			eps = plural(len(p.Endpoints), "endpoint") + ": " + strings.Join(p.Endpoints, " ")
		}
		fmt.Fprintf(w, "Service %s, port %d/%s: ClusterIP %s, %s\n", p.Port, p.ServicePort, p.Protocol, p.ClusterIP, eps)
		if i == 0 {
			fmt.Fprintf(w, "Lab %s runs kube-proxy in %s mode: its rules below are on every node now; the %s ones are what\n--proxy-mode %s would write for the same Service.\n", e.Lab, e.ProxyMode, other, other)
		}
		for j, s := range p.Steps {
			fmt.Fprintf(w, "\n%d. %s\n", j+1, s.Step)
			for _, m := range []struct {
				mode, why string
				rules     []string
			}{{topo.ProxyIPTables, s.IPTablesWhy, s.IPTables}, {topo.ProxyNFTables, s.NFTablesWhy, s.NFTables}} {
				label := m.mode
				if m.mode == e.ProxyMode {
					label += " *"
				}
				first := true
				line := func(text string) {
					if first {
						fmt.Fprintf(w, "   %-11s %s\n", label, text)
						first = false
						return
					}
					fmt.Fprintf(w, "   %-11s %s\n", "", text)
				}
				if m.why != "" {
					line("(" + m.why + ")")
				}
				for _, r := range m.rules {
					line(r)
				}
			}
		}
	}
	fmt.Fprintf(w, "\n* the lab's mode. Next:\n")
	if len(e.Ports) > 0 {
		p := e.Ports[0]
		lab := labFlag(e.Lab, "overlay")
		fmt.Fprintf(w, "  sudo netlab%s trace pod1 %s --port %d    # a real packet through these rules, confirmed\n", lab, p.ClusterIP, p.ServicePort)
		if e.ProxyMode == topo.ProxyNFTables {
			fmt.Fprintf(w, "  sudo netlab%s exec node1 -- nft list table ip kube-proxy\n", lab)
		} else {
			fmt.Fprintf(w, "  sudo netlab%s exec node1 -- iptables-save -t nat\n", lab)
		}
	}
}
