package bridge

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/miekg/dns"

	"netlab/internal/netops"
	"netlab/internal/state"
)

// ServeEmbeddedDNS is Docker's embedded DNS for the containers of lab's
// node host: one process in the node's namespace (its name, as ss shows
// it, dockerd's), holding a UDP and a TCP socket on 127.0.0.11 in each
// container's namespace, on the port its DOCKER_OUTPUT rules send port 53
// to. What it forwards leaves from the node's namespace, as dockerd's
// does. It serves until ctx ends; ready is told once every socket listens.
func ServeEmbeddedDNS(ctx context.Context, lab, host string, ready func(error)) error {
	s, err := state.Load(lab)
	if err != nil {
		ready(err)
		return err
	}
	t := s.Topology
	_ = os.WriteFile("/proc/self/comm", []byte("dockerd"), 0)
	book := NewBook(t, host, s.Workloads)
	var forward func(*dns.Msg) (*dns.Msg, error)
	if host := HostNameserver(t); host != "" {
		up := net.JoinHostPort(host, "53")
		forward = func(q *dns.Msg) (*dns.Msg, error) {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			r, _, err := c.Exchange(q, up)
			if err == nil && r.Truncated {
				c.Net = "tcp"
				r, _, err = c.Exchange(q, up)
			}
			return r, err
		}
	}
	var servers []*dns.Server
	stop := func() {
		for _, srv := range servers {
			_ = srv.Shutdown()
		}
	}
	errs := make(chan error, 2*len(s.Workloads)+1)
	for _, w := range s.Workloads {
		if w.Node != host || w.DNSPort == 0 {
			continue
		}
		asker := w
		h := dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
			_ = rw.WriteMsg(book.Answer(asker, q, forward))
		})
		addr := net.JoinHostPort(EmbeddedDNS, strconv.Itoa(w.DNSPort))
		var pc net.PacketConn
		var l net.Listener
		err := netops.Do(w.NS, func() error {
			var err error
			if pc, err = net.ListenPacket("udp4", addr); err != nil {
				return err
			}
			if l, err = net.Listen("tcp4", addr); err != nil {
				pc.Close()
			}
			return err
		})
		if err != nil {
			stop()
			err = fmt.Errorf("%s's embedded DNS on %s: %w", w.Name, addr, err)
			ready(err)
			return err
		}
		for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
			servers = append(servers, srv)
			go func() { errs <- srv.ActivateAndServe() }()
		}
	}
	ready(nil)
	select {
	case <-ctx.Done():
		stop()
		return nil
	case err := <-errs:
		stop()
		return fmt.Errorf("embedded DNS: %w", err)
	}
}
