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

	"netlab/internal/names"
	"netlab/internal/netops"
)

// Endpoints are a Service's ready endpoints per port, in address order.
func (c *Cluster) Endpoints(s Service) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	if len(s.Selector) == 0 {
		// No selector: the endpoints the cluster keeps itself, if any.
		for _, sp := range s.Ports {
			out[sp.Name] = append(out[sp.Name], s.Static...)
		}
		return out
	}
	var pods []Pod
	for _, p := range c.Store.Pods {
		if p.Namespace == s.Namespace && p.Ready && Matches(s.Selector, p.Template.Labels) {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].IP.Less(pods[j].IP) })
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
			out[sp.Name] = append(out[sp.Name], Endpoint{IP: p.IP, Port: port})
		}
	}
	return out
}

// ServicePorts are the service ports as kube-proxy sees them.
func (c *Cluster) ServicePorts() []ServicePort {
	var out []ServicePort
	for _, s := range c.Store.Services {
		if !s.ClusterIP.IsValid() {
			continue // headless: no rules, only DNS
		}
		eps := c.Endpoints(s)
		for _, p := range s.Ports {
			out = append(out, ServicePort{Namespace: s.Namespace, Name: s.Name, PortName: p.Name, Protocol: p.Protocol,
				ClusterIP: s.ClusterIP, Port: p.Port, NodePort: p.NodePort, AffinitySeconds: s.AffinitySeconds, Endpoints: eps[p.Name]})
		}
	}
	return out
}

// Sync writes every node's kube-proxy rules from the services and their
// endpoints now, each rule with netlab's comment beside kube-proxy's.
func (c *Cluster) Sync(ctx context.Context) error {
	t := c.S.Topology
	// kube-proxy counts into nfacct counters where it could make them;
	// netlab looks whether the node's kernel keeps them (a read).
	nfacct := len(t.LocalNodes()) > 0 && netops.NfacctAvailable(t.LocalNodes()[0].NS)
	gen := Generate(c.ServicePorts(), t.Overlay.ClusterCIDR.String(), nfacct)
	marker := names.RuleMarker(c.S.Lab)
	var ops []netops.Op
	next := map[string][]string{}
	for _, n := range t.LocalNodes() {
		ipt := netops.IPTables{NS: n.NS, Marker: marker}
		var del []netops.Op
		for table, tb := range map[string]Table{"filter": gen.Filter, "nat": gen.NAT} {
			have := map[string]bool{}
			for _, name := range tb.Chains {
				ipt.Chains = append(ipt.Chains, netops.Chain{Table: table, Name: name})
				have[name] = true
			}
			ipt.Rules = append(ipt.Rules, tb.Rules...)
			var gone []string
			for _, old := range c.Store.Chains[table] {
				if !have[old] {
					gone = append(gone, old)
				}
			}
			if len(gone) > 0 {
				del = append(del, netops.IPTablesDel{NS: n.NS, Table: table, Chains: gone})
			}
			if n.Name == t.LocalNodes()[0].Name {
				for name := range have {
					next[table] = append(next[table], name)
				}
				sort.Strings(next[table])
			}
		}
		if nfacct {
			// The counters the rules count into, made where missing (a
			// first sync, a lab of an older netlab, one deleted by hand).
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
		ops = append(ops, ipt)
		ops = append(ops, del...)
	}
	if err := c.R.Run(ctx, ops); err != nil {
		return fmt.Errorf("load kube-proxy's rules: %w", err)
	}
	c.Store.Jumps = true
	c.Store.Chains = next
	udp, flush := c.staleUDP()
	if err := c.R.Run(ctx, flush); err != nil {
		return fmt.Errorf("clear conntrack for UDP Services: %w", err)
	}
	c.Store.UDP = udp
	return nil
}

// staleUDP finds, as kube-proxy does after a sync, the conntrack entries
// of UDP Services that the new rules would not reach: a Service that had
// no endpoints (its clients' entries lead nowhere), an endpoint that went
// (entries lead to it), a Service that went. It returns the endpoints
// now, and the ops that clear those entries on every node here.
func (c *Cluster) staleUDP() (map[string][]netip.Addr, []netops.Op) {
	now := map[string][]netip.Addr{}
	for _, sp := range c.ServicePorts() {
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
