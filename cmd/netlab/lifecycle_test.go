package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/inventory"
	"netlab/internal/lab"
	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// netnsNames lists /run/netns.
func netnsNames(t *testing.T) []string {
	t.Helper()
	ents, _ := os.ReadDir(netops.NetnsDir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestBadInput: every bad input exits 2 with a one-line reason naming the
// flag or value, and changes nothing in the kernel or /run/netlab.
func TestBadInput(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "b")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("nodes: [{name: node1, ip: 10.9.9.9}]\n"), 0o644))
	noIface := filepath.Join(t.TempDir(), "noiface.yaml")
	require.NoError(t, os.WriteFile(noIface, []byte("iface: nosuch0\n"), 0o644))
	nodeC1 := filepath.Join(t.TempDir(), "c1.yaml")
	require.NoError(t, os.WriteFile(nodeC1, []byte("nodes: [{name: c1, ip: 192.168.56.11}]\n"), 0o644))
	bridgeLo := filepath.Join(t.TempDir(), "lo.yaml")
	require.NoError(t, os.WriteFile(bridgeLo, []byte("docker: {bridge: lo}\n"), 0o644))
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	require.NoError(t, os.WriteFile(huge, bytes.Repeat([]byte("# padding\n"), 200000), 0o644))
	badNet := filepath.Join(t.TempDir(), "badnet.yaml")
	require.NoError(t, os.WriteFile(badNet, []byte("networks: [{name: app}]\ncontainers: [{name: c1, networks: [app]}, {name: c2, network_mode: 'container:c3'}]\n"), 0o644))
	bad6 := filepath.Join(t.TempDir(), "bad6.yaml")
	require.NoError(t, os.WriteFile(bad6, []byte("ipv6: true\noverlay: {cluster_cidr_v6: 'fd00:56::/48'}\n"), 0o644))
	badProxy := filepath.Join(t.TempDir(), "badproxy.yaml")
	require.NoError(t, os.WriteFile(badProxy, []byte("overlay: {proxy_mode: userspace}\n"), 0o644))
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o644))
	before := netnsNames(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"docker-mode", "--lab", name, "--nodes", "0"}, "--nodes 0"},
		{[]string{"docker-mode", "--lab", name, "--nodes", "17"}, "--nodes 17"},
		{[]string{"docker-mode", "--lab", name, "--containers", "0"}, "--containers 0"},
		{[]string{"docker-mode", "--lab", name, "--containers", "1024"}, "--containers 1024: must be from 1 to 1023"},
		{[]string{"docker-mode", "--lab", name, "--containers", "0x10"}, `"0x10" is not a whole number`},
		{[]string{"docker-mode", "--lab", ""}, "--lab: a lab name must not be empty"},
		{[]string{"down", "--lab", ""}, "--lab: a lab name must not be empty"},
		{[]string{"status", "--lab=", "--json"}, "--lab: a lab name must not be empty"},
		{[]string{"exec", "c1", "--lab", "", "--", "true"}, "--lab: a lab name must not be empty"},
		{[]string{"docker-mode", "--lab", name, "--topology", "/dev/zero"}, "not a regular file"},
		{[]string{"docker-mode", "--lab", name, "--topology", fifo}, "not a regular file"},
		{[]string{"docker-mode", "--lab", name, "--topology", huge}, "larger than 1048576 bytes"},
		{[]string{"docker-mode", "--lab", name, "--topology", empty}, "the file is empty"},
		{[]string{"docker-mode", "--lab", name, "--topology", nodeC1}, `"c1" is how netlab names a container or pod`},
		{[]string{"docker-mode", "--lab", name, "--topology", bridgeLo}, `"lo" is the loopback interface`},
		{[]string{"docker-mode", "--lab", name, "--docker-version", "27"}, `--docker-version "27": netlab builds Docker 28 or 20.10`},
		{[]string{"docker-mode", "--lab", name, "--docker-version", "20.10", "--allow-direct-routing"}, "--allow-direct-routing: Docker 20.10 has no such option"},
		{[]string{"docker-mode", "--lab", name, "--allow-direct-routing=maybe"}, "--allow-direct-routing"},
		{[]string{"docker-mode", "--lab", name, "--network", "host"}, `--network "host": give a network mode per container, in a topology file`},
		{[]string{"docker-mode", "--lab", name, "--network", "a b"}, `--network "a b": a network's name is letters, digits`},
		{[]string{"docker-mode", "--lab", name, "--network", "app", "--docker-version", "20.10"}, "built as Docker 28 writes them"},
		{[]string{"docker-mode", "--lab", name, "--network", "app", "--userland-proxy=false"}, "--network app: user-defined networks are built as Docker 28 writes them with its userland proxy"},
		{[]string{"docker-mode", "--lab", name, "--ipv6", "--docker-version", "20.10"}, "--ipv6: Docker 20.10's IPv6 layout was not recorded"},
		{[]string{"docker-mode", "--lab", name, "--ipv6", "--network", "app"}, "--ipv6: user-defined networks are IPv4-only in this netlab so far"},
		{[]string{"overlay-mode", "--lab", name, "--topology", bad6}, "overlay.cluster_cidr_v6: fd00:56::/48 overlaps the IPv6 underlay fd00:56::/64"},
		{[]string{"overlay-mode", "--lab", name, "--topology", bad6, "--ipv6=false"}, "overlay.cluster_cidr_v6: an IPv6 cluster CIDR is for a dual-stack lab"},
		{[]string{"docker-mode", "--lab", name, "--topology", badNet}, badNet + ": containers[1].network_mode: c2 runs on node1 and c3 on node2"},
		{[]string{"exec", "c1", "--bogus", "--", "true"}, "unknown flag --bogus before the command"},
		{[]string{"docker-mode", "--lab", name, "--containers", "many"}, "--containers"},
		{[]string{"docker-mode", "--lab", "Bad_Name"}, `--lab "Bad_Name"`},
		{[]string{"docker-mode", "--lab", "a-lab-name-far-too-long"}, "at most 16"},
		{[]string{"docker-mode", "--lab", "x/../../etc"}, "--lab"},
		{[]string{"docker-mode", "--lab", name, "--topology", bad}, bad + ": nodes[0].ip"},
		{[]string{"docker-mode", "--lab", name, "--dry-run", "--explain"}, "--dry-run and --explain"},
		{[]string{"docker-mode", "--lab", name, "extra"}, "takes no arguments"},
		{[]string{"docker-mode", "--lab", name, "--bogus"}, "unknown flag: --bogus"},
		{[]string{"exec", "--lab", name, "c1"}, "usage: netlab exec NAME [-c CONTAINER] -- COMMAND"},
		{[]string{"down", "--lab", "BAD"}, `--lab "BAD"`},
		{[]string{"no-such-verb"}, "unknown command"},
		{[]string{"--bogus"}, "unknown flag: --bogus (see 'netlab --help')"},
		{[]string{"rollout", "history", "deployment/x", "--lab", name, "--revision", "5"}, "unknown flag: --revision (see 'netlab rollout history --help')"},
		{[]string{"capture", "--lab", name, "node1", "--duration", "NaN"}, `"NaN" is not seconds (10) or a duration (1m30s)`},
		{[]string{"traffic", "--lab", name, "svc/x", "--duration", "Inf"}, `"Inf" is not seconds (10) or a duration (1m30s)`},
		{[]string{"capture", "--lab", name, "node1", "--duration", "1e300"}, `"1e300" is not seconds`},
		{[]string{"overlay-mode", "--lab", name, "--proxy-mode", "ipvs"}, `--proxy-mode "ipvs": kube-proxy's modes netlab builds are iptables and nftables`},
		{[]string{"overlay-mode", "--lab", name, "--topology", badProxy}, badProxy + `: overlay.proxy_mode: "userspace" is not a kube-proxy mode netlab builds`},
		{[]string{"overlay-mode", "--lab", name, "--pods", "0"}, "--pods 0: must be from 1 to 1023"},
		{[]string{"overlay-mode", "--lab", name, "--pods", "300"}, "300 pods do not fit 10.244.1.0/24"},
		{[]string{"overlay-mode", "--lab", name, "--node", "node9"}, `--node "node9": the topology has no such node`},
		{[]string{"overlay-mode", "--lab", name, "--node", "node1", "--topology", noIface}, "the underlay interface \"nosuch0\" is not on this machine"},
	} {
		r := labtest.Run(t, tc.args...)
		assert.Equal(t, 2, r.Code, "netlab %v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want, "netlab %v", tc.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.Stderr), "\n")+1, "one line: %q", r.Stderr)
		assert.NotContains(t, r.Stderr, "goroutine", "no stack trace")
	}
	assert.Equal(t, before, netnsNames(t), "bad input changed /run/netns")
	_, err := os.Stat(state.Dir(name))
	assert.True(t, os.IsNotExist(err), "bad input left state")
}

