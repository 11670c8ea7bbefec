// Package topo turns what a user wrote (flags, a topology file) into a
// resolved, valid topology: every name, address and count decided, or an
// InputError naming the flag or field, before anything is built.
package topo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"

	"netlab/internal/ipam"
	"netlab/internal/names"
	"netlab/internal/netns"
)

// The models a lab can be of, as Topology.Mode and the state's mode name
// them (and the mode verbs: docker-mode, overlay-mode).
const (
	DockerMode  = "docker"  // the Docker model (bridge/)
	OverlayMode = "overlay" // the Kubernetes model (overlay/)
)

// A lab's size when nothing says otherwise: two nodes of two workloads.
const (
	DefaultNodes     = 2
	DefaultWorkloads = 2
)

// Limits of the lab's size.
const (
	MaxNodes = 16
	// MaxWorkloads is how many containers or pods a node runs at most: a
	// Linux bridge takes 1023 ports (BR_MAX_PORTS less port 0), and each
	// workload is one port of docker0 or cni0.
	MaxWorkloads = 1023
	// MaxTotal is how many containers or pods a whole lab has at most: a
	// namespace and one or two processes each, on one machine.
	MaxTotal = 4096
	// MaxFileSize is the largest topology file netlab reads: a real one is
	// a few hundred bytes, so a larger one is a mistake (or /dev/zero).
	MaxFileSize = 1 << 20
)

// Topology is a resolved, valid lab: every name, address and count decided.
type Topology struct {
	Lab      string       `json:"lab"`
	Mode     string       `json:"mode"`
	Underlay netip.Prefix `json:"underlay"`
	// UnderlayMTU is the MTU of the hosts' underlay interfaces: set on the
	// embedded underlay, read from the interface on a real node.
	UnderlayMTU int `json:"underlay_mtu"`
	// Embedded is true when nodes, the underlay and the outside host are
	// namespaces netlab makes; false on a real node (a VM).
	Embedded bool `json:"embedded"`
	// Local, on a real node, is the node this machine is: the only one
	// this netlab builds. Empty when embedded (all nodes are local).
	Local   string  `json:"local,omitempty"`
	Outside *Host   `json:"outside,omitempty"`
	Nodes   []Node  `json:"nodes"`
	Docker  Docker  `json:"docker"`
	Overlay Overlay `json:"overlay"`
	// ChecksumFix, when set, says why flannel.1 gets its TX checksum
	// offload turned off (flannel#1279).
	ChecksumFix string `json:"checksum_fix,omitempty"`
	// IPv6 makes the lab dual-stack (--ipv6): IPv6 beside IPv4 on the
	// underlay (Underlay6), and in the model (Docker.Subnet6).
	IPv6 bool `json:"ipv6,omitempty"`
	// Underlay6 is the underlay's IPv6 prefix in a dual-stack lab: each
	// host's IP6 is in it.
	Underlay6 netip.Prefix `json:"underlay6,omitempty"`
	// KeepRA, on a real node of a dual-stack lab, are the machine's
	// interfaces that take router advertisements (accept_ra 1, as a VM's
	// NAT NIC does): turning IPv6 forwarding on would make the kernel drop
	// the routers they learned (and their default route), so they get
	// accept_ra 2, which keeps them, until down puts back what was.
	KeepRA []string `json:"keep_ra,omitempty"`
}

// Overlay holds the Kubernetes model's settings: flannel's and the CNI
// bridge plugin's defaults unless a topology file says otherwise.
type Overlay struct {
	ClusterCIDR netip.Prefix `json:"cluster_cidr"`
	SubnetLen   int          `json:"subnet_len"`
	VNI         int          `json:"vni"`
	Port        int          `json:"port"`
	Device      string       `json:"device"`
	Bridge      string       `json:"bridge"`
	AppPort     int          `json:"app_port"`
	TxChecksum  string       `json:"tx_checksum"`
	// Backend is flannel's: "vxlan" (the default: an overlay, VXLAN
	// between nodes) or "host-gw" (no encapsulation: each node routes a
	// peer's pod CIDR via that peer's underlay address, on one L2 segment).
	Backend string `json:"backend"`
	// ClusterCIDR6 is flannel's IPv6Network in a dual-stack lab, of
	// which each node gets a /SubnetLen6 (its PodCIDR6).
	ClusterCIDR6 netip.Prefix `json:"cluster_cidr6,omitempty"`
	SubnetLen6   int          `json:"subnet_len6,omitempty"`
	// ProxyMode is kube-proxy's: "iptables" (KUBE-* chains, its default)
	// or "nftables" (table kube-proxy, GA since Kubernetes 1.33). A lab
	// of an older netlab has none: iptables.
	ProxyMode string `json:"proxy_mode,omitempty"`
}

// Proxy is kube-proxy's mode: the lab's, iptables where none is written.
func (o Overlay) Proxy() string {
	if o.ProxyMode == "" {
		return ProxyIPTables
	}
	return o.ProxyMode
}

