package trace

import (
	"fmt"
	"io"
	"strings"

	"netlab/internal/api"
)

// Text writes a trace for a terminal: a few lines per hop, then what the
// real packet did and whether it agrees.
func Text(w io.Writer, t api.Trace) {
	dst := t.Dst.IP
	if t.Dst.Name != "" {
		dst += " (" + t.Dst.Name + ")"
	}
	what := t.Proto
	if t.Port != 0 {
		what = fmt.Sprintf("%s/%d", t.Proto, t.Port)
	}
	src := t.Src.Name
	if t.Src.IP != "" {
		src += " " + t.Src.IP
	}
	fmt.Fprintf(w, "netlab trace: %s → %s, %s, lab %s\n\n", src, dst, what, t.Lab)
	// The next hop's MAC comes from ARP in IPv4, from neighbour
	// discovery in IPv6.
	neighbourLabel := "arp"
	if strings.Contains(t.Dst.IP, ":") {
		neighbourLabel = "ndp"
	}
	hostW := 0
	for _, h := range t.Hops {
		hostW = max(hostW, len(h.Host))
	}
	for i, h := range t.Hops {
		head := fmt.Sprintf("%2d  %-*s  %-11s", i+1, hostW, h.Host, h.Action)
		var io []string
		if h.In != "" {
			io = append(io, "in "+h.In)
		}
		if h.Out != "" {
			io = append(io, "out "+h.Out)
		}
		fmt.Fprintln(w, strings.TrimRight(head+" "+strings.Join(io, ", "), " "))
		ind := strings.Repeat(" ", 6+hostW)
		line := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "%s%-9s %s\n", ind, k, v)
			}
		}
		line("bridge", h.Bridge)
		line("packet", h.Packet)
		// In the kernel's order: NAT before routing, the routing
		// decision, filter FORWARD, NAT after routing.
		rewrites := func(post bool) {
			for _, r := range h.Rewrite {
				if isSNAT(r) != post {
					continue
				}
				line(map[bool]string{false: "dnat", true: "snat"}[post], r.What)
				for _, v := range r.Via {
					line("", "via "+v)
				}
				line("", "by "+r.Rule)
				line("conntrack", r.Conntrack)
			}
		}
		rewrites(false)
		line("route", h.Route)
		if raw, ok := strings.CutPrefix(h.Filter, "raw "); ok {
			line("raw", raw) // a drop in the raw table, before any routing
		} else {
			line("filter", h.Filter)
		}
		for _, v := range h.FilterVia {
			line("", "via "+v)
		}
		rewrites(true)
		line(neighbourLabel, h.Neighbour)
		line("fdb", h.FDB)
		if e := h.Encapsulation; e != nil {
			line("vxlan", fmt.Sprintf("outer %s → %s, UDP %d, VNI %d", e.Src, e.Dst, e.Port, e.VNI))
		}
		line("note", h.Note)
		line("seen", h.Seen)
	}
	fmt.Fprintln(w)
	switch t.Outcome {
	case "delivered":
		fmt.Fprintf(w, "The walk ends in %s: delivered.\n", t.DeliveredTo)
	case "left":
		fmt.Fprintf(w, "The walk leaves this machine, to %s: run netlab trace there to follow it.\n", t.DeliveredTo)
	default:
		fmt.Fprintf(w, "The walk ends at %s: %s.\n", t.Hops[len(t.Hops)-1].Host, t.Outcome)
	}
	if t.Dst.Note != "" {
		fmt.Fprintln(w, "Note: "+t.Dst.Note+".")
	}
	fmt.Fprintf(w, "One real packet: %s.\n", t.Sent)
	if t.Confirmed {
		if usesNFT(t) {
			fmt.Fprintln(w, "Confirmed: the interface counters, the rules' counters, nftables' trace (meta nftrace) and conntrack agree with every hop.")
		} else {
			fmt.Fprintln(w, "Confirmed: the interface counters, the rules' counters and conntrack agree with every hop.")
		}
	} else {
		fmt.Fprintln(w, "NOT confirmed: the kernel did otherwise:")
		for _, d := range t.Disagreements {
			fmt.Fprintln(w, "  - "+d)
		}
	}
	if len(t.Expected) > 0 {
		fmt.Fprintln(w, "Not as netlab built it:")
		for _, d := range t.Expected {
			fmt.Fprintln(w, "  - "+d)
		}
	}
}

// isSNAT says a rewrite is of the source, after routing: iptables' nat
// POSTROUTING's, or an nftables nat chain's on postrouting.
func isSNAT(r api.Rewrite) bool { return r.Chain == "POSTROUTING" || strings.HasPrefix(r.What, "src ") }

// usesNFT says the walk went through nftables rules of a native table
// (kube-proxy's nftables mode), which nftables' trace confirms.
func usesNFT(t api.Trace) bool {
	for _, h := range t.Hops {
		for _, r := range h.Rewrite {
			if r.Table != "" && r.Table != "nat" {
				return true
			}
		}
		if f := strings.Fields(h.Filter); len(f) > 0 && (f[0] == "ip" || f[0] == "ip6" || f[0] == "inet") {
			return true
		}
	}
	return false
}
