package kube

// The proxier's rules, the way kube-proxy's iptables mode writes them: a
// KUBE-SERVICES chain that matches each ClusterIP:port, a KUBE-SVC-<hash> chain per service port that picks an
// endpoint at random (-m statistic --mode random --probability 1/(N-i)),
// a KUBE-SEP-<hash> chain per endpoint that DNATs to it, KUBE-NODEPORTS
// and KUBE-EXT-<hash> for NodePorts, and the 0x4000 mark that
// KUBE-POSTROUTING masquerades. The chain names are kube-proxy's own
// hashes, so that a learner who knows a real node recognises every rule.
//
// This file is pure: rules as data, from services and their endpoints;
// proxier_linux.go loads them on every node.

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"netlab/internal/names"
	"netlab/internal/netops"
	"sort"
	"strings"
)

// ServicePort is one port of a Service, with its ready endpoints, as
// kube-proxy sees it.
type ServicePort struct {
	Namespace, Name string
	// PortName is the port's name in the Service ("" for a lone unnamed port).
	PortName  string
	Protocol  string // TCP, UDP or SCTP
	ClusterIP netip.Addr
	Port      int
	NodePort  int
	// AffinitySeconds, when more than 0, is sessionAffinity: ClientIP
	// with that timeout.
	AffinitySeconds int
	// Endpoints are the ready endpoints, in the order they are balanced.
	Endpoints []Endpoint
}

// Endpoint is one ready endpoint of a service port.
type Endpoint struct {
	IP   netip.Addr
	Port int
}

func (e Endpoint) String() string { return netip.AddrPortFrom(e.IP, uint16(e.Port)).String() }

// String is the service port's name as kube-proxy writes it in comments
// and hashes: "ns/name:port", or "ns/name" for an unnamed port.
func (sp ServicePort) String() string {
	s := sp.Namespace + "/" + sp.Name
	if sp.PortName != "" {
		s += ":" + sp.PortName
	}
	return s
}

func (sp ServicePort) proto() string { return strings.ToLower(sp.Protocol) }

// hash is kube-proxy's: the first 16 characters of the base32 of the
// sha256 of what it names.
func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// ServiceChain is the service port's KUBE-SVC chain.
func ServiceChain(sp ServicePort) string { return "KUBE-SVC-" + hash(sp.String()+sp.proto()) }

// ExternalChain is the service port's KUBE-EXT chain (for its NodePort).
func ExternalChain(sp ServicePort) string { return "KUBE-EXT-" + hash(sp.String()+sp.proto()) }

// EndpointChain is an endpoint's KUBE-SEP chain.
func EndpointChain(sp ServicePort, ep Endpoint) string {
	return "KUBE-SEP-" + hash(sp.String()+sp.proto()+ep.String())
}

// Probability is the statistic match's probability for the i-th of n
// endpoints: 1/(n-i), as kube-proxy prints it.
func Probability(n, i int) string { return fmt.Sprintf("%0.10f", 1.0/float64(n-i)) }

// MasqMark is the mark KUBE-MARK-MASQ sets and KUBE-POSTROUTING
// masquerades.
const MasqMark = "0x4000"

// Table is one table of kube-proxy's rules, as data: its chains in the
// order kube-proxy declares them, then its rules, each an argument vector
// for netops (the rule a learner reads is printed from it, never parsed
// back from text).
type Table struct {
	Chains []string
	Rules  []netops.Rule
}

// Tables are the rules of the filter and nat tables.
type Tables struct {
	Filter, NAT Table
}

// Save prints a table as iptables-save does: chain lines
// (":KUBE-SERVICES - [0:0]"), then its rules ("-A ..."), an argument with a
// space in double quotes. It is the text form, made once, at the edge.
func (t Table) Save() []string {
	var out []string
	for _, c := range t.Chains {
		out = append(out, ":"+c+" - [0:0]")
	}
	for _, r := range t.Rules {
		out = append(out, strings.Join(append([]string{"-A", r.Chain}, quoteSpec(r.Spec)...), " "))
	}
	return out
}

// chains collects a table's chains and rules in kube-proxy's order.
type chains struct {
	table string
	// who writes the rules ("kube-proxy" unless set), as netlab's comment
	// on each says.
	who   string
	order []string
	rules map[string][]netops.Rule
}

