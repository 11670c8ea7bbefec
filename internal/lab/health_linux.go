package lab

import (
	"fmt"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// Lab states beyond the state file's own ("building", "up"), as status
// reports them.
const (
	// StatusInterrupted: an up that did not finish, and no command runs.
	StatusInterrupted = "interrupted"
	// StatusPartial: up, but namespaces or processes it made are gone.
	StatusPartial = "partial"
	// StatusDamaged: the lab's objects are there, its state file is not
	// readable.
	StatusDamaged = "damaged"
)

// Health is what is really there of a lab whose state says it is up or
// building: its status, the namespaces gone from its plan, and what to run.
type Health struct {
	Status  string
	Missing []netops.NS
	Hint    string
}

// Check compares s with the kernel and /proc.
func Check(s *state.State) Health {
	down := fmt.Sprintf("sudo netlab down --lab %s", s.Lab)
	if s.Status == state.StatusBuilding {
		if state.Locked(s.Lab) {
			return Health{Status: state.StatusBuilding, Hint: "an up is running"}
		}
		return Health{Status: StatusInterrupted, Hint: "an up stopped before it finished: remove what it made with '" + down + "'"}
	}
	found := map[netops.NS]bool{}
	for _, ns := range Scan(s.Lab).Namespaces {
		found[ns] = true
	}
	var h Health
	for _, ns := range s.Namespaces {
		if !found[ns] {
			h.Missing = append(h.Missing, ns)
		}
	}
	running := false
	for _, l := range RuntimeLabs() {
		running = running || l == s.Lab
	}
	switch {
	case len(h.Missing) > 0:
		h.Status = StatusPartial
		h.Hint = fmt.Sprintf("%d of its namespaces are gone (an interrupted down?): remove the rest with '%s', then build it again", len(h.Missing), down)
	case !running && len(s.Workloads) > 0:
		h.Status = StatusPartial
		h.Hint = "its workloads' processes are gone: remove it with '" + down + "', then build it again"
	default:
		h.Status = s.Status
	}
	return h
}
