package kube

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The facts below are kube-proxy's, from the golden output of its own
// iptables tests (kubernetes/kubernetes, pkg/proxy/iptables/proxier_test.go,
// TestOverallIPTablesRules): the same services and endpoints must give the
// same chain names, the same rules and the same probabilities.

func ep(ip string, port int) Endpoint { return Endpoint{IP: netip.MustParseAddr(ip), Port: port} }

func svc(ns, name, ip string, eps ...Endpoint) ServicePort {
	return ServicePort{Namespace: ns, Name: name, PortName: "p80", Protocol: "TCP", ClusterIP: netip.MustParseAddr(ip), Port: 80, Endpoints: eps}
}

func TestChainNames(t *testing.T) {
	for _, tc := range []struct {
		sp       ServicePort
		svc, sep string
	}{
		{svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80)), "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ"},
		{svc("ns2", "svc2", "172.30.0.42", ep("10.180.0.2", 80)), "KUBE-SVC-GNZBNJ2PO5MGZ6GT", "KUBE-SEP-RS4RBKLTHTF2IUXJ"},
		{svc("ns3", "svc3", "172.30.0.43", ep("10.180.0.3", 80)), "KUBE-SVC-X27LE4BHSL4DOUIK", "KUBE-SEP-OYPFS5VJICHGATKP"},
		{svc("ns4", "svc4", "172.30.0.44", ep("10.180.0.4", 80)), "KUBE-SVC-4SW47YFZTEDKD3PK", "KUBE-SEP-UKSFD7AGPMPPLUHC"},
		{svc("ns4", "svc4", "172.30.0.44", ep("10.180.0.5", 80)), "KUBE-SVC-4SW47YFZTEDKD3PK", "KUBE-SEP-C6EBXVWJJZMIWKLZ"},
		{svc("ns5", "svc5", "172.30.0.45", ep("10.180.0.3", 80)), "KUBE-SVC-NUKIZ6OKUXPJNT4C", "KUBE-SEP-I77PXRDZVX7PMWMN"},
		{svc("ns1", "svc1", "172.30.0.41", ep("10.0.1.1", 80)), "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SNQ3ZNILQDEJNDQO"},
	} {
		assert.Equal(t, tc.svc, ServiceChain(tc.sp), tc.sp.String())
		assert.Equal(t, tc.sep, EndpointChain(tc.sp, tc.sp.Endpoints[0]), tc.sp.String())
		assert.Equal(t, "KUBE-EXT-"+strings.TrimPrefix(tc.svc, "KUBE-SVC-"), ExternalChain(tc.sp))
	}
	p := svc("ns2", "svc2", "172.30.0.42")
	p.PortName, p.Port = "p8080", 8080
	assert.Equal(t, "KUBE-SVC-2VJB64SDSIJUP5T6", ServiceChain(p))
	assert.Equal(t, "KUBE-SEP-UHEGFW77JX3KXTOV", EndpointChain(p, ep("10.0.2.1", 8080)))
}

func TestProbability(t *testing.T) {
	assert.Equal(t, "0.5000000000", Probability(2, 0))
	assert.Equal(t, "0.3333333333", Probability(3, 0))
	assert.Equal(t, "0.5000000000", Probability(3, 1))
	assert.Equal(t, "0.2500000000", Probability(4, 0))
}

// TestOneService: one ClusterIP service with one endpoint, the whole nat
// table as kube-proxy writes it.
func TestOneService(t *testing.T) {
	got := Generate([]ServicePort{svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80))}, "10.0.0.0/8", false)
	assert.Equal(t, strings.Split(strings.TrimSpace(`
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ`), "\n"), got.NAT.Save())
	assert.Equal(t, strings.Split(strings.TrimSpace(`
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`), "\n"), got.Filter.Save())
}

