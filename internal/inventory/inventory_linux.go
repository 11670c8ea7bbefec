// Package inventory finds, without changing anything, what exists of
// netlab's labs: marked namespaces, runtime processes, marked links of
// this machine, state files, and how a lab's state compares with them.
// status, down and up's checks read it.
package inventory

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// Leftovers is what netlab finds of a lab in the kernel and /proc.
type Leftovers struct {
	Namespaces []netops.NS
	// Stale are empty files in /run/netns that never became namespaces
	// (netlab was killed between creating the file and mounting the
	// namespace on it), known as the lab's by their marker or its plan.
	Stale []netops.NS
}

// Scan finds lab's namespaces: the names its state file planned and every
// namespace named "<lab>-..." whose loopback carries lab's marker. Only
// namespaces that carry the marker are ever reported, so Scan never claims
// a namespace someone else made.
func Scan(lab string) Leftovers {
	var lo Leftovers
	planned := map[netops.NS]bool{}
	if s, err := state.Load(lab); err == nil {
		for _, ns := range s.Namespaces {
			planned[ns] = true
		}
	}
	ents, _ := os.ReadDir(netops.NetnsDir)
	prefix := lab + "-"
	var candidates []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		p := netops.Path(netops.NS(name))
		if !netops.IsNetns(p) {
			ours := planned[netops.NS(name)] || strings.HasPrefix(netops.FileMarker(p), names.MarkerPrefix(lab))
			if fi, err := os.Stat(p); ours && err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
				lo.Stale = append(lo.Stale, netops.NS(name))
			}
			continue
		}
		candidates = append(candidates, name)
	}
	ours := make([]bool, len(candidates))
	// Reading a marker means entering the namespace; a few threads do a
	// thousand namespaces in a fraction of the time one would.
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				alias, err := netops.LoAlias(candidates[i])
				ours[i] = err == nil && strings.HasPrefix(alias, names.MarkerPrefix(lab))
			}
		}()
	}
	for i := range candidates {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, name := range candidates {
		if ours[i] {
			lo.Namespaces = append(lo.Namespaces, netops.NS(name))
		}
	}
	return lo
}

// Labs returns every lab netlab has traces of: state directories, marked
// namespaces, workload processes and marked links of this machine.
func Labs() []string {
	seen := map[string]bool{}
	for _, l := range state.StateLabs() {
		seen[l] = true
	}
	for _, l := range RuntimeLabs() {
		seen[l] = true
	}
	for _, l := range HostLabs() {
		seen[l] = true
	}
	ents, _ := os.ReadDir(netops.NetnsDir)
	for _, e := range ents {
		p := netops.Path(netops.NS(e.Name()))
		if !netops.IsNetns(p) {
			if l, ok := names.LabOfMarker(netops.FileMarker(p)); ok && strings.HasPrefix(e.Name(), l+"-") {
				seen[l] = true
			}
			continue
		}
		if alias, err := netops.LoAlias(e.Name()); err == nil {
			if l, ok := names.LabOfMarker(alias); ok && strings.HasPrefix(e.Name(), l+"-") {
				seen[l] = true
			}
		}
	}
	var labs []string
	for l := range seen {
		labs = append(labs, l)
	}
	sort.Strings(labs)
	return labs
}

// Processes returns the pids of lab's runtime processes and of every process whose
// network namespace is one of nsInodes (processes started in the lab with
// `netlab exec`, say).
func Processes(lab string, nsInodes map[uint64]bool) []int {
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

// ByNetns maps each of nsInodes to the processes whose network namespace
// it is, with each one's comm (the kernel's 15-byte name), in one pass
// over /proc.
func ByNetns(nsInodes map[uint64]bool) map[uint64]map[int]string {
	out := map[uint64]map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", e.Name(), "ns/net"), &st) != nil || !nsInodes[st.Ino] {
			continue
		}
		c, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue // gone meanwhile
		}
		if out[st.Ino] == nil {
			out[st.Ino] = map[int]string{}
		}
		out[st.Ino][pid] = strings.TrimSpace(string(c))
	}
	return out
}

