package main

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"netlab/bridge"
	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/internal/topo"
)

func newDiagram(g *globals) *cobra.Command {
	var format, output string
	c := &cobra.Command{
		Use:   "diagram [--lab NAME] [--format svg|png|dot] [-o FILE]",
		Short: "Draw the running lab for slides (Graphviz): hosts, bridges, veth pairs, the tunnel or routes, addresses",
		Long: `Draw the running lab as a picture for slides, through Graphviz: the underlay
and the outside host, each node with its bridge and what joins the nodes
(the VXLAN tunnel, host-gw routes, or nothing), every container or pod with
its veth pair, its address and its namespace, and the published port.
'netlab status' keeps the terminal picture. dot prints the Graphviz source.`,
		Example: "  sudo netlab diagram --lab overlay -o overlay.svg\n  sudo netlab diagram --lab docker --format png -o docker.png",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			chosen, err := g.chosen()
			if err != nil {
				return err
			}
			if format != "svg" && format != "png" && format != "dot" {
				return usagef("--format %q: svg, png or dot", format)
			}
			if err := needRoot("diagram"); err != nil {
				return err
			}
			labs := state.StateLabs()
			if chosen != "" {
				labs = []string{chosen}
			}
			var s *state.State
			for _, l := range labs {
				if st, err := state.Load(l); err == nil {
					if s != nil {
						return usagef("several labs are up: pick one with --lab")
					}
					s = st
				}
			}
			if s == nil {
				if chosen != "" {
					return notUp(chosen)
				}
				return usagef("no lab is up: start one with 'sudo netlab docker-mode'")
			}
			src := dotSource(s)
			var out []byte
			if format == "dot" {
				out = []byte(src)
			} else {
				if _, err := exec.LookPath("dot"); err != nil {
					return fmt.Errorf("the dot command (Graphviz) is not installed: 'sudo apt-get install graphviz' (make deps installs it), or use --format dot")
				}
				cmd := exec.Command("dot", "-T"+format)
				cmd.Stdin = strings.NewReader(src)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if out, err = cmd.Output(); err != nil {
					return fmt.Errorf("dot -T%s: %v: %s", format, err, strings.TrimSpace(stderr.String()))
				}
			}
			var w io.Writer = c.OutOrStdout()
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			_, err = w.Write(out)
			if err == nil && output != "" {
				fmt.Fprintf(c.ErrOrStderr(), "Wrote %s (%s, lab %q).\n", output, format, s.Lab)
			}
			return err
		},
	}
	c.Flags().StringVar(&format, "format", "svg", "svg, png or dot (the Graphviz source)")
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return c
}

// blue is how what joins the nodes is drawn: the tunnel, host-gw's routes.
const blue = `style=dashed, color="#3366cc", fontcolor="#3366cc"`

// line6 is an IPv6 address or prefix on a line of its own under the IPv4
// one, in a dual-stack lab; "" else.
func line6[T interface {
	IsValid() bool
	String() string
}](a T) string {
	if !a.IsValid() {
		return ""
	}
	return "\n" + a.String()
}

