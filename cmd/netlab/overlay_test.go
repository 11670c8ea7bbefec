package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
)

// addrsOf returns every IPv4 address in a namespace.
func addrsOf(t *testing.T, ns netops.NS) []string {
	t.Helper()
	nl, err := netops.Netlink(ns)
	require.NoError(t, err)
	defer nl.Close()
	addrs, err := nl.AddrList(nil, netlink.FAMILY_V4)
	require.NoError(t, err)
	var out []string
	for _, a := range addrs {
		out = append(out, a.IP.String())
	}
	return out
}

// capture runs tcpdump in ns while fn runs and returns what it printed.
func capture(t *testing.T, ns netops.NS, filter string, fn func()) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append([]string{"netns", "exec", string(ns), "tcpdump", "-l", "-n", "-i", "eth1", "-c", "2", "-T", "vxlan"}, strings.Fields(filter)...)
	out, _ := whileListening(t, exec.CommandContext(ctx, "ip", args...), fn)
	return out
}

// whileListening starts cmd, a tcpdump (or netlab capture), runs fn once
// it says "listening on" (its socket is open), waits for it to end (after
// its count of packets, or its timeout), and returns its stdout and
// stderr.
func whileListening(t *testing.T, cmd *exec.Cmd, fn func()) (string, string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	var errText strings.Builder
	for sc.Scan() {
		errText.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	fn()
	rest, _ := io.ReadAll(stderr)
	errText.Write(rest)
	err = cmd.Wait()
	return out.String(), errText.String() + errString(err)
}

// errString is err's text on a line of its own, or "" for none.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + "\n"
}

