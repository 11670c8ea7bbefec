// Package lab brings a lab up and down, whichever its model: a model
// (bridge, overlay) registers itself as a Mode with a pure Plan of
// printable netops Ops and a View that describes it (picture, table, what
// was built, what to try), so the CLI never branches on the model. Up
// writes the state before the first kernel change, runs the plan, starts
// the workloads' runtimes (internal/podruntime's spec) and rolls back all
// it made when anything fails; Down removes what a lab made, found by its
// markers, with or without its state, and nothing else. CheckHost looks
// at a real node before anything is built there; CheckNeigh at the
// kernel's neighbour table. Resolve, Build and Remove are the one way
// any caller (the mode verbs, compare, the workshop) builds and removes a
// lab.
package lab