// TestNotRoot: without root, netlab says sudo is needed and exits 2.
func TestNotRoot(t *testing.T) {
	labtest.Root(t)
	bin := labtest.Binary(t)
	require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
	before := netnsNames(t)
	for _, verb := range []string{"docker-mode", "down", "exec", "status"} {
		args := []string{"--reuid=65534", "--regid=65534", "--clear-groups", bin, verb, "--lab", labtest.Name("n")}
		if verb == "exec" {
			args = append(args, "c1", "--", "true")
		}
		out, err := exec.Command("setpriv", args...).CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s as nobody: %s", verb, out)
		assert.Equal(t, 2, ee.ExitCode(), string(out))
		assert.Contains(t, string(out), "needs root: run 'sudo netlab "+verb, verb)
	}
	// --dry-run changes nothing, so it needs no root.
	out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "docker-mode", "--dry-run").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "ip netns add docker-node1")
	assert.Equal(t, before, netnsNames(t))
}

// TestUpTwiceAndIdempotentDown: a second up of a running lab is refused and
// leaves the lab working; down twice is fine; the lab comes up again.
func TestUpTwiceAndIdempotentDown(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "u")
	for round := 0; round < 2; round++ {
		labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1")
		r := labtest.Run(t, "docker-mode", "--lab", name, "--nodes", "1")
		assert.Equal(t, 2, r.Code)
		assert.Contains(t, r.Stderr, "already up")
		assert.Contains(t, r.Stderr, "netlab down --lab "+name)
		s := readStatus(t, name)
		c1, _ := s.workload("c1")
		_, c2IP := s.workload("c2")
		a := ask(t, c1, c2IP+":80")
		assert.Equal(t, "c2", a.Name, "the running lab still works")

		r = labtest.MustRun(t, "down", "--lab", name)
		assert.Contains(t, r.Stdout, "Removed lab")
		labtest.AssertGone(t, name)
		r = labtest.MustRun(t, "down", "--lab", name)
		assert.Contains(t, r.Stdout, "Nothing to remove")
	}
}

