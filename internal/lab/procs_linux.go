package lab

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// kill sends SIGKILL to pids. A killed process is certain to end; waitGone
// waits for that.
func kill(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// waitGone waits (up to two seconds) until each of pids is gone or a
// zombie, which no longer holds any namespace, and returns those left.
func waitGone(pids []int) []int {
	deadline := time.Now().Add(2 * time.Second)
	left := pids
	for len(left) > 0 {
		// Processes end in any order; checking from the first one still
		// alive keeps the scan short.
		for len(left) > 0 && !alive(left[0]) {
			left = left[1:]
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var still []int
	for _, p := range left {
		if alive(p) {
			still = append(still, p)
		}
	}
	return still
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "123 (cmd) S ...".
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || (data[i+2] != 'Z' && data[i+2] != 'X')
}
