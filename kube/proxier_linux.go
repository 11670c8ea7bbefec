package kube

// The proxier at work: a Service's endpoints are its Ready pods
// (Endpoints), kube-proxy's rules for them are made as data (proxier.go)
// and loaded on every node in one iptables-restore transaction a table
// (Sync), and the conntrack entries of UDP Services whose endpoints
// changed are cleared, as kube-proxy clears them.

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"netlab/internal/api"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/topo"
)

// Endpoints are a Service's ready endpoints per port, of its first
// family, in address order: what its v1 Endpoints object lists.
func (c *Cluster) Endpoints(s Service) map[string][]Endpoint {
	return c.EndpointsOf(s, s.IPFamilies()[0])
}

// EndpointsOf are a Service's ready endpoints of family fam per port, in
// address order: its EndpointSlices of that addressType, which the
// proxier of that family reads.
func (c *Cluster) EndpointsOf(s Service, fam string) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	if len(s.Selector) == 0 {
		// No selector: the endpoints the cluster keeps itself, if any.
		for _, sp := range s.Ports {
			for _, e := range s.Static {
				if FamilyOf(e.IP) == fam {
					out[sp.Name] = append(out[sp.Name], e)
				}
			}
		}
		return out
	}
	ipOf := func(p Pod) netip.Addr {
		if fam == IPv6 {
			return p.IP6
		}
		return p.IP
	}
	var pods []Pod
	for _, p := range c.Store.Pods {
		if p.Namespace == s.Namespace && p.Ready && ipOf(p).IsValid() && Matches(s.Selector, p.Template.Labels) {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return ipOf(pods[i]).Less(ipOf(pods[j])) })
	for _, sp := range s.Ports {
		for _, p := range pods {
			port := sp.TargetPort
			if sp.TargetName != "" {
				port = 0
				for _, ct := range p.Template.Containers {
					for _, cp := range ct.Ports {
						if cp.Name == sp.TargetName {
							port = cp.Port
						}
					}
				}
				if port == 0 {
					continue // this pod has no port of that name
				}
			}
			out[sp.Name] = append(out[sp.Name], Endpoint{IP: ipOf(p), Port: port})
		}
	}
	return out
}

// ServicePorts are the service ports as the proxier of family fam (IPv4
// or IPv6) sees them: those of the Services of that family, with their
// ClusterIP and endpoints of that family.
func (c *Cluster) ServicePorts(fam string) []ServicePort {
	var out []ServicePort
	for _, s := range c.Store.Services {
		vip := s.ClusterIPOf(fam)
		if !vip.IsValid() {
			continue // headless (no rules, only DNS), or not of this family
		}
		eps := c.EndpointsOf(s, fam)
		for _, p := range s.Ports {
			out = append(out, ServicePort{Namespace: s.Namespace, Name: s.Name, PortName: p.Name, Protocol: p.Protocol,
				ClusterIP: vip, Port: p.Port, NodePort: p.NodePort, AffinitySeconds: s.AffinitySeconds, Endpoints: eps[p.Name]})
		}
	}
	return out
}

// proxier is one family's kube-proxy: IPv4's in iptables, IPv6's in
// ip6tables (a dual-stack kube-proxy runs one of each), with the pod
// CIDR of its family as its clusterCIDR.
type proxier struct {
	fam         string
	clusterCIDR netip.Prefix
}

// proxiers are the cluster's: IPv4's, and IPv6's in a dual-stack lab.
func (c *Cluster) proxiers() []proxier {
	o := c.S.Topology.Overlay
	ps := []proxier{{IPv4, o.ClusterCIDR}}
	if c.S.Topology.IPv6 {
		ps = append(ps, proxier{IPv6, o.ClusterCIDR6})
	}
	return ps
}

// chainsKey is where the store keeps a table's chains of family fam:
// "nat" for IPv4's (as before dual-stack), "ip6 nat" for IPv6's.
func chainsKey(fam, table string) string {
	if fam == IPv6 {
		return "ip6 " + table
	}
	return table
}

