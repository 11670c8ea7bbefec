//go:build cgo

package main

// netlab_pod.c is compiled into netlab: its constructor turns the process
// into the workload runtime when netlab is started as "netlab netlab-pod".

import "C"

// runtimeEmbedded says whether netlab_pod.c is compiled in.
const runtimeEmbedded = true
