package lab

import "netlab/internal/topo"

// NeighPerWorkload is how many entries of the kernel's neighbour (ARP)
// table a container or pod holds while it is used: its own for its
// gateway, and its node's for it (the controller's probes, a published
// port, a Service's DNAT). Pods that talk to each other add more; the
// limit below keeps room for them.
const NeighPerWorkload = 2

// NeighRoom says why workloads more (of this machine's labs) would not
// fit in the kernel's neighbour table, or "" when they would. The table
// is one for the whole machine, every network namespace's entries in it,
// and the kernel refuses new entries past gc_thresh3 ("neighbour table
// overflow"): pods stay unready and requests time out, with nothing else
// to say why. existing is how many workloads this machine's labs have;
// limit is gc_thresh3.
func NeighRoom(existing, more, limit int) error {
	need := NeighPerWorkload * (existing + more)
	if limit <= 0 || more <= 0 || need <= limit*3/4 {
		return nil
	}
	return topo.Inputf("%d more containers or pods would bring this machine's labs to %d, which need about %d entries of the kernel's neighbour (ARP) table; "+
		"it holds at most %d (net.ipv4.neigh.default.gc_thresh3), for every network namespace together, and past it pods stay unready and requests time out. "+
		"Raise it first (a setting of this machine's own, which netlab leaves to you): "+
		"sudo sysctl -w net.ipv4.neigh.default.gc_thresh1=%d net.ipv4.neigh.default.gc_thresh2=%d net.ipv4.neigh.default.gc_thresh3=%d",
		more, existing+more, need, limit, need, need*2, need*4)
}