// ServerComm is the comm netlab-pod gives the web server of a pod of a
// manifest (each container's: "web:" and the pod's name, cut to 7).
func ServerComm(pod string) string { return comm("web", pod) }

// UDPServerComm is the comm of a container's server that serves UDP.
func UDPServerComm(pod string) string { return comm("udp", pod) }

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
	if len(args) != 6 || (args[1] != names.RuntimeName && args[1] != names.DNSName && args[1] != names.DockerDNSName && args[1] != names.ControllerName && args[1] != names.APIName) || args[2] != "--lab" || args[4] != "--host" {
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

// IsRuntime returns the lab of the runtime process of /proc directory dir
// (netlab-pod, netlab-dns or netlab-kube of root's netlab), or "".
func IsRuntime(dir string) string { return runtimeLab(dir) }

// ContainerPID returns the pid of a pod container's process: the process
// in the pod's namespace that netlab-pod named "<container>:<pod>".
func ContainerPID(w state.Workload, container string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(netops.Path(w.NS), &st); err != nil {
		return 0, fmt.Errorf("pod %s: %w", w.Name, err)
	}
	want := comm(container, w.Name)
	for _, pid := range Processes("", map[uint64]bool{st.Ino: true}) {
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

// HostLabs returns the labs whose marked links are in netlab's own
// namespace (a real node's), each once, sorted.
func HostLabs() []string {
	links, err := netops.Links(netops.Host)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var labs []string
	for _, l := range links {
		if lab, ok := names.LabOfMarker(l.Attrs().Alias); ok && !seen[lab] {
			seen[lab] = true
			labs = append(labs, lab)
		}
	}
	sort.Strings(labs)
	return labs
}

// Running reports whether anything of lab exists: a state file, a marked
// namespace, a workload process or a marked link here.
func Running(lab string) bool {
	if _, err := os.Stat(state.Path(lab)); err == nil {
		return true
	}
	lo := Scan(lab)
	if len(lo.Namespaces) > 0 {
		return true
	}
	for _, l := range append(RuntimeLabs(), HostLabs()...) {
		if l == lab {
			return true
		}
	}
	return false
}

// Lab states beyond the state file's own ("building", "up"), as status
// reports them.
const (
	// StatusInterrupted: an up that did not finish, and no command runs.
	StatusInterrupted = "interrupted"
	// StatusPartial: up, but namespaces or processes it made are gone.
	StatusPartial = "partial"
	// StatusDamaged: the lab's objects are there, its state file is not
	// readable.
	StatusDamaged = "damaged"
)

// Health is what is really there of a lab whose state says it is up or
// building: its status, the namespaces gone from its plan, and what to run.
type Health struct {
	Status  string
	Missing []netops.NS
	Hint    string
}

// Check compares s with the kernel and /proc.
func Check(s *state.State) Health {
	down := fmt.Sprintf("sudo netlab down --lab %s", s.Lab)
	if s.Status == state.StatusBuilding {
		if state.Locked(s.Lab) {
			return Health{Status: state.StatusBuilding, Hint: "an up is running"}
		}
		return Health{Status: StatusInterrupted, Hint: "an up stopped before it finished: remove what it made with '" + down + "'"}
	}
	found := map[netops.NS]bool{}
	for _, ns := range Scan(s.Lab).Namespaces {
		found[ns] = true
	}
	var h Health
	for _, ns := range s.Namespaces {
		if !found[ns] {
			h.Missing = append(h.Missing, ns)
		}
	}
	running := false
	for _, l := range RuntimeLabs() {
		running = running || l == s.Lab
	}
	switch {
	case len(h.Missing) > 0:
		h.Status = StatusPartial
		h.Hint = fmt.Sprintf("%d of its namespaces are gone (an interrupted down?): remove the rest with '%s', then build it again", len(h.Missing), down)
	case !running && len(s.Workloads) > 0:
		h.Status = StatusPartial
		h.Hint = "its workloads' processes are gone: remove it with '" + down + "', then build it again"
	default:
		h.Status = s.Status
	}
	return h
}
