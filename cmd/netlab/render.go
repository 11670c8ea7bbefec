package main

import (
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"
	"time"

	"netlab/internal/lab"
)

// maxPictured is how many workloads per node the picture draws; the table
// in 'netlab status' lists them all.
const maxPictured = 4

// maxUpRows caps the table printed after up.
const maxUpRows = 16

// statusNode and statusWorkload are the JSON of 'netlab status --json' (a
// contract: scripts depend on these names).
type statusNode struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Netns      string `json:"netns"`
	UnderlayIP string `json:"underlay_ip"`
	Iface      string `json:"iface"`
	Bridge     string `json:"bridge,omitempty"`
	BridgeIP   string `json:"bridge_ip,omitempty"`
}

type statusWorkload struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Node      string `json:"node"`
	Netns     string `json:"netns"`
	IP        string `json:"ip"`
	CIDR      string `json:"cidr"`
	Iface     string `json:"iface"`
	HostIface string `json:"host_iface"`
	Port      int    `json:"port"`
}

type statusPublished struct {
	Node       string `json:"node"`
	HostPort   int    `json:"host_port"`
	Workload   string `json:"workload"`
	TargetIP   string `json:"target_ip"`
	TargetPort int    `json:"target_port"`
}

type statusDoc struct {
	Lab       string            `json:"lab"`
	Mode      string            `json:"mode"`
	Status    string            `json:"status"`
	Created   time.Time         `json:"created"`
	Underlay  string            `json:"underlay"`
	Subnet    string            `json:"subnet,omitempty"`
	Nodes     []statusNode      `json:"nodes"`
	Workloads []statusWorkload  `json:"workloads"`
	Published []statusPublished `json:"published,omitempty"`
}

func statusJSON(s *lab.State) statusDoc {
	t := s.Topology
	d := statusDoc{Lab: s.Lab, Mode: s.Mode, Status: s.Status, Created: s.Created, Underlay: t.Underlay.String(),
		Nodes: []statusNode{}, Workloads: []statusWorkload{}}
	if s.Mode == "docker" {
		d.Subnet = t.Docker.Subnet.String()
	}
	for _, n := range t.Nodes {
		sn := statusNode{Name: n.Name, Role: "node", Netns: string(n.NS), UnderlayIP: n.IP.String(), Iface: n.Iface}
		if s.Mode == "docker" {
			sn.Bridge, sn.BridgeIP = t.Docker.Bridge, t.Docker.Gateway().String()
			if w, ok := firstOn(s, n.Name); ok {
				d.Published = append(d.Published, statusPublished{Node: n.Name, HostPort: t.Docker.PublishPort,
					Workload: w.Name, TargetIP: w.IP.String(), TargetPort: t.Docker.TargetPort})
			}
		}
		d.Nodes = append(d.Nodes, sn)
	}
	if t.Outside != nil {
		d.Nodes = append(d.Nodes, statusNode{Name: t.Outside.Name, Role: "outside", Netns: string(t.Outside.NS),
			UnderlayIP: t.Outside.IP.String(), Iface: t.Outside.Iface})
	}
	for _, w := range s.Workloads {
		d.Workloads = append(d.Workloads, statusWorkload{Name: w.Name, Kind: w.Kind, Node: w.Node, Netns: string(w.NS),
			IP: w.IP.String(), CIDR: netip.PrefixFrom(w.IP, w.Prefix).String(), Iface: "eth0", HostIface: w.HostIface, Port: w.Port})
	}
	return d
}

func firstOn(s *lab.State, node string) (lab.Workload, bool) {
	for _, w := range s.Workloads {
		if w.Node == node {
			return w, true
		}
	}
	return lab.Workload{}, false
}

func onNode(s *lab.State, node string) []lab.Workload {
	var ws []lab.Workload
	for _, w := range s.Workloads {
		if w.Node == node {
			ws = append(ws, w)
		}
	}
	return ws
}

// picture draws the lab as a small tree, the way the packets see it.
func picture(w io.Writer, s *lab.State) {
	t := s.Topology
	if t.Outside != nil {
		fmt.Fprintf(w, "  outside %s  (plays the rest of the world)\n", t.Outside.IP)
		fmt.Fprintf(w, "     │\n")
	}
	fmt.Fprintf(w, "  ───┴──── underlay %s (a Vagrant-style private network) ────\n", t.Underlay)
	for i, n := range t.Nodes {
		last := i == len(t.Nodes)-1
		branch, stem := "├──", "│  "
		if last {
			branch, stem = "└──", "   "
		}
		ws := onNode(s, n.Name)
		fmt.Fprintf(w, "     %s %s  %s %s   %s %s/%d", branch, n.Name, n.Iface, n.IP, t.Docker.Bridge, t.Docker.Gateway(), t.Docker.Subnet.Bits())
		if len(ws) > 0 {
			fmt.Fprintf(w, "   :%d → %s:%d", t.Docker.PublishPort, ws[0].Name, t.Docker.TargetPort)
		}
		fmt.Fprintln(w)
		shown := ws
		if len(shown) > maxPictured {
			shown = shown[:maxPictured-1]
		}
		for j, c := range shown {
			b := "├──"
			if j == len(shown)-1 && len(shown) == len(ws) {
				b = "└──"
			}
			fmt.Fprintf(w, "     %s   %s %-6s %s\n", stem, b, c.Name, c.IP)
		}
		if len(shown) < len(ws) {
			fmt.Fprintf(w, "     %s   └── … %d more containers, up to %s %s\n", stem, len(ws)-len(shown), ws[len(ws)-1].Name, ws[len(ws)-1].IP)
		}
	}
}

