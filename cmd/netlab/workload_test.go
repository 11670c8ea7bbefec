package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/who"
)

// procStatus returns the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	m := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// nsPIDs returns the processes in a named namespace.
func nsPIDs(t *testing.T, ns netops.NS) []int {
	t.Helper()
	var want syscall.Stat_t
	require.NoError(t, syscall.Stat(netops.Path(ns), &want))
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns/net"), &st) == nil && st.Ino == want.Ino {
			if s, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(s), ") Z ") {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// TestWorkloadsAreRobust: a workload's server survives clients that reset,
// serves others while a client dawdles, runs as nobody without
// capabilities, and its processes go when their runtime is killed.
func TestWorkloadsAreRobust(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "w")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "2")
	c1, c2 := names.NetnsName(name, "c1"), names.NetnsName(name, "c2")
	server := netip.MustParseAddrPort("172.17.0.2:80")

	pids := nsPIDs(t, c1)
	require.Len(t, pids, 1, "one process in c1")
	st := procStatus(t, pids[0])
	uid := fmt.Sprint(names.WorkloadUID(name))
	assert.Equal(t, uid+"\t"+uid+"\t"+uid+"\t"+uid, st["Uid"], "the server runs as the lab's own uid")
	assert.Equal(t, uid+"\t"+uid+"\t"+uid+"\t"+uid, st["Gid"])
	// Not nobody's: a process running as nobody may not signal it (one
	// stopped every pod of a Service once, which black-holed it).
	out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "kill", "-STOP", strconv.Itoa(pids[0])).CombinedOutput()
	require.Error(t, err, "nobody stopped a workload: %s", out)
	assert.Contains(t, string(out), "Operation not permitted")
	assert.Equal(t, "S", procStatus(t, pids[0])["State"][:1], "it serves on")
	assert.Equal(t, "0000000000000000", st["CapEff"], "with no capabilities")
	assert.Equal(t, "1", st["NoNewPrivs"])

	// Clients that reset: before asking, after asking, twenty times.
	for i := 0; i < 20; i++ {
		conn, err := who.Dial(c2, server, 2*time.Second)
		require.NoError(t, err)
		if i%2 == 1 {
			_, err = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			require.NoError(t, err)
		}
		require.NoError(t, conn.(*net.TCPConn).SetLinger(0))
		require.NoError(t, conn.Close()) // RST
	}
	a := ask(t, c2, server.String())
	assert.Equal(t, "c1", a.Name, "resets did not kill the server")
	assert.Equal(t, pids, nsPIDs(t, c1), "the same process serves on")

	// Clients that say nothing do not hold up the others.
	var slow []net.Conn
	for i := 0; i < 5; i++ {
		conn, err := who.Dial(c2, server, 2*time.Second)
		require.NoError(t, err)
		slow = append(slow, conn)
	}
	start := time.Now()
	a = ask(t, c2, server.String())
	assert.Equal(t, "c1", a.Name)
	assert.Less(t, time.Since(start), time.Second, "answered while five clients dawdle")
	for _, c := range slow {
		// The dawdlers are answered too, once their deadline passes.
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		assert.Contains(t, string(buf[:n]), "name=c1")
		c.Close()
	}

	// Kill the runtime: its workload processes go with it.
	runtime, err := strconv.Atoi(procStatus(t, nsPIDs(t, c1)[0])["PPid"])
	require.NoError(t, err)
	cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(runtime) + "/cmdline")
	require.Contains(t, string(cmd), names.RuntimeName, "c1's parent is node1's runtime")
	require.NoError(t, syscall.Kill(runtime, syscall.SIGKILL))
	deadline := time.Now().Add(3 * time.Second)
	node1 := names.NetnsName(name, "node1")
	for len(nsPIDs(t, c1))+len(nsPIDs(t, c2))+len(nsPIDs(t, node1)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Empty(t, nsPIDs(t, c1), "no orphan serves in c1")
	assert.Empty(t, nsPIDs(t, c2), "no orphan serves in c2")
	assert.Empty(t, nsPIDs(t, node1), "docker-proxy went with its runtime")
	labtest.MustRun(t, "down", "--lab", name)
}
