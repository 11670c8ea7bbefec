package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/overlay"
)

// maxPictured is how many workloads per node the picture draws; the table
// in 'netlab status' lists them all.
const maxPictured = 4

// maxUpRows caps the table printed after up.
const maxUpRows = 16

// statusNode and statusWorkload are the JSON of 'netlab status --json' (a
// contract: scripts depend on these names).
type statusNode struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Netns is null for a peer node of a real one: another machine.
	Netns      *string `json:"netns"`
	UnderlayIP string  `json:"underlay_ip"`
	Iface      string  `json:"iface"`
	Local      bool    `json:"local"`
	Bridge     string  `json:"bridge,omitempty"`
	BridgeIP   string  `json:"bridge_ip,omitempty"`
	PodCIDR    string  `json:"pod_cidr,omitempty"`
	VTEP       string  `json:"vtep_ip,omitempty"`
	VTEPMAC    string  `json:"vtep_mac,omitempty"`
}

type statusWorkload struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Node       string   `json:"node"`
	Netns      string   `json:"netns"`
	IP         string   `json:"ip"`
	CIDR       string   `json:"cidr"`
	Iface      string   `json:"iface"`
	HostIface  string   `json:"host_iface"`
	Port       int      `json:"port"`
	Containers []string `json:"containers,omitempty"`
}

type statusPublished struct {
	Node       string `json:"node"`
	HostPort   int    `json:"host_port"`
	Workload   string `json:"workload"`
	TargetIP   string `json:"target_ip"`
	TargetPort int    `json:"target_port"`
	// UserlandProxy says docker-proxy listens on the port, as by Docker's
	// default.
	UserlandProxy bool `json:"userland_proxy"`
}

type statusDoc struct {
	Lab         string            `json:"lab"`
	Mode        string            `json:"mode"`
	Status      string            `json:"status"`
	Created     time.Time         `json:"created"`
	Embedded    bool              `json:"embedded"`
	Underlay    string            `json:"underlay"`
	Subnet      string            `json:"subnet,omitempty"`
	ClusterCIDR string            `json:"cluster_cidr,omitempty"`
	MTU         int               `json:"mtu,omitempty"`
	Nodes       []statusNode      `json:"nodes"`
	Workloads   []statusWorkload  `json:"workloads"`
	Published   []statusPublished `json:"published,omitempty"`
	// BrNetfilter says bridged packets pass iptables (br_netfilter).
	BrNetfilter bool `json:"br_netfilter"`
	// Hint says what to run when status is not "up": building,
	// interrupted, partial or damaged.
	Hint string `json:"hint,omitempty"`
	// Missing are the namespaces of the lab's plan that are gone.
	Missing []string `json:"missing,omitempty"`
}

// damagedJSON is the status of a lab whose objects are there but whose
// state file is missing or unreadable.
func damagedJSON(name string) statusDoc {
	return statusDoc{Lab: name, Status: lab.StatusDamaged, Nodes: []statusNode{}, Workloads: []statusWorkload{},
		Hint: fmt.Sprintf("its namespaces or processes are here but its state file is missing or unreadable (a crash?): remove it with 'sudo netlab down --lab %s'", name)}
}

// isOverlay reports whether s is a Kubernetes-model lab.
func isOverlay(s *lab.State) bool { return s.Mode == overlay.Mode }

// bridgeOf returns a node's workload bridge and its address with prefix.
func bridgeOf(s *lab.State, n lab.Node) (string, string) {
	t := s.Topology
	if isOverlay(s) {
		return t.Overlay.Bridge, netip.PrefixFrom(n.Gateway(), n.PodCIDR.Bits()).String()
	}
	return t.Docker.Bridge, netip.PrefixFrom(t.Docker.Gateway(), t.Docker.Subnet.Bits()).String()
}

func isLocal(t *lab.Topology, name string) bool {
	for _, n := range t.LocalNodes() {
		if n.Name == name {
			return true
		}
	}
	return false
}

