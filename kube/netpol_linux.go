package kube

// NetworkPolicy in the cluster: Namespaces and NetworkPolicies as the
// API server keeps them, the PolicySet the evaluator reads (netpol.go),
// and each node's rules (netpol_rules.go) loaded by the sync, with the
// ipsets they name, the ones no longer needed removed.

import (
	"encoding/json"
	"net/netip"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"netlab/internal/netops"
	"netlab/internal/topo"
)

func (c *Cluster) findNamespace(name string) int {
	for i, n := range c.Store.Namespaces {
		if n.Name == name {
			return i
		}
	}
	return -1
}

func (c *Cluster) findPolicy(ns, name string) int {
	for i, p := range c.Store.Policies {
		if p.Namespace == ns && p.Name == name {
			return i
		}
	}
	return -1
}

// NamespaceCreated is when a namespace came to be: its object's time, the
// lab's for the system ones, or the oldest time of what is in it.
func (c *Cluster) NamespaceCreated(name string) time.Time {
	if i := c.findNamespace(name); i >= 0 {
		return c.Store.Namespaces[i].Created
	}
	if slices.Contains(systemNamespaces, name) && c.S != nil {
		return c.S.Created
	}
	var t time.Time
	older := func(u time.Time) {
		if t.IsZero() || u.Before(t) {
			t = u
		}
	}
	for _, p := range c.Store.Pods {
		if p.Namespace == name {
			older(p.Created)
		}
	}
	for _, s := range c.Store.Services {
		if s.Namespace == name {
			older(s.Created)
		}
	}
	return t
}

// NetworkPolicy is policy p as the API holds it.
func NetworkPolicy(p Policy) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{Spec: p.Spec}
	np.APIVersion, np.Kind = "networking.k8s.io/v1", "NetworkPolicy"
	np.Namespace, np.Name, np.Labels = p.Namespace, p.Name, p.Labels
	np.CreationTimestamp.Time = p.Created
	return np
}

// PolicySet is the cluster as NetworkPolicy sees it: every pod with its
// labels, addresses and named ports, every namespace with its labels,
// every policy.
func (c *Cluster) PolicySet() *PolicySet { return c.Store.PolicySet() }

// PolicySet is the store's cluster as NetworkPolicy sees it.
func (st Store) PolicySet() *PolicySet {
	s := &PolicySet{Namespaces: st.NamespaceLabels()}
	for _, p := range st.Pods {
		s.Pods = append(s.Pods, policyPod(p))
	}
	for _, p := range st.Policies {
		s.Policies = append(s.Policies, NetworkPolicy(p))
	}
	return s
}

// policyPod is pod p as NetworkPolicy sees it; its ports are those its
// object shows (the cluster DNS's dns/UDP and dns-tcp/TCP among them).
func policyPod(p Pod) PolicyPod {
	pp := PolicyPod{Namespace: p.Namespace, Name: p.Name, Labels: p.Template.Labels}
	for _, ip := range []netip.Addr{p.IP, p.IP6} {
		if ip.IsValid() {
			pp.IPs = append(pp.IPs, ip)
		}
	}
	for _, ct := range PodObject(p, "").Spec.Containers {
		pp.Ports = append(pp.Ports, ct.Ports...)
	}
	return pp
}

func (c *Cluster) applyNamespace(n *corev1.Namespace) (string, error) {
	labels := map[string]string{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	labels[NamespaceLabel] = n.Name
	if i := c.findNamespace(n.Name); i >= 0 {
		if equalLabels(c.Store.Namespaces[i].Labels, labels) {
			return "namespace/" + n.Name + " unchanged", nil
		}
		c.Store.Namespaces[i].Labels = labels
		return "namespace/" + n.Name + " configured", nil
	}
	c.Store.Namespaces = append(c.Store.Namespaces, Namespace{Name: n.Name, Labels: labels, Created: time.Now().UTC()})
	return "namespace/" + n.Name + " created", nil
}

func (c *Cluster) applyPolicy(np *networkingv1.NetworkPolicy) (string, error) {
	p := Policy{Namespace: np.Namespace, Name: np.Name, Labels: np.Labels, Spec: np.Spec, Created: time.Now().UTC()}
	what := "networkpolicy.networking.k8s.io/" + np.Name
	if i := c.findPolicy(np.Namespace, np.Name); i >= 0 {
		old := c.Store.Policies[i]
		p.Created = old.Created
		a, _ := json.Marshal(old.Spec)
		b, _ := json.Marshal(p.Spec)
		if string(a) == string(b) && equalLabels(old.Labels, p.Labels) {
			return what + " unchanged", nil
		}
		c.Store.Policies[i] = p
		return what + " configured", nil
	}
	c.Store.Policies = append(c.Store.Policies, p)
	return what + " created", nil
}

// policyKey is where the store keeps a node's chains of family fam.
func policyKey(node, fam string) string {
	if fam == IPv6 {
		return node + " ip6"
	}
	return node
}

// policyOps are the sync's NetworkPolicy work on node n: its ipsets
// filled (before the rules that name them), its chains and rules of each
// family (added to ipts, the node's iptables transactions of each
// family, so that they load with kube-proxy's), and what is no longer
// needed removed after them (chains, then sets). Nothing while the
// cluster has never had a policy.
func (c *Cluster) policyOps(n topo.Node, ipts map[string]*netops.IPTables, set *PolicySet, next, nextSets map[string][]string) (before, after []netops.Op) {
	if len(c.Store.Policies) == 0 && !c.Store.PolicyJumps {
		return nil, nil
	}
	var local []PolicyPod
	for _, p := range c.Store.Pods {
		if p.Node == n.Name {
			local = append(local, policyPod(p))
		}
	}
	sets := netops.IPSets{NS: n.NS}
	haveSet := map[string]bool{}
	for _, px := range c.proxiers() {
		gen := GeneratePolicies(set, local, corev1.IPFamily(px.fam))
		ipt := ipts[px.fam]
		have := map[string]bool{}
		for _, name := range gen.Filter.Chains {
			ipt.Chains = append(ipt.Chains, netops.Chain{Table: "filter", Name: name})
			have[name] = true
		}
		ipt.Rules = append(ipt.Rules, gen.Filter.Rules...)
		if !c.Store.PolicyJumps {
			// After kube-proxy's jumps, inserted each at the top: first,
			// as kube-router keeps its own.
			ipt.Rules = append(ipt.Rules, PolicyJumps()...)
		}
		key := policyKey(n.Name, px.fam)
		var gone []string
		for _, old := range c.Store.PolicyChains[key] {
			if !have[old] {
				gone = append(gone, old)
			}
		}
		if len(gone) > 0 {
			after = append(after, netops.IPTablesDel{NS: n.NS, Table: "filter", Chains: gone, IPv6: px.fam == IPv6})
		}
		next[key] = slices.Sorted(func(yield func(string) bool) {
			for k := range have {
				if !yield(k) {
					return
				}
			}
		})
		for _, s := range gen.Sets {
			sets.Sets = append(sets.Sets, s)
			haveSet[s.Name] = true
			nextSets[n.Name] = append(nextSets[n.Name], s.Name)
		}
	}
	sort.Strings(nextSets[n.Name])
	if len(sets.Sets) > 0 {
		before = append(before, sets)
	}
	var stale []string
	for _, old := range c.Store.PolicySets[n.Name] {
		if !haveSet[old] {
			stale = append(stale, old)
		}
	}
	if len(stale) > 0 {
		after = append(after, netops.IPSets{NS: n.NS, Destroy: stale})
	}
	return before, after
}
