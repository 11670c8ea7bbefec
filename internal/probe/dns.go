package probe

import (
	"net"
	"time"

	"github.com/miekg/dns"

	"netlab/internal/netops"
)

// Lookup asks server (port 53) for name's records of qtype from inside
// namespace ns, over UDP or TCP, with a connected socket as a resolver
// has (an answer from another port than 53 is not one). It returns the
// addresses of the A records, the rcode, or why no answer came.
func Lookup(ns netops.NS, server, name string, qtype uint16, tcp bool, timeout time.Duration) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: "udp", Timeout: timeout}
	if tcp {
		c.Net = "tcp"
	}
	var r *dns.Msg
	err := netops.Do(ns, func() error {
		var err error
		r, _, err = c.Exchange(m, net.JoinHostPort(server, "53"))
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return ips, r.Rcode, nil
}
