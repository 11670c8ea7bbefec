package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
)

// networksRecording is what Docker 28.5.2 did with user-defined networks
// and the network modes (scripts/docker-reference.sh's record_networks),
// with the containers of examples/docker-networks.yaml: the recording's
// c0 (on the default bridge) is netlab's c9, the others have their names.
var networksRecording = filepath.Join(realDockerDir, "docker-28.5-networks", "user-defined-networks")

// TestDockerNetworksMatchRealDocker builds examples/docker-networks.yaml
// and asks it what the recording asked real Docker: the same probes by
// address and by name (each name asked of the container's own resolver,
// as its resolv.conf says), the same lookups, with the same answers and
// rcodes; the node's connection tracking per probe (a forwarded query
// leaves from the node's address); the node's iptables and ip6tables, and
// the embedded DNS's rules in the containers; each container's addresses,
// routes and resolv.conf; and c8 (network host) in the node's namespace.
func TestDockerNetworksMatchRealDocker(t *testing.T) {
	labtest.Root(t)
	read := func(file string) string {
		data, err := os.ReadFile(filepath.Join(networksRecording, file))
		require.NoError(t, err)
		return string(data)
	}
	name := labtest.NewLab(t, "n")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--topology", "../../examples/docker-networks.yaml")
	var st api.Status
	r := labtest.MustRun(t, "status", "--json", "--lab", name)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &st), r.Stdout)

	// The recording's names for what is random in Docker, and netlab's.
	ws := map[string]api.Workload{}
	for _, w := range st.Workloads {
		ws[w.Name] = w
	}
	recName := map[string]string{"c0": "c9"} // the recording's name -> netlab's
	ns := func(c string) netops.NS {
		if n, ok := recName[c]; ok {
			c = n
		}
		w, ok := ws[c]
		require.True(t, ok, "status lists %s", c)
		return netops.NS(w.Netns)
	}
	var pairs []string // for strings.NewReplacer: netlab's -> the recording's
	for rec, c := range map[string]string{"C0": "c9", "C1": "c1", "C2": "c2", "C3": "c3", "C4": "c4", "C5": "c5"} {
		pairs = append(pairs, ws[c].IP, rec)
	}
	require.Len(t, ws["c5"].Networks, 2, "c5 is on app and other")
	pairs = append(pairs, ws["c5"].Networks[1].IP, "C5-OTHER")
	require.NotNil(t, st.Docker)
	var nets, bridges []string
	for _, n := range st.Docker.Networks {
		nets = append(nets, n.Name+" "+n.Subnet+" internal "+fmt.Sprint(n.Internal))
		if n.Name != "bridge" {
			require.Equal(t, "br-"+n.ID, n.Bridge, "a user-defined network's bridge is br-<id>, as Docker names it")
			bridges = append(bridges, n.Bridge, "br-("+n.Name+"'s id)")
		}
	}
	var recNets []string
	for _, l := range strings.Split(strings.TrimSpace(read("networks.txt")), "\n") {
		f := strings.Fields(l)
		recNets = append(recNets, strings.TrimSuffix(f[0], ":")+" "+f[1]+" internal "+f[5])
	}
	assert.Equal(t, recNets, nets, "the networks, their subnets (Docker's pools, in order) and which is internal")
	rec := replacer(append(pairs, bridges...))
	node := ns("c8") // network host: the node's own namespace
	require.Equal(t, "host", ws["c8"].NetworkMode)

	// The probes, by address or by name: a name is looked up first, by the
	// asking container's nameserver (127.0.0.11, or the node's).
	type netProbe struct{ from, to, who string }
	c1, _ := netip.ParseAddr(ws["c1"].IP)
	probes := map[string]netProbe{
		"c2 -> c1:80 (same network, by address)":            {"c2", c1.String() + ":80", "c1"},
		"c2 -> c1:80 (same network, by name)":               {"c2", "c1:80", "c1"},
		"c1 -> web:80 (c2's alias)":                         {"c1", "web:80", "c2"},
		"c3 -> c1:80 (another network, by address)":         {"c3", c1.String() + ":80", "c1"},
		"c3 -> c1:80 (another network, by name)":            {"c3", "c1:80", "c1"},
		"c5 -> c1:80 (on app and other, by name)":           {"c5", "c1:80", "c1"},
		"c5 -> c3:80 (on app and other, by name)":           {"c5", "c3:80", "c3"},
		"c1 -> c5:80 (by name)":                             {"c1", "c5:80", "c5"},
		"c3 -> c5:80 (by name)":                             {"c3", "c5:80", "c5"},
		"c0 -> c1:80 (default bridge, by name)":             {"c0", "c1:80", "c1"},
		"c0 -> c1:80 (default bridge, by address)":          {"c0", c1.String() + ":80", "c1"},
		"c1 -> outside:80":                                  {"c1", "192.168.56.1:80", "outside"},
		"c4 -> outside:80 (internal network)":               {"c4", "192.168.56.1:80", "outside"},
		"c4 -> c1:80 (internal network, by address)":        {"c4", c1.String() + ":80", "c1"},
		"c2 -> C1:81 (c6, in c1's namespace)":               {"c2", c1.String() + ":81", "c6"},
		"c6 -> 127.0.0.1:80 (c1's server, same namespace)":  {"c6", "127.0.0.1:80", "c1"},
		"c7 -> c1:80 (network none)":                        {"c7", c1.String() + ":80", "c1"},
		"outside -> NODE:8081 (c8, network host)":           {"outside", "192.168.56.11:8081", "c8"},
		"outside -> NODE:8080":                              {"outside", "192.168.56.11:8080", "c1"},
		"node -> 127.0.0.1:8080":                            {"node", "127.0.0.1:8080", "c1"},
		"c3 -> NODE:8080 (published, from another network)": {"c3", "192.168.56.11:8080", "c1"},
	}
	from := func(c string) netops.NS {
		switch c {
		case "node":
			return node
		case "outside":
			return names.NetnsName(name, "outside")
		}
		return ns(c)
	}
	var answers, tracked strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(read("answers.txt")), "\n") {
		what, _, _ := strings.Cut(line, ": ")
		p, ok := probes[what]
		require.True(t, ok, "the recording asks %q, which this test does not", what)
		conntrack(t, node, "-F")
		got := "no answer"
		host, port, _ := net.SplitHostPort(p.to)
		if _, err := netip.ParseAddr(host); err != nil {
			if ips, _ := lookup(t, from(p.from), ns(p.from), host, dns.TypeA); len(ips) > 0 {
				host = ips[0]
			}
		}
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port)); err == nil {
			got = askOrNot(t, from(p.from), dockerProbe{to: ap.String(), who: p.who})
		}
		fmt.Fprintf(&answers, "%s: %s\n", what, rec.Replace(got))
		fmt.Fprintf(&tracked, "## %s\n%s", what, rec.Replace(uniqLines(conntrackList(t, node))))
	}

	// The lookups, written as busybox's nslookup writes them.
	var lookups strings.Builder
	for _, l := range strings.Split(read("dns.txt"), "\n") {
		q, ok := strings.CutPrefix(l, "## ")
		if !ok {
			continue
		}
		c, n, _ := strings.Cut(q, ": nslookup ")
		conntrack(t, node, "-F")
		server := nameserver(t, ns(c))
		fmt.Fprintf(&lookups, "## %s\nServer:\t\t%s\nAddress:\t%s:53\n", q, server, server)
		var fails []string
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			ips, rcode := lookup(t, ns(c), ns(c), n, qt)
			for _, ip := range ips {
				fmt.Fprintf(&lookups, "Name:\t%s\nAddress: %s\n", n, rec.Replace(ip))
			}
			if rcode != dns.RcodeSuccess {
				fails = append(fails, fmt.Sprintf("** server can't find %s: %s\n", n, dns.RcodeToString[rcode]))
			}
		}
		lookups.WriteString(strings.Join(fails, ""))
		fmt.Fprintf(&tracked, "## %s: nslookup %s\n%s", c, n, rec.Replace(uniqLines(conntrackList(t, node))))
	}
	assert.Equal(t, read("answers.txt"), answers.String(), "netlab answers as Docker 28.5.2 does, by address and by name")
	// The recorder's outside DNS (dnsmasq, with no upstream) refuses the
	// names it cannot forward; netlab's outside host says SERVFAIL.
	assert.Equal(t, strings.ReplaceAll(read("dns.txt"), ": REFUSED", ": SERVFAIL"), lookups.String(), "the embedded DNS answers as Docker's")
	assert.Equal(t, read("conntrack.txt"), tracked.String(), "the node tracks the same connections: forwarded queries leave from its address")

	// The node's tables, and the DNS rules in c1, c4 and c0.
	dnsPort := regexp.MustCompile(`127\.0\.0\.11:\d+|--sport \d+`)
	recTables := splitSections(read("iptables.txt"))
	for section, want := range recTables {
		where := node
		if section != "node" {
			where = ns(section)
		}
		save, err := exec.Command("ip", "netns", "exec", string(where), "iptables-save").Output()
		require.NoError(t, err)
		// The recording writes addresses as they are, and random names as
		// what they are.
		got := dnsPort.ReplaceAllStringFunc(replacer(bridges).Replace(string(save)), func(m string) string {
			if strings.HasPrefix(m, "--sport") {
				return "--sport (port)"
			}
			return "127.0.0.11:(port)"
		})
		assert.Equal(t, sortRaw(iptablesByChain(want)), sortRaw(iptablesByChain(got)), "%s's iptables are Docker 28.5.2's", section)
	}
	save6, err := exec.Command("ip", "netns", "exec", string(node), "ip6tables-save").Output()
	require.NoError(t, err)
	assert.Equal(t, iptablesByChain(read("ip6tables.txt")), iptablesByChain(string(save6)), "the node's ip6tables")

	// Links, addresses and routes: c5's interfaces named by network.
	byNetwork := func(c, text string) string {
		if c != "c5" {
			return text
		}
		lines := strings.Split(strings.TrimSpace(text), "\n")
		for i, l := range lines {
			lines[i] = strings.NewReplacer(ws["c5"].Networks[0].Iface+" ", "eth(app) ", ws["c5"].Networks[1].Iface+" ", "eth(other) ").Replace(l + " ")
			lines[i] = strings.TrimSuffix(lines[i], " ")
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n") + "\n"
	}
	var links, routes strings.Builder
	out, err := exec.Command("ip", "-n", string(node), "-br", "link").Output()
	require.NoError(t, err)
	links.WriteString("# node\n")
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		dev, _, _ := strings.Cut(f[0], "@")
		if strings.HasPrefix(dev, "veth") {
			dev = "veth(random)"
		}
		fmt.Fprintf(&links, "%s %s\n", rec.Replace(dev), f[1])
	}
	for _, c := range []string{"c0", "c1", "c3", "c4", "c5", "c6", "c7"} {
		out, err := exec.Command("ip", "-n", string(ns(c)), "-br", "addr").Output()
		require.NoError(t, err)
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			dev, _, _ := strings.Cut(f[0], "@")
			fmt.Fprintf(&b, "%s\n", strings.Join(append([]string{dev, f[1]}, f[2:]...), " ")+" ")
		}
		fmt.Fprintf(&links, "# %s\n%s", c, rec.Replace(byNetwork(c, b.String())))
	}
	for _, c := range []string{"c0", "c1", "c4", "c5", "c6", "c7"} {
		out, err := exec.Command("ip", "-n", string(ns(c)), "route").Output()
		require.NoError(t, err)
		fmt.Fprintf(&routes, "# %s\n%s", c, rec.Replace(byNetwork(c, string(out))))
	}
	routes.WriteString("# c8 (network host): the node's own namespace\n")
	assert.Equal(t, trimLines(read("links.txt")), trimLines(links.String()), "links and addresses as Docker 28.5.2 leaves them")
	assert.Equal(t, trimLines(read("routes.txt")), trimLines(routes.String()), "routes as Docker 28.5.2 gives them")

	// The diagram draws each network's bridge, each container where it
	// hangs, and the modes for what they are.
	dot := labtest.MustRun(t, "diagram", "--lab", name, "--format", "dot").Stdout
	for _, n := range st.Docker.Networks[1:] {
		assert.Contains(t, dot, n.Bridge+" ("+n.Name+")")
	}
	app := st.Docker.Networks[1].Bridge
	assert.Contains(t, dot, app+" (app)\\n172.18.0.1/16\\n:8080 → c1:80", "the published port, on app's bridge")
	assert.Contains(t, dot, `"node1/`+app+`" -> "c5"`)
	assert.Contains(t, dot, `"c1" -> "c6" [style=dashed`)
	assert.Contains(t, dot, "network none: lo alone")
	assert.Contains(t, dot, "network host: node1's own stack")
	assert.NotContains(t, dot, "invalid IP")

	// resolv.conf, as Docker writes it (netlab's marker line aside); c8's
	// is the node's nameserver.
	for c, want := range splitSections(read("resolv.txt")) {
		if c == "c8" {
			assert.Contains(t, want, "nameserver 192.168.56.1")
			continue
		}
		data, err := os.ReadFile(filepath.Join(netops.EtcNetns, string(ns(c)), "resolv.conf"))
		require.NoError(t, err)
		_, body, _ := strings.Cut(string(data), "\n")
		assert.Equal(t, strings.TrimSpace(want), strings.TrimSpace(body), "%s's resolv.conf", c)
	}
}

