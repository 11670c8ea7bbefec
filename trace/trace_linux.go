package trace

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"netlab/internal/api"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/internal/who"
)

// Request is what to trace: from a namespace of a lab to an address.
type Request struct {
	State   *state.State
	Src     api.TraceEnd
	SrcNS   netops.NS
	Dst     netip.Addr
	DstName string
	Proto   string
	Port    int
	// Observe says where the kernel differs from what netlab built
	// without the command netlab used: in a running exercise's lab, that
	// command is the answer.
	Observe bool
}

// Run walks the packet from the kernel's tables, then sends one real
// packet and checks the walk against the counters and conntrack.
func Run(req Request) api.Trace {
	start := time.Now()
	w := newWorld(req.State, req.Dst.Is6())
	w.observe = req.Observe
	defer w.close()
	out := api.Trace{Version: api.Version, Lab: req.State.Lab, Src: req.Src, Proto: req.Proto, Port: req.Port,
		Dst: api.TraceEnd{Name: req.DstName, IP: req.Dst.String()}}
	p := firstPacket(req)
	before := w.counters()
	out.Hops, out.Outcome, out.DeliveredTo = w.walk(req.SrcNS, "", frame{p: p})
	// The rules' counters of the namespaces the walk crosses, read after
	// the walk (which sends nothing) and before the real packet.
	var crossed []netops.NS
	for _, h := range out.Hops {
		if !slices.Contains(crossed, netops.NS(h.Namespace)) {
			crossed = append(crossed, netops.NS(h.Namespace))
		}
	}
	rulesBefore := ruleCounters(crossed, w.v6)
	if req.DstName != "" && !strings.HasPrefix(req.DstName, "svc/") && out.Outcome == "delivered" && out.DeliveredTo != req.DstName {
		out.Dst.Note = fmt.Sprintf("the packet for %s ends in %s: %s is %s's own address there", req.DstName, out.DeliveredTo, req.Dst, out.DeliveredTo)
	}
	if req.Dst == netip.MustParseAddr("127.0.0.11") && req.State.Mode == topo.DockerMode {
		out.Dst.Note = joinNote(out.Dst.Note, "127.0.0.11 is Docker's embedded DNS, in the container's own namespace: "+
			"its DOCKER_OUTPUT rules send port 53 to where dockerd listens (ss -lunp there)")
	}
	out.Expected = w.expected(out.Hops)
	// Counters before the real packet were read before the walk, whose
	// reads send nothing.
	tracers := w.startNFTTraces(out.Hops)
	sent, sport, answer := send(req)
	traced := stopNFTTraces(tracers)
	out.Sent = sent
	// A Service's endpoint is a random choice: once conntrack says which
	// one the real packet took, the walk follows that one.
	if took := w.randomChoice(out.Hops, sport); took != "" {
		w.force, w.trail = took, nil
		out.Hops, out.Outcome, out.DeliveredTo = w.walk(req.SrcNS, "", frame{p: p})
		out.Expected = w.expected(out.Hops)
		out.Dst.Note = joinNote(out.Dst.Note, "kube-proxy sent the real packet to "+took+", one of the Service's endpoints: the walk follows it")
	}
	out.Disagreements = append(w.confirm(&out, before, sport), confirmEnd(out, answer)...)
	if len(out.Disagreements) == 0 {
		out.Disagreements = w.confirmRules(&out, rulesBefore, ruleCounters(crossed, w.v6), sport, traced)
	}
	out.Confirmed = len(out.Disagreements) == 0
	out.Millis = time.Since(start).Milliseconds()
	return out
}

// firstPacket is the packet as the sender's kernel makes it: from the
// sender's address (of the destination's family), or from 127.0.0.1 (::1)
// to a loopback address (Docker's embedded DNS at 127.0.0.11), as the
// route through lo picks.
func firstPacket(req Request) Packet {
	p := Packet{Dst: req.Dst, Proto: req.Proto, Dport: req.Port}
	if a, err := netip.ParseAddr(req.Src.IP); err == nil && a.Is6() == req.Dst.Is6() {
		p.Src = a
	}
	if req.Dst.IsLoopback() {
		p.Src = req.Dst
		if req.Dst.Is4() {
			p.Src = netip.MustParseAddr("127.0.0.1")
		}
	}
	return p
}

