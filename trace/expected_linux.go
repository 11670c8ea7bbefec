package trace

import (
	"fmt"
	"net/netip"
	"strings"

	"netlab/internal/api"
	"netlab/internal/lab"
	"netlab/internal/netops"
)

// planned is what netlab built in one namespace, from the lab's plan.
type planned struct {
	// observe: say what differs, never the command that restores it
	// (a running exercise's lab).
	observe bool
	routes  []plannedRoute
	neigh   map[string]netops.NeighReplace // dev/ip -> entry
	fdb     map[string]netops.FdbReplace   // dev/mac -> entry
	ipt     *Tables
}

type plannedRoute struct {
	dst      netip.Prefix
	via, dev string
	text     string
}

// plan returns what netlab built, namespace by namespace.
func (w *world) plan() map[netops.NS]*planned {
	m, ok := lab.ModeNamed(w.s.Mode)
	if !ok {
		return nil
	}
	out := map[netops.NS]*planned{}
	get := func(ns netops.NS) *planned {
		if out[ns] == nil {
			out[ns] = &planned{observe: w.observe, neigh: map[string]netops.NeighReplace{}, fdb: map[string]netops.FdbReplace{}}
		}
		return out[ns]
	}
	var add func(ops []netops.Op)
	add = func(ops []netops.Op) {
		for _, op := range ops {
			switch o := op.(type) {
			case netops.Parallel:
				for _, g := range o.Groups {
					add(g)
				}
			case netops.RouteAdd:
				dst := o.Dst
				if dst == "default" {
					dst = "0.0.0.0/0"
					if strings.Contains(o.Via, ":") {
						dst = "::/0"
					}
				}
				if pfx, err := netip.ParsePrefix(dst); err == nil {
					p := get(o.NS)
					p.routes = append(p.routes, plannedRoute{pfx, o.Via, o.Dev, o.Commands()[0]})
				}
			case netops.AddrAdd:
				if pfx, err := netip.ParsePrefix(o.CIDR); err == nil {
					p := get(o.NS)
					p.routes = append(p.routes, plannedRoute{pfx.Masked(), "", o.Dev, o.Commands()[0] + " (its connected route)"})
				}
			case netops.NeighReplace:
				get(o.NS).neigh[o.Dev+"/"+o.IP] = o
			case netops.FdbReplace:
				get(o.NS).fdb[o.Dev+"/"+strings.ToLower(o.MAC)] = o
			case netops.IPTables:
				if o.IPv6 == w.v6 { // the rules of the walk's family
					get(o.NS).ipt = planTables(o)
				}
			}
		}
	}
	add(m.Plan(w.s.Topology).Ops)
	return out
}

// planTables are the rules netlab loads in a namespace, as Tables.
func planTables(o netops.IPTables) *Tables {
	t := &Tables{chains: map[string]map[string][]rule{}, policies: map[string]map[string]string{}}
	for _, tb := range []string{"nat", "filter"} {
		t.chains[tb], t.policies[tb] = map[string][]rule{}, map[string]string{}
	}
	for _, p := range o.Policies {
		if t.policies[p.Table] != nil {
			t.policies[p.Table][p.Chain] = p.Target
		}
	}
	for _, r := range o.Rules {
		if t.chains[r.Table] == nil {
			continue
		}
		pr := parseRule(r.Spec)
		pr.text = "-A " + r.Chain + " " + strings.Join(r.Spec, " ")
		if r.Insert {
			t.chains[r.Table][r.Chain] = append([]rule{pr}, t.chains[r.Table][r.Chain]...)
		} else {
			t.chains[r.Table][r.Chain] = append(t.chains[r.Table][r.Chain], pr)
		}
	}
	return t
}

// expected compares each hop with what netlab built there: the route it
// would have chosen, the FDB entry of the tunnel, the DNAT of the
// published port. Each difference is something changed by hand.
func (w *world) expected(hops []api.Hop) []string {
	plan := w.plan()
	var out []string
	for i, h := range hops {
		p := plan[netops.NS(h.Namespace)]
		if p == nil || i >= len(w.trail) {
			continue
		}
		pkt := w.trail[i]
		if d := p.checkRoute(h, pkt); d != "" {
			out = append(out, h.Host+": "+d)
		}
		if d := p.checkFDB(h); d != "" {
			out = append(out, h.Host+": "+d)
		}
		if d := p.checkDNAT(h, pkt, w); d != "" {
			out = append(out, h.Host+": "+d)
		}
	}
	return out
}