// TestOverlayModeTruths builds the Kubernetes model and proves each truth
// of it with packets.
func TestOverlayModeTruths(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "o")
	up := labtest.MustRun(t, "overlay-mode", "--lab", name)
	assert.Contains(t, up.Stdout, "pause container")
	s := readStatus(t, name)
	require.Equal(t, "overlay", s.Mode)
	require.Len(t, s.Workloads, 4)
	node1, node1IP := s.node("node1")
	_, node2IP := s.node("node2")
	_, outsideIP := s.node("outside")
	pod1, pod1IP := s.workload("pod1")
	_, pod2IP := s.workload("pod2")
	pod3, pod3IP := s.workload("pod3")
	_, pod4IP := s.workload("pod4")
	require.Equal(t, []string{"10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3"}, []string{pod1IP, pod2IP, pod3IP, pod4IP})

	t.Run("kernel state", func(t *testing.T) {
		nl, err := netops.Netlink(node1)
		require.NoError(t, err)
		defer nl.Close()
		l, err := nl.LinkByName("flannel.1")
		require.NoError(t, err)
		v, ok := l.(*netlink.Vxlan)
		require.True(t, ok, "flannel.1 is a VXLAN device, not %T", l)
		assert.Equal(t, 1, v.VxlanId)
		assert.Equal(t, 8472, v.Port)
		assert.False(t, v.Learning)
		assert.Equal(t, node1IP, v.SrcAddr.String())
		eth1, err := nl.LinkByName("eth1")
		require.NoError(t, err)
		assert.Equal(t, eth1.Attrs().Index, v.VtepDevIndex, "bound to the underlay interface")
		assert.Equal(t, eth1.Attrs().MTU-50, v.MTU, "MTU is the underlay's less 50")
		assert.Equal(t, "0e:6c:c0:a8:38:0b", v.HardwareAddr.String())

		fdb, err := nl.NeighList(v.Index, unix.AF_BRIDGE)
		require.NoError(t, err)
		var dsts []string
		for _, f := range fdb {
			if f.HardwareAddr.String() == "0e:6c:c0:a8:38:0c" {
				dsts = append(dsts, f.IP.String())
				assert.NotZero(t, f.State&netlink.NUD_PERMANENT, "permanent FDB entry")
			}
		}
		assert.Equal(t, []string{node2IP}, dsts, "FDB: node2's VTEP MAC is behind node2's underlay IP")
		arp, err := nl.NeighList(v.Index, netlink.FAMILY_V4)
		require.NoError(t, err)
		require.Len(t, arp, 1)
		assert.Equal(t, "10.244.2.0", arp[0].IP.String())
		assert.Equal(t, "0e:6c:c0:a8:38:0c", arp[0].HardwareAddr.String())
		assert.Equal(t, netlink.NUD_PERMANENT, arp[0].State)

		routes, err := nl.RouteList(v, netlink.FAMILY_V4)
		require.NoError(t, err)
		var found bool
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == "10.244.2.0/24" {
				found = true
				assert.Equal(t, "10.244.2.0", r.Gw.String())
				assert.NotZero(t, r.Flags&int(netlink.FLAG_ONLINK), "onlink")
			}
		}
		assert.True(t, found, "route to node2's pod CIDR via flannel.1")

		pl, err := netops.Netlink(pod1)
		require.NoError(t, err)
		defer pl.Close()
		eth0, err := pl.LinkByName("eth0")
		require.NoError(t, err)
		assert.Equal(t, 1450, eth0.Attrs().MTU, "pods get the overlay MTU")
	})

	t.Run("1 pod to pod across nodes, no NAT", func(t *testing.T) {
		a := ask(t, pod1, pod3IP+":9376")
		assert.Equal(t, "pod3", a.Name)
		assert.Equal(t, "node2", a.Node)
		assert.Equal(t, pod1IP, a.Client, "the receiver sees the sender's own pod IP")
	})

	t.Run("2 node to pod, untranslated", func(t *testing.T) {
		a := ask(t, node1, pod3IP+":9376")
		assert.Equal(t, "pod3", a.Name)
		assert.Contains(t, addrsOf(t, node1), a.Client, "the client is an address of node1 itself")
	})

	t.Run("3 a pod's own address is what every peer sees", func(t *testing.T) {
		for _, from := range []string{"pod1", "pod2", "pod3", "pod4"} {
			ns, _ := s.workload(from)
			own := addrsOf(t, ns)
			for _, to := range []string{pod1IP, pod2IP, pod3IP, pod4IP} {
				if contains(own, to) {
					continue
				}
				a := ask(t, ns, to+":9376")
				assert.Contains(t, own, a.Client, "%s as seen by %s", from, a.Name)
			}
		}
	})

	t.Run("4 traceroute: cni0, the peer's flannel.1, the pod", func(t *testing.T) {
		hops, out, err := probe.Traceroute(pod1, pod3IP, 5)
		require.NoError(t, err, out)
		var addrs []string
		for _, h := range hops {
			addrs = append(addrs, h.Addr)
		}
		assert.Equal(t, []string{"10.244.1.1", "10.244.2.0", pod3IP}, addrs, out)
	})

	t.Run("5 VXLAN on the wire, and the MTU", func(t *testing.T) {
		out := capture(t, node1, "udp port 8472", func() {
			r, err := probe.Ping(pod1, pod3IP, 1, 2*time.Second)
			require.NoError(t, err)
			assert.True(t, r.OK(), r.Output)
		})
		re := regexp.MustCompile(regexp.QuoteMeta(node1IP) + `\.\d+ > ` + regexp.QuoteMeta(node2IP) + `\.8472: VXLAN.*vni 1\s*\n?.*IP ` +
			regexp.QuoteMeta(pod1IP) + ` > ` + regexp.QuoteMeta(pod3IP) + `: ICMP echo request`)
		assert.Regexp(t, re, out, "UDP 8472 between the underlay addresses, carrying the pods' ICMP")

		r, err := probe.Ping(pod1, pod3IP, 1, 2*time.Second, "-M", "do", "-s", fmt.Sprint(1450-28))
		require.NoError(t, err)
		assert.True(t, r.OK(), "MTU-28 bytes of payload fit: %s", r.Output)
		r, err = probe.Ping(pod1, pod3IP, 1, 2*time.Second, "-M", "do", "-s", fmt.Sprint(1450-27))
		require.NoError(t, err)
		assert.False(t, r.OK())
		assert.Contains(t, r.Output, "message too long", "one byte more does not")
	})

	t.Run("6 leaving the cluster: masqueraded", func(t *testing.T) {
		a := ask(t, pod3, outsideIP+":80")
		assert.Equal(t, "outside", a.Name)
		assert.Equal(t, node2IP, a.Client, "outside sees node2's underlay address")
	})

	t.Run("6b outside into the cluster through node1: flannel's rules", func(t *testing.T) {
		// The outside host, given a route to the cluster via node1, reaches
		// node1's own pods unchanged (flannel's RETURN for this node's pod
		// CIDR) and node2's masqueraded to node1's flannel.1 address
		// (flannel's last MASQUERADE), so node2's answer comes back by
		// node1. The route goes again when the test ends.
		out, _ := s.node("outside")
		sh(t, "ip", "-n", string(out), "route", "add", "10.244.0.0/16", "via", node1IP)
		t.Cleanup(func() { _ = exec.Command("ip", "-n", string(out), "route", "del", "10.244.0.0/16").Run() })
		a := ask(t, out, pod1IP+":9376")
		assert.Equal(t, outsideIP, a.Client, "node1's own pod sees the outside host")
		a = ask(t, out, pod3IP+":9376")
		assert.Equal(t, "pod3", a.Name)
		assert.Equal(t, "10.244.1.0", a.Client, "node2's pod sees node1's flannel.1 address")
		// Every pod's bridge port is in hairpin mode, as flannel's CNI config.
		links := sh(t, "ip", "-n", string(node1), "-d", "link", "show", "veth-pod1")
		assert.Contains(t, links, "hairpin on")
	})

	t.Run("7 containers of a pod share localhost", func(t *testing.T) {
		r := labtest.MustRun(t, "exec", "--lab", name, "pod1", "-c", "sidecar", "--", "curl", "-s", "localhost:9376")
		assert.Contains(t, r.Stdout, "name=pod1")
		assert.Contains(t, r.Stdout, "container=app")
		assert.Contains(t, r.Stdout, "client=127.0.0.1")
		out, err := exec.Command("ip", "netns", "pids", string(pod1)).Output()
		require.NoError(t, err)
		var comms []string
		for _, pid := range strings.Fields(string(out)) {
			c, err := exec.Command("cat", "/proc/"+pid+"/comm").Output()
			require.NoError(t, err)
			comms = append(comms, strings.TrimSpace(string(c)))
		}
		assert.ElementsMatch(t, []string{"app:pod1", "sidecar:pod1"}, comms, "two processes, one namespace")
		// The sidecar really talks to the app: its connections show up.
		require.Eventually(t, func() bool {
			out, _ := exec.Command("ip", "netns", "exec", string(pod1), "ss", "-tan", "state", "time-wait").Output()
			return strings.Contains(string(out), "127.0.0.1:9376")
		}, 12*time.Second, 200*time.Millisecond, "the sidecar asks the app over localhost")
		bad := labtest.Run(t, "exec", "--lab", name, "pod1", "-c", "nginx", "--", "true")
		assert.Equal(t, 2, bad.Code)
		assert.Contains(t, bad.Stderr, "pod pod1 has the containers app, sidecar")
	})
}

