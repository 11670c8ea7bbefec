package kube

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDNSOnTheWire: what the cluster DNS sends back, as CoreDNS would:
// an answer too large for a UDP client is truncated with TC set (512
// bytes without EDNS, the client's buffer with it; whole over TCP), and an
// EDNS version above 0 gets BADVERS.
func TestDNSOnTheWire(t *testing.T) {
	var eps []Endpoint
	for i := range 60 {
		eps = append(eps, Endpoint{IP: netip.AddrFrom4([4]byte{10, 244, 1, byte(10 + i)}), Port: 80})
	}
	z := &zone{
		services:   []Service{{Namespace: "default", Name: "wide", Ports: []Port{{Name: "http", Protocol: "TCP", Port: 80}}}},
		eps:        map[string]map[string][]Endpoint{"default/wide": {"http": eps}},
		namespaces: map[string]bool{"default": true},
	}
	q := func(edns int, size uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("wide.default.svc.cluster.local.", dns.TypeA)
		if edns >= 0 {
			m.SetEdns0(size, false)
			m.IsEdns0().SetVersion(uint8(edns))
		}
		return m
	}
	packed := func(m *dns.Msg) int {
		b, err := m.Pack()
		require.NoError(t, err)
		return len(b)
	}
	// No EDNS over UDP: within 512 bytes, TC set, what fits kept.
	r := respond(z, q(-1, 0), true, nil)
	assert.True(t, r.Truncated, "TC set")
	assert.LessOrEqual(t, packed(r), 512)
	assert.Less(t, len(r.Answer), 60)
	assert.Equal(t, dns.RcodeSuccess, r.Rcode)
	// Over TCP: every address, no TC.
	r = respond(z, q(-1, 0), false, nil)
	assert.False(t, r.Truncated)
	assert.Len(t, r.Answer, 60)
	// EDNS with 4096 bytes: everything fits over UDP.
	r = respond(z, q(0, 4096), true, nil)
	assert.False(t, r.Truncated)
	assert.Len(t, r.Answer, 60)
	require.NotNil(t, r.IsEdns0(), "an OPT answers an OPT")
	// EDNS with less than 512: 512 still.
	r = respond(z, q(0, 100), true, nil)
	assert.True(t, r.Truncated)
	assert.LessOrEqual(t, packed(r), 512)
	// EDNS version 1: BADVERS, an OPT of version 0, nothing else.
	r = respond(z, q(1, 1232), true, nil)
	assert.Equal(t, dns.RcodeBadVers, r.Rcode)
	require.NotNil(t, r.IsEdns0())
	assert.EqualValues(t, 0, r.IsEdns0().Version())
	assert.Empty(t, r.Answer)
	assert.Empty(t, r.Ns)
	wire, err := r.Pack()
	require.NoError(t, err)
	back := new(dns.Msg)
	require.NoError(t, back.Unpack(wire))
	assert.Equal(t, dns.RcodeBadVers, back.Rcode, "the extended rcode survives the wire")
	// A zone not loaded yet: SERVFAIL; two questions: FORMERR.
	assert.Equal(t, dns.RcodeServerFailure, respond(nil, q(-1, 0), true, nil).Rcode)
	two := q(-1, 0)
	two.Question = append(two.Question, two.Question[0])
	assert.Equal(t, dns.RcodeFormatError, respond(z, two, true, nil).Rcode)
}

// specZone is a cluster as CoreDNS's kubernetes plugin tests have it
// (plugin/kubernetes/handler_test.go, v1.14.7): a ClusterIP Service svc1
// with one endpoint, a headless hdls1 with two of each family, a
// dual-stack svc-dual-stack and an IPv6 svc6, in namespace testns.
func specZone() *zone {
	a := netip.MustParseAddr
	http := []Port{{Name: "http", Protocol: "TCP", Port: 80}}
	return &zone{
		services: []Service{
			{Namespace: "testns", Name: "svc1", ClusterIP: a("10.0.0.1"), Ports: http},
			{Namespace: "testns", Name: "hdls1", Ports: http},
			{Namespace: "testns", Name: "svc-dual-stack", ClusterIP: a("10.0.0.3"), ClusterIP2: a("10::3"), Families: []string{IPv4, IPv6}, Policy: "PreferDualStack", Ports: http},
			{Namespace: "testns", Name: "svc6", ClusterIP: a("1234:abcd::1"), Families: []string{IPv6}, Ports: http},
		},
		eps: map[string]map[string][]Endpoint{
			"testns/svc1": {"http": {{IP: a("10.244.1.5"), Port: 8080}}},
			"testns/hdls1": {"http": {{IP: a("172.0.0.2"), Port: 80}, {IP: a("172.0.0.3"), Port: 80},
				{IP: a("5678:abcd::1"), Port: 80}, {IP: a("5678:abcd::2"), Port: 80}}},
		},
		namespaces: map[string]bool{"default": true, "kube-system": true, "testns": true},
		serial:     1499347823,
	}
}

