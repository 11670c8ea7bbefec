// Package agent is the server netlab runs for each host of a lab. It
// answers HTTP on every workload's address with who answered and who it saw
// asking, which is how the lab shows NAT (or its absence) with real packets:
//
//	name=c2 ip=172.17.0.3 node=node1 client=172.17.0.2
//
// One agent process per host holds a listening socket inside each of the
// host's workload namespaces. A socket belongs to the namespace it was
// created in, whatever process holds it (`ip netns exec docker-c2 ss -ltnp`
// shows it), so a thousand containers cost one process, not a thousand.
package agent

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Endpoint is one listening socket: the namespace it lives in, the address
// it listens on, and the identity it answers with.
type Endpoint struct {
	NS   string // "" for the agent's own namespace
	Addr netip.AddrPort
	Name string
	Node string
	IP   netip.Addr
}

// Answer is the body of a reply: who answered and the client it saw.
type Answer struct {
	Name, IP, Node, Client string
}

// Format renders an answer as its one-line body.
func (a Answer) Format() string {
	return fmt.Sprintf("name=%s ip=%s node=%s client=%s\n", a.Name, a.IP, a.Node, a.Client)
}

// ParseAnswer reads a body written by Format.
func ParseAnswer(body string) (Answer, error) {
	var a Answer
	fields := map[string]*string{"name": &a.Name, "ip": &a.IP, "node": &a.Node, "client": &a.Client}
	for _, f := range strings.Fields(body) {
		k, v, ok := strings.Cut(f, "=")
		if p, known := fields[k]; ok && known {
			*p = v
		}
	}
	if a.Name == "" || a.Client == "" {
		return a, fmt.Errorf("not a netlab answer: %q", strings.TrimSpace(body))
	}
	return a, nil
}

// handler answers every request with e's identity and the client address.
func handler(e Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, _, _ := net.SplitHostPort(r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, Answer{Name: e.Name, IP: e.IP.String(), Node: e.Node, Client: client}.Format())
	})
}

// Serve answers on every listener until one fails.
func Serve(eps []Endpoint, ls []net.Listener) error {
	errc := make(chan error, len(ls))
	for i, l := range ls {
		srv := &http.Server{Handler: handler(eps[i]), ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- srv.Serve(l) }()
	}
	return <-errc
}

// Ask sends one GET to addr over conn and parses the answer.
func Ask(conn net.Conn, addr string) (Answer, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return Answer{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return ParseAnswer(b.String())
}