// Sync writes every node's kube-proxy rules from the services and their
// endpoints now, each rule with netlab's comment beside kube-proxy's: in
// iptables, and in a dual-stack lab in ip6tables too.
func (c *Cluster) Sync(ctx context.Context) error {
	t := c.S.Topology
	// kube-proxy counts into nfacct counters where it could make them;
	// netlab looks whether the node's kernel keeps them (a read).
	nfacct := len(t.LocalNodes()) > 0 && netops.NfacctAvailable(t.LocalNodes()[0].NS)
	marker := names.RuleMarker(c.S.Lab)
	nftMode := t.Overlay.Proxy() == topo.ProxyNFTables
	if nftMode {
		nfacct = false // kube-proxy's nftables mode counts in its own rules
	}
	var ops []netops.Op
	nftSynced := map[string]map[string]string{}
	next := map[string][]string{}
	gens := map[string]Tables{}
	ports := map[string][]ServicePort{}
	for _, px := range c.proxiers() {
		ports[px.fam] = c.ServicePorts(px.fam)
		if !nftMode {
			gens[px.fam] = Generate(ports[px.fam], px.clusterCIDR.String(), nfacct)
		}
	}
	pset := c.PolicySet()
	nextPolicy, nextSets := map[string][]string{}, map[string][]string{}
	for _, n := range t.LocalNodes() {
		ipts := map[string]*netops.IPTables{}
		var del []netops.Op
		for _, px := range c.proxiers() {
			gen := gens[px.fam]
			v6 := px.fam == IPv6
			ipt := &netops.IPTables{NS: n.NS, Marker: marker, IPv6: v6}
			ipts[px.fam] = ipt
			if nftMode {
				op, hashes, err := c.nftSync(n, px, ports[px.fam], marker)
				if err != nil {
					return err
				}
				ops = append(ops, op)
				nftSynced[px.fam] = hashes
				continue
			}
			for table, tb := range map[string]Table{"filter": gen.Filter, "nat": gen.NAT} {
				key := chainsKey(px.fam, table)
				have := map[string]bool{}
				for _, name := range tb.Chains {
					ipt.Chains = append(ipt.Chains, netops.Chain{Table: table, Name: name})
					have[name] = true
				}
				ipt.Rules = append(ipt.Rules, tb.Rules...)
				var gone []string
				for _, old := range c.Store.Chains[key] {
					if !have[old] {
						gone = append(gone, old)
					}
				}
				if len(gone) > 0 {
					del = append(del, netops.IPTablesDel{NS: n.NS, Table: table, Chains: gone, IPv6: v6})
				}
				if n.Name == t.LocalNodes()[0].Name {
					for name := range have {
						next[key] = append(next[key], name)
					}
					sort.Strings(next[key])
				}
			}
			if nfacct && !v6 {
				// The counters the rules count into, made where missing (a
				// first sync, a lab of an older netlab, one deleted by
				// hand); the kernel's, shared by both families.
				have, _ := netops.NfacctCounters(n.NS)
				var missing []string
				for _, name := range names.KubeProxyCounters {
					if !slices.Contains(have, name) {
						missing = append(missing, name)
					}
				}
				if len(missing) > 0 {
					ops = append(ops, netops.Nfacct{NS: n.NS, Names: missing})
				}
			}
			if !c.Store.Jumps {
				// kube-proxy puts its jumps first in the built-in chains, in
				// this order: inserted one by one, the last goes first.
				js := Jumps()
				for i := len(js) - 1; i >= 0; i-- {
					j := js[i]
					j.Insert = true
					ipt.Rules = append(ipt.Rules, j)
				}
			}
		}
		// NetworkPolicy's rules load with kube-proxy's, in the same
		// transaction a family; the sets they name are filled first.
		before, after := c.policyOps(n, ipts, pset, nextPolicy, nextSets)
		ops = append(ops, before...)
		for _, px := range c.proxiers() {
			if ipt := ipts[px.fam]; len(ipt.Chains)+len(ipt.Rules) > 0 {
				ops = append(ops, *ipt)
			}
		}
		ops = append(ops, del...)
		ops = append(ops, after...)
	}
	if err := c.R.Run(ctx, ops); err != nil {
		return fmt.Errorf("load kube-proxy's rules: %w", err)
	}
	if !nftMode {
		c.Store.Jumps = true
		c.Store.Chains = next
	} else {
		c.Store.NFTSynced = map[string]map[string]string{}
		for _, px := range c.proxiers() {
			c.Store.NFTSynced[nftFamily(px.fam)] = nftSynced[px.fam]
		}
	}
	if len(c.Store.Policies) > 0 || c.Store.PolicyJumps {
		c.Store.PolicyJumps = true
		c.Store.PolicyChains, c.Store.PolicySets = nextPolicy, nextSets
	}
	udp, flush := c.staleUDP()
	if err := c.R.Run(ctx, flush); err != nil {
		return fmt.Errorf("clear conntrack for UDP Services: %w", err)
	}
	c.Store.UDP = udp
	return nil
}

