package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/inventory"
	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/who"
)

// vm is a namespace that plays a Vagrant VM: netlab runs in it with only
// its network namespace switched, so the VM's "own stack" is that
// namespace, and its eth1 is the private network.
type vm struct {
	ns  netops.NS
	lab string
}

// nl runs netlab inside the VM.
func (v vm) nl(t *testing.T, args ...string) labtest.Result {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=" + netops.Path(v.ns), labtest.Binary(t)}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := labtest.Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

func (v vm) mustNL(t *testing.T, args ...string) labtest.Result {
	t.Helper()
	r := v.nl(t, args...)
	require.Equal(t, 0, r.Code, "netlab %v in %s:\n%s\n%s", args, v.ns, r.Stdout, r.Stderr)
	return r
}

// savedRules is iptables-save in ns without its comment lines, which say
// when it ran (two reads a second apart differ there only).
func savedRules(t *testing.T, ns netops.NS, args ...string) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(sh(t, append([]string{"ip", "netns", "exec", string(ns), "iptables-save"}, args...)...), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%v: %s", args, out)
	return string(out)
}

// twoVMs makes two namespaces joined by a veth, as two VMs on a private
// network: eth1 with 192.168.56.11 and .12, and eth0 with the default
// route, as Vagrant's NAT NIC. Each runs its own lab.
func twoVMs(t *testing.T) (vm, vm) {
	t.Helper()
	base := labtest.Name("v")
	a := vm{ns: netops.NS(base + "-vm1"), lab: labtest.NewLab(t, "a")}
	b := vm{ns: netops.NS(base + "-vm2"), lab: labtest.NewLab(t, "b")}
	for _, v := range []vm{a, b} {
		sh(t, "ip", "netns", "add", string(v.ns))
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", string(v.ns)).Run() })
		sh(t, "ip", "-n", string(v.ns), "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", string(a.ns), "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", string(b.ns))
	for i, v := range []vm{a, b} {
		sh(t, "ip", "-n", string(v.ns), "addr", "add", []string{"192.168.56.11/24", "192.168.56.12/24"}[i], "dev", "eth1")
		sh(t, "ip", "-n", string(v.ns), "link", "set", "eth1", "up")
		// Vagrant's NAT NIC, as every Vagrant VM has it: 10.0.2.15 with
		// the default route via 10.0.2.2, a namespace of its own that
		// plays QEMU's user network and reaches nothing further.
		nat := string(v.ns) + "-nat"
		sh(t, "ip", "netns", "add", nat)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", nat).Run() })
		sh(t, "ip", "-n", string(v.ns), "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nat)
		sh(t, "ip", "-n", nat, "addr", "add", "10.0.2.2/24", "dev", "eth0")
		sh(t, "ip", "-n", nat, "link", "set", "eth0", "up")
		sh(t, "ip", "-n", string(v.ns), "addr", "add", "10.0.2.15/24", "dev", "eth0")
		sh(t, "ip", "-n", string(v.ns), "link", "set", "eth0", "up")
		sh(t, "ip", "-n", string(v.ns), "route", "add", "default", "via", "10.0.2.2", "dev", "eth0")
	}
	return a, b
}

// downOnVM removes a VM's lab and checks nothing of it stayed in the VM.
func downOnVM(t *testing.T, v vm) {
	t.Helper()
	r := v.mustNL(t, "down", "--lab", v.lab)
	assert.Contains(t, r.Stdout, "links and rules of this machine's own")
	links := sh(t, "ip", "-n", string(v.ns), "-d", "link", "show")
	assert.NotContains(t, links, "netlab:", "no marked link left in the VM")
	rules := sh(t, "ip", "netns", "exec", string(v.ns), "iptables-save")
	assert.NotContains(t, rules, "NETLAB-", "no chain left in the VM")
	assert.NotContains(t, rules, "FLANNEL-", "no flannel chain left in the VM")
	assert.NotContains(t, rules, "netlab:", "no rule left in the VM")
	assert.Contains(t, links, "eth1", "the VM's own interface stays")
	routes := sh(t, "ip", "-n", string(v.ns), "route", "show", "table", "all")
	assert.NotContains(t, routes, "10.244.", "no route of the lab's left in the VM")
	labtest.AssertGone(t, v.lab)
	r = v.mustNL(t, "down", "--lab", v.lab)
	assert.Contains(t, r.Stdout, "Nothing to remove")
}

// TestRealNodesOverlay: the same code builds a node's share on a "VM" as in
// the embedded lab, and the truths hold between the two VMs.
func TestRealNodesOverlay(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(`
iface: eth1
nodes:
  - {name: node1, ip: 192.168.56.11, pods: 2}
  - {name: node2, ip: 192.168.56.12, pods: 2}
overlay: {tx_checksum: off}
`), 0o644))
	// VM1 as provisioned: its identity and topology in the config dir,
	// and no flags but the lab's name.
	etc := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(etc, "node"), []byte("node1\n"), 0o644))
	data, err := os.ReadFile(topo)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(etc, "topology.yaml"), data, 0o644))
	t.Setenv("NETLAB_CONFIG_DIR", etc)
	up := a.mustNL(t, "overlay-mode", "--lab", a.lab)
	t.Setenv("NETLAB_CONFIG_DIR", t.TempDir())
	assert.Contains(t, up.Stdout, "this machine as node1")
	assert.Contains(t, up.Stdout, "TX checksum offload is off on flannel.1")
	b.mustNL(t, "overlay-mode", "--lab", b.lab, "--topology", topo, "--node", "node2")

	var st status
	require.NoError(t, json.Unmarshal([]byte(a.mustNL(t, "status", "--json", "--lab", a.lab).Stdout), &st))
	require.Len(t, st.Workloads, 2, "a VM runs only its own pods")
	var raw struct {
		Nodes []map[string]any `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.mustNL(t, "status", "--json", "--lab", a.lab).Stdout), &raw))
	require.Len(t, raw.Nodes, 2)
	assert.Equal(t, "node2", raw.Nodes[1]["name"])
	assert.Nil(t, raw.Nodes[1]["netns"], "a peer node is another machine: no netns here")
	r := a.nl(t, "exec", "--lab", a.lab, "node2", "--", "true")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "node2 is another machine")
	pod1 := netops.NS(a.lab + "-pod1")
	pod3 := netops.NS(b.lab + "-pod3")

	ethtool := sh(t, "ip", "netns", "exec", string(a.ns), "ethtool", "-k", "flannel.1")
	assert.Contains(t, ethtool, "tx-checksum-ip-generic: off", "the flannel#1279 workaround was applied")

	ans := ask(t, pod1, "10.244.2.2:9376")
	assert.Equal(t, "pod3", ans.Name)
	assert.Equal(t, "10.244.1.2", ans.Client, "pod to pod across VMs: no NAT")
	ans = ask(t, a.ns, "10.244.2.2:9376")
	assert.Contains(t, addrsOf(t, a.ns), ans.Client, "VM1 itself reaches pod3, untranslated")
	ans = ask(t, pod3, "10.244.1.3:9376")
	assert.Equal(t, "pod2", ans.Name)
	assert.Equal(t, "10.244.2.2", ans.Client)

	hops, out, err := probe.Traceroute(pod1, "10.244.2.2", 5)
	var pr probe.PingResult
	require.NoError(t, err, out)
	require.Len(t, hops, 3, out)
	assert.Equal(t, []string{"10.244.1.1", "10.244.2.0", "10.244.2.2"}, []string{hops[0].Addr, hops[1].Addr, hops[2].Addr})

	wire := capture(t, a.ns, "udp port 8472", func() {
		r, err := probe.Ping(pod1, "10.244.2.2", 1, 2*time.Second)
		require.NoError(t, err)
		assert.True(t, r.OK(), r.Output)
	})
	assert.Regexp(t, `192\.168\.56\.11\.\d+ > 192\.168\.56\.12\.8472: VXLAN.*vni 1\s*\n?.*IP 10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request`, wire)
	pr, err = probe.Ping(pod1, "10.244.2.2", 1, 2*time.Second, "-M", "do", "-s", "1422")
	require.NoError(t, err)
	assert.True(t, pr.OK(), pr.Output)
	pr, err = probe.Ping(pod1, "10.244.2.2", 1, 2*time.Second, "-M", "do", "-s", "1423")
	require.NoError(t, err)
	assert.Contains(t, pr.Output, "message too long")

	side := a.mustNL(t, "exec", "--lab", a.lab, "pod1", "-c", "sidecar", "--", "curl", "-s", "localhost:9376")
	assert.Contains(t, side.Stdout, "client=127.0.0.1")

	downOnVM(t, a)
	downOnVM(t, b)
}

// TestRealNodesDocker: on a VM where Docker already took 172.17.0.0/16 and
// set FORWARD to DROP, docker-mode refuses the colliding subnet with a
// hint, changing nothing; with a free subnet it works under the DROP
// policy, and down leaves Docker's objects and policy alone.
func TestRealNodesDocker(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	for _, v := range []vm{a, b} {
		sh(t, "ip", "-n", string(v.ns), "link", "add", "docker0", "type", "bridge")
		sh(t, "ip", "-n", string(v.ns), "addr", "add", "172.17.0.1/16", "dev", "docker0")
		sh(t, "ip", "-n", string(v.ns), "link", "set", "docker0", "up")
		sh(t, "ip", "netns", "exec", string(v.ns), "iptables", "-P", "FORWARD", "DROP")
	}
	before := sh(t, "ip", "-n", string(a.ns), "-br", "link")
	r := a.nl(t, "docker-mode", "--lab", a.lab, "--node", "node1")
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "172.17.0.0/16 collides with the route 172.17.0.0/16 dev docker0")
	assert.Contains(t, r.Stderr, "docker.subnet")
	assert.Equal(t, before, sh(t, "ip", "-n", string(a.ns), "-br", "link"), "refused before any change")
	assert.Empty(t, inventory.Scan(a.lab).Namespaces)

	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte("docker: {bridge: netlab0, subnet: 172.18.0.0/16}\n"), 0o644))
	up := a.mustNL(t, "docker-mode", "--lab", a.lab, "--node", "node1", "--topology", topo)
	assert.Contains(t, up.Stdout, "FORWARD policy of DROP")
	b.mustNL(t, "docker-mode", "--lab", b.lab, "--node", "node2", "--topology", topo)

	c1 := netops.NS(a.lab + "-c1")
	ans := ask(t, c1, "192.168.56.12:8080")
	assert.Equal(t, "c3", ans.Name, "VM2's published port answers, forwarded under FORWARD DROP")
	assert.Equal(t, "192.168.56.11", ans.Client, "c1 left VM1 masqueraded")
	ans = ask(t, netops.NS(a.lab+"-c2"), "172.18.0.2:80")
	assert.Equal(t, "c1", ans.Name, "same host, under FORWARD DROP")

	downOnVM(t, a)
	// VM2's down as the script --dry-run prints, run by bash on VM2: the
	// printed teardown is true, and leaves nothing for a real down to do.
	script := b.mustNL(t, "down", "--dry-run", "--lab", b.lab).Stdout
	assert.Contains(t, script, "iptables -w -t nat -D POSTROUTING")
	bash := exec.Command("nsenter", "--net="+netops.Path(b.ns), "bash", "-e")
	bash.Stdin = strings.NewReader(script)
	out, err := bash.CombinedOutput()
	require.NoError(t, err, "the printed down fails:\n%s\n%s", out, script)
	r = b.mustNL(t, "down", "--lab", b.lab)
	assert.Contains(t, r.Stdout, "Nothing to remove", "the script removed it all")
	rules := sh(t, "ip", "netns", "exec", string(b.ns), "iptables-save")
	assert.NotContains(t, rules, "netlab:", "no rule left on VM2")
	assert.Contains(t, sh(t, "ip", "-n", string(a.ns), "-br", "link"), "docker0", "Docker's bridge untouched")
	assert.Contains(t, sh(t, "ip", "netns", "exec", string(a.ns), "iptables", "-S", "FORWARD"), "-P FORWARD DROP", "the policy untouched")
}

// TestRealNodeRestoresSysctls: a real node gets back the ip_forward it had,
// when the last lab on it goes, whatever order two labs go in; one that
// already forwarded keeps forwarding.
func TestRealNodeRestoresSysctls(t *testing.T) {
	labtest.Root(t)
	a, _ := twoVMs(t)
	forward := func() string {
		return strings.TrimSpace(sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv4.ip_forward"))
	}
	sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-qw", "net.ipv4.ip_forward=0")
	docker := a
	// The overlay lab's name starts with the docker lab's: "L-x", whose
	// chains NETLAB-L-X-* start like L's NETLAB-L-*. down of L must leave them.
	overlay := vm{ns: a.ns, lab: docker.lab + "-x"}
	t.Cleanup(func() { _ = exec.Command(labtest.Binary(t), "down", "--lab", overlay.lab).Run() })

	up := docker.mustNL(t, "docker-mode", "--lab", docker.lab, "--node", "node1")
	assert.Contains(t, up.Stdout, "net.ipv4.ip_forward is now 1 on this machine (it was 0)")
	assert.Equal(t, "1", forward())
	overlay.mustNL(t, "overlay-mode", "--lab", overlay.lab, "--node", "node1")

	r := docker.mustNL(t, "down", "--lab", docker.lab)
	assert.Contains(t, r.Stdout, "net.ipv4.ip_forward stays 1: lab "+overlay.lab+" on this machine still needs it")
	rules := sh(t, "ip", "netns", "exec", string(a.ns), "iptables-save")
	assert.Contains(t, rules, ":FLANNEL-POSTRTG ", "down of %s left %s's chains", docker.lab, overlay.lab)
	assert.Contains(t, rules, ":FLANNEL-FWD ")
	assert.Contains(t, rules, `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq"`)
	assert.NotContains(t, rules, ":"+names.ChainName(docker.lab, "DNAT")+" ")
	assert.Equal(t, "1", forward(), "the overlay lab still forwards")
	dry := overlay.mustNL(t, "down", "--dry-run", "--lab", overlay.lab)
	assert.Contains(t, dry.Stdout, "sysctl -qw net.ipv4.ip_forward=0")
	assert.Equal(t, "1", forward(), "--dry-run changes nothing")
	r = overlay.mustNL(t, "down", "--lab", overlay.lab)
	assert.Contains(t, r.Stdout, "net.ipv4.ip_forward is back to 0, as netlab found it")
	assert.Equal(t, "0", forward(), "the machine is as netlab found it")
	rules = sh(t, "ip", "netns", "exec", string(a.ns), "iptables-save")
	assert.NotContains(t, rules, "FLANNEL-", "down removes the flannel chains the lab made")

	// The other order: the overlay lab goes first, and puts back
	// kube-proxy's route_localnet, which the docker lab never set.
	localnet := func() string {
		return strings.TrimSpace(sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-n", "net.ipv4.conf.all.route_localnet"))
	}
	require.Equal(t, "0", localnet())
	overlay.mustNL(t, "overlay-mode", "--lab", overlay.lab, "--node", "node1")
	assert.Equal(t, "1", localnet(), "kube-proxy sets route_localnet for its localhost NodePorts")
	docker.mustNL(t, "docker-mode", "--lab", docker.lab, "--node", "node1")
	r = overlay.mustNL(t, "down", "--lab", overlay.lab)
	assert.Contains(t, r.Stdout, "net.ipv4.conf.all.route_localnet is back to 0")
	assert.Contains(t, r.Stdout, "net.ipv4.ip_forward stays 1: lab "+docker.lab+" on this machine still needs it")
	assert.Equal(t, "0", localnet())
	docker.mustNL(t, "down", "--lab", docker.lab)
	assert.Equal(t, "0", forward())

	// A machine that already forwarded keeps forwarding.
	sh(t, "ip", "netns", "exec", string(a.ns), "sysctl", "-qw", "net.ipv4.ip_forward=1")
	up = docker.mustNL(t, "docker-mode", "--lab", docker.lab, "--node", "node1")
	assert.Contains(t, up.Stdout, "net.ipv4.ip_forward was already 1 on this machine")
	r = docker.mustNL(t, "down", "--lab", docker.lab)
	assert.NotContains(t, r.Stdout, "ip_forward")
	assert.Equal(t, "1", forward())
}

// TestRealNodesHostGW: host-gw between two "VMs": each routes the other's
// pod CIDR via its eth1 address, and pods reach each other with no NAT.
func TestRealNodesHostGW(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte("iface: eth1\noverlay: {backend: host-gw}\n"), 0o644))
	// A machine with flannel's chains (flanneld, or another overlay lab)
	// is refused, and nothing changes.
	sh(t, "ip", "netns", "exec", string(a.ns), "iptables", "-t", "filter", "-N", "FLANNEL-FWD")
	before := savedRules(t, a.ns)
	r := a.nl(t, "overlay-mode", "--lab", a.lab, "--topology", topo, "--node", "node1")
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "this machine already has flannel's chain FLANNEL-FWD in its filter table")
	assert.Equal(t, before, savedRules(t, a.ns), "refused before any change")
	labtest.AssertGone(t, a.lab)
	sh(t, "ip", "netns", "exec", string(a.ns), "iptables", "-t", "filter", "-X", "FLANNEL-FWD")

	a.mustNL(t, "overlay-mode", "--lab", a.lab, "--topology", topo, "--node", "node1")
	b.mustNL(t, "overlay-mode", "--lab", b.lab, "--topology", topo, "--node", "node2")
	assert.Contains(t, sh(t, "ip", "-n", string(a.ns), "route"), "10.244.2.0/24 via 192.168.56.12 dev eth1")
	ans := ask(t, netops.NS(a.lab+"-pod1"), "10.244.2.2:9376")
	assert.Equal(t, "pod3", ans.Name)
	assert.Equal(t, "10.244.1.2", ans.Client, "pod to pod across VMs: no NAT, no tunnel")
	downOnVM(t, a)
	downOnVM(t, b)
}

