package trace

// nftables as the walk reads it: the native tables of a namespace (those
// iptables-nft does not own, which iptables-save shows), read back from
// `nft -j list ruleset` for their structure and `nft -a list ruleset` for
// each rule's text, with just enough of nftables' evaluation to say what
// a packet meets: the expressions kube-proxy's nftables mode writes
// (verdict maps keyed by a concatenation, numgen, sets, prefixes, the
// mark, dnat, masquerade, reject). An expression it does not know makes
// the rule "unknown", taken as not matching and said so, never silently
// skipped.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// NFTables are a namespace's native nftables tables.
type NFTables struct {
	chains map[string]*nftChain // "family table chain"
	base   []*nftChain
	sets   map[string][]nftElem // "family table name"
}

type nftChain struct {
	family, table, name string
	typ, hook           string
	prio                int
	rules               []nftRule
}

type nftRule struct {
	exprs []map[string]json.RawMessage
	text  string
}

// nftElem is one element of a set or map: its key, and a map's verdict.
type nftElem struct {
	key     json.RawMessage
	verdict json.RawMessage
}

// iptablesNFT are the tables iptables-nft makes, read through
// iptables-save instead: their rules are xtables matches nft cannot show.
var iptablesNFT = map[string]bool{"filter": true, "nat": true, "mangle": true, "raw": true, "security": true}

// ParseNFT reads a ruleset from nft's JSON listing and its text listing
// with handles (-a), which gives each rule's text. Nil when the namespace
// has no native table.
func ParseNFT(jsonList, textList []byte) (*NFTables, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(jsonList, &doc); err != nil {
		return nil, fmt.Errorf("read nft's JSON listing: %v", err)
	}
	texts := nftRuleTexts(string(textList))
	n := &NFTables{chains: map[string]*nftChain{}, sets: map[string][]nftElem{}}
	own := func(family, table string) bool {
		return (family == "ip" || family == "ip6" || family == "inet") && !(family != "inet" && iptablesNFT[table])
	}
	for _, obj := range doc.Nftables {
		switch {
		case obj["chain"] != nil:
			var c struct {
				Family, Table, Name, Type, Hook string
				Prio                            int
			}
			if err := json.Unmarshal(obj["chain"], &c); err != nil || !own(c.Family, c.Table) {
				continue
			}
			ch := &nftChain{family: c.Family, table: c.Table, name: c.Name, typ: c.Type, hook: c.Hook, prio: c.Prio}
			n.chains[c.Family+" "+c.Table+" "+c.Name] = ch
			if c.Hook != "" {
				n.base = append(n.base, ch)
			}
		case obj["rule"] != nil:
			var r struct {
				Family, Table, Chain string
				Handle               int
				Expr                 []map[string]json.RawMessage
			}
			if err := json.Unmarshal(obj["rule"], &r); err != nil || !own(r.Family, r.Table) {
				continue
			}
			ch := n.chains[r.Family+" "+r.Table+" "+r.Chain]
			if ch == nil {
				continue
			}
			text := texts[fmt.Sprintf("%s %s %s %d", r.Family, r.Table, r.Chain, r.Handle)]
			ch.rules = append(ch.rules, nftRule{exprs: r.Expr, text: fmt.Sprintf("chain %s: %s", r.Chain, text)})
		case obj["set"] != nil || obj["map"] != nil:
			raw := obj["set"]
			if raw == nil {
				raw = obj["map"]
			}
			var s struct {
				Family, Table, Name string
				Elem                []json.RawMessage
			}
			if err := json.Unmarshal(raw, &s); err != nil || !own(s.Family, s.Table) {
				continue
			}
			var elems []nftElem
			for _, e := range s.Elem {
				var pair []json.RawMessage
				if json.Unmarshal(e, &pair) == nil && len(pair) == 2 {
					elems = append(elems, nftElem{key: pair[0], verdict: pair[1]})
				} else {
					elems = append(elems, nftElem{key: e})
				}
			}
			n.sets[s.Family+" "+s.Table+" "+s.Name] = elems
		}
	}
	if len(n.chains) == 0 {
		return nil, nil
	}
	sort.SliceStable(n.base, func(i, j int) bool { return n.base[i].prio < n.base[j].prio })
	return n, nil
}

