package kube

// A Service's rules in kube-proxy's two modes, step by step: what its
// iptables mode writes for one service port beside what its nftables mode
// writes for it, from the same cluster. What a Service is shows in both:
// find it by (ClusterIP, protocol, port), mark what must be masqueraded,
// choose an endpoint at random, DNAT to it. The rules are the generators'
// own, the lines each mode loads (iptables-save's "-A" form, nft's "add"
// commands), not a description of them.

import (
	"fmt"
	"net/netip"
	"strings"

	"netlab/internal/api"
)

// ExplainPorts lays out both modes' rules of the service ports of one
// Service (ns/name) among all the cluster's ports of one family, as
// kube-proxy sees them (ServicePorts), for a cluster whose pods are
// clusterCIDR and whose Services are serviceCIDR. Nil when the Service
// has no port there. kernel, when set, gives the i-th rule of a chain of
// a table ("nat", "filter", or nftables' "ip kube-proxy") as the kernel
// lists it (iptables-save's spelling, netlab's own comment left out;
// nft's, as an add rule command): the loaded mode's rules are shown so,
// the other's as the generator writes them (as iptables -A or nft take
// them).
func ExplainPorts(all []ServicePort, ns, name string, clusterCIDR, serviceCIDR netip.Prefix, nodeIP netip.Addr, kernel func(table, chain string, i int) (string, bool)) []api.ExplainPort {
	ipt := Generate(all, clusterCIDR.String(), false)
	nft := NFT(all, NFTOptions{ClusterCIDR: clusterCIDR, ServiceCIDR: serviceCIDR, NodePortIPs: []netip.Addr{nodeIP}})
	var out []api.ExplainPort
	for _, sp := range all {
		if sp.Namespace != ns || sp.Name != name {
			continue
		}
		e := api.ExplainPort{Port: sp.String(), Protocol: sp.Protocol, ClusterIP: sp.ClusterIP.String(), ServicePort: sp.Port, NodePort: sp.NodePort}
		for _, ep := range sp.Endpoints {
			e.Endpoints = append(e.Endpoints, ep.String())
		}
		e.Steps = explainSteps(sp, ipt, nft, kernel)
		out = append(out, e)
	}
	return out
}