// TestServicesAsKubeProxy: several services at once, each rule as in the
// golden output: a NodePort (svc3), two endpoints balanced (svc4), no
// endpoints (svc6).
func TestServicesAsKubeProxy(t *testing.T) {
	s3 := svc("ns3", "svc3", "172.30.0.43", ep("10.180.0.3", 80))
	s3.NodePort = 3003
	s4 := svc("ns4", "svc4", "172.30.0.44", ep("10.180.0.4", 80), ep("10.180.0.5", 80))
	s6 := svc("ns6", "svc6", "172.30.0.46")
	got := Generate([]ServicePort{s6, s4, s3, svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80))}, "10.0.0.0/8", false)
	for _, want := range []string{
		// kube-proxy's localhost NodePort (its golden adds an nfacct
		// counter match where the kernel has one), then the NodePort.
		`-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK`,
		`-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK`,
		`-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ`,
		`-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK`,
		`-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP`,
		`-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
		`-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC`,
		`-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ`,
		`-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80`,
	} {
		assert.Contains(t, got.NAT.Save(), want)
	}
	assert.Contains(t, got.Filter.Save(), `-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT`)
	for _, l := range got.NAT.Save() {
		assert.NotContains(t, l, "svc6", "a service without endpoints has no nat rules")
	}
	// Chains are declared first, sorted by kind and name, as kube-proxy does.
	var decl []string
	for _, l := range got.NAT.Save() {
		if strings.HasPrefix(l, ":") {
			decl = append(decl, strings.Fields(l)[0])
		}
	}
	assert.Equal(t, []string{":KUBE-NODEPORTS", ":KUBE-SERVICES", ":KUBE-EXT-X27LE4BHSL4DOUIK", ":KUBE-MARK-MASQ", ":KUBE-POSTROUTING",
		":KUBE-SEP-C6EBXVWJJZMIWKLZ", ":KUBE-SEP-OYPFS5VJICHGATKP", ":KUBE-SEP-SXIVWICOYRO3J4NJ", ":KUBE-SEP-UKSFD7AGPMPPLUHC",
		":KUBE-SVC-4SW47YFZTEDKD3PK", ":KUBE-SVC-X27LE4BHSL4DOUIK", ":KUBE-SVC-XPGD46QRK7WJZT7O"}, decl)
	// The nodeports jump stays the last rule of KUBE-SERVICES.
	var services []string
	for _, l := range got.NAT.Save() {
		if strings.HasPrefix(l, "-A KUBE-SERVICES ") {
			services = append(services, l)
		}
	}
	assert.Contains(t, services[len(services)-1], "-j KUBE-NODEPORTS")
}

// TestSessionAffinity: ClientIP affinity as kube-proxy writes it: a
// recent-match check per endpoint before the balancing, and the endpoint
// remembering its clients as it DNATs.
func TestSessionAffinity(t *testing.T) {
	sp := svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80), ep("10.180.0.2", 80))
	sp.AffinitySeconds = 10800
	got := Generate([]ServicePort{sp}, "10.0.0.0/8", false)
	sep1 := EndpointChain(sp, sp.Endpoints[0])
	var svcRules []string
	for _, l := range got.NAT.Save() {
		if strings.HasPrefix(l, "-A "+ServiceChain(sp)+" ") {
			svcRules = append(svcRules, l)
		}
	}
	assert.Len(t, svcRules, 5, "masquerade mark, two affinity checks, two balancing rules")
	assert.Equal(t, "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -m recent --name "+sep1+" --rcheck --seconds 10800 --reap -j "+sep1, svcRules[1])
	assert.Contains(t, got.NAT.Save(), "-A "+sep1+" -m comment --comment ns1/svc1:p80 -m recent --name "+sep1+" --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80")
}

// TestEndpointOrder: endpoints are balanced in kube-proxy's order, as the
// strings "ip:port" sort (its endpoint cache's byEndpoint), whatever order
// they come in: 10.180.0.10 before 10.180.0.9, so that each rule's
// probability is a real node's.
func TestEndpointOrder(t *testing.T) {
	for _, eps := range [][]Endpoint{
		{ep("10.180.0.9", 80), ep("10.180.0.10", 80), ep("10.180.0.100", 80)},
		{ep("10.180.0.100", 80), ep("10.180.0.9", 80), ep("10.180.0.10", 80)},
	} {
		first := eps[0]
		in := svc("ns1", "svc1", "172.30.0.41", eps...)
		got := Generate([]ServicePort{in}, "10.0.0.0/8", false)
		var order []string
		for _, l := range got.NAT.Save() {
			if strings.HasPrefix(l, "-A KUBE-SVC-") && strings.Contains(l, " -> ") {
				order = append(order, strings.Fields(l[strings.Index(l, " -> ")+4:])[0])
			}
		}
		assert.Equal(t, []string{`10.180.0.100:80"`, `10.180.0.10:80"`, `10.180.0.9:80"`}, order)
		assert.Equal(t, first, in.Endpoints[0], "the caller's slice is left as it was")
	}
}