// kube-proxy's modes netlab builds.
const (
	ProxyIPTables = "iptables"
	ProxyNFTables = "nftables"
)

// Backends are flannel's backends netlab builds.
const (
	VXLAN  = "vxlan"
	HostGW = "host-gw"
)

// VXLANOverhead is what VXLAN adds to every packet on the underlay: the
// inner Ethernet header (14), the VXLAN header (8), UDP (8) and the outer
// IPv4 header (20).
const VXLANOverhead = 14 + 8 + 8 + 20

// VXLANOverhead6 is what VXLAN adds over an IPv6 underlay: the outer IPv6
// header is 40 bytes, not 20.
const VXLANOverhead6 = 14 + 8 + 8 + 40

// MTU is the MTU of the overlay: the underlay's, less what VXLAN adds.
// With host-gw, nothing is added: the pods have the underlay's MTU. In a
// dual-stack lab, IPv6 pod traffic crosses flannel-v6.1, over the IPv6
// underlay, which costs 20 bytes more: a pod's eth0 has one MTU for both
// families, so it is the smaller one (MTU6).
func (t *Topology) MTU() int {
	if t.IPv6 {
		return t.MTU6()
	}
	return t.MTU4()
}

// MTU4 is what fits flannel.1, the IPv4 overlay: the underlay's MTU less
// VXLAN over IPv4 (or all of it, with host-gw).
func (t *Topology) MTU4() int {
	if t.Overlay.Backend == HostGW {
		return t.UnderlayMTU
	}
	return t.UnderlayMTU - VXLANOverhead
}

// MTU6 is what fits flannel-v6.1, the IPv6 overlay of a dual-stack lab:
// the underlay's MTU less VXLAN over IPv6 (or all of it, with host-gw).
func (t *Topology) MTU6() int {
	if t.Overlay.Backend == HostGW {
		return t.UnderlayMTU
	}
	return t.UnderlayMTU - VXLANOverhead6
}

// LocalNodes are the nodes this netlab builds: all of them when embedded,
// the machine's own node on a real one.
func (t *Topology) LocalNodes() []Node {
	if t.Embedded {
		return t.Nodes
	}
	for _, n := range t.Nodes {
		if n.Name == t.Local {
			return []Node{n}
		}
	}
	return nil
}

// Host is a machine on the underlay.
type Host struct {
	Name string     `json:"name"`
	IP   netip.Addr `json:"ip"`
	// NS is the namespace that is this host's network stack.
	NS netns.NS `json:"netns"`
	// Iface is the host's interface on the underlay (eth1, as in a VM).
	Iface string `json:"iface"`
	// IP6 is the host's IPv6 address on the underlay, in a dual-stack lab.
	IP6 netip.Addr `json:"ip6,omitempty"`
}

// Node is a host that runs workloads.
type Node struct {
	Host
	// Workloads is how many containers (docker-mode) or pods
	// (overlay-mode) the node runs.
	Workloads int `json:"workloads"`
	// PodCIDR is the node's share of the cluster CIDR (overlay-mode).
	PodCIDR netip.Prefix `json:"pod_cidr"`
	// PodCIDR6 is its share of the IPv6 cluster CIDR, in a dual-stack lab.
	PodCIDR6 netip.Prefix `json:"pod_cidr6,omitempty"`
}

// Gateway is the address of the node's cni0: the pod CIDR's first.
func (n Node) Gateway() netip.Addr { a, _ := ipam.Nth(n.PodCIDR, 1); return a }

// Gateway6 is cni0's IPv6 address in a dual-stack lab: PodCIDR6's ::1.
func (n Node) Gateway6() netip.Addr { return n.PodCIDR6.Masked().Addr().Next() }

// VTEP6 is flannel-v6.1's address: PodCIDR6's network address (a /128),
// as flannel gives it.
func (n Node) VTEP6() netip.Addr { return n.PodCIDR6.Masked().Addr() }

// VTEP is the address of the node's flannel.1: the pod CIDR's network
// address, as flannel gives it (a /32 that names the node's end of the
// tunnel, and the next hop of the routes to its pods).
func (n Node) VTEP() netip.Addr { return n.PodCIDR.Masked().Addr() }

