// Package who speaks to the web servers that run in a lab's containers,
// pods and outside host (netlab-pod, internal/podruntime/netlabpod/netlab_pod.c). Each answers any
// request with one line that says who answered and whom it saw asking:
//
//	name=c2 ip=172.17.0.3 node=node1 client=172.17.0.2
//	name=pod3 ip=10.244.2.2 node=node2 container=app client=10.244.1.2
//
// which is how the lab shows NAT, or its absence, with real packets.
package who

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Answer is the body of a reply: who answered and the client it saw.
type Answer struct {
	Name, IP, Node, Container, Client string
}

// Format renders an answer as its one-line body, as netlab-pod does.
func (a Answer) Format() string {
	if a.Container != "" {
		return fmt.Sprintf("name=%s ip=%s node=%s container=%s client=%s\n", a.Name, a.IP, a.Node, a.Container, a.Client)
	}
	return fmt.Sprintf("name=%s ip=%s node=%s client=%s\n", a.Name, a.IP, a.Node, a.Client)
}

// ParseAnswer reads a body written by a lab's web server.
func ParseAnswer(body string) (Answer, error) {
	var a Answer
	fields := map[string]*string{"name": &a.Name, "ip": &a.IP, "node": &a.Node, "container": &a.Container, "client": &a.Client}
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

// AskConn sends one GET to addr over conn and parses the answer.
func AskConn(conn net.Conn, addr string) (Answer, error) {
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