// TestRealNodesCompareTrace: compare and trace on a "VM", whose peer is
// another machine: what can be asked from here is measured, what cannot
// says so, and a trace follows the packet to the VM's own wire.
func TestRealNodesCompareTrace(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	ad, bd := vm{ns: a.ns, lab: labtest.NewLab(t, "e")}, vm{ns: b.ns, lab: labtest.NewLab(t, "f")}
	a.mustNL(t, "overlay-mode", "--lab", a.lab, "--node", "node1")
	b.mustNL(t, "overlay-mode", "--lab", b.lab, "--node", "node2")
	ad.mustNL(t, "docker-mode", "--lab", ad.lab, "--node", "node1")
	bd.mustNL(t, "docker-mode", "--lab", bd.lab, "--node", "node2")

	r := a.mustNL(t, "compare", "--json", "--quick", "--docker-lab", ad.lab, "--overlay-lab", a.lab)
	var doc compareDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &doc), r.Stdout)
	c := doc.cell(t, "cross_node", "kubernetes")
	assert.True(t, c.Reachable, "pod1 on this VM reaches pod3 on the other")
	assert.Equal(t, "pod3", c.AnsweredBy)
	assert.Equal(t, []string{"10.244.1.1", "10.244.2.0", "10.244.2.2"}, c.Hops)
	c = doc.cell(t, "source_seen", "kubernetes")
	assert.Equal(t, "10.244.1.2", c.SeenSource)
	c = doc.cell(t, "cross_node", "docker")
	assert.Equal(t, "c1", c.AnsweredBy, "172.17.0.2 is this VM's own c1")
	c = doc.cell(t, "source_seen", "docker")
	assert.Equal(t, "c3", c.AnsweredBy, "through the other VM's published port")
	assert.Equal(t, "192.168.56.11", c.SeenSource)
	c = doc.cell(t, "node_to_remote_workload", "kubernetes")
	assert.True(t, c.Reachable)
	require.NotNil(t, c.Back)
	assert.Contains(t, c.Back.Error, "another machine", "pod3's side cannot be asked from here")
	assert.Contains(t, doc.cell(t, "outside_to_workload", "docker").Error, "no outside host", "a VM's lab has none")
	c = doc.cell(t, "encapsulation", "kubernetes")
	require.NotNil(t, c.Overhead, c.Error)
	assert.Equal(t, 50, *c.Overhead, "captured on the VM's own eth1")
	c = doc.cell(t, "mtu", "kubernetes")
	require.NotNil(t, c.MaxDFPayload)
	assert.Equal(t, 1422, *c.MaxDFPayload)
	for _, v := range []string{"no_nat_workload_workload", "no_nat_node_workload", "self_ip_is_seen_ip"} {
		assert.Equal(t, "FAIL", doc.verdict(t, v, "docker"), v)
		assert.Equal(t, "PASS", doc.verdict(t, v, "kubernetes"), v)
	}

	var tr traceDoc
	r = a.mustNL(t, "trace", "--json", "--lab", a.lab, "pod1", "pod3")
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &tr), r.Stdout)
	assert.Equal(t, "left", tr.Outcome)
	assert.Equal(t, "node2 192.168.56.12", tr.DeliveredTo, "the walk names where it goes on")
	assert.True(t, tr.Confirmed, "%v", tr.Disagreements)
	assert.Empty(t, tr.Expected)
	last := tr.Hops[len(tr.Hops)-1]
	assert.Equal(t, "node1", last.Host)
	assert.Equal(t, "eth1", last.Out)
	assert.Contains(t, last.Packet, "192.168.56.11 → 192.168.56.12:8472 udp", "the tunnel's outer packet leaves the VM")
	r = a.mustNL(t, "trace", "--json", "--lab", a.lab, "pod1", "pod2")
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &tr), r.Stdout)
	assert.Equal(t, "pod2", tr.DeliveredTo)
	assert.True(t, tr.Confirmed, "%v", tr.Disagreements)

	for _, v := range []vm{ad, bd} {
		v.mustNL(t, "down", "--lab", v.lab)
		labtest.AssertGone(t, v.lab)
	}
	downOnVM(t, a)
	downOnVM(t, b)
}

