// Package state keeps what netlab knows of each lab, in a run directory
// that is root's alone: the state file (written before the first kernel
// change), the lock every changing command holds, the runtimes' logs.
package state

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"netlab/internal/names"
	"netlab/internal/netns"
	"netlab/internal/topo"
)

// RunDir holds every lab's state and lock. It is on tmpfs, so state dies
// with the kernel objects it describes when the machine reboots.
var RunDir = "/run/netlab"

// Lab statuses.
const (
	StatusBuilding = "building"
	StatusUp       = "up"
)

// State is what netlab knows of a running lab. It is written before the
// first kernel change (status "building", with every namespace the lab will
// have), and again once the lab is up.
type State struct {
	Lab        string         `json:"lab"`
	Mode       string         `json:"mode"`
	Status     string         `json:"status"`
	Created    time.Time      `json:"created"`
	Topology   *topo.Topology `json:"topology"`
	Workloads  []Workload     `json:"workloads"`
	Namespaces []netns.NS     `json:"namespaces"`
	// BrNetfilter records whether br_netfilter was loaded when the lab came
	// up: then bridged packets pass iptables (netlab pins that on), as on
	// a Docker host; without it they do not, and netlab loads no module.
	BrNetfilter bool `json:"br_netfilter"`
	// Proxies are the userland proxies of published ports.
	Proxies []Proxy `json:"proxies,omitempty"`
	// HostSysctls are what the lab set on a real node's own stack, with
	// the values down puts back.
	HostSysctls []HostSysctl `json:"host_sysctls,omitempty"`
}

// Workload is a container (Docker model) or a pod (Kubernetes model).
type Workload struct {
	Name string     `json:"name"`
	Kind string     `json:"kind"`
	Node string     `json:"node"`
	NS   netns.NS   `json:"netns"`
	IP   netip.Addr `json:"ip"`
	// Prefix is the length of the workload's subnet (IP/Prefix on eth0).
	Prefix int `json:"prefix"`
	// HostIface is the host-side end of the workload's veth pair.
	HostIface string `json:"host_iface"`
	// Port is the TCP port its server listens on.
	Port int `json:"port"`
	// Containers are a pod's containers (processes sharing its namespace).
	Containers []string `json:"containers,omitempty"`
	// Networks are a Docker container's networks when it is on a
	// user-defined one, eth0's first (IP, Prefix and HostIface are
	// eth0's); absent, it is on the default bridge alone.
	Networks []Attachment `json:"networks,omitempty"`
	// Aliases are the other names Docker's embedded DNS answers for it.
	Aliases []string `json:"aliases,omitempty"`
	// Mode is a Docker container's network mode, when not a network's:
	// host (NS is the node's, IP its address), none (IP absent) or
	// container:NAME (NS and IP are NAME's).
	Mode string `json:"network_mode,omitempty"`
	// DNSPort is where Docker's embedded DNS listens for it, on
	// 127.0.0.11 in its namespace (UDP and TCP), behind port 53's DNAT.
	DNSPort int `json:"dns_port,omitempty"`
	// IP6 is its IPv6 address (on eth0, beside IP) in a dual-stack lab,
	// and Prefix6 that subnet's length.
	IP6     netip.Addr `json:"ip6,omitempty"`
	Prefix6 int        `json:"prefix6,omitempty"`
}

// Attachment is a Docker container's interface on one network.
type Attachment struct {
	Network   string     `json:"network"`
	Dev       string     `json:"dev"`
	IP        netip.Addr `json:"ip"`
	Prefix    int        `json:"prefix"`
	Bridge    string     `json:"bridge"`
	HostIface string     `json:"host_iface"`
}

// Dir is where lab keeps its state.
func Dir(lab string) string { return filepath.Join(RunDir, lab) }

// Path is lab's state file.
func Path(lab string) string { return filepath.Join(Dir(lab), "state.json") }

// ErrNoState means a lab has no (readable) state file.
var ErrNoState = errors.New("no state file")

// StateLabs returns the labs that have a state directory, sorted.
func StateLabs() []string {
	ents, _ := os.ReadDir(RunDir)
	var labs []string
	for _, e := range ents {
		if e.IsDir() && names.CheckLabName(e.Name()) == nil {
			labs = append(labs, e.Name())
		}
	}
	sort.Strings(labs)
	return labs
}

// Workload returns the workload called name, or nil.
func (s *State) Workload(name string) *Workload {
	for i := range s.Workloads {
		if s.Workloads[i].Name == name {
			return &s.Workloads[i]
		}
	}
	return nil
}

// Find returns the workload or host called name, with the namespace that
// `ip netns exec` takes for it. A peer node of a real one is another
// machine, with no namespace here: Find does not find it (see Peer).
func (s *State) Find(name string) (netns.NS, bool) {
	for _, w := range s.Workloads {
		if w.Name == name {
			return w.NS, true
		}
	}
	for _, h := range s.Topology.Hosts() {
		if h.Name == name && !s.Peer(name) {
			return h.NS, true
		}
	}
	return "", false
}

// Peer reports whether name is a node of the lab that is another machine:
// on a real node, every node but this one.
func (s *State) Peer(name string) bool {
	t := s.Topology
	if t.Embedded {
		return false
	}
	for _, n := range t.Nodes {
		if n.Name == name {
			return n.Name != t.Local
		}
	}
	return false
}

// Proxy is a userland proxy: a process of topo.Node listening on HostPort (every
// address of the node, loopback too) and relaying each connection to
// Target:TargetPort.
type Proxy struct {
	Node       string     `json:"node"`
	HostPort   int        `json:"host_port"`
	Target     netip.Addr `json:"target"`
	TargetPort int        `json:"target_port"`
	// Reserve: no proxy, only dockerd's hold on the port (listening,
	// never accepting) where userland-proxy is off.
	Reserve bool `json:"reserve,omitempty"`
	// Listen6: it listens on the node's IPv6 addresses ([::], IPv6 only),
	// as Docker runs one docker-proxy per address family; else on IPv4's
	// (0.0.0.0). Target is of either family.
	Listen6 bool `json:"listen6,omitempty"`
}

// HostSysctl is a kernel parameter of a real node's own stack that a lab
// set: what it was before netlab, and what netlab set it to.
type HostSysctl struct {
	Key string `json:"key"`
	Was string `json:"was"`
	Set string `json:"set"`
}

// OnNode returns the workloads of node.
func (s *State) OnNode(node string) []Workload {
	var ws []Workload
	for _, w := range s.Workloads {
		if w.Node == node {
			ws = append(ws, w)
		}
	}
	return ws
}
