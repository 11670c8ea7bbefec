package kube

// kube-proxy's nftables mode, as data: the rule set its nftables proxier
// (pkg/proxy/nftables/proxier.go) writes into the table "kube-proxy" of
// family ip, as the commands of one `nft -f` transaction. A Service is a
// lookup: the map service-ips takes (ClusterIP, protocol, port) to a
// "service-" chain, whose numgen picks an "endpoint-" chain at random,
// which DNATs. The chain names are kube-proxy's own (a hash of the name,
// then the name), so that a learner who has read a real node's
// `nft list table ip kube-proxy` recognises every line.
//
// This file is pure: the transaction from the service ports; loading it
// into a node is another file's.

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"netlab/internal/names"
)

// NFTTable is the table kube-proxy's nftables mode keeps its rules in.
const NFTTable = names.KubeProxyTable

// NFTOptions are what kube-proxy's nftables proxier knows of its node
// beyond the Services.
type NFTOptions struct {
	// ClusterCIDR is the pods' range: traffic to a ClusterIP from outside
	// it is masqueraded (kube-proxy's --cluster-cidr local detector).
	ClusterCIDR netip.Prefix
	// ServiceCIDR is the Services' range: a packet to an address of it
	// that no Service holds is dropped.
	ServiceCIDR netip.Prefix
	// NodePortIPs are the node's addresses that take NodePort traffic
	// (--nodeport-addresses primary, the default: the node's own).
	NodePortIPs []netip.Addr
	// MasqMark is the mark that asks for masquerading (0x4000 unless set).
	MasqMark string
	// Owner, when set, is said in the table's comment after kube-proxy's
	// ("rules for kube-proxy (netlab:LAB)"): whose table it is, which
	// down and the preflight read.
	Owner string
}

// nftHash is kube-proxy's hashAndTruncate: the first 8 characters of the
// base32 of the sha256 of a name, then "-" and the name.
func nftHash(name string) string {
	h := sha256.Sum256([]byte(name))
	return base32.StdEncoding.EncodeToString(h[:])[:8] + "-" + name
}

// nftBase is a service port's part of its chains' names:
// "ULMVA6XW-ns1/svc1/tcp/p80".
func nftBase(sp ServicePort) string {
	return nftHash(fmt.Sprintf("%s/%s/%s/%s", sp.Namespace, sp.Name, sp.proto(), sp.PortName))
}

// NFTServiceChain is the service port's chain, which picks an endpoint:
// "service-ULMVA6XW-ns1/svc1/tcp/p80".
func NFTServiceChain(sp ServicePort) string { return "service-" + nftBase(sp) }

// NFTExternalChain is the service port's chain for its NodePort.
func NFTExternalChain(sp ServicePort) string { return "external-" + nftBase(sp) }

// nftEndpointBase is an endpoint's part of its chain's and affinity set's
// names: "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80" (an IPv6 address's
// colons as dots, which a chain name may hold).
func nftEndpointBase(sp ServicePort, ep Endpoint) string {
	ip := strings.ReplaceAll(ep.IP.String(), ":", ".")
	return nftHash(fmt.Sprintf("%s/%s/%s/%s__%s/%d", sp.Namespace, sp.Name, sp.proto(), sp.PortName, ip, ep.Port))
}

// NFTEndpointChain is an endpoint's chain, which DNATs to it.
func NFTEndpointChain(sp ServicePort, ep Endpoint) string {
	return "endpoint-" + nftEndpointBase(sp, ep)
}

// NFTAffinitySet is an endpoint's set of the clients that stick to it
// (sessionAffinity: ClientIP).
func NFTAffinitySet(sp ServicePort, ep Endpoint) string {
	return "affinity-" + nftEndpointBase(sp, ep)
}

