package netops_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// TestConntrackDel: the entries ConntrackDel deletes through netlink are
// those its printed command deletes, and only those; none to delete is no
// error either way.
func TestConntrackDel(t *testing.T) {
	labtest.Root(t)
	ns := fmt.Sprintf("ct%d", os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		return string(out)
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "set", "lo", "up")
	run("ip", "-n", ns, "addr", "add", "10.244.2.5/32", "dev", "lo")
	run("ip", "-n", ns, "addr", "add", "10.244.2.6/32", "dev", "lo")
	run("ip", "-n", ns, "route", "add", "10.96.0.0/12", "dev", "lo")
	// A Service of two endpoints, as DNAT rules: one client's flow each.
	run("ip", "netns", "exec", ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "udp", "--sport", "5001", "-d", "10.96.0.10", "-j", "DNAT", "--to-destination", "10.244.2.5")
	run("ip", "netns", "exec", ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "udp", "--sport", "5002", "-d", "10.96.0.10", "-j", "DNAT", "--to-destination", "10.244.2.6")
	send := func() {
		for _, port := range []int{5001, 5002} {
			require.NoError(t, netops.Do(netops.NS(ns), func() error {
				c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: port}, &net.UDPAddr{IP: net.ParseIP("10.96.0.10"), Port: 53})
				if err != nil {
					// From an address of lo, when 127.0.0.1 cannot reach it.
					c, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.244.2.5"), Port: port}, &net.UDPAddr{IP: net.ParseIP("10.96.0.10"), Port: 53})
					if err != nil {
						return err
					}
				}
				defer c.Close()
				_, err = c.Write([]byte("q"))
				return err
			}))
		}
	}
	entries := func() string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "conntrack", "-L", "-p", "udp").CombinedOutput()
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "udp") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	op := netops.ConntrackDel{NS: netops.NS(ns), Proto: "udp", OrigDst: "10.96.0.10", ReplySrc: "10.244.2.6"}
	r := netops.NewRunner(netops.Apply, io.Discard)
	defer r.Close()

	send()
	require.Equal(t, 2, strings.Count(entries(), "dst=10.96.0.10"), entries())
	require.NoError(t, r.Run(context.Background(), []netops.Op{op}))
	left := entries()
	require.Equal(t, 1, strings.Count(left, "dst=10.96.0.10"), left)
	require.Contains(t, left, "src=10.244.2.5 ", "only the entry of the endpoint that went is deleted")
	require.NoError(t, r.Run(context.Background(), []netops.Op{netops.ConntrackDel{NS: netops.NS(ns), Proto: "udp", OrigDst: "10.96.0.10"}}))
	require.Empty(t, entries())
	require.NoError(t, r.Run(context.Background(), []netops.Op{op}), "nothing to delete is no error")

	// The printed command does the same, and none to delete passes too.
	send()
	run("bash", "-ec", strings.Join(op.Commands(), "\n"))
	left = entries()
	require.Equal(t, 1, strings.Count(left, "dst=10.96.0.10"), left)
	require.Contains(t, left, "src=10.244.2.5 ")
	run("bash", "-ec", strings.Join(op.Commands(), "\n"))
}
