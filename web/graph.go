// Package web serves 'netlab web': a live view of the running labs for a
// projector. The page draws each lab as a graph (positions computed here,
// from the topology, so that it reads like the terminal picture), colours
// every link by the traffic it carries (read from the kernel's counters,
// once a second, sent as server-sent events), and runs trace and compare
// on request.
package web

import (
	"fmt"
	"strings"

	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
)

// Element is a node or an edge of the graph, as Cytoscape.js takes it.
type Element struct {
	Group    string    `json:"group"` // nodes or edges
	Data     Data      `json:"data"`
	Position *Position `json:"position,omitempty"`
	Classes  string    `json:"classes,omitempty"`
}

// Data is an element's data: what it is, and for a link, whose counters
// tell its traffic (Netns and Iface, as in the events).
type Data struct {
	ID     string `json:"id"`
	Label  string `json:"label,omitempty"`
	Kind   string `json:"kind"` // lab, underlay, outside, node, peer, bridge, vtep, workload; link, tunnel, route
	Lab    string `json:"lab"`
	Netns  string `json:"netns,omitempty"`
	Iface  string `json:"iface,omitempty"`
	Source string `json:"source,omitempty"`
	Target string `json:"target,omitempty"`
	// Name is what trace takes for a workload, node or the outside host.
	Name string `json:"name,omitempty"`
	IP   string `json:"ip,omitempty"`
}

// Position is where an element sits, in the page's units.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Layout sizes: a lab is a band this tall, nodes this far apart.
const (
	bandHeight = 560.0
	nodeGap    = 440.0
	podGap     = 150.0
)

// Graph draws every lab, one band each, top to bottom: the underlay (or
// the wire, on a real node) and the outside host on top, each node below
// it with its bridge (and flannel.1), its workloads under the bridge.
// Every link element names the counters (namespace, interface) that tell
// its traffic.
func Graph(states []*state.State) []Element {
	out := []Element{}
	for i, s := range states {
		out = append(out, labGraph(s, float64(i)*bandHeight)...)
	}
	return out
}

