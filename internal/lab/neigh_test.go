package lab

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"netlab/internal/topo"
)

// TestNeighRoom: past three quarters of gc_thresh3 (two entries a
// workload), more workloads are refused as bad input, with the sysctl
// that makes room; an unknown limit refuses nothing.
func TestNeighRoom(t *testing.T) {
	assert.NoError(t, NeighRoom(20, 300, 1024), "640 of 1024")
	assert.NoError(t, NeighRoom(0, 384, 1024), "768 of 1024: three quarters")
	err := NeighRoom(20, 480, 1024)
	if assert.Error(t, err) {
		assert.True(t, topo.IsInput(err), "bad input: exit 2, nothing changed")
		assert.Contains(t, err.Error(), "480 more containers or pods would bring this machine's labs to 500, which need about 1000 entries")
		assert.Contains(t, err.Error(), "it holds at most 1024 (net.ipv4.neigh.default.gc_thresh3)")
		assert.Contains(t, err.Error(), "sudo sysctl -w net.ipv4.neigh.default.gc_thresh1=1000 net.ipv4.neigh.default.gc_thresh2=2000 net.ipv4.neigh.default.gc_thresh3=4000")
	}
	assert.NoError(t, NeighRoom(20, 480, 4000), "after the sysctl the same fits")
	assert.NoError(t, NeighRoom(20, 100000, 0), "limit unknown (netlab in a namespace): no refusal")
}

// TestNeighRoomNothingMore: what adds nothing is never refused, however
// full the machine already is.
func TestNeighRoomNothingMore(t *testing.T) {
	assert.NoError(t, NeighRoom(2000, 0, 1024))
}
