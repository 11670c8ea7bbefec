// Package netns names network namespaces: a leaf, so that the packages
// that only describe a lab (topo, names, state) need not import the one
// that changes the kernel (netops) to say which namespace they mean.
package netns

// NS is a network namespace: the name of a named namespace, or Host for the
// namespace netlab itself runs in.
type NS string

// Host is the namespace the netlab process runs in: on a VM, the node itself.
const Host NS = ""
