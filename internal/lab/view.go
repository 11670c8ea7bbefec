package lab

import (
	"net/netip"

	"netlab/internal/api"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// View is how a networking model describes a lab of its own: to a learner
// (the picture, the table, what was built, what to try next) and to
// scripts (its part of status --json). Each model registers one, so the
// CLI never branches on the mode: a third model, or a new view of the
// labs, adds a file, not a branch in ten places.
type View interface {
	// Model names the model: "the Docker model".
	Model() string
	// Kind names its workloads: "container".
	Kind() string
	// Bridge is a node's workload bridge and its address.
	Bridge(s *state.State, n topo.Node) (string, netip.Prefix)
	// Underlay says what else the underlay carries, for the picture.
	Underlay(s *state.State) string
	// NodeDetail follows a local node's bridge in the picture.
	NodeDetail(s *state.State, n topo.Node) string
	// NodeInterfaces follows a node's bridge in the table.
	NodeInterfaces(s *state.State, n topo.Node) string
	// Built says in plain words what the model made on every node.
	Built(s *state.State) []string
	// Steps are commands worth trying next, with the lab's real names;
	// cmd turns "exec c1 -- ..." into the full command line.
	Steps(s *state.State, cmd func(format string, a ...any) string) []Step
	// Join says what joins the workloads of node a to those of node b, for
	// the diagram: "" when nothing does (the Docker model).
	Join(s *state.State, a, b topo.Node) string
	// Decode returns the tcpdump arguments that decode the model's own
	// encapsulation where hosts meet (-T vxlan), if it has one.
	Decode(s *state.State) []string
	// Status fills in the model's own part of status --json.
	Status(s *state.State, d *api.Status)
	// Published is the address on its node that leads to w's server from
	// anywhere (a Docker published port), if there is one.
	Published(s *state.State, w state.Workload) (netip.AddrPort, bool)
}

// Step is a command worth trying, and why.
type Step struct{ Cmd, Why string }

var views = map[string]View{}

// RegisterView makes v the view of mode's labs.
func RegisterView(mode string, v View) { views[mode] = v }

// ViewOf returns the view of s's model.
func ViewOf(s *state.State) View {
	if v, ok := views[s.Mode]; ok {
		return v
	}
	panic("netlab: no view of mode " + s.Mode)
}