// Docker holds the Docker model's settings, Docker's defaults unless a
// topology file says otherwise.
type Docker struct {
	Bridge      string       `json:"bridge"`
	Subnet      netip.Prefix `json:"subnet"`
	PublishPort int          `json:"publish_port"`
	// UserlandProxy is Docker's userland-proxy setting: true (its default),
	// docker-proxy serves what the DNAT rules do not catch; false, rules do
	// (hairpin on the bridge ports, route_localnet, two more MASQUERADEs).
	UserlandProxy bool `json:"userland_proxy"`
	TargetPort    int  `json:"target_port"`
	// Version is the Docker whose layout the lab builds: "28" (Docker 28,
	// the default) or "20.10" (whose rules 26.1 writes too). A lab saved
	// before versions had none: it is 20.10's.
	Version string `json:"version,omitempty"`
	// AllowDirectRouting is Docker 28's allow-direct-routing: without it,
	// a packet for a container's address that does not come from its
	// bridge is dropped in the raw table.
	AllowDirectRouting bool `json:"allow_direct_routing,omitempty"`
	// Networks are the user-defined bridge networks, on every node, in the
	// order they are created (docker0, Docker's default bridge, is first).
	Networks []DockerNetwork `json:"networks,omitempty"`
	// Containers are the containers a topology file attaches otherwise
	// than to the default network (Container tells any container's).
	Containers []DockerContainer `json:"containers,omitempty"`
	// DefaultNet is --network: the network of every container the file
	// does not attach ("" or "bridge": the default bridge).
	DefaultNet string `json:"network,omitempty"`
	// Subnet6 is the default bridge's IPv6 subnet in a dual-stack lab,
	// daemon.json's fixed-cidr-v6 (a /64 of a ULA prefix).
	Subnet6 netip.Prefix `json:"subnet6,omitempty"`
}

// Docker versions whose layouts netlab builds.
const (
	Docker28   = "28"
	Docker2010 = "20.10"
)

// DockerVersions are the values --docker-version takes, the default first.
var DockerVersions = []string{Docker28, Docker2010}

// DockerVersion is docker.version as a topology file gives it: a string,
// or the number YAML makes of `version: 28` or `version: 20.10` (20.1).
type DockerVersion string

// UnmarshalJSON implements json.Unmarshaler.
func (v *DockerVersion) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = DockerVersion(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("docker.version: give a version, such as 28 or \"20.10\"")
	}
	switch s := n.String(); s {
	case "20.1": // YAML's reading of 20.10
		*v = Docker2010
	default:
		*v = DockerVersion(s)
	}
	return nil
}

// Is28 says the lab builds Docker 28's layout.
func (d Docker) Is28() bool { return d.Version == Docker28 }

// Release is the Docker version of the layout: a lab saved before
// versions, which has none, is 20.10's.
func (d Docker) Release() string {
	if d.Version == "" {
		return Docker2010
	}
	return d.Version
}

// Gateway is the bridge's address: the subnet's first host address.
func (d Docker) Gateway() netip.Addr { a, _ := ipam.Nth(d.Subnet, 1); return a }

// Gateway6 is the bridge's IPv6 address in a dual-stack lab: Subnet6's
// first (::1), as Docker gives it; the zero Addr in an IPv4-only lab.
func (d Docker) Gateway6() netip.Addr {
	if !d.Subnet6.IsValid() {
		return netip.Addr{}
	}
	return d.Subnet6.Addr().Next()
}

// UnderlayNetns is the namespace of the embedded underlay switch.
func (t *Topology) UnderlayNetns() netns.NS { return names.NetnsName(t.Lab, "underlay") }

// Hosts returns the nodes and then the outside host, if any.
func (t *Topology) Hosts() []Host {
	var hs []Host
	for _, n := range t.Nodes {
		hs = append(hs, n.Host)
	}
	if t.Outside != nil {
		hs = append(hs, *t.Outside)
	}
	return hs
}

// Options are what the command line says about the topology.
type Options struct {
	Lab        string
	Mode       string // "docker" or "overlay"
	Nodes      int
	Workloads  int
	File       string
	WorkloadsF string // the flag that sets Workloads, for messages
	// NodesSet and WorkloadsSet say the counts were given on the command
	// line (and so conflict with a topology file).
	NodesSet, WorkloadsSet bool
	// Node, when set, makes this a real node's share of the lab (a VM):
	// that node is the machine's own network stack, and only it is built.
	Node string
	// UserlandProxy, when set (--userland-proxy), overrides the file's
	// docker.userland_proxy.
	UserlandProxy *bool
	// DockerVersion, when set (--docker-version), overrides the file's
	// docker.version.
	DockerVersion *string
	// AllowDirectRouting, when set (--allow-direct-routing), overrides
	// the file's docker.allow_direct_routing.
	AllowDirectRouting *bool
	// Backend, when set (--backend), overrides the file's overlay.backend.
	Backend *string
	// ProxyMode, when set (--proxy-mode), overrides the file's
	// overlay.proxy_mode.
	ProxyMode *string
	// Network, when set (--network), is the network of every container
	// the file does not attach.
	Network *string
	// IPv6, when set (--ipv6), overrides the file's ipv6.
	IPv6 *bool
}

// File is a topology file as written: every field optional.
type File struct {
	Underlay    string     `json:"underlay,omitempty"`
	UnderlayMTU *int       `json:"underlay_mtu,omitempty"`
	Iface       string     `json:"iface,omitempty"`
	Outside     string     `json:"outside,omitempty"`
	Nodes       []FileNode `json:"nodes,omitempty"`
	Docker      *FileDock  `json:"docker,omitempty"`
	Overlay     *FileOver  `json:"overlay,omitempty"`
	// Networks and Containers are docker-mode's user-defined networks and
	// how containers are attached, in Compose's words.
	Networks   []FileNetwork   `json:"networks,omitempty"`
	Containers []FileContainer `json:"containers,omitempty"`
	// IPv6 makes the lab dual-stack; Underlay6 is the underlay's IPv6
	// prefix (a /64).
	IPv6      *bool  `json:"ipv6,omitempty"`
	Underlay6 string `json:"underlay6,omitempty"`
}

