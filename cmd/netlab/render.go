package main

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"netlab/internal/api"
	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
	"netlab/overlay"
)

// maxPictured is how many workloads per node the picture draws; the table
// in 'netlab status' lists them all.
const maxPictured = 4

// maxUpRows caps the table printed after up.
const maxUpRows = 16

// damagedJSON is the status of a lab whose objects are there but whose
// state file is missing or unreadable.
func damagedJSON(name string) api.Status {
	return api.Status{Version: api.Version, Lab: name, Status: inventory.StatusDamaged, Nodes: []api.Node{}, Workloads: []api.Workload{},
		Hint: fmt.Sprintf("its namespaces or processes are here but its state file is missing or unreadable (a crash?): remove it with 'sudo netlab down --lab %s'", name)}
}

// bridge6Of is a node's workload bridge's IPv6 address with its prefix, in
// a dual-stack lab (docker0's, or cni0's); the zero Prefix else.
func bridge6Of(s *state.State, n topo.Node) netip.Prefix {
	t := s.Topology
	switch {
	case !t.IPv6:
		return netip.Prefix{}
	case s.Mode == topo.DockerMode:
		return netip.PrefixFrom(t.Docker.Gateway6(), t.Docker.Subnet6.Bits())
	}
	return netip.PrefixFrom(n.Gateway6(), n.PodCIDR6.Bits())
}

// bridgeOf returns a node's workload bridge and its address with prefix.
func bridgeOf(s *state.State, n topo.Node) (string, string) {
	br, p := lab.ViewOf(s).Bridge(s, n)
	return br, p.String()
}

// statusJSON is a lab in status --json: what every lab has, and its
// model's own part.
func statusJSON(s *state.State) api.Status {
	t := s.Topology
	d := api.Status{Version: api.Version, Lab: s.Lab, Mode: s.Mode, Status: s.Status, Created: s.Created, Embedded: t.Embedded, BrNetfilter: s.BrNetfilter,
		Underlay: t.Underlay.String(), Nodes: []api.Node{}, Workloads: []api.Workload{}, IPv6: t.IPv6}
	if t.IPv6 {
		d.Underlay6 = t.Underlay6.String()
	}
	for _, n := range t.Nodes {
		br, brIP := bridgeOf(s, n)
		sn := api.Node{Name: n.Name, Role: "node", UnderlayIP: n.IP.String(), Iface: n.Iface,
			Local: t.IsLocal(n.Name), Bridge: br, BridgeIP: strings.Split(brIP, "/")[0]}
		if sn.Local {
			ns := string(n.NS)
			sn.Netns = &ns
		}
		if n.IP6.IsValid() {
			sn.UnderlayIP6 = n.IP6.String()
		}
		d.Nodes = append(d.Nodes, sn)
	}
	if t.Outside != nil {
		ns := string(t.Outside.NS)
		o := api.Node{Name: t.Outside.Name, Role: "outside", Netns: &ns,
			UnderlayIP: t.Outside.IP.String(), Iface: t.Outside.Iface, Local: true}
		if t.Outside.IP6.IsValid() {
			o.UnderlayIP6 = t.Outside.IP6.String()
		}
		d.Nodes = append(d.Nodes, o)
	}
	for _, w := range s.Workloads {
		aw := api.Workload{Name: w.Name, Kind: w.Kind, Node: w.Node, Netns: string(w.NS),
			Iface: "eth0", HostIface: w.HostIface, Port: w.Port, Containers: w.Containers, NetworkMode: w.Mode, Aliases: w.Aliases}
		if w.IP.IsValid() { // a Docker container of network none has no address
			aw.IP, aw.CIDR = w.IP.String(), netip.PrefixFrom(w.IP, w.Prefix).String()
		}
		if w.IP6.IsValid() {
			aw.IP6, aw.CIDR6 = w.IP6.String(), netip.PrefixFrom(w.IP6, w.Prefix6).String()
		}
		for _, a := range w.Networks {
			aw.Networks = append(aw.Networks, api.Attachment{Network: a.Network, Iface: a.Dev, IP: a.IP.String(),
				CIDR: netip.PrefixFrom(a.IP, a.Prefix).String(), Bridge: a.Bridge, HostIface: a.HostIface})
		}
		d.Workloads = append(d.Workloads, aw)
	}
	lab.ViewOf(s).Status(s, &d)
	return d
}