func newChains(table string, fixed ...string) *chains {
	c := &chains{table: table, rules: map[string][]netops.Rule{}}
	for _, f := range fixed {
		c.add(f)
	}
	return c
}

func (c *chains) add(chain string) {
	if _, ok := c.rules[chain]; !ok {
		c.order = append(c.order, chain)
		c.rules[chain] = nil
	}
}

// rule appends a rule to chain: its parts are matches and targets as
// iptables spells them ("-m mark --mark 0x4000/0x4000"), split on spaces,
// or a comment (comment(...)), which is one argument whatever it holds.
func (c *chains) rule(chain string, parts ...string) {
	c.add(chain)
	var spec []string
	for _, p := range parts {
		if text, ok := strings.CutPrefix(p, commentMark); ok {
			spec = append(spec, "-m", "comment", "--comment", text)
			continue
		}
		spec = append(spec, strings.Fields(p)...)
	}
	c.rules[chain] = append(c.rules[chain], netops.Rule{Table: c.table, Chain: chain, Spec: spec, Why: cmp.Or(c.who, "kube-proxy")})
}

// list is the chains named, in that order, and their rules in the same
// order, as iptables-save lists them.
func (c *chains) list(names []string) Table {
	t := Table{Chains: names}
	for _, n := range names {
		t.Rules = append(t.Rules, c.rules[n]...)
	}
	return t
}

// commentMark starts a part of a rule that is a comment's text.
const commentMark = "\x00comment:"

// comment is a comment match as kube-proxy writes it: its text one
// argument, spaces and all.
func comment(s string) string { return commentMark + s }

