package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/who"
)

// realDockerDir holds what scripts/docker-reference.sh recorded of real
// dockerd, run in namespaces on a machine like this one: Debian 12's 20.10
// in docker-20.10, Debian unstable's 28.5.2 in docker-28.5, each in its
// layouts (userland-proxy on, Docker's default, and off; 28's
// allow-direct-routing): the answers of the probes below, and more.
const realDockerDir = "../../bridge/testdata"

// TestDockerMatchesRealDocker asks netlab's Docker model the questions the
// recordings asked real Docker, from the same places to the same addresses,
// for both versions in every layout recorded, and expects the same answers
// (client address for client address, and no answer where Docker gave
// none), the same connection tracking (a DNAT or a proxy's two
// connections), the same iptables and ip6tables in every table, the same
// sysctls, addresses and listeners, and MACs chosen by the same rule.
func TestDockerMatchesRealDocker(t *testing.T) {
	labtest.Root(t)
	for _, version := range []string{"20.10", "28.5"} {
		dirs, err := filepath.Glob(filepath.Join(realDockerDir, "docker-"+version, "*"))
		require.NoError(t, err)
		require.NotEmpty(t, dirs, "no recording of Docker %s", version)
		for _, dir := range dirs {
			t.Run(version+"/"+filepath.Base(dir), func(t *testing.T) {
				matchRealDocker(t, version, dir)
			})
		}
	}
}

// dockerProbe is one question of the recordings: from a namespace of the
// lab, to an address, and who should answer (when anyone does).
type dockerProbe struct {
	from, to, who string
	ping          bool
}