// FileNode is one node in a topology file.
type FileNode struct {
	Name       string `json:"name"`
	IP         string `json:"ip"`
	IP6        string `json:"ip6,omitempty"`
	Containers *int   `json:"containers,omitempty"`
	Pods       *int   `json:"pods,omitempty"`
	PodCIDR    string `json:"pod_cidr,omitempty"`
}

// FileDock holds the Docker model's settings in a topology file.
type FileDock struct {
	Bridge  string `json:"bridge,omitempty"`
	Subnet  string `json:"subnet,omitempty"`
	Publish *int   `json:"publish,omitempty"`
	// UserlandProxy is daemon.json's "userland-proxy".
	UserlandProxy *bool `json:"userland_proxy,omitempty"`
	// Version is the Docker whose layout to build: "28" or "20.10".
	Version DockerVersion `json:"version,omitempty"`
	// AllowDirectRouting is daemon.json's "allow-direct-routing" (28).
	AllowDirectRouting *bool `json:"allow_direct_routing,omitempty"`
	// FixedCIDRv6 is daemon.json's "fixed-cidr-v6": docker0's IPv6
	// subnet in a dual-stack lab.
	FixedCIDRv6 string `json:"fixed_cidr_v6,omitempty"`
}

// FileOver holds the Kubernetes model's settings in a topology file.
type FileOver struct {
	// Backend is flannel's backend: vxlan or host-gw.
	Backend     string `json:"backend,omitempty"`
	ClusterCIDR string `json:"cluster_cidr,omitempty"`
	SubnetLen   *int   `json:"subnet_len,omitempty"`
	VNI         *int   `json:"vni,omitempty"`
	Port        *int   `json:"port,omitempty"`
	// TxChecksum is flannel.1's TX checksum offload: "auto" (off on a real
	// node, whatever its NIC: flannel#1279; on in an embedded lab, whose
	// underlay is veth pairs), "off" or "on".
	TxChecksum OnOff `json:"tx_checksum,omitempty"`
	// ClusterCIDRv6 is flannel's IPv6Network, in a dual-stack lab.
	ClusterCIDRv6 string `json:"cluster_cidr_v6,omitempty"`
	// ProxyMode is kube-proxy's mode: iptables or nftables.
	ProxyMode string `json:"proxy_mode,omitempty"`
}

// OnOff is a setting that YAML may write as on/off (which YAML 1.1 reads
// as booleans) or as a word such as auto.
type OnOff string

// UnmarshalJSON implements json.Unmarshaler.
func (o *OnOff) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*o = "off"
		if x {
			*o = "on"
		}
	case string:
		*o = OnOff(x)
	default:
		return fmt.Errorf("%s is not on, off or auto", b)
	}
	return nil
}