// vmPods are the pods 'netlab get pods -o json' lists on a VM.
func vmPods(t *testing.T, v vm) []kubePod {
	t.Helper()
	return podsOf(t, v.mustNL(t, "get", "pods", "-o", "json", "--lab", v.lab).Stdout)
}

// onBoth runs the same netlab command on both VMs at once, as a workshop
// does with one terminal per VM, and returns each one's result.
func onBoth(t *testing.T, a, b vm, args ...string) (labtest.Result, labtest.Result) {
	t.Helper()
	done := make(chan labtest.Result, 1)
	go func() { done <- b.nl(t, append(args, "--lab", b.lab)...) }()
	ra := a.nl(t, append(args, "--lab", a.lab)...)
	rb := <-done
	require.Equal(t, 0, ra.Code, "netlab %v on VM1:\n%s\n%s", args, ra.Stdout, ra.Stderr)
	require.Equal(t, 0, rb.Code, "netlab %v on VM2:\n%s\n%s", args, rb.Stdout, rb.Stderr)
	return ra, rb
}

// samePods checks that both VMs computed the same cluster: every pod with
// the same name, node and address, each Ready on both, and returns them.
func samePods(t *testing.T, a, b vm) []kubePod {
	t.Helper()
	pa, pb := vmPods(t, a), vmPods(t, b)
	key := func(ps []kubePod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name+" "+p.Node+" "+p.IP)
			assert.True(t, p.Ready, "%s is Ready", p.Name)
		}
		return out
	}
	assert.ElementsMatch(t, key(pa), key(pb), "both VMs computed the same pods")
	return pa
}