func matchRealDocker(t *testing.T, version, dir string) {
	layout := filepath.Base(dir)
	args := []string{"docker-mode", "--nodes", "1", "--containers", "2", "--docker-version", strings.TrimSuffix(version, ".5")}
	switch layout {
	case "userland-proxy-true":
		args = append(args, "--userland-proxy=true")
	case "userland-proxy-false":
		args = append(args, "--userland-proxy=false")
	case "allow-direct-routing":
		args = append(args, "--allow-direct-routing")
	case "ipv6":
		args = append(args, "--userland-proxy=true", "--ipv6")
	case "ipv6-userland-proxy-false":
		args = append(args, "--userland-proxy=false", "--ipv6")
	default:
		t.Fatalf("%s: a layout this test does not know", dir)
	}
	read := func(file string) string {
		data, err := os.ReadFile(filepath.Join(dir, file))
		require.NoError(t, err)
		return string(data)
	}
	name := labtest.NewLab(t, "r")
	labtest.MustRun(t, append(args, "--lab", name)...)
	st := readStatus(t, name)
	require.NotNil(t, st.Docker, "status --json says which Docker")
	assert.Equal(t, strings.TrimSuffix(version, ".5"), st.Docker.Version)
	dualStack := strings.HasPrefix(layout, "ipv6")
	assert.Equal(t, !strings.HasSuffix(layout, "userland-proxy-false"), st.Docker.UserlandProxy)
	assert.Equal(t, dualStack, st.IPv6, "status --json says the lab is dual-stack")
	assert.Equal(t, layout == "allow-direct-routing", st.Docker.AllowDirectRouting)
	ns := func(obj string) netops.NS { return names.NetnsName(name, obj) }
	node, c1 := ns("node1"), ns("c1")
	// The recording's outside host has a route to the containers via the
	// node, as a learner adds one.
	out, err := exec.Command("ip", "-n", string(ns("outside")), "route", "add", "172.17.0.0/16", "via", "192.168.56.11").CombinedOutput()
	require.NoError(t, err, string(out))
	if dualStack {
		out, err := exec.Command("ip", "-n", string(ns("outside")), "-6", "route", "add", "fd00:172:17::/64", "via", "fd00:56::11").CombinedOutput()
		require.NoError(t, err, string(out))
	}

	probes := map[string]dockerProbe{
		"node -> 127.0.0.1:8080":               {"node1", "127.0.0.1:8080", "c1", false},
		"node -> [::1]:8080":                   {"node1", "[::1]:8080", "c1", false},
		"node -> NODE:8080":                    {"node1", "192.168.56.11:8080", "c1", false},
		"outside -> NODE:8080":                 {"outside", "192.168.56.11:8080", "c1", false},
		"c2 -> NODE:8080":                      {"c2", "192.168.56.11:8080", "c1", false},
		"c2 -> GATEWAY:8080":                   {"c2", "172.17.0.1:8080", "c1", false},
		"c1 -> NODE:8080 (hairpin)":            {"c1", "192.168.56.11:8080", "c1", false},
		"c2 -> c1:80":                          {"c2", "172.17.0.2:80", "c1", false},
		"node -> c1:80":                        {"node1", "172.17.0.2:80", "c1", false},
		"outside -> c1:80 (routed via NODE)":   {"outside", "172.17.0.2:80", "c1", false},
		"outside -> c2:80 (routed via NODE)":   {"outside", "172.17.0.3:80", "c2", false},
		"outside -> ping c1 (routed via NODE)": {"outside", "172.17.0.2", "", true},
		// Dual-stack: the same questions over IPv6 (NODE6 fd00:56::11,
		// GATEWAY6 fd00:172:17::1, OUTSIDE6 fd00:56::1), and NAT66 out.
		"node -> [NODE6]:8080":                    {"node1", "[fd00:56::11]:8080", "c1", false},
		"outside -> [NODE6]:8080":                 {"outside", "[fd00:56::11]:8080", "c1", false},
		"c2 -> [NODE6]:8080":                      {"c2", "[fd00:56::11]:8080", "c1", false},
		"c2 -> [GATEWAY6]:8080":                   {"c2", "[fd00:172:17::1]:8080", "c1", false},
		"c1 -> [NODE6]:8080 (hairpin)":            {"c1", "[fd00:56::11]:8080", "c1", false},
		"c2 -> [c1]:80":                           {"c2", "[fd00:172:17::2]:80", "c1", false},
		"node -> [c1]:80":                         {"node1", "[fd00:172:17::2]:80", "c1", false},
		"c1 -> [OUTSIDE6]:80":                     {"c1", "[fd00:56::1]:80", "outside", false},
		"outside -> [c1]:80 (routed via NODE6)":   {"outside", "[fd00:172:17::2]:80", "c1", false},
		"outside -> ping [c1] (routed via NODE6)": {"outside", "fd00:172:17::2", "", true},
		"c1 -> ping [OUTSIDE6]":                   {"c1", "fd00:56::1", "", true},
	}
	var answers, tracked strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(read("answers.txt")), "\n") {
		what, _, _ := strings.Cut(line, ": ")
		p, ok := probes[what]
		require.True(t, ok, "%s: the recording asks %q, which this test does not", dir, what)
		conntrack(t, node, "-F")
		fmt.Fprintf(&answers, "%s: %s\n", what, askOrNot(t, ns(p.from), p))
		fmt.Fprintf(&tracked, "## %s\n%s", what, conntrackList(t, node))
	}
	// The recording names the containers' IPv6 addresses as C1-6 and C2-6.
	sixes := strings.NewReplacer()
	if dualStack {
		c16, c26 := st.ip6("c1"), st.ip6("c2")
		assert.Equal(t, read("ipv6.txt"), fmt.Sprintf("c1: %s c2: %s gateway: %s\n", c16, c26, st.Nodes[0].BridgeIP6),
			"status --json: the containers' and the bridge's IPv6 addresses are Docker's")
		sixes = strings.NewReplacer("client="+c16+"\n", "client=C1-6\n", "client="+c26+"\n", "client=C2-6\n")
	}
	assert.Equal(t, read("answers.txt"), sixes.Replace(answers.String()), "netlab answers as real Docker %s does (%s)", version, layout)
	assert.Equal(t, read("conntrack.txt"), tracked.String(), "the node tracks each probe's connections as Docker %s's does: DNAT or proxy", version)

	// The node's tables, every table, chain for chain and rule for rule,
	// less netlab's comments: what iptables-save shows a learner.
	for _, tool := range []string{"iptables", "ip6tables"} {
		save, err := exec.Command("ip", "netns", "exec", string(node), tool+"-save").Output()
		require.NoError(t, err)
		assert.Equal(t, iptablesByChain(read(tool+".txt")), iptablesByChain(string(save)), "node1's %s are dockerd %s's", tool, version)
	}

	// What Docker sets in a container and on its node.
	for _, line := range strings.Split(strings.TrimSpace(read("sysctls.txt")), "\n") {
		where, kv, _ := strings.Cut(line, " ")
		switch where {
		case "docker0": // "docker0 hairpin: hairpin on": its ports'
			out, err := exec.Command("ip", "-n", string(node), "-d", "link", "show", "master", "docker0").Output()
			require.NoError(t, err)
			mode := strings.TrimSpace(strings.TrimPrefix(kv, "hairpin:"))
			assert.Contains(t, string(out), " "+mode+" ", "docker0's ports: %s, as Docker sets them", mode)
			continue
		case "c1-veth":
			if rest, ok := strings.CutPrefix(kv, "addresses: "); ok {
				assert.Equal(t, rest, brief(t, node, "veth-c1"), "c1's veth's addresses, as Docker %s leaves them", version)
				continue
			}
			kv = strings.Replace(kv, "VETH", "veth-c1", 1)
		}
		key, value, ok := strings.Cut(kv, " = ")
		require.True(t, ok, line)
		if _, err := os.Stat("/proc/sys/net/bridge"); err != nil && strings.HasPrefix(key, "net.bridge.") {
			continue // no br_netfilter on this machine: Docker's host had it
		}
		target := c1
		if where != "container" {
			target = node
		}
		out, err := exec.Command("ip", "netns", "exec", string(target), "sysctl", "-n", key).Output()
		require.NoError(t, err, key)
		assert.Equal(t, value, strings.Join(strings.Fields(string(out)), " "), "%s %s, as Docker %s sets it", where, key, version)
	}

	// MACs, by how they were chosen, not by value.
	assert.Equal(t, read("macs.txt"), fmt.Sprintf("docker0: %s\nc1 eth0: %s\n",
		macKind(t, node, "docker0", "172.17.0.1"), macKind(t, c1, "eth0", "172.17.0.2")), "MACs as Docker %s chooses them", version)

	// Addresses (link-local ones by kind), and what listens on the node.
	var addrs strings.Builder
	for _, w := range []struct {
		who string
		ns  netops.NS
	}{{"node", node}, {"c1", c1}} {
		out, err := exec.Command("ip", "-n", string(w.ns), "-br", "addr", "show").Output()
		require.NoError(t, err)
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			dev, _, _ := strings.Cut(f[0], "@")
			if w.who == "node" && (dev == "eth1" || strings.HasPrefix(dev, "veth")) {
				continue
			}
			fmt.Fprintf(&addrs, "%s %s\n", w.who, strings.Join(append([]string{dev}, linkLocal(f[1:])...), " "))
		}
	}
	assert.Equal(t, read("addrs.txt"), addrs.String(), "addresses as Docker %s leaves them", version)
	ss, err := exec.Command("ip", "netns", "exec", string(node), "ss", "-ltnH").Output()
	require.NoError(t, err)
	var listen []string
	for _, l := range strings.Split(strings.TrimSpace(string(ss)), "\n") {
		if f := strings.Fields(l); len(f) >= 4 {
			listen = append(listen, "tcp listen "+f[3])
		}
	}
	sort.Strings(listen)
	assert.Equal(t, read("listeners.txt"), strings.Join(listen, "\n")+"\n", "the node listens where Docker %s's does (docker-proxy)", version)
	if dualStack {
		matchIPv6(t, read, node, c1, st.ip6("c1"), st.ip6("c2"))
	}
}