// TestConcurrentUp: the lock lets exactly one of two racing ups build.
func TestConcurrentUp(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "l")
	var wg sync.WaitGroup
	codes := make([]int, 2)
	errs := make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := labtest.Run(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "20")
			codes[i], errs[i] = r.Code, r.Stderr
		}()
	}
	wg.Wait()
	sort.Ints(codes)
	assert.Equal(t, []int{0, 2}, codes, "%v", errs)
	s := readStatus(t, name)
	assert.Len(t, s.Workloads, 20)
}

// TestForeignObjects: a namespace named like one of the lab's, that netlab
// did not make, makes up refuse before any change (exit 2), and neither up
// nor down ever touches it. (TestInterruptRollsBack covers the rollback of
// an up that fails half-way.)
func TestForeignObjects(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "r")
	foreign := []string{name + "-c3", name + "-mine"}
	for _, f := range foreign {
		require.NoError(t, exec.Command("ip", "netns", "add", f).Run())
		require.NoError(t, exec.Command("ip", "-n", f, "link", "add", "keepme", "type", "bridge").Run())
	}
	defer func() {
		for _, f := range foreign {
			_ = exec.Command("ip", "netns", "del", f).Run()
		}
	}()
	// The lab's names only: a user's labs may make namespaces meanwhile.
	before := netnsList(t, name)
	r := labtest.Run(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "5")
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "a network namespace "+name+"-c3 is already on this machine, and netlab did not make it")
	assert.Equal(t, before, netnsList(t, name), "refused before any change")
	assert.Empty(t, inventory.Scan(name).Namespaces)
	_, err := os.Stat(state.Dir(name))
	assert.True(t, os.IsNotExist(err), "no state left")
	for _, f := range foreign {
		assert.NoError(t, exec.Command("ip", "-n", f, "link", "show", "keepme").Run(), "%s untouched", f)
	}
	labtest.MustRun(t, "down", "--lab", name)
	for _, f := range foreign {
		assert.NoError(t, exec.Command("ip", "-n", f, "link", "show", "keepme").Run(), "down never removes %s", f)
	}
}

