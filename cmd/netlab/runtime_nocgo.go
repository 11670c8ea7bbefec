//go:build !cgo

package main

// runtimeEmbedded says whether netlab_pod.c is compiled in: not without cgo.
const runtimeEmbedded = false

// statusFD: without cgo there is no supervising parent.
func statusFD() string { return "" }