func statusJSON(s *lab.State) statusDoc {
	t := s.Topology
	d := statusDoc{Lab: s.Lab, Mode: s.Mode, Status: s.Status, Created: s.Created, Embedded: t.Embedded, BrNetfilter: s.BrNetfilter,
		Underlay: t.Underlay.String(), Nodes: []statusNode{}, Workloads: []statusWorkload{}}
	if isOverlay(s) {
		d.ClusterCIDR, d.MTU = t.Overlay.ClusterCIDR.String(), t.MTU()
	} else {
		d.Subnet = t.Docker.Subnet.String()
	}
	for _, n := range t.Nodes {
		br, brIP := bridgeOf(s, n)
		sn := statusNode{Name: n.Name, Role: "node", UnderlayIP: n.IP.String(), Iface: n.Iface,
			Local: isLocal(t, n.Name), Bridge: br, BridgeIP: strings.Split(brIP, "/")[0]}
		if sn.Local {
			ns := string(n.NS)
			sn.Netns = &ns
		}
		if isOverlay(s) {
			sn.PodCIDR, sn.VTEP, sn.VTEPMAC = n.PodCIDR.String(), n.VTEP().String(), overlay.VTEPMAC(n.IP)
		} else if w, ok := firstOn(s, n.Name); ok {
			proxied := false
			for _, p := range s.Proxies {
				proxied = proxied || (p.Node == n.Name && p.HostPort == t.Docker.PublishPort)
			}
			d.Published = append(d.Published, statusPublished{Node: n.Name, HostPort: t.Docker.PublishPort,
				Workload: w.Name, TargetIP: w.IP.String(), TargetPort: t.Docker.TargetPort, UserlandProxy: proxied})
		}
		d.Nodes = append(d.Nodes, sn)
	}
	if t.Outside != nil {
		ns := string(t.Outside.NS)
		d.Nodes = append(d.Nodes, statusNode{Name: t.Outside.Name, Role: "outside", Netns: &ns,
			UnderlayIP: t.Outside.IP.String(), Iface: t.Outside.Iface, Local: true})
	}
	for _, w := range s.Workloads {
		d.Workloads = append(d.Workloads, statusWorkload{Name: w.Name, Kind: w.Kind, Node: w.Node, Netns: string(w.NS),
			IP: w.IP.String(), CIDR: netip.PrefixFrom(w.IP, w.Prefix).String(), Iface: "eth0", HostIface: w.HostIface,
			Port: w.Port, Containers: w.Containers})
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
	link := "a Vagrant-style private network"
	if !t.Embedded {
		link = "this VM's private network"
	}
	if isOverlay(s) {
		link += "; VXLAN between nodes on UDP " + fmt.Sprint(t.Overlay.Port)
	}
	fmt.Fprintf(w, "  ───┴──── underlay %s (%s) ────\n", t.Underlay, link)
	for i, n := range t.Nodes {
		last := i == len(t.Nodes)-1
		branch, stem := "├──", "│  "
		if last {
			branch, stem = "└──", "   "
		}
		ws := onNode(s, n.Name)
		br, brIP := bridgeOf(s, n)
		fmt.Fprintf(w, "     %s %s  %s %s   %s %s", branch, n.Name, n.Iface, n.IP, br, brIP)
		switch {
		case !isLocal(t, n.Name):
			fmt.Fprintf(w, "   (a peer: built on its own machine)\n")
			continue
		case isOverlay(s):
			fmt.Fprintf(w, "   %s %s mtu %d", t.Overlay.Device, n.VTEP(), t.MTU())
		case len(ws) > 0:
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
			extra := ""
			if len(c.Containers) > 0 {
				extra = "  [" + strings.Join(c.Containers, " ") + "]"
			}
			fmt.Fprintf(w, "     %s   %s %-6s %s%s\n", stem, b, c.Name, c.IP, extra)
		}
		if len(shown) < len(ws) {
			fmt.Fprintf(w, "     %s   └── … %d more %ss, up to %s %s\n", stem, len(ws)-len(shown), ws[0].Kind, ws[len(ws)-1].Name, ws[len(ws)-1].IP)
		}
	}
}

// table lists hosts and workloads, at most max workload rows (0: all).
func table(w io.Writer, s *lab.State, max int) {
	t := s.Topology
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tKIND\tON\tADDRESS\tINTERFACES\tNETNS")
	for _, n := range t.Nodes {
		if !isLocal(t, n.Name) {
			continue
		}
		br, brIP := bridgeOf(s, n)
		ifs := fmt.Sprintf("%s, %s %s", n.Iface, br, strings.Split(brIP, "/")[0])
		if isOverlay(s) {
			ifs += fmt.Sprintf(", %s %s", t.Overlay.Device, n.VTEP())
		}
		ns := string(n.NS)
		if ns == "" {
			ns = "(this machine)"
		}
		fmt.Fprintf(tw, "  %s\tnode\t-\t%s/%d\t%s\t%s\n", n.Name, n.IP, t.Underlay.Bits(), ifs, ns)
	}
	if t.Outside != nil {
		fmt.Fprintf(tw, "  %s\toutside\t-\t%s/%d\t%s\t%s\n", t.Outside.Name, t.Outside.IP, t.Underlay.Bits(), t.Outside.Iface, t.Outside.NS)
	}
	for i, c := range s.Workloads {
		if max > 0 && i == max {
			fmt.Fprintf(tw, "  …\t%d more\t\t\t\t\n", len(s.Workloads)-max)
			break
		}
		br := t.Docker.Bridge
		if isOverlay(s) {
			br = t.Overlay.Bridge
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s/%d\teth0 ↔ %s on %s\t%s\n", c.Name, c.Kind, c.Node, c.IP, c.Prefix, c.HostIface, br, c.NS)
	}
	tw.Flush()
}

// kindOf names the lab's workloads: container or pod.
func kindOf(s *lab.State) string {
	if isOverlay(s) {
		return "pod"
	}
	return "container"
}

func modelName(s *lab.State) string {
	if isOverlay(s) {
		return "the Kubernetes model"
	}
	return "the Docker model"
}

func printStatus(w io.Writer, s *lab.State, status string) {
	fmt.Fprintf(w, "Lab %q (%s-mode, %s): %s since %s, %s, %s\n\n", s.Lab, s.Mode, modelName(s), status,
		s.Created.Local().Format("15:04:05"), plural(len(s.Topology.Nodes), "node"), plural(len(s.Workloads), kindOf(s)))
	picture(w, s)
	fmt.Fprintln(w)
	table(w, s, 0)
}

func printUp(w io.Writer, s *lab.State, took time.Duration) {
	t := s.Topology
	where := ""
	if !t.Embedded {
		where = fmt.Sprintf(", this machine as %s", t.Local)
	}
	fmt.Fprintf(w, "Lab %q is up: %s on %s, %s%s (%.1fs).\n\n", s.Lab, modelName(s), plural(len(t.Nodes), "node"),
		plural(len(s.Workloads), kindOf(s)), where, took.Seconds())
	picture(w, s)
	fmt.Fprintln(w)
	table(w, s, maxUpRows)
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
func built(s *lab.State) []string {
	t := s.Topology
	var ls []string
	if isOverlay(s) {
		o := t.Overlay
		ls = append(ls,
			fmt.Sprintf("a pod CIDR of its own (node K: %s's K-th /%d) behind %s, a bridge with its first address.", o.ClusterCIDR, o.SubnetLen, o.Bridge),
			"per pod: one network namespace shared by its containers (app on :"+fmt.Sprint(o.AppPort)+", and a sidecar that asks it over localhost);\n    in Kubernetes the pause container holds that namespace, here it is a named one (ip netns list).",
			fmt.Sprintf("%s: VXLAN, VNI %d, UDP %d on the underlay, learning off; per peer node a route, a permanent ARP and a permanent FDB entry.", o.Device, o.VNI, o.Port),
			fmt.Sprintf("MTU %d on %s and every pod: the underlay's %d less the 50 bytes of VXLAN headers.", t.MTU(), o.Device, t.UnderlayMTU),
			fmt.Sprintf("iptables: no NAT inside %s; MASQUERADE only for pods leaving it.", o.ClusterCIDR))
		if t.ChecksumFix != "" {
			ls = append(ls, "TX checksum offload is off on "+o.Device+" ("+t.ChecksumFix+": flannel#1279 drops such packets there).")
		}
	} else {
		ls = append(ls,
			fmt.Sprintf("%s, a Linux bridge with %s/%d: the same subnet on every host, as in Docker.", t.Docker.Bridge, t.Docker.Gateway(), t.Docker.Subnet.Bits()),
			fmt.Sprintf("per container: a network namespace, a veth pair (eth0 inside, veth-cN on %s), an address, a default route via %s.", t.Docker.Bridge, t.Docker.Gateway()),
			fmt.Sprintf("iptables: MASQUERADE for %s leaving the host; DNAT host:%d → first container:%d.", t.Docker.Subnet, t.Docker.PublishPort, t.Docker.TargetPort),
			dockerChains(t),
			proxyLine(t),
			"every container runs a web server on :80 that says who it is and who asked.")
	}
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

// proxyLine says how the published port serves what DNAT does not catch.
func proxyLine(t *lab.Topology) string {
	if t.Docker.UserlandProxy {
		return fmt.Sprintf("docker-proxy, Docker's userland proxy, listens on host:%d too: for the host's own 127.0.0.1 and containers of %s (they see %s).",
			t.Docker.PublishPort, t.Docker.Bridge, t.Docker.Gateway())
	}
	return fmt.Sprintf("no docker-proxy (--userland-proxy=false): rules catch it all, with hairpin on %s's ports and route_localnet; containers see their real clients, the host and a container to its own port see %s.",
		t.Docker.Bridge, t.Docker.Gateway())
}

// dockerChains says whose chains hold the Docker model's rules.
func dockerChains(t *lab.Topology) string {
	if t.Embedded {
		return "the chains and rules are dockerd's own (DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2), with its FORWARD policy DROP."
	}
	c := func(s string) string { return lab.ChainName(t.Lab, s) }
	return fmt.Sprintf("this machine's Docker chains are left alone: %s plays nat DOCKER, %s Docker's MASQUERADE, %s filter DOCKER and its FORWARD rules.",
		c("DNAT"), c("SNAT"), c("FWD"))
}

type step struct{ cmd, why string }

// nextSteps are commands worth trying, with the lab's real names.
func nextSteps(s *lab.State) []string {
	t := s.Topology
	lf := labFlag(s.Lab, s.Mode)
	local := t.LocalNodes()
	n1 := onNode(s, local[0].Name)
	var peer []lab.Workload
	var peerNode lab.Node
	for _, n := range t.Nodes {
		if n.Name != local[0].Name {
			peerNode, peer = n, onNode(s, n.Name)
			break
		}
	}
	cmd := func(format string, a ...any) string { return "sudo netlab" + lf + " " + fmt.Sprintf(format, a...) }
	var steps []step
	if isOverlay(s) {
		port := t.Overlay.AppPort
		if len(peer) > 0 {
			p := peer[0]
			if !t.Embedded {
				// The peer's pods are not in this machine's state.
				p = lab.Workload{Name: "a pod of " + peerNode.Name, IP: mustNth(peerNode.PodCIDR, 2)}
			}
			steps = append(steps,
				step{cmd("exec %s -- curl -s %s:%d", n1[0].Name, p.IP, port), fmt.Sprintf("%s on %s sees %s's own IP: no NAT", p.Name, peerNode.Name, n1[0].Name)},
				step{cmd("exec %s -- traceroute -n %s", n1[0].Name, p.IP), fmt.Sprintf("%s, %s's %s, then the pod", local[0].Gateway(), peerNode.Name, t.Overlay.Device)},
				step{cmd("exec %s -- tcpdump -ni %s -c4 -T vxlan udp port %d", local[0].Name, local[0].Iface, t.Overlay.Port), "VXLAN on the wire, while you ping (another terminal)"},
				step{cmd("exec %s -- curl -s %s:%d", local[0].Name, p.IP, port), "a node reaches any pod, untranslated"})
		}
		steps = append(steps, step{cmd("exec %s -c sidecar -- curl -s localhost:%d", n1[0].Name, port), "two containers of a pod share localhost"})
		if t.Outside != nil {
			steps = append(steps, step{cmd("exec %s -- curl -s %s", n1[0].Name, t.Outside.IP), "leaving the cluster: MASQUERADE to the node's address"})
		}
	} else {
		if len(n1) > 1 {
			steps = append(steps, step{cmd("exec %s -- ping -c1 %s", n1[0].Name, n1[1].IP),
				fmt.Sprintf("%s → %s on one host, straight across %s", n1[0].Name, n1[1].Name, t.Docker.Bridge)})
		}
		if t.Outside != nil {
			steps = append(steps,
				step{cmd("exec %s -- curl -s %s", n1[0].Name, t.Outside.IP), fmt.Sprintf("outside sees %s, not %s (MASQUERADE)", local[0].IP, n1[0].IP)},
				step{cmd("exec outside -- curl -s %s:%d", local[0].IP, t.Docker.PublishPort), fmt.Sprintf("published port → %s:%d (DNAT)", n1[0].Name, t.Docker.TargetPort)},
				step{cmd("exec %s -- traceroute -n %s", n1[0].Name, t.Outside.IP), fmt.Sprintf("first hop: %s", t.Docker.Gateway())})
		}
		if len(peer) > 0 && t.Embedded {
			steps = append(steps, step{cmd("exec %s -- curl -s %s", n1[0].Name, peer[len(peer)-1].IP),
				fmt.Sprintf("%s's address: on %s, a container of %s answers", peer[len(peer)-1].Name, local[0].Name, local[0].Name)})
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

func mustNth(p netip.Prefix, n uint64) netip.Addr {
	a, _ := ipam.Nth(p, n)
	return a
}

// plural says "1 host" or "2 hosts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
