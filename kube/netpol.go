package kube

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// This file is NetworkPolicy's meaning, as the API documents it and
// Kubernetes' e2e network policy tests grade it, computed from the
// objects alone: it never reads a rule from the kernel, so that what it
// expects and what the rules do can check each other.

// NamespaceLabel is the label every namespace carries with its own name
// (since Kubernetes 1.21), the one policies select namespaces by.
const NamespaceLabel = "kubernetes.io/metadata.name"

// PolicyPod is a pod as NetworkPolicy sees it: where it is, its labels,
// its addresses and the ports its containers name.
type PolicyPod struct {
	Namespace, Name string
	Labels          map[string]string
	IPs             []netip.Addr
	Ports           []corev1.ContainerPort
}

// Key is "namespace/name", as the probe's tables print a pod.
func (p PolicyPod) Key() string { return p.Namespace + "/" + p.Name }

// PolicySet is what the evaluator reads: the namespaces with their
// labels, the pods and the policies.
type PolicySet struct {
	Namespaces map[string]map[string]string
	Pods       []PolicyPod
	Policies   []*networkingv1.NetworkPolicy
}

// Pod is the set's pod called NAMESPACE/NAME, or nil.
func (s *PolicySet) Pod(key string) *PolicyPod {
	for i := range s.Pods {
		if s.Pods[i].Key() == key {
			return &s.Pods[i]
		}
	}
	return nil
}

// Peer is one end of a connection: a pod of the set, or an address
// outside it (a node, the outside host).
type Peer struct {
	Pod *PolicyPod
	IP  netip.Addr
}

// Verdict is the evaluator's answer for one connection and its reasons,
// a line per direction, naming the policies ("x/allow-b") that decided.
type Verdict struct {
	Allowed bool
	Egress  Decision
	Ingress Decision
}

// Decision is one direction's answer: Isolated when some policy selects
// the pod for that direction, and then the policies whose rules allow
// the connection (none: it is denied).
type Decision struct {
	Isolated  bool
	Selecting []string
	AllowedBy []string
}

// Allowed reports whether the decision lets the connection through.
func (d Decision) Allowed() bool { return !d.Isolated || len(d.AllowedBy) > 0 }

// Why is the decision in plain words.
func (d Decision) Why(dir string, pod string) string {
	switch {
	case !d.Isolated:
		return fmt.Sprintf("no policy selects %s for %s: allowed", pod, dir)
	case len(d.AllowedBy) > 0:
		return fmt.Sprintf("%s allowed by %v", dir, d.AllowedBy)
	}
	return fmt.Sprintf("%s of %s denied: selected by %v, whose rules do not allow it", dir, pod, d.Selecting)
}

// Why is the verdict in plain words, for a connection from one pod (or
// address) to another: the directions that deny it; allowed, what
// allowed each isolated direction, or that no policy selects either end.
func (v Verdict) Why(from, to string) string {
	var deny, allow []string
	for _, d := range []struct {
		dec      Decision
		dir, pod string
	}{{v.Egress, "egress", from}, {v.Ingress, "ingress", to}} {
		switch {
		case !d.dec.Allowed():
			deny = append(deny, d.dec.Why(d.dir, d.pod))
		case d.dec.Isolated:
			allow = append(allow, d.dec.Why(d.dir, d.pod))
		}
	}
	switch {
	case len(deny) > 0:
		return strings.Join(deny, "; ")
	case len(allow) > 0:
		return strings.Join(allow, "; ")
	}
	return fmt.Sprintf("no policy selects %s for egress, nor %s for ingress: allowed", from, to)
}

// Evaluate decides a connection from one peer to another, to port and
// protocol. Egress is the source pod's, ingress the destination pod's;
// both must allow. A pod's connection to itself never leaves its network
// namespace, where no implementation filters it: allowed (the e2e suite
// ignores those cells).
func (s *PolicySet) Evaluate(from, to Peer, port int32, proto corev1.Protocol) Verdict {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	if from.Pod != nil && to.Pod != nil && from.Pod.Key() == to.Pod.Key() {
		return Verdict{Allowed: true}
	}
	var v Verdict
	if from.Pod != nil {
		v.Egress = s.decide(from.Pod, networkingv1.PolicyTypeEgress, to, port, proto)
	}
	if to.Pod != nil {
		v.Ingress = s.decide(to.Pod, networkingv1.PolicyTypeIngress, from, port, proto)
	}
	v.Allowed = v.Egress.Allowed() && v.Ingress.Allowed()
	return v
}

// decide is one direction for pod: the policies of its namespace that
// select it for dir, and those among them with a rule matching the other
// end and the port.
func (s *PolicySet) decide(pod *PolicyPod, dir networkingv1.PolicyType, other Peer, port int32, proto corev1.Protocol) Decision {
	var d Decision
	for _, np := range s.Policies {
		if np.Namespace != pod.Namespace || !hasType(np, dir) || !selects(&np.Spec.PodSelector, pod.Labels) {
			continue
		}
		name := np.Namespace + "/" + np.Name
		d.Isolated = true
		d.Selecting = append(d.Selecting, name)
		if s.anyRule(np, dir, pod, other, port, proto) {
			d.AllowedBy = append(d.AllowedBy, name)
		}
	}
	sort.Strings(d.Selecting)
	sort.Strings(d.AllowedBy)
	return d
}

