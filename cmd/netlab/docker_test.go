package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"netlab/internal/lab"
	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/who"
)

// status is the contract of 'netlab status --json', read as a script would.
type status struct {
	Lab   string `json:"lab"`
	Mode  string `json:"mode"`
	Nodes []struct {
		Name       string `json:"name"`
		Role       string `json:"role"`
		Netns      string `json:"netns"`
		UnderlayIP string `json:"underlay_ip"`
		// Dual-stack labs' IPv6 addresses.
		UnderlayIP6 string `json:"underlay_ip6"`
		BridgeIP6   string `json:"bridge_ip6"`
	} `json:"nodes"`
	Workloads []struct {
		Name  string `json:"name"`
		Kind  string `json:"kind"`
		Node  string `json:"node"`
		Netns string `json:"netns"`
		IP    string `json:"ip"`
		IP6   string `json:"ip6"`
		// Applied: a pod of 'netlab apply' or the cluster DNS.
		Applied bool `json:"applied"`
	} `json:"workloads"`
	IPv6   bool `json:"ipv6"`
	Docker *struct {
		Version            string `json:"version"`
		UserlandProxy      bool   `json:"userland_proxy"`
		AllowDirectRouting bool   `json:"allow_direct_routing"`
	} `json:"docker"`
}

func readStatus(t *testing.T, labName string) status {
	t.Helper()
	r := labtest.MustRun(t, "status", "--json", "--lab", labName)
	var s status
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &s), r.Stdout)
	return s
}

func (s status) node(name string) (netops.NS, string) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return netops.NS(n.Netns), n.UnderlayIP
		}
	}
	return "", ""
}

// node6 is node name's namespace and IPv6 underlay address.
func (s status) node6(name string) (netops.NS, string) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return netops.NS(n.Netns), n.UnderlayIP6
		}
	}
	return "", ""
}

// ip6 is workload name's IPv6 address, "" when it has none.
func (s status) ip6(name string) string {
	for _, w := range s.Workloads {
		if w.Name == name {
			return w.IP6
		}
	}
	return ""
}

func (s status) workload(name string) (netops.NS, string) {
	for _, w := range s.Workloads {
		if w.Name == name {
			return netops.NS(w.Netns), w.IP
		}
	}
	return "", ""
}

func ask(t *testing.T, from netops.NS, addr string) who.Answer {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	require.NoError(t, err)
	a, err := who.Ask(from, ap)
	require.NoError(t, err, "ask %s from %s", addr, from)
	return a
}