// checkRoute: the most specific route netlab built for the packet's
// destination, against the kernel's choice.
func (p *planned) checkRoute(h api.Hop, pkt Packet) string {
	if h.Route == "" || strings.HasPrefix(h.Route, "local ") || (h.Action != "route" && h.Action != "encapsulate" && h.Action != "drop") {
		return ""
	}
	dst := pkt.Dst
	if len(h.Rewrite) > 0 && strings.HasPrefix(h.Rewrite[0].What, "dst ") {
		if _, to, ok := rewriteAddrs(h.Rewrite[0].What); ok {
			if a, err := netip.ParseAddr(hostOf(to)); err == nil {
				dst = a
			}
		}
	}
	var best *plannedRoute
	for i, r := range p.routes {
		if r.dst.Contains(dst) && (best == nil || r.dst.Bits() > best.dst.Bits()) {
			best = &p.routes[i]
		}
	}
	if best == nil {
		return ""
	}
	f := strings.Fields(h.Route)
	via, dev := "", ""
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "via":
			via = f[i+1]
		case "dev":
			dev = f[i+1]
		}
	}
	if h.Action == "drop" && via == "" && dev == "" {
		if p.observe {
			return fmt.Sprintf("the kernel has no route for %s; netlab built one for %s here", dst, best.dst)
		}
		return fmt.Sprintf("netlab built it with '%s'; the kernel has no route for %s", best.text, dst)
	}
	if (best.via != "" && best.via != via) || (best.dev != "" && best.dev != dev) {
		if p.observe {
			return fmt.Sprintf("the kernel chose '%s', not the route netlab built for %s", h.Route, best.dst)
		}
		return fmt.Sprintf("netlab built it with '%s'; the kernel chose '%s'", best.text, h.Route)
	}
	return ""
}

// checkFDB: the tunnel's FDB entry for the next hop's MAC, as netlab set it.
func (p *planned) checkFDB(h api.Hop) string {
	if h.Encapsulation == nil && !strings.HasPrefix(h.FDB, "no FDB entry") {
		return ""
	}
	dev := h.Out
	for k, n := range p.neigh {
		if !strings.HasPrefix(k, dev+"/") {
			continue
		}
		if !strings.Contains(h.Neighbour, n.MAC) && !strings.HasPrefix(h.Neighbour, n.IP+" ") {
			continue
		}
		want, ok := p.fdb[dev+"/"+strings.ToLower(n.MAC)]
		if !ok {
			continue
		}
		switch {
		case h.Encapsulation == nil && p.observe:
			return fmt.Sprintf("the kernel has no FDB entry for %s on %s; netlab built one", want.MAC, dev)
		case h.Encapsulation == nil:
			return fmt.Sprintf("netlab built it with '%s'; the kernel has no FDB entry for %s", want.Commands()[0], want.MAC)
		case h.Encapsulation.Dst != want.Dst && p.observe:
			return fmt.Sprintf("the kernel's FDB entry for %s sends it to %s, not where netlab's did", want.MAC, h.Encapsulation.Dst)
		case h.Encapsulation.Dst != want.Dst:
			return fmt.Sprintf("netlab built it with '%s'; the kernel's entry sends it to %s", want.Commands()[0], h.Encapsulation.Dst)
		}
	}
	return ""
}

// gotRule is the rule that rewrote the hop's packet in chain.
func gotRule(h api.Hop, chain string) string {
	for _, r := range h.Rewrite {
		if r.Chain == chain {
			return r.Rule
		}
	}
	return ""
}

// checkDNAT: netlab's own nat rules, run on the packet as it arrived,
// against what the kernel's rules did.
func (p *planned) checkDNAT(h api.Hop, pkt Packet, w *world) string {
	if p.ipt == nil || (h.Action == "bridge" && h.Filter == "") {
		// A frame bridged without br_netfilter meets no iptables rule.
		return ""
	}
	v, err := w.view(netops.NS(h.Namespace))
	if err != nil {
		return ""
	}
	chain := "PREROUTING"
	if pkt.In == "" {
		chain = "OUTPUT"
	}
	pkt.Local = v.local
	want := p.ipt.Eval("nat", chain, pkt)
	got := ""
	for _, r := range h.Rewrite {
		if r.Chain == chain {
			got = r.What
		}
	}
	switch {
	case want.Target == "DNAT" && got == "" && p.observe:
		return "the kernel's rules did not rewrite its destination; netlab's did here"
	case want.Target == "DNAT" && got == "":
		return fmt.Sprintf("netlab's rule '%s' would send it to %s; the kernel's rules did not rewrite it", want.Rule, want.To)
	case want.Target == "DNAT" && !strings.HasSuffix(got, "→ "+want.To) && p.observe:
		return fmt.Sprintf("the kernel's rules did %s, not what netlab's rules did", got)
	case want.Target == "DNAT" && !strings.HasSuffix(got, "→ "+want.To):
		return fmt.Sprintf("netlab's rule '%s' sends it to %s; the kernel's rules did: %s", want.Rule, want.To, got)
	case want.Target != "DNAT" && got != "" && !strings.Contains(gotRule(h, chain), "netlab:"+w.s.Lab):
		return fmt.Sprintf("a rule netlab did not write rewrote it: %s", got)
	}
	return ""
}