// matchIPv6 compares what a dual-stack recording holds beside the IPv4
// layout's: the node's and c1's IPv6 routes, the neighbours NDP found in
// the probes, and how the global addresses were added (nodad).
func matchIPv6(t *testing.T, read func(string) string, node, c1 netops.NS, c16, c26 string) {
	t.Helper()
	kernelRoute := regexp.MustCompile(`^(fe80::/64|multicast|ff00::/8)`)
	var routes, neigh, flags strings.Builder
	for _, w := range []struct {
		who string
		ns  netops.NS
	}{{"node", node}, {"c1", c1}} {
		out, err := exec.Command("ip", "-n", string(w.ns), "-6", "route").Output()
		require.NoError(t, err)
		fmt.Fprintf(&routes, "# %s\n", w.who)
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l = strings.TrimSpace(l); l != "" && !kernelRoute.MatchString(l) {
				fmt.Fprintln(&routes, l)
			}
		}
		out, err = exec.Command("ip", "-n", string(w.ns), "-6", "neigh").Output()
		require.NoError(t, err)
		var ns []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			if len(f) < 3 || strings.HasPrefix(f[0], "fe80") || f[len(f)-1] == "FAILED" {
				continue
			}
			if w.who == "node" {
				f[0] = strings.NewReplacer(c16, "C1-6", c26, "C2-6").Replace(f[0])
			}
			ns = append(ns, strings.Join(f[:3], " "))
		}
		sort.Strings(ns)
		fmt.Fprintf(&neigh, "# %s\n%s\n", w.who, strings.Join(slices.Compact(ns), "\n"))
		dev := map[string]string{"node": "docker0", "c1": "eth0"}[w.who]
		out, err = exec.Command("ip", "-n", string(w.ns), "-6", "-o", "addr", "show", "dev", dev, "scope", "global").Output()
		require.NoError(t, err)
		l := strings.Join(strings.Fields(string(out))[1:], " ")
		l, _, _ = strings.Cut(l, " valid_lft")
		fmt.Fprintln(&flags, strings.TrimSuffix(l, " \\"))
	}
	assert.Equal(t, read("routes.txt"), routes.String(), "IPv6 routes as Docker leaves them")
	assert.Equal(t, read("neigh.txt"), neigh.String(), "the neighbours NDP found, as with Docker")
	assert.Equal(t, read("addrflags.txt"), flags.String(), "IPv6 addresses added without DAD, as Docker adds them")
}