// Generate writes every service port's rules, as kube-proxy's iptables
// mode does with clusterCIDR set (traffic to a ClusterIP from outside it
// is masqueraded). Each port's endpoints are taken in kube-proxy's order,
// as strings "ip:port" (its endpoint cache sorts them so: 10.244.1.10
// before 10.244.1.9), which fixes which rule gets which probability.
// With nfacct (the node's kernel keeps nfacct counters) the INVALID drop
// and the localhost NodePorts count into kube-proxy's counters, as it
// writes them wherever it could make them.
//
// A clusterCIDR of IPv6 makes the IPv6 proxier's rules, for ip6tables:
// the same chains (a service port's KUBE-SVC chain has the same name in
// both families; a KUBE-SEP differs, as its endpoint's address does),
// without what is IPv4's alone: no localhost NodePorts (IPv6 has no
// route_localnet, so kube-proxy never writes them) and so no rule in
// KUBE-FIREWALL, which stays empty, and the NodePorts jump leaves ::1
// out.
func Generate(ports []ServicePort, clusterCIDR string, nfacct bool) Tables {
	v6 := strings.Contains(clusterCIDR, ":")
	ports = append([]ServicePort{}, ports...)
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].String() < ports[j].String() })
	for i := range ports {
		eps := append([]Endpoint{}, ports[i].Endpoints...)
		sort.SliceStable(eps, func(a, b int) bool { return eps[a].String() < eps[b].String() })
		ports[i].Endpoints = eps
	}
	filter := newChains("filter", "KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL")
	nat := newChains("nat", "KUBE-NODEPORTS", "KUBE-SERVICES")
	var svcRules, extRules, sepRules, nodeports []func()

	for _, sp := range ports {
		name, proto := sp.String(), sp.proto()
		dst := fmt.Sprintf("-m %s -p %s -d %s --dport %d", proto, proto, sp.ClusterIP, sp.Port)
		if len(sp.Endpoints) == 0 {
			// No endpoints: refuse at once, rather than let it time out.
			filter.rule("KUBE-SERVICES", comment(name+" has no endpoints"), dst, "-j REJECT")
			if sp.NodePort > 0 {
				filter.rule("KUBE-EXTERNAL-SERVICES", comment(name+" has no endpoints"), "-m addrtype --dst-type LOCAL",
					fmt.Sprintf("-m %s -p %s --dport %d", proto, proto, sp.NodePort), "-j REJECT")
			}
			continue
		}
		svc, ext := ServiceChain(sp), ExternalChain(sp)
		nat.rule("KUBE-SERVICES", comment(name+" cluster IP"), dst, "-j", svc)
		if sp.NodePort > 0 {
			nodeports = append(nodeports, func() {
				// kube-proxy's localhost NodePorts (on by default, IPv4
				// only): 127.0.0.1:<nodePort> on the node itself, which
				// route_localnet (set on every node) lets the DNAT route
				// out.
				if !v6 {
					nat.rule("KUBE-NODEPORTS", comment(name), fmt.Sprintf("-m %s -p %s -d 127.0.0.0/8 --dport %d", proto, proto, sp.NodePort), count(nfacct, LocalhostNodePortsCounter), "-j", ext)
				}
				nat.rule("KUBE-NODEPORTS", comment(name), fmt.Sprintf("-m %s -p %s --dport %d", proto, proto, sp.NodePort), "-j", ext)
			})
			extRules = append(extRules, func() {
				nat.rule(ext, comment("masquerade traffic for "+name+" external destinations"), "-j KUBE-MARK-MASQ")
				nat.rule(ext, "-j", svc)
			})
		}
		svcRules = append(svcRules, func() {
			nat.rule(svc, comment(name+" cluster IP"), dst, "! -s "+clusterCIDR, "-j KUBE-MARK-MASQ")
			if sp.AffinitySeconds > 0 {
				for _, ep := range sp.Endpoints {
					sep := EndpointChain(sp, ep)
					nat.rule(svc, comment(name+" -> "+ep.String()), "-m recent --name", sep,
						fmt.Sprintf("--rcheck --seconds %d --reap", sp.AffinitySeconds), "-j", sep)
				}
			}
			n := len(sp.Endpoints)
			for i, ep := range sp.Endpoints {
				args := []string{comment(name + " -> " + ep.String())}
				if i < n-1 {
					args = append(args, "-m statistic --mode random --probability "+Probability(n, i))
				}
				nat.rule(svc, append(args, "-j", EndpointChain(sp, ep))...)
			}
		})
		sepRules = append(sepRules, func() {
			for _, ep := range sp.Endpoints {
				sep := EndpointChain(sp, ep)
				// Hairpin: an endpoint reaching itself through its Service
				// is masqueraded, or its answer would not come back the
				// way it went.
				nat.rule(sep, comment(name), "-s "+ep.IP.String(), "-j KUBE-MARK-MASQ")
				dnat := []string{comment(name)}
				if sp.AffinitySeconds > 0 {
					dnat = append(dnat, "-m recent --name "+sep+" --set")
				}
				nat.rule(sep, append(dnat, fmt.Sprintf("-m %s -p %s", proto, proto), "-j DNAT --to-destination "+ep.String())...)
			}
		})
	}
	// kube-proxy declares every chain before it writes any rule: the
	// hashed ones sorted, the fixed ones where it keeps them.
	for _, sp := range ports {
		if len(sp.Endpoints) == 0 {
			continue
		}
		nat.add(ServiceChain(sp))
		if sp.NodePort > 0 {
			nat.add(ExternalChain(sp))
		}
		for _, ep := range sp.Endpoints {
			nat.add(EndpointChain(sp, ep))
		}
	}
	for _, f := range nodeports {
		f()
	}
	local := "-m addrtype --dst-type LOCAL"
	if v6 {
		local += " ! -d ::1/128" // "for IPv6 they never work"
	}
	nat.rule("KUBE-SERVICES", comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain"), local, "-j KUBE-NODEPORTS")
	for _, f := range extRules {
		f()
	}
	nat.rule("KUBE-MARK-MASQ", "-j MARK --or-mark "+MasqMark)
	nat.rule("KUBE-POSTROUTING", "-m mark ! --mark "+MasqMark+"/"+MasqMark, "-j RETURN")
	nat.rule("KUBE-POSTROUTING", "-j MARK --xor-mark "+MasqMark)
	nat.rule("KUBE-POSTROUTING", comment("kubernetes service traffic requiring SNAT"), "-j MASQUERADE --random-fully")
	for _, f := range sepRules {
		f()
	}
	for _, f := range svcRules {
		f()
	}
	fixedFilter(filter, nfacct, v6)
	return Tables{Filter: filter.list(filter.order), NAT: nat.natOrdered()}
}

// kube-proxy's nfacct counters (pkg/proxy/metrics): what the INVALID drop
// dropped, and what the localhost NodePorts accepted.
const (
	InvalidDroppedCounter     = names.InvalidDroppedCounter
	LocalhostNodePortsCounter = names.LocalhostNodePortsCounter
)