type replacer []string

func (r replacer) Replace(s string) string { return strings.NewReplacer(r...).Replace(s) }

// lookup asks ns's nameserver (its resolv.conf's) about name, from
// inside namespace from, and returns the addresses and the rcode
// (SERVFAIL when no answer came).
func lookup(t *testing.T, from, ns netops.NS, name string, qtype uint16) ([]string, int) {
	t.Helper()
	ips, rcode, err := probe.Lookup(from, nameserver(t, ns), name, qtype, false, 3*time.Second)
	if err != nil {
		return nil, dns.RcodeServerFailure
	}
	return ips, rcode
}

// nameserver is the first nameserver of ns's resolv.conf.
func nameserver(t *testing.T, ns netops.NS) string {
	t.Helper()
	s := netops.Nameserver(ns)
	require.NotEmpty(t, s, "%s's resolv.conf names a nameserver", ns)
	return s
}

// splitSections reads "# NAME" headed sections.
func splitSections(text string) map[string]string {
	out := map[string]string{}
	cur := ""
	for _, l := range strings.SplitAfter(text, "\n") {
		if h, ok := strings.CutPrefix(l, "# "); ok && !strings.Contains(h, " ") && len(strings.TrimSpace(h)) <= 8 {
			cur = strings.TrimSpace(h)
			out[cur] = ""
			continue
		}
		if cur != "" {
			out[cur] += l
		}
	}
	return out
}

// sortRaw sorts raw PREROUTING, whose order for a container on two
// networks Docker varies from one run to the next.
func sortRaw(tables map[string]map[string][]string) map[string]map[string][]string {
	if raw, ok := tables["raw"]; ok {
		sort.Strings(raw["PREROUTING"])
	}
	return tables
}

func uniqLines(s string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" && (len(out) == 0 || out[len(out)-1] != l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func trimLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