// TestDownAfterKill: kill -9 in the middle of up, then down removes it all,
// with the state file intact, missing, or damaged.
func TestDownAfterKill(t *testing.T) {
	labtest.Root(t)
	for _, damage := range []string{"intact", "missing", "corrupt"} {
		t.Run(damage, func(t *testing.T) {
			name := labtest.NewLab(t, "k")
			cmd := exec.Command(labtest.Binary(t), "docker-mode", "--lab", name, "--nodes", "1", "--containers", "1000")
			require.NoError(t, cmd.Start())
			deadline := time.Now().Add(20 * time.Second)
			for len(inventory.Scan(name).Namespaces) < 30 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			n := len(inventory.Scan(name).Namespaces)
			require.GreaterOrEqual(t, n, 30, "the kill came half-way through up")
			switch damage {
			case "missing":
				require.NoError(t, os.RemoveAll(state.Dir(name)))
			case "corrupt":
				require.NoError(t, os.WriteFile(filepath.Join(state.Dir(name), "state.json"), []byte("{\"lab\": tru"), 0o644))
			}
			want := inventory.StatusDamaged
			if damage == "intact" {
				want = inventory.StatusInterrupted // state "building", and no command runs
			}
			st := labtest.MustRun(t, "status", "--lab", name)
			assert.Contains(t, strings.ToLower(st.Stdout), want+": ", "status says what is there")
			assert.Contains(t, st.Stdout, "sudo netlab down --lab "+name)
			var doc struct{ Status, Hint string }
			require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "status", "--json", "--lab", name).Stdout), &doc))
			assert.Equal(t, want, doc.Status)
			assert.Contains(t, doc.Hint, "sudo netlab down --lab "+name)
			r := labtest.MustRun(t, "down", "--lab", name)
			assert.Contains(t, r.Stdout, "Removed lab")
			labtest.AssertGone(t, name)
		})
	}
}

// TestInterruptRollsBack: Ctrl-C in the middle of up removes what that up
// made and says so.
func TestInterruptRollsBack(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "i")
	cmd := exec.Command(labtest.Binary(t), "overlay-mode", "--lab", name, "--pods", "200")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(20 * time.Second)
	for len(inventory.Scan(name).Namespaces) < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, stderr.String(), "interrupted; everything this run made was removed again")
	labtest.AssertGone(t, name)
}

// TestExplain builds with --explain and prints each command as it runs.
func TestExplain(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "e")
	r := labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "1", "--explain", "--docker-version", "20.10")
	assert.Contains(t, r.Stdout, "+ ip netns add "+name+"-node1\n")
	assert.Contains(t, r.Stdout, "+ ip -n "+name+"-node1 link add veth-c1 master docker0 up type veth peer name eth0 address 02:42:ac:11:00:02 netns "+name+"-c1\n")
	assert.Contains(t, r.Stdout, "Lab \""+name+"\" is up")
	d := labtest.MustRun(t, "down", "--lab", name, "--explain")
	assert.Contains(t, d.Stdout, "+ ip netns del "+name+"-c1")
}

// ipLinkVolatile matches what `ip -d link` shows that differs between two
// builds of the same lab.
var ipLinkVolatile = regexp.MustCompile(`(?m)^\d+: |@if\d+|(brd|bridge_id|designated_root|designated_bridge) [0-9a-f.:]+|link-netns \S+|\w+_timer\s+[\d.]+|(port_id|port_no|designated_port) \S+`)

// etherMAC finds a link's MAC in `ip -d link`; maskMACs keeps only those
// netlab sets (Docker's 02:42 from a 172.16/12 address, flannel.1's 0e:6c
// from a 192.168 one): the kernel's random ones can start with anything.
var etherMAC = regexp.MustCompile(`link/ether ([0-9a-f:]{17})`)

func maskMACs(s string) string {
	return etherMAC.ReplaceAllStringFunc(s, func(m string) string {
		mac := m[len("link/ether "):]
		if strings.HasPrefix(mac, "02:42:ac:11:") || strings.HasPrefix(mac, "0e:6c:c0:a8") {
			return m
		}
		return "link/ether (random)"
	})
}

