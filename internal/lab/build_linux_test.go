package lab

import (
	"strings"
	"testing"

	"netlab/internal/topo"
)

func TestResolveUnknownModel(t *testing.T) {
	_, _, err := Resolve(topo.Options{Lab: "lab1", Mode: "nosuch", Nodes: 2, Workloads: 2})
	if err == nil || !strings.Contains(err.Error(), `no model "nosuch"`) {
		t.Fatalf("got %v", err)
	}
}
