// Package compare asks the labs of each networking model the same
// questions with real packets (ping, traceroute, a TCP question to the
// workloads' web servers, a capture on the underlay, iperf3) and judges
// the seed's three Kubernetes requirements from the answers. Nothing in a
// cell is a constant: a lab broken by hand shows up as a changed cell.
package compare

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"netlab/internal/api"
	"netlab/internal/lab"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/trace"
)

// Row ids (a contract of compare --json).
const (
	SameNode      = "same_node"
	CrossNode     = "cross_node"
	SourceSeen    = "source_seen"
	NodeToRemote  = "node_to_remote_workload"
	OutsideToWork = "outside_to_workload"
	RoutedToWork  = "routed_to_workload"
	WorkToOutside = "workload_to_outside"
	NameLookup    = "name_lookup"
	SharedNetns   = "shared_namespace"
	Isolation     = "isolation"
	MTU           = "mtu"
	Encapsulation = "encapsulation"
	Throughput    = "throughput"
)

// Suffix6 ends the id of a row or verdict asked over IPv6, when every lab
// compared is dual-stack: cross_node_ipv6 (a contract of compare --json).
const Suffix6 = "_ipv6"

// Questions6 are the questions asked over IPv6 too, in a dual-stack
// comparison: those of addresses and packets (a name lookup, a shared
// namespace and the throughput are the same in either family).
var Questions6 = []string{SameNode, CrossNode, SourceSeen, NodeToRemote, OutsideToWork, RoutedToWork, WorkToOutside, MTU, Encapsulation}

// Verdict ids (a contract of compare --json).
const (
	NoNATWorkloads = "no_nat_workload_workload"
	NoNATNodes     = "no_nat_node_workload"
	SelfIP         = "self_ip_is_seen_ip"
)

// Questions are the rows, in the table's order.
var Questions = []struct{ ID, Text, Label string }{
	{SameNode, "a workload to another on the same node: reachable, round trip, hops", "same node"},
	{CrossNode, "a workload to one on another node, by its address: who answered, hops", "other node"},
	{SourceSeen, "the source address the workload on the other node saw, and whether it was translated", "source seen"},
	{NodeToRemote, "a node to a workload on another node (and that workload back to the node)", "node → workload"},
	{OutsideToWork, "the outside host to a workload: by its address, and by a published port or NodePort", "outside → workload"},
	{RoutedToWork, "the outside host, given a route to a workload's address via its node, to that address (the port it serves)", "routed → workload"},
	{WorkToOutside, "a workload to the outside host, and the address the outside saw", "workload → outside"},
	{NameLookup, "a workload looks a name up with the resolver its resolv.conf names: another container of its node (Docker), the Service kubernetes.default (Kubernetes)", "name lookup"},
	{SharedNetns, "two containers in one network namespace (Docker's --network container:NAME, a pod's containers): one's server at 127.0.0.1, and the processes there", "shared netns"},
	{Isolation, "isolation between workloads: two the lab keeps apart (Docker: containers of two networks on one node; Kubernetes: pods a NetworkPolicy denies), asked with a real connection, and the rule that drops it; else two that reach each other", "isolation"},
	{MTU, "the MTU of a workload's eth0, and the largest don't-fragment ping that crosses to the other node", "MTU"},
	{Encapsulation, "bytes of encapsulation around a packet on the underlay, captured on the node's underlay interface", "encapsulation"},
	{Throughput, "TCP throughput between workloads on different nodes (iperf3, 3 runs of 1 s: the median)", "throughput"},
}

// Requirements are the seed's three, as verdicts.
var Requirements = []struct{ ID, Text string }{
	{NoNATWorkloads, "containers can communicate with all other containers without NAT"},
	{NoNATNodes, "all nodes can communicate with all containers (and vice versa) without NAT"},
	{SelfIP, "the IP that a container sees itself as is the same IP that others see it as"},
}

// Column is one lab under a column's key (docker, kubernetes, hostgw).
type Column struct {
	Key   string
	State *state.State
}

// Options choose what to measure.
type Options struct {
	// Quick skips the throughput row.
	Quick bool
}

