package trace

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"netlab/internal/netops"
)

// Tables are a namespace's iptables rules, read back from iptables-save,
// with just enough of iptables' matching to say which rule a packet meets
// first: the matches netlab, Docker, flannel and kube-proxy write. A match
// it does not know makes the rule "unknown" rather than silently skipped.
type Tables struct {
	chains   map[string]map[string][]rule // table -> chain -> rules
	policies map[string]map[string]string // table -> built-in chain -> policy
	// sets are the namespace's ipsets (-m set), by name.
	sets map[string]*ipset
	// recent are the namespace's xt_recent lists (-m recent: kube-proxy's
	// session affinity), by name: the sources each holds.
	recent map[string][]netip.Addr
}

// SetRecent gives the rules the namespace's xt_recent lists, as
// /proc/net/xt_recent/NAME prints them ("src=10.244.1.2 ttl: 64 ...").
func (t *Tables) SetRecent(lists map[string]string) {
	t.recent = map[string][]netip.Addr{}
	for name, text := range lists {
		for _, l := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(l, "src="); ok {
				if a, err := netip.ParseAddr(strings.Fields(rest)[0]); err == nil {
					t.recent[name] = append(t.recent[name], a)
				}
			}
		}
	}
}

// RecentLists are the names of the xt_recent lists the rules check.
func (t *Tables) RecentLists() []string {
	var out []string
	for _, chains := range t.chains {
		for _, rules := range chains {
			for _, r := range rules {
				for _, m := range r.matches {
					if m.opt == "--rcheck" && !slices.Contains(out, m.value) {
						out = append(out, m.value)
					}
				}
			}
		}
	}
	return out
}

// ipset is one set as `ipset save` prints it: hash:ip holds addresses,
// hash:net prefixes, some of them nomatch (an except carved out).
type ipset struct {
	entries []netip.Prefix
	nomatch []bool
}

// contains is the kernel's answer for a hash:ip or hash:net set: the most
// specific entry holding a decides, and a nomatch entry says no.
func (s *ipset) contains(a netip.Addr) bool {
	best, hit := -1, false
	for i, p := range s.entries {
		if p.Contains(a) && p.Bits() > best {
			best, hit = p.Bits(), !s.nomatch[i]
		}
	}
	return hit
}

// SetIPSets reads the namespace's ipsets (`ipset save`) for the rules
// that match them.
func (t *Tables) SetIPSets(save string) {
	t.sets = map[string]*ipset{}
	for _, line := range strings.Split(save, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "create":
			t.sets[f[1]] = &ipset{}
		case len(f) >= 3 && f[0] == "add" && t.sets[f[1]] != nil:
			p, err := netip.ParsePrefix(f[2])
			if err != nil {
				a, aerr := netip.ParseAddr(f[2])
				if aerr != nil {
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			s := t.sets[f[1]]
			s.entries = append(s.entries, p.Masked())
			s.nomatch = append(s.nomatch, len(f) > 3 && f[3] == "nomatch")
		}
	}
}

type rule struct {
	text    string // as iptables -S prints it
	matches []match
	target  string
	args    map[string]string
	unknown string // a match this evaluator does not model
}

type match struct {
	opt   string // -s, -d, -i, -o, -p, --dport, --sport, --dst-type, --src-type, --ctstate, --mark
	value string
	not   bool
}

// Packet is what the rules look at.
type Packet struct {
	Src, Dst     netip.Addr
	Proto        string // tcp, udp, icmp
	Sport, Dport int
	In, Out      string
	Mark         uint32
	// Bridged says br_netfilter shows iptables a frame bridged between
	// two ports (-m physdev --physdev-is-bridged).
	Bridged bool
	// sets are the ipsets of the namespace whose rules judge the packet.
	sets map[string]*ipset
	// recent are its xt_recent lists.
	recent map[string][]netip.Addr
	// Local reports whether an address is one of this namespace's own.
	Local func(netip.Addr) bool
	// Choose decides a random match (-m statistic --mode random) of the
	// rule with that text: nil takes every one (the first endpoint of a
	// Service); a trace that knows the real choice forces it.
	Choose func(rule string) bool
}

// ParseSave reads iptables-save output (any number of tables).
func ParseSave(text string) (*Tables, error) {
	t := &Tables{chains: map[string]map[string][]rule{}, policies: map[string]map[string]string{}}
	table := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			t.chains[table] = map[string][]rule{}
			t.policies[table] = map[string]string{}
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) >= 2 && f[1] != "-" {
				t.policies[table][f[0]] = f[1]
			}
		case line == "-A" || strings.HasPrefix(line, "-A "):
			args := netops.SplitSaved(line)
			if len(args) < 2 {
				return nil, fmt.Errorf("iptables-save line %d: %q has no chain", n+1, line)
			}
			r := parseRule(args[2:])
			r.text = line
			t.chains[table][args[1]] = append(t.chains[table][args[1]], r)
		}
	}
	return t, nil
}