// nftSync is the transaction that brings node n's table kube-proxy of
// px's family to the service ports: kube-proxy's nftables rule set, with
// the node's own address as the one that takes NodePorts
// (--nodeport-addresses primary, its default), and the table's comment
// saying whose it is, and the chains' fingerprints it leaves. What the
// table holds now is read from the kernel, so that chains and affinity
// sets no longer needed go even when an earlier sync stopped half-way on
// another node; a chain the last sync wrote as it is now is left alone
// (kube-proxy's partial sync).
func (c *Cluster) nftSync(n topo.Node, px proxier, ports []ServicePort, marker string) (netops.Op, map[string]string, error) {
	o := NFTOptions{ClusterCIDR: px.clusterCIDR, ServiceCIDR: ServiceCIDR, NodePortIPs: []netip.Addr{n.IP}, Owner: marker}
	if px.fam == IPv6 {
		o.ServiceCIDR, o.NodePortIPs = ServiceCIDR6, []netip.Addr{n.IP6}
	}
	rs := NFT(ports, o)
	prev, err := nftLoaded(n.NS, rs.Family)
	if err != nil {
		return nil, nil, err
	}
	return netops.NFT{NS: n.NS, Lines: rs.Sync(prev, c.Store.NFTSynced[rs.Family])}, rs.Hashes(), nil
}

// nftFamily is the nftables family of a proxier's family: ip, ip6.
func nftFamily(fam string) string {
	if fam == IPv6 {
		return "ip6"
	}
	return "ip"
}

// nftLoaded reads what namespace ns's table kube-proxy of family holds:
// its chains and affinity sets (nothing if there is no such table).
func nftLoaded(ns netops.NS, family string) (NFTLoaded, error) {
	var l NFTLoaded
	var err error
	if l.Chains, err = netops.NFTChains(ns, family, NFTTable); err != nil || len(l.Chains) == 0 {
		return l, err // no chain: no table yet (or one of nothing)
	}
	sets, err := netops.NFTSets(ns, family, NFTTable)
	if err != nil {
		return l, err
	}
	for name, timeout := range sets {
		if strings.HasPrefix(name, "affinity-") {
			if l.Affinity == nil {
				l.Affinity = map[string]int{}
			}
			l.Affinity[name] = timeout
		}
	}
	return l, nil
}

// staleUDP finds, as kube-proxy does after a sync, the conntrack entries
// of UDP Services that the new rules would not reach: a Service that had
// no endpoints (its clients' entries lead nowhere), an endpoint that went
// (entries lead to it), a Service that went. It returns the endpoints
// now, and the ops that clear those entries on every node here.
func (c *Cluster) staleUDP() (map[string][]netip.Addr, []netops.Op) {
	now := map[string][]netip.Addr{}
	var ports []ServicePort
	for _, px := range c.proxiers() {
		ports = append(ports, c.ServicePorts(px.fam)...)
	}
	for _, sp := range ports {
		if sp.Protocol != "UDP" {
			continue
		}
		key := netip.AddrPortFrom(sp.ClusterIP, uint16(sp.Port)).String()
		now[key] = []netip.Addr{}
		for _, ep := range sp.Endpoints {
			now[key] = append(now[key], ep.IP)
		}
	}
	type del struct{ dst, src string }
	var dels []del
	keys := func(m map[string][]netip.Addr) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	for _, key := range keys(now) {
		vip := netip.MustParseAddrPort(key).Addr().String()
		old, had := c.Store.UDP[key]
		if (!had || len(old) == 0) && len(now[key]) > 0 {
			dels = append(dels, del{dst: vip})
			continue
		}
		for _, ip := range old {
			if !slices.Contains(now[key], ip) {
				dels = append(dels, del{dst: vip, src: ip.String()})
			}
		}
	}
	for _, key := range keys(c.Store.UDP) {
		if _, ok := now[key]; !ok {
			dels = append(dels, del{dst: netip.MustParseAddrPort(key).Addr().String()})
		}
	}
	var ops []netops.Op
	for _, n := range c.S.Topology.LocalNodes() {
		for _, d := range dels {
			ops = append(ops, netops.ConntrackDel{NS: n.NS, Proto: "udp", OrigDst: d.dst, ReplySrc: d.src})
		}
	}
	return now, ops
}

