package overlay

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/netops"
	"netlab/internal/topo"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func resolve(t *testing.T, o topo.Options) *topo.Topology {
	t.Helper()
	if o.Lab == "" {
		o.Lab = "overlay"
	}
	o.Mode, o.WorkloadsF = Mode, "--pods"
	if o.Nodes == 0 {
		o.Nodes = 2
	}
	if o.Workloads == 0 {
		o.Workloads = 2
	}
	top, err := topo.Resolve(o)
	require.NoError(t, err)
	return top
}

func file(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "topo.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// TestPlanGolden pins the whole default script: what learners read with
// --dry-run. Run 'go test ./overlay -update' after an intended change.
func TestPlanGolden(t *testing.T) {
	got := netops.Script(Plan(resolve(t, topo.Options{})).Ops)
	p := filepath.Join("testdata", "overlay-mode.golden.sh")
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestPlanNodes(t *testing.T) {
	top := resolve(t, topo.Options{Nodes: 3, Workloads: 2})
	p := Plan(top)
	var names, ips []string
	for _, w := range p.Workloads {
		names, ips = append(names, w.Name), append(ips, w.IP.String())
		assert.Equal(t, []string{"app", "sidecar"}, w.Containers)
		assert.Equal(t, 9376, w.Port)
	}
	assert.Equal(t, []string{"pod1", "pod2", "pod3", "pod4", "pod5", "pod6"}, names)
	assert.Equal(t, []string{"10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3", "10.244.3.2", "10.244.3.3"}, ips)
	script := netops.Script(p.Ops)
	// node2 knows both peers: a route, an ARP entry and an FDB entry each.
	for _, want := range []string{
		"ip -n overlay-node2 neigh replace 10.244.1.0 lladdr 0e:6c:c0:a8:38:0b dev flannel.1 nud permanent",
		"bridge -n overlay-node2 fdb replace 0e:6c:c0:a8:38:0b dev flannel.1 dst 192.168.56.11 self permanent",
		"ip -n overlay-node2 route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink",
		"ip -n overlay-node2 route add 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink",
		"ip -n overlay-node2 link add flannel.1 address 0e:6c:c0:a8:38:0c mtu 1450 type vxlan id 1 local 192.168.56.12 dev eth1 dstport 8472 nolearning",
		"ip -n overlay-node2 addr add 10.244.2.0/32 dev flannel.1",
		"ip -n overlay-node2 link add veth-pod3 master cni0 mtu 1450 up type veth peer name eth0 mtu 1450 netns overlay-pod3",
	} {
		assert.Contains(t, script, want+"\n")
	}
	assert.NotContains(t, script, "route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\nip -n overlay-node2", "no route to a node's own pods")
	assert.Equal(t, 2, strings.Count(script, "ip -n overlay-node1 route add 10.244."), "one route per peer")
}

func TestMTUIsComputed(t *testing.T) {
	top := resolve(t, topo.Options{File: file(t, "underlay_mtu: 9000\n")})
	assert.Equal(t, 8950, top.MTU())
	script := netops.Script(Plan(top).Ops)
	assert.Contains(t, script, "link add node1 master br-underlay mtu 9000 up type veth")
	assert.Contains(t, script, "link add flannel.1 address 0e:6c:c0:a8:38:0b mtu 8950 type vxlan")
	assert.Contains(t, script, "link add cni0 address 0a:58:0a:f4:01:01 mtu 8950 type bridge")
}

func TestSubnetLen(t *testing.T) {
	top := resolve(t, topo.Options{File: file(t, `
overlay: {subnet_len: 22}
nodes:
  - {name: node1, ip: 192.168.56.11, pods: 500}
  - {name: node2, ip: 192.168.56.12, pods: 500}
`)})
	assert.Equal(t, netip.MustParsePrefix("10.244.4.0/22"), top.Nodes[0].PodCIDR)
	assert.Equal(t, netip.MustParsePrefix("10.244.8.0/22"), top.Nodes[1].PodCIDR)
	p := Plan(top)
	require.Len(t, p.Workloads, 1000)
	assert.Equal(t, "10.244.5.245", p.Workloads[499].IP.String())
	_, err := topo.Resolve(topo.Options{Lab: "overlay", Mode: Mode, Nodes: 2, Workloads: 254, WorkloadsF: "--pods"})
	assert.ErrorContains(t, err, "254 pods do not fit 10.244.1.0/24")
}

// TestRealNode: on a VM, only the machine's own node is built, on its own
// stack (commands without -n), with every peer's entries.
func TestRealNode(t *testing.T) {
	top := resolve(t, topo.Options{Node: "node2"})
	assert.False(t, top.Embedded)
	assert.Nil(t, top.Outside)
	p := Plan(top)
	script := netops.Script(p.Ops)
	assert.NotContains(t, script, "overlay-node")
	assert.NotContains(t, script, "underlay")
	assert.Contains(t, script, "ip link add flannel.1 address 0e:6c:c0:a8:38:0c mtu 1450 type vxlan id 1 local 192.168.56.12 dev eth1 dstport 8472 nolearning\n")
	assert.Contains(t, script, "ip route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink\n")
	assert.Contains(t, script, "ip link add veth-pod3 master cni0 mtu 1450 up type veth peer name eth0 mtu 1450 netns overlay-pod3\n")
	assert.Contains(t, script, "iptables -w -t nat -A FLANNEL-POSTRTG -s 10.244.2.0/24 -d 10.244.0.0/16 -m comment --comment 'flanneld masq'")
	var names []string
	for _, w := range p.Workloads {
		names = append(names, w.Name)
	}
	assert.Equal(t, []string{"pod3", "pod4"}, names, "pods are numbered across the cluster")
	assert.Len(t, p.Runtimes, 1)

	top.ChecksumFix = "the underlay NIC eth1 is a virtual NIC (virtio_net)"
	assert.Contains(t, netops.Script(Plan(top).Ops), "ethtool -K flannel.1 tx-checksum-ip-generic off\n")

	_, err := topo.Resolve(topo.Options{Lab: "overlay", Mode: Mode, Nodes: 2, Workloads: 2, WorkloadsF: "--pods", Node: "node9"})
	assert.ErrorContains(t, err, `--node "node9": the topology has no such node (node1, node2)`)
}

func TestVTEPMAC(t *testing.T) {
	assert.Equal(t, "0e:6c:c0:a8:38:0b", VTEPMAC(netip.MustParseAddr("192.168.56.11")))
}
