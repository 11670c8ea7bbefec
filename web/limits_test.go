package web

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostAllowed(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8088": true, "localhost:8088": true, "LOCALHOST": true, "[::1]:8088": true, "192.168.56.11:8088": true,
		"10.0.2.15": true, "lab.example:8088": true, "evil.example:8088": false, "rebind.attacker.test": false, "": false,
		"127.0.0.1.evil.example:8088": false,
	} {
		assert.Equal(t, want, HostAllowed(host, []string{"lab.example"}), host)
	}
}

// TestForeignPages: a page of another site (its name pointed at this
// address by DNS rebinding, or a page that posts here) reads nothing and
// sends no packet, token or not; the server's own page does both.
func TestForeignPages(t *testing.T) {
	f := &fake{}
	ts := httptest.NewServer((&Server{B: f, Token: "s3cret"}).Handler())
	defer ts.Close()
	do := func(method, path, host, origin string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(`{"src":"pod1","dst":"pod3"}`))
		req.Header.Set("X-Netlab-Token", "s3cret")
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	self := strings.TrimPrefix(ts.URL, "http://")
	assert.Equal(t, 421, do("GET", "/api/labs", "rebind.attacker.test:8088", ""))
	assert.Equal(t, 421, do("GET", "/", "rebind.attacker.test", ""))
	assert.Equal(t, 421, do("POST", "/api/trace", "rebind.attacker.test", ""))
	assert.Equal(t, 403, do("POST", "/api/trace", "", "http://attacker.test"))
	assert.Equal(t, 403, do("GET", "/api/compare", "", "http://attacker.test"))
	assert.Equal(t, 403, do("POST", "/api/trace", "", "null"))
	assert.Equal(t, 0, f.traced, "no foreign request reached the backend")
	assert.Equal(t, 200, do("POST", "/api/trace", "", "http://"+self), "the page's own origin")
	assert.Equal(t, 200, do("POST", "/api/trace", "", ""), "a program (no Origin) with the token")
	assert.Equal(t, 200, do("GET", "/api/labs", "localhost:8088", ""))
	// A body past MaxBody is refused, whatever its content.
	req, _ := http.NewRequest("POST", ts.URL+"/api/trace", strings.NewReader(`{"src":"`+strings.Repeat("a", MaxBody)+`","dst":"x"}`))
	req.Header.Set("X-Netlab-Token", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
}

// TestIdleConnectionsStarveNobody: clients that hold many more
// connections than the server keeps, idle after a request or silent from
// the start, cost a normal client nothing: it is answered, and the server
// has closed the ones waiting longest to stay within MaxConns.
func TestIdleConnectionsStarveNobody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := ln.Addr().String()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Half keep-alive connections left idle after one request, half
	// connections that never say a word: three times the cap in all.
	for i := range 3 * MaxConns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		if i%2 == 0 {
			_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
			require.NoError(t, err)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
		}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	require.NoError(t, err, "a normal client is answered while %d connections are held", len(conns))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok", string(body))
	// Count how many of the held connections the server closed.
	var closed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF || (err != nil && !isTimeout(err)) {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	assert.GreaterOrEqual(t, closed, len(conns)-MaxConns, "the server keeps at most %d connections open", MaxConns)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// slow holds the probe lock until released, counting calls.
type slow struct {
	fake
	calls   chan string
	release chan struct{}
}

func (s *slow) Trace(ctx context.Context, r TraceRequest) (any, error) {
	s.calls <- r.Src
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return r, nil
}

// TestGoneClientGivesUpItsTurn: a trace waiting for the probe lock whose
// client goes away never runs, and holds nothing: the next one runs.
func TestGoneClientGivesUpItsTurn(t *testing.T) {
	b := &slow{calls: make(chan string, 10), release: make(chan struct{})}
	s := &Server{B: b, Token: "s"}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	post := func(ctx context.Context, src string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/trace", strings.NewReader(`{"src":"`+src+`","dst":"x"}`))
		req.Header.Set("X-Netlab-Token", "s")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	first := make(chan int)
	go func() { c, _ := post(context.Background(), "first"); first <- c }()
	assert.Equal(t, "first", <-b.calls)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error)
	go func() { _, err := post(ctx, "gone"); gone <- err }()
	for deadline := time.Now().Add(5 * time.Second); s.waiting.Load() != 1; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the second request never came to wait")
	}
	cancel()
	assert.Error(t, <-gone)
	// The server notices the client went: it waits no more.
	for deadline := time.Now().Add(5 * time.Second); s.waiting.Load() != 0; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the server still waits for a client that went away")
	}
	close(b.release)
	assert.Equal(t, 200, <-first)
	code, err := post(context.Background(), "next")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, "next", <-b.calls, "the client that went away never ran")
}
