package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"netlab/internal/state"
)

func TestParseNetDev(t *testing.T) {
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0:    1296      16    0    0    0     0          0         0     1226      15    0    0    0     0       0          0
veth-pod1: 12345678901 99    0    0    0     0          0         0       10       1    0    0    0     0       0          0
`
	got := parseNetDev(target{lab: "l", ns: "l-node1"}, dev)
	assert.Equal(t, []Link{
		{Lab: "l", Netns: "l-node1", Iface: "eth0", RxBytes: 1296, RxPackets: 16, TxBytes: 1226, TxPackets: 15},
		{Lab: "l", Netns: "l-node1", Iface: "veth-pod1", RxBytes: 12345678901, RxPackets: 99, TxBytes: 10, TxPackets: 1},
	}, got, "lo is left out; big counters read whole")
	assert.Empty(t, parseNetDev(target{}, "garbage"))
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8088": true, "localhost:1": true, "[::1]:8088": true,
		"0.0.0.0:8088": false, ":8088": false, "192.168.56.11:8088": false} {
		assert.Equal(t, want, Loopback(addr), addr)
	}
}

// fake answers without labs: what the token and the methods guard.
type fake struct{ traced int }

func (f *fake) Labs() []Lab                          { return nil }
func (f *fake) States() []*state.State               { return nil }
func (f *fake) Compare(context.Context) (any, error) { return map[string]int{"version": 1}, nil }
func (f *fake) Exercises(context.Context) (any, error) {
	return []int{}, nil
}
func (f *fake) Trace(_ context.Context, r TraceRequest) (any, error) {
	f.traced++
	return r, nil
}

// TestToken: what sends packets needs the token; reading does not; a
// request without it never reaches the backend.
func TestToken(t *testing.T) {
	f := &fake{}
	ts := httptest.NewServer((&Server{B: f, Token: "s3cret"}).Handler())
	defer ts.Close()
	do := func(method, path, token string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(`{"src":"pod1","dst":"pod3"}`))
		if token != "" {
			req.Header.Set("X-Netlab-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, do("GET", "/", ""))
	// With no lab up, the lists are empty lists, not null.
	resp, err := http.Get(ts.URL + "/api/graph")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `{"elements": []}`, string(body))
	resp, err = http.Get(ts.URL + "/api/labs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `[]`, string(body))
	var c counters
	ev, _ := json.Marshal(Event{Links: c.read(nil, time.Now())})
	assert.Contains(t, string(ev), `"links":[]`)
	assert.Equal(t, 200, do("GET", "/api/labs", ""))
	assert.Equal(t, 200, do("GET", "/static/vendor/cytoscape.min.js", ""))
	for _, tok := range []string{"", "wrong", "s3cret2", "S3CRET"} {
		assert.Equal(t, 403, do("POST", "/api/trace", tok), "token %q", tok)
		assert.Equal(t, 403, do("GET", "/api/compare", tok))
		assert.Equal(t, 403, do("GET", "/api/exercises", tok))
	}
	assert.Equal(t, 0, f.traced, "refused requests never reach the backend")
	assert.Equal(t, 200, do("POST", "/api/trace", "s3cret"))
	assert.Equal(t, 200, do("POST", "/api/trace?token=s3cret", ""), "or in the query, as the printed address has it")
	assert.Equal(t, 2, f.traced)
	assert.Equal(t, 403, (func() int {
		ts2 := httptest.NewServer((&Server{B: f}).Handler())
		defer ts2.Close()
		resp, _ := http.Post(ts2.URL+"/api/trace", "application/json", strings.NewReader(`{}`))
		resp.Body.Close()
		return resp.StatusCode
	})(), "a server without a token refuses every probe")
}