func labGraph(s *state.State, top float64) []Element {
	t := s.Topology
	v := lab.ViewOf(s)
	id := func(parts ...string) string { return s.Lab + "/" + strings.Join(parts, "/") }
	var els []Element
	node := func(d Data, x, y float64, classes string) {
		d.Lab = s.Lab
		els = append(els, Element{Group: "nodes", Data: d, Position: &Position{X: x, Y: y}, Classes: classes})
	}
	edge := func(d Data, classes string) {
		d.Lab = s.Lab
		d.ID = d.Source + "--" + d.Target
		els = append(els, Element{Group: "edges", Data: d, Classes: classes})
	}
	width := nodeGap * float64(len(t.Nodes)-1)
	node(Data{ID: id("title"), Kind: "lab", Label: fmt.Sprintf("lab %s: %s", s.Lab, v.Model())}, width/2, top-30, "title")
	underlay := id("underlay")
	label := "underlay " + t.Underlay.String()
	if !t.Embedded {
		label = "the VMs' network " + t.Underlay.String()
	}
	node(Data{ID: underlay, Kind: "underlay", Label: label}, width/2, top+40, "underlay")
	if o := t.Outside; o != nil && t.Embedded {
		node(Data{ID: id("outside"), Kind: "outside", Name: o.Name, Netns: string(o.NS), IP: o.IP.String(),
			Label: fmt.Sprintf("outside\n%s %s", o.Iface, o.IP)}, width/2+370, top+40, "host")
		edge(Data{Kind: "link", Source: id("outside"), Target: underlay, Netns: string(o.NS), Iface: o.Iface}, "")
	}
	pods := kubePods(s)
	for i, n := range t.Nodes {
		x := float64(i) * nodeGap
		host := id(n.Name)
		local := t.IsLocal(n.Name)
		if !local {
			node(Data{ID: host, Kind: "peer", Name: n.Name, IP: n.IP.String(),
				Label: fmt.Sprintf("%s\n%s %s\nanother machine", n.Name, n.Iface, n.IP)}, x, top+140, "peer")
			edge(Data{Kind: "link", Source: host, Target: underlay}, "")
			continue
		}
		node(Data{ID: host, Kind: "node", Name: n.Name, Netns: string(n.NS), IP: n.IP.String(),
			Label: fmt.Sprintf("%s\n%s %s", n.Name, n.Iface, n.IP)}, x, top+140, "host")
		edge(Data{Kind: "link", Source: host, Target: underlay, Netns: string(n.NS), Iface: n.Iface}, "")
		br, brIP := v.Bridge(s, n)
		bridge := id(n.Name, br)
		bx := x
		if s.Mode == topo.OverlayMode && t.Overlay.Backend == topo.VXLAN {
			bx = x - 85
			vtep := id(n.Name, "flannel.1")
			node(Data{ID: vtep, Kind: "vtep", Netns: string(n.NS), Iface: "flannel.1", Label: fmt.Sprintf("flannel.1\n%s", n.VTEP())}, x+125, top+250, "vtep")
			edge(Data{Kind: "link", Source: host, Target: vtep, Netns: string(n.NS), Iface: "flannel.1"}, "")
		}
		node(Data{ID: bridge, Kind: "bridge", Netns: string(n.NS), Iface: br, Label: fmt.Sprintf("%s %s", br, brIP)}, bx, top+250, "bridge")
		edge(Data{Kind: "link", Source: host, Target: bridge, Netns: string(n.NS), Iface: br}, "")
		type wl struct{ name, ns, ip, label, veth string }
		var ws []wl
		for _, w := range s.OnNode(n.Name) {
			ws = append(ws, wl{w.Name, string(w.NS), w.IP.String(), fmt.Sprintf("%s\n%s", w.Name, w.IP), w.HostIface})
		}
		for _, p := range pods[n.Name] {
			ws = append(ws, wl{p.Name, string(p.NS), p.IP.String(), fmt.Sprintf("%s\n%s", shortPod(p.Name), p.IP), p.HostIface})
		}
		for k, w := range ws {
			wx := bx + (float64(k)-float64(len(ws)-1)/2)*podGap
			wy := top + 380
			if len(ws) > 3 { // two rows, so that pods of neighbours do not overlap
				wx = bx + (float64(k/2)-float64((len(ws)-1)/2)/2)*podGap
				wy += float64(k%2) * 70
			}
			wid := id("w", w.name)
			node(Data{ID: wid, Kind: "workload", Name: w.name, Netns: w.ns, IP: w.ip, Label: w.label}, wx, wy, "workload")
			// The veth pair: its end on the bridge, and eth0 in the workload.
			edge(Data{Kind: "link", Source: bridge, Target: wid, Netns: w.ns, Iface: "eth0", Label: w.veth + " ↔ eth0"}, "veth")
		}
		for _, p := range s.Proxies {
			if p.Node == n.Name {
				node(Data{ID: id(n.Name, "port", fmt.Sprint(p.HostPort)), Kind: "port",
					Label: fmt.Sprintf(":%d → %s:%d", p.HostPort, p.Target, p.TargetPort)}, x-205, top+140, "port")
			}
		}
	}
	// What joins the nodes' workloads: the VXLAN tunnel, or host-gw's routes.
	for i, a := range t.Nodes {
		for _, b := range t.Nodes[i+1:] {
			if !t.IsLocal(a.Name) && !t.IsLocal(b.Name) {
				continue
			}
			join := v.Join(s, a, b)
			if join == "" {
				continue
			}
			d := Data{Kind: "route", Source: id(a.Name), Target: id(b.Name), Label: join}
			if s.Mode == topo.OverlayMode && t.Overlay.Backend == topo.VXLAN && t.IsLocal(a.Name) && t.IsLocal(b.Name) {
				// The tunnel's traffic is what a's flannel.1 counts.
				short, _, _ := strings.Cut(join, ":") // "VXLAN VNI 1, UDP 8472"
				d = Data{Kind: "tunnel", Source: id(a.Name, "flannel.1"), Target: id(b.Name, "flannel.1"), Label: short, Netns: string(a.NS), Iface: "flannel.1"}
			}
			edge(d, d.Kind)
		}
	}
	return els
}

// kubePods are the lab's pods of Deployments and Pods (netlab apply) on
// this machine, per node.
func kubePods(s *state.State) map[string][]kube.Pod {
	out := map[string][]kube.Pod{}
	st, err := kube.LoadStore(s.Lab)
	if err != nil {
		return out
	}
	for _, p := range st.Pods {
		if p.System == "" && s.Topology.IsLocal(p.Node) {
			out[p.Node] = append(out[p.Node], p)
		}
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