// TestProjectorOutput: up and status print a picture, an aligned table and
// next steps with the lab's real names; a pod's containers are in both.
func TestProjectorOutput(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "w")
	up := labtest.MustRun(t, "overlay-mode", "--lab", name, "--nodes", "2", "--pods", "5")
	for _, want := range []string{
		"the Kubernetes model on 2 nodes, 10 pods",
		"├── node1  eth1 192.168.56.11   cni0 10.244.1.1/24   flannel.1 10.244.1.0 mtu 1450",
		"│     ├── pod1   10.244.1.2  [app sidecar]",
		"└── … 2 more pods, up to pod5 10.244.1.6",
		"sudo netlab --lab " + name + " exec pod1 -- curl -s 10.244.2.2:9376",
		"sudo netlab --lab " + name + " down",
	} {
		assert.Contains(t, up.Stdout, want)
	}
	st := labtest.MustRun(t, "status", "--lab", name)
	lines := strings.Split(st.Stdout, "\n")
	var header string
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "  NAME") {
			header = l
		} else if header != "" && strings.TrimSpace(l) != "" {
			rows = append(rows, l)
		}
	}
	require.NotEmpty(t, header, st.Stdout)
	assert.Len(t, rows, 2+1+10, "every node, the outside host and every pod")
	col := strings.Index(header, "ADDRESS")
	for _, r := range rows {
		assert.Equal(t, " ", r[col-1:col], "the ADDRESS column is aligned: %q", r)
	}
	bad := labtest.Run(t, "exec", "--lab", name, "node1", "-c", "app", "--", "true")
	assert.Equal(t, 2, bad.Code)
	assert.Contains(t, bad.Stderr, "node1 is not one of overlay-mode's pods")
}

