//go:build !cgo

package netlabpod

// Embedded says whether netlab_pod.c is compiled in: not without cgo.
const Embedded = false

// StatusFD: without cgo there is no supervising parent.
func StatusFD() string { return "" }