// table lists hosts and workloads, at most max workload rows (0: all).
func table(w io.Writer, s *lab.State, max int) {
	t := s.Topology
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tKIND\tON\tADDRESS\tINTERFACES\tNETNS")
	for _, h := range t.Nodes {
		fmt.Fprintf(tw, "  %s\tnode\t-\t%s/%d\t%s, %s %s\t%s\n", h.Name, h.IP, t.Underlay.Bits(), h.Iface, t.Docker.Bridge, t.Docker.Gateway(), h.NS)
	}
	if t.Outside != nil {
		fmt.Fprintf(tw, "  %s\toutside\t-\t%s/%d\t%s\t%s\n", t.Outside.Name, t.Outside.IP, t.Underlay.Bits(), t.Outside.Iface, t.Outside.NS)
	}
	for i, c := range s.Workloads {
		if max > 0 && i == max {
			fmt.Fprintf(tw, "  …\t%d more\t\t\t\t\n", len(s.Workloads)-max)
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s/%d\teth0 ↔ %s on %s\t%s\n", c.Name, c.Kind, c.Node, c.IP, c.Prefix, c.HostIface, t.Docker.Bridge, c.NS)
	}
	tw.Flush()
}

func printStatus(w io.Writer, s *lab.State) {
	fmt.Fprintf(w, "Lab %q (%s-mode): %s since %s, %s, %s\n\n", s.Lab, s.Mode, s.Status,
		s.Created.Local().Format("15:04:05"), plural(len(s.Topology.Nodes), "node"), plural(len(s.Workloads), "container"))
	picture(w, s)
	fmt.Fprintln(w)
	table(w, s, 0)
}

func printUp(w io.Writer, s *lab.State, took time.Duration) {
	t := s.Topology
	fmt.Fprintf(w, "Lab %q is up: the Docker model on %s, %s (%.1fs).\n\n", s.Lab, plural(len(t.Nodes), "host"), plural(len(s.Workloads), "container"), took.Seconds())
	picture(w, s)
	fmt.Fprintln(w)
	table(w, s, maxUpRows)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "What was built, on every host:")
	fmt.Fprintf(w, "  • %s, a Linux bridge with %s/%d: the same subnet on every host, as in Docker.\n", t.Docker.Bridge, t.Docker.Gateway(), t.Docker.Subnet.Bits())
	fmt.Fprintf(w, "  • per container: a network namespace, a veth pair (eth0 inside, veth-cN on %s), an address, a default route via %s.\n", t.Docker.Bridge, t.Docker.Gateway())
	fmt.Fprintf(w, "  • iptables: MASQUERADE for %s leaving the host; DNAT host:%d → first container:%d.\n", t.Docker.Subnet, t.Docker.PublishPort, t.Docker.TargetPort)
	fmt.Fprintln(w, "  • every container runs a web server on :80 that says who it is and who asked.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Try next:")
	for _, l := range nextSteps(s) {
		fmt.Fprintln(w, l)
	}
}

// nextSteps are commands worth trying, with the lab's real names.
func nextSteps(s *lab.State) []string {
	t := s.Topology
	lf := labFlag(s.Lab, s.Mode)
	n1 := onNode(s, t.Nodes[0].Name)
	type step struct{ cmd, why string }
	var steps []step
	if len(n1) > 1 {
		steps = append(steps, step{fmt.Sprintf("sudo netlab%s exec %s -- ping -c1 %s", lf, n1[0].Name, n1[1].IP),
			fmt.Sprintf("%s → %s on one host, straight across %s", n1[0].Name, n1[1].Name, t.Docker.Bridge)})
	}
	if t.Outside != nil {
		steps = append(steps,
			step{fmt.Sprintf("sudo netlab%s exec %s -- curl -s %s", lf, n1[0].Name, t.Outside.IP),
				fmt.Sprintf("outside sees %s, not %s (MASQUERADE)", t.Nodes[0].IP, n1[0].IP)},
			step{fmt.Sprintf("sudo netlab%s exec outside -- curl -s %s:%d", lf, t.Nodes[0].IP, t.Docker.PublishPort),
				fmt.Sprintf("published port → %s:%d (DNAT)", n1[0].Name, t.Docker.TargetPort)},
			step{fmt.Sprintf("sudo netlab%s exec %s -- traceroute -n %s", lf, n1[0].Name, t.Outside.IP),
				fmt.Sprintf("first hop: %s", t.Docker.Gateway())})
	}
	if len(t.Nodes) > 1 {
		n2 := onNode(s, t.Nodes[1].Name)
		if len(n2) > 0 {
			steps = append(steps, step{fmt.Sprintf("sudo netlab%s exec %s -- curl -s %s", lf, n1[0].Name, n2[len(n2)-1].IP),
				fmt.Sprintf("%s's address: on %s, a container of %s answers", n2[len(n2)-1].Name, t.Nodes[0].Name, t.Nodes[0].Name)})
		}
	}
	steps = append(steps, step{"sudo netlab" + lf + " down", "remove it all"})
	width := 0
	for _, st := range steps {
		width = max(width, len(st.cmd))
	}
	var lines []string
	for _, st := range steps {
		lines = append(lines, fmt.Sprintf("  %-*s   # %s", width, st.cmd, st.why))
	}
	return lines
}

// plural says "1 host" or "2 hosts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