func parseRule(a []string) rule {
	r := rule{args: map[string]string{}}
	not := false
	for i := 0; i < len(a); i++ {
		o := a[i]
		val := func() string {
			if i+1 < len(a) {
				i++
				return a[i]
			}
			return ""
		}
		switch o {
		case "!":
			not = true
			continue
		case "-s", "-d", "-i", "-o", "-p", "--dport", "--sport", "--dst-type", "--src-type", "--ctstate", "--mark", "--probability":
			r.matches = append(r.matches, match{opt: o, value: val(), not: not})
		case "-m":
			m := val()
			switch m {
			case "comment", "tcp", "udp", "icmp", "icmp6", "addrtype", "conntrack", "mark", "state", "statistic", "nfacct", "set", "physdev", "recent":
			default:
				r.unknown = "-m " + m
			}
		case "--match-set":
			name := val()
			r.matches = append(r.matches, match{opt: o, value: name + " " + val(), not: not})
		case "--physdev-is-bridged":
			r.matches = append(r.matches, match{opt: o, not: not})
		case "--name":
			r.args[o] = val()
		case "--rcheck":
			// The source in the list (its --seconds not judged: kube-proxy's
			// are its affinity timeout, hours by default).
			r.matches = append(r.matches, match{opt: o, not: not})
		case "--set", "--reap", "--rsource":
			// --set records the source and matches every packet.
		case "--seconds", "--mask":
			val()
		case "--comment", "--nfacct-name": // a counter counts, and matches every packet
			val()
		case "--state":
			r.matches = append(r.matches, match{opt: "--ctstate", value: val(), not: not})
		case "-j", "-g":
			r.target = val()
		case "--to-destination", "--to-source", "--set-xmark", "--to-ports", "--reject-with":
			r.args[o] = val()
		case "--random-fully", "--random", "--persistent":
		case "--mode":
			if v := val(); v != "random" {
				r.unknown = "--mode " + v
			}
		default:
			if strings.HasPrefix(o, "-") && r.target == "" {
				r.unknown = o
			}
		}
		not = false
	}
	for i := range r.matches {
		if r.matches[i].opt == "--rcheck" {
			r.matches[i].value = r.args["--name"] // iptables-save writes --name after --rcheck
		}
	}
	return r
}

// Verdict is how a chain ends for a packet: the rule that decided it (or
// the policy), and what it did.
type Verdict struct {
	// Random reports whether a random match (kube-proxy's choice of an
	// endpoint) decided the way.
	Random bool
	// Target is ACCEPT, DROP, REJECT, DNAT, SNAT, MASQUERADE, or "" when
	// the chain fell through to its policy.
	Target string
	// Rule is the deciding rule as iptables -S prints it, or the policy:
	// "-P FORWARD DROP".
	Rule string
	// To is a DNAT's --to-destination or an SNAT's --to-source.
	To string
	// Unknown lists rules the walk could not judge, which it took as not
	// matching.
	Unknown []string
	// Via are the rules that jumped, chain into chain, to the deciding
	// rule: a Service's KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-… path.
	Via []string
	// Mark is the packet's mark after the chain (MARK rules, such as
	// KUBE-MARK-MASQ's, set it, and it stays on the packet).
	Mark uint32
	// Marked are the MARK rules that matched on the way, in order: a
	// NetworkPolicy rule that allowed the packet is one.
	Marked []string
	// Table and Chain, for nftables, are the table ("ip kube-proxy") and
	// the base chain ("nat-prerouting") the verdict came from.
	Table, Chain string
}