// snapshot describes the kernel state of a namespace as text, with the lab
// name replaced, so that two labs built two ways can be compared.
func snapshot(t *testing.T, ns netops.NS, labName string) string {
	t.Helper()
	nl, err := netops.Netlink(ns)
	require.NoError(t, err)
	defer nl.Close()
	var lines []string
	links, err := nl.LinkList()
	require.NoError(t, err)
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	for _, l := range links {
		a := l.Attrs()
		lines = append(lines, fmt.Sprintf("link %s type=%s master=%s up=%v mtu=%d alias=%s",
			a.Name, l.Type(), names[a.MasterIndex], a.Flags&1 != 0, a.MTU, a.Alias))
		if v, ok := l.(*netlink.Vxlan); ok {
			lines = append(lines, fmt.Sprintf("vxlan %s id=%d port=%d learning=%v local=%s dev=%s mac=%s",
				a.Name, v.VxlanId, v.Port, v.Learning, v.SrcAddr, names[v.VtepDevIndex], a.HardwareAddr))
			fdb, err := nl.NeighList(a.Index, unix.AF_BRIDGE)
			require.NoError(t, err)
			for _, f := range fdb {
				if f.State&netlink.NUD_PERMANENT != 0 && f.IP != nil {
					lines = append(lines, fmt.Sprintf("fdb %s %s dst %s", a.Name, f.HardwareAddr, f.IP))
				}
			}
			arp, err := nl.NeighList(a.Index, netlink.FAMILY_V4)
			require.NoError(t, err)
			nd, err := nl.NeighList(a.Index, netlink.FAMILY_V6)
			require.NoError(t, err)
			for _, n := range append(arp, nd...) {
				if n.IP.IsLinkLocalMulticast() || n.IP.IsLinkLocalUnicast() {
					continue // the kernel's own (NDP of its link-local address)
				}
				lines = append(lines, fmt.Sprintf("neigh %s %s lladdr %s state %d", a.Name, n.IP, n.HardwareAddr, n.State))
			}
		}
		addrs, err := nl.AddrList(l, netlink.FAMILY_ALL)
		require.NoError(t, err)
		for _, ad := range addrs {
			addr := ad.IPNet.String()
			if ad.IP.IsLinkLocalUnicast() && ad.IP.To4() == nil {
				addr = "fe80::(from the MAC)" // a random MAC's
			}
			lines = append(lines, fmt.Sprintf("addr %s %s nodad=%v", a.Name, addr, ad.Flags&unix.IFA_F_NODAD != 0))
		}
	}
	routes, err := nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, 0)
	require.NoError(t, err)
	routes6, err := nl.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: 0}, 0)
	require.NoError(t, err)
	for _, r := range append(routes, routes6...) {
		lines = append(lines, fmt.Sprintf("route table=%d dst=%v gw=%v dev=%s scope=%d proto=%d", r.Table, r.Dst, r.Gw, names[r.LinkIndex], r.Scope, r.Protocol))
	}
	// Every attribute `ip -d link` shows (txqlen, queues, offload sizes,
	// bridge and port settings, ...), less what differs between any two
	// runs: interface indexes, random MACs, timers, the lab's name.
	out, err := exec.Command("ip", "-n", string(ns), "-d", "link", "show").Output()
	require.NoError(t, err)
	for _, l := range strings.Split(ipLinkVolatile.ReplaceAllString(maskMACs(strings.ReplaceAll(string(out), labName, "LAB")), ""), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, "ip-d-link "+l)
		}
	}
	require.NoError(t, netops.Do(ns, func() error {
		keys := []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6",
			"net/ipv6/conf/lo/disable_ipv6", "net/ipv6/conf/eth0/disable_ipv6", "net/ipv6/conf/docker0/disable_ipv6",
			"net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/accept_ra", "net/ipv6/conf/eth1/accept_ra"}
		for _, kv := range append(append([]netops.KV{}, lab.Pinned...), lab.ContainerSysctls...) {
			keys = append(keys, strings.ReplaceAll(kv.Key, ".", "/"))
		}
		for _, k := range keys {
			b, err := os.ReadFile("/proc/sys/" + k)
			if os.IsNotExist(err) {
				continue // br_netfilter's, where it is not loaded
			}
			if err != nil {
				return err
			}
			lines = append(lines, "sysctl "+k+"="+strings.TrimSpace(string(b)))
		}
		return nil
	}))
	for _, tool := range []string{"iptables", "ip6tables"} {
		save, err := exec.Command("ip", "netns", "exec", string(ns), tool+"-save").Output()
		require.NoError(t, err)
		for _, l := range strings.Split(string(save), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, tool+" "+strings.Split(l, " [")[0])
			}
		}
	}
	sort.Strings(lines)
	text := strings.Join(lines, "\n")
	text = strings.ReplaceAll(text, labName, "LAB")
	return strings.ReplaceAll(text, strings.ToUpper(labName), "LAB")
}

