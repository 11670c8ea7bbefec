package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// RuntimeArgs are the arguments of the netlab-pod process of one host of a
// lab. It and the processes it forks are found again by them, state file
// or not.
func RuntimeArgs(lab, host string) []string {
	return []string{RuntimeName, "--lab", lab, "--host", host}
}

// RuntimeName is the argument that makes netlab the workload runtime.
const RuntimeName = "netlab-pod"

// labProcesses returns the pids of lab's runtime processes and of every process whose
// network namespace is one of nsInodes (processes started in the lab with
// `netlab exec`, say).
func labProcesses(lab string, nsInodes map[uint64]bool) []int {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		if lab != "" && isRuntimeOf(dir, lab) {
			pids = append(pids, pid)
			continue
		}
		var st unix.Stat_t
		if len(nsInodes) > 0 && unix.Stat(filepath.Join(dir, "ns/net"), &st) == nil && nsInodes[st.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// RuntimeLabs returns the labs that have workload processes running.
func RuntimeLabs() []string {
	ents, _ := os.ReadDir("/proc")
	seen := map[string]bool{}
	var labs []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if l := runtimeLab(filepath.Join("/proc", e.Name())); l != "" && !seen[l] {
			seen[l] = true
			labs = append(labs, l)
		}
	}
	return labs
}

// runtimeLab returns the lab of the workload runtime whose /proc directory
// is dir, or "". A command line is input anyone can write: the process must
// also be root's (its real uid, which no other user can take) and run the
// netlab binary, and the names in it must be names netlab would give.
func runtimeLab(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return ""
	}
	args := strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
	if len(args) != 6 || args[1] != RuntimeName || args[2] != "--lab" || args[4] != "--host" {
		return ""
	}
	if names.CheckLabName(args[3]) != nil || !names.NodeRE.MatchString(args[5]) || !rootsNetlab(dir) {
		return ""
	}
	return args[3]
}

// rootsNetlab reports whether the process of /proc directory dir runs as
// root (real uid 0) the binary netlab runs from (named netlab, or netlab
// replaced on disk since it started).
func rootsNetlab(dir string) bool {
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return false
	}
	real := ""
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
			real = f[1]
		}
	}
	if real != "0" {
		return false
	}
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "netlab"
}

func isRuntimeOf(dir, lab string) bool { return runtimeLab(dir) == lab }

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

// ContainerPID returns the pid of a pod container's process: the process
// in the pod's namespace that netlab-pod named "<container>:<pod>".
func ContainerPID(w state.Workload, container string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(netops.Path(w.NS), &st); err != nil {
		return 0, fmt.Errorf("pod %s: %w", w.Name, err)
	}
	want := comm(container, w.Name)
	for _, pid := range labProcesses("", map[uint64]bool{st.Ino: true}) {
		c, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err == nil && strings.TrimSpace(string(c)) == want {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("container %s of pod %s is not running (no process %q in %s)", container, w.Name, want, w.NS)
}

// comm is the name netlab-pod gives a workload process: the kernel keeps
// 15 bytes of it, role and name cut to 7 each.
func comm(role, name string) string {
	cut := func(s string) string {
		if len(s) > 7 {
			return s[:7]
		}
		return s
	}
	return cut(role) + ":" + cut(name)
}
