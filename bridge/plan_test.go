package bridge

import (
	"flag"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/topo"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func topology(t *testing.T, nodes, per int) *topo.Topology {
	t.Helper()
	top, err := topo.Resolve(topo.Options{Lab: "docker", Mode: Mode, Nodes: nodes, Workloads: per, WorkloadsF: "--containers"})
	require.NoError(t, err)
	return top
}

// counter is a repeatable stand-in for the randomness of MACs.
type counter struct{ n byte }

func (c *counter) Read(b []byte) (int, error) {
	for i := range b {
		c.n++
		b[i] = c.n
	}
	return len(b), nil
}

// TestPlanGolden pins the whole default script, for each Docker version:
// what learners read with --dry-run. Run 'go test ./bridge -update' after
// an intended change. Random MACs come from a counter here.
func TestPlanGolden(t *testing.T) {
	defer func(r io.Reader) { macRand = r }(macRand)
	for _, v := range topo.DockerVersions {
		t.Run(v, func(t *testing.T) {
			macRand = &counter{}
			top := topology(t, 2, 2)
			top.Docker.Version = v
			got := netops.Script(Plan(top).Ops)
			p := filepath.Join("testdata", "docker-mode-"+v+".golden.sh")
			if *update {
				require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
			}
			want, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

// TestMACs: Docker 20.10's container MACs come from their address, its
// bridge's are 02:42 and random; Docker 28's are all random, locally
// administered and unicast; each plan draws new ones.
func TestMACs(t *testing.T) {
	assert.Equal(t, "02:42:ac:11:00:02", MAC(netip.MustParseAddr("172.17.0.2")))
	old := BridgeMAC(topo.Docker{Version: topo.Docker2010})
	assert.Regexp(t, `^02:42(:[0-9a-f]{2}){4}$`, old)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		m, err := net.ParseMAC(BridgeMAC(topo.Docker{Version: topo.Docker28}))
		require.NoError(t, err)
		assert.Equal(t, byte(0x02), m[0]&0x03, "locally administered, unicast: %s", m)
		seen[m.String()] = true
	}
	assert.Greater(t, len(seen), 95, "random")
}

func TestPlan(t *testing.T) {
	p := Plan(topology(t, 2, 3))
	require.Len(t, p.Workloads, 6)
	var wnames, ips, nodes []string
	for _, w := range p.Workloads {
		wnames, ips, nodes = append(wnames, w.Name), append(ips, w.IP.String()), append(nodes, w.Node)
		assert.Equal(t, "container", w.Kind)
		assert.Equal(t, "docker-"+w.Name, string(w.NS))
		assert.Equal(t, "veth-"+w.Name, w.HostIface)
		assert.NoError(t, names.CheckIfName(w.HostIface))
	}
	assert.Equal(t, []string{"c1", "c2", "c3", "c4", "c5", "c6"}, wnames)
	assert.Equal(t, []string{"172.17.0.2", "172.17.0.3", "172.17.0.4", "172.17.0.2", "172.17.0.3", "172.17.0.4"}, ips)
	assert.Equal(t, []string{"node1", "node1", "node1", "node2", "node2", "node2"}, nodes)
	// underlay + 2 nodes + outside + 6 containers
	assert.Len(t, p.Namespaces, 10)
	assert.Len(t, p.Runtimes, 3, "one server per node and one on the outside host")

	// Every namespace is created before anything acts in it.
	made := map[netops.NS]bool{}
	for _, op := range netops.Flatten(p.Ops) {
		if a, ok := op.(netops.NetnsAdd); ok {
			made[netops.NS(a.Name)] = true
			continue
		}
		for _, c := range op.Commands() {
			for _, ns := range p.Namespaces {
				if strings.Contains(c, " "+string(ns)+" ") {
					assert.True(t, made[ns], "%q acts in %s before it exists", c, ns)
				}
			}
		}
	}
}

func firewallOf(t *testing.T, p lab.Plan, ipv6 bool) netops.IPTables {
	t.Helper()
	var ipt netops.IPTables
	for _, op := range netops.Flatten(p.Ops) {
		if o, ok := op.(netops.IPTables); ok && o.IPv6 == ipv6 {
			ipt = o
		}
	}
	require.NotEmpty(t, ipt.Rules)
	return ipt
}

// TestRules: on an embedded node, Docker's chains and rules in the layout
// of its version, with the FORWARD policy DROP (TestDockerMatchesRealDocker
// compares them with what dockerd wrote); on a real node, chains of
// netlab's own that built-in chains only jump to, and no policy.
func TestRules(t *testing.T) {
	top := topology(t, 1, 2)
	assert.Equal(t, topo.Docker28, top.Docker.Version, "today's Docker by default")
	ipt := firewallOf(t, Plan(top), false)
	text := strings.Join(ipt.Commands(), "\n")
	assert.Contains(t, text, "-t filter -P FORWARD DROP")
	assert.Contains(t, text, "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -m comment --comment 'netlab:docker containers leaving the host take its address' -j MASQUERADE")
	assert.Contains(t, text, "-A DOCKER ! -i docker0 -p tcp --dport 8080 -m comment")
	assert.Contains(t, text, "-j DNAT --to-destination 172.17.0.2:80")
	for _, ip := range []string{"172.17.0.2", "172.17.0.3"} {
		assert.Contains(t, text, "-t raw -A PREROUTING -d "+ip+"/32 ! -i docker0 -m comment", "28 drops what is routed to every container")
	}
	assert.NotContains(t, text, "-s 172.17.0.2/32 -d 172.17.0.2/32", "28 leaves the hairpin to docker-proxy")
	for _, c := range []string{"DOCKER", "DOCKER-USER", "DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"} {
		assert.Contains(t, text, "-N "+c+"\n")
	}
	ip6 := strings.Join(firewallOf(t, Plan(top), true).Commands(), "\n")
	assert.Contains(t, ip6, "ip6tables -w -t nat -A OUTPUT ! -d ::1/128")
	assert.NotContains(t, ip6, " iptables ")

	top.Docker.AllowDirectRouting = true
	text = strings.Join(firewallOf(t, Plan(top), false).Commands(), "\n")
	assert.NotContains(t, text, "-t raw", "allow-direct-routing: no drops")

	top.Docker.AllowDirectRouting, top.Docker.Version = false, topo.Docker2010
	ipt = firewallOf(t, Plan(top), false)
	text = strings.Join(ipt.Commands(), "\n")
	assert.NotContains(t, text, "-t raw")
	assert.NotContains(t, text, "DOCKER-FORWARD")
	assert.Contains(t, text, "-A FORWARD -m comment --comment 'netlab:docker Docker networks do not reach each other' -j DOCKER-ISOLATION-STAGE-1")
	assert.Contains(t, text, "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32")
	for _, op := range netops.Flatten(Plan(top).Ops) {
		o, ok := op.(netops.IPTables)
		assert.False(t, ok && o.IPv6, "20.10 writes no ip6tables")
	}
	for _, r := range ipt.Rules {
		assert.NotEmpty(t, r.Why, "every rule says why it exists: %v", r.Spec)
	}

	for _, v := range topo.DockerVersions {
		top := topology(t, 1, 2)
		top.Docker.Version = v
		top.Embedded, top.Local = false, "node1"
		top.Nodes[0].NS = netops.Host
		p := Plan(top)
		ipt = firewallOf(t, p, false)
		assert.Empty(t, ipt.Policies, "a real node's policies are its own")
		text = strings.Join(ipt.Commands(), "\n")
		assert.Contains(t, text, "-A NETLAB-DOCKER-SNAT -s 172.17.0.0/16 ! -o docker0")
		assert.NotContains(t, text, " DOCKER ", "no chain of Docker's on a real node")
		if v == topo.Docker28 {
			assert.Contains(t, text, "-t raw -A NETLAB-DOCKER-RAW -d 172.17.0.3/32 ! -i docker0")
		} else {
			assert.NotContains(t, text, "-t raw")
		}
		for _, op := range netops.Flatten(p.Ops) {
			o, ok := op.(netops.IPTables)
			assert.False(t, ok && o.IPv6, "no ip6tables on a real node")
		}
		for _, r := range ipt.Rules {
			assert.NotEmpty(t, r.Why, "every rule says why it exists: %v", r.Spec)
			if r.Chain == "PREROUTING" || r.Chain == "POSTROUTING" || r.Chain == "OUTPUT" || r.Chain == "FORWARD" {
				assert.True(t, strings.HasPrefix(r.Spec[len(r.Spec)-1], "NETLAB-"), "built-in chains only jump to our chains: %v", r.Spec)
			}
		}
		for _, c := range ipt.Chains {
			assert.LessOrEqual(t, len(c.Name), names.MaxChain, c.Name)
		}
	}
}