// subject is who plays which part in one column: a asks, b is on a's
// node, c is on another node (on a real node, maybe another machine).
type subject struct {
	col       Column
	s         *state.State
	a, b, c   *state.Workload
	node      topo.Node
	remote    *topo.Node
	outside   *topo.Host
	outsideNS netops.NS // "" when the outside host is another machine
	cLocal    bool
	// six: the questions go over IPv6 (the state is ipv6State's).
	six bool
}

// dualStack says every column's lab is dual-stack: then the questions of
// addresses and packets are asked over IPv6 too.
func dualStack(cols []Column) bool {
	for _, c := range cols {
		if !c.State.Topology.IPv6 {
			return false
		}
	}
	return len(cols) > 0
}

// ipv6State is lab state s as the IPv6 questions see it: every node,
// outside host and workload at its IPv6 address, the underlay and the
// model's subnets their IPv6 ones. The questions are then asked by the
// same code as IPv4's.
func ipv6State(s *state.State) *state.State {
	c := *s
	t := *s.Topology
	t.Underlay = t.Underlay6
	t.Docker.Subnet = t.Docker.Subnet6
	t.Nodes = slices.Clone(t.Nodes)
	for i := range t.Nodes {
		t.Nodes[i].IP, t.Nodes[i].PodCIDR = t.Nodes[i].IP6, t.Nodes[i].PodCIDR6
	}
	if t.Outside != nil {
		o := *t.Outside
		o.IP = o.IP6
		t.Outside = &o
	}
	c.Topology = &t
	c.Workloads = nil
	for _, w := range s.Workloads {
		if w.IP6.IsValid() {
			w.IP, w.Prefix = w.IP6, w.Prefix6
			c.Workloads = append(c.Workloads, w)
		}
	}
	return &c
}

// Run asks every column every question and judges the requirements.
func Run(cols []Column, o Options) api.Compare {
	start := time.Now()
	out := api.Compare{Version: api.Version, Labs: map[string]string{}, Workloads: map[string]api.Cast{}}
	subs := make([]*subject, len(cols))
	cells := make([]map[string]*api.Cell, len(cols))
	var wg sync.WaitGroup
	for i, col := range cols {
		out.Labs[col.Key] = col.State.Lab
		out.Columns = append(out.Columns, col.Key)
		subs[i] = cast(col)
		out.Workloads[col.Key] = subs[i].cast()
		wg.Add(1)
		go func() { defer wg.Done(); cells[i] = subs[i].ask() }()
	}
	wg.Wait()
	measureThroughput(subs, cells, o.Quick)
	for _, q := range Questions {
		r := api.Row{ID: q.ID, Question: q.Text, Cells: map[string]*api.Cell{}}
		for i, col := range cols {
			r.Cells[col.Key] = cells[i][q.ID]
		}
		r.Notes = notes(q.ID, cols, r.Cells)
		out.Rows = append(out.Rows, r)
	}
	out.Verdicts = verdicts(cols, subs, cells, "", "")
	if dualStack(cols) {
		// The same questions over IPv6, one lab after the other's IPv4
		// ones: a route the routed question adds for a moment, or a
		// capture, would meet the other family's packets.
		subs6 := make([]*subject, len(cols))
		cells6 := make([]map[string]*api.Cell, len(cols))
		for i, col := range cols {
			subs6[i] = cast(Column{Key: col.Key, State: ipv6State(col.State)})
			subs6[i].six = true
			cells6[i] = subs6[i].ask6()
		}
		for _, id := range Questions6 {
			r := api.Row{ID: id + Suffix6, Question: "over IPv6: " + questionText(id), Cells: map[string]*api.Cell{}}
			for i, col := range cols {
				r.Cells[col.Key] = cells6[i][id]
			}
			out.Rows = append(out.Rows, r)
		}
		out.Verdicts = append(out.Verdicts, verdicts(cols, subs6, cells6, Suffix6, " (over IPv6)")...)
	}
	out.Millis = time.Since(start).Milliseconds()
	return out
}

