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
)

// NFTTable is the table kube-proxy's nftables mode keeps its rules in.
const NFTTable = "kube-proxy"

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

// GenerateNFT writes kube-proxy's nftables rule set for the service ports
// (IPv4), as the lines of an `nft -f` transaction that builds the table
// from nothing: its declarations first (the table, chains, sets and maps),
// then the rules, chain by chain, then the elements of the sets and maps.
// Each port's endpoints are taken in kube-proxy's order (by "ip:port").
func GenerateNFT(ports []ServicePort, o NFTOptions) []string {
	mark := o.MasqMark
	if mark == "" {
		mark = MasqMark
	}
	ports = append([]ServicePort{}, ports...)
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].String() < ports[j].String() })
	var decl, rules, elems []string
	add := func(kind, rest string) { decl = append(decl, fmt.Sprintf("add %s ip %s %s", kind, NFTTable, rest)) }
	rule := func(chain, r string) { rules = append(rules, fmt.Sprintf("add rule ip %s %s %s", NFTTable, chain, r)) }
	elem := func(set, e string) {
		elems = append(elems, fmt.Sprintf("add element ip %s %s { %s }", NFTTable, set, e))
	}

	decl = append(decl, fmt.Sprintf(`add table ip %s { comment "rules for kube-proxy" ; }`, NFTTable))
	for _, bc := range nftBaseChains {
		add("chain", fmt.Sprintf("%s { type %s hook %s priority %s ; }", bc.name, bc.typ, bc.hook, bc.priority))
	}
	for _, c := range []string{"cluster-ips-check", "firewall-check", "mark-for-masquerade", "masquerading", "nodeport-endpoints-check", "service-endpoints-check", "services"} {
		add("chain", c)
	}
	add("chain", `reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }`)
	add("set", `cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }`)
	add("set", `nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }`)
	const addrProtoPort = "ipv4_addr . inet_proto . inet_service : verdict"
	add("map", `firewall-ips { type `+addrProtoPort+` ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`)
	add("map", `no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`)
	add("map", `no-endpoint-services { type `+addrProtoPort+` ; comment "vmap to drop or reject packets to services with no endpoints" ; }`)
	add("map", `service-ips { type `+addrProtoPort+` ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`)
	add("map", `service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`)

	for _, j := range nftJumps {
		rule(j.from, strings.TrimSpace(j.match+" jump "+j.to))
	}
	rule("mark-for-masquerade", "mark set mark or "+mark)
	rule("masquerading", "mark and "+mark+" == 0 return")
	rule("masquerading", "mark set mark xor "+mark)
	rule("masquerading", "masquerade fully-random")
	rule("cluster-ips-check", `ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`)
	if o.ServiceCIDR.IsValid() {
		rule("cluster-ips-check", fmt.Sprintf(`ip daddr { %s } drop comment "Drop traffic to unallocated ClusterIPs"`, o.ServiceCIDR))
	}
	rule("reject-chain", "reject")
	rule("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services")
	rule("nodeport-endpoints-check", "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports")
	rule("firewall-check", "ip daddr . meta l4proto . th dport vmap @firewall-ips")
	rule("services", "ip daddr . meta l4proto . th dport vmap @service-ips")
	rule("services", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")
	for _, ip := range o.NodePortIPs {
		if ip.Is4() && !ip.IsLoopback() {
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
		add("chain", svc)
		elem("service-ips", key+" : goto "+svc)
		if sp.NodePort > 0 {
			ext := NFTExternalChain(sp)
			add("chain", ext)
			elem("service-nodeports", fmt.Sprintf("%s . %d : goto %s", proto, sp.NodePort, ext))
			// A NodePort may lead to another node: masqueraded, as
			// externalTrafficPolicy: Cluster has it.
			rule(ext, "jump mark-for-masquerade")
			rule(ext, "goto "+svc)
		}
		rule(svc, fmt.Sprintf("ip daddr %s %s dport %d ip saddr != %s jump mark-for-masquerade", sp.ClusterIP, proto, sp.Port, o.ClusterCIDR))
		var pick []string
		for i, ep := range eps {
			if sp.AffinitySeconds > 0 {
				add("set", fmt.Sprintf("%s { type ipv4_addr ; flags dynamic,timeout ; timeout %ds ; }", NFTAffinitySet(sp, ep), sp.AffinitySeconds))
				rule(svc, fmt.Sprintf("ip saddr @%s goto %s", NFTAffinitySet(sp, ep), NFTEndpointChain(sp, ep)))
			}
			pick = append(pick, fmt.Sprintf("%d : goto %s", i, NFTEndpointChain(sp, ep)))
		}
		rule(svc, fmt.Sprintf("numgen random mod %d vmap { %s }", len(eps), strings.Join(pick, " , ")))
		for _, ep := range eps {
			epc := NFTEndpointChain(sp, ep)
			add("chain", epc)
			// Hairpin: an endpoint reaching itself through its Service.
			rule(epc, fmt.Sprintf("ip saddr %s jump mark-for-masquerade", ep.IP))
			if sp.AffinitySeconds > 0 {
				rule(epc, fmt.Sprintf("update @%s { ip saddr }", NFTAffinitySet(sp, ep)))
			}
			rule(epc, fmt.Sprintf("meta l4proto %s dnat to %s", proto, ep))
		}
	}
	return append(append(decl, rules...), elems...)
}