// Walk is the walk alone, from the kernel's tables: no packet is sent, so
// nothing is confirmed (Confirmed is false, Sent empty).
func Walk(req Request) api.Trace {
	w := newWorld(req.State, req.Dst.Is6())
	w.observe = req.Observe
	defer w.close()
	p := firstPacket(req)
	t := api.Trace{Version: api.Version, Lab: req.State.Lab, Src: req.Src, Proto: req.Proto, Port: req.Port,
		Dst: api.TraceEnd{Name: req.DstName, IP: req.Dst.String()}}
	t.Hops, t.Outcome, t.DeliveredTo = w.walk(req.SrcNS, "", frame{p: p})
	t.Expected = w.expected(t.Hops)
	return t
}

// Path is the walk alone, sent nowhere and not held to netlab's plan:
// the interfaces a packet passes, as "node1 veth-pod1 → flannel.1", for
// compare's path (whose IPv6 questions see the lab through an IPv6 view).
func Path(req Request) []string {
	w := newWorld(req.State, req.Dst.Is6())
	defer w.close()
	hops, _, _ := w.walk(req.SrcNS, "", frame{p: firstPacket(req)})
	var out []string
	for _, h := range hops {
		in, o := h.In, outDev(h.Out)
		if in == "" {
			in = "·"
		}
		if o == "" {
			o = "·"
		}
		out = append(out, fmt.Sprintf("%s %s → %s", h.Host, in, o))
	}
	return out
}

// send sends one real packet the way the walk assumed, and says what came
// of it; sport is the source port it used (0 for ICMP).
func send(req Request) (string, int, *who.Answer) {
	switch req.Proto {
	case "tcp", "udp":
		addr := netip.AddrPortFrom(req.Dst, uint16(req.Port))
		// A source port of our choosing, so that conntrack's entry for
		// this packet is told from older ones even when nothing answers.
		sport := 32768 + rand.IntN(28000)
		var c net.Conn
		err := netops.Do(req.SrcNS, func() error {
			d := net.Dialer{Timeout: time.Second}
			if req.Proto == "tcp" {
				d.LocalAddr = &net.TCPAddr{Port: sport}
			} else {
				d.LocalAddr = &net.UDPAddr{Port: sport}
			}
			var err error
			family := "4"
			if req.Dst.Is6() {
				family = "6"
			}
			c, err = d.Dial(req.Proto+family, addr.String())
			return err
		})
		what := strings.ToUpper(req.Proto) + " " + addr.String()
		if err != nil {
			return what + ": " + lastWords(err), sport, nil
		}
		defer c.Close()
		if req.Proto == "udp" {
			_, err = c.Write([]byte("netlab trace\n"))
			time.Sleep(50 * time.Millisecond) // let it cross before the counters are read
			if err != nil {
				return what + ": " + lastWords(err), sport, nil
			}
			return what + ": datagram sent", sport, nil
		}
		if a, err := who.AskConn(c, addr.String()); err == nil {
			return fmt.Sprintf("%s: connected; %s answered and saw %s", what, a.Name, a.Client), sport, &a
		}
		return what + ": connected", sport, nil
	}
	r, err := probe.Ping(req.SrcNS, req.Dst.String(), 1, time.Second)
	switch {
	case err != nil:
		return "ping could not run: " + err.Error(), 0, nil
	case r.Received > 0:
		return "ping: answered", 0, nil
	case len(r.Errors) > 0:
		return "ping: " + r.Errors[0], 0, nil
	}
	return "ping: no answer", 0, nil
}