// Resolve turns options (and the topology file they name) into a valid
// topology, or an InputError that names the flag or field.
func Resolve(o Options) (*Topology, error) {
	if err := names.CheckLabName(o.Lab); err != nil {
		return nil, &InputError{Msg: err.Error()}
	}
	t := &Topology{
		Lab: o.Lab, Mode: o.Mode, Embedded: o.Node == "", Local: o.Node,
		Underlay: netip.MustParsePrefix("192.168.56.0/24"), UnderlayMTU: 1500,
		Docker: Docker{Bridge: "docker0", Subnet: netip.MustParsePrefix("172.17.0.0/16"),
			PublishPort: 8080, TargetPort: 80, UserlandProxy: true, Version: Docker28},
		Overlay: Overlay{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), SubnetLen: 24,
			VNI: 1, Port: 8472, Device: "flannel.1", Bridge: "cni0", AppPort: 9376, TxChecksum: "auto", Backend: VXLAN,
			ProxyMode: ProxyIPTables},
	}
	outside := netip.MustParseAddr("192.168.56.1")
	nodes, per := o.Nodes, o.Workloads
	if nodes < 1 || nodes > MaxNodes {
		return nil, Inputf("--nodes %d: must be from 1 to %d", nodes, MaxNodes)
	}
	if per < 1 || per > MaxWorkloads {
		return nil, Inputf("%s %d: must be from 1 to %d", o.WorkloadsF, per, MaxWorkloads)
	}
	var f File
	if o.File != "" {
		if o.NodesSet || o.WorkloadsSet {
			return nil, Inputf("--topology: give node and %s counts in the file, not as flags too", o.WorkloadsF)
		}
		var err error
		if f, err = LoadFile(o.File); err != nil {
			return nil, err
		}
	}
	where := func(field string) string {
		if o.File == "" {
			return "topology: " + field
		}
		return o.File + ": " + field
	}
	if f.Underlay != "" {
		p, err := netip.ParsePrefix(f.Underlay)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return nil, Inputf("%s: %s is not an IPv4 prefix such as 192.168.56.0/24", where("underlay"), quote(f.Underlay))
		}
		t.Underlay = p.Masked()
	}
	if f.UnderlayMTU != nil {
		if *f.UnderlayMTU < 1280 || *f.UnderlayMTU > 9000 {
			return nil, Inputf("%s: %d must be from 1280 to 9000", where("underlay_mtu"), *f.UnderlayMTU)
		}
		t.UnderlayMTU = *f.UnderlayMTU
	}
	iface := "eth1"
	if f.Iface != "" {
		if err := names.CheckIfName(f.Iface); err != nil {
			return nil, Inputf("%s: %v", where("iface"), err)
		}
		iface = f.Iface
	}
	if f.Outside != "" {
		a, err := netip.ParseAddr(f.Outside)
		if err != nil || !a.Is4() {
			return nil, Inputf("%s: %s is not an IPv4 address", where("outside"), quote(f.Outside))
		}
		outside = a
	}
	if !hostOf(t.Underlay, outside) {
		return nil, Inputf("%s: %s is not a host address in the underlay %s (not its network or broadcast address)", where("outside"), outside, t.Underlay)
	}
	if t.Embedded {
		t.Outside = &Host{Name: "outside", IP: outside, NS: names.NetnsName(o.Lab, "outside"), Iface: "eth1"}
	}
	if err := resolveModels(t, f, iface, where); err != nil {
		return nil, err
	}
	if len(f.Nodes) > MaxNodes {
		return nil, Inputf("%s: %d nodes, at most %d", where("nodes"), len(f.Nodes), MaxNodes)
	}
	if len(f.Nodes) == 0 {
		for i := 1; i <= nodes; i++ {
			ip, err := ipam.Nth(t.Underlay, uint64(10+i))
			if err != nil {
				return nil, Inputf("%s: no room for node%d: %v", where("underlay"), i, err)
			}
			f.Nodes = append(f.Nodes, FileNode{Name: fmt.Sprintf("node%d", i), IP: ip.String(), Containers: &per, Pods: &per})
		}
	}
	seenName := map[string]string{"outside": "the outside host's name", "underlay": "the underlay's name"}
	seenIP := map[netip.Addr]string{outside: "outside"}
	for i, fn := range f.Nodes {
		w := func(field string) string { return where(fmt.Sprintf("nodes[%d].%s", i, field)) }
		n, err := resolveNode(t, i, fn, w)
		if err != nil {
			return nil, err
		}
		if what, ok := seenName[n.Name]; ok {
			return nil, Inputf("%s: %q is already %s", w("name"), n.Name, what)
		}
		seenName[n.Name] = fmt.Sprintf("nodes[%d]'s name", i)
		if other, ok := seenIP[n.IP]; ok {
			return nil, Inputf("%s: %s is already %s's address", w("ip"), n.IP, other)
		}
		seenIP[n.IP] = n.Name
		for j, m := range t.Nodes {
			if t.Mode == OverlayMode && m.PodCIDR.Overlaps(n.PodCIDR) {
				return nil, Inputf("%s: %s overlaps nodes[%d]'s %s", w("pod_cidr"), n.PodCIDR, j, m.PodCIDR)
			}
		}
		t.Nodes = append(t.Nodes, n)
	}
	if o.UserlandProxy != nil {
		t.Docker.UserlandProxy = *o.UserlandProxy
	}
	if o.DockerVersion != nil {
		if !knownDockerVersion(*o.DockerVersion) {
			return nil, Inputf("--docker-version %s: netlab builds Docker %s", quote(*o.DockerVersion), strings.Join(DockerVersions, " or "))
		}
		t.Docker.Version = *o.DockerVersion
	}
	if o.AllowDirectRouting != nil {
		t.Docker.AllowDirectRouting = *o.AllowDirectRouting
	}
	if t.Docker.AllowDirectRouting && !t.Docker.Is28() {
		what := "--allow-direct-routing"
		if o.AllowDirectRouting == nil {
			what = where("docker.allow_direct_routing")
		}
		return nil, Inputf("%s: Docker %s has no such option: it never drops routed packets for a container (it is Docker 28's)", what, t.Docker.Version)
	}
	if err := resolveNetworks(t, f, o.Network, where); err != nil {
		return nil, err
	}
	if err := resolveIPv6(t, f, o, where); err != nil {
		return nil, err
	}
	if o.Backend != nil {
		if *o.Backend != VXLAN && *o.Backend != HostGW {
			return nil, Inputf("--backend %s: flannel's backends netlab builds are vxlan and host-gw", quote(*o.Backend))
		}
		t.Overlay.Backend = *o.Backend
	}
	if o.ProxyMode != nil {
		if *o.ProxyMode != ProxyIPTables && *o.ProxyMode != ProxyNFTables {
			return nil, Inputf("--proxy-mode %s: kube-proxy's modes netlab builds are iptables and nftables", quote(*o.ProxyMode))
		}
		t.Overlay.ProxyMode = *o.ProxyMode
	}
	total := 0
	for _, n := range t.Nodes {
		total += n.Workloads
	}
	if total > MaxTotal {
		what := strings.TrimPrefix(o.WorkloadsF, "--")
		if what == "" {
			what = "workloads"
		}
		return nil, Inputf("%s: %d %s in all: a lab has at most %d (each is a namespace with its processes, on this one machine)",
			where("nodes"), total, what, MaxTotal)
	}
	if t.Overlay.TxChecksum == "off" && t.Overlay.Backend == VXLAN {
		t.ChecksumFix = "the topology file says so (overlay.tx_checksum: off)"
	}
	if !t.Embedded {
		found := false
		for i := range t.Nodes {
			if t.Nodes[i].Name == o.Node {
				found = true
				t.Nodes[i].NS, t.Nodes[i].Iface = netns.Host, iface
			}
		}
		if !found {
			return nil, Inputf("--node %q: the topology has no such node (%s)", o.Node, nodeNames(t.Nodes))
		}
	}
	return t, nil
}

