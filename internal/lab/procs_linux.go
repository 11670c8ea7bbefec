package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// AgentArgs is how netlab starts the server process of one host of a lab.
// The process is found again by these arguments, state file or not.
func AgentArgs(lab, host string) []string {
	return []string{"agent", "--lab", lab, "--host", host}
}

// labProcesses returns the pids of lab's agents and of every process whose
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
		if isAgentOf(dir, lab) {
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

// AgentLabs returns the labs that have agent processes running.
func AgentLabs() []string {
	ents, _ := os.ReadDir("/proc")
	seen := map[string]bool{}
	var labs []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if l := agentLab(filepath.Join("/proc", e.Name())); l != "" && !seen[l] {
			seen[l] = true
			labs = append(labs, l)
		}
	}
	return labs
}

func agentLab(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return ""
	}
	args := strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
	if len(args) < 6 || filepath.Base(args[0]) != "netlab" && !strings.HasPrefix(filepath.Base(args[0]), "netlab") {
		return ""
	}
	a := args[1:6]
	if a[0] != "agent" || a[1] != "--lab" || a[3] != "--host" {
		return ""
	}
	return a[2]
}

func isAgentOf(dir, lab string) bool { return agentLab(dir) == lab }

// kill sends SIGKILL to pids and waits (up to two seconds) until each is
// gone or a zombie: a zombie no longer holds any namespace.
func kill(pids []int) []int {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(2 * time.Second)
	left := pids
	for len(left) > 0 && time.Now().Before(deadline) {
		var still []int
		for _, p := range left {
			if alive(p) {
				still = append(still, p)
			}
		}
		left = still
		if len(left) > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return left
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