// appliedPods are the pods of a lab's store on this machine's nodes: what
// 'netlab apply' made and the cluster DNS, by node then name (none in the
// Docker model, or before anything was applied).
func appliedPods(s *state.State) []kube.Pod {
	if s.Mode != overlay.Mode {
		return nil
	}
	st, err := kube.LoadStore(s.Lab)
	if err != nil {
		return nil
	}
	var out []kube.Pod
	for _, p := range st.Pods {
		if s.Topology.IsLocal(p.Node) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// addPods lists applied pods among a status's workloads, after the
// topology's.
func addPods(d *api.Status, s *state.State, pods []kube.Pod) {
	for _, p := range pods {
		ready := p.Ready
		w := api.Workload{Name: p.Name, Kind: "pod", Node: p.Node, Netns: string(p.NS), IP: p.IP.String(), CIDR: podCIDROf(s, p),
			Iface: "eth0", HostIface: p.HostIface, Applied: true, Namespace: p.Namespace, Owner: ownerName(p), System: p.System, Ready: &ready}
		if p.IP6.IsValid() {
			w.IP6 = p.IP6.String()
			for _, n := range s.Topology.Nodes {
				if n.Name == p.Node {
					w.CIDR6 = netip.PrefixFrom(p.IP6, n.PodCIDR6.Bits()).String()
				}
			}
		}
		for i, c := range p.Template.Containers {
			if i == 0 {
				w.Port = c.ServePort()
			}
			w.Containers = append(w.Containers, c.Name)
		}
		d.Workloads = append(d.Workloads, w)
	}
}

// podCIDROf is an applied pod's address with its node's pod prefix.
func podCIDROf(s *state.State, p kube.Pod) string {
	for _, n := range s.Topology.Nodes {
		if n.Name == p.Node {
			_, br := lab.ViewOf(s).Bridge(s, n)
			return netip.PrefixFrom(p.IP, br.Bits()).String()
		}
	}
	return p.IP.String() + "/32"
}

// ownerName is the name of a pod's Deployment, in the pod's namespace.
func ownerName(p kube.Pod) string {
	_, name, ok := strings.Cut(p.Owner, "/")
	if !ok {
		return p.Owner
	}
	return name
}

// podWhat says whose an applied pod is, for the picture and the table.
func podWhat(p kube.Pod) string {
	switch {
	case p.System == "dns":
		return "cluster DNS, " + p.Namespace
	case p.Owner != "":
		return "Deployment " + ownerName(p)
	}
	return "Pod, " + p.Namespace
}

// picture draws the lab as a small tree, the way the packets see it.
func picture(w io.Writer, s *state.State, pods []kube.Pod) {
	t := s.Topology
	if t.Outside != nil {
		fmt.Fprintf(w, "  outside %s%s  (plays the rest of the world)\n", t.Outside.IP, also6(t.Outside.IP6))
		fmt.Fprintf(w, "     │\n")
	}
	link := "a Vagrant-style private network"
	if !t.Embedded {
		link = "this VM's private network"
	}
	link += lab.ViewOf(s).Underlay(s)
	under := t.Underlay.String()
	if t.IPv6 {
		under += " and " + t.Underlay6.String()
	}
	fmt.Fprintf(w, "  ───┴──── underlay %s (%s) ────\n", under, link)
	for i, n := range t.Nodes {
		last := i == len(t.Nodes)-1
		branch, stem := "├──", "│  "
		if last {
			branch, stem = "└──", "   "
		}
		ws := s.OnNode(n.Name)
		br, brIP := bridgeOf(s, n)
		fmt.Fprintf(w, "     %s %s  %s %s   %s %s", branch, n.Name, n.Iface, n.IP, br, brIP)
		if !t.IsLocal(n.Name) {
			fmt.Fprintf(w, "   (a peer: built on its own machine)\n")
			continue
		}
		fmt.Fprintln(w, lab.ViewOf(s).NodeDetail(s, n))
		type row struct{ name, ip, extra string }
		var rows []row
		for _, c := range ws {
			extra := ""
			if len(c.Containers) > 0 {
				extra = "  [" + strings.Join(c.Containers, " ") + "]"
			}
			rows = append(rows, row{c.Name, c.IP.String() + also6(c.IP6), extra})
		}
		for _, p := range pods {
			if p.Node == n.Name {
				rows = append(rows, row{p.Name, p.IP.String(), "  (" + podWhat(p) + ")"})
			}
		}
		shown := rows
		if len(shown) > maxPictured {
			shown = shown[:maxPictured-1]
		}
		for j, r := range shown {
			b := "├──"
			if j == len(shown)-1 && len(shown) == len(rows) {
				b = "└──"
			}
			fmt.Fprintf(w, "     %s   %s %-6s %s%s\n", stem, b, r.name, r.ip, r.extra)
		}
		if len(shown) < len(rows) {
			last := rows[len(rows)-1]
			fmt.Fprintf(w, "     %s   └── … %d more %ss, up to %s %s\n", stem, len(rows)-len(shown), kindOf(s), last.name, last.ip)
		}
	}
}

// table lists hosts and workloads, then applied pods, at most max
// workload rows (0: all).
func table(w io.Writer, s *state.State, pods []kube.Pod, max int) {
	t := s.Topology
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "  NAME\tKIND\tON\tADDRESS\t"
	if t.IPv6 {
		head += "IPV6\t"
	}
	fmt.Fprintln(tw, head+"INTERFACES\tNETNS")
	// col6 is a row's IPv6 column, in a dual-stack lab.
	col6 := func(a netip.Addr, bits int) string {
		switch {
		case !t.IPv6:
			return ""
		case !a.IsValid():
			return "-\t"
		}
		return netip.PrefixFrom(a, bits).String() + "\t"
	}
	for _, n := range t.Nodes {
		if !t.IsLocal(n.Name) {
			continue
		}
		br, brIP := bridgeOf(s, n)
		ifs := fmt.Sprintf("%s, %s %s", n.Iface, br, strings.Split(brIP, "/")[0]) + lab.ViewOf(s).NodeInterfaces(s, n)
		ns := string(n.NS)
		if ns == "" {
			ns = "(this machine)"
		}
		fmt.Fprintf(tw, "  %s\tnode\t-\t%s/%d\t%s%s\t%s\n", n.Name, n.IP, t.Underlay.Bits(), col6(n.IP6, t.Underlay6.Bits()), ifs, ns)
	}
	if t.Outside != nil {
		fmt.Fprintf(tw, "  %s\toutside\t-\t%s/%d\t%s%s\t%s\n", t.Outside.Name, t.Outside.IP, t.Underlay.Bits(), col6(t.Outside.IP6, t.Underlay6.Bits()), t.Outside.Iface, t.Outside.NS)
	}
	for i, c := range s.Workloads {
		if max > 0 && i == max {
			fmt.Fprintf(tw, "  …\t%d more\t\t\t\t\n", len(s.Workloads)-max)
			break
		}
		br, _ := bridgeOf(s, t.Nodes[0])
		addr, ifs := fmt.Sprintf("%s/%d", c.IP, c.Prefix), fmt.Sprintf("eth0 ↔ %s on %s", c.HostIface, br)
		switch {
		case c.Mode == "host":
			ifs = "network host: " + c.Node + "'s own"
		case c.Mode == "none":
			addr, ifs = "-", "network none: lo alone"
		case c.Mode != "":
			ifs = "network " + c.Mode + ": its namespace"
		case len(c.Networks) > 0:
			var each []string
			for _, a := range c.Networks {
				each = append(each, fmt.Sprintf("%s ↔ %s on %s (%s)", a.Dev, a.HostIface, a.Bridge, a.Network))
			}
			ifs = strings.Join(each, ", ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s%s\t%s\n", c.Name, c.Kind, c.Node, addr, col6(c.IP6, c.Prefix6), ifs, c.NS)
	}
	if max == 0 || len(s.Workloads) < max {
		for _, p := range pods {
			br, _ := bridgeOf(s, t.Nodes[0])
			fmt.Fprintf(tw, "  %s\tpod (%s)\t%s\t%s\t%seth0 ↔ %s on %s\t%s\n", p.Name, podWhat(p), p.Node, podCIDROf(s, p), col6(netip.Addr{}, 0), p.HostIface, br, p.NS)
		}
	}
	tw.Flush()
}

// also6 is " ADDRESS" for an IPv6 address beside an IPv4 one in the
// picture, "" for none.
func also6(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return " " + a.String()
}

// kindOf names the lab's workloads: container or pod.
func kindOf(s *state.State) string { return lab.ViewOf(s).Kind() }

func modelName(s *state.State) string { return lab.ViewOf(s).Model() }

// printStatus prints a lab's picture and table; summary (kubeSummary's
// line, or "") is passed in, so that printing never reads the run
// directory and a golden test of it never meets a lab a user has up.
func printStatus(w io.Writer, s *state.State, status, summary string, pods []kube.Pod) {
	fmt.Fprintf(w, "Lab %q (%s-mode, %s): %s since %s, %s, %s\n\n", s.Lab, s.Mode, modelName(s), status,
		s.Created.Local().Format("15:04:05"), plural(len(s.Topology.Nodes), "node"), plural(len(s.Workloads), kindOf(s)))
	picture(w, s, pods)
	fmt.Fprintln(w)
	table(w, s, pods, 0)
	if summary != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, summary)
	}
}

// kubeSummary says what manifests put into a lab, if any: the objects
// that 'netlab get' lists. It reads the lab's store; summarize says it.
func kubeSummary(s *state.State) string {
	if s.Mode != overlay.Mode {
		return ""
	}
	st, err := kube.LoadStore(s.Lab)
	if err != nil {
		return ""
	}
	return summarize(st, s.Topology.Embedded)
}

// summarize is kubeSummary's line for a store, "" when it holds nothing
// of the user's.
func summarize(st kube.Store, embedded bool) string {
	var svcs, pods int
	for _, x := range st.Services {
		if x.Namespace == "default" && x.System == "" {
			svcs++
		}
	}
	for _, p := range st.Pods {
		if p.Namespace == "default" {
			pods++
		}
	}
	if svcs+pods+len(st.Deployments) == 0 {
		return ""
	}
	line := fmt.Sprintf("Applied: %s, %s, %s, and the cluster DNS (netlab get pods -o wide; netlab get services).",
		plural(len(st.Deployments), "Deployment"), plural(svcs, "Service"), plural(pods, "pod"))
	if !embedded {
		line += fmt.Sprintf("\nCluster %s: every VM that ran the same commands shows the same (no control plane keeps them alike).", st.Fingerprint())
	}
	return line
}

func printUp(w io.Writer, s *state.State, took time.Duration) {
	t := s.Topology
	where := ""
	if !t.Embedded {
		where = fmt.Sprintf(", this machine as %s", t.Local)
	}
	fmt.Fprintf(w, "Lab %q is up: %s on %s, %s%s (%.1fs).\n\n", s.Lab, modelName(s), plural(len(t.Nodes), "node"),
		plural(len(s.Workloads), kindOf(s)), where, took.Seconds())
	picture(w, s, nil)
	fmt.Fprintln(w)
	table(w, s, nil, maxUpRows)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "What was built, on every node:")
	for _, l := range built(s) {
		fmt.Fprintln(w, "  • "+l)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Try next:")
	for _, l := range nextSteps(s) {
		fmt.Fprintln(w, l)
	}
}

// built says in plain words what the mode made.
func built(s *state.State) []string {
	t := s.Topology
	ls := lab.ViewOf(s).Built(s)
	if s.BrNetfilter {
		ls = append(ls, "br_netfilter is loaded here: packets between two ports of a bridge pass iptables too, as on a Docker host.")
	} else {
		ls = append(ls, "br_netfilter is not loaded here: packets between two ports of a bridge skip iptables (netlab loads no kernel module).")
	}
	if !t.Embedded {
		ls = append(ls, "forwarding is accepted by netlab's own chain (inserted first in FORWARD), so a FORWARD policy of DROP (Docker's) does not break it.")
		for _, h := range s.HostSysctls {
			if h.Was == h.Set {
				ls = append(ls, fmt.Sprintf("%s was already %s on this machine; netlab leaves it so.", h.Key, h.Set))
			} else {
				ls = append(ls, fmt.Sprintf("%s is now %s on this machine (it was %s): 'netlab down' of the last lab here puts it back.", h.Key, h.Set, h.Was))
			}
		}
	}
	return ls
}

// nextSteps are commands worth trying, with the lab's real names.
func nextSteps(s *state.State) []string {
	lf := labFlag(s.Lab, s.Mode)
	cmd := func(format string, a ...any) string { return "sudo netlab" + lf + " " + fmt.Sprintf(format, a...) }
	steps := append(lab.ViewOf(s).Steps(s, cmd), lab.Step{Cmd: "sudo netlab" + lf + " down", Why: "remove it all"})
	width := 0
	for _, st := range steps {
		width = max(width, len(st.Cmd))
	}
	var lines []string
	for _, st := range steps {
		lines = append(lines, fmt.Sprintf("  %-*s   # %s", width, st.Cmd, st.Why))
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