func explainSteps(sp ServicePort, ipt Tables, nft NFTRuleSet, kernel func(table, chain string, i int) (string, bool)) []api.ExplainStep {
	svc, ext := ServiceChain(sp), ExternalChain(sp)
	nsvc, next := NFTServiceChain(sp), NFTExternalChain(sp)
	// iptables: a chain's rules as iptables-save prints them.
	rules := func(t Table, chain string, keep func(spec string) bool) []string {
		var out []string
		i := 0
		for _, r := range t.Rules {
			if r.Chain != chain {
				continue
			}
			spec := strings.Join(quoteSpec(r.Spec), " ")
			if keep == nil || keep(spec) {
				line := "-A " + chain + " " + spec
				if kernel != nil {
					if k, ok := kernel(r.Table, chain, i); ok {
						line = k
					}
				}
				out = append(out, line)
			}
			i++
		}
		return out
	}
	jumpsTo := func(c string) func(string) bool {
		return func(spec string) bool { return strings.HasSuffix(spec, "-j "+c) }
	}
	// nftables: a chain's rules and a map's elements, as nft commands.
	nrules := func(chain string, keep func(string) bool) []string {
		var out []string
		table := nft.Family + " " + NFTTable
		prefix := fmt.Sprintf("add rule %s %s ", table, chain)
		i := 0
		for _, r := range nft.Rules {
			if !strings.HasPrefix(r, prefix) {
				continue
			}
			if keep == nil || keep(r) {
				if kernel != nil {
					if k, ok := kernel(table, chain, i); ok {
						r = prefix + k // nft's own spelling of it
					}
				}
				out = append(out, r)
			}
			i++
		}
		return out
	}
	elems := func(set, sub string) []string {
		var out []string
		prefix := fmt.Sprintf("add element %s %s %s ", nft.Family, NFTTable, set)
		for _, e := range nft.Elems {
			if strings.HasPrefix(e, prefix) && strings.Contains(e, sub) {
				out = append(out, e)
			}
		}
		return out
	}
	key := fmt.Sprintf("%s . %s . %d", sp.ClusterIP, sp.proto(), sp.Port)
	position := func(t Table, chain string, keep func(string) bool) string {
		n, at := 0, 0
		for _, r := range t.Rules {
			if r.Chain != chain {
				continue
			}
			n++
			if at == 0 && keep(strings.Join(quoteSpec(r.Spec), " ")) {
				at = n
			}
		}
		return fmt.Sprintf("rule %d of the %d in %s, which every new connection walks in order until one matches", at, n, chain)
	}

	if len(sp.Endpoints) == 0 {
		hasName := func(spec string) bool { return strings.Contains(spec, `"`+sp.String()+` has no endpoints"`) }
		st := api.ExplainStep{Step: "reject: the Service has no endpoint, so a connection is refused at once (not left to time out)",
			IPTables: rules(ipt.Filter, "KUBE-SERVICES", hasName),
			NFTables: append(nrules("service-endpoints-check", nil), elems("no-endpoint-services", key)...)}
		st.IPTablesWhy = "filter table, before any NAT: " + position(ipt.Filter, "KUBE-SERVICES", hasName)
		st.NFTablesWhy = "filter chains at dstnat-10: one lookup in the verdict map no-endpoint-services, whose element sends it to reject-chain"
		steps := []api.ExplainStep{st}
		if sp.NodePort > 0 {
			steps = append(steps, api.ExplainStep{Step: "reject at the NodePort too",
				IPTables: rules(ipt.Filter, "KUBE-EXTERNAL-SERVICES", hasName),
				NFTables: append(nrules("nodeport-endpoints-check", nil), elems("no-endpoint-nodeports", fmt.Sprintf("%s . %d", sp.proto(), sp.NodePort))...)})
		}
		return steps
	}

	find := api.ExplainStep{Step: "find the Service by its ClusterIP, protocol and port",
		IPTables:    rules(ipt.NAT, "KUBE-SERVICES", jumpsTo(svc)),
		IPTablesWhy: position(ipt.NAT, "KUBE-SERVICES", jumpsTo(svc)),
		NFTables:    append(nrules("services", func(r string) bool { return strings.HasSuffix(r, "@service-ips") }), elems("service-ips", "goto "+nsvc)...),
		NFTablesWhy: "one lookup in the verdict map service-ips, however many Services there are",
	}
	mark := api.ExplainStep{Step: "mark what does not come from a pod, to be masqueraded on the way out",
		IPTables: append(rules(ipt.NAT, svc, jumpsTo("KUBE-MARK-MASQ")), rules(ipt.NAT, "KUBE-MARK-MASQ", nil)...),
		NFTables: append(nrules(nsvc, func(r string) bool { return strings.HasSuffix(r, "jump mark-for-masquerade") }), nrules("mark-for-masquerade", nil)...),
	}
	choose := api.ExplainStep{Step: "choose an endpoint at random",
		IPTables:    rules(ipt.NAT, svc, func(s string) bool { return !strings.HasSuffix(s, "-j KUBE-MARK-MASQ") }),
		IPTablesWhy: fmt.Sprintf("one rule per endpoint, tried in order, each with probability 1/(endpoints left): %d endpoints, each chosen 1 time in %d", len(sp.Endpoints), len(sp.Endpoints)),
		NFTables:    nrules(nsvc, func(r string) bool { return !strings.HasSuffix(r, "jump mark-for-masquerade") }),
		NFTablesWhy: fmt.Sprintf("one random number modulo %d, looked up in a verdict map of the endpoint chains", len(sp.Endpoints)),
	}
	if sp.AffinitySeconds > 0 {
		choose.IPTablesWhy += fmt.Sprintf("; before them, sessionAffinity: a client seen in an endpoint's recent list in the last %d s goes back to it", sp.AffinitySeconds)
		choose.NFTablesWhy += fmt.Sprintf("; before it, sessionAffinity: a client in an endpoint's affinity set (timeout %d s) goes back to it", sp.AffinitySeconds)
	}
	dnat := api.ExplainStep{Step: "DNAT to the endpoint (and mark an endpoint that reaches itself, the hairpin)"}
	for _, ep := range sp.Endpoints {
		dnat.IPTables = append(dnat.IPTables, rules(ipt.NAT, EndpointChain(sp, ep), nil)...)
		dnat.NFTables = append(dnat.NFTables, nrules(NFTEndpointChain(sp, ep), nil)...)
	}
	masq := api.ExplainStep{Step: "masquerade what was marked, as it leaves the node",
		IPTables: rules(ipt.NAT, "KUBE-POSTROUTING", nil),
		NFTables: nrules("masquerading", nil),
	}
	steps := []api.ExplainStep{find, mark, choose, dnat, masq}
	if sp.NodePort > 0 {
		np := api.ExplainStep{Step: fmt.Sprintf("the NodePort: port %d of a node's own address leads to the same choice, marked for masquerading", sp.NodePort),
			IPTables:    append(append(rules(ipt.NAT, "KUBE-SERVICES", func(s string) bool { return strings.HasSuffix(s, "-j KUBE-NODEPORTS") }), rules(ipt.NAT, "KUBE-NODEPORTS", jumpsTo(ext))...), rules(ipt.NAT, ext, nil)...),
			IPTablesWhy: "after every ClusterIP rule of KUBE-SERVICES, the last one: any address of the node's own (addrtype LOCAL)",
			NFTables:    append(append(nrules("services", func(r string) bool { return strings.HasSuffix(r, "@service-nodeports") }), elems("service-nodeports", "goto "+next)...), nrules(next, nil)...),
			NFTablesWhy: "the addresses in the set nodeport-ips (the node's own), then one lookup in the verdict map service-nodeports",
		}
		steps = append(steps, np)
	}
	return steps
}

// quoteSpec quotes the words of a rule that iptables-save quotes: a
// comment with spaces.
func quoteSpec(spec []string) []string {
	out := make([]string, len(spec))
	for i, a := range spec {
		if strings.ContainsAny(a, " \t") {
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return out
}