// TestHostGWTruths: flannel's host-gw backend, with packets: pods reach
// each other across nodes with no NAT and no tunnel (no flannel.1, the
// pods' own packets on the underlay), the peer node itself is a hop, and
// the pods have the underlay's whole MTU.
func TestHostGWTruths(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "g")
	up := labtest.MustRun(t, "overlay-mode", "--lab", name, "--backend", "host-gw")
	assert.Contains(t, up.Stdout, "host-gw mtu 1500")
	node1 := names.NetnsName(name, "node1")
	pod1, pod3 := names.NetnsName(name, "pod1"), names.NetnsName(name, "pod3")

	nl, err := netops.Netlink(node1)
	require.NoError(t, err)
	defer nl.Close()
	_, err = nl.LinkByName("flannel.1")
	assert.Error(t, err, "no VXLAN device with host-gw")
	routes := sh(t, "ip", "-n", string(node1), "route", "show", "10.244.2.0/24")
	assert.Contains(t, routes, "10.244.2.0/24 via 192.168.56.12 dev eth1", "node2's pod CIDR via node2 itself")

	ans := ask(t, pod1, "10.244.2.2:9376")
	assert.Equal(t, "pod3", ans.Name)
	assert.Equal(t, "10.244.1.2", ans.Client, "no NAT between pods")
	ans = ask(t, node1, "10.244.2.2:9376")
	assert.Contains(t, addrsOf(t, node1), ans.Client, "a node reaches a pod untranslated")

	hops, out, err := probe.Traceroute(pod1, "10.244.2.2", 5)
	require.NoError(t, err, out)
	require.Len(t, hops, 3, out)
	assert.Equal(t, []string{"10.244.1.1", "192.168.56.12", "10.244.2.2"}, []string{hops[0].Addr, hops[1].Addr, hops[2].Addr})

	wire := capture(t, node1, "icmp", func() {
		r, err := probe.Ping(pod1, "10.244.2.2", 1, 2*time.Second)
		require.NoError(t, err)
		assert.True(t, r.OK(), r.Output)
	})
	assert.Contains(t, wire, "IP 10.244.1.2 > 10.244.2.2: ICMP echo request", "the pods' own packet on eth1, no tunnel")
	assert.NotContains(t, wire, "VXLAN")

	r, err := probe.Ping(pod1, "10.244.2.2", 1, 2*time.Second, "-M", "do", "-s", "1472")
	require.NoError(t, err)
	assert.True(t, r.OK(), "1500 bytes fit: %s", r.Output)
	r, err = probe.Ping(pod1, "10.244.2.2", 1, 2*time.Second, "-M", "do", "-s", "1473")
	require.NoError(t, err)
	assert.Contains(t, r.Output, "message too long")
	ans = ask(t, pod3, "10.244.1.2:9376")
	assert.Equal(t, "10.244.2.2", ans.Client)
}