// PolicyMark is the mark NetworkPolicy's rules set on what they allow
// (kube-router's 0x10000), as iptables-save prints it.
const PolicyMark = "--set-xmark 0x10000/0x10000"

// PolicyAllowed are the NetworkPolicy rules that allowed the packet.
func (v Verdict) PolicyAllowed() []string {
	var out []string
	for _, r := range v.Marked {
		if strings.Contains(r, PolicyMark) {
			out = append(out, r)
		}
	}
	return out
}

// Has says the namespace has table (iptables-save printed it).
func (t *Tables) Has(table string) bool { return t != nil && t.chains[table] != nil }

// Eval runs a packet through table's built-in chain and returns the verdict:
// for nat chains, the first DNAT/SNAT/MASQUERADE/ACCEPT/RETURN at the top;
// for filter, ACCEPT or DROP (the policy when nothing decides).
func (t *Tables) Eval(table, chain string, p Packet) Verdict {
	v := Verdict{Mark: p.Mark}
	if t != nil {
		p.sets, p.recent = t.sets, t.recent
	}
	if t == nil || t.chains[table] == nil {
		return Verdict{Target: "ACCEPT", Rule: "(no " + table + " table)", Mark: p.Mark}
	}
	target, r, to, ok := t.walk(table, chain, &p, &v, 0)
	v.Mark = p.Mark
	if ok {
		v.Target, v.Rule, v.To = target, r, to
		return v
	}
	v.Via = nil
	pol := t.policies[table][chain]
	if pol == "" {
		pol = "ACCEPT"
	}
	v.Target, v.Rule = pol, fmt.Sprintf("-P %s %s", chain, pol)
	return v
}

func (t *Tables) walk(table, chain string, p *Packet, v *Verdict, depth int) (string, string, string, bool) {
	if depth > 32 {
		return "", "", "", false
	}
	for _, r := range t.chains[table][chain] {
		if r.unknown != "" {
			if r.matchesExceptUnknown(*p) {
				v.Unknown = append(v.Unknown, r.text)
			}
			continue
		}
		if !r.match(*p) {
			continue
		}
		if r.random() {
			v.Random = true
			if p.Choose != nil && !p.Choose(r.text) {
				continue
			}
		}
		switch r.target {
		case "ACCEPT", "DROP", "REJECT", "MASQUERADE":
			return r.target, r.text, "", true
		case "DNAT":
			return r.target, r.text, r.args["--to-destination"], true
		case "SNAT":
			return r.target, r.text, r.args["--to-source"], true
		case "RETURN":
			if depth == 0 {
				return "", "", "", false // the built-in chain's policy
			}
			return "RETURN", r.text, "", true
		case "MARK":
			p.Mark = setXMark(p.Mark, r.args["--set-xmark"])
			v.Marked = append(v.Marked, r.text)
		case "", "LOG", "NFLOG", "TRACE", "CHECKSUM":
		default: // a user chain
			target, text, to, ok := t.walk(table, r.target, p, v, depth+1)
			if ok && target != "RETURN" {
				v.Via = append([]string{r.text}, v.Via...)
				return target, text, to, true
			}
		}
	}
	return "", "", "", false
}

func setXMark(mark uint32, arg string) uint32 {
	val, mask, _ := strings.Cut(arg, "/")
	v, _ := strconv.ParseUint(val, 0, 32)
	m := uint64(0xffffffff)
	if mask != "" {
		m, _ = strconv.ParseUint(mask, 0, 32)
	}
	return (mark &^ uint32(m)) ^ uint32(v)
}

func (r rule) matchesExceptUnknown(p Packet) bool { return r.match(p) }

