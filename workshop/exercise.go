// Package workshop holds the exercises of the workshop as data: how each
// breaks its own lab, the story users tell, the criteria a fix must meet
// (checked with real packets, and with kernel state only where the state
// is the point), a hint that follows from what the check observed, and a
// reference fix. A learner may fix a lab any sound way: the criteria judge
// what the network does, not which command made it do so. Start builds,
// breaks and records an exercise (through lab.Build, as any lab is
// built), Check judges it, Stop removes it; the CLI only prints.
package workshop

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/topo"
)

// Model is the networking model an exercise is about, as the exercise
// list and its JSON name it.
type Model string

// The models.
const (
	Docker     Model = "docker"
	Kubernetes Model = "kubernetes"
)

// Mode is the mode of a lab of the model: docker-mode builds the Docker
// model, overlay-mode the Kubernetes one.
func (m Model) Mode() string {
	if m == Kubernetes {
		return topo.OverlayMode
	}
	return topo.DockerMode
}

// Title is the model's name in a sentence: Docker, Kubernetes.
func (m Model) Title() string {
	if m == Kubernetes {
		return "Kubernetes"
	}
	return "Docker"
}

// Exercise is one broken lab to fix.
type Exercise struct {
	N          int
	ID         string
	Title      string
	Model      Model
	Difficulty string
	// Flags are the flags of the model's mode verb for the exercise's lab.
	Flags []string
	// Topology, if any, is the topology file of the exercise's lab (YAML).
	Topology string
	// Manifests, if any, are applied to the lab before it is broken.
	Manifests string
	// Story is what users report: the symptom, never the cause.
	Story func(e *Env) string
	// Break returns the ops that break a freshly built lab.
	Break func(e *Env) ([]netops.Op, error)
	// Criteria are what a fixed lab does.
	Criteria []Criterion
	// Solution is a reference fix, as commands a learner types.
	Solution func(e *Env) []string
}

// Criterion is one thing a fixed lab does, checked for real.
type Criterion struct {
	Name  string
	Check func(e *Env) Outcome
}

// Outcome is what a check saw: pass or not, what it observed (with the
// real addresses it probed), and on a failure, where to look next, from
// what it observed.
type Outcome struct {
	Pass     bool
	Observed string
	Hint     string
}

// Prefix starts the name of every exercise's lab: "ex" makes ex1, ex2, ...
// NETLAB_EXERCISE_PREFIX changes it, so that tests (or a second set of
// exercises) never meet a learner's labs.
var Prefix = "ex"

func init() {
	if p := os.Getenv("NETLAB_EXERCISE_PREFIX"); p != "" {
		Prefix = p
	}
}

// CheckPrefix reports whether Prefix makes valid lab names.
func CheckPrefix() error {
	if err := names.CheckLabName(Prefix + "10"); err != nil {
		return fmt.Errorf("NETLAB_EXERCISE_PREFIX=%q: %w", Prefix, err)
	}
	return nil
}

// Lab is the name of the exercise's own lab: it never disturbs a learner's
// other labs.
func (x Exercise) Lab() string { return Prefix + strconv.Itoa(x.N) }

// All are the exercises, by number.
var All []Exercise

// register adds x to All, which stays in the exercises' order whatever
// file registers which first.
func register(x Exercise) {
	All = append(All, x)
	slices.SortFunc(All, func(a, b Exercise) int { return a.N - b.N })
}

// Find returns the exercise numbered or called arg.
func Find(arg string) (Exercise, error) {
	for _, x := range All {
		if arg == strconv.Itoa(x.N) || arg == x.ID {
			return x, nil
		}
	}
	var ids []string
	for _, x := range All {
		ids = append(ids, fmt.Sprintf("%d (%s)", x.N, x.ID))
	}
	return Exercise{}, fmt.Errorf("no exercise %q: there are %s", arg, strings.Join(ids, ", "))
}

// FromLab returns the exercise whose lab is lab.
func FromLab(lab string) (Exercise, bool) {
	for _, x := range All {
		if x.Lab() == lab {
			return x, true
		}
	}
	return Exercise{}, false
}
