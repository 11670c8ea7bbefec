// Package web serves 'netlab web': a live view of the running labs for a
// projector. The page draws one lab at a time as a graph (its elements
// come from here, with the node each belongs to; the page lays them out
// in columns to fit its screen), colours
// every link by the traffic it carries (read from the kernel's counters,
// once a second, sent as server-sent events), and runs trace and compare
// on request.
package web

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
)

// Element is a node or an edge of the graph, as Cytoscape.js takes it.
// The page lays the elements out itself, to fit the screen it is on.
type Element struct {
	Group   string `json:"group"` // nodes or edges
	Data    Data   `json:"data"`
	Classes string `json:"classes,omitempty"`
}

// Data is an element's data: what it is, and for a link, whose counters
// tell its traffic (Netns and Iface, as in the events).
type Data struct {
	ID     string `json:"id"`
	Label  string `json:"label,omitempty"`
	Kind   string `json:"kind"` // underlay, outside, node, peer, bridge, vtep, workload, port; link, tunnel, route
	Lab    string `json:"lab"`
	Netns  string `json:"netns,omitempty"`
	Iface  string `json:"iface,omitempty"`
	Source string `json:"source,omitempty"`
	Target string `json:"target,omitempty"`
	// Name is what trace takes for a workload, node or the outside host.
	Name string `json:"name,omitempty"`
	IP   string `json:"ip,omitempty"`
	// IP6 is its IPv6 address, in a dual-stack lab.
	IP6 string `json:"ip6,omitempty"`
	// Node is the node a bridge, device, port or workload is on: its
	// column in the picture.
	Node string `json:"node,omitempty"`
	// Group is a workload's group, which the picture may draw as one box
	// with a count when there is no room: "" for the lab's own containers
	// or pods, "deployment/NAME", "pod" (applied Pods), "dns".
	Group string `json:"group,omitempty"`
}

// Graph draws every lab: the underlay (or the wire, on a real node) and
// the outside host, each node with its bridge (and flannel.1), its
// workloads on the bridge, and what joins the nodes (the VXLAN tunnel, or
// host-gw's routes). Every link element names the counters (namespace,
// interface) that tell its traffic.
func Graph(states []*state.State) []Element {
	out := []Element{}
	for _, s := range states {
		out = append(out, labGraph(s)...)
	}
	return out
}