// dotSource draws lab s in Graphviz's language: a cluster per node with its
// host (its underlay interface and routing table), its bridge and
// workloads (the lab's own and the pods of applied manifests), the
// tunnel's device apart from the bridge (it is no port of it), the
// underlay switch, the outside host, and what joins the nodes: the
// tunnel between the VXLAN devices, or host-gw's routes, one per
// direction, via the underlay. Edge labels sit beside their edges
// (xlabel), never under them.
func dotSource(s *state.State) string {
	t := s.Topology
	v := lab.ViewOf(s)
	var b strings.Builder
	q := func(x string) string {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(x, `"`, `\"`), "\n", `\n`) + `"`
	}
	fmt.Fprintf(&b, "digraph %s {\n", q(s.Lab))
	fmt.Fprintf(&b, "  label=%s; labelloc=t; fontsize=20; fontname=\"Helvetica\"; forcelabels=true;\n", q(fmt.Sprintf("netlab lab %s: %s", s.Lab, v.Model())))
	b.WriteString("  graph [rankdir=TB, nodesep=0.4, ranksep=0.6]; node [fontname=\"Helvetica\", shape=box, style=rounded]; edge [fontname=\"Helvetica\", dir=none];\n")
	fmt.Fprintf(&b, "  underlay [label=%s, shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\"];\n",
		q(fmt.Sprintf("underlay %s%s%s", t.Underlay, line6(t.Underlay6), v.Underlay(s))))
	if t.Outside != nil {
		fmt.Fprintf(&b, "  outside [label=%s];\n", q(fmt.Sprintf("outside\n%s %s%s\nnetns %s", t.Outside.Iface, t.Outside.IP, line6(t.Outside.IP6), t.Outside.NS)))
		fmt.Fprintf(&b, "  outside -> underlay;\n")
	}
	tunnel := s.Mode == topo.OverlayMode && t.Overlay.Backend != topo.HostGW
	applied := appliedPods(s)
	var routes []string // host-gw's route boxes, which lead into the underlay
	for _, n := range t.Nodes {
		br, brIP := bridgeOf(s, n)
		ns := string(n.NS)
		if ns == "" {
			ns = "this machine"
		}
		fmt.Fprintf(&b, "  subgraph %s {\n    label=%s; style=rounded;\n", q("cluster_"+n.Name), q(n.Name))
		fmt.Fprintf(&b, "    %s [label=%s];\n", q(n.Name+"/host"), q(fmt.Sprintf("%s\n%s %s%s\nnetns %s", n.Name, n.Iface, n.IP, line6(n.IP6), ns)))
		if !t.IsLocal(n.Name) {
			fmt.Fprintf(&b, "    %s [label=%s, style=dashed];\n", q(n.Name+"/peer"), q("a peer: another machine"))
			b.WriteString("  }\n")
			fmt.Fprintf(&b, "  %s -> underlay;\n", q(n.Name+"/host"))
			continue
		}
		detail := ""
		if !tunnel {
			detail = "\n" + strings.TrimSpace(v.NodeDetail(s, n))
		}
		// Docker's published port, on the bridge of the network it leads to.
		pubBridge := br
		if _, at, ok := bridge.Published(t, s.OnNode(n.Name)); s.Mode == topo.DockerMode && ok {
			pubBridge = at.Bridge
		}
		brDetail := detail
		if pubBridge != br {
			brDetail = ""
		}
		fmt.Fprintf(&b, "    %s [label=%s, style=\"rounded,filled\", fillcolor=\"#dde8ff\"];\n", q(n.Name+"/"+br), q(fmt.Sprintf("%s %s%s%s", br, brIP, line6(bridge6Of(s, n)), brDetail)))
		fmt.Fprintf(&b, "    %s -> %s;\n", q(n.Name+"/host"), q(n.Name+"/"+br))
		if tunnel {
			fmt.Fprintf(&b, "    %s [label=%s, style=\"rounded,filled\", fillcolor=\"#e6f4e6\"];\n", q(n.Name+"/tunnel"), q(strings.TrimSpace(v.NodeDetail(s, n))))
			fmt.Fprintf(&b, "    %s -> %s;\n", q(n.Name+"/host"), q(n.Name+"/tunnel"))
		}
		if s.Mode == topo.DockerMode {
			// Docker's user-defined networks: a bridge each.
			for _, nw := range t.Docker.Networks {
				label := fmt.Sprintf("%s (%s)\n%s/%d", nw.Bridge, nw.Name, nw.Gateway(), nw.Subnet.Bits())
				if nw.Internal {
					label += "\ninternal: no way out"
				}
				if nw.Bridge == pubBridge {
					label += detail
				}
				fmt.Fprintf(&b, "    %s [label=%s, style=\"rounded,filled\", fillcolor=\"#dde8ff\"];\n", q(n.Name+"/"+nw.Bridge), q(label))
				fmt.Fprintf(&b, "    %s -> %s;\n", q(n.Name+"/host"), q(n.Name+"/"+nw.Bridge))
			}
		}
		for _, w := range s.OnNode(n.Name) {
			extra := ""
			if len(w.Containers) > 0 {
				extra = "\n[" + strings.Join(w.Containers, " ") + "]"
			}
			switch owner, shared := strings.CutPrefix(w.Mode, topo.ModeContainer); {
			case w.Mode == topo.ModeHost:
				fmt.Fprintf(&b, "    %s [label=%s];\n", q(w.Name), q(fmt.Sprintf("%s %s\nnetwork host: %s's own stack\nport %d", w.Kind, w.Name, n.Name, w.Port)))
				fmt.Fprintf(&b, "    %s -> %s [style=dashed, xlabel=\"its namespace\", fontsize=10];\n", q(n.Name+"/host"), q(w.Name))
			case w.Mode == topo.ModeNone:
				fmt.Fprintf(&b, "    %s [label=%s];\n", q(w.Name), q(fmt.Sprintf("%s %s\nnetwork none: lo alone\nnetns %s", w.Kind, w.Name, w.NS)))
			case shared:
				fmt.Fprintf(&b, "    %s [label=%s];\n", q(w.Name), q(fmt.Sprintf("%s %s\nin %s's namespace\nport %d", w.Kind, w.Name, owner, w.Port)))
				fmt.Fprintf(&b, "    %s -> %s [style=dashed, xlabel=\"shares its netns\", fontsize=10];\n", q(owner), q(w.Name))
			case len(w.Networks) > 0:
				var ifs []string
				for _, a := range w.Networks {
					ifs = append(ifs, fmt.Sprintf("%s %s/%d (%s)", a.Dev, a.IP, a.Prefix, a.Network))
				}
				fmt.Fprintf(&b, "    %s [label=%s];\n", q(w.Name), q(fmt.Sprintf("%s %s\n%s\nnetns %s", w.Kind, w.Name, strings.Join(ifs, "\n"), w.NS)))
				for _, a := range w.Networks {
					fmt.Fprintf(&b, "    %s -> %s [xlabel=%s, fontsize=10];\n", q(n.Name+"/"+a.Bridge), q(w.Name), q(a.HostIface+" ↔ "+a.Dev))
				}
			default:
				fmt.Fprintf(&b, "    %s [label=%s];\n", q(w.Name), q(fmt.Sprintf("%s %s\neth0 %s/%d%s\nnetns %s%s", w.Kind, w.Name, w.IP, w.Prefix, line6(netip.PrefixFrom(w.IP6, w.Prefix6)), w.NS, extra)))
				fmt.Fprintf(&b, "    %s -> %s [xlabel=%s, fontsize=10];\n", q(n.Name+"/"+br), q(w.Name), q(w.HostIface+" ↔ eth0"))
			}
		}
		for _, p := range applied {
			if p.Node != n.Name {
				continue
			}
			id := "pod/" + p.Namespace + "/" + p.Name
			fmt.Fprintf(&b, "    %s [label=%s, style=\"rounded,dashed\"];\n", q(id), q(fmt.Sprintf("pod %s/%s\neth0 %s\nnetns %s", p.Namespace, p.Name, p.IP, p.NS)))
			fmt.Fprintf(&b, "    %s -> %s [xlabel=%s, fontsize=10];\n", q(n.Name+"/"+br), q(id), q(p.HostIface+" ↔ eth0"))
		}
		if !tunnel {
			// host-gw: a route per peer node, to its pods via its
			// underlay address, out this node's underlay interface.
			for _, peer := range t.Nodes {
				if peer.Name == n.Name || !t.IsLocal(peer.Name) || v.Join(s, n, peer) == "" {
					continue
				}
				id := n.Name + "/route/" + peer.Name
				fmt.Fprintf(&b, "    %s [label=%s, %s];\n", q(id), q(fmt.Sprintf("route to %s's pods\n%s dev %s", peer.Name, v.Join(s, n, peer), n.Iface)), blue)
				fmt.Fprintf(&b, "    %s -> %s [dir=forward, %s];\n", q(n.Name+"/host"), q(id), blue)
				routes = append(routes, id)
			}
		}
		b.WriteString("  }\n")
		fmt.Fprintf(&b, "  %s -> underlay [xlabel=%s];\n", q(n.Name+"/host"), q(n.Iface))
	}
	for _, id := range routes {
		fmt.Fprintf(&b, "  %s -> underlay [dir=forward, %s];\n", q(id), blue)
	}
	// The tunnel: every node's VXLAN device into it, over the underlay.
	if tunnel {
		o := t.Overlay
		fmt.Fprintf(&b, "  tunnel [label=%s, %s];\n", q(fmt.Sprintf("VXLAN tunnel: VNI %d, UDP %d,\ncarried over the underlay between the nodes' %s", o.VNI, o.Port, o.Device)), blue)
		for _, n := range t.Nodes {
			if t.IsLocal(n.Name) {
				fmt.Fprintf(&b, "  %s -> tunnel [dir=both, %s];\n", q(n.Name+"/tunnel"), blue)
			}
		}
	}
	b.WriteString("}\n")
	return b.String()
}