func knownDockerVersion(v string) bool { return slices.Contains(DockerVersions, v) }

func nodeNames(ns []Node) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n.Name
	}
	return s
}

// resolveModels applies the file's docker and overlay sections; iface is
// the nodes' underlay interface.
func resolveModels(t *Topology, f File, iface string, where func(string) string) error {
	if d := f.Docker; d != nil {
		if d.Bridge != "" {
			if err := names.CheckIfName(d.Bridge); err != nil {
				return Inputf("%s: %v", where("docker.bridge"), err)
			}
			if why := reservedIf(d.Bridge, iface); why != "" {
				return Inputf("%s: %s is %s: pick another name, such as netlab0", where("docker.bridge"), quote(d.Bridge), why)
			}
			t.Docker.Bridge = d.Bridge
		}
		if d.Subnet != "" {
			p, err := netip.ParsePrefix(d.Subnet)
			if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
				return Inputf("%s: %s is not an IPv4 prefix of /30 or larger", where("docker.subnet"), quote(d.Subnet))
			}
			t.Docker.Subnet = p.Masked()
		}
		if d.Publish != nil {
			if *d.Publish < 1 || *d.Publish > 65535 {
				return Inputf("%s: %d is not a TCP port", where("docker.publish"), *d.Publish)
			}
			t.Docker.PublishPort = *d.Publish
		}
		if d.UserlandProxy != nil {
			t.Docker.UserlandProxy = *d.UserlandProxy
		}
		if v := string(d.Version); v != "" {
			if !knownDockerVersion(v) {
				return Inputf("%s: %s: netlab builds Docker %s", where("docker.version"), quote(v), strings.Join(DockerVersions, " or "))
			}
			t.Docker.Version = v
		}
		if d.AllowDirectRouting != nil {
			t.Docker.AllowDirectRouting = *d.AllowDirectRouting
		}
		if d.FixedCIDRv6 != "" {
			p, err := netip.ParsePrefix(d.FixedCIDRv6)
			if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 120 {
				return Inputf("%s: %s is not an IPv6 prefix such as fd00:172:17::/64", where("docker.fixed_cidr_v6"), quote(d.FixedCIDRv6))
			}
			t.Docker.Subnet6 = p.Masked()
		}
	}
	if t.Docker.Subnet.Overlaps(t.Underlay) {
		return Inputf("%s: %s overlaps the underlay %s", where("docker.subnet"), t.Docker.Subnet, t.Underlay)
	}
	if ov := f.Overlay; ov != nil {
		if ov.ClusterCIDR != "" {
			p, err := netip.ParsePrefix(ov.ClusterCIDR)
			if err != nil || !p.Addr().Is4() || p.Bits() > 28 {
				return Inputf("%s: %s is not an IPv4 prefix such as 10.244.0.0/16", where("overlay.cluster_cidr"), quote(ov.ClusterCIDR))
			}
			t.Overlay.ClusterCIDR = p.Masked()
		}
		if ov.SubnetLen != nil {
			t.Overlay.SubnetLen = *ov.SubnetLen
		}
		if ov.VNI != nil {
			if *ov.VNI < 1 || *ov.VNI > 1<<24-1 {
				return Inputf("%s: %d is not a VXLAN network identifier (1 to 16777215)", where("overlay.vni"), *ov.VNI)
			}
			t.Overlay.VNI = *ov.VNI
		}
		if ov.Port != nil {
			if *ov.Port < 1 || *ov.Port > 65535 {
				return Inputf("%s: %d is not a UDP port", where("overlay.port"), *ov.Port)
			}
			t.Overlay.Port = *ov.Port
		}
		switch ov.Backend {
		case "":
		case VXLAN, HostGW:
			t.Overlay.Backend = ov.Backend
		default:
			return Inputf("%s: %s is not a backend netlab builds: vxlan or host-gw", where("overlay.backend"), quote(ov.Backend))
		}
		switch ov.ProxyMode {
		case "":
		case ProxyIPTables, ProxyNFTables:
			t.Overlay.ProxyMode = ov.ProxyMode
		default:
			return Inputf("%s: %s is not a kube-proxy mode netlab builds: iptables or nftables", where("overlay.proxy_mode"), quote(ov.ProxyMode))
		}
		switch ov.TxChecksum {
		case "":
		case "auto", "on", "off":
			t.Overlay.TxChecksum = string(ov.TxChecksum)
		default:
			return Inputf("%s: %s must be auto, on or off", where("overlay.tx_checksum"), quote(string(ov.TxChecksum)))
		}
	}
	if l := t.Overlay.SubnetLen; l <= t.Overlay.ClusterCIDR.Bits() || l > 30 {
		return Inputf("%s: %d must be longer than the cluster CIDR's /%d and at most 30", where("overlay.subnet_len"), l, t.Overlay.ClusterCIDR.Bits())
	}
	if t.Overlay.ClusterCIDR.Overlaps(t.Underlay) {
		return Inputf("%s: %s overlaps the underlay %s", where("overlay.cluster_cidr"), t.Overlay.ClusterCIDR, t.Underlay)
	}
	return nil
}