// askOrNot asks p and says what the recording says: "client=ADDRESS", or
// "no answer"; a ping probe says "reply".
func askOrNot(t *testing.T, from netops.NS, p dockerProbe) string {
	t.Helper()
	if p.ping {
		r, _ := probe.Ping(from, p.to, 1, 2*time.Second)
		if r.OK() {
			return "reply"
		}
		return "no answer"
	}
	ap := netip.MustParseAddrPort(p.to)
	conn, err := who.Dial(from, ap, 3*time.Second)
	if err != nil {
		return "no answer"
	}
	defer conn.Close()
	a, err := who.AskConn(conn, ap.String())
	if err != nil {
		return "no answer"
	}
	require.Equal(t, p.who, a.Name, "%s answered %s", a.Name, p.to)
	return "client=" + a.Client
}

func conntrack(t *testing.T, ns netops.NS, args ...string) string {
	t.Helper()
	var all strings.Builder
	for _, family := range []string{"ipv4", "ipv6"} {
		out, _ := exec.Command("ip", append([]string{"netns", "exec", string(ns), "conntrack"}, append(args, "-f", family)...)...).Output()
		all.Write(out)
	}
	return all.String()
}

// conntrackList is the node's connection tracking as the recorder writes
// it: "tcp SRC -> DST:PORT | reply RSRC:RPORT", ephemeral ports and timers
// out, sorted.
func conntrackList(t *testing.T, ns netops.NS) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(conntrack(t, ns, "-L"), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		var kv []string
		for _, w := range f[1:] {
			if k, v, ok := strings.Cut(w, "="); ok && k != "mark" && k != "use" && k != "zone" {
				kv = append(kv, v)
			}
		}
		switch {
		case (f[0] == "icmp" || f[0] == "icmpv6") && len(kv) >= 7:
			lines = append(lines, fmt.Sprintf("%s %s -> %s | reply %s", f[0], kv[0], kv[1], kv[6]))
		case len(kv) >= 7:
			lines = append(lines, fmt.Sprintf("%s %s -> %s:%s | reply %s:%s", f[0], kv[0], kv[1], kv[3], kv[4], kv[6]))
		}
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// macKind says how a MAC was chosen, as the recorder does: "02:42 + the
// address", "02:42 + random" or "random".
func macKind(t *testing.T, ns netops.NS, dev, ip string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", string(ns), "-o", "link", "show", dev).Output()
	require.NoError(t, err)
	m := regexp.MustCompile(`link/ether ([0-9a-f:]+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, string(out))
	b := netip.MustParseAddr(ip).As4()
	switch {
	case m[1] == net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}.String():
		return "02:42 + the address"
	case strings.HasPrefix(m[1], "02:42:"):
		return "02:42 + random"
	}
	return "random"
}

var linkLocalAddr = regexp.MustCompile(`^fe80::[0-9a-f:]+/64$`)

func linkLocal(addrs []string) []string {
	out := append([]string(nil), addrs...)
	for i, a := range out {
		if linkLocalAddr.MatchString(a) {
			out[i] = "fe80::(link-local)/64"
		}
	}
	return out
}

// brief is one interface's addresses as `ip -br addr` prints them, link-
// local ones by kind.
func brief(t *testing.T, ns netops.NS, dev string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", string(ns), "-br", "addr", "show", "dev", dev).Output()
	require.NoError(t, err)
	f := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(f), 2, string(out))
	return strings.Join(linkLocal(f[2:]), " ")
}

var (
	ruleComment = regexp.MustCompile(` -m comment --comment ("[^"]*"|\S+)`)
	counters    = regexp.MustCompile(` ?\[\d+:\d+\]`)
)

// iptablesByChain reads iptables-save output as table -> chain -> its
// policy and rules in order, without comments and counters: two rule sets
// that read the same to a learner compare equal, whatever order the chains
// were made in. A table with nothing in it (built-in chains only, all
// ACCEPT, no rules), which iptables-save prints once anything has looked
// at it, counts as absent.
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
	for t, chains := range out {
		empty := true
		for _, c := range chains {
			if len(c) != 1 || c[0] != "policy ACCEPT" {
				empty = false
			}
		}
		if empty {
			delete(out, t)
		}
	}
	return out
}