// confirmEnd checks the walk's last packet against what the server that
// answered the real one saw: the client's address (after every NAT on
// the way) and its own. A server other than the walk's end (docker-proxy
// passing the connection on, say) is not compared.
func confirmEnd(t api.Trace, a *who.Answer) []string {
	// An applied pod's hop is named "k-NS-NAME" outside the default namespace.
	if a == nil || t.Outcome != "delivered" || len(t.Hops) == 0 || (t.DeliveredTo != a.Name && !strings.HasSuffix(t.DeliveredTo, "-"+a.Name)) {
		return nil
	}
	f := strings.Fields(t.Hops[len(t.Hops)-1].Packet)
	if len(f) < 3 {
		return nil
	}
	src, dst := hostOf(f[0]), hostOf(f[2])
	var dis []string
	if a.Client != src {
		dis = append(dis, fmt.Sprintf("%s: the walk delivers the packet from %s, but %s saw it come from %s", t.DeliveredTo, src, a.Name, a.Client))
	}
	if a.IP != "" && a.IP != dst {
		dis = append(dis, fmt.Sprintf("%s: the walk delivers the packet to %s, but %s answered as %s", t.DeliveredTo, dst, a.Name, a.IP))
	}
	return dis
}

func lastWords(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

type counter struct{ rx, tx uint64 }

// ruleCounters reads the packet counter of every iptables rule (ip6tables
// for v6) in namespaces nss: namespace → table → rule (as iptables-save
// prints it) → packets.
func ruleCounters(nss []netops.NS, v6 bool) map[string]map[string]map[string]uint64 {
	m := map[string]map[string]map[string]uint64{}
	save := netops.IPTablesSaveCounters
	if v6 {
		save = netops.IP6TablesSaveCounters
	}
	for _, ns := range nss {
		for _, table := range []string{"raw", "nat", "filter"} {
			text, err := save(ns, table)
			if err != nil {
				continue
			}
			for _, l := range strings.Split(text, "\n") {
				if !strings.HasPrefix(l, "[") {
					continue
				}
				c, rule, ok := strings.Cut(l, "] ")
				pk, _, _ := strings.Cut(c[1:], ":")
				n, err := strconv.ParseUint(pk, 10, 64)
				if !ok || err != nil {
					continue
				}
				if m[string(ns)] == nil {
					m[string(ns)] = map[string]map[string]uint64{}
				}
				if m[string(ns)][table] == nil {
					m[string(ns)][table] = map[string]uint64{}
				}
				m[string(ns)][table][rule] = n
			}
		}
	}
	return m
}

// confirmRules checks, hop by hop, that every rule the walk names (each
// rewrite's, the FORWARD verdict's, and the jumps that led to them) counted
// the real packet, and that conntrack recorded no address translation the
// walk does not show.
func (w *world) confirmRules(t *api.Trace, before, after map[string]map[string]map[string]uint64, sport int, traced map[string][]string) []string {
	var dis []string
	// An nftables rule is confirmed by nftables' trace of the real
	// packet, which shows every rule that took it.
	checkNFT := func(h api.Hop, table string, rules ...string) {
		lines, ok := traced[h.Namespace]
		if !ok {
			dis = append(dis, fmt.Sprintf("%s: nftables' trace could not be read here, so its rules are not confirmed", h.Host))
			return
		}
		for _, r := range rules {
			if !nftTraced(lines, table, r) {
				dis = append(dis, fmt.Sprintf("%s: the walk has this nftables rule take the packet, but nftables' trace does not show it: %s", h.Host, r))
			}
		}
	}
	check := func(h api.Hop, table string, rules ...string) {
		if table != "nat" && table != "filter" && table != "raw" {
			checkNFT(h, table, rules...)
			return
		}
		for _, r := range rules {
			if r == "" || strings.HasPrefix(r, "-P ") || strings.HasPrefix(r, "(") || before[h.Namespace] == nil {
				continue // a policy, no table, or a namespace not read before
			}
			if after[h.Namespace][table][r] > before[h.Namespace][table][r] {
				continue
			}
			d := fmt.Sprintf("%s: the walk has this rule take the packet, but its counter did not move: %s", h.Host, r)
			if moved := movedRules(before, after, h.Namespace, table, chainOf(r)); len(moved) > 0 {
				d += "; in " + chainOf(r) + " these counted it: " + strings.Join(moved, "; ")
			}
			dis = append(dis, d)
		}
	}
	for _, h := range t.Hops {
		for _, r := range h.Rewrite {
			table := "nat"
			if r.Table != "nat" && r.Table != "" {
				table = r.Table // nftables' ("ip kube-proxy")
			}
			check(h, table, append(append([]string{}, r.Via...), r.Rule)...)
		}
		// The verdict's table: FORWARD's is filter's, a raw drop raw's.
		// nftables' drop: "ip kube-proxy filter-forward REJECT: chain …".
		if f := strings.Fields(h.Filter); len(f) > 3 && (f[0] == "ip" || f[0] == "ip6" || f[0] == "inet") {
			if _, text, ok := strings.Cut(h.Filter, ": "); ok {
				check(h, f[0]+" "+f[1], append(append([]string{}, h.FilterVia...), text)...)
			}
		}
		for prefix, table := range map[string]string{"FORWARD ": "filter", "raw ": "raw"} {
			if rule, ok := strings.CutPrefix(h.Filter, prefix); ok {
				if _, text, ok := strings.Cut(rule, ": "); ok {
					check(h, table, append(append([]string{}, h.FilterVia...), text)...)
				}
			}
		}
		if h.Action != "drop" {
			dis = append(dis, w.unpredictedNAT(h, sport)...)
		}
		if len(dis) > 0 {
			break // what follows a hop that disagrees is moot
		}
	}
	return dis
}

// chainOf is the chain of a rule as iptables-save prints it.
func chainOf(rule string) string {
	f := strings.Fields(rule)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// movedRules are the rules of chain whose counters moved.
func movedRules(before, after map[string]map[string]map[string]uint64, ns, table, chain string) []string {
	var out []string
	for r, n := range after[ns][table] {
		if chainOf(r) == chain && n > before[ns][table][r] {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// unpredictedNAT says where conntrack, in hop h's namespace, shows the
// real packet translated in a way the walk does not: a source or a
// destination rewritten with no rewrite of that kind in the hop.
func (w *world) unpredictedNAT(h api.Hop, sport int) []string {
	v, err := w.view(netops.NS(h.Namespace))
	if err != nil {
		return nil
	}
	flows, err := v.h.ConntrackTableList(netlink.ConntrackTable, netlink.InetFamily(w.family()))
	if err != nil {
		return nil
	}
	var f *netlink.ConntrackFlow
	for _, c := range flows {
		if flowMatches(c, h.Packet, sport) && (f == nil || c.TimeOut > f.TimeOut) {
			f = c
		}
	}
	if f == nil {
		return nil
	}
	has := func(post bool) bool {
		for _, r := range h.Rewrite {
			if isSNAT(r) == post {
				return true
			}
		}
		return false
	}
	var dis []string
	if !f.Reverse.DstIP.Equal(f.Forward.SrcIP) && !has(true) {
		dis = append(dis, fmt.Sprintf("%s: conntrack shows the source rewritten to %s here (%s), and the walk has no source NAT", h.Host, f.Reverse.DstIP, flowText(f)))
	}
	if !f.Reverse.SrcIP.Equal(f.Forward.DstIP) && !has(false) {
		dis = append(dis, fmt.Sprintf("%s: conntrack shows the destination rewritten to %s here (%s), and the walk has no destination NAT", h.Host, f.Reverse.SrcIP, flowText(f)))
	}
	return dis
}

// counters reads every interface's packet counters in the lab.
func (w *world) counters() map[string]counter {
	m := map[string]counter{}
	for _, ns := range w.nss {
		v, err := w.view(ns)
		if err != nil {
			continue
		}
		ls, err := netops.Dump(v.h.LinkList)
		if err != nil {
			continue
		}
		for _, l := range ls {
			if s := l.Attrs().Statistics; s != nil {
				m[string(ns)+"/"+l.Attrs().Name] = counter{s.RxPackets, s.TxPackets}
			}
		}
	}
	return m
}

// confirm checks each hop against the real packet: its way in and out
// moved packets, and each rewrite is the one conntrack recorded.
func (w *world) confirm(t *api.Trace, before map[string]counter, sport int) []string {
	after := w.counters()
	moved := func(ns, dev string, tx bool) bool {
		k := ns + "/" + dev
		if tx {
			return after[k].tx > before[k].tx
		}
		return after[k].rx > before[k].rx
	}
	var dis []string
	for i := range t.Hops {
		h := &t.Hops[i]
		var seen []string
		ok := true
		if h.In != "" && !strings.Contains(h.In, "→") {
			dev := h.In
			if !moved(h.Namespace, dev, false) && !isBridge(w, h.Namespace, dev) {
				ok = false
				dis = append(dis, fmt.Sprintf("%s: the walk has it arrive on %s, but %s received nothing", h.Host, dev, dev))
			} else {
				seen = append(seen, "in "+dev)
			}
		}
		if out := outDev(h.Out); out != "" && (h.Action == "route" || h.Action == "bridge" || h.Action == "encapsulate" || h.Action == "leave") {
			if moved(h.Namespace, out, true) {
				seen = append(seen, "out "+out)
			} else {
				ok = false
				d := fmt.Sprintf("%s: the walk has it leave by %s, but %s sent nothing", h.Host, out, out)
				if other := movedTx(before, after, h.Namespace, out); len(other) > 0 {
					d += "; it went out " + strings.Join(other, ", ")
				}
				dis = append(dis, d)
			}
		}
		if ok && len(seen) > 0 {
			h.Seen = "counters moved: " + strings.Join(seen, ", ")
		} else if !ok {
			h.Seen = "counters did not move as the walk says"
		}
		for j := range h.Rewrite {
			if h.Action == "drop" {
				// conntrack confirms an entry only as the packet leaves:
				// a dropped one leaves none.
				h.Rewrite[j].Conntrack = "(none: a dropped packet leaves no conntrack entry)"
				continue
			}
			if d := w.conntrack(h, &h.Rewrite[j], t, sport); d != "" {
				dis = append(dis, d)
			}
		}
		if !ok {
			break // what follows a hop that disagrees is moot
		}
	}
	last := t.Hops[len(t.Hops)-1]
	delivered := strings.Contains(t.Sent, "connected") || strings.Contains(t.Sent, "answered") || strings.Contains(t.Sent, "refused") || strings.Contains(t.Sent, "datagram sent")
	if t.Outcome == "dropped" && (strings.Contains(t.Sent, "connected") || t.Sent == "ping: answered") {
		dis = append(dis, fmt.Sprintf("%s: the walk drops it, but the real packet got an answer (%s)", last.Host, t.Sent))
	}
	if t.Outcome == "delivered" && !delivered {
		dis = append(dis, fmt.Sprintf("the walk delivers it to %s, but the real packet got no answer (%s)", t.DeliveredTo, t.Sent))
	}
	return dis
}

func isBridge(w *world, ns, dev string) bool {
	v, err := w.view(netops.NS(ns))
	if err != nil {
		return false
	}
	l := v.byName[dev]
	return l != nil && (l.Type() == "bridge" || l.Type() == "vxlan")
}

// outDev is the interface a hop's packet leaves by: "cni0 → veth-pod3" is
// veth-pod3.
func outDev(out string) string {
	if _, port, ok := strings.Cut(out, " → "); ok {
		return port
	}
	return out
}

func movedTx(before, after map[string]counter, ns, skip string) []string {
	var out []string
	for k, a := range after {
		n, dev, _ := strings.Cut(k, "/")
		if n == ns && dev != skip && dev != "lo" && a.tx > before[k].tx {
			out = append(out, dev)
		}
	}
	return out
}

// conntrack finds the real packet's connection in the hop's namespace and
// checks that the kernel rewrote it as the walk says.
func (w *world) conntrack(h *api.Hop, r *api.Rewrite, t *api.Trace, sport int) string {
	v, err := w.view(netops.NS(h.Namespace))
	if err != nil {
		return ""
	}
	flows, err := v.h.ConntrackTableList(netlink.ConntrackTable, netlink.InetFamily(w.family()))
	if err != nil {
		return fmt.Sprintf("%s: conntrack could not be read: %v", h.Host, err)
	}
	// The hop's packet as it arrived, and as the rewrite left it.
	_, to, ok := rewriteAddrs(r.What)
	if !ok {
		return ""
	}
	dst := strings.HasPrefix(r.What, "dst ")
	var f *netlink.ConntrackFlow
	for _, c := range flows {
		// Of several (older pings), the newest: the most time left.
		if flowMatches(c, h.Packet, sport) && (f == nil || c.TimeOut > f.TimeOut) {
			f = c
		}
	}
	if f != nil {
		r.Conntrack = flowText(f)
		got := ""
		if dst {
			got = hostPort(addrOf(f.Reverse.SrcIP), int(f.Reverse.SrcPort))
			if t.Proto == "icmp" {
				got = addrOf(f.Reverse.SrcIP).String()
				to = hostOf(to)
			}
		} else {
			got = addrOf(f.Reverse.DstIP).String()
		}
		if got != to {
			return fmt.Sprintf("%s: conntrack shows the %s rewritten to %s, not %s", h.Host, map[bool]string{true: "destination", false: "source"}[dst], got, to)
		}
		return ""
	}
	return fmt.Sprintf("%s: no conntrack entry for the real packet (%s), so no rule rewrote it here", h.Host, h.Packet)
}

// randomChoice is the endpoint the real packet took at the first random
// (kube-proxy) DNAT of the walk, when the walk predicted another.
func (w *world) randomChoice(hops []api.Hop, sport int) string {
	for _, h := range hops {
		if !strings.Contains(h.Note, "picked at random") {
			continue
		}
		for _, r := range h.Rewrite {
			_, predicted, ok := rewriteAddrs(r.What)
			if !ok || !strings.HasPrefix(r.What, "dst ") {
				continue
			}
			v, err := w.view(netops.NS(h.Namespace))
			if err != nil {
				return ""
			}
			flows, err := v.h.ConntrackTableList(netlink.ConntrackTable, netlink.InetFamily(w.family()))
			if err != nil {
				return ""
			}
			for _, f := range flows {
				if flowMatches(f, h.Packet, sport) {
					took := hostPort(addrOf(f.Reverse.SrcIP), int(f.Reverse.SrcPort))
					if took != predicted {
						return took
					}
					return ""
				}
			}
		}
	}
	return ""
}

// rewriteAddrs reads "dst A:p → B:q" or "src A → B".
func rewriteAddrs(what string) (string, string, bool) {
	f := strings.Fields(what)
	if len(f) != 4 || f[2] != "→" {
		return "", "", false
	}
	return f[1], f[3], true
}

// flowMatches reports whether flow f is the real packet's: its original
// direction is the hop's packet as it arrived.
func flowMatches(f *netlink.ConntrackFlow, packet string, sport int) bool {
	// packet is "SRC[:SPORT] → DST[:DPORT] PROTO", as the hop describes it.
	parts := strings.Fields(packet)
	if len(parts) < 3 {
		return false
	}
	src, dstA := hostOf(parts[0]), hostOf(parts[2])
	if addrOf(f.Forward.SrcIP).String() != src || addrOf(f.Forward.DstIP).String() != dstA {
		return false
	}
	if sport != 0 && int(f.Forward.SrcPort) != sport {
		return false
	}
	return true
}

func flowText(f *netlink.ConntrackFlow) string {
	proto := map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}[f.Forward.Protocol]
	if proto == "icmp" || proto == "icmpv6" {
		return fmt.Sprintf("%s src=%s dst=%s src=%s dst=%s", proto, f.Forward.SrcIP, f.Forward.DstIP, f.Reverse.SrcIP, f.Reverse.DstIP)
	}
	return fmt.Sprintf("%s src=%s dst=%s sport=%d dport=%d src=%s dst=%s sport=%d dport=%d", proto,
		f.Forward.SrcIP, f.Forward.DstIP, f.Forward.SrcPort, f.Forward.DstPort,
		f.Reverse.SrcIP, f.Reverse.DstIP, f.Reverse.SrcPort, f.Reverse.DstPort)
}