// verdicts judges the seed's requirements for every column from its
// cells, the ids and texts with suffix and more (the IPv6 ones').
func verdicts(cols []Column, subs []*subject, cells []map[string]*api.Cell, suffix, more string) []api.Verdict {
	var out []api.Verdict
	for _, req := range Requirements {
		v := api.Verdict{ID: req.ID + suffix, Requirement: req.Text + more, Results: map[string]string{}, Evidence: map[string]api.Evidence{}}
		for i, col := range cols {
			pass, ev := judge(req.ID, subs[i], cells[i])
			v.Results[col.Key] = map[bool]string{true: "PASS", false: "FAIL"}[pass]
			v.Evidence[col.Key] = ev
		}
		out = append(out, v)
	}
	return out
}

// questionText is question id's text.
func questionText(id string) string {
	for _, q := range Questions {
		if q.ID == id {
			return q.Text
		}
	}
	return id
}

// cast picks the workloads of a column: the first two of the asking node
// (this machine's, on a real node) and the first of the next node.
func cast(col Column) *subject {
	s := col.State
	t := s.Topology
	sub := &subject{col: col, s: s, node: t.Nodes[0]}
	if !t.Embedded {
		for _, n := range t.Nodes {
			if n.Name == t.Local {
				sub.node = n
			}
		}
	}
	ws := s.OnNode(sub.node.Name)
	if len(ws) > 0 {
		sub.a = &ws[0]
	}
	if len(ws) > 1 {
		sub.b = &ws[1]
	}
	all := s.Workloads
	if m, ok := lab.ModeNamed(s.Mode); ok && !t.Embedded {
		all = append(append([]state.Workload{}, all...), m.Plan(t).Peers...)
	}
	for _, n := range t.Nodes {
		if n.Name == sub.node.Name {
			continue
		}
		for i := range all {
			if all[i].Node == n.Name {
				n := n
				sub.remote, sub.c = &n, &all[i]
				break
			}
		}
		if sub.c != nil {
			break
		}
	}
	if sub.c != nil {
		_, sub.cLocal = s.Find(sub.c.Name)
	}
	if t.Outside != nil {
		sub.outside = t.Outside
		if ns, ok := s.Find(t.Outside.Name); ok && t.Embedded {
			sub.outsideNS = ns
		}
	}
	return sub
}

func (sub *subject) cast() api.Cast {
	c := api.Cast{Node: sub.node.Name, NodeIP: sub.node.IP.String(), Backend: sub.s.Topology.Overlay.Backend}
	if sub.s.Mode != topo.OverlayMode {
		c.Backend = ""
	}
	if sub.a != nil {
		c.A, c.AIP = sub.a.Name, sub.a.IP.String()
	}
	if sub.b != nil {
		c.B, c.BIP = sub.b.Name, sub.b.IP.String()
	}
	if sub.c != nil {
		c.C, c.CIP = sub.c.Name, sub.c.IP.String()
		c.Remote, c.RemoteIP = sub.remote.Name, sub.remote.IP.String()
	}
	if sub.outside != nil {
		c.Outside = sub.outside.Name + " " + sub.outside.IP.String()
	}
	return c
}

func label(w *state.Workload) string { return w.Name + " " + w.IP.String() }

func server(w *state.Workload) netip.AddrPort {
	return netip.AddrPortFrom(w.IP, uint16(w.Port))
}

func ptr[T any](v T) *T { return &v }

// ask asks every question but throughput, the independent ones side by
// side.
func (sub *subject) ask() map[string]*api.Cell {
	var ids []string
	for _, q := range Questions {
		if q.ID != Throughput {
			ids = append(ids, q.ID)
		}
	}
	return sub.askOf(ids)
}

// ask6 asks Questions6, over IPv6 (the subject's state is ipv6State's).
func (sub *subject) ask6() map[string]*api.Cell { return sub.askOf(Questions6) }

