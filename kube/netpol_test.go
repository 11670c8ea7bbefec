package kube

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// xyz is the e2e suite's cluster: namespaces x, y, z with pods a, b, c
// labelled pod=<name>, serving 80 and 81 over TCP and UDP on ports named
// serve-<port>-<proto> (as the suite's agnhost containers name them).
func xyz() *PolicySet {
	s := &PolicySet{Namespaces: map[string]map[string]string{}}
	for i, ns := range []string{"x", "y", "z"} {
		s.Namespaces[ns] = map[string]string{"ns": ns}
		for j, pod := range []string{"a", "b", "c"} {
			p := PolicyPod{Namespace: ns, Name: pod, Labels: map[string]string{"pod": pod},
				IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 244, byte(i + 1), byte(j + 2)})}}
			for _, port := range []int32{80, 81} {
				for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
					p.Ports = append(p.Ports, corev1.ContainerPort{Name: fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto))), ContainerPort: port, Protocol: proto})
				}
			}
			s.Pods = append(s.Pods, p)
		}
	}
	return s
}

func policy(t *testing.T, ns, y string) *networkingv1.NetworkPolicy {
	t.Helper()
	np := &networkingv1.NetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(y), &np.Spec); err != nil {
		t.Fatal(err)
	}
	np.Namespace, np.Name = ns, fmt.Sprintf("np%d", len(y))
	return np
}

