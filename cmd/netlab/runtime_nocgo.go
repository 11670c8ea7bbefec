//go:build !cgo

package main

// runtimeEmbedded says whether netlab_pod.c is compiled in: not without cgo.
const runtimeEmbedded = false