// captureCLI runs netlab capture --lab name with args while send runs
// (once tcpdump listens), and returns what it printed on stdout and on
// stderr.
func captureCLI(t *testing.T, name string, send func(), args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(labtest.Binary(t), append([]string{"capture", "--lab", name}, args...)...)
	out, errs := whileListening(t, cmd, send)
	require.Equal(t, 0, cmd.ProcessState.ExitCode(), errs)
	return out, errs
}

// TestCapture: netlab capture runs tcpdump where the packets pass and
// decodes flannel's VXLAN (outer and inner headers), stops by itself, and
// writes a pcap for Wireshark.
func TestCapture(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "p")
	labtest.MustRun(t, "overlay-mode", "--lab", name)
	pod1 := names.NetnsName(name, "pod1")
	// captured runs netlab capture with args while pinging pod3 from pod1.
	captured := func(args ...string) (string, string) {
		return captureCLI(t, name, func() { _, _ = probe.Ping(pod1, "10.244.2.2", 2, 2*time.Second) }, args...)
	}
	out, _ := captured("node1", "--count", "2", "--", "udp", "port", "8472")
	assert.Regexp(t, `192\.168\.56\.11\.\d+ > 192\.168\.56\.12\.8472: VXLAN.*vni 1`, out, "the outer header")
	assert.Contains(t, out, "IP 10.244.1.2 > 10.244.2.2: ICMP echo request", "the inner one")
	out, _ = captured("pod1", "--count", "1", "--", "icmp")
	assert.Contains(t, out, "IP 10.244.1.2 > 10.244.2.2: ICMP echo request", "a pod's own eth0")
	pcap := filepath.Join(t.TempDir(), "cap.pcap")
	_, errs := captured("node1:cni0", "--count", "2", "--write", pcap, "--", "icmp")
	assert.Contains(t, errs, "2 packets captured")
	data, err := os.ReadFile(pcap)
	require.NoError(t, err)
	require.Greater(t, len(data), 24)
	assert.Equal(t, []byte{0xd4, 0xc3, 0xb2, 0xa1}, data[:4], "a pcap file")

	start := time.Now()
	r := labtest.MustRun(t, "capture", "--lab", name, "underlay", "--duration", "1", "--", "tcp", "port", "1")
	assert.Less(t, time.Since(start), 5*time.Second, "it stops by itself")
	assert.Contains(t, r.Stderr, "0 packets captured")
	r = labtest.Run(t, "capture", "--lab", name, "nosuch")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `has no container, pod or host called "nosuch"`)
	// What follows -- is a filter, never tcpdump's options (-z ran a
	// script as root once).
	for _, bad := range [][]string{{"--", "-Z", "root", "-w", "/tmp/x", "-G", "1", "-z", "/bin/true"}, {"--", "icmp", "-w", "/tmp/x"}, {"--write", "-"}} {
		r = labtest.Run(t, append([]string{"capture", "--lab", name, "node1"}, bad...)...)
		assert.Equal(t, 2, r.Code, "%v: %s", bad, r.Stderr)
		assert.NotContains(t, r.Stderr, "listening on", "tcpdump never ran")
	}
	// A pod of a manifest is a workload: its eth0, in its namespace.
	labtest.MustRun(t, "apply", "--lab", name, "-f", manifest(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: solo}\nspec: {containers: [{name: web, image: 'netlab/web:red'}]}\n"))
	r = labtest.MustRun(t, "capture", "--lab", name, "solo", "--duration", "1", "--", "icmp")
	assert.Contains(t, r.Stderr, "listening on eth0")
}

// dotEdges are the edges of a Graphviz source, as "from -> to".
func dotEdges(src string) []string {
	var out []string
	re := regexp.MustCompile(`^\s*("[^"]*"|\w+) -> ("[^"]*"|\w+)`)
	for _, l := range strings.Split(src, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, strings.Trim(m[1], `"`)+" -> "+strings.Trim(m[2], `"`))
		}
	}
	return out
}

