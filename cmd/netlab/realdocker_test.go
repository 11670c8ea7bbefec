package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
)

// realDockerDir holds what scripts/docker-reference.sh recorded of Debian
// 12's dockerd 20.10, run in namespaces on a machine like this one, in
// each of its two layouts: the answers of the probes below, and more.
const realDockerDir = "../../bridge/testdata/docker-20.10"

// TestDockerMatchesRealDocker asks netlab's Docker model the questions the
// recording asked real Docker, from the same places to the same addresses,
// in both layouts (userland-proxy on, Docker's default, and off), and
// expects the same answers, client address for client address, the same
// tables and the same sysctls.
func TestDockerMatchesRealDocker(t *testing.T) {
	labtest.Root(t)
	for _, proxy := range []string{"true", "false"} {
		t.Run("userland-proxy="+proxy, func(t *testing.T) {
			matchRealDocker(t, proxy)
		})
	}
}

func matchRealDocker(t *testing.T, proxy string) {
	realDocker := filepath.Join(realDockerDir, "userland-proxy-"+proxy)
	want, err := os.ReadFile(filepath.Join(realDocker, "answers.txt"))
	require.NoError(t, err)
	name := labtest.NewLab(t, "r")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "2", "--userland-proxy="+proxy)
	ns := func(obj string) netops.NS { return names.NetnsName(name, obj) }
	probes := []struct {
		what string
		from netops.NS
		to   string
	}{
		{"node -> 127.0.0.1:8080", ns("node1"), "127.0.0.1:8080"},
		{"node -> NODE:8080", ns("node1"), "192.168.56.11:8080"},
		{"outside -> NODE:8080", ns("outside"), "192.168.56.11:8080"},
		{"c2 -> NODE:8080", ns("c2"), "192.168.56.11:8080"},
		{"c2 -> GATEWAY:8080", ns("c2"), "172.17.0.1:8080"},
		{"c1 -> NODE:8080 (hairpin)", ns("c1"), "192.168.56.11:8080"},
		{"c2 -> c1:80", ns("c2"), "172.17.0.2:80"},
		{"node -> c1:80", ns("node1"), "172.17.0.2:80"},
	}
	var got strings.Builder
	for _, p := range probes {
		a := ask(t, p.from, p.to)
		require.Equal(t, "c1", a.Name, p.what)
		fmt.Fprintf(&got, "%s: client=%s\n", p.what, a.Client)
	}
	assert.Equal(t, string(want), got.String(), "netlab answers as real Docker 20.10 does")

	// What Docker sets in a container and on its node, and its MACs.
	recorded, err := os.ReadFile(filepath.Join(realDocker, "sysctls.txt"))
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(recorded)), "\n") {
		where, kv, _ := strings.Cut(line, " ")
		if where == "docker0" { // "docker0 hairpin: hairpin on": its ports'
			out, err := exec.Command("ip", "-n", string(ns("node1")), "-d", "link", "show", "master", "docker0").Output()
			require.NoError(t, err)
			mode := strings.TrimSpace(strings.TrimPrefix(kv, "hairpin:"))
			assert.Contains(t, string(out), " "+mode+" ", "docker0's ports: %s, as Docker sets them", mode)
			continue
		}
		key, value, ok := strings.Cut(kv, " = ")
		require.True(t, ok, line)
		if _, err := os.Stat("/proc/sys/net/bridge"); err != nil && strings.HasPrefix(key, "net.bridge.") {
			continue // no br_netfilter on this machine: Docker's host had it
		}
		target := ns("c1")
		if where == "node" {
			target = ns("node1")
		}
		out, err := exec.Command("ip", "netns", "exec", string(target), "sysctl", "-n", key).Output()
		require.NoError(t, err, key)
		assert.Equal(t, value, strings.Join(strings.Fields(string(out)), " "), "%s %s, as Docker sets it", where, key)
	}
	// The node's tables, chain for chain and rule for rule, less netlab's
	// comments: what iptables-save shows a learner on a Docker host.
	recordedRules, err := os.ReadFile(filepath.Join(realDocker, "iptables.txt"))
	require.NoError(t, err)
	save, err := exec.Command("ip", "netns", "exec", string(ns("node1")), "iptables-save").Output()
	require.NoError(t, err)
	assert.Equal(t, iptablesByChain(string(recordedRules)), iptablesByChain(string(save)), "node1's iptables are dockerd's")

	links, err := os.ReadFile(filepath.Join(realDocker, "links.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(links), "link/ether 02:42:ac:11:00:02 ")
	out, err := exec.Command("ip", "-n", string(ns("c1")), "link", "show", "eth0").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "link/ether 02:42:ac:11:00:02 ", "c1's MAC is Docker's")
}

var (
	ruleComment = regexp.MustCompile(` -m comment --comment ("[^"]*"|\S+)`)
	counters    = regexp.MustCompile(` ?\[\d+:\d+\]`)
)

// iptablesByChain reads iptables-save output of the filter and nat tables
// as table -> chain -> its policy and rules in order, without comments and
// counters: two rule sets that read the same to a learner compare equal,
// whatever order the chains were made in.
func iptablesByChain(save string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	table := ""
	for _, l := range strings.Split(save, "\n") {
		l = strings.TrimSpace(counters.ReplaceAllString(ruleComment.ReplaceAllString(l, ""), ""))
		switch {
		case strings.HasPrefix(l, "*"):
			table = l[1:]
			out[table] = map[string][]string{}
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l[1:])
			out[table][f[0]] = append(out[table][f[0]], "policy "+f[1])
		case strings.HasPrefix(l, "-A "):
			chain := strings.Fields(l)[1]
			out[table][chain] = append(out[table][chain], l)
		}
	}
	for t := range out {
		if t != "filter" && t != "nat" {
			delete(out, t) // Docker writes only these two
		}
	}
	return out
}
