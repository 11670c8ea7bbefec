package bridge

import (
	"net"
	"strings"

	"github.com/miekg/dns"

	"netlab/internal/state"
	"netlab/internal/topo"
)

// Docker's embedded DNS, as dockerd 28 runs it for every container on a
// user-defined network: a resolver on 127.0.0.11 in the container's own
// namespace (on a random port, behind the DNAT of DOCKER_OUTPUT), which
// answers the names and aliases of the containers of the networks the
// asking container is on, with their addresses there, and forwards every
// other name, from the node's own namespace, to the node's nameserver; a
// container on internal networks alone gets no forwarding (SERVFAIL).
// bridge/testdata/docker-28.5-networks is what the real one answered.

// respTTL is the TTL of the embedded DNS's own answers (libnetwork's
// resolver.go).
const respTTL = 600

// Book is what the embedded DNS of one node knows: who is on which
// network.
type Book struct {
	// on: network -> name or alias -> the addresses there (an alias
	// several containers share names each of them).
	on map[string]map[string][]net.IP
	// internalOnly: containers on internal networks alone.
	internalOnly map[string]bool
}

// NewBook reads the containers of node from ws.
func NewBook(t *topo.Topology, node string, ws []state.Workload) *Book {
	b := &Book{on: map[string]map[string][]net.IP{}, internalOnly: map[string]bool{}}
	for _, w := range ws {
		if w.Node != node || w.Kind != "container" {
			continue
		}
		internal := true
		for _, a := range w.Networks {
			if a.Network == topo.DefaultNetwork {
				internal = false // Docker's default bridge has no names
				continue
			}
			n := t.Docker.Network(a.Network)
			internal = internal && n != nil && n.Internal
			if b.on[a.Network] == nil {
				b.on[a.Network] = map[string][]net.IP{}
			}
			for _, name := range append([]string{w.Name}, w.Aliases...) {
				b.on[a.Network][name] = append(b.on[a.Network][name], net.IP(a.IP.AsSlice()))
			}
		}
		b.internalOnly[w.Name] = internal && len(w.Networks) > 0
	}
	return b
}

// Lookup is the addresses of name (a container's, or an alias, which
// several containers may share) on the first network of asker's that
// knows it. Docker shuffles an alias's addresses; netlab gives them in
// the order the containers were made.
func (b *Book) Lookup(asker state.Workload, name string) ([]net.IP, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, a := range asker.Networks {
		if ips, ok := b.on[a.Network][name]; ok {
			return ips, true
		}
	}
	return nil, false
}

// Answer is the embedded DNS's answer to q from asker: its own for a name
// it knows, else forward's (which asks the node's nameserver) unless
// asker is on internal networks alone; SERVFAIL when forwarding fails or
// the nameserver fails or refuses, as dockerd says it.
func (b *Book) Answer(asker state.Workload, q *dns.Msg, forward func(*dns.Msg) (*dns.Msg, error)) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	qq := q.Question[0]
	if ips, ok := b.Lookup(asker, qq.Name); ok && qq.Qclass == dns.ClassINET {
		for _, ip := range ips {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: respTTL}, A: ip})
			}
		}
		return m // a name it knows: any other type has no record (NOERROR)
	}
	if b.internalOnly[asker.Name] || forward == nil {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	r, err := forward(q)
	if err != nil || r == nil || r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	r.Id = q.Id
	return r
}
