package kube

import (
	"net/netip"
	"testing"

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
		services: []Service{{Namespace: "default", Name: "wide", Ports: []Port{{Name: "http", Protocol: "TCP", Port: 80}}}},
		eps:      map[string]map[string][]Endpoint{"default/wide": {"http": eps}},
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
	r := respond(z, q(-1, 0), true)
	assert.True(t, r.Truncated, "TC set")
	assert.LessOrEqual(t, packed(r), 512)
	assert.Less(t, len(r.Answer), 60)
	assert.Equal(t, dns.RcodeSuccess, r.Rcode)
	// Over TCP: every address, no TC.
	r = respond(z, q(-1, 0), false)
	assert.False(t, r.Truncated)
	assert.Len(t, r.Answer, 60)
	// EDNS with 4096 bytes: everything fits over UDP.
	r = respond(z, q(0, 4096), true)
	assert.False(t, r.Truncated)
	assert.Len(t, r.Answer, 60)
	require.NotNil(t, r.IsEdns0(), "an OPT answers an OPT")
	// EDNS with less than 512: 512 still.
	r = respond(z, q(0, 100), true)
	assert.True(t, r.Truncated)
	assert.LessOrEqual(t, packed(r), 512)
	// EDNS version 1: BADVERS, an OPT of version 0, nothing else.
	r = respond(z, q(1, 1232), true)
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
	assert.Equal(t, dns.RcodeServerFailure, respond(nil, q(-1, 0), true).Rcode)
	two := q(-1, 0)
	two.Question = append(two.Question, two.Question[0])
	assert.Equal(t, dns.RcodeFormatError, respond(z, two, true).Rcode)
}