// askOf asks the questions ids, the independent ones side by side.
func (sub *subject) askOf(ids []string) map[string]*api.Cell {
	cells := map[string]*api.Cell{}
	if sub.a == nil {
		for _, q := range Questions {
			cells[q.ID] = &api.Cell{Error: fmt.Sprintf("%s runs no workload", sub.node.Name)}
		}
		return cells
	}
	want := func(id string) bool { return slices.Contains(ids, id) }
	var mu sync.Mutex
	var wg sync.WaitGroup
	do := func(id string, f func() *api.Cell) {
		if !want(id) {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := f()
			mu.Lock()
			cells[id] = c
			mu.Unlock()
		}()
	}
	do(SameNode, sub.sameNode)
	do(NodeToRemote, sub.nodeToRemote)
	do(OutsideToWork, sub.outsideToWorkload)
	do(WorkToOutside, sub.workloadToOutside)
	do(NameLookup, sub.nameLookup)
	do(Isolation, sub.isolation)
	// The other node's workload first by its own address: what follows
	// depends on whether that reaches it.
	cross := sub.crossNode()
	mu.Lock()
	cells[CrossNode] = cross
	mu.Unlock()
	do(SourceSeen, func() *api.Cell { return sub.sourceSeen(cross) })
	do(MTU, func() *api.Cell { return sub.mtu(cross) })
	wg.Wait()
	// Alone: it counts the programs in a namespace, where the other
	// questions' pings and traceroutes would count too.
	if want(SharedNetns) {
		cells[SharedNetns] = sub.sharedNamespace()
	}
	// Alone: the route it adds for a moment would send the other
	// questions' packets its way.
	if want(RoutedToWork) {
		cells[RoutedToWork] = sub.routedToWorkload()
	}
	// The capture last: the other questions' packets would cross it too.
	if want(Encapsulation) {
		cells[Encapsulation] = sub.encapsulation(cross)
	}
	return cells
}

func (sub *subject) noRemote() *api.Cell {
	return &api.Cell{Error: fmt.Sprintf("lab %s has one node: nothing is on another node", sub.s.Lab)}
}

func (sub *subject) sameNode() *api.Cell {
	if sub.b == nil {
		return &api.Cell{Error: fmt.Sprintf("%s runs one workload: nothing else is on its node", sub.node.Name)}
	}
	c := &api.Cell{From: label(sub.a), To: server(sub.b).String()}
	sub.reach(c, sub.a.NS, sub.b)
	return c
}

// reach fills c with a ping, a traceroute and a question from ns to w's
// address: reachable when w itself answered.
func (sub *subject) reach(c *api.Cell, ns netops.NS, w *state.Workload) {
	var wg sync.WaitGroup
	var p pingAnswer
	var hs []string
	var herr error
	wg.Add(2)
	go func() { defer wg.Done(); p = pingOf(ns, w.IP) }()
	go func() { defer wg.Done(); hs, herr = hops(ns, w.IP) }()
	a, err := ask(ns, server(w))
	wg.Wait()
	if p.rtt != nil {
		c.RTTms = p.rtt
	}
	c.Hops = hs
	if herr != nil && c.Error == "" {
		c.Error = herr.Error()
	}
	if err != nil {
		c.Note = "no answer: " + short(err)
		return
	}
	c.AnsweredBy, c.SeenSource = a.Name, a.Client
	c.Reachable = a.Name == w.Name
	if !c.Reachable {
		c.Note = fmt.Sprintf("%s answered, not %s: the same address is %s's own", a.Name, w.Name, a.Name)
	}
}

type pingAnswer struct{ rtt *float64 }

func pingOf(ns netops.NS, dst netip.Addr) pingAnswer {
	r, err := ping(ns, dst, 3)
	if err != nil || r.Received == 0 {
		return pingAnswer{}
	}
	return pingAnswer{rtt: ptr(r.RTTms)}
}

func (sub *subject) crossNode() *api.Cell {
	if sub.c == nil {
		return sub.noRemote()
	}
	c := &api.Cell{From: label(sub.a), To: server(sub.c).String()}
	sub.reach(c, sub.a.NS, sub.c)
	if c.Reachable {
		c.Note = fmt.Sprintf("%s on %s answered", sub.c.Name, sub.remote.Name)
	}
	// The interfaces on the way, from the kernel's tables (netlab trace's
	// walk, without its packet), in the question's family.
	c.Path = trace.Path(trace.Request{State: sub.s, SrcNS: sub.a.NS, Src: api.TraceEnd{IP: sub.a.IP.String()},
		Dst: sub.c.IP, Proto: "tcp", Port: sub.c.Port})
	return c
}