// TestDiagram: every format renders, and the picture has every namespace,
// interface and address of the lab (the pods of applied manifests and the
// cluster's DNS too), and the edges that join the nodes as the kernel
// does: the VXLAN devices (apart from cni0) into the tunnel, or host-gw's
// route on each node via the underlay; no label under its own edge.
func TestDiagram(t *testing.T) {
	labtest.Root(t)
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz is not installed: make deps installs it")
	}
	for _, mode := range [][]string{{"docker-mode"}, {"overlay-mode"}, {"overlay-mode", "--backend", "host-gw"}} {
		name := labtest.NewLab(t, "d")
		labtest.MustRun(t, append(mode, "--lab", name)...)
		st := readStatus(t, name)
		var want []string
		for _, n := range st.Nodes {
			want = append(want, n.Netns, n.UnderlayIP)
		}
		for _, w := range st.Workloads {
			want = append(want, w.Netns, w.IP, "veth-"+w.Name, "eth0")
		}
		var edges, notEdges []string
		switch {
		case mode[0] == "overlay-mode" && len(mode) == 1:
			labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml")
			for _, p := range getPods(t, name) {
				want = append(want, "pod default/"+p.Name, p.IP, string(p.NS))
			}
			want = append(want, "pod kube-system/coredns-", "cni0 10.244.1.1/24", "flannel.1 10.244.1.0", "VXLAN tunnel: VNI 1, UDP 8472")
			edges = []string{"node1/host -> node1/tunnel", "node2/host -> node2/tunnel", "node1/tunnel -> tunnel", "node2/tunnel -> tunnel", "node1/host -> node1/cni0"}
			notEdges = []string{"node1/cni0 -> node2/cni0", "node1/cni0 -> node1/tunnel"}
		case mode[0] == "overlay-mode":
			want = append(want, "route to node2's pods\\n10.244.2.0/24 via 192.168.56.12 dev eth1", "route to node1's pods\\n10.244.1.0/24 via 192.168.56.11 dev eth1")
			edges = []string{"node1/host -> node1/route/node2", "node1/route/node2 -> underlay", "node2/host -> node2/route/node1", "node2/route/node1 -> underlay"}
			notEdges = []string{"node1/cni0 -> node2/cni0"}
		default:
			want = append(want, "docker0 172.17.0.1/16", ":8080 → c1:80")
		}
		src := labtest.MustRun(t, "diagram", "--lab", name, "--format", "dot").Stdout
		for _, w := range want {
			assert.True(t, strings.Contains(src, w), "%v dot: %q", mode, w)
		}
		got := dotEdges(src)
		for _, e := range edges {
			assert.Contains(t, got, e, "%v", mode)
		}
		for _, e := range notEdges {
			assert.NotContains(t, got, e, "%v", mode)
		}
		for _, l := range strings.Split(src, "\n") {
			if strings.Contains(l, "->") {
				assert.NotRegexp(t, `[\[ ,]label=`, l, "an edge's label sits beside it (xlabel), not under it")
			}
		}
		svg := html.UnescapeString(labtest.MustRun(t, "diagram", "--lab", name, "--format", "svg").Stdout) // SVG writes - as &#45;
		for _, w := range want {
			for _, part := range strings.Split(w, `\n`) { // a label's lines are texts of their own
				assert.True(t, strings.Contains(svg, part), "%v svg: %q", mode, part)
			}
		}
		png := filepath.Join(t.TempDir(), "lab.png")
		labtest.MustRun(t, "diagram", "--lab", name, "--format", "png", "-o", png)
		data, err := os.ReadFile(png)
		require.NoError(t, err)
		assert.Equal(t, []byte("\x89PNG"), data[:4])
		labtest.MustRun(t, "down", "--lab", name)
	}
	r := labtest.Run(t, "diagram", "--format", "gif")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `--format "gif": svg, png or dot`)
}