// ask is one question to the cluster DNS of zone z, with upstream as its
// forward; it returns the reply's sections as text, one record a line
// (tabs as spaces), and the reply.
func ask(t *testing.T, z *zone, name string, qtype uint16, upstream func(*dns.Msg) (*dns.Msg, error)) (answer, ns, extra []string, r *dns.Msg) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	r = respond(z, q, true, upstream)
	text := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			out = append(out, strings.Join(strings.Fields(rr.String()), " "))
		}
		return out
	}
	return text(r.Answer), text(r.Ns), text(r.Extra), r
}

const soaLine = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1499347823 7200 1800 86400 30"

// TestDNSRecords: the cluster DNS's answers, record by record, as the
// Kubernetes DNS specification and CoreDNS's kubernetes plugin (v1.14.7,
// with kubeadm's Corefile: ttl 30, pods insecure) give them.
func TestDNSRecords(t *testing.T) {
	z := specZone()
	for _, tc := range []struct {
		name       string
		qtype      uint16
		rcode      int
		answer, ns []string
		extra      []string
		aa         bool
	}{
		{"svc1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1"}, nil, nil, true},
		{"SVC1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"SVC1.testns.svc.cluster.local. 30 IN A 10.0.0.1"}, nil, nil, true},
		{"svc1.testns.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"svc1.testns.svc.cluster.local. 30 IN SRV 0 100 80 svc1.testns.svc.cluster.local."}, nil,
			[]string{"svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1"}, true},
		{"_http._tcp.svc1.testns.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"_http._tcp.svc1.testns.svc.cluster.local. 30 IN SRV 0 100 80 svc1.testns.svc.cluster.local."}, nil,
			[]string{"svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1"}, true},
		{"_https._tcp.svc1.testns.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"svc1.testns.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"svc1.testns.svc.cluster.local.", dns.TypeTXT, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"10-244-1-5.svc1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10-244-1-5.svc1.testns.svc.cluster.local. 30 IN A 10.244.1.5"}, nil, nil, true},
		{"hdls1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess,
			[]string{"hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2", "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3"}, nil, nil, true},
		{"_http._tcp.hdls1.testns.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 25 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
				"_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 25 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
				"_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 25 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
				"_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 25 80 5678-abcd--2.hdls1.testns.svc.cluster.local."}, nil,
			[]string{"172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2", "172-0-0-3.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3",
				"5678-abcd--1.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1", "5678-abcd--2.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2"}, true},
		{"hdls1.testns.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess,
			[]string{"hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1", "hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2"}, nil, nil, true},
		{"5678-abcd--2.hdls1.testns.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"5678-abcd--2.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2"}, nil, nil, true},
		{"5678-abcd--2.hdls1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		// Dual-stack and IPv6 ClusterIP Services: A of the IPv4 address, AAAA
		// of the IPv6 one, one SRV of weight 50 (two targets: the two
		// addresses) with both in Additional; no A for IPv6 alone.
		{"svc-dual-stack.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"svc-dual-stack.testns.svc.cluster.local. 30 IN A 10.0.0.3"}, nil, nil, true},
		{"svc-dual-stack.testns.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"svc-dual-stack.testns.svc.cluster.local. 30 IN AAAA 10::3"}, nil, nil, true},
		{"svc-dual-stack.testns.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"svc-dual-stack.testns.svc.cluster.local. 30 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local."}, nil,
			[]string{"svc-dual-stack.testns.svc.cluster.local. 30 IN A 10.0.0.3", "svc-dual-stack.testns.svc.cluster.local. 30 IN AAAA 10::3"}, true},
		{"svc6.testns.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"svc6.testns.svc.cluster.local. 30 IN AAAA 1234:abcd::1"}, nil, nil, true},
		{"svc6.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"fd00-10-244-1--2.testns.pod.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00-10-244-1--2.testns.pod.cluster.local. 30 IN AAAA fd00:10:244:1::2"}, nil, nil, true},
		{"fd00-10-244-1--2.testns.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"10-244-1-2.testns.pod.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"1-2-3-4-5.testns.pod.cluster.local.", dns.TypeAAAA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa.", dns.TypePTR, dns.RcodeSuccess,
			[]string{"3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa. 30 IN PTR svc-dual-stack.testns.svc.cluster.local."}, nil, nil, true},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa.", dns.TypePTR, dns.RcodeSuccess,
			[]string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa. 30 IN PTR 5678-abcd--1.hdls1.testns.svc.cluster.local."}, nil, nil, true},
		{"3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa.", dns.TypeA, dns.RcodeServerFailure, nil, nil, nil, false},
		{"172-0-0-3.hdls1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"172-0-0-3.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3"}, nil, nil, true},
		{"bogusendpoint.hdls1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"svc0.testns.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"svc0.svc-nons.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"a.b.c.svc1.testns.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"testns.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"svc-nons.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"svc.cluster.local.", dns.TypeNS, dns.RcodeSuccess, nil, []string{soaLine}, nil, true},
		{"foo.cluster.local.", dns.TypeNS, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"cluster.local.", dns.TypeSOA, dns.RcodeSuccess, []string{soaLine}, nil, nil, true},
		{"cluster.local.", dns.TypeNS, dns.RcodeSuccess, []string{"cluster.local. 30 IN NS ns.dns.cluster.local."}, nil,
			[]string{"ns.dns.cluster.local. 30 IN A 10.96.0.10"}, true},
		{"ns.dns.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10"}, nil, nil, true},
		{"dns-version.cluster.local.", dns.TypeTXT, dns.RcodeSuccess, []string{`dns-version.cluster.local. 28800 IN TXT "1.1.0"`}, nil, nil, true},
		{"10-244-1-2.testns.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10-244-1-2.testns.pod.cluster.local. 30 IN A 10.244.1.2"}, nil, nil, true},
		{"10-244-1-2.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10-244-1-2.default.pod.cluster.local. 30 IN A 10.244.1.2"}, nil, nil, true},
		{"10-244-1-2.nons.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"10-244-1.testns.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, []string{soaLine}, nil, true},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"1.0.0.10.in-addr.arpa. 30 IN PTR svc1.testns.svc.cluster.local."}, nil, nil, true},
		{"2.0.0.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"2.0.0.172.in-addr.arpa. 30 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local."}, nil, nil, true},
		{"5.1.244.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"5.1.244.10.in-addr.arpa. 30 IN PTR 10-244-1-5.svc1.testns.svc.cluster.local."}, nil, nil, true},
	} {
		answer, ns, extra, r := ask(t, z, tc.name, tc.qtype, nil)
		what := tc.name + " " + dns.TypeToString[tc.qtype]
		assert.Equal(t, tc.rcode, r.Rcode, what)
		assert.Equal(t, tc.answer, answer, what)
		assert.Equal(t, tc.ns, ns, what)
		assert.Equal(t, tc.extra, extra, what)
		assert.Equal(t, tc.aa, r.Authoritative, what)
	}
}

// TestDNSForward: what is not the cluster's (another domain, a reverse
// name the cluster has no record of) goes upstream, as the Corefile's
// forward . /etc/resolv.conf; its answer is passed on as it is, and no
// answer is SERVFAIL, never REFUSED with aa.
func TestDNSForward(t *testing.T) {
	z := specZone()
	var asked []string
	outside := outsideZone{ip: netip.MustParseAddr("192.168.56.1")}
	up := func(q *dns.Msg) (*dns.Msg, error) {
		asked = append(asked, q.Question[0].Name)
		return outside.respond(q, true), nil
	}
	answer, _, _, r := ask(t, z, "www.example.test.", dns.TypeA, up)
	assert.Equal(t, []string{"www.example.test. 300 IN A 192.168.56.1"}, answer)
	assert.Equal(t, dns.RcodeSuccess, r.Rcode)
	assert.True(t, r.Authoritative, "passed on as the outside host's authoritative answer")
	_, ns, _, r := ask(t, z, "nosuch.example.test.", dns.TypeA, up)
	assert.Equal(t, dns.RcodeNameError, r.Rcode)
	assert.Len(t, ns, 1)
	_, _, _, r = ask(t, z, "kubernetes.io.", dns.TypeA, up)
	assert.Equal(t, dns.RcodeServerFailure, r.Rcode, "the lab's world has no internet")
	assert.False(t, r.Authoritative)
	answer, _, _, _ = ask(t, z, "1.56.168.192.in-addr.arpa.", dns.TypePTR, up)
	assert.Equal(t, []string{"1.56.168.192.in-addr.arpa. 300 IN PTR outside.example.test."}, answer, "fallthrough in-addr.arpa")
	assert.Equal(t, []string{"www.example.test.", "nosuch.example.test.", "kubernetes.io.", "1.56.168.192.in-addr.arpa."}, asked,
		"only names that are not the cluster's went upstream")

	// No upstream, or one that does not answer: SERVFAIL, not authoritative.
	for _, u := range []func(*dns.Msg) (*dns.Msg, error){nil, func(*dns.Msg) (*dns.Msg, error) { return nil, errors.New("i/o timeout") }} {
		_, _, _, r = ask(t, z, "www.example.test.", dns.TypeA, u)
		assert.Equal(t, dns.RcodeServerFailure, r.Rcode)
		assert.False(t, r.Authoritative)
		assert.Empty(t, r.Answer)
	}
	// Nothing under cluster.local is ever forwarded, nor REFUSED.
	asked = nil
	_, _, _, r = ask(t, z, "nothing.here.cluster.local.", dns.TypeA, up)
	assert.Equal(t, dns.RcodeNameError, r.Rcode)
	assert.Empty(t, asked)
}

// TestDNSZoneFromStore: the namespaces that exist are the system ones and
// those that hold objects; the SOA serial is the store's, the same from
// one answer to the next.
func TestDNSZoneFromStore(t *testing.T) {
	z := newZone(Store{Services: []Service{{Namespace: "team", Name: "web", ClusterIP: netip.MustParseAddr("10.96.0.20"), Ports: []Port{{Name: "http", Protocol: "TCP", Port: 80}}}}}, 42)
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "team"} {
		assert.True(t, z.namespaces[ns], ns)
	}
	assert.False(t, z.namespaces["other"])
	_, ns1, _, _ := ask(t, z, "nope.team.svc.cluster.local.", dns.TypeA, nil)
	time.Sleep(1100 * time.Millisecond)
	_, ns2, _, _ := ask(t, z, "nope.team.svc.cluster.local.", dns.TypeA, nil)
	assert.Equal(t, ns1, ns2, "a stable serial")
	assert.Contains(t, ns1[0], " 42 7200 1800 86400 30")
}

// TestOutsideDNS: the outside host's server answers its own zone with
// authority, and SERVFAIL for the rest of the world, which a lab has not.
func TestOutsideDNS(t *testing.T) {
	o := outsideZone{ip: netip.MustParseAddr("192.168.56.1")}
	q := func(name string, qt uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qt)
		return o.respond(m, true)
	}
	r := q("outside.example.test.", dns.TypeA)
	require.Len(t, r.Answer, 1)
	assert.True(t, r.Authoritative)
	assert.True(t, r.RecursionAvailable)
	assert.Equal(t, dns.RcodeNameError, q("nope.example.test.", dns.TypeA).Rcode)
	r = q("example.test.", dns.TypeSOA)
	require.Len(t, r.Answer, 1)
	r = q("www.example.test.", dns.TypeAAAA)
	assert.Equal(t, dns.RcodeSuccess, r.Rcode)
	assert.Empty(t, r.Answer)
	assert.Len(t, r.Ns, 1, "NODATA with the SOA")
	r = q("example.com.", dns.TypeA)
	assert.Equal(t, dns.RcodeServerFailure, r.Rcode)
	assert.False(t, r.Authoritative)
}

// TestEndpointHostname: an endpoint's label, as CoreDNS's
// endpointHostname writes it: dashes for dots or colons, and an IPv6
// address ending in "::" gets a 0, so that no label ends in a dash.
func TestEndpointHostname(t *testing.T) {
	for ip, want := range map[string]string{
		"10.244.1.5":       "10-244-1-5",
		"fd00:10:244:1::2": "fd00-10-244-1--2",
		"fd00:10:244:1::":  "fd00-10-244-1--0",
	} {
		assert.Equal(t, want, EndpointHostname(netip.MustParseAddr(ip)), ip)
	}
}
