package lab

import (
	"sort"

	"netlab/internal/topo"
)

// Mode is a networking model as the command line offers it: its verb
// (docker-mode), its name (the default lab's), what it calls its
// workloads (the --containers or --pods flag), its help, its plan, and its
// own flags. Each model registers one; the CLI makes a verb of each and
// knows none of them.
type Mode struct {
	Verb, Name, Workloads, Short, Long string
	Plan                               func(*topo.Topology) Plan
	Bools                              []BoolFlag
	Strings                            []StringFlag
}

// StringFlag is a model's own flag with a value: when given, Set applies it.
type StringFlag struct {
	Name, Usage, Default string
	Set                  func(o *topo.Options, v string)
}

// BoolFlag is a model's own on/off flag: when given, Set applies it.
type BoolFlag struct {
	Name, Usage string
	Default     bool
	Set         func(o *topo.Options, v bool)
}

var modes = map[string]Mode{}

// ModeNamed returns the mode called name (docker, overlay): a lab's Mode.
func ModeNamed(name string) (Mode, bool) {
	for _, m := range modes {
		if m.Name == name {
			return m, true
		}
	}
	return Mode{}, false
}

// RegisterMode offers m on the command line.
func RegisterMode(m Mode) { modes[m.Verb] = m }

// Modes returns the registered modes, by verb.
func Modes() []Mode {
	var ms []Mode
	for _, m := range modes {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Verb < ms[j].Verb })
	return ms
}
