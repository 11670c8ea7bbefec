package lab

import (
	"strings"
	"testing"

	"netlab/internal/topo"
)

// testMode has one flag of each kind, as the models' own flags are.
var testMode = Mode{Verb: "test-mode", Name: "test", Workloads: "things",
	Bools:   []BoolFlag{{Name: "proxy", Default: true, Set: func(o *topo.Options, v bool) { o.UserlandProxy = &v }}},
	Strings: []StringFlag{{Name: "backend", Default: "vxlan", Set: func(o *topo.Options, v string) { o.Backend = &v }}},
}

func TestModeOptions(t *testing.T) {
	o, err := testMode.Options("lab1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Lab != "lab1" || o.Mode != "test" || o.Nodes != topo.DefaultNodes || o.Workloads != topo.DefaultWorkloads || o.WorkloadsF != "--things" {
		t.Errorf("defaults: %+v", o)
	}
	if o.UserlandProxy != nil || o.Backend != nil {
		t.Errorf("flags not given are set: %+v", o)
	}
	o, err = testMode.Options("lab1", []string{"--proxy=false", "--backend", "host-gw"})
	if err != nil {
		t.Fatal(err)
	}
	if o.UserlandProxy == nil || *o.UserlandProxy || o.Backend == nil || *o.Backend != "host-gw" {
		t.Errorf("flags given are not set: %+v", o)
	}
}

func TestModeOptionsRefused(t *testing.T) {
	for _, args := range [][]string{{"--nodes", "3"}, {"--proxy=maybe"}, {"--backend"}, {"stray"}} {
		if _, err := testMode.Options("lab1", args); err == nil || !strings.Contains(err.Error(), "test-mode") {
			t.Errorf("%q: got %v, want an error naming the verb", args, err)
		}
	}
}
