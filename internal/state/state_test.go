package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/topo"
)

func opts() topo.Options {
	return topo.Options{Lab: "docker", Mode: "docker", Nodes: 2, Workloads: 2, WorkloadsF: "--containers"}
}

func TestStateRoundTrip(t *testing.T) {
	old := RunDir
	RunDir = t.TempDir()
	defer func() { RunDir = old }()
	_, err := Load("docker")
	assert.ErrorIs(t, err, ErrNoState)
	top, err := topo.Resolve(opts())
	require.NoError(t, err)
	s := &State{Lab: "docker", Mode: "docker", Status: StatusUp, Topology: top,
		Workloads: []Workload{{Name: "c1", Kind: "container", Node: "node1", NS: "docker-c1"}}}
	require.NoError(t, Save(s))
	got, err := Load("docker")
	require.NoError(t, err)
	assert.Equal(t, s.Workloads, got.Workloads)
	ns, ok := got.Find("c1")
	assert.True(t, ok)
	assert.Equal(t, "docker-c1", string(ns))
	ns, ok = got.Find("outside")
	assert.True(t, ok)
	assert.Equal(t, "docker-outside", string(ns))
	assert.Equal(t, []string{"docker"}, StateLabs())

	require.NoError(t, os.WriteFile(filepath.Join(Dir("docker"), "state.json"), []byte("{garbage"), 0o644))
	_, err = Load("docker")
	assert.ErrorIs(t, err, ErrNoState, "a damaged state file is no state, not a crash")
}
