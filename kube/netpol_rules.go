package kube

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"netlab/internal/netops"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// This file is NetworkPolicy's enforcement as data, in kube-router's
// shape (pkg/controllers/netpol, v2): every node filters the pods it
// runs. Top-level chains KUBE-ROUTER-INPUT/FORWARD/OUTPUT send a pod's
// traffic to its own chain, KUBE-POD-FW-<hash>, which accepts what
// conntrack knows and what the node itself sends, runs the policies that
// select the pod (KUBE-NWPLCY-<hash>, which mark what a rule allows),
// and rejects what is left unmarked. Pod sets are ipsets (KUBE-SRC-... /
// KUBE-DST-..., hash:ip; an ipBlock's is hash:net with its excepts as
// nomatch entries). Where netlab differs: names are hashed without
// kube-router's sync version (netlab updates its chains in place rather
// than building new ones each sync), and nothing is logged to NFLOG.

// PolicyMark is the mark a policy rule sets on what it allows
// (kube-router's 0x10000, clear of kube-proxy's 0x4000 and 0x8000).
const PolicyMark = "0x10000/0x10000"

// IPSet is one ipset (netops': its name, type, family and entries).
type IPSet = netops.IPSet

// PolicyRules are one node's NetworkPolicy rules of one family.
type PolicyRules struct {
	Filter Table
	Sets   []IPSet
}

// The top-level chains, jumped to first from INPUT, FORWARD and OUTPUT.
const (
	routerInput   = "KUBE-ROUTER-INPUT"
	routerForward = "KUBE-ROUTER-FORWARD"
	routerOutput  = "KUBE-ROUTER-OUTPUT"
)

// krHash is kube-router's name hash: base32 of SHA-256, 16 characters.
func krHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// PodFirewallChain is the chain of a pod's traffic.
func PodFirewallChain(ns, pod string) string { return "KUBE-POD-FW-" + krHash(ns+pod) }

// PolicyChain is the chain of one policy's rules in one family.
func PolicyChain(ns, name string, fam corev1.IPFamily) string {
	return "KUBE-NWPLCY-" + krHash(ns+name+string(fam))
}

func setName(prefix, key string, fam corev1.IPFamily) string {
	n := prefix + krHash(key)
	if fam == corev1.IPv6Protocol {
		return "inet6:" + n
	}
	return n
}

// GeneratePolicies writes the rules of node, whose pods are local, for
// the policies of s, in family fam.
func GeneratePolicies(s *PolicySet, local []PolicyPod, fam corev1.IPFamily) PolicyRules {
	g := &policyGen{s: s, fam: fam, c: newChains("filter", routerInput, routerForward, routerOutput), sets: map[string]IPSet{}}
	g.c.who = "kube-router"
	policies := append([]*networkingv1.NetworkPolicy{}, s.Policies...)
	sort.SliceStable(policies, func(i, j int) bool {
		return policies[i].Namespace+"/"+policies[i].Name < policies[j].Namespace+"/"+policies[j].Name
	})
	// Every policy's chain is on every node: a pod that moves finds its
	// policies there.
	for _, np := range policies {
		g.policy(np)
	}
	pods := append([]PolicyPod{}, local...)
	sort.SliceStable(pods, func(i, j int) bool { return pods[i].Key() < pods[j].Key() })
	for i := range pods {
		g.pod(&pods[i], policies)
	}
	names := append([]string{}, g.c.order...)
	var out PolicyRules
	out.Filter = g.c.list(names)
	for _, n := range sortedSetNames(g.sets) {
		out.Sets = append(out.Sets, g.sets[n])
	}
	return out
}

type policyGen struct {
	s    *PolicySet
	fam  corev1.IPFamily
	c    *chains
	sets map[string]IPSet
}