// TestDryRunReplay: the --dry-run script of each mode, run by bash under
// another lab name, builds the same links, addresses, routes, neighbour and
// FDB entries, sysctls and rules as netlab itself.
func TestDryRunReplay(t *testing.T) {
	labtest.Root(t)
	for _, args := range [][]string{{"docker-mode"}, {"docker-mode", "--ipv6"}, {"overlay-mode"}, {"overlay-mode", "--backend", "host-gw"}, {"overlay-mode", "--ipv6"}, {"overlay-mode", "--ipv6", "--backend", "host-gw"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			viaNetlab := labtest.NewLab(t, "n")
			viaShell := labtest.NewLab(t, "s")
			dry := labtest.MustRun(t, append(args, "--lab", viaShell, "--dry-run")...)
			assert.Empty(t, inventory.Scan(viaShell).Namespaces, "--dry-run changed nothing")
			bash := exec.Command("bash", "-s")
			bash.Stdin = strings.NewReader(dry.Stdout)
			var stderr bytes.Buffer
			bash.Stderr = &stderr
			require.NoError(t, bash.Run(), "the dry-run script fails:\n%s\n%s", stderr.String(), dry.Stdout)

			labtest.MustRun(t, append(args, "--lab", viaNetlab)...)
			s := readStatus(t, viaNetlab)
			var all []netops.NS
			for _, n := range s.Nodes {
				all = append(all, netops.NS(n.Netns))
			}
			for _, w := range s.Workloads {
				all = append(all, netops.NS(w.Netns))
			}
			all = append(all, netops.NS(viaNetlab+"-underlay"))
			for _, ns := range all {
				other := netops.NS(strings.Replace(string(ns), viaNetlab, viaShell, 1))
				// A link's operational state follows its carrier a moment
				// later (the kernel's linkwatch batches such events for up
				// to a second): allow the lab just built that moment.
				var a, b string
				for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					a, b = snapshot(t, ns, viaNetlab), snapshot(t, other, viaShell)
					if a == b || time.Now().After(deadline) {
						break
					}
				}
				assert.Equal(t, a, b, "namespace %s vs %s", ns, other)
			}
			// The script's namespaces carry the same markers: down removes them.
			assert.Len(t, inventory.Scan(viaShell).Namespaces, len(all))
		})
	}
}

// TestShellScriptMatches: scripts/docker-mode.sh, the teaching version,
// builds the same kernel state as netlab, for both Docker versions, and its
// down removes it.
func TestShellScriptMatches(t *testing.T) {
	labtest.Root(t)
	for _, v := range topo.DockerVersions {
		t.Run(v, func(t *testing.T) { shellScriptMatches(t, v) })
	}
}

func shellScriptMatches(t *testing.T, version string) {
	viaNetlab := labtest.NewLab(t, "n")
	viaShell := labtest.NewLab(t, "s")
	script, err := filepath.Abs("../../scripts/docker-mode.sh")
	require.NoError(t, err)
	out, err := exec.Command("bash", script, "up", viaShell, "2", "3", version).CombinedOutput()
	require.NoError(t, err, string(out))
	labtest.MustRun(t, "docker-mode", "--lab", viaNetlab, "--containers", "3", "--docker-version", version)
	s := readStatus(t, viaNetlab)
	var all []netops.NS
	for _, n := range s.Nodes {
		all = append(all, netops.NS(n.Netns))
	}
	for _, w := range s.Workloads {
		all = append(all, netops.NS(w.Netns))
	}
	for _, ns := range all {
		other := netops.NS(strings.Replace(string(ns), viaNetlab, viaShell, 1))
		assert.Equal(t, snapshot(t, ns, viaNetlab), snapshot(t, other, viaShell), "namespace %s vs %s", ns, other)
	}
	out, err = exec.Command("bash", script, "down", viaShell).CombinedOutput()
	require.NoError(t, err, string(out))
	labtest.AssertGone(t, viaShell)
}

