package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/bridge"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
	"netlab/overlay"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// renderState is the state of a lab as up leaves it, made without the
// kernel: the topology resolved and the plan built, as up does them.
func renderState(t *testing.T, mode string, node string, backend ...string) *state.State {
	t.Helper()
	o := topo.Options{Lab: mode, Mode: mode, Nodes: 2, Workloads: 2, WorkloadsF: "--containers", Node: node}
	if len(backend) > 0 {
		o.Backend = &backend[0]
	}
	top, err := topo.Resolve(o)
	require.NoError(t, err)
	plan := bridge.Plan
	if mode == overlay.Mode {
		plan = overlay.Plan
		if node != "" && top.Overlay.Backend == topo.VXLAN {
			top.ChecksumFix = "the underlay NIC eth1 is a virtual NIC (virtio_net)"
		}
	}
	p := plan(top)
	s := &state.State{Lab: mode, Mode: mode, Status: state.StatusUp, Created: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC),
		Topology: top, Workloads: p.Workloads, Namespaces: p.Namespaces, Proxies: p.Proxies}
	if node != "" {
		s.HostSysctls = []state.HostSysctl{{Key: "net.ipv4.ip_forward", Was: "0", Set: "1"}}
	}
	return s
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run 'go test ./cmd/netlab -run TestRender -update' after an intended change")
	assert.Equal(t, string(want), string(got), "%s differs: 'go test ./cmd/netlab -run TestRender -update' after an intended change", p)
}

// TestRender pins what a learner reads after up and in status, and what
// scripts read in status --json, for both models, embedded and on a real
// node, from fixed states: no kernel, no root.
//
// The run directory holds, for every case, a lab of the same name with a
// Service applied, as 'make lab' leaves one up: rendering must not read
// it (the state printed is the one passed in, and so is the summary).
func TestRender(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	oldRun := state.RunDir
	state.RunDir = t.TempDir()
	defer func() { state.RunDir = oldRun }()
	applied, err := json.Marshal(kube.Store{Services: []kube.Service{{Namespace: "default", Name: "my-service"}}})
	require.NoError(t, err)
	for _, lab := range []string{bridge.Mode, overlay.Mode} {
		require.NoError(t, state.SaveFile(lab, "kube.json", applied))
	}
	for _, c := range []struct{ name, mode, node, backend string }{
		{"docker", bridge.Mode, "", ""},
		{"overlay", overlay.Mode, "", "vxlan"},
		{"docker-vm", bridge.Mode, "node1", ""},
		{"overlay-vm", overlay.Mode, "node2", "vxlan"},
		{"hostgw", overlay.Mode, "", "host-gw"},
		{"hostgw-vm", overlay.Mode, "node1", "host-gw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var backend []string
			if c.backend != "" {
				backend = []string{c.backend}
			}
			s := renderState(t, c.mode, c.node, backend...)
			var up, st bytes.Buffer
			printUp(&up, s, 1500*time.Millisecond)
			golden(t, c.name+".up.golden", up.Bytes())
			printStatus(&st, s, s.Status, "", nil)
			golden(t, c.name+".status.golden", st.Bytes())
			js, err := json.MarshalIndent(statusJSON(s), "", "  ")
			require.NoError(t, err)
			golden(t, c.name+".status.json.golden", append(js, '\n'))
		})
	}
}

// TestSummarize pins the line status adds for what manifests put into a
// lab: nothing when only the lab's own objects (the DNS) are there.
func TestSummarize(t *testing.T) {
	assert.Empty(t, summarize(kube.Store{}, true))
	dns := kube.Store{
		Services: []kube.Service{{Namespace: "kube-system", Name: "kube-dns"}},
		Pods:     []kube.Pod{{Namespace: "kube-system", Name: "coredns"}},
	}
	assert.Empty(t, summarize(dns, true), "the cluster DNS alone is not the user's")
	st := dns
	st.Services = append(st.Services, kube.Service{Namespace: "default", Name: "my-service"})
	st.Deployments = []kube.Deployment{{Namespace: "default", Name: "myapp"}}
	st.Pods = append(st.Pods, kube.Pod{Namespace: "default", Name: "myapp-1"}, kube.Pod{Namespace: "default", Name: "myapp-2"})
	assert.Equal(t, "Applied: 1 Deployment, 1 Service, 2 pods, and the cluster DNS (netlab get pods -o wide; netlab get services).",
		summarize(st, true))
	vm := summarize(st, false)
	assert.Contains(t, vm, "\nCluster "+st.Fingerprint()+": every VM")
}
