package bridge

import (
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/state"
	"netlab/internal/topo"
)

// TestEmbeddedDNSAnswers: what Docker 28.5.2's embedded DNS answered in the
// recording, answer by answer: names and aliases of the asker's networks
// only, at their address there; NOERROR without records for another type
// of a known name; the rest forwarded, an upstream's refusal or failure
// said as SERVFAIL, its NXDOMAIN passed on; nothing forwarded for a
// container on internal networks alone.
func TestEmbeddedDNSAnswers(t *testing.T) {
	top, err := topo.Resolve(topo.Options{Lab: "d", Mode: topo.DockerMode, Nodes: 1, Workloads: 1, WorkloadsF: "--containers",
		File: "../examples/docker-networks.yaml"})
	require.NoError(t, err)
	ws := Plan(top).Workloads
	book := NewBook(top, "node1", ws)
	w := func(name string) state.Workload {
		for _, x := range ws {
			if x.Name == name {
				return x
			}
		}
		t.Fatalf("no %s", name)
		return state.Workload{}
	}
	forwarded := 0
	upstream := func(rcode int) func(*dns.Msg) (*dns.Msg, error) {
		return func(q *dns.Msg) (*dns.Msg, error) {
			forwarded++
			r := new(dns.Msg)
			r.SetRcode(q, rcode)
			return r, nil
		}
	}
	ask := func(from, name string, qtype uint16, up func(*dns.Msg) (*dns.Msg, error)) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		a := book.Answer(w(from), q, up)
		assert.Equal(t, q.Id, a.Id)
		return a
	}
	addr := func(m *dns.Msg) string {
		if len(m.Answer) != 1 {
			return dns.RcodeToString[m.Rcode]
		}
		a := m.Answer[0].(*dns.A)
		assert.Equal(t, uint32(600), a.Hdr.Ttl, "libnetwork's TTL")
		return a.A.String()
	}
	nx := upstream(dns.RcodeNameError)
	assert.Equal(t, w("c2").IP.String(), addr(ask("c1", "c2", dns.TypeA, nx)))
	assert.Equal(t, w("c2").IP.String(), addr(ask("c1", "WEB", dns.TypeA, nx)), "an alias, in any case")
	aaaa := ask("c1", "c2", dns.TypeAAAA, nx)
	assert.Equal(t, dns.RcodeSuccess, aaaa.Rcode)
	assert.Empty(t, aaaa.Answer, "a known name has no AAAA: NOERROR, no record")
	assert.Equal(t, "172.18.0.4", addr(ask("c1", "c5", dns.TypeA, nx)), "c5's address on app, c1's network")
	assert.Equal(t, "172.19.0.3", addr(ask("c3", "c5", dns.TypeA, nx)), "c5's address on other, c3's network")
	assert.Zero(t, forwarded)
	assert.Equal(t, "SERVFAIL", addr(ask("c1", "c3", dns.TypeA, upstream(dns.RcodeRefused))), "c3 is not on app: forwarded, refused there")
	assert.Equal(t, "NXDOMAIN", addr(ask("c1", "nope.example.test", dns.TypeA, nx)))
	assert.Equal(t, 2, forwarded)
	assert.Equal(t, "SERVFAIL", addr(ask("c4", "c1", dns.TypeA, nx)), "back is internal: nothing forwarded")
	assert.Equal(t, "SERVFAIL", addr(ask("c4", "www.example.test", dns.TypeA, nx)))
	assert.Equal(t, 2, forwarded, "c4's questions stayed in")
	assert.Equal(t, "SERVFAIL", addr(ask("c1", "www.example.test", dns.TypeA, nil)), "no nameserver to forward to")

	// An alias that c2 and c5 share answers both, on the asker's network.
	for i := range ws {
		if ws[i].Name == "c5" {
			ws[i].Aliases = []string{"web"}
		}
	}
	book = NewBook(top, "node1", ws)
	m := ask("c1", "web", dns.TypeA, nx)
	var got []string
	for _, rr := range m.Answer {
		got = append(got, rr.(*dns.A).A.String())
	}
	assert.Equal(t, []string{w("c2").IP.String(), "172.18.0.4"}, got)
	assert.Equal(t, "172.19.0.3", addr(ask("c3", "web", dns.TypeA, nx)), "from other, only c5 is web")
}
