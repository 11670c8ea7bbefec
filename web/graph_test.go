package web

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/bridge"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
)

// TestGraphDockerNetworks: the live view draws a bridge per Docker network,
// each container's veths from the bridges of its networks (traffic counted
// on its own interface there), and the network modes for what they are.
func TestGraphDockerNetworks(t *testing.T) {
	top, err := topo.Resolve(topo.Options{Lab: "g", Mode: topo.DockerMode, Nodes: 1, Workloads: 1, WorkloadsF: "--containers",
		File: "../examples/docker-networks.yaml"})
	require.NoError(t, err)
	p := bridge.Plan(top)
	s := &state.State{Lab: "g", Mode: topo.DockerMode, Topology: top, Workloads: p.Workloads}
	edges := map[string]Data{}
	labels := map[string]string{}
	for _, e := range Graph([]*state.State{s}) {
		if e.Group == "edges" {
			edges[e.Data.Source+" > "+e.Data.Target] = e.Data
		} else {
			labels[e.Data.ID] = e.Data.Label
		}
	}
	app, other := top.Docker.Network("app").Bridge, top.Docker.Network("other").Bridge
	assert.Contains(t, labels["g/node1/"+app], "(app)")
	e, ok := edges["g/node1/"+other+" > g/w/c5"]
	require.True(t, ok, "c5's second veth, from other's bridge")
	assert.Equal(t, "eth1", e.Iface)
	assert.Equal(t, "veth-c5-1 ↔ eth1", e.Label)
	_, ok = edges["g/w/c1 > g/w/c6"]
	assert.True(t, ok, "c6 in c1's namespace")
	_, ok = edges["g/node1 > g/w/c8"]
	assert.True(t, ok, "c8 in node1's stack")
	assert.Equal(t, "c7\nnetwork none", labels["g/w/c7"])
	for k := range edges {
		assert.NotContains(t, k, "docker0 > g/w/c1", "c1 is on app, not on docker0")
	}
	_, ok = edges["g/node1/docker0 > g/w/c9"]
	assert.True(t, ok, "c9 on the default bridge")
}

// TestGraphPodNames: pods of one name in two namespaces (the probe's x/a
// and y/a) are two boxes, each named as trace takes it, NAMESPACE/NAME;
// a name of one pod stays bare.
func TestGraphPodNames(t *testing.T) {
	top, err := topo.Resolve(topo.Options{Lab: "g", Mode: topo.OverlayMode, Nodes: 2, Workloads: 1, WorkloadsF: "--pods"})
	require.NoError(t, err)
	s := &state.State{Lab: "g", Mode: topo.OverlayMode, Topology: top}
	pods := []kube.Pod{
		{Namespace: "x", Name: "a", Node: "node1"},
		{Namespace: "y", Name: "a", Node: "node2"},
		{Namespace: "x", Name: "b", Node: "node1"},
	}
	got := podsByNode(s, pods)
	var names []string
	for _, n := range []string{"node1", "node2"} {
		for _, p := range got[n] {
			names = append(names, n+" "+p.name)
		}
	}
	assert.Equal(t, []string{"node1 x/a", "node1 b", "node2 y/a"}, names)
}