// nftBaseChains are kube-proxy's base chains, on the netfilter hooks: its
// filter chains before DNAT (dstnat-10: they see the Service's address),
// one after it in output (dstnat+10), and the NAT chains.
var nftBaseChains = []struct{ name, typ, hook, priority string }{
	{"filter-prerouting", "filter", "prerouting", "-110"},
	{"filter-input", "filter", "input", "-110"},
	{"filter-forward", "filter", "forward", "-110"},
	{"filter-output", "filter", "output", "-110"},
	{"filter-output-post-dnat", "filter", "output", "-90"},
	{"nat-prerouting", "nat", "prerouting", "-100"},
	{"nat-output", "nat", "output", "-100"},
	{"nat-postrouting", "nat", "postrouting", "100"},
}

// nftJumps are the jumps from the base chains to kube-proxy's own, in its
// order (nftablesJumpChains).
var nftJumps = []struct{ to, from, match string }{
	{"nodeport-endpoints-check", "filter-input", "ct state new"},
	{"service-endpoints-check", "filter-input", "ct state new"},
	{"service-endpoints-check", "filter-forward", "ct state new"},
	{"service-endpoints-check", "filter-output", "ct state new"},
	{"firewall-check", "filter-prerouting", "ct state new"},
	{"firewall-check", "filter-output", "ct state new"},
	{"services", "nat-output", ""},
	{"services", "nat-prerouting", ""},
	{"masquerading", "nat-postrouting", ""},
	{"cluster-ips-check", "filter-forward", "ct state new"},
	{"cluster-ips-check", "filter-output-post-dnat", "ct state new"},
}

// NFTRuleSet is kube-proxy's nftables rule set for one family, in parts:
// what a sync declares, what it refills, and what it keeps.
type NFTRuleSet struct {
	// Family is the table's: "ip", or "ip6" for the IPv6 proxier's.
	Family string
	// Decl declares the table, its chains, and its sets and maps but the
	// affinity sets ("add" lines: each makes what is missing, and leaves
	// what exists as it is).
	Decl []string
	// Chains are every chain declared; Refill the sets and maps whose
	// elements the rule set gives in full (each sync empties them first),
	// as "set NAME" or "map NAME".
	Chains, Refill []string
	// Affinity are the affinity sets, each with its timeout in seconds:
	// their elements are the clients the kernel has seen, kept across
	// syncs as kube-proxy keeps them.
	Affinity []NFTSet
	// Rules are the chains' rules, and Elems the sets' and maps' elements.
	Rules, Elems []string
	// chainDecl and chainRules are each chain's declaration and rules,
	// setDecl each set's and map's declaration.
	chainDecl, setDecl map[string]string
	chainRules         map[string][]string
}

// Hashes are each chain's fingerprint: of its declaration and its rules.
// A sync given the last one's (NFTSynced) leaves a chain whose
// fingerprint has not changed as it is in the kernel, as kube-proxy's
// partial syncs rewrite only the chains of the Services that changed.
func (r NFTRuleSet) Hashes() map[string]string {
	out := map[string]string{}
	for _, c := range r.Chains {
		// The sets its rules name are part of it: a set made anew (an
		// affinity's new timeout) must first leave the rules naming it.
		text := r.chainDecl[c] + "\n" + strings.Join(r.chainRules[c], "\n")
		for _, rule := range r.chainRules[c] {
			for _, w := range strings.Fields(rule) {
				if name, ok := strings.CutPrefix(w, "@"); ok {
					text += "\n" + r.setDecl[name]
				}
			}
		}
		h := sha256.Sum256([]byte(text))
		out[c] = fmt.Sprintf("%x", h[:8])
	}
	return out
}

// NFTSet is an affinity set: its name, its timeout, its declaration.
type NFTSet struct {
	Name    string
	Timeout int
	Decl    string
}

// NFTLoaded is what a sync left in a node's table: its chains and its
// affinity sets (name → timeout), so that the next sync removes what it
// no longer needs.
type NFTLoaded struct {
	Chains   []string       `json:"chains"`
	Affinity map[string]int `json:"affinity,omitempty"`
}