// translated reports whether seen differs from the source the sender's
// kernel picked for dst.
func translated(ns netops.NS, dst netip.Addr, seen string) (*bool, string) {
	src, err := routeSource(ns, dst)
	if err != nil {
		return nil, err.Error()
	}
	return ptr(seen != src.String()), ""
}

// sourceSeen asks the other node's workload at its own address when that
// reaches it, else through its node's published port: what did it see?
func (sub *subject) sourceSeen(cross *api.Cell) *api.Cell {
	if sub.c == nil {
		return sub.noRemote()
	}
	to := server(sub.c)
	if !cross.Reachable {
		pub, ok := lab.ViewOf(sub.s).Published(sub.s, *sub.c)
		if !ok {
			return &api.Cell{From: label(sub.a), To: to.String(), Note: fmt.Sprintf("nothing leads to %s: its address is not reachable from %s and no port is published", sub.c.Name, sub.a.Name)}
		}
		to = pub
	}
	c := &api.Cell{From: label(sub.a), To: to.String()}
	a, err := ask(sub.a.NS, to)
	if err != nil {
		c.Note = "no answer: " + short(err)
		return c
	}
	c.AnsweredBy, c.SeenSource = a.Name, a.Client
	c.Reachable = a.Name == sub.c.Name
	c.Translated, c.Error = translated(sub.a.NS, to.Addr(), a.Client)
	if to != server(sub.c) {
		c.Note = fmt.Sprintf("through %s's published port %s", sub.remote.Name, to)
	}
	return c
}

func (sub *subject) nodeToRemote() *api.Cell {
	if sub.c == nil {
		return sub.noRemote()
	}
	ns := sub.node.NS
	c := &api.Cell{From: sub.node.Name + " " + sub.node.IP.String(), To: server(sub.c).String()}
	sub.reach(c, ns, sub.c)
	if c.AnsweredBy != "" {
		c.Translated, c.Error = translated(ns, sub.c.IP, c.SeenSource)
	}
	// And back: the workload connects to a port the node listens on; and a
	// workload of the node's own, to it.
	c.Back = &api.Cell{From: label(sub.c), To: sub.node.IP.String()}
	if !sub.cLocal {
		c.Back.Error = fmt.Sprintf("%s is on %s, another machine: ask from there", sub.c.Name, sub.remote.Name)
	} else {
		c.Back = sub.connectBack(sub.c)
	}
	c.OwnNode = sub.connectBack(sub.a)
	return c
}

// connectBack connects from w to a port the asking node listens on, and
// reports the address the node saw.
func (sub *subject) connectBack(w *state.Workload) *api.Cell {
	c := &api.Cell{From: label(w), To: sub.node.IP.String()}
	port, wait, err := listenOnce(sub.node.NS, sub.node.IP)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	to := netip.AddrPortFrom(sub.node.IP, uint16(port))
	c.To = to.String()
	derr := dialFrom(w.NS, to)
	seen, werr := wait()
	if derr != nil || werr != nil {
		c.Note = "no connection: " + short(errorsJoin(derr, werr))
		return c
	}
	c.Reachable, c.AnsweredBy, c.SeenSource = true, sub.node.Name, seen.String()
	c.Translated, c.Error = translated(w.NS, sub.node.IP, seen.String())
	return c
}

func (sub *subject) outsideToWorkload() *api.Cell {
	if sub.c == nil {
		return sub.noRemote()
	}
	if sub.outside == nil {
		return &api.Cell{Error: "the lab has no outside host"}
	}
	c := &api.Cell{From: sub.outside.Name + " " + sub.outside.IP.String(), To: server(sub.c).String()}
	if sub.outsideNS == "" {
		c.Error = fmt.Sprintf("the outside host %s is another machine: ask from there", sub.outside.IP)
		return c
	}
	a, err := ask(sub.outsideNS, server(sub.c))
	if err != nil {
		c.Note = "no answer: " + short(err)
	} else {
		c.AnsweredBy, c.SeenSource, c.Reachable = a.Name, a.Client, a.Name == sub.c.Name
	}
	pub, ok := lab.ViewOf(sub.s).Published(sub.s, *sub.c)
	if !ok {
		c.Published = &api.Cell{Note: "nothing published: a NodePort needs a Service"}
		return c
	}
	p := &api.Cell{From: c.From, To: pub.String()}
	c.Published = p
	a, err = ask(sub.outsideNS, pub)
	if err != nil {
		p.Note = "no answer: " + short(err)
		return c
	}
	p.AnsweredBy, p.SeenSource, p.Reachable = a.Name, a.Client, a.Name == sub.c.Name
	p.Translated, p.Error = translated(sub.outsideNS, pub.Addr(), a.Client)
	return c
}