func (s *PolicySet) anyRule(np *networkingv1.NetworkPolicy, dir networkingv1.PolicyType, pod *PolicyPod, other Peer, port int32, proto corev1.Protocol) bool {
	// The named port is looked up on the pod the traffic goes to: the
	// selected pod for ingress, the other end for egress.
	target := pod
	if dir == networkingv1.PolicyTypeEgress {
		target = other.Pod
	}
	if dir == networkingv1.PolicyTypeIngress {
		for _, r := range np.Spec.Ingress {
			if s.peersMatch(np.Namespace, r.From, other) && portsMatch(r.Ports, target, port, proto) {
				return true
			}
		}
		return false
	}
	for _, r := range np.Spec.Egress {
		if s.peersMatch(np.Namespace, r.To, other) && portsMatch(r.Ports, target, port, proto) {
			return true
		}
	}
	return false
}

// hasType: policyTypes as the API server defaults them: Ingress always,
// Egress when the policy has egress rules.
func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	for _, pt := range PolicyTypes(np) {
		if pt == t {
			return true
		}
	}
	return false
}

// PolicyTypes is spec.policyTypes, or its default when empty.
func PolicyTypes(np *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(np.Spec.PolicyTypes) > 0 {
		return np.Spec.PolicyTypes
	}
	ts := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(np.Spec.Egress) > 0 {
		ts = append(ts, networkingv1.PolicyTypeEgress)
	}
	return ts
}

// peersMatch: an empty list matches every peer; otherwise any one entry.
func (s *PolicySet) peersMatch(ns string, peers []networkingv1.NetworkPolicyPeer, other Peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if s.peerMatches(ns, p, other) {
			return true
		}
	}
	return false
}

// peerMatches is one from/to entry: an ipBlock matches addresses (a
// pod's too, as the e2e suite's ipBlock cases expect); selectors match
// pods only: podSelector alone in the policy's namespace,
// namespaceSelector alone every pod of the namespaces it selects, both
// together the pods of those namespaces that the pod selector selects.
func (s *PolicySet) peerMatches(ns string, p networkingv1.NetworkPolicyPeer, other Peer) bool {
	if p.IPBlock != nil {
		for _, ip := range peerIPs(other) {
			if inBlock(p.IPBlock, ip) {
				return true
			}
		}
		return false
	}
	if other.Pod == nil {
		return false
	}
	if p.NamespaceSelector == nil {
		if other.Pod.Namespace != ns {
			return false
		}
	} else if !selects(p.NamespaceSelector, s.namespaceLabels(other.Pod.Namespace)) {
		return false
	}
	return p.PodSelector == nil || selects(p.PodSelector, other.Pod.Labels)
}

func peerIPs(p Peer) []netip.Addr {
	if p.Pod != nil {
		return p.Pod.IPs
	}
	if p.IP.IsValid() {
		return []netip.Addr{p.IP}
	}
	return nil
}

// namespaceLabels are a namespace's labels, with the name label that
// the API server sets on every namespace.
func (s *PolicySet) namespaceLabels(ns string) map[string]string {
	out := map[string]string{NamespaceLabel: ns}
	for k, v := range s.Namespaces[ns] {
		out[k] = v
	}
	return out
}

func inBlock(b *networkingv1.IPBlock, ip netip.Addr) bool {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !cidr.Contains(ip.Unmap()) {
		return false
	}
	for _, e := range b.Except {
		if ex, err := netip.ParsePrefix(e); err == nil && ex.Contains(ip.Unmap()) {
			return false
		}
	}
	return true
}

// portsMatch: an empty list matches every port; an entry matches its
// protocol (TCP by default) and its port: none (all of the protocol), a
// number up to endPort, or a name, which the target pod's containers
// must give to this port and protocol.
func portsMatch(ports []networkingv1.NetworkPolicyPort, target *PolicyPod, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if orTCP(ptrOr(p.Protocol)) != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == 0 { // a number
			lo, hi := p.Port.IntVal, p.Port.IntVal
			if p.EndPort != nil {
				hi = *p.EndPort
			}
			if port >= lo && port <= hi {
				return true
			}
			continue
		}
		if target == nil {
			continue
		}
		for _, cp := range target.Ports {
			if cp.Name == p.Port.StrVal && cp.ContainerPort == port && orTCP(cp.Protocol) == proto {
				return true
			}
		}
	}
	return false
}

func ptrOr(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return ""
	}
	return *p
}

// selects: a label selector against labels; a selector that does not
// parse selects nothing (validation refuses it before it gets here).
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}
