package lab

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

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

// AddFlags adds m's own flags to fs; the function it returns sets in o
// those that were given.
func (m Mode) AddFlags(fs *pflag.FlagSet) func(o *topo.Options) {
	bools := make([]bool, len(m.Bools))
	strs := make([]string, len(m.Strings))
	for i, f := range m.Bools {
		fs.BoolVar(&bools[i], f.Name, f.Default, f.Usage)
	}
	for i, f := range m.Strings {
		fs.StringVar(&strs[i], f.Name, f.Default, f.Usage)
	}
	return func(o *topo.Options) {
		for i, f := range m.Bools {
			if fs.Changed(f.Name) {
				f.Set(o, bools[i])
			}
		}
		for i, f := range m.Strings {
			if fs.Changed(f.Name) {
				f.Set(o, strs[i])
			}
		}
	}
}

// Options are the options of lab name of m's model with its default size
// and m's own flags in args, as its verb takes them ("--backend",
// "host-gw"): what compare and the exercises build, said the way a
// learner would type it.
func (m Mode) Options(name string, args []string) (topo.Options, error) {
	fs := pflag.NewFlagSet(m.Verb, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	set := m.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return topo.Options{}, fmt.Errorf("%s %s: %w", m.Verb, strings.Join(args, " "), err)
	}
	if fs.NArg() > 0 {
		return topo.Options{}, fmt.Errorf("%s takes no arguments, got %q", m.Verb, fs.Args())
	}
	o := topo.Options{Lab: name, Mode: m.Name, Nodes: topo.DefaultNodes, Workloads: topo.DefaultWorkloads, WorkloadsF: "--" + m.Workloads}
	set(&o)
	return o, nil
}
