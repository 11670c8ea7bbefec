// Package names builds and checks every name netlab gives or reads back:
// labs, namespaces, markers on links and namespaces, iptables chains and
// rule comments, interface names. A name read back from the system (a
// command line, an alias, an xattr, a state file) is checked with the same
// rules as one typed on the command line before it becomes a path, a lock
// or a deletion.
package names

import (
	"fmt"
	"regexp"
	"strings"

	"netlab/internal/netns"
)

// Kernel limits that names must fit.
const (
	// MaxIfName is IFNAMSIZ-1: the longest interface name the kernel takes.
	MaxIfName = 15
	// MaxChain is the longest iptables chain name (XT_EXTENSION_MAXNAMELEN-1).
	MaxChain = 28
	// MaxLabName keeps lab names short enough for the chain names built
	// from them (NETLAB-<LAB>-DNAT) and readable in a table.
	MaxLabName = 16
)

var (
	// NodeRE matches the names of hosts: nodes, and "outside".
	NodeRE = MustRE(`^[a-z][a-z0-9]{0,9}$`)
	// WorkloadRE matches the names netlab gives containers and pods.
	WorkloadRE = MustRE(`^(c|pod)[0-9]+$`)
)

var labNameRE = MustRE(`^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$`)

// CheckLabName reports why name cannot be a lab name, or nil.
func CheckLabName(name string) error {
	if name == "" {
		return fmt.Errorf("--lab: a lab name must not be empty")
	}
	if !labNameRE.MatchString(name) {
		return fmt.Errorf("--lab %q: use lowercase letters, digits and '-', starting with a letter and not ending with '-'", name)
	}
	if len(name) > MaxLabName {
		return fmt.Errorf("--lab %q is %d bytes: at most %d, because iptables chain %q must fit the kernel's %d-byte limit",
			name, len(name), MaxLabName, ChainName(name, "DNAT"), MaxChain)
	}
	return nil
}

// NetnsName is the name of the namespace that holds host or workload obj of
// lab: "<lab>-<obj>", the name `ip netns exec` takes.
func NetnsName(lab, obj string) netns.NS { return netns.NS(lab + "-" + obj) }

// Marker is what netlab writes on what it makes for lab (loopback and link
// aliases), so that it can tell its own objects from everyone else's.
func Marker(lab, obj string) string { return "netlab:" + lab + ":" + obj }

// MarkerPrefix is the start of every marker of lab.
func MarkerPrefix(lab string) string { return "netlab:" + lab + ":" }

// LabOfMarker returns the lab a marker belongs to.
func LabOfMarker(m string) (string, bool) {
	rest, ok := strings.CutPrefix(m, "netlab:")
	if !ok {
		return "", false
	}
	lab, _, ok := strings.Cut(rest, ":")
	// A marker is read back from the system (an alias, an xattr): only a
	// name netlab could have given is a lab's.
	return lab, ok && CheckLabName(lab) == nil
}

// RuleMarker is the comment that starts every iptables rule of lab.
func RuleMarker(lab string) string { return "netlab:" + lab }

// KubeProxyTable is the nftables table kube-proxy's nftables mode keeps
// its rules in (of family ip, and ip6 in a dual-stack cluster).
const KubeProxyTable = "kube-proxy"

// TraceTable is the nftables table a trace adds for the time of its real
// packet, to have nftables trace it.
const TraceTable = "netlab-trace"

// OwnsTable reports whether a table's comment says lab made it:
// "rules for kube-proxy (netlab:LAB)".
func OwnsTable(comment, lab string) bool {
	return strings.HasSuffix(comment, " ("+RuleMarker(lab)+")")
}

// MarkedRule reports whether a rule as iptables-save prints it carries
// lab's comment (lab "a"'s, not lab "a-b"'s).
func MarkedRule(line, lab string) bool {
	c := `--comment "` + RuleMarker(lab)
	return strings.Contains(line, c+" ") || strings.Contains(line, c+`"`)
}

// RuleLab is the lab whose comment a rule line carries ("" for none).
func RuleLab(line string) string {
	_, rest, ok := strings.Cut(line, `--comment "netlab:`)
	if !ok {
		return ""
	}
	end := strings.IndexAny(rest, ` "`)
	if end < 0 || CheckLabName(rest[:end]) != nil {
		return ""
	}
	return rest[:end]
}

// ChainName is the name of one of lab's own iptables chains.
func ChainName(lab, what string) string {
	return "NETLAB-" + strings.ToUpper(lab) + "-" + what
}

// CheckIfName reports an interface name the kernel would refuse.
func CheckIfName(name string) error {
	if name == "" || len(name) > MaxIfName || strings.ContainsAny(name, "/ :") {
		return fmt.Errorf("interface name %q: must be 1 to %d bytes, without '/', ':' or spaces", name, MaxIfName)
	}
	return nil
}

// MustRE compiles a pattern of netlab's own.
func MustRE(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// RuntimeArgs are the arguments of the netlab-pod process of one host of a
// lab. It and the processes it forks are found again by them, state file
// or not.
func RuntimeArgs(lab, host string) []string {
	return []string{RuntimeName, "--lab", lab, "--host", host}
}

// DaemonArgs are the arguments of one of lab's servers (DNSName,
// DockerDNSName, APIName) on host.
func DaemonArgs(server, lab, host string) []string {
	return []string{server, "--lab", lab, "--host", host}
}

// WorkloadUIDBase is where the uids of labs' workloads start.
const WorkloadUIDBase = 1850000000

// WorkloadUID is the uid (and gid) the servers of lab's containers and pods
// run as: WorkloadUIDBase plus a 16-bit FNV-1a hash of the lab's name, as
// netlab_pod.c computes it (which takes the next one when /etc/passwd or
// /etc/group names it). A uid of the lab's own, not the system's nobody:
// no unrelated unprivileged process may signal (or ptrace) them.
func WorkloadUID(lab string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(lab); i++ {
		h = (h ^ uint32(lab[i])) * 16777619
	}
	return WorkloadUIDBase + h&0xffff
}

// RuntimeName is the argument that makes netlab the workload runtime.
const RuntimeName = "netlab-pod"

// DNSName is the argument that makes netlab a lab's cluster DNS server
// (kube/dns_linux.go), a runtime of the lab as netlab-pod is.
const DNSName = "netlab-dns"

// DockerDNSName is the argument that makes netlab a lab's Docker
// embedded DNS on one node (bridge/dns_linux.go), a runtime of the lab as
// netlab-pod is.
const DockerDNSName = "netlab-dockerdns"

// APIName is the argument that makes netlab the listener behind a lab's
// default/kubernetes Service, on its control-plane node.
const APIName = "netlab-api"

// ControllerName is the argument that makes netlab a lab's controller
// (kube/controller_linux.go): it probes the pods every second and keeps
// the Services' rules on their Ready ones, as the kubelet and kube-proxy do.
const ControllerName = "netlab-kube"

// kube-proxy's nfacct counters (its pkg/proxy/metrics), which netlab makes
// on a node where the kernel keeps such counters, and removes on down.
const (
	InvalidDroppedCounter     = "ct_state_invalid_dropped_pkts"
	LocalhostNodePortsCounter = "localhost_nps_accepted_pkts"
)

// KubeProxyCounters are kube-proxy's nfacct counters.
var KubeProxyCounters = []string{InvalidDroppedCounter, LocalhostNodePortsCounter}
