//go:build cgo

// Package netlabpod is the workload runtime, netlab-pod, compiled into the
// netlab binary: a C constructor (netlab_pod.c) that runs before the Go
// runtime and, when netlab is started as "netlab netlab-pod --lab LAB
// --host HOST", becomes the runtime; otherwise it supervises the rest of
// netlab. Only the netlab command imports it (a test binary that did
// would be supervised too). Its contracts are written down in Go beside
// their tests: the spec line it reads (internal/podruntime), the answer
// line of its servers (internal/who), the names of its processes
// (internal/inventory: comm, IsRuntime).
package netlabpod

import "unsafe"

// netlab_pod.c is compiled into netlab: its constructor turns the process
// into the workload runtime when netlab is started as "netlab netlab-pod".

// #include <stdlib.h>
import "C"

// Embedded says whether netlab_pod.c is compiled in.
const Embedded = true

// StatusFD is the pipe to netlab's supervising parent, which netlab_pod.c
// set in the C environment: Go's own copy of the environment was taken
// before, from the process's start.
func StatusFD() string {
	name := C.CString("NETLAB_STATUS_FD")
	defer C.free(unsafe.Pointer(name))
	if v := C.getenv(name); v != nil {
		return C.GoString(v)
	}
	return ""
}