// nftRuleTexts maps "family table chain handle" to the rule's text, as
// `nft -a list ruleset` prints it (without its "# handle N").
func nftRuleTexts(text string) map[string]string {
	out := map[string]string{}
	table, chain := "", ""
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		body, handle, ok := strings.Cut(l, " # handle ")
		switch f := strings.Fields(l); {
		case len(f) >= 3 && f[0] == "table":
			table, chain = f[1]+" "+f[2], ""
		case len(f) >= 2 && f[0] == "chain" && strings.HasSuffix(body, "{"):
			chain = f[1]
		case l == "}":
			if chain != "" {
				chain = ""
			}
		case ok && chain != "":
			out[table+" "+chain+" "+handle] = body
		}
	}
	return out
}

// nftKey is what a packet offers an expression: a value as nft's JSON
// spells it (an address, a protocol name, a number), or a list for a
// concatenation.
type nftVal struct {
	s    string
	list []nftVal
}

// EvalHook runs a packet through the base chains of a type (nat, filter)
// on a hook (prerouting, input, forward, output, postrouting) of the
// family (ip, ip6, and inet's), in priority order, between lo and hi
// (inclusive), and returns what decided it: for filter, the first DROP or
// REJECT (an accept ends one base chain only); for nat, the first DNAT,
// SNAT or MASQUERADE. Target "" when nothing did.
func (n *NFTables) EvalHook(family, typ, hook string, lo, hi int, p Packet) Verdict {
	v := Verdict{Mark: p.Mark}
	if n == nil {
		return v
	}
	for _, c := range n.base {
		if (c.family != family && c.family != "inet") || c.typ != typ || c.hook != hook || c.prio < lo || c.prio > hi {
			continue
		}
		var via []string
		target, rule, to, _ := n.run(c, &p, &v, &via, 0)
		v.Mark = p.Mark
		switch {
		case typ == "filter" && (target == "DROP" || target == "REJECT"),
			typ == "nat" && (target == "DNAT" || target == "SNAT" || target == "MASQUERADE"):
			v.Target, v.Rule, v.To, v.Via = target, rule, to, via
			v.Table, v.Chain = c.family+" "+c.table, c.name
			return v
		}
	}
	return v
}

// run evaluates chain c; it returns a verdict (ACCEPT, DROP, REJECT,
// DNAT, SNAT, MASQUERADE, RETURN) and the rule, or done false when the
// chain fell through.
func (n *NFTables) run(c *nftChain, p *Packet, v *Verdict, via *[]string, depth int) (string, string, string, bool) {
	if depth > 32 {
		return "", "", "", false
	}
	for _, r := range c.rules {
		target, to, next, goto_, ok := n.rule(c, r, p, v)
		if !ok {
			continue
		}
		switch {
		case next != nil:
			t, text, to, done := n.run(next, p, v, via, depth+1)
			if done && t != "RETURN" {
				*via = append([]string{r.text}, *via...)
				return t, text, to, true
			}
			if goto_ {
				// goto: the called chain's end ends this one too.
				return "RETURN", r.text, "", true
			}
		case target != "":
			return target, r.text, to, true
		}
	}
	return "", "", "", false
}