// random reports whether the rule has a random match.
func (r rule) random() bool {
	for _, m := range r.matches {
		if m.opt == "--probability" {
			return true
		}
	}
	return false
}

func (r rule) match(p Packet) bool {
	for _, m := range r.matches {
		if m.hit(p) == m.not {
			return false
		}
	}
	return true
}

func (m match) hit(p Packet) bool {
	switch m.opt {
	case "-s":
		return inPrefix(p.Src, m.value)
	case "-d":
		return inPrefix(p.Dst, m.value)
	case "-i":
		return ifaceMatch(p.In, m.value)
	case "-o":
		return ifaceMatch(p.Out, m.value)
	case "-p":
		// ip6tables-save names ICMPv6 ipv6-icmp; a walk's ping is "icmp"
		// in both families.
		return m.value == "all" || m.value == p.Proto ||
			(p.Proto == "icmp" && p.Dst.Is6() && (m.value == "ipv6-icmp" || m.value == "icmpv6" || m.value == "58"))
	case "--dport":
		return portMatch(p.Dport, m.value)
	case "--sport":
		return portMatch(p.Sport, m.value)
	case "--dst-type", "--src-type":
		a := p.Dst
		if m.opt == "--src-type" {
			a = p.Src
		}
		local := a.IsLoopback() || (p.Local != nil && p.Local(a))
		switch m.value {
		case "LOCAL":
			return local
		case "UNICAST":
			return !a.IsMulticast()
		}
		return false
	case "--match-set":
		// A set of NetworkPolicy's: the source or destination address in
		// it (the first flag: kube-router's rules name one).
		name, flags, _ := strings.Cut(m.value, " ")
		set := p.sets[name]
		if set == nil {
			return false
		}
		a := p.Dst
		if strings.HasPrefix(flags, "src") {
			a = p.Src
		}
		return set.contains(a)
	case "--physdev-is-bridged":
		return p.Bridged
	case "--rcheck":
		return slices.Contains(p.recent[m.value], p.Src)
	case "--ctstate":
		// A walk is of a connection's first packet.
		for _, s := range strings.Split(m.value, ",") {
			if s == "NEW" {
				return true
			}
		}
		return false
	case "--probability":
		return true // decided by random(), and Choose
	case "--mark":
		val, mask, _ := strings.Cut(m.value, "/")
		v, _ := strconv.ParseUint(val, 0, 32)
		mk := uint64(0xffffffff)
		if mask != "" {
			mk, _ = strconv.ParseUint(mask, 0, 32)
		}
		return p.Mark&uint32(mk) == uint32(v)
	}
	return false
}

// inPrefix reports whether a is in s, a prefix or an address (of
// either family: an address is its /32 or /128).
func inPrefix(a netip.Addr, s string) bool {
	if !strings.Contains(s, "/") {
		b, err := netip.ParseAddr(s)
		return err == nil && a.IsValid() && a == b
	}
	pfx, err := netip.ParsePrefix(s)
	return err == nil && a.IsValid() && pfx.Contains(a)
}

func ifaceMatch(name, pat string) bool {
	if strings.HasSuffix(pat, "+") {
		return strings.HasPrefix(name, strings.TrimSuffix(pat, "+"))
	}
	return name == pat
}

func portMatch(port int, s string) bool {
	lo, hi, rng := strings.Cut(s, ":")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return false
	}
	if !rng {
		return port == a
	}
	b, err := strconv.Atoi(hi)
	return err == nil && port >= a && port <= b
}

// JumpTarget is the chain a rule (as iptables -S prints it) jumps to.
func (t *Tables) JumpTarget(text string) string {
	for _, chains := range t.chains {
		for _, rs := range chains {
			for _, r := range rs {
				if r.text == text {
					return r.target
				}
			}
		}
	}
	return ""
}

// DNATs are the destinations a chain's DNAT rules rewrite to.
func (t *Tables) DNATs(chain string) []string {
	var out []string
	for _, r := range t.chains["nat"][chain] {
		if r.target == "DNAT" {
			out = append(out, r.args["--to-destination"])
		}
	}
	return out
}