// table is the 9x9 truth table as the e2e suite prints it, a row per
// source, '.' allowed and 'X' denied, the diagonal (a pod to itself)
// '-', which the suite ignores.
func table(s *PolicySet, port int32, proto corev1.Protocol) string {
	var b strings.Builder
	for i := range s.Pods {
		from := &s.Pods[i]
		for j := range s.Pods {
			to := &s.Pods[j]
			switch {
			case i == j:
				b.WriteByte('-')
			case s.Evaluate(Peer{Pod: from}, Peer{Pod: to}, port, proto).Allowed:
				b.WriteByte('.')
			default:
				b.WriteByte('X')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// rows builds an expected table from its nine rows (x/a..z/c), spaces
// between namespaces for reading.
func rows(r ...string) string {
	return strings.ReplaceAll(strings.Join(r, "\n")+"\n", " ", "")
}

var allOpen = rows(
	"-.. ... ...", ".-. ... ...", "..- ... ...",
	"... -.. ...", "... .-. ...", "... ..- ...",
	"... ... -..", "... ... .-.", "... ... ..-")

// The e2e suite's cases (test/e2e/network/netpol/network_policy.go),
// each with the truth table its Reachability builds.
func TestNetworkPolicyTruthTables(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	cases := []struct {
		name   string
		ns     string
		specs  []string
		port   int32
		proto  corev1.Protocol
		expect string
	}{
		{"no policy", "x", nil, 80, tcp, allOpen},
		{"default-deny-ingress", "x", []string{`{podSelector: {}, policyTypes: [Ingress]}`}, 80, tcp, rows(
			"-XX ... ...", "X-X ... ...", "XX- ... ...",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"default-deny-all", "x", []string{`{podSelector: {}, policyTypes: [Ingress, Egress]}`}, 80, tcp, rows(
			"-XX XXX XXX", "X-X XXX XXX", "XX- XXX XXX",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"allow from a pod of the namespace", "x", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}`}, 80, tcp, rows(
			"-.. ... ...", ".-. ... ...", "X.- ... ...",
			"X.. -.. ...", "X.. .-. ...", "X.. ..- ...",
			"X.. ... -..", "X.. ... .-.", "X.. ... ..-")},
		{"allow from a namespace by its name label", "x", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]}]}`}, 80, tcp, rows(
			"-.. ... ...", "X-. ... ...", "X.- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"X.. ... -..", "X.. ... .-.", "X.. ... ..-")},
		{"pod selector OR namespace selector", "x", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [
			{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}},
			{podSelector: {matchLabels: {pod: b}}}]}]}`}, 80, tcp, rows(
			"-.. ... ...", ".-. ... ...", "X.- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"... ... -..", "... ... .-.", "... ... ..-")},
		{"pod selector AND namespace selector", "x", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [
			{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]},
			 podSelector: {matchLabels: {pod: b}}}]}]}`}, 80, tcp, rows(
			"-.. ... ...", "X-. ... ...", "X.- ... ...",
			"X.. -.. ...", "... .-. ...", "X.. ..- ...",
			"X.. ... -..", "... ... .-.", "X.. ... ..-")},
		{"egress to a CIDR except one address", "x", []string{`{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.3/32]}}]}]}`}, 80, tcp, rows(
			"-X. ... ...", ".-. ... ...", "..- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"... ... -..", "... ... .-.", "... ... ..-")},
		{"named port, probed on the other port", "x", []string{`{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`}, 80, tcp, rows(
			"-XX ... ...", "X-X ... ...", "XX- ... ...",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"named port, probed on it", "x", []string{`{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`}, 81, tcp, allOpen},
		{"named port of TCP, probed over UDP", "x", []string{`{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`}, 81, udp, rows(
			"-XX ... ...", "X-X ... ...", "XX- ... ...",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"endPort: 81 in 80..81", "x", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 80, endPort: 81}], from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]}]}`}, 81, tcp, rows(
			"-.. ... ...", "X-. ... ...", "X.- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"X.. ... -..", "X.. ... .-.", "X.. ... ..-")},
		{"egress denied but DNS", "x", []string{`{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]}`}, 80, tcp, rows(
			"-XX XXX XXX", "X-X XXX XXX", "XX- XXX XXX",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"... ... -..", "... ... .-.", "... ... ..-")},
		{"two policies add up: deny all, then allow to a from everywhere", "x", []string{
			`{podSelector: {}, policyTypes: [Ingress]}`,
			`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {}, namespaceSelector: {}}]}]}`}, 80, tcp, rows(
			"-XX ... ...", ".-X ... ...", ".X- ... ...",
			".XX -.. ...", ".XX .-. ...", ".XX ..- ...",
			".XX ... -..", ".XX ... .-.", ".XX ... ..-")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := xyz()
			for _, sp := range c.specs {
				s.Policies = append(s.Policies, policy(t, c.ns, sp))
			}
			assert.Equal(t, c.expect, table(s, c.port, c.proto), "rows x/a..z/c, columns the same")
		})
	}
}

// The DNS case's other half: with egress denied but DNS, x's pods still
// reach a DNS server on 53 over UDP and TCP, and nothing else of it.
func TestNetworkPolicyEgressDNS(t *testing.T) {
	s := xyz()
	s.Policies = append(s.Policies, policy(t, "x", `{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]}`))
	dns := Peer{IP: netip.MustParseAddr("10.96.0.10")}
	from := Peer{Pod: &s.Pods[0]}
	assert.True(t, s.Evaluate(from, dns, 53, corev1.ProtocolUDP).Allowed)
	assert.True(t, s.Evaluate(from, dns, 53, corev1.ProtocolTCP).Allowed)
	v := s.Evaluate(from, dns, 80, corev1.ProtocolTCP)
	assert.False(t, v.Allowed)
	assert.Equal(t, []string{"x/" + s.Policies[0].Name}, v.Egress.Selecting)
	assert.Empty(t, v.Egress.AllowedBy)
	assert.Contains(t, v.Egress.Why("egress", "x/a"), "denied")
	// Ingress from outside: an address, matched by ipBlock only.
	s.Policies = append(s.Policies, policy(t, "y", `{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 192.168.56.0/24}}, {podSelector: {}}]}]}`))
	to := Peer{Pod: &s.Pods[3]}
	assert.True(t, s.Evaluate(Peer{IP: netip.MustParseAddr("192.168.56.1")}, to, 80, "").Allowed)
	assert.False(t, s.Evaluate(Peer{IP: netip.MustParseAddr("192.168.57.1")}, to, 80, "").Allowed)
}

func TestPolicyTypesDefault(t *testing.T) {
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, PolicyTypes(policy(t, "x", `{podSelector: {}}`)))
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		PolicyTypes(policy(t, "x", `{podSelector: {}, egress: [{}]}`)))
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		PolicyTypes(&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Egress"}}}))
}

// Each bad policy is refused at the field the API server names, for its
// reason (pkg/apis/networking/validation's ValidateNetworkPolicySpec).
func TestCheckPolicySpec(t *testing.T) {
	for _, c := range []struct{ spec, path, why string }{
		{`{podSelector: {matchExpressions: [{key: pod, operator: Has}]}}`, "spec.podSelector.matchExpressions[0].operator", "not a valid selector operator"},
		{`{podSelector: {matchLabels: {"bad key!": a}}}`, "spec.podSelector.matchLabels", "name part must consist of"},
		{`{podSelector: {}, ingress: [{ports: [{port: 0}]}]}`, "spec.ingress[0].ports[0].port", "between 1 and 65535"},
		{`{podSelector: {}, ingress: [{ports: [{port: 81, endPort: 80}]}]}`, "spec.ingress[0].ports[0].endPort", "greater than or equal to `port`"},
		{`{podSelector: {}, ingress: [{ports: [{endPort: 80}]}]}`, "spec.ingress[0].ports[0].endPort", "when `port` is not specified"},
		{`{podSelector: {}, egress: [{ports: [{port: http, endPort: 80}]}]}`, "spec.egress[0].ports[0].endPort", "non-numeric"},
		{`{podSelector: {}, egress: [{ports: [{port: Not_A_Name}]}]}`, "spec.egress[0].ports[0].port", "must contain only"},
		{`{podSelector: {}, egress: [{ports: [{port: 80, protocol: ICMP}]}]}`, "spec.egress[0].ports[0].protocol", `"ICMP"`},
		{`{podSelector: {}, ingress: [{from: [{}]}]}`, "spec.ingress[0].from[0]", "must specify a peer"},
		{`{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}`, "spec.ingress[0].from[0]", "may not specify both ipBlock and another peer"},
		{`{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}`, "spec.egress[0].to[0].ipBlock.cidr", "valid CIDR"},
		{`{podSelector: {}, egress: [{to: [{ipBlock: {cidr: ""}}]}]}`, "spec.egress[0].to[0].ipBlock.cidr", "Required"},
		{`{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]}`, "spec.egress[0].to[0].ipBlock.except[0]", "strict subset"},
		{`{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]}]}`, "spec.egress[0].to[0].ipBlock.except[0]", "strict subset"},
		{`{podSelector: {}, policyTypes: [Ingress, Forward]}`, "spec.policyTypes[1]", `"Forward"`},
		{`{podSelector: {}, policyTypes: [Ingress, Egress, Ingress]}`, "spec.policyTypes", "more than two"},
	} {
		np := policy(t, "x", c.spec)
		path, why := checkPolicySpec(&np.Spec)
		assert.Equal(t, c.path, path, c.spec)
		assert.Contains(t, why, c.why, c.spec)
	}
	// What the e2e suite's policies are, passes.
	for _, ok := range []string{
		`{podSelector: {}, policyTypes: [Ingress, Egress]}`,
		`{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 80, endPort: 81}], from: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {}}]}]}`,
		`{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.244.1.7/16, except: [10.244.1.3/32]}}], ports: [{port: serve-81-udp, protocol: UDP}]}]}`,
	} {
		np := policy(t, "x", ok)
		path, why := checkPolicySpec(&np.Spec)
		assert.Empty(t, path+why, ok)
	}
}

// One node's rules in kube-router's shape, for a policy with a named
// port, selectors ANDed, and an ipBlock with except and an endPort.
func TestGeneratePolicies(t *testing.T) {
	s := xyz()
	np := policy(t, "x", `{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}, podSelector: {matchLabels: {pod: b}}}], ports: [{port: serve-80-tcp}]}], egress: [{to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.3/32]}}], ports: [{port: 80, endPort: 81}]}]}`)
	np.Name = "a-policy"
	s.Policies = append(s.Policies, np)
	r := GeneratePolicies(s, s.Pods[:2], corev1.IPv4Protocol) // x/a and x/b on this node
	fw, pc := PodFirewallChain("x", "a"), PolicyChain("x", "a-policy", corev1.IPv4Protocol)
	assert.Equal(t, []string{"KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT", pc, fw}, r.Filter.Chains,
		"x/b is selected by no policy: no chain of its own")
	save := strings.Join(r.Filter.Save(), "\n")
	sets := map[string]IPSet{}
	for _, st := range r.Sets {
		sets[st.Name] = st
	}
	var from, ports, block string
	for n, st := range sets {
		switch {
		case strings.Join(st.Entries, ",") == "10.244.2.3,10.244.3.3":
			from = n // y/b and z/b: both selectors at once
		case st.Type == "hash:net":
			block = n
			assert.Equal(t, []string{"10.244.0.0/16", "10.244.1.3/32 nomatch"}, st.Entries)
		case strings.HasPrefix(n, "KUBE-DST-") && n != setName("KUBE-DST-", "xa-policyIPv4", "IPv4"):
			ports = n // the pods giving serve-80-tcp the number 80
			assert.Equal(t, []string{"10.244.1.2"}, st.Entries)
		}
	}
	for _, want := range []string{
		"-A KUBE-ROUTER-FORWARD -m physdev --physdev-is-bridged -m comment --comment \"rule to jump traffic destined to POD name:a namespace: x to chain " + fw + "\" -d 10.244.1.2/32 -j " + fw,
		"-A KUBE-ROUTER-INPUT -m comment --comment \"rule to jump traffic from POD name:a namespace: x to chain " + fw + "\" -s 10.244.1.2/32 -j " + fw,
		"-A " + pc + " -m comment --comment \"ingress rule 0 of x/a-policy\" -m set --match-set " + from + " src -m set --match-set " + ports + " dst -p tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000",
		"-A " + pc + " -m comment --comment \"egress rule 0 of x/a-policy\" -m set --match-set " + setName("KUBE-SRC-", "xa-policyIPv4", "IPv4") + " src -m set --match-set " + block + " dst -p tcp --dport 80:81 -j MARK --set-xmark 0x10000/0x10000",
		"-A " + fw + " -m comment --comment \"rule for stateful firewall for pod\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A " + fw + " -m comment --comment \"run through nw policy a-policy\" -j " + pc,
		"-A " + fw + " -m comment --comment \"rule to REJECT traffic destined for POD name:a namespace: x\" -m mark ! --mark 0x10000/0x10000 -j REJECT",
	} {
		assert.Contains(t, save, want)
	}
	assert.NotEmpty(t, from, "the ANDed selectors' set")
	assert.NotEmpty(t, ports, "the named port's set")
	assert.NotEmpty(t, block, "the ipBlock's set")
	assert.NotContains(t, save, "10.244.1.3/32 -j", "x/b is not filtered here")
	// IPv6: ipsets of family inet6, named as kube-router names them.
	s.Pods[0].IPs = append(s.Pods[0].IPs, netip.MustParseAddr("fd00:10:244:1::2"))
	r6 := GeneratePolicies(s, s.Pods[:1], corev1.IPv6Protocol)
	assert.Contains(t, strings.Join(r6.Filter.Save(), "\n"), "-d fd00:10:244:1::2/128 -j "+fw)
	for _, st := range r6.Sets {
		assert.True(t, strings.HasPrefix(st.Name, "inet6:KUBE-"), st.Name)
		assert.Equal(t, "inet6", st.Family)
	}
	// No policy, no rules but the empty top-level chains.
	s.Policies = nil
	assert.Empty(t, GeneratePolicies(s, s.Pods, corev1.IPv4Protocol).Filter.Rules)
}

// TestParsePolicyObjects: Namespaces and NetworkPolicies read as the API
// server reads them, and what it refuses is refused at its field.
func TestParsePolicyObjects(t *testing.T) {
	objs, err := Parse([]byte(`