// rule evaluates one rule: its matches, then its statements. It returns
// a verdict (target, and a NAT's address), or the chain it jumps to or
// goes to; ok false when the rule does not match (or cannot be judged).
func (n *NFTables) rule(c *nftChain, r nftRule, p *Packet, v *Verdict) (target, to string, next *nftChain, goto_ bool, ok bool) {
	chainNamed := func(name string) *nftChain { return n.chains[c.family+" "+c.table+" "+name] }
	verdictOf := func(raw json.RawMessage) (string, *nftChain, bool) {
		var vd map[string]json.RawMessage
		if json.Unmarshal(raw, &vd) != nil {
			return "", nil, false
		}
		for k, a := range vd {
			var t struct{ Target string }
			_ = json.Unmarshal(a, &t)
			switch k {
			case "jump":
				return "", chainNamed(t.Target), false
			case "goto":
				return "", chainNamed(t.Target), true
			case "accept", "drop", "return":
				return strings.ToUpper(k), nil, false
			}
		}
		return "", nil, false
	}
	for _, e := range r.exprs {
		for k, a := range e {
			switch k {
			case "match":
				var m struct {
					Op          string
					Left, Right json.RawMessage
				}
				if json.Unmarshal(a, &m) != nil {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				left, known := n.value(c, m.Left, p)
				if !known {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				hit, known := n.matches(c, left, m.Right)
				if !known {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				if m.Op == "!=" {
					hit = !hit
				}
				if !hit {
					return "", "", nil, false, false
				}
			case "vmap":
				var m struct{ Key, Data json.RawMessage }
				if json.Unmarshal(a, &m) != nil {
					return "", "", nil, false, false
				}
				elems, known := n.elems(c, m.Data)
				if !known {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				var ng struct {
					Numgen *struct{ Mode string }
				}
				_ = json.Unmarshal(m.Key, &ng)
				if ng.Numgen != nil {
					// numgen random: kube-proxy's choice of an endpoint.
					v.Random = true
					for _, el := range elems {
						t, ch, g := verdictOf(el.verdict)
						if ch == nil && t == "" {
							continue
						}
						if p.Choose != nil && ch != nil && !p.Choose("goto "+ch.name) {
							continue
						}
						return t, "", ch, g, true
					}
					return "", "", nil, false, false
				}
				key, known := n.value(c, m.Key, p)
				if !known {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				for _, el := range elems {
					if hit, _ := n.matches(c, key, el.key); hit {
						t, ch, g := verdictOf(el.verdict)
						return t, "", ch, g, true
					}
				}
				return "", "", nil, false, false
			case "jump", "goto":
				t, ch, g := verdictOf(mustJSON(map[string]json.RawMessage{k: a}))
				return t, "", ch, g, true
			case "accept", "drop", "return":
				return strings.ToUpper(k), "", nil, false, true
			case "reject":
				return "REJECT", "", nil, false, true
			case "masquerade":
				return "MASQUERADE", "", nil, false, true
			case "dnat", "snat":
				var d struct {
					Addr string
					Port json.RawMessage
				}
				_ = json.Unmarshal(a, &d)
				return strings.ToUpper(k), natTo(d.Addr, d.Port), nil, false, true
			case "mangle":
				var m struct{ Key, Value json.RawMessage }
				_ = json.Unmarshal(a, &m)
				if bytes.Contains(m.Key, []byte(`"nftrace"`)) {
					continue // tracing on: nothing of the packet's way
				}
				if !bytes.Contains(m.Key, []byte(`"mark"`)) {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				val, known := n.value(c, m.Value, p)
				mark, err := strconv.ParseUint(val.s, 0, 32)
				if !known || err != nil {
					v.Unknown = append(v.Unknown, r.text)
					return "", "", nil, false, false
				}
				p.Mark = uint32(mark)
				v.Marked = append(v.Marked, r.text)
			case "counter", "log", "set", "limit", "notrack":
				// counted, logged, a set updated (affinity), the trace
				// flag: nothing that changes the packet's way.
			default:
				v.Unknown = append(v.Unknown, r.text)
				return "", "", nil, false, false
			}
		}
	}
	return "", "", nil, false, false
}

func mustJSON(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

// value is what the packet gives an expression: a payload field, a meta
// or ct key, a concatenation, the mark combined with a number.
func (n *NFTables) value(c *nftChain, raw json.RawMessage, p *Packet) (nftVal, bool) {
	var e map[string]json.RawMessage
	if json.Unmarshal(raw, &e) != nil {
		// A literal: a number or a string.
		return nftVal{s: strings.Trim(string(raw), `"`)}, true
	}
	for k, a := range e {
		switch k {
		case "payload":
			var pl struct{ Protocol, Field string }
			_ = json.Unmarshal(a, &pl)
			switch {
			case (pl.Protocol == "ip" || pl.Protocol == "ip6") && pl.Field == "saddr":
				return nftVal{s: p.Src.String()}, p.Src.IsValid()
			case (pl.Protocol == "ip" || pl.Protocol == "ip6") && pl.Field == "daddr":
				return nftVal{s: p.Dst.String()}, p.Dst.IsValid()
			case pl.Protocol == "th" || pl.Protocol == p.Proto:
				if pl.Field == "dport" {
					return nftVal{s: strconv.Itoa(p.Dport)}, true
				}
				if pl.Field == "sport" {
					return nftVal{s: strconv.Itoa(p.Sport)}, true
				}
			case pl.Protocol == "tcp" || pl.Protocol == "udp" || pl.Protocol == "sctp":
				// Another protocol's header: no such field on this packet.
				return nftVal{s: "\x00none"}, true
			}
			return nftVal{}, false
		case "meta":
			var m struct{ Key string }
			_ = json.Unmarshal(a, &m)
			switch m.Key {
			case "l4proto", "protocol":
				return nftVal{s: p.Proto}, true
			case "mark":
				return nftVal{s: strconv.FormatUint(uint64(p.Mark), 10)}, true
			case "iifname":
				return nftVal{s: p.In}, true
			case "oifname":
				return nftVal{s: p.Out}, true
			}
			return nftVal{}, false
		case "ct":
			var m struct{ Key string }
			_ = json.Unmarshal(a, &m)
			if m.Key == "state" {
				return nftVal{s: "new"}, true // the walk follows a connection's first packet
			}
			return nftVal{}, false
		case "concat":
			var parts []json.RawMessage
			_ = json.Unmarshal(a, &parts)
			var out nftVal
			for _, part := range parts {
				pv, ok := n.value(c, part, p)
				if !ok {
					return nftVal{}, false
				}
				out.list = append(out.list, pv)
			}
			return out, true
		case "&", "|", "^":
			var ops []json.RawMessage
			_ = json.Unmarshal(a, &ops)
			if len(ops) != 2 {
				return nftVal{}, false
			}
			x, ok1 := n.value(c, ops[0], p)
			y, ok2 := n.value(c, ops[1], p)
			a, err1 := strconv.ParseUint(x.s, 0, 32)
			b, err2 := strconv.ParseUint(y.s, 0, 32)
			if !ok1 || !ok2 || err1 != nil || err2 != nil {
				return nftVal{}, false
			}
			r := map[string]uint64{"&": a & b, "|": a | b, "^": a ^ b}[k]
			return nftVal{s: strconv.FormatUint(r, 10)}, true
		}
	}
	return nftVal{}, false
}

// elems are the elements of a named set or map ("@name"), or of an
// anonymous one ({"set": [...]}).
func (n *NFTables) elems(c *nftChain, raw json.RawMessage) ([]nftElem, bool) {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if !strings.HasPrefix(name, "@") {
			return []nftElem{{key: raw}}, true
		}
		els, ok := n.sets[c.family+" "+c.table+" "+name[1:]]
		return els, ok
	}
	var anon struct{ Set []json.RawMessage }
	if json.Unmarshal(raw, &anon) != nil || anon.Set == nil {
		return nil, false
	}
	var out []nftElem
	for _, e := range anon.Set {
		var pair []json.RawMessage
		if json.Unmarshal(e, &pair) == nil && len(pair) == 2 {
			out = append(out, nftElem{key: pair[0], verdict: pair[1]})
		} else {
			out = append(out, nftElem{key: e})
		}
	}
	return out, true
}

// matches says whether v is the right-hand side: a literal, a prefix, a
// range, a concatenation of them, a set's element ("@name") or an
// anonymous set's.
func (n *NFTables) matches(c *nftChain, v nftVal, raw json.RawMessage) (bool, bool) {
	var e map[string]json.RawMessage
	if json.Unmarshal(raw, &e) != nil {
		var lit string
		if json.Unmarshal(raw, &lit) == nil && strings.HasPrefix(lit, "@") {
			return n.inSet(c, v, raw)
		}
		return sameValue(v.s, strings.Trim(string(raw), `"`)), true
	}
	for k, a := range e {
		switch k {
		case "elem":
			var el struct{ Val json.RawMessage }
			_ = json.Unmarshal(a, &el)
			return n.matches(c, v, el.Val)
		case "prefix":
			var pf struct {
				Addr string
				Len  int
			}
			_ = json.Unmarshal(a, &pf)
			addr, err1 := netip.ParseAddr(v.s)
			base, err2 := netip.ParseAddr(pf.Addr)
			if err1 != nil || err2 != nil {
				return false, err2 == nil
			}
			return netip.PrefixFrom(base, pf.Len).Contains(addr), true
		case "range":
			var rg []json.RawMessage
			_ = json.Unmarshal(a, &rg)
			if len(rg) != 2 {
				return false, false
			}
			lo, hi := strings.Trim(string(rg[0]), `"`), strings.Trim(string(rg[1]), `"`)
			return inRange(v.s, lo, hi), true
		case "concat":
			var parts []json.RawMessage
			_ = json.Unmarshal(a, &parts)
			if len(parts) != len(v.list) {
				return false, true
			}
			for i, part := range parts {
				hit, known := n.matches(c, v.list[i], part)
				if !known || !hit {
					return false, known
				}
			}
			return true, true
		case "set":
			return n.inSet(c, v, raw)
		}
	}
	return false, false
}

// inSet says whether v is an element of a named or anonymous set.
func (n *NFTables) inSet(c *nftChain, v nftVal, raw json.RawMessage) (bool, bool) {
	els, ok := n.elems(c, raw)
	if !ok {
		return false, false
	}
	for _, el := range els {
		if hit, _ := n.matches(c, v, el.key); hit {
			return true, true
		}
	}
	return false, true
}

// sameValue compares a packet's value with a literal: addresses as
// addresses, numbers as numbers (0x4000 is 16384), names as names.
func sameValue(a, b string) bool {
	if x, err := netip.ParseAddr(a); err == nil {
		y, err := netip.ParseAddr(b)
		return err == nil && x == y
	}
	x, err1 := strconv.ParseUint(a, 0, 64)
	y, err2 := strconv.ParseUint(b, 0, 64)
	if err1 == nil && err2 == nil {
		return x == y
	}
	return a == b
}

func inRange(v, lo, hi string) bool {
	if a, err := netip.ParseAddr(v); err == nil {
		l, err1 := netip.ParseAddr(lo)
		h, err2 := netip.ParseAddr(hi)
		return err1 == nil && err2 == nil && l.Compare(a) <= 0 && a.Compare(h) <= 0
	}
	x, err := strconv.ParseUint(v, 0, 64)
	l, err1 := strconv.ParseUint(lo, 0, 64)
	h, err2 := strconv.ParseUint(hi, 0, 64)
	return err == nil && err1 == nil && err2 == nil && l <= x && x <= h
}

// DNATs are the destinations chain's dnat rules rewrite to, following
// its jumps and gotos (an endpoint chain's "dnat to 10.244.1.4:9376").
func (n *NFTables) DNATs(chain string) []string {
	var out []string
	for _, c := range n.chains {
		if c.name != chain {
			continue
		}
		for _, r := range c.rules {
			for _, e := range r.exprs {
				if a, ok := e["dnat"]; ok {
					var d struct {
						Addr string
						Port json.RawMessage
					}
					_ = json.Unmarshal(a, &d)
					out = append(out, natTo(d.Addr, d.Port))
				}
			}
		}
	}
	return out
}

// natTo is a dnat's or snat's address as iptables' --to-destination
// writes it: ADDR, ADDR:PORT, or [ADDR6]:PORT.
func natTo(addr string, port json.RawMessage) string {
	if len(port) == 0 {
		return addr
	}
	if strings.Contains(addr, ":") {
		addr = "[" + addr + "]"
	}
	return addr + ":" + strings.Trim(string(port), `"`)
}