// resolveNode checks the i-th node of a file and fills in its defaults.
func resolveNode(t *Topology, i int, fn FileNode, w func(string) string) (Node, error) {
	if !names.NodeRE.MatchString(fn.Name) {
		return Node{}, Inputf("%s: %s must be lowercase letters and digits, starting with a letter, at most 10 bytes", w("name"), quote(fn.Name))
	}
	if names.WorkloadRE.MatchString(fn.Name) {
		return Node{}, Inputf("%s: %s is how netlab names a container or pod (c1, c2, ..., pod1, pod2, ...), whose namespace would take the node's: pick another, such as node%d",
			w("name"), quote(fn.Name), i+1)
	}
	ip, err := netip.ParseAddr(fn.IP)
	if err != nil || !ip.Is4() {
		return Node{}, Inputf("%s: %s is not an IPv4 address", w("ip"), quote(fn.IP))
	}
	var ip6 netip.Addr
	if fn.IP6 != "" {
		if ip6, err = netip.ParseAddr(fn.IP6); err != nil || !ip6.Is6() || ip6.Is4In6() || ip6.Zone() != "" {
			return Node{}, Inputf("%s: %s is not an IPv6 address", w("ip6"), quote(fn.IP6))
		}
	}
	if !hostOf(t.Underlay, ip) {
		return Node{}, Inputf("%s: %s is not a host address in the underlay %s (not its network or broadcast address)", w("ip"), ip, t.Underlay)
	}
	n := Node{Host: Host{Name: fn.Name, IP: ip, IP6: ip6, NS: names.NetnsName(t.Lab, fn.Name), Iface: "eth1"}, Workloads: 2}
	count, field := fn.Containers, "containers"
	if t.Mode == OverlayMode {
		count, field = fn.Pods, "pods"
	}
	if count != nil {
		if *count < 1 || *count > MaxWorkloads {
			return Node{}, Inputf("%s: %d must be from 1 to %d", w(field), *count, MaxWorkloads)
		}
		n.Workloads = *count
	}
	if t.Mode == DockerMode && uint64(n.Workloads) > ipam.Size(t.Docker.Subnet)-1 {
		return Node{}, Inputf("%s: %d containers do not fit %s", w(field), n.Workloads, t.Docker.Subnet)
	}
	// Pod CIDR: the (i+1)-th subnet of the cluster CIDR, as flannel would
	// lease them, unless the file names one.
	o := t.Overlay
	if fn.PodCIDR != "" {
		p, err := netip.ParsePrefix(fn.PodCIDR)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return Node{}, Inputf("%s: %s is not an IPv4 prefix such as 10.244.1.0/24", w("pod_cidr"), quote(fn.PodCIDR))
		}
		if !o.ClusterCIDR.Contains(p.Addr()) || p.Bits() < o.ClusterCIDR.Bits() {
			return Node{}, Inputf("%s: %s is not inside the cluster CIDR %s", w("pod_cidr"), p, o.ClusterCIDR)
		}
		n.PodCIDR = p.Masked()
	} else {
		span := uint64(1) << (32 - o.SubnetLen)
		if uint64(i+1) >= uint64(1)<<(o.SubnetLen-o.ClusterCIDR.Bits()) {
			return Node{}, Inputf("%s: no /%d left in %s for node %d", w("pod_cidr"), o.SubnetLen, o.ClusterCIDR, i+1)
		}
		base := o.ClusterCIDR.Masked().Addr().As4()
		v := uint64(base[0])<<24 | uint64(base[1])<<16 | uint64(base[2])<<8 | uint64(base[3])
		v += uint64(i+1) * span
		n.PodCIDR = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), o.SubnetLen)
	}
	if t.Mode == OverlayMode && uint64(n.Workloads) > ipam.Size(n.PodCIDR)-1 {
		return Node{}, Inputf("%s: %d pods do not fit %s (use a larger overlay.subnet_len or pod_cidr)", w("pods"), n.Workloads, n.PodCIDR)
	}
	return n, nil
}

