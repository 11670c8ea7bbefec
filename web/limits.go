package web

import (
	"container/list"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// What one netlab web gives its clients. A page holds one event stream
// and a few short requests; a room of fifty is far below every limit.
const (
	// MaxConns is the most connections kept open at once. Past it, the
	// connection idle longest is closed to make room (a keep-alive
	// connection holds nothing a client cannot open again), so a client
	// that holds thousands of idle ones costs the others nothing.
	MaxConns = 512
	// MaxStreams is the most event streams served at once.
	MaxStreams = 128
	// ReadHeaderTimeout bounds the wait for a request's headers, so a
	// connection that says nothing is closed.
	ReadHeaderTimeout = 5 * time.Second
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout = 30 * time.Second
	// WriteTimeout bounds one write to a client (an event of the stream,
	// an answer), so a client that stops reading is let go.
	WriteTimeout = 10 * time.Second
	// MaxBody is the most a request's body may hold.
	MaxBody = 64 << 10
)

// HTTPServer is the server for h with the limits above: timeouts for
// headers and idle connections, and a cap on open connections that
// closes the one idle longest when a new one would pass it.
func HTTPServer(h http.Handler) *http.Server {
	t := &connTracker{max: MaxConns, conns: map[net.Conn]*list.Element{}}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnState:         t.track,
	}
}

// connTracker knows every open connection, and keeps those not serving a
// request (new or idle) in a list, longest waiting first.
type connTracker struct {
	mu    sync.Mutex
	max   int
	lru   list.List                  // of net.Conn, new or idle, longest waiting first
	conns map[net.Conn]*list.Element // every open connection; nil while serving
}

func (t *connTracker) track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.conns[c]; e != nil {
		t.lru.Remove(e)
	}
	switch st {
	case http.StateNew, http.StateIdle:
		t.conns[c] = t.lru.PushBack(c)
	case http.StateActive:
		t.conns[c] = nil
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c) // an evicted one is gone already
		return
	}
	// Over the cap: close the connections waiting longest, never one
	// serving a request, nor the newcomer itself.
	for len(t.conns) > t.max && t.lru.Len() > 1 {
		e := t.lru.Front()
		old := e.Value.(net.Conn)
		if old == c {
			break
		}
		t.lru.Remove(e)
		delete(t.conns, old)
		_ = old.Close()
	}
}

// HostAllowed reports whether a request's Host header names this server
// as its clients reach it: an IP address (any: the page may be reached
// through a port forward or another interface), localhost, or a name
// given with --allow-host. A name it was not given is how a DNS
// rebinding page reaches a server on loopback: refused.
func HostAllowed(host string, names []string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		return true
	}
	for _, n := range names {
		if strings.EqualFold(h, n) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether a request's Origin (if it has one) is the
// page this server served: the same host and port. Browsers send Origin
// with every POST and with cross-origin requests; a request without one
// comes from a program, which the token governs.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