func sortedSetNames(m map[string]IPSet) []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// ipOf is a pod's address in the generator's family.
func (g *policyGen) ipOf(p *PolicyPod) (netip.Addr, bool) {
	for _, ip := range p.IPs {
		if ip.Is6() == (g.fam == corev1.IPv6Protocol) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (g *policyGen) podSet(name string, pods []*PolicyPod) string {
	var es []string
	for _, p := range pods {
		if ip, ok := g.ipOf(p); ok {
			es = append(es, ip.String())
		}
	}
	sort.Strings(es)
	g.sets[name] = IPSet{Name: name, Type: "hash:ip", Family: g.family(), Entries: es}
	return name
}

func (g *policyGen) family() string {
	if g.fam == corev1.IPv6Protocol {
		return "inet6"
	}
	return "inet"
}

// selected are the pods np selects.
func (g *policyGen) selected(np *networkingv1.NetworkPolicy) []*PolicyPod {
	var out []*PolicyPod
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		if p.Namespace == np.Namespace && selects(&np.Spec.PodSelector, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}

// peerPods are the pods a rule's selector peers match.
func (g *policyGen) peerPods(ns string, peers []networkingv1.NetworkPolicyPeer) []*PolicyPod {
	var out []*PolicyPod
	for i := range g.s.Pods {
		p := &g.s.Pods[i]
		for _, peer := range peers {
			if peer.IPBlock == nil && g.s.peerMatches(ns, peer, Peer{Pod: p}) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// blocks is a rule's ipBlocks of this family as hash:net entries, the
// excepts as nomatch (a /0 as two halves, which hash:net cannot hold).
func (g *policyGen) blocks(peers []networkingv1.NetworkPolicyPeer) []string {
	var es []string
	half := func(cidr, suffix string) {
		p := netip.MustParsePrefix(cidr).Masked()
		if p.Bits() == 0 {
			if p.Addr().Is4() {
				es = append(es, "0.0.0.0/1"+suffix, "128.0.0.0/1"+suffix)
			} else {
				es = append(es, "::/1"+suffix, "8000::/1"+suffix)
			}
			return
		}
		es = append(es, p.String()+suffix)
	}
	for _, peer := range peers {
		b := peer.IPBlock
		if b == nil {
			continue
		}
		cidr, err := netip.ParsePrefix(b.CIDR)
		if err != nil || cidr.Addr().Is6() != (g.fam == corev1.IPv6Protocol) {
			continue
		}
		half(b.CIDR, "")
		for _, e := range b.Except {
			half(e, " nomatch")
		}
	}
	return es
}

// portMatch is a rule's port as iptables matches it: "-p tcp --dport
// 80", "-p tcp --dport 80:81", "-p udp" (every port of a protocol).
type portMatch struct {
	proto, dport string
	// dst narrows the destination to the pods whose containers give a
	// named port this number (a set), "" when the port is a number.
	dst string
}

func (pm portMatch) parts() []string {
	out := []string{"-p " + pm.proto}
	if pm.dport != "" {
		out = append(out, "--dport "+pm.dport)
	}
	return out
}

// ports resolves a rule's ports: numbers as they are, a name to each
// number the target pods give it, with the set of those pods.
func (g *policyGen) ports(ports []networkingv1.NetworkPolicyPort, targets []*PolicyPod, setKey string) []portMatch {
	var out []portMatch
	for k, p := range ports {
		proto := string(orTCP(ptrOr(p.Protocol)))
		lower := map[string]string{"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}[proto]
		switch {
		case p.Port == nil:
			out = append(out, portMatch{proto: lower})
		case p.Port.Type == 0:
			d := strconv.Itoa(int(p.Port.IntVal))
			if p.EndPort != nil && *p.EndPort > p.Port.IntVal {
				d += ":" + strconv.Itoa(int(*p.EndPort))
			}
			out = append(out, portMatch{proto: lower, dport: d})
		default:
			byNumber := map[int32][]*PolicyPod{}
			for _, t := range targets {
				for _, cp := range t.Ports {
					if cp.Name == p.Port.StrVal && string(orTCP(cp.Protocol)) == proto {
						byNumber[cp.ContainerPort] = append(byNumber[cp.ContainerPort], t)
					}
				}
			}
			var nums []int32
			for n := range byNumber {
				nums = append(nums, n)
			}
			sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
			for e, n := range nums {
				set := g.podSet(setName("KUBE-DST-", fmt.Sprintf("%s%d%d%snamedport", setKey, k, e, g.fam), g.fam), byNumber[n])
				out = append(out, portMatch{proto: lower, dport: strconv.Itoa(int(n)), dst: set})
			}
		}
	}
	return out
}

// allow writes a rule that marks what it allows and returns, as
// kube-router's appendRuleToPolicyChain does: sources and destinations
// by set ("" for any), then the port.
func (g *policyGen) allow(chain, why, src, dst string, pm *portMatch) {
	parts := []string{comment(why)}
	if src != "" {
		parts = append(parts, "-m set --match-set "+src+" src")
	}
	if pm != nil && pm.dst != "" {
		// The pods that give the named port this number: they replace a
		// set of pods (of which they are some), and narrow an ipBlock.
		if g.sets[dst].Type == "hash:net" {
			parts = append(parts, "-m set --match-set "+dst+" dst")
		}
		dst = pm.dst
	}
	if dst != "" {
		parts = append(parts, "-m set --match-set "+dst+" dst")
	}
	if pm != nil {
		parts = append(parts, pm.parts()...)
	}
	g.c.rule(chain, append(parts, "-j MARK --set-xmark "+PolicyMark)...)
	g.c.rule(chain, comment(why), "-m mark --mark "+PolicyMark, "-j RETURN")
}

// policy writes np's chain: an allowing rule for each of its rules'
// peers and ports, in the policy's order.
func (g *policyGen) policy(np *networkingv1.NetworkPolicy) {
	chain := PolicyChain(np.Namespace, np.Name, g.fam)
	g.c.add(chain)
	key := np.Namespace + np.Name
	targets := g.selected(np)
	name := np.Namespace + "/" + np.Name
	if hasType(np, networkingv1.PolicyTypeIngress) {
		dst := g.podSet(setName("KUBE-DST-", key+string(g.fam), g.fam), targets)
		for i, r := range np.Spec.Ingress {
			rk := fmt.Sprintf("%singressrule%d", key, i)
			g.rule(chain, "ingress", name, i, r.From, r.Ports, targets, rk, dst, true)
		}
	}
	if hasType(np, networkingv1.PolicyTypeEgress) {
		src := g.podSet(setName("KUBE-SRC-", key+string(g.fam), g.fam), targets)
		for i, r := range np.Spec.Egress {
			rk := fmt.Sprintf("%segressrule%d", key, i)
			g.rule(chain, "egress", name, i, r.To, r.Ports, nil, rk, src, false)
		}
	}
}

// rule is one ingress (selected is the destination set) or egress rule
// (selected is the source set): its peers, all or some pods, or ipBlocks,
// each with every port.
func (g *policyGen) rule(chain, dir, name string, i int, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, targets []*PolicyPod, rk, selected string, ingress bool) {
	why := fmt.Sprintf("%s rule %d of %s", dir, i, name)
	ends := func(other string) (string, string) {
		if ingress {
			return other, selected
		}
		return selected, other
	}
	emit := func(other string, targetPods []*PolicyPod) {
		pms := g.ports(ports, targetPods, rk)
		if len(ports) == 0 {
			src, dst := ends(other)
			g.allow(chain, why, src, dst, nil)
			return
		}
		for k := range pms {
			src, dst := ends(other)
			g.allow(chain, why, src, dst, &pms[k])
		}
	}
	if len(peers) == 0 {
		// Every peer: egress's named ports resolve on every pod.
		t := targets
		if !ingress {
			t = g.allPods()
		}
		emit("", t)
		return
	}
	prefix, setKind := "KUBE-SRC-", "pod"
	if !ingress {
		prefix = "KUBE-DST-"
	}
	ns, _, _ := strings.Cut(name, "/")
	if pods := g.peerPods(ns, peers); len(pods) > 0 {
		set := g.podSet(setName(prefix, rk+string(g.fam)+setKind, g.fam), pods)
		t := targets
		if !ingress {
			t = pods
		}
		emit(set, t)
	}
	if es := g.blocks(peers); len(es) > 0 {
		set := setName(prefix, rk+string(g.fam)+"ipblock", g.fam)
		g.sets[set] = IPSet{Name: set, Type: "hash:net", Family: g.family(), Entries: es}
		t := targets
		if !ingress {
			t = g.allPods()
		}
		emit(set, t)
	}
}

func (g *policyGen) allPods() []*PolicyPod {
	out := make([]*PolicyPod, len(g.s.Pods))
	for i := range g.s.Pods {
		out[i] = &g.s.Pods[i]
	}
	return out
}

// pod writes a local pod's chain and the jumps to it, when a policy
// selects it for either direction.
func (g *policyGen) pod(p *PolicyPod, policies []*networkingv1.NetworkPolicy) {
	ip, ok := g.ipOf(p)
	if !ok {
		return
	}
	var in, out bool
	var mine []string
	for _, np := range policies {
		if np.Namespace != p.Namespace || !selects(&np.Spec.PodSelector, p.Labels) {
			continue
		}
		i, e := hasType(np, networkingv1.PolicyTypeIngress), hasType(np, networkingv1.PolicyTypeEgress)
		if i || e {
			mine = append(mine, np.Name)
		}
		in, out = in || i, out || e
	}
	if !in && !out {
		return
	}
	fw := PodFirewallChain(p.Namespace, p.Name)
	host := "/32"
	if ip.Is6() {
		host = "/128"
	}
	addr := ip.String() + host
	g.c.rule(fw, comment("rule for stateful firewall for pod"), "-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT")
	if in {
		g.c.rule(fw, comment("rule to permit the traffic traffic to pods when source is the pod's local node"),
			"-m addrtype --src-type LOCAL", "-d "+addr, "-j ACCEPT")
	}
	for _, name := range mine {
		g.c.rule(fw, comment("run through nw policy "+name), "-j "+PolicyChain(p.Namespace, name, g.fam))
	}
	g.c.rule(fw, comment(fmt.Sprintf("rule to REJECT traffic destined for POD name:%s namespace: %s", p.Name, p.Namespace)),
		"-m mark ! --mark "+PolicyMark, "-j REJECT")
	g.c.rule(fw, "-j MARK --set-mark 0/0x10000")
	if in {
		to := fmt.Sprintf("rule to jump traffic destined to POD name:%s namespace: %s to chain %s", p.Name, p.Namespace, fw)
		g.c.rule(routerForward, "-m physdev --physdev-is-bridged", comment(to), "-d "+addr, "-j "+fw)
		g.c.rule(routerForward, comment(to), "-d "+addr, "-j "+fw)
		g.c.rule(routerOutput, comment(to), "-d "+addr, "-j "+fw)
	}
	if out {
		from := fmt.Sprintf("rule to jump traffic from POD name:%s namespace: %s to chain %s", p.Name, p.Namespace, fw)
		g.c.rule(routerForward, "-m physdev --physdev-is-bridged", comment(from), "-s "+addr, "-j "+fw)
		for _, ch := range []string{routerInput, routerForward, routerOutput} {
			g.c.rule(ch, comment(from), "-s "+addr, "-j "+fw)
		}
	}
}

// PolicyJumps are the jumps to the top-level chains, first in INPUT,
// FORWARD and OUTPUT, as kube-router inserts them.
func PolicyJumps() []netops.Rule {
	var out []netops.Rule
	for _, j := range [][2]string{{"INPUT", routerInput}, {"FORWARD", routerForward}, {"OUTPUT", routerOutput}} {
		out = append(out, netops.Rule{Table: "filter", Chain: j[0], Insert: true, Why: "kube-router",
			Spec: []string{"-m", "comment", "--comment", "kube-router netpol - " + krHash(j[1]), "-j", j[1]}})
	}
	return out
}