// routedToWorkload asks a (on the asking node) by its own address from the
// outside host, given for the moment the route a learner would add: via
// a's node. A Kubernetes pod answers (its address is routable); Docker
// 20.10 lets it through to a published port; Docker 28 drops it in the
// raw table, which the drop rule's counter confirms.
func (sub *subject) routedToWorkload() *api.Cell {
	if sub.outside == nil {
		return &api.Cell{Error: "the lab has no outside host"}
	}
	c := &api.Cell{From: sub.outside.Name + " " + sub.outside.IP.String(), To: server(sub.a).String()}
	if sub.outsideNS == "" {
		c.Error = fmt.Sprintf("the outside host %s is another machine: ask from there", sub.outside.IP)
		return c
	}
	dst := netip.PrefixFrom(sub.a.IP, sub.a.IP.BitLen()).String()
	add := netops.RouteAdd{NS: sub.outsideNS, Dst: dst, Via: sub.node.IP.String()}
	r := netops.NewRunner(netops.Apply, io.Discard)
	defer r.Close()
	if err := r.Run(context.Background(), []netops.Op{add}); err != nil {
		c.Error = err.Error()
		return c
	}
	defer func() {
		_ = r.Run(context.Background(), []netops.Op{netops.RouteDel{NS: sub.outsideNS, Dst: dst, Via: add.Via}})
	}()
	before := rawDrops(sub.node.NS, sub.a.IP)
	a, err := ask(sub.outsideNS, server(sub.a))
	if err == nil {
		c.AnsweredBy, c.SeenSource, c.Reachable = a.Name, a.Client, a.Name == sub.a.Name
		c.Translated, c.Error = translated(sub.outsideNS, sub.a.IP, a.Client)
		return c
	}
	c.Note = "no answer: " + short(err)
	if rawDrops(sub.node.NS, sub.a.IP) > before {
		c.Note = fmt.Sprintf("dropped on %s in raw PREROUTING (-d %s ! -i %s -j DROP): Docker 28 lets nothing in but through its bridge",
			sub.node.Name, dst, sub.s.Topology.Docker.Bridge)
	}
	return c
}

// rawDrops counts the packets a raw-table DROP rule for ip has dropped in
// namespace ns (Docker 28's, or netlab's on a real node).
func rawDrops(ns netops.NS, ip netip.Addr) int {
	save, err := netops.IPTablesSaveCounters(ns, "raw")
	if ip.Is6() {
		save, err = netops.IP6TablesSaveCounters(ns, "raw")
	}
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(save, "\n") {
		if !strings.Contains(l, " -d "+netip.PrefixFrom(ip, ip.BitLen()).String()+" ") || !strings.HasSuffix(l, "-j DROP") {
			continue
		}
		var p, b int
		if _, err := fmt.Sscanf(l, "[%d:%d]", &p, &b); err == nil {
			n += p
		}
	}
	return n
}

func (sub *subject) workloadToOutside() *api.Cell {
	if sub.outside == nil {
		return &api.Cell{Error: "the lab has no outside host"}
	}
	to := netip.AddrPortFrom(sub.outside.IP, uint16(lab.OutsidePort))
	c := &api.Cell{From: label(sub.a), To: to.String()}
	a, err := ask(sub.a.NS, to)
	if err != nil {
		c.Note = "no answer: " + short(err)
		return c
	}
	c.AnsweredBy, c.SeenSource, c.Reachable = a.Name, a.Client, a.Name == sub.outside.Name
	c.Translated, c.Error = translated(sub.a.NS, sub.outside.IP, a.Client)
	return c
}

// farTarget is what a's packets can reach on the other node: the other
// workload by its address, or else that node itself.
func (sub *subject) farTarget(cross *api.Cell) (netip.Addr, string) {
	if cross.Reachable {
		return sub.c.IP, sub.c.Name
	}
	return sub.remote.IP, sub.remote.Name
}

