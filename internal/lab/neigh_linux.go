package lab

import (
	"os"
	"strconv"
	"strings"

	"netlab/internal/netops"
)

// neighLimit is the kernel's neighbour table limit (gc_thresh3), 0 when
// it cannot be read here (netlab itself in a namespace other than the
// machine's first, where the setting does not exist).
func neighLimit() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

// CheckNeigh refuses more workloads when the machine's neighbour table
// would not hold them (NeighRoom). Every named network namespace counts
// as one workload already there: netlab's containers, pods and nodes,
// and anyone else's, whose entries share the one table.
func CheckNeigh(more int) error {
	ents, _ := os.ReadDir(netops.NetnsDir)
	return NeighRoom(len(ents), more, neighLimit())
}