// TestRealNodesServices: Services and Deployments on two "VMs" with no
// control plane: each VM computes the whole cluster from the same commands
// (names, nodes, addresses), builds its own pods, probes the other's over
// the overlay, and writes kube-proxy's rules into its own namespace. A VM
// that already has kube-proxy's chains is refused before any change, and
// down removes the lab's rules and chains and leaves the others'.
func TestRealNodesServices(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	a.mustNL(t, "overlay-mode", "--lab", a.lab, "--node", "node1")
	b.mustNL(t, "overlay-mode", "--lab", b.lab, "--node", "node2")
	files := []string{"apply", "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json"}

	// A machine with kube-proxy's chains (a Kubernetes node) is refused,
	// and nothing changes.
	sh(t, "ip", "netns", "exec", string(a.ns), "iptables", "-t", "nat", "-N", "KUBE-SERVICES")
	before := savedRules(t, a.ns, "-t", "nat")
	r := a.nl(t, append(files, "--lab", a.lab)...)
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "this machine (node1) already has kube-proxy chains in its nat table that lab "+a.lab+" did not make: KUBE-SERVICES (not netlab's)")
	assert.Equal(t, before, savedRules(t, a.ns, "-t", "nat"), "refused before any change")
	assert.Empty(t, vmPods(t, a))
	sh(t, "ip", "netns", "exec", string(a.ns), "iptables", "-t", "nat", "-X", "KUBE-SERVICES")

	// One VM after the other, as a learner may type it: VM1 builds its own
	// pods and says that VM2's come up when VM2 runs the same command.
	r = a.mustNL(t, append(files, "--lab", a.lab)...)
	assert.Equal(t, "deployment.apps/myapp created\nservice/my-service created\n", r.Stdout)
	assert.Contains(t, r.Stderr, "1 pod(s) of deployment myapp are node2's: they come up when the same command runs there")
	b.mustNL(t, append(files, "--lab", b.lab)...)

	pods := samePods(t, a, b)
	require.Len(t, pods, 3)
	byNode := map[string][]kubePod{}
	names := map[string]bool{}
	for _, p := range pods {
		byNode[p.Node] = append(byNode[p.Node], p)
		names[p.Name] = true
	}
	require.Len(t, byNode["node1"], 2)
	require.Len(t, byNode["node2"], 1)
	// A pod lives on its own node only: a namespace there, none here.
	assert.Empty(t, byNode["node2"][0].NS, "VM1 has no namespace for a pod of VM2")
	for _, p := range vmPods(t, b) {
		if p.Name == byNode["node2"][0].Name {
			assert.FileExists(t, netops.Path(p.NS))
		}
	}
	r = a.nl(t, "exec", "--lab", a.lab, byNode["node2"][0].Name, "--", "true")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "runs on node2, another machine")
	b.mustNL(t, "exec", "--lab", b.lab, byNode["node2"][0].Name, "--", "true")

	svc := func(v vm) kubeSvc {
		return serviceOf(t, v.mustNL(t, "get", "services", "my-service", "-o", "json", "--lab", v.lab).Stdout)
	}
	require.Equal(t, svc(a).ClusterIP, svc(b).ClusterIP, "the same ClusterIP on both")
	to := svc(a).ClusterIP + ":80"

	// Each VM's controller takes the other's pods into its rules once it
	// finds them Ready (within its period, a second).
	for _, v := range []vm{a, b} {
		require.Eventually(t, func() bool {
			return strings.Count(sh(t, "ip", "netns", "exec", string(v.ns), "iptables-save", "-t", "nat"), `"default/my-service -> `) == 3
		}, 10*time.Second, 100*time.Millisecond, "my-service has its 3 endpoints in %s's rules", v.ns)
	}

	// From a pod of each VM, every endpoint answers through the ClusterIP
	// (those of the other VM over VXLAN), and sees the pod's own address.
	for _, from := range []struct {
		ns     netops.NS
		client string
	}{{netops.NS(a.lab + "-pod1"), "10.244.1.2"}, {netops.NS(b.lab + "-pod3"), "10.244.2.2"}} {
		seen := map[string]bool{}
		for i := 0; i < 60 && len(seen) < 3; i++ {
			ans := ask(t, from.ns, to)
			assert.True(t, names[ans.Name], "answered by a pod of myapp, not %q", ans.Name)
			assert.Equal(t, from.client, ans.Client, "no SNAT through a ClusterIP, across VMs")
			seen[ans.Name] = true
		}
		assert.Len(t, seen, 3, "from %s every endpoint answers", from.ns)
	}
	assert.True(t, names[ask(t, a.ns, to).Name], "VM1 itself reaches the ClusterIP")

	// Cluster DNS: one DNS pod for the cluster, reached from both VMs once
	// each VM's controller has found it Ready (within its period, 1 s):
	// until then the other VM's rules REJECT, as kube-proxy's do for a
	// Service without endpoints.
	for _, v := range []vm{a, b} {
		require.Eventually(t, func() bool {
			return strings.Contains(sh(t, "ip", "netns", "exec", string(v.ns), "iptables-save", "-t", "nat"), `"kube-system/kube-dns:dns -> `)
		}, 10*time.Second, 100*time.Millisecond, "the DNS pod became an endpoint on %s", v.ns)
		pod := map[vm]string{a: "pod1", b: "pod3"}[v]
		r := v.mustNL(t, "exec", "--lab", v.lab, pod, "--", "curl", "-s", "-m", "5", "http://my-service/")
		assert.Contains(t, r.Stdout, "the color is red", "curl http://my-service/ from %s", pod)
	}

	// A rolling update, run on both VMs at once: the same pods again, and
	// every answer is the new version.
	// A rolling update, one VM after the other: VM1 takes it as far as its
	// own pods go and says that it goes on by itself once VM2 runs the same
	// command; VM1's controller then takes the steps as VM2's pods come.
	r = a.mustNL(t, "set", "image", "deployment/myapp", "web=netlab/web:blue", "--lab", a.lab)
	assert.Contains(t, r.Stderr, "The rollout of deployment myapp waits for 1 new pod(s) on node2, which that machine builds when the same command runs there")
	r = a.nl(t, "rollout", "status", "deployment/myapp", "--watch=false", "--lab", a.lab)
	assert.Equal(t, 1, r.Code, "not complete before VM2 did its part: %s", r.Stdout)
	assert.Contains(t, r.Stdout, "Waiting for deployment \"myapp\" rollout to finish")
	b.mustNL(t, "set", "image", "deployment/myapp", "web=netlab/web:blue", "--lab", b.lab)
	// rollout status watches, as kubectl's does, until VM1's controller has
	// finished the rollout.
	r = a.mustNL(t, "rollout", "status", "deployment/myapp", "--timeout", "60s", "--lab", a.lab)
	assert.Contains(t, r.Stdout, `deployment "myapp" successfully rolled out`)
	pods = samePods(t, a, b)
	require.Len(t, pods, 3)
	vip, err := netip.ParseAddrPort(to)
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		assert.Equal(t, "blue", askColor(netops.NS(b.lab+"-pod3"), vip))
	}
	// status sums the cluster up, the same on both VMs; a command run on
	// one VM only shows as a difference.
	cluster := func(v vm) string {
		r := v.mustNL(t, "status", "--lab", v.lab)
		m := regexp.MustCompile(`Cluster ([0-9a-f]{8}): every VM that ran the same commands shows the same`).FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, r.Stdout)
		return m[1]
	}
	assert.Equal(t, cluster(a), cluster(b))
	a.mustNL(t, "scale", "deployment/myapp", "--replicas", "2", "--lab", a.lab)
	assert.NotEqual(t, cluster(a), cluster(b), "VM2 did not scale")
	onBoth(t, a, b, "scale", "deployment/myapp", "--replicas", "1")
	assert.Len(t, samePods(t, a, b), 1)
	assert.Equal(t, cluster(a), cluster(b), "alike again")

	// A NetworkPolicy on both VMs: every VM has the policy's chain and
	// sets, the VM running the pod its pod chain; the ClusterIP is then
	// refused from VM1's pod1, whichever VM the endpoint is on.
	np := filepath.Join(t.TempDir(), "deny.yaml")
	require.NoError(t, os.WriteFile(np, []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-myapp}\nspec: {podSelector: {matchLabels: {app: MyApp}}, policyTypes: [Ingress]}\n"), 0o644))
	onBoth(t, a, b, "apply", "-f", np)
	fw := 0
	for _, v := range []vm{a, b} {
		rules := sh(t, "ip", "netns", "exec", string(v.ns), "iptables-save", "-t", "filter")
		assert.Contains(t, rules, ":KUBE-NWPLCY-", "the policy's chain on %s", v.ns)
		fw += strings.Count(rules, ":KUBE-POD-FW-")
		assert.Contains(t, sh(t, "ip", "netns", "exec", string(v.ns), "ipset", "list", "-n"), "KUBE-DST-", "the policy's set on %s", v.ns)
	}
	assert.Equal(t, 1, fw, "one pod chain, on the VM of myapp's one pod")
	r = a.nl(t, "exec", "--lab", a.lab, "pod1", "--", "curl", "-s", "-m", "3", "http://"+to+"/")
	assert.NotEqual(t, 0, r.Code, "refused by the policy: %s", r.Stdout)

	// down takes the lab's kube-proxy rules and chains with it, and its
	// policies' sets; chains and sets that are not the lab's stay.
	sh(t, "ip", "netns", "exec", string(b.ns), "ipset", "create", "KUBE-SRC-NOTTHELABS", "hash:ip")
	sh(t, "ip", "netns", "exec", string(b.ns), "iptables", "-t", "nat", "-N", "KUBE-KEEP-ME")
	sh(t, "ip", "netns", "exec", string(b.ns), "iptables", "-t", "nat", "-A", "KUBE-KEEP-ME", "-j", "RETURN")
	sh(t, "ip", "netns", "exec", string(b.ns), "iptables", "-t", "filter", "-N", "KUBE-EMPTY")
	downOnVM(t, a)
	downOnVM(t, b)
	assert.NotContains(t, sh(t, "ip", "netns", "exec", string(a.ns), "iptables-save"), "KUBE-")
	left := sh(t, "ip", "netns", "exec", string(b.ns), "iptables-save")
	assert.Contains(t, left, ":KUBE-KEEP-ME ")
	assert.Contains(t, left, ":KUBE-EMPTY ")
	assert.Equal(t, 2, strings.Count(left, ":KUBE-"), "only the chains that are not the lab's are left:\n%s", left)
	assert.Empty(t, strings.TrimSpace(sh(t, "ip", "netns", "exec", string(a.ns), "ipset", "list", "-n")), "the lab's sets went with it")
	assert.Equal(t, "KUBE-SRC-NOTTHELABS", strings.TrimSpace(sh(t, "ip", "netns", "exec", string(b.ns), "ipset", "list", "-n")), "only the set that is not the lab's is left")
}

