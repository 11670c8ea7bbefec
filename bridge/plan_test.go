package bridge

import (
	"flag"
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

// TestPlanGolden pins the whole default script: what learners read with
// --dry-run. Run 'go test ./bridge -update' after an intended change.
func TestPlanGolden(t *testing.T) {
	got := netops.Script(Plan(topology(t, 2, 2)).Ops)
	p := filepath.Join("testdata", "docker-mode.golden.sh")
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
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

func firewallOf(t *testing.T, p lab.Plan) netops.IPTables {
	t.Helper()
	var ipt netops.IPTables
	for _, op := range netops.Flatten(p.Ops) {
		if o, ok := op.(netops.IPTables); ok {
			ipt = o
		}
	}
	require.NotEmpty(t, ipt.Rules)
	return ipt
}

// TestRules: on an embedded node, Docker's chains and rules, with the
// FORWARD policy DROP (TestDockerMatchesRealDocker compares them with what
// dockerd wrote); on a real node, chains of netlab's own that built-in
// chains only jump to, and no policy.
func TestRules(t *testing.T) {
	top := topology(t, 1, 2)
	ipt := firewallOf(t, Plan(top))
	text := strings.Join(ipt.Commands(), "\n")
	assert.Contains(t, text, "-t filter -P FORWARD DROP")
	assert.Contains(t, text, "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -m comment --comment 'netlab:docker containers leaving the host take its address' -j MASQUERADE")
	assert.Contains(t, text, "-A DOCKER ! -i docker0 -p tcp --dport 8080 -m comment")
	assert.Contains(t, text, "-j DNAT --to-destination 172.17.0.2:80")
	for _, c := range []string{"DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"} {
		assert.Contains(t, text, "-N "+c+"\n")
	}
	for _, r := range ipt.Rules {
		assert.NotEmpty(t, r.Why, "every rule says why it exists: %v", r.Spec)
	}

	top.Embedded, top.Local = false, "node1"
	top.Nodes[0].NS = netops.Host
	ipt = firewallOf(t, Plan(top))
	assert.Empty(t, ipt.Policies, "a real node's policies are its own")
	text = strings.Join(ipt.Commands(), "\n")
	assert.Contains(t, text, "-A NETLAB-DOCKER-SNAT -s 172.17.0.0/16 ! -o docker0")
	assert.NotContains(t, text, " DOCKER ", "no chain of Docker's on a real node")
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