apiVersion: v1
kind: Namespace
metadata: {name: team, namespace: ignored, labels: {tier: web, kubernetes.io/metadata.name: other}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: team}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 53, protocol: UDP}, {port: dns-tcp}]}]
`))
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, "Namespace//team", objs[0].Name())
	assert.Contains(t, strings.Join(objs[0].Warnings, "\n"), `"other" replaced by "team"`)
	assert.Contains(t, strings.Join(objs[0].Warnings, "\n"), "metadata.namespace: ignored")
	assert.Equal(t, "NetworkPolicy/team/allow-dns", objs[1].Name())

	for _, c := range []struct{ doc, path, why string }{
		{`{apiVersion: v1, kind: Namespace, metadata: {name: Team}}`, "metadata.name", "not a DNS-1123 label"},
		{`{apiVersion: v1, kind: Namespace, metadata: {name: t, labels: {"a b": c}}}`, "metadata.labels.a b", "not a label key"},
		{`{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p}, spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}}`,
			"spec.ingress[0].from[0]", "may not specify both"},
		{`{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p}, spec: {podSelector: {}, ingress: [{ports: [{port: 81, endPort: 80}]}]}}`,
			"spec.ingress[0].ports[0].endPort", "must be greater than or equal to `port`"},
		{`{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p}, spec: {podSelector: {}, bogus: 1}}`, "spec.bogus", "unknown field"},
		{`{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: P_1}, spec: {podSelector: {}}}`, "metadata.name", "not a DNS-1123 subdomain"},
		{`{apiVersion: networking.k8s.io/v1beta1, kind: NetworkPolicy, metadata: {name: p}, spec: {}}`, "kind", "networking.k8s.io/v1 NetworkPolicy"},
	} {
		_, err := Parse([]byte(c.doc))
		var me *ManifestError
		require.ErrorAs(t, err, &me, c.doc)
		assert.Equal(t, c.path, me.Path, c.doc)
		assert.Contains(t, me.Reason, c.why, c.doc)
	}
}

// TestVerdictWhy: the reason the probe, compare and the exercises' hints
// give: every direction that denies; allowed, what allowed each isolated
// direction; no policy, that neither end is selected.
func TestVerdictWhy(t *testing.T) {
	deny := Decision{Isolated: true, Selecting: []string{"x/deny"}}
	allow := Decision{Isolated: true, Selecting: []string{"x/allow"}, AllowedBy: []string{"x/allow"}}
	assert.Equal(t, "egress of x/a denied: selected by [x/deny], whose rules do not allow it; ingress of y/b denied: selected by [x/deny], whose rules do not allow it",
		Verdict{Egress: deny, Ingress: deny}.Why("x/a", "y/b"))
	assert.Equal(t, "ingress of y/b denied: selected by [x/deny], whose rules do not allow it", Verdict{Egress: allow, Ingress: deny}.Why("x/a", "y/b"))
	assert.Equal(t, "egress allowed by [x/allow]", Verdict{Allowed: true, Egress: allow}.Why("x/a", "y/b"))
	assert.Equal(t, "no policy selects x/a for egress, nor y/b for ingress: allowed", Verdict{Allowed: true}.Why("x/a", "y/b"))
}