func (sub *subject) mtu(cross *api.Cell) *api.Cell {
	_, mtu, err := iface(sub.a.NS, "eth0")
	if err != nil {
		return &api.Cell{Error: err.Error()}
	}
	c := &api.Cell{From: label(sub.a), MTU: mtu}
	if sub.c == nil {
		return c
	}
	dst, name := sub.farTarget(cross)
	c.To = name + " " + dst.String()
	m, err := maxDF(sub.a.NS, dst, mtu)
	if err != nil {
		c.Note = err.Error()
		return c
	}
	c.Reachable, c.MaxDFPayload = true, ptr(m)
	return c
}

func (sub *subject) encapsulation(cross *api.Cell) *api.Cell {
	if sub.c == nil {
		return sub.noRemote()
	}
	dst, name := sub.farTarget(cross)
	c := &api.Cell{From: label(sub.a), To: name + " " + dst.String()}
	o, what, err := overhead(sub.node.NS, sub.node.Iface, sub.a.NS, dst)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Reachable, c.Overhead, c.Encap = true, ptr(o), what
	return c
}

// ThroughputRuns is how many times iperf3 measures each column; the
// table gives the median and the spread.
const ThroughputRuns = 3

// measureThroughput runs iperf3 ThroughputRuns times per column, one
// column at a time (side by side they would share the CPUs and each
// measure half) and the columns in turn, round after round, so that a
// slow moment of the machine falls on every column alike.
func measureThroughput(subs []*subject, cells []map[string]*api.Cell, quick bool) {
	for i, sub := range subs {
		if quick {
			cells[i][Throughput] = &api.Cell{Error: "skipped (--quick)"}
			continue
		}
		cells[i][Throughput] = sub.throughputCell(cells[i][CrossNode])
	}
	for range ThroughputRuns {
		for i, sub := range subs {
			c := cells[i][Throughput]
			if quick || !c.Reachable || c.Error != "" {
				continue
			}
			g, err := throughput(sub.a.NS, sub.c.NS, sub.c.IP)
			if err != nil {
				c.Reachable, c.Error, c.GbitRuns = false, err.Error(), nil
				continue
			}
			c.GbitRuns = append(c.GbitRuns, g)
		}
	}
	for i := range subs {
		if c := cells[i][Throughput]; len(c.GbitRuns) > 0 {
			c.GbitS = ptr(median(c.GbitRuns))
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// throughputCell is the throughput cell of a column before it is
// measured: Reachable when iperf3 can run between its workloads.
func (sub *subject) throughputCell(cross *api.Cell) *api.Cell {
	if sub.c == nil {
		return sub.noRemote()
	}
	c := &api.Cell{From: label(sub.a), To: sub.c.Name + " " + sub.c.IP.String()}
	switch {
	case !cross.Reachable:
		c.Note = fmt.Sprintf("no path: %s cannot address %s (only a published port, to its web server, leads there)", sub.a.Name, sub.c.Name)
	case !sub.cLocal:
		c.Error = fmt.Sprintf("%s is on %s, another machine: run iperf3 -s there", sub.c.Name, sub.remote.Name)
	default:
		c.Reachable = true
	}
	return c
}

// notes are the row's notes: what its cells do not say by themselves.
func notes(id string, cols []Column, cells map[string]*api.Cell) []string {
	var out []string
	switch id {
	case Throughput:
		// Two columns whose runs overlap differ by noise, not by model.
		for i := range cols {
			for j := i + 1; j < len(cols); j++ {
				a, b := cells[cols[i].Key], cells[cols[j].Key]
				if a == nil || b == nil || len(a.GbitRuns) == 0 || len(b.GbitRuns) == 0 {
					continue
				}
				if slices.Min(a.GbitRuns) <= slices.Max(b.GbitRuns) && slices.Min(b.GbitRuns) <= slices.Max(a.GbitRuns) {
					out = append(out, fmt.Sprintf("throughput: %s and %s overlap over %d runs each: the difference is within this machine's noise, not the model's",
						title0(cols[i].Key), title0(cols[j].Key), ThroughputRuns))
				}
			}
		}
	case NodeToRemote:
		for _, col := range cols {
			c := cells[col.Key]
			if col.Key == "docker" || c == nil || c.Back == nil || c.Back.Translated == nil || !*c.Back.Translated {
				continue
			}
			out = append(out, fmt.Sprintf("%s: the way back (a pod to the other node's address) leaves the cluster's pod range, so flannel masquerades it, "+
				"as it does on a real cluster; the requirement asks for nodes to reach pods, and pods their own node, without NAT, which holds (see the verdicts)",
				title0(col.Key)))
		}
	}
	return out
}

// title0 is a column's heading without its lab.
func title0(key string) string {
	if t := Titles[key]; t != "" {
		return t
	}
	return key
}

// judge decides one requirement for one column from its cells.
func judge(id string, sub *subject, cells map[string]*api.Cell) (bool, api.Evidence) {
	if sub.a == nil || sub.c == nil {
		return false, api.Evidence{Sent: "nothing", Reported: "the lab needs two nodes with workloads"}
	}
	cross, seen := cells[CrossNode], cells[SourceSeen]
	switch id {
	case NoNATWorkloads:
		ev := api.Evidence{Sent: fmt.Sprintf("%s → %s (%s's address)", label(sub.a), server(sub.c), sub.c.Name)}
		ev.Reported = reported(cross, sub.c.Name)
		pass := cross.Reachable && seen.Reachable && seen.Translated != nil && !*seen.Translated && seen.To == server(sub.c).String()
		if !cross.Reachable && seen.Reachable {
			ev.Reported += fmt.Sprintf("; through %s, %s saw %s", seen.To, sub.c.Name, seen.SeenSource)
		}
		return pass, ev
	case NoNATNodes:
		n := cells[NodeToRemote]
		own := n.OwnNode
		ev := api.Evidence{Sent: fmt.Sprintf("%s → %s (%s on %s), and %s → %s", sub.node.Name, server(sub.c), sub.c.Name, sub.remote.Name, sub.a.Name, own.To)}
		ev.Reported = reported(n, sub.c.Name)
		if own.Reachable {
			ev.Reported += fmt.Sprintf("; %s saw %s as %s", sub.node.Name, sub.a.Name, own.SeenSource)
		} else {
			ev.Reported += "; " + sub.a.Name + " to its node: " + own.Note + own.Error
		}
		if b := n.Back; b != nil && b.Reachable && b.Translated != nil && *b.Translated {
			ev.Reported += fmt.Sprintf("; (%s → %s's address leaves %s's node and is seen as %s: masqueraded, see the row)", sub.c.Name, sub.node.Name, sub.c.Name, b.SeenSource)
		}
		pass := n.Reachable && n.Translated != nil && !*n.Translated &&
			own.Reachable && own.Translated != nil && !*own.Translated
		return pass, ev
	default: // SelfIP
		self, _, err := ifaceIn(sub.a.NS, "eth0", sub.six)
		ev := api.Evidence{Sent: fmt.Sprintf("%s asked %s", sub.a.Name, seen.To)}
		if err != nil {
			ev.Reported = err.Error()
			return false, ev
		}
		if seen.SeenSource == "" {
			ev.Reported = fmt.Sprintf("%s sees itself as %s; nobody on %s answered", sub.a.Name, self, sub.remote.Name)
			return false, ev
		}
		ev.Reported = fmt.Sprintf("%s sees itself as %s; %s saw it as %s", sub.a.Name, self, seen.AnsweredBy, seen.SeenSource)
		return seen.Reachable && seen.SeenSource == self.String(), ev
	}
}

// reported says who answered and what it saw, or that nobody did.
func reported(c *api.Cell, meant string) string {
	switch {
	case c.AnsweredBy == "":
		return "no answer (" + strings.TrimPrefix(c.Note, "no answer: ") + ")"
	case c.AnsweredBy != meant:
		return fmt.Sprintf("%s answered, not %s (it saw %s)", c.AnsweredBy, meant, c.SeenSource)
	}
	return fmt.Sprintf("%s answered and saw %s", c.AnsweredBy, c.SeenSource)
}

// short is an error's last words: "connection refused", "i/o timeout".
func short(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