// TestStatusJSONAndExecFlags: status --json without --lab is an array of
// every lab (in name order) and with --lab the one object; exec takes
// netlab's flags between NAME and "--".
func TestStatusJSONAndExecFlags(t *testing.T) {
	labtest.Root(t)
	a, b := labtest.NewLab(t, "j"), labtest.NewLab(t, "j")
	labtest.MustRun(t, "docker-mode", "--lab", a, "--nodes", "1", "--containers", "1")
	labtest.MustRun(t, "overlay-mode", "--lab", b, "--nodes", "1", "--pods", "1")
	labsIn := func() []string {
		var docs []status
		r := labtest.MustRun(t, "status", "--json")
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &docs), r.Stdout)
		var names []string
		for _, d := range docs {
			names = append(names, d.Lab)
		}
		return names
	}
	names := labsIn()
	assert.Contains(t, names, a)
	assert.Contains(t, names, b)
	assert.True(t, sort.StringsAreSorted(names), "in name order: %v", names)
	var one status
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "status", "--json", "--lab", b).Stdout), &one))
	assert.Equal(t, b, one.Lab)
	assert.Equal(t, "pod", one.Workloads[0].Kind)

	r := labtest.MustRun(t, "exec", "c1", "--lab", a, "--", "ip", "-4", "-o", "addr", "show", "eth0")
	assert.Contains(t, r.Stdout, "172.17.0.2/16", "--lab after NAME picks the lab")
	r = labtest.MustRun(t, "exec", "pod1", "--lab="+b, "-c", "sidecar", "--", "curl", "-s", "localhost:9376")
	assert.Contains(t, r.Stdout, "container=app client=127.0.0.1")

	labtest.MustRun(t, "down", "--lab", a)
	labtest.MustRun(t, "down", "--lab", b)
	names = labsIn()
	assert.NotContains(t, names, a)
	assert.NotContains(t, names, b)
}

// TestStatusSaysWhatIsThere: a lab that lost a namespace (an interrupted
// down, a learner's 'ip netns del') is reported as partial, with what is
// missing and what to run, and down still removes all of it.
func TestStatusSaysWhatIsThere(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "h")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--nodes", "1", "--containers", "2")
	var doc struct {
		Status, Hint string
		Missing      []string
	}
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "status", "--json", "--lab", name).Stdout), &doc))
	assert.Equal(t, "up", doc.Status)
	assert.Empty(t, doc.Missing)

	require.NoError(t, exec.Command("ip", "netns", "del", name+"-c2").Run())
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "status", "--json", "--lab", name).Stdout), &doc))
	assert.Equal(t, inventory.StatusPartial, doc.Status)
	assert.Equal(t, []string{name + "-c2"}, doc.Missing)
	assert.Contains(t, doc.Hint, "sudo netlab down --lab "+name)
	r := labtest.MustRun(t, "status", "--lab", name)
	assert.Contains(t, r.Stdout, "Partial: 1 of its namespaces are gone")
	labtest.MustRun(t, "down", "--lab", name)
}

// TestProxyModeNeedsNFT: on a machine without the nft tool, overlay-mode
// --proxy-mode nftables is refused before anything is made (exit 2, what
// to install); iptables mode does not need it.
func TestProxyModeNeedsNFT(t *testing.T) {
	labtest.Root(t)
	labtest.Binary(t) // built before PATH loses go
	// PATH as this machine's, but for nft.
	dir := t.TempDir()
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Name() == "nft" {
				continue
			}
			_ = os.Symlink(filepath.Join(d, e.Name()), filepath.Join(dir, e.Name())) // the first of a name wins, as in PATH
		}
	}
	t.Setenv("PATH", dir)
	name := labtest.NewLab(t, "nn")
	before := netnsNames(t)
	r := labtest.Run(t, "overlay-mode", "--lab", name, "--proxy-mode", "nftables")
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "--proxy-mode nftables: kube-proxy's nftables mode needs the nft tool, which is not installed: 'sudo apt-get install nftables'")
	assert.Equal(t, before, netnsNames(t), "nothing made")
	_, err := os.Stat(state.Dir(name))
	assert.True(t, os.IsNotExist(err), "no state left")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--nodes", "1", "--pods", "1")
}