func writeTopology(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// TestDockerModeTruths builds the Docker model with node2 holding more
// containers than node1, and proves each truth of the model with packets.
func TestDockerModeTruths(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "d")
	topo := writeTopology(t, `
nodes:
  - {name: node1, ip: 192.168.56.11, containers: 2}
  - {name: node2, ip: 192.168.56.12, containers: 3}
`)
	up := labtest.MustRun(t, "docker-mode", "--lab", name, "--topology", topo)
	assert.Contains(t, up.Stdout, "Try next:")
	s := readStatus(t, name)
	require.Equal(t, name, s.Lab)
	require.Equal(t, "docker", s.Mode)
	require.Len(t, s.Workloads, 5)

	node1, node1IP := s.node("node1")
	_, node2IP := s.node("node2")
	outside, outsideIP := s.node("outside")
	c1, c1IP := s.workload("c1")
	_, c2IP := s.workload("c2")
	c3, c3IP := s.workload("c3")
	_, c4IP := s.workload("c4")
	_, c5IP := s.workload("c5")
	// Same subnet on every host: node2's containers reuse node1's addresses.
	require.Equal(t, []string{"172.17.0.2", "172.17.0.3", "172.17.0.2", "172.17.0.3", "172.17.0.4"},
		[]string{c1IP, c2IP, c3IP, c4IP, c5IP})

	t.Run("kernel state", func(t *testing.T) {
		nl, err := netops.Netlink(node1)
		require.NoError(t, err)
		defer nl.Close()
		br, err := nl.LinkByName("docker0")
		require.NoError(t, err)
		assert.Equal(t, "bridge", br.Type())
		addrs, err := nl.AddrList(br, netlink.FAMILY_V4)
		require.NoError(t, err)
		require.Len(t, addrs, 1)
		assert.Equal(t, "172.17.0.1/16", addrs[0].IPNet.String())
		mac := br.Attrs().HardwareAddr
		assert.Equal(t, byte(0x02), mac[0]&0x03, "docker0 has a random, locally administered MAC (Docker 28's): %s", mac)
		assert.NotEqual(t, "02:42:ac:11:00:01", mac.String(), "not 20.10's 02:42 one")
		sysctl := func(ns netops.NS, key string) string {
			out, err := exec.Command("ip", "netns", "exec", string(ns), "sysctl", "-n", key).Output()
			require.NoError(t, err, key)
			return strings.Join(strings.Fields(string(out)), " ")
		}
		for _, kv := range append(append([]netops.KV{}, lab.Pinned...), lab.ContainerSysctls...) {
			if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(kv.Key, ".", "/")); kv.Optional && err != nil {
				continue
			}
			assert.Equal(t, kv.Value, sysctl(c1, kv.Key), "c1 %s is pinned", kv.Key)
		}
		assert.Equal(t, "0", sysctl(node1, "net.ipv4.conf.all.rp_filter"), "node1 too")
		assert.Equal(t, "1024", sysctl(node1, "net.ipv4.ip_unprivileged_port_start"), "Docker's container sysctls are for containers")
		r := labtest.MustRun(t, "exec", "--lab", name, "c1", "--", "ip", "-o", "link", "show", "eth0")
		assert.NotContains(t, r.Stdout, "link/ether 02:42:", "c1's MAC is random, as Docker 28 makes it")
		assert.Regexp(t, `link/ether [0-9a-f]([26ae]):`, r.Stdout, "locally administered, unicast")
		for _, v := range []string{"veth-c1", "veth-c2"} {
			l, err := nl.LinkByName(v)
			require.NoError(t, err, v)
			assert.Equal(t, "veth", l.Type())
			assert.Equal(t, br.Attrs().Index, l.Attrs().MasterIndex, "%s is a port of docker0", v)
			assert.Equal(t, "netlab:"+name+":"+strings.TrimPrefix(v, "veth-"), l.Attrs().Alias)
		}
		inNode := ""
		require.NoError(t, netops.Do(node1, func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
			inNode = strings.TrimSpace(string(b))
			return err
		}))
		assert.Equal(t, "1", inNode, "ip_forward in node1")

		cl, err := netops.Netlink(c1)
		require.NoError(t, err)
		defer cl.Close()
		eth0, err := cl.LinkByName("eth0")
		require.NoError(t, err)
		addrs, err = cl.AddrList(eth0, netlink.FAMILY_V4)
		require.NoError(t, err)
		require.Len(t, addrs, 1)
		assert.Equal(t, c1IP+"/16", addrs[0].IPNet.String())
		routes, err := cl.RouteList(nil, netlink.FAMILY_V4)
		require.NoError(t, err)
		var gw string
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				gw = r.Gw.String()
			}
		}
		assert.Equal(t, "172.17.0.1", gw, "default route via docker0")

		save, err := exec.Command("ip", "netns", "exec", string(node1), "iptables-save").Output()
		require.NoError(t, err)
		rules := string(save)
		assert.Contains(t, rules, "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0", "MASQUERADE in POSTROUTING, as Docker writes it")
		assert.Contains(t, rules, ":FORWARD DROP", "the FORWARD policy Docker sets")
		assert.Contains(t, rules, "-j MASQUERADE")
		assert.Contains(t, rules, "--to-destination "+c1IP+":80")
		for _, l := range strings.Split(rules, "\n") {
			if strings.HasPrefix(l, "-A ") {
				assert.Contains(t, l, `--comment "netlab:`+name, "every rule carries the lab's marker: %s", l)
			}
		}
	})

	t.Run("1 same host: direct, no NAT", func(t *testing.T) {
		r, err := probe.Ping(c1, c2IP, 1, 2*time.Second)
		require.NoError(t, err)
		assert.True(t, r.OK(), r.Output)
		a := ask(t, c1, c2IP+":80")
		assert.Equal(t, "c2", a.Name)
		assert.Equal(t, c1IP, a.Client, "the receiver sees the sender's own address")
	})

	t.Run("2 to the outside: masqueraded", func(t *testing.T) {
		a := ask(t, c1, outsideIP+":80")
		assert.Equal(t, "outside", a.Name)
		assert.Equal(t, node1IP, a.Client, "outside sees node1's underlay address")
		assert.NotEqual(t, c1IP, a.Client)
	})

	t.Run("3 across hosts: the address means a local container or nobody", func(t *testing.T) {
		// c4 is node2's second container, 172.17.0.3: on node1 that is c2.
		a := ask(t, c1, c4IP+":80")
		assert.Equal(t, "c2", a.Name, "node1's own second container answers")
		assert.Equal(t, "node1", a.Node)
		// c5 (172.17.0.4) exists only on node2: from node1, nobody has it.
		start := time.Now()
		r, err := probe.Ping(c1, c5IP, 1, time.Second)
		require.NoError(t, err)
		assert.False(t, r.OK(), "ping to node2's c5 from node1 must fail:\n%s", r.Output)
		assert.Less(t, time.Since(start), 5*time.Second)
	})

	t.Run("4 from outside: only the published port", func(t *testing.T) {
		// Outside has no route to 172.17.0.0/16 at all; give it one via
		// node1, and node1 still drops the ping: container addresses are
		// private to their host (but for the published port's rule).
		require.NoError(t, exec.Command("ip", "-n", string(outside), "route", "add", "172.17.0.0/16", "via", node1IP).Run())
		r, err := probe.Ping(outside, c1IP, 1, time.Second)
		require.NoError(t, err)
		assert.Equal(t, 1, r.Sent, "the ping left outside:\n%s", r.Output)
		assert.False(t, r.OK(), "node1 must not forward a ping to c1 from outside:\n%s", r.Output)
		require.NoError(t, exec.Command("ip", "-n", string(outside), "route", "del", "172.17.0.0/16").Run())
		a := ask(t, outside, node1IP+":8080")
		assert.Equal(t, "c1", a.Name, "node1:8080 is c1:80")
		assert.Equal(t, outsideIP, a.Client, "DNAT without SNAT: c1 sees the outside host")
		a = ask(t, c3, node1IP+":8080")
		assert.Equal(t, "c1", a.Name)
		assert.Equal(t, node2IP, a.Client, "c3 leaves node2 masqueraded as node2")
	})

	// Docker's default layout: DNAT rules and docker-proxy, a process of
	// the node on the published port. Each probe answers as on a real
	// Docker host (docker.io 20.10, userland-proxy on), client address
	// for client address: what the DNAT rules do not catch, the proxy
	// relays from the bridge's address.
	t.Run("4b the published port, as on a Docker host", func(t *testing.T) {
		c2, _ := s.workload("c2")
		ss, err := exec.Command("ip", "netns", "exec", string(node1), "ss", "-ltnp", "sport", "= :8080").Output()
		require.NoError(t, err)
		assert.Contains(t, string(ss), `"docker-proxy"`, "docker-proxy listens on the node: %s", ss)
		for _, p := range []struct {
			from    netops.NS
			to, saw string
			why     string
		}{
			{node1, "127.0.0.1:8080", "172.17.0.1", "the node's own loopback: no DNAT (OUTPUT skips 127/8), docker-proxy relays"},
			{c2, node1IP + ":8080", "172.17.0.1", "a container of the same bridge: RETURN for docker0, docker-proxy relays"},
			{c2, "172.17.0.1:8080", "172.17.0.1", "a container to the bridge's address: docker-proxy"},
			{c1, node1IP + ":8080", "172.17.0.1", "hairpin: c1 to its own published port, through docker-proxy"},
			{node1, node1IP + ":8080", node1IP, "the node to its own address: DNAT in OUTPUT, the node's address"},
			{outside, node1IP + ":8080", outsideIP, "outside: DNAT in PREROUTING, no source NAT"},
		} {
			a := ask(t, p.from, p.to)
			assert.Equal(t, "c1", a.Name, p.why)
			assert.Equal(t, p.saw, a.Client, p.why)
		}
	})

	t.Run("5 traceroute: docker0 is the first hop", func(t *testing.T) {
		hops, out, err := probe.Traceroute(c1, outsideIP, 5)
		require.NoError(t, err, out)
		require.GreaterOrEqual(t, len(hops), 2, out)
		assert.Equal(t, "172.17.0.1", hops[0].Addr, out)
		assert.Equal(t, outsideIP, hops[len(hops)-1].Addr, out)
	})

	t.Run("exec passes the exit code through", func(t *testing.T) {
		r := labtest.Run(t, "exec", "--lab", name, "c1", "--", "sh", "-c", "exit 7")
		assert.Equal(t, 7, r.Code)
		r = labtest.Run(t, "exec", "--lab", name, "c1", "--", "ip", "-4", "-o", "addr", "show", "eth0")
		assert.Equal(t, 0, r.Code)
		assert.Contains(t, r.Stdout, c1IP+"/16")
		r = labtest.Run(t, "exec", "--lab", name, "nosuch", "--", "true")
		assert.Equal(t, 2, r.Code)
		assert.Contains(t, r.Stderr, `no container, pod or host called "nosuch"`)
	})

	t.Run("a container is a namespace with its own process", func(t *testing.T) {
		out, err := exec.Command("ip", "netns", "pids", string(c1)).Output()
		require.NoError(t, err)
		pids := strings.Fields(string(out))
		require.Len(t, pids, 1, "one process in c1: its web server")
		comm, err := os.ReadFile("/proc/" + pids[0] + "/comm")
		require.NoError(t, err)
		assert.Equal(t, "web:c1", strings.TrimSpace(string(comm)))
		out, err = exec.Command("ip", "netns", "pids", string(node1)).Output()
		require.NoError(t, err)
		var comms []string
		for _, pid := range strings.Fields(string(out)) {
			c, err := os.ReadFile("/proc/" + pid + "/comm")
			require.NoError(t, err)
			comms = append(comms, strings.TrimSpace(string(c)))
		}
		sort.Strings(comms)
		assert.Equal(t, []string{"docker-proxy", "docker-proxy", "netlab"}, comms,
			"node1 runs the runtime that forked its containers' processes, and docker-proxy, one per address family (0.0.0.0 and [::]) as Docker runs it")
	})
	fmt.Fprintln(os.Stderr, "docker-mode truths checked in lab", name)
}
