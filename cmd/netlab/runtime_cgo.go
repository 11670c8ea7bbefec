//go:build cgo

package main

import "unsafe"

// netlab_pod.c is compiled into netlab: its constructor turns the process
// into the workload runtime when netlab is started as "netlab netlab-pod".

// #include <stdlib.h>
import "C"

// runtimeEmbedded says whether netlab_pod.c is compiled in.
const runtimeEmbedded = true

// statusFD is the pipe to netlab's supervising parent, which netlab_pod.c
// set in the C environment: Go's own copy of the environment was taken
// before, from the process's start.
func statusFD() string {
	name := C.CString("NETLAB_STATUS_FD")
	defer C.free(unsafe.Pointer(name))
	if v := C.getenv(name); v != nil {
		return C.GoString(v)
	}
	return ""
}