// TestRealNodesDockerNetworks: user-defined networks on a "VM", in
// netlab's own chains there: names from the embedded DNS (a process of
// the VM's own stack), an internal network closed both ways, networks
// apart, and the other VM reaching the published port on app.
func TestRealNodesDockerNetworks(t *testing.T) {
	labtest.Root(t)
	a, b := twoVMs(t)
	topo := filepath.Join(t.TempDir(), "topology.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(`
nodes:
  - {name: node1, ip: 192.168.56.11, containers: 3}
  - {name: node2, ip: 192.168.56.12, containers: 2}
networks: [{name: app}, {name: back, internal: true}]
containers:
  - {name: c1, networks: [app]}
  - {name: c2, networks: [app, back]}
  - {name: c3, networks: [back]}
  - {name: c4, networks: [app]}
`), 0o644))
	a.mustNL(t, "docker-mode", "--lab", a.lab, "--node", "node1", "--topology", topo)
	b.mustNL(t, "docker-mode", "--lab", b.lab, "--node", "node2", "--topology", topo)
	ns := func(v vm, c string) netops.NS { return netops.NS(v.lab + "-" + c) }

	r := a.mustNL(t, "exec", "--lab", a.lab, "c1", "--", "getent", "hosts", "c2")
	assert.Contains(t, r.Stdout, "172.18.0.3", "c2's address on app, from the embedded DNS")
	ips, rcode := lookup(t, ns(a, "c3"), ns(a, "c3"), "c2", dns.TypeA)
	assert.Equal(t, []string{"172.19.0.2"}, ips, "c3 finds c2 on back, at its address there")
	assert.Equal(t, dns.RcodeSuccess, rcode)
	_, rcode = lookup(t, ns(a, "c3"), ns(a, "c3"), "c1", dns.TypeA)
	assert.Equal(t, dns.RcodeServerFailure, rcode, "c1 is not on back, and an internal network forwards nothing")
	assert.Contains(t, sh(t, "ip", "netns", "exec", string(ns(a, "c1")), "ss", "-Hlunp"), `"dockerd"`,
		"the resolver holds its socket in c1, as dockerd does")

	ans := ask(t, ns(a, "c2"), "172.18.0.2:80")
	assert.Equal(t, "c1", ans.Name, "app's containers talk, under the VM's own rules")
	_, err := who.Dial(ns(a, "c1"), netip.MustParseAddrPort("172.19.0.2:80"), time.Second)
	assert.Error(t, err, "c1 is not on back: the networks stay apart")
	_, err = who.Dial(ns(a, "c3"), netip.MustParseAddrPort("192.168.56.12:8080"), time.Second)
	assert.Error(t, err, "an internal network has no way out")
	ans = ask(t, ns(b, "c4"), "192.168.56.11:8080")
	assert.Equal(t, "c1", ans.Name, "VM1's published port leads to c1 on app")
	assert.Equal(t, "192.168.56.12", ans.Client)

	downOnVM(t, a)
	downOnVM(t, b)
}