// Lines is the rule set as one `nft -f` transaction that builds the
// table from nothing: declarations, then the rules chain by chain, then
// the elements.
func (r NFTRuleSet) Lines() []string {
	out := append([]string{}, r.Decl...)
	for _, a := range r.Affinity {
		out = append(out, a.Decl)
	}
	return append(append(out, r.Rules...), r.Elems...)
}

// Sync is the transaction that turns a table holding prev (nothing, the
// first time) into this rule set, as kube-proxy's sync does: declare
// what is missing, flush every chain and refilled map it writes, flush
// and delete the chains and affinity sets it no longer has (after the
// rules and elements that named them are gone), then write the rules and
// elements. An affinity set that stays keeps its clients.
//
// synced are the chains' fingerprints (Hashes) as the last sync wrote
// them: a chain the kernel has (prev) whose fingerprint is the same is
// left alone, neither declared, flushed nor written again. Without them
// (nil) every chain is written: a full sync.
func (r NFTRuleSet) Sync(prev NFTLoaded, synced map[string]string) []string {
	t := r.Family + " " + NFTTable
	exists := map[string]bool{}
	for _, c := range prev.Chains {
		exists[c] = true
	}
	same := map[string]bool{}
	if synced != nil {
		for c, h := range r.Hashes() {
			same[c] = exists[c] && synced[c] == h
		}
	}
	skip := map[string]bool{}
	for c := range same {
		if same[c] {
			skip[r.chainDecl[c]] = true
		}
	}
	var out []string
	for _, d := range r.Decl {
		if !skip[d] {
			out = append(out, d)
		}
	}
	have := map[string]bool{}
	for _, c := range r.Chains {
		have[c] = true
		if !same[c] {
			out = append(out, fmt.Sprintf("flush chain %s %s", t, c))
		}
	}
	for _, m := range r.Refill {
		kind, name, _ := strings.Cut(m, " ")
		out = append(out, fmt.Sprintf("flush %s %s %s", kind, t, name))
	}
	// Stale chains may jump to one another (external- to service-):
	// all are flushed before any is deleted.
	var stale []string
	for _, c := range prev.Chains {
		if !have[c] {
			stale = append(stale, c)
			out = append(out, fmt.Sprintf("flush chain %s %s", t, c))
		}
	}
	for _, c := range stale {
		out = append(out, fmt.Sprintf("delete chain %s %s", t, c))
	}
	keep := map[string]bool{}
	for _, a := range r.Affinity {
		if old, ok := prev.Affinity[a.Name]; ok && old == a.Timeout {
			keep[a.Name] = true
		}
	}
	var gone []string
	for name := range prev.Affinity {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		out = append(out, fmt.Sprintf("delete set %s %s", t, name))
	}
	for _, a := range r.Affinity {
		if !keep[a.Name] {
			out = append(out, a.Decl)
		}
	}
	for _, c := range r.Chains {
		if !same[c] {
			out = append(out, r.chainRules[c]...)
		}
	}
	return append(out, r.Elems...)
}

// Loaded is what this rule set leaves in a node's table.
func (r NFTRuleSet) Loaded() NFTLoaded {
	l := NFTLoaded{Chains: append([]string{}, r.Chains...)}
	if len(r.Affinity) > 0 {
		l.Affinity = map[string]int{}
		for _, a := range r.Affinity {
			l.Affinity[a.Name] = a.Timeout
		}
	}
	return l
}

// GenerateNFT writes kube-proxy's nftables rule set for the service ports
// as the lines of an `nft -f` transaction that builds the table from
// nothing (NFT(...).Lines()).
func GenerateNFT(ports []ServicePort, o NFTOptions) []string { return NFT(ports, o).Lines() }