// TestKubeProxyGolden: the lines of kube-proxy v1.34's own golden test
// (pkg/proxy/iptables/proxier_test.go, TestOverallIPTablesRules, with its
// fake proxier's nfacct counters) for the Service shapes netlab has
// (ClusterIP svc1, NodePort svc3, two endpoints svc4, no endpoints svc6),
// kept in testdata, are each in netlab's rules for the same input, word
// for word. The one difference is said in the file: kube-proxy's fake
// iptables has no --random-fully, which a real node's has.
func TestKubeProxyGolden(t *testing.T) {
	s3 := svc("ns3", "svc3", "172.30.0.43", ep("10.180.0.3", 80))
	s3.NodePort = 3003
	s4 := svc("ns4", "svc4", "172.30.0.44", ep("10.180.0.5", 80), ep("10.180.0.4", 80))
	got := Generate([]ServicePort{svc("ns6", "svc6", "172.30.0.46"), s4, s3, svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80))}, "10.0.0.0/8", true)
	assertGolden(t, "kube-proxy-v1.34-overall.rules", got, 30)
}

// TestKubeProxyGoldenIPv6: the lines of kube-proxy's own IPv6 golden test
// (TestEnableLocalhostNodePortsIPv6) are in netlab's IPv6 rules for the
// same input, word for word; and what IPv4 alone has (localhost
// NodePorts, the localnet DROP in KUBE-FIREWALL) is not.
func TestKubeProxyGoldenIPv6(t *testing.T) {
	s := svc("ns1", "svc1", "fd00:ab34::20", ep("ff06::c2", 80), ep("ff06::c1", 80))
	s.NodePort = 30001
	got := Generate([]ServicePort{s}, "fd00:10:244::/56", false)
	assertGolden(t, "kube-proxy-ipv6-nodeport.rules", got, 25)
	for _, l := range append(got.Filter.Save(), got.NAT.Save()...) {
		assert.NotContains(t, l, "127.0.0.0/8", "IPv4's alone")
		assert.False(t, strings.HasPrefix(l, "-A KUBE-FIREWALL"), "KUBE-FIREWALL stays empty in IPv6: %s", l)
	}
	// The chain IPv6's jumps lead to is there, empty, as kube-proxy's
	// EnsureChain leaves it.
	assert.Contains(t, got.Filter.Chains, "KUBE-FIREWALL")
}

// TestChainsAcrossFamilies: a dual-stack Service's port has one KUBE-SVC
// name in both families (its name and protocol are hashed, not its
// address), and its endpoints' KUBE-SEP chains differ, as their
// addresses do.
func TestChainsAcrossFamilies(t *testing.T) {
	v4 := svc("default", "my-service", "10.96.0.11", ep("10.244.1.2", 9376))
	v6 := svc("default", "my-service", "fd00:10:96::b", ep("fd00:10:244:1::2", 9376))
	assert.Equal(t, ServiceChain(v4), ServiceChain(v6))
	assert.Equal(t, ExternalChain(v4), ExternalChain(v6))
	assert.NotEqual(t, EndpointChain(v4, v4.Endpoints[0]), EndpointChain(v6, v6.Endpoints[0]))
	g := Generate([]ServicePort{v6}, "fd00:10:244::/56", false)
	assert.Contains(t, strings.Join(g.NAT.Save(), "\n"), "-j DNAT --to-destination [fd00:10:244:1::2]:9376")
	assert.Contains(t, strings.Join(g.NAT.Save(), "\n"), "! -s fd00:10:244::/56 -j KUBE-MARK-MASQ")
}

// assertGolden checks that every line of a golden file of kube-proxy's is
// in got, and that the file held at least least lines.
func assertGolden(t *testing.T, file string, got Tables, least int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	have := map[string]bool{}
	for _, l := range append(got.Filter.Save(), got.NAT.Save()...) {
		have[l] = true
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		n++
		if strings.HasSuffix(l, "-j MASQUERADE") {
			l += " --random-fully"
		}
		assert.True(t, have[l], "kube-proxy writes, netlab does not:\n%s", l)
	}
	assert.Greater(t, n, least, "the golden lines were read")
}
