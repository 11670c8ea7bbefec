package kube

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/netops"
)

// serve answers every connection on loopback with answer(conn).
func serve(t *testing.T, answer func(net.Conn)) netip.AddrPort {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); answer(c) }()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestProbeIsBounded: a readiness probe reads a bounded answer within its
// timeout, whatever the pod sends: endless headers (which grew the
// controller from 20 MB to 535 MB once), or nothing at all.
func TestProbeIsBounded(t *testing.T) {
	endless := serve(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 4000) + "\r\n"
		for {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	assert.False(t, probeOnce(netops.Host, endless, &Probe{Path: "/", Port: int(endless.Port()), Timeout: 2}), "headers that never end fail the probe")
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "the probe allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	assert.Less(t, time.Since(start), 3*time.Second)

	silent := serve(t, func(c net.Conn) { time.Sleep(5 * time.Second) })
	start = time.Now()
	assert.False(t, probeOnce(netops.Host, silent, &Probe{Path: "/", Port: int(silent.Port()), Timeout: 1}))
	assert.Less(t, time.Since(start), 3*time.Second, "the timeout bounds the whole exchange")

	good := serve(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	assert.True(t, probeOnce(netops.Host, good, &Probe{Path: "/healthz", Port: int(good.Port())}))
}