// ExplainService lays out both modes' rules of Service ns/name, each of
// its ports in each family the lab has, as node1 (the first node here)
// has them; an error names what is missing.
func (c *Cluster) ExplainService(ns, name string) ([]api.ExplainPort, error) {
	i := c.findService(ns, name)
	if i < 0 {
		return nil, invalidf("services %q not found in namespace %s (see 'netlab get services -n %s')", name, ns, ns)
	}
	s := c.Store.Services[i]
	nodes := c.S.Topology.LocalNodes()
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no node of the lab is on this machine")
	}
	var out []api.ExplainPort
	for _, px := range c.proxiers() {
		if !s.ClusterIPOf(px.fam).IsValid() {
			continue
		}
		svcCIDR, nodeIP := ServiceCIDR, nodes[0].IP
		if px.fam == IPv6 {
			svcCIDR, nodeIP = ServiceCIDR6, nodes[0].IP6
		}
		kernel := c.kernelRules(nodes[0].NS, px.fam == IPv6)
		if c.S.Topology.Overlay.Proxy() == topo.ProxyNFTables {
			kernel = kernelNFTRules(nodes[0].NS, nftFamily(px.fam))
		}
		out = append(out, ExplainPorts(c.ServicePorts(px.fam), ns, name, px.clusterCIDR, svcCIDR, nodeIP, kernel)...)
	}
	if len(out) == 0 {
		return nil, invalidf("service %s/%s is headless (clusterIP: None): kube-proxy writes no rule for it, only the cluster DNS answers for it", ns, name)
	}
	return out, nil
}

// kernelRules reads a node's nat and filter tables (ip6tables' with v6)
// and gives the i-th rule of a chain as iptables-save prints it, without
// netlab's own comment: what kube-proxy's rule is in the kernel.
func (c *Cluster) kernelRules(ns netops.NS, v6 bool) func(table, chain string, i int) (string, bool) {
	save := netops.IPTablesSave
	if v6 {
		save = netops.IP6TablesSave
	}
	mine := ` -m comment --comment "` + names.RuleMarker(c.S.Lab) + ` kube-proxy"`
	chains := map[string][]string{}
	for _, table := range []string{"nat", "filter"} {
		out, err := save(ns, table)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "-A" {
				chains[table+" "+f[1]] = append(chains[table+" "+f[1]], strings.Replace(l, mine, "", 1))
			}
		}
	}
	return func(table, chain string, i int) (string, bool) {
		rs := chains[table+" "+chain]
		if i >= len(rs) {
			return "", false
		}
		return rs[i], true
	}
}

// kernelNFTRules reads a node's table kube-proxy of family and gives the
// i-th rule of a chain as nft lists it (without its handle).
func kernelNFTRules(ns netops.NS, family string) func(table, chain string, i int) (string, bool) {
	chains := map[string][]string{}
	text, _ := netops.NFTListTable(ns, family, NFTTable)
	chain := ""
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		body, _, handled := strings.Cut(t, " # handle ")
		switch {
		case strings.HasPrefix(t, "chain "):
			chain = strings.Fields(t)[1]
		case t == "}":
			chain = ""
		case chain != "" && handled:
			chains[chain] = append(chains[chain], body)
		}
	}
	return func(table, c string, i int) (string, bool) {
		rs := chains[c]
		if table != family+" "+NFTTable || i >= len(rs) {
			return "", false
		}
		return rs[i], true
	}
}