// hostOf reports whether a is a host address of p: inside it, and neither
// its network nor its broadcast address.
func hostOf(p netip.Prefix, a netip.Addr) bool {
	if !p.Contains(a) || a == p.Masked().Addr() {
		return false
	}
	last, err := ipam.Nth(p, ipam.Size(p))
	return err == nil && a.Compare(last) <= 0
}

// reservedIf says what else a node's interface called name already is, or
// "" when the name is free for a bridge of the lab's.
func reservedIf(name, iface string) string {
	switch {
	case name == "lo":
		return "the loopback interface"
	case name == iface:
		return "the nodes' underlay interface"
	case name == "br-underlay":
		return "the embedded underlay's switch"
	case strings.HasPrefix(name, "veth-"):
		return "how netlab names the host ends of workloads' veth pairs"
	case name == "flannel.1" || name == "cni0":
		return "the Kubernetes model's interface of that name"
	}
	return ""
}

// quote quotes a value from the input for a message, cut to a readable
// length: an error must not echo a megabyte back.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// LoadFile reads a topology file (YAML or JSON), strictly: at most
// MaxFileSize bytes of a regular file, one document, no duplicate keys, no
// unknown fields, no field without a value, and not empty.
func LoadFile(path string) (File, error) {
	var f File
	data, err := readSmall(path, MaxFileSize)
	if err != nil {
		return f, Inputf("--topology %s: %v", quote(path), err)
	}
	if err := oneDocument(data); err != nil {
		return f, Inputf("%s: %v", path, err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return f, Inputf("%s: not YAML or JSON: %s", path, cutMsg(err.Error()))
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return f, Inputf("%s: not YAML or JSON: %s", path, cutMsg(err.Error()))
	}
	m, ok := doc.(map[string]any)
	switch {
	case doc == nil || ok && len(m) == 0:
		return f, Inputf("%s: the file is empty: give at least one field (nodes:, underlay:, docker:, overlay:), or leave out --topology", path)
	case !ok:
		return f, Inputf("%s: must be a mapping of fields (nodes:, underlay:, ...), not a %s", path, kindOf(doc))
	}
	if field := nullField(doc, ""); field != "" {
		return f, Inputf("%s: %s has no value: give it one, or leave the field out", path, field)
	}
	if nodes, ok := m["nodes"].([]any); ok && len(nodes) == 0 {
		return f, Inputf("%s: nodes: the list is empty: list at least one node, or leave nodes out for the default two", path)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, Inputf("%s: %s", path, cutMsg(err.Error()))
	}
	return f, nil
}

// readSmall reads a regular file of at most limit bytes. It opens without
// blocking, so a FIFO is refused rather than waited on.
func readSmall(path string, limit int64) ([]byte, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s): give the path of a topology file", fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes: a topology file is a few hundred", limit)
	}
	return data, nil
}

// nullField returns the path of the first field of v without a value
// (YAML's "key:" or null), or "".
func nullField(v any, path string) string {
	switch x := v.(type) {
	case nil:
		return path
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if f := nullField(x[k], p); f != "" {
				return f
			}
		}
	case []any:
		for i, e := range x {
			if f := nullField(e, fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f
			}
		}
	}
	return ""
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// oneDocument refuses what a YAML parser would read only the start of: a
// JSON document with more after it, or several YAML documents.
func oneDocument(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if dec.Decode(&v) == nil {
		if _, err := dec.Token(); err != io.EOF {
			return fmt.Errorf("not YAML or JSON: more after the JSON document (at byte %d)", dec.InputOffset())
		}
		return nil
	}
	content := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, " \t\r")
		switch {
		case line == "---" || strings.HasPrefix(line, "--- "):
			if content {
				return fmt.Errorf("holds several YAML documents: a topology is one")
			}
		case line == "..." || line == "" || strings.HasPrefix(strings.TrimSpace(line), "#"):
		default:
			content = true
		}
	}
	return nil
}

// cutMsg makes a parser's message, which may quote the input, one line of
// readable length.
func cutMsg(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Collides reports whether an existing route to dst takes addresses from
// the lab's range mine: a route inside mine or equal to it does. A route
// less specific than mine that merely contains it, such as the default
// route every VM has, does not: the lab's more specific routes win there,
// as they do on every Docker host and Kubernetes node.
func Collides(dst, mine netip.Prefix) bool {
	return dst.Overlaps(mine) && dst.Bits() >= mine.Bits()
}

// IsLocal reports whether node name is built by this netlab: every node
// when embedded, the machine's own on a real one.
func (t *Topology) IsLocal(name string) bool {
	for _, n := range t.LocalNodes() {
		if n.Name == name {
			return true
		}
	}
	return false
}