// str6 is an IPv6 address for Data.IP6: "" when there is none.
func str6(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// line6 is an IPv6 address on a line of its own under the IPv4 one in a
// label; "" when there is none.
func line6(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return "\n" + a.String()
}

func labGraph(s *state.State) []Element {
	t := s.Topology
	v := lab.ViewOf(s)
	id := func(parts ...string) string { return s.Lab + "/" + strings.Join(parts, "/") }
	var els []Element
	node := func(d Data, classes string) {
		d.Lab = s.Lab
		els = append(els, Element{Group: "nodes", Data: d, Classes: classes})
	}
	edge := func(d Data, classes string) {
		d.Lab = s.Lab
		d.ID = d.Source + "--" + d.Target
		els = append(els, Element{Group: "edges", Data: d, Classes: classes})
	}
	underlay := id("underlay")
	label := "underlay " + t.Underlay.String()
	if !t.Embedded {
		label = "the VMs' network " + t.Underlay.String()
	}
	node(Data{ID: underlay, Kind: "underlay", Label: label}, "underlay")
	if o := t.Outside; o != nil && t.Embedded {
		node(Data{ID: id("outside"), Kind: "outside", Name: o.Name, Netns: string(o.NS), IP: o.IP.String(), IP6: str6(o.IP6),
			Label: fmt.Sprintf("outside %s %s", o.Iface, o.IP)}, "host")
		edge(Data{Kind: "link", Source: id("outside"), Target: underlay, Netns: string(o.NS), Iface: o.Iface}, "")
	}
	pods := kubePods(s)
	vxlan := s.Mode == topo.OverlayMode && t.Overlay.Backend == topo.VXLAN
	for _, n := range t.Nodes {
		host := id(n.Name)
		if !t.IsLocal(n.Name) {
			node(Data{ID: host, Kind: "peer", Name: n.Name, IP: n.IP.String(), Node: n.Name,
				Label: fmt.Sprintf("%s · %s %s · another machine", n.Name, n.Iface, n.IP)}, "peer")
			edge(Data{Kind: "link", Source: host, Target: underlay}, "")
			continue
		}
		node(Data{ID: host, Kind: "node", Name: n.Name, Netns: string(n.NS), IP: n.IP.String(), IP6: str6(n.IP6), Node: n.Name,
			Label: fmt.Sprintf("%s · %s %s", n.Name, n.Iface, n.IP)}, "host")
		edge(Data{Kind: "link", Source: host, Target: underlay, Netns: string(n.NS), Iface: n.Iface}, "")
		br, brIP := v.Bridge(s, n)
		bridge := id(n.Name, br)
		if vxlan {
			vtep := id(n.Name, "flannel.1")
			node(Data{ID: vtep, Kind: "vtep", Netns: string(n.NS), Iface: "flannel.1", Node: n.Name, Label: fmt.Sprintf("flannel.1 %s", n.VTEP())}, "vtep")
			edge(Data{Kind: "link", Source: host, Target: vtep, Netns: string(n.NS), Iface: "flannel.1"}, "")
		}
		node(Data{ID: bridge, Kind: "bridge", Netns: string(n.NS), Iface: br, Node: n.Name, Label: fmt.Sprintf("%s %s", br, brIP)}, "bridge")
		edge(Data{Kind: "link", Source: host, Target: bridge, Netns: string(n.NS), Iface: br}, "")
		// Docker's user-defined networks: a bridge each.
		bridges := map[string]string{br: bridge}
		if s.Mode == topo.DockerMode {
			for _, nw := range t.Docker.Networks {
				b := id(n.Name, nw.Bridge)
				bridges[nw.Bridge] = b
				node(Data{ID: b, Kind: "bridge", Netns: string(n.NS), Iface: nw.Bridge, Node: n.Name,
					Label: fmt.Sprintf("%s %s/%d (%s)", nw.Bridge, nw.Gateway(), nw.Subnet.Bits(), nw.Name)}, "bridge")
				edge(Data{Kind: "link", Source: host, Target: b, Netns: string(n.NS), Iface: nw.Bridge}, "")
			}
		}
		type wl struct{ name, ns, ip, label, veth, group, ip6 string }
		var ws []wl
		for _, w := range s.OnNode(n.Name) {
			if w.Mode != "" || len(w.Networks) > 0 {
				dockerWorkload(node, edge, id, host, bridges, n.Name, w)
				continue
			}
			ws = append(ws, wl{w.Name, string(w.NS), w.IP.String(), fmt.Sprintf("%s\n%s%s", w.Name, w.IP, line6(w.IP6)), w.HostIface, "", str6(w.IP6)})
		}
		for _, p := range pods[n.Name] {
			group := "pod"
			switch {
			case p.System != "":
				group = p.System
			case p.Owner != "":
				_, name, _ := strings.Cut(p.Owner, "/")
				group = "deployment/" + name
			}
			short := shortPod(p.Name)
			if p.name != p.Name {
				short = p.Namespace + "/" + short
			}
			ws = append(ws, wl{p.name, string(p.NS), p.IP.String(), fmt.Sprintf("%s\n%s", short, p.IP), p.HostIface, group, str6(p.IP6)})
		}
		for _, w := range ws {
			wid := id("w", w.name)
			node(Data{ID: wid, Kind: "workload", Name: w.name, Netns: w.ns, IP: w.ip, IP6: w.ip6, Label: w.label, Node: n.Name, Group: w.group}, "workload")
			// The veth pair: its end on the bridge, and eth0 in the workload.
			edge(Data{Kind: "link", Source: bridge, Target: wid, Netns: w.ns, Iface: "eth0", Label: w.veth + " ↔ eth0", Node: n.Name}, "veth")
		}
		// The published port: one box, whether docker-proxy listens on it
		// once per address family or not (its IPv6 target, if any, too).
		ports := map[int][]string{}
		var order []int
		for _, p := range s.Proxies {
			if p.Node != n.Name || p.Reserve {
				continue
			}
			if _, seen := ports[p.HostPort]; !seen {
				order = append(order, p.HostPort)
			}
			// Its IPv4 target: the IPv6 one is the same container's.
			to := netip.AddrPortFrom(p.Target, uint16(p.TargetPort)).String()
			if p.Target.Is4() && !slices.Contains(ports[p.HostPort], to) {
				ports[p.HostPort] = append(ports[p.HostPort], to)
			}
		}
		for _, hp := range order {
			node(Data{ID: id(n.Name, "port", fmt.Sprint(hp)), Kind: "port", Node: n.Name,
				Label: fmt.Sprintf(":%d → %s", hp, strings.Join(ports[hp], ", "))}, "port")
		}
	}
	// What joins the nodes' workloads: the VXLAN tunnel, or host-gw's routes
	// (each node's route to the other's pods).
	for i, a := range t.Nodes {
		for _, b := range t.Nodes[i+1:] {
			if !t.IsLocal(a.Name) && !t.IsLocal(b.Name) {
				continue
			}
			join := v.Join(s, a, b)
			if join == "" {
				continue
			}
			if vxlan && t.IsLocal(a.Name) && t.IsLocal(b.Name) {
				// The tunnel's traffic is what a's flannel.1 counts.
				short, _, _ := strings.Cut(join, ":") // "VXLAN VNI 1, UDP 8472"
				d := Data{Kind: "tunnel", Source: id(a.Name, "flannel.1"), Target: id(b.Name, "flannel.1"), Label: short, Netns: string(a.NS), Iface: "flannel.1"}
				edge(d, "tunnel")
				continue
			}
			label := join
			if back := v.Join(s, b, a); !vxlan && back != "" {
				label = fmt.Sprintf("%s: %s\n%s: %s", a.Name, join, b.Name, back)
			}
			edge(Data{Kind: "route", Source: id(a.Name), Target: id(b.Name), Label: label}, "route")
		}
	}
	return els
}

// kubePods are the lab's pods of Deployments and Pods (netlab apply) and
// the cluster DNS on this machine, per node.
func kubePods(s *state.State) map[string][]namedPod {
	st, err := kube.LoadStore(s.Lab)
	if err != nil {
		return map[string][]namedPod{}
	}
	return podsByNode(s, st.Pods)
}

// namedPod is a pod and the name trace takes for it: NAMESPACE/NAME when
// another namespace has a pod of that name too (the probe's x/a, y/a),
// else its name.
type namedPod struct {
	kube.Pod
	name string
}

func podsByNode(s *state.State, pods []kube.Pod) map[string][]namedPod {
	count := map[string]int{}
	for _, p := range pods {
		count[p.Name]++
	}
	out := map[string][]namedPod{}
	for _, p := range pods {
		if !s.Topology.IsLocal(p.Node) {
			continue
		}
		np := namedPod{Pod: p, name: p.Name}
		if count[p.Name] > 1 {
			np.name = p.Namespace + "/" + p.Name
		}
		out[p.Node] = append(out[p.Node], np)
	}
	return out
}

// shortPod shortens a Deployment's pod name for the picture: the
// Deployment's name and the random suffix ("web-…-x7k2p").
func shortPod(name string) string {
	parts := strings.Split(name, "-")
	if len(parts) < 3 {
		return name
	}
	return strings.Join(parts[:len(parts)-2], "-") + "-…-" + parts[len(parts)-1]
}

// dockerWorkload draws a Docker container on user-defined networks (a
// veth from each network's bridge) or in a network mode: host (its node's
// stack), none (alone), container:NAME (NAME's namespace).
func dockerWorkload(node func(Data, string), edge func(Data, string), id func(...string) string, host string, bridges map[string]string, nodeName string, w state.Workload) {
	wid := id("w", w.Name)
	d := Data{ID: wid, Kind: "workload", Name: w.Name, Netns: string(w.NS), Node: nodeName}
	if w.IP.IsValid() {
		d.IP = w.IP.String()
	}
	switch owner, shared := strings.CutPrefix(w.Mode, topo.ModeContainer); {
	case w.Mode == topo.ModeHost:
		d.Label = w.Name + "\nnetwork host"
		node(d, "workload")
		edge(Data{Kind: "link", Source: host, Target: wid, Label: "its stack", Node: nodeName}, "")
	case w.Mode == topo.ModeNone:
		d.Label = w.Name + "\nnetwork none"
		node(d, "workload")
	case shared:
		d.Label = fmt.Sprintf("%s\nin %s's netns", w.Name, owner)
		node(d, "workload")
		edge(Data{Kind: "link", Source: id("w", owner), Target: wid, Label: "shares its netns", Node: nodeName}, "")
	default:
		var ips []string
		for _, a := range w.Networks {
			ips = append(ips, a.IP.String())
		}
		d.Label = w.Name + "\n" + strings.Join(ips, "\n")
		node(d, "workload")
		for _, a := range w.Networks {
			edge(Data{Kind: "link", Source: bridges[a.Bridge], Target: wid, Netns: string(w.NS), Iface: a.Dev, Label: a.HostIface + " ↔ " + a.Dev, Node: nodeName}, "veth")
		}
	}
}