// count is the nfacct match of counter, if the kernel keeps counters.
func count(nfacct bool, counter string) string {
	if !nfacct {
		return ""
	}
	return "-m nfacct --nfacct-name " + counter
}

// fixedFilter adds the filter rules kube-proxy writes whatever the
// Services: no localnet connections from outside (route_localnet, IPv4's
// alone), no INVALID packets forwarded, and forwarding of the marked and
// the established.
func fixedFilter(filter *chains, nfacct, v6 bool) {
	if !v6 {
		filter.rule("KUBE-FIREWALL", comment("block incoming localnet connections"), "-d 127.0.0.0/8 ! -s 127.0.0.0/8",
			"-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT", "-j DROP")
	}
	filter.rule("KUBE-FORWARD", "-m conntrack --ctstate INVALID", count(nfacct, InvalidDroppedCounter), "-j DROP")
	filter.rule("KUBE-FORWARD", comment("kubernetes forwarding rules"), "-m mark --mark "+MasqMark+"/"+MasqMark, "-j ACCEPT")
	filter.rule("KUBE-FORWARD", comment("kubernetes forwarding conntrack rule"), "-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT")
}

// natOrdered prints the nat table as kube-proxy does: KUBE-NODEPORTS,
// KUBE-SERVICES, the KUBE-EXT chains, KUBE-MARK-MASQ, KUBE-POSTROUTING,
// then the KUBE-SEP and KUBE-SVC chains, each group sorted.
func (c *chains) natOrdered() Table {
	var ext, sep, svc []string
	for _, n := range c.order {
		switch {
		case strings.HasPrefix(n, "KUBE-EXT-"):
			ext = append(ext, n)
		case strings.HasPrefix(n, "KUBE-SEP-"):
			sep = append(sep, n)
		case strings.HasPrefix(n, "KUBE-SVC-"):
			svc = append(svc, n)
		}
	}
	sort.Strings(ext)
	sort.Strings(sep)
	sort.Strings(svc)
	names := append(append(append([]string{"KUBE-NODEPORTS", "KUBE-SERVICES"}, ext...), "KUBE-MARK-MASQ", "KUBE-POSTROUTING"), append(sep, svc...)...)
	return c.list(names)
}

// Jumps are the rules in the built-in chains that send packets to
// kube-proxy's chains, as kube-proxy adds them, in order.
func Jumps() []netops.Rule {
	j := func(table, chain string, parts ...string) netops.Rule {
		c := newChains(table)
		c.rule(chain, parts...)
		return c.rules[chain][0]
	}
	return []netops.Rule{
		j("filter", "INPUT", "-m conntrack --ctstate NEW", comment("kubernetes load balancer firewall"), "-j KUBE-PROXY-FIREWALL"),
		j("filter", "INPUT", comment("kubernetes health check service ports"), "-j KUBE-NODEPORTS"),
		j("filter", "INPUT", "-m conntrack --ctstate NEW", comment("kubernetes externally-visible service portals"), "-j KUBE-EXTERNAL-SERVICES"),
		j("filter", "INPUT", "-j KUBE-FIREWALL"),
		j("filter", "FORWARD", "-m conntrack --ctstate NEW", comment("kubernetes load balancer firewall"), "-j KUBE-PROXY-FIREWALL"),
		j("filter", "FORWARD", comment("kubernetes forwarding rules"), "-j KUBE-FORWARD"),
		j("filter", "FORWARD", "-m conntrack --ctstate NEW", comment("kubernetes service portals"), "-j KUBE-SERVICES"),
		j("filter", "FORWARD", "-m conntrack --ctstate NEW", comment("kubernetes externally-visible service portals"), "-j KUBE-EXTERNAL-SERVICES"),
		j("filter", "OUTPUT", "-m conntrack --ctstate NEW", comment("kubernetes load balancer firewall"), "-j KUBE-PROXY-FIREWALL"),
		j("filter", "OUTPUT", "-m conntrack --ctstate NEW", comment("kubernetes service portals"), "-j KUBE-SERVICES"),
		j("filter", "OUTPUT", "-j KUBE-FIREWALL"),
		j("nat", "OUTPUT", comment("kubernetes service portals"), "-j KUBE-SERVICES"),
		j("nat", "PREROUTING", comment("kubernetes service portals"), "-j KUBE-SERVICES"),
		j("nat", "POSTROUTING", comment("kubernetes postrouting rules"), "-j KUBE-POSTROUTING"),
	}
}