// NFT makes kube-proxy's nftables rule set for the service ports of one
// family, the ClusterCIDR's: table ip kube-proxy for IPv4, ip6 for IPv6
// (a dual-stack kube-proxy keeps one of each, as its iptables mode keeps
// iptables and ip6tables). Each port's endpoints are taken in
// kube-proxy's order (by "ip:port").
func NFT(ports []ServicePort, o NFTOptions) NFTRuleSet {
	mark := o.MasqMark
	if mark == "" {
		mark = MasqMark
	}
	fam, ipm, addrType := "ip", "ip", "ipv4_addr"
	if o.ClusterCIDR.Addr().Is6() {
		fam, ipm, addrType = "ip6", "ip6", "ipv6_addr"
	}
	rs := NFTRuleSet{Family: fam, chainDecl: map[string]string{}, setDecl: map[string]string{}, chainRules: map[string][]string{}}
	ports = append([]ServicePort{}, ports...)
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].String() < ports[j].String() })
	var rules, elems []string
	table := fam + " " + NFTTable
	add := func(kind, name, rest string) {
		d := strings.TrimSpace(fmt.Sprintf("add %s %s %s %s", kind, table, name, rest))
		rs.Decl = append(rs.Decl, d)
		switch kind {
		case "chain":
			rs.Chains = append(rs.Chains, name)
			rs.chainDecl[name] = d
		default:
			rs.setDecl[name] = d
			rs.Refill = append(rs.Refill, kind+" "+name)
		}
	}
	rule := func(chain, r string) {
		l := fmt.Sprintf("add rule %s %s %s", table, chain, r)
		rules = append(rules, l)
		rs.chainRules[chain] = append(rs.chainRules[chain], l)
	}
	elem := func(set, e string) {
		elems = append(elems, fmt.Sprintf("add element %s %s { %s }", table, set, e))
	}

	comment := "rules for kube-proxy"
	if o.Owner != "" {
		comment += " (" + o.Owner + ")"
	}
	rs.Decl = append(rs.Decl, fmt.Sprintf(`add table %s { comment %q ; }`, table, comment))
	for _, bc := range nftBaseChains {
		add("chain", bc.name, fmt.Sprintf("{ type %s hook %s priority %s ; }", bc.typ, bc.hook, bc.priority))
	}
	for _, c := range []string{"cluster-ips-check", "firewall-check", "mark-for-masquerade", "masquerading", "nodeport-endpoints-check", "service-endpoints-check", "services"} {
		add("chain", c, "")
	}
	add("chain", "reject-chain", `{ comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }`)
	add("set", "cluster-ips", `{ type `+addrType+` ; comment "Active ClusterIPs" ; }`)
	add("set", "nodeport-ips", `{ type `+addrType+` ; comment "IPs that accept NodePort traffic" ; }`)
	addrProtoPort := addrType + " . inet_proto . inet_service : verdict"
	add("map", "firewall-ips", `{ type `+addrProtoPort+` ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`)
	add("map", "no-endpoint-nodeports", `{ type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`)
	add("map", "no-endpoint-services", `{ type `+addrProtoPort+` ; comment "vmap to drop or reject packets to services with no endpoints" ; }`)
	add("map", "service-ips", `{ type `+addrProtoPort+` ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`)
	add("map", "service-nodeports", `{ type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`)

	for _, j := range nftJumps {
		rule(j.from, strings.TrimSpace(j.match+" jump "+j.to))
	}
	rule("mark-for-masquerade", "mark set mark or "+mark)
	rule("masquerading", "mark and "+mark+" == 0 return")
	rule("masquerading", "mark set mark xor "+mark)
	rule("masquerading", "masquerade fully-random")
	rule("cluster-ips-check", ipm+` daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`)
	if o.ServiceCIDR.IsValid() {
		rule("cluster-ips-check", fmt.Sprintf(`%s daddr { %s } drop comment "Drop traffic to unallocated ClusterIPs"`, ipm, o.ServiceCIDR))
	}
	rule("reject-chain", "reject")
	rule("service-endpoints-check", ipm+" daddr . meta l4proto . th dport vmap @no-endpoint-services")
	rule("nodeport-endpoints-check", ipm+" daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports")
	rule("firewall-check", ipm+" daddr . meta l4proto . th dport vmap @firewall-ips")
	rule("services", ipm+" daddr . meta l4proto . th dport vmap @service-ips")
	rule("services", ipm+" daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")
	for _, ip := range o.NodePortIPs {
		if ip.Is4() == (fam == "ip") && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			elem("nodeport-ips", ip.String())
		}
	}

	for _, sp := range ports {
		eps := append([]Endpoint{}, sp.Endpoints...)
		sort.SliceStable(eps, func(a, b int) bool { return eps[a].String() < eps[b].String() })
		proto, name := sp.proto(), sp.String()
		key := fmt.Sprintf("%s . %s . %d", sp.ClusterIP, proto, sp.Port)
		elem("cluster-ips", sp.ClusterIP.String())
		if len(eps) == 0 {
			// No endpoints: refused at once, where the filter chains see
			// the Service's own address, before any DNAT.
			elem("no-endpoint-services", fmt.Sprintf(`%s comment %q : goto reject-chain`, key, name))
			if sp.NodePort > 0 {
				elem("no-endpoint-nodeports", fmt.Sprintf(`%s . %d comment %q : goto reject-chain`, proto, sp.NodePort, name))
			}
			continue
		}
		svc := NFTServiceChain(sp)
		add("chain", svc, "")
		elem("service-ips", key+" : goto "+svc)
		if sp.NodePort > 0 {
			ext := NFTExternalChain(sp)
			add("chain", ext, "")
			elem("service-nodeports", fmt.Sprintf("%s . %d : goto %s", proto, sp.NodePort, ext))
			// A NodePort may lead to another node: masqueraded, as
			// externalTrafficPolicy: Cluster has it.
			rule(ext, "jump mark-for-masquerade")
			rule(ext, "goto "+svc)
		}
		rule(svc, fmt.Sprintf("%s daddr %s %s dport %d %s saddr != %s jump mark-for-masquerade", ipm, sp.ClusterIP, proto, sp.Port, ipm, o.ClusterCIDR))
		var pick []string
		for i, ep := range eps {
			if sp.AffinitySeconds > 0 {
				set := NFTAffinitySet(sp, ep)
				d := fmt.Sprintf("add set %s %s { type %s ; flags dynamic,timeout ; timeout %ds ; }", table, set, addrType, sp.AffinitySeconds)
				rs.Affinity = append(rs.Affinity, NFTSet{Name: set, Timeout: sp.AffinitySeconds, Decl: d})
				rs.setDecl[set] = d
				rule(svc, fmt.Sprintf("%s saddr @%s goto %s", ipm, set, NFTEndpointChain(sp, ep)))
			}
			pick = append(pick, fmt.Sprintf("%d : goto %s", i, NFTEndpointChain(sp, ep)))
		}
		rule(svc, fmt.Sprintf("numgen random mod %d vmap { %s }", len(eps), strings.Join(pick, " , ")))
		for _, ep := range eps {
			epc := NFTEndpointChain(sp, ep)
			add("chain", epc, "")
			// Hairpin: an endpoint reaching itself through its Service.
			rule(epc, fmt.Sprintf("%s saddr %s jump mark-for-masquerade", ipm, ep.IP))
			if sp.AffinitySeconds > 0 {
				rule(epc, fmt.Sprintf("update @%s { %s saddr }", NFTAffinitySet(sp, ep), ipm))
			}
			rule(epc, fmt.Sprintf("meta l4proto %s dnat to %s", proto, ep))
		}
	}
	rs.Rules, rs.Elems = rules, elems
	return rs
}
