package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"

	"sigs.k8s.io/yaml"

	"netlab/internal/ipam"
	"netlab/internal/netops"
)

var sprintf = fmt.Sprintf

// Limits of the lab's size.
const (
	MaxNodes     = 16
	MaxWorkloads = 4000
)

// Topology is a resolved, valid lab: every name, address and count decided.
type Topology struct {
	Lab      string       `json:"lab"`
	Mode     string       `json:"mode"`
	Underlay netip.Prefix `json:"underlay"`
	// Embedded is true when nodes, the underlay and the outside host are
	// namespaces netlab makes; false on a real node (a VM).
	Embedded bool   `json:"embedded"`
	Outside  *Host  `json:"outside,omitempty"`
	Nodes    []Node `json:"nodes"`
	Docker   Docker `json:"docker"`
}

// Host is a machine on the underlay.
type Host struct {
	Name string     `json:"name"`
	IP   netip.Addr `json:"ip"`
	// NS is the namespace that is this host's network stack.
	NS netops.NS `json:"netns"`
	// Iface is the host's interface on the underlay (eth1, as in a VM).
	Iface string `json:"iface"`
}

// Node is a host that runs workloads.
type Node struct {
	Host
	// Workloads is how many containers (or pods) the node runs.
	Workloads int `json:"workloads"`
}

// Docker holds the Docker model's settings, Docker's defaults unless a
// topology file says otherwise.
type Docker struct {
	Bridge      string       `json:"bridge"`
	Subnet      netip.Prefix `json:"subnet"`
	PublishPort int          `json:"publish_port"`
	TargetPort  int          `json:"target_port"`
}

// Gateway is the bridge's address: the subnet's first host address.
func (d Docker) Gateway() netip.Addr { a, _ := ipam.Nth(d.Subnet, 1); return a }

// UnderlayNetns is the namespace of the embedded underlay switch.
func (t *Topology) UnderlayNetns() netops.NS { return NetnsName(t.Lab, "underlay") }

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
	Mode       string
	Nodes      int
	Workloads  int
	File       string
	WorkloadsF string // the flag that sets Workloads, for messages
	// NodesSet and WorkloadsSet say the counts were given on the command
	// line (and so conflict with a topology file).
	NodesSet, WorkloadsSet bool
}

// File is a topology file as written: every field optional.
type File struct {
	Underlay string     `json:"underlay,omitempty"`
	Outside  string     `json:"outside,omitempty"`
	Nodes    []FileNode `json:"nodes,omitempty"`
	Docker   *FileDock  `json:"docker,omitempty"`
}

// FileNode is one node in a topology file.
type FileNode struct {
	Name       string `json:"name"`
	IP         string `json:"ip"`
	Containers *int   `json:"containers,omitempty"`
}

// FileDock holds the Docker model's settings in a topology file.
type FileDock struct {
	Bridge  string `json:"bridge,omitempty"`
	Subnet  string `json:"subnet,omitempty"`
	Publish *int   `json:"publish,omitempty"`
}

// Resolve turns options (and the topology file they name) into a valid
// embedded topology, or an InputError that names the flag or field.
func Resolve(o Options) (*Topology, error) {
	if err := CheckLabName(o.Lab); err != nil {
		return nil, &InputError{Msg: err.Error()}
	}
	t := &Topology{
		Lab: o.Lab, Mode: o.Mode, Embedded: true,
		Underlay: netip.MustParsePrefix("192.168.56.0/24"),
		Docker: Docker{Bridge: "docker0", Subnet: netip.MustParsePrefix("172.17.0.0/16"),
			PublishPort: 8080, TargetPort: 80},
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
	where := func(field string) string { return o.File + ": " + field }
	if f.Underlay != "" {
		p, err := netip.ParsePrefix(f.Underlay)
		if err != nil || !p.Addr().Is4() {
			return nil, Inputf("%s: %q is not an IPv4 prefix such as 192.168.56.0/24", where("underlay"), f.Underlay)
		}
		t.Underlay = p.Masked()
	}
	if f.Outside != "" {
		a, err := netip.ParseAddr(f.Outside)
		if err != nil {
			return nil, Inputf("%s: %q is not an IPv4 address", where("outside"), f.Outside)
		}
		outside = a
	}
	if !t.Underlay.Contains(outside) {
		return nil, Inputf("%s: %s is not in the underlay %s", where("outside"), outside, t.Underlay)
	}
	t.Outside = &Host{Name: "outside", IP: outside, NS: NetnsName(o.Lab, "outside"), Iface: "eth1"}
	if len(f.Nodes) > MaxNodes {
		return nil, Inputf("%s: %d nodes, at most %d", where("nodes"), len(f.Nodes), MaxNodes)
	}
	if len(f.Nodes) == 0 {
		for i := 1; i <= nodes; i++ {
			ip, err := ipam.Nth(t.Underlay, uint64(10+i))
			if err != nil {
				return nil, Inputf("%s: no room for node%d: %v", where("underlay"), i, err)
			}
			t.Nodes = append(t.Nodes, Node{Host: Host{Name: fmt.Sprintf("node%d", i), IP: ip}, Workloads: per})
		}
	}
	seenName := map[string]string{"outside": "the outside host's name", "underlay": "the underlay's name"}
	seenIP := map[netip.Addr]string{outside: "outside"}
	for i, fn := range f.Nodes {
		w := func(field string) string { return where(fmt.Sprintf("nodes[%d].%s", i, field)) }
		if !nodeNameRE.MatchString(fn.Name) {
			return nil, Inputf("%s: %q must be lowercase letters and digits, starting with a letter, at most 10 bytes", w("name"), fn.Name)
		}
		ip, err := netip.ParseAddr(fn.IP)
		if err != nil || !ip.Is4() {
			return nil, Inputf("%s: %q is not an IPv4 address", w("ip"), fn.IP)
		}
		n := Node{Host: Host{Name: fn.Name, IP: ip}, Workloads: 2}
		if fn.Containers != nil {
			if *fn.Containers < 1 || *fn.Containers > MaxWorkloads {
				return nil, Inputf("%s: %d must be from 1 to %d", w("containers"), *fn.Containers, MaxWorkloads)
			}
			n.Workloads = *fn.Containers
		}
		t.Nodes = append(t.Nodes, n)
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		w := func(field string) string { return where(fmt.Sprintf("nodes[%d].%s", i, field)) }
		if what, ok := seenName[n.Name]; ok {
			return nil, Inputf("%s: %q is already %s", w("name"), n.Name, what)
		}
		seenName[n.Name] = fmt.Sprintf("nodes[%d]'s name", i)
		if !t.Underlay.Contains(n.IP) || n.IP == t.Underlay.Addr() {
			return nil, Inputf("%s: %s is not a host address in the underlay %s", w("ip"), n.IP, t.Underlay)
		}
		if other, ok := seenIP[n.IP]; ok {
			return nil, Inputf("%s: %s is already %s's address", w("ip"), n.IP, other)
		}
		seenIP[n.IP] = n.Name
		n.NS, n.Iface = NetnsName(o.Lab, n.Name), "eth1"
	}
	if f.Docker != nil {
		if f.Docker.Bridge != "" {
			if err := CheckIfName(f.Docker.Bridge); err != nil {
				return nil, Inputf("%s: %v", where("docker.bridge"), err)
			}
			t.Docker.Bridge = f.Docker.Bridge
		}
		if f.Docker.Subnet != "" {
			p, err := netip.ParsePrefix(f.Docker.Subnet)
			if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
				return nil, Inputf("%s: %q is not an IPv4 prefix of /30 or larger", where("docker.subnet"), f.Docker.Subnet)
			}
			t.Docker.Subnet = p.Masked()
		}
		if f.Docker.Publish != nil {
			if *f.Docker.Publish < 1 || *f.Docker.Publish > 65535 {
				return nil, Inputf("%s: %d is not a TCP port", where("docker.publish"), *f.Docker.Publish)
			}
			t.Docker.PublishPort = *f.Docker.Publish
		}
	}
	if t.Docker.Subnet.Overlaps(t.Underlay) {
		return nil, Inputf("%s: %s overlaps the underlay %s", where("docker.subnet"), t.Docker.Subnet, t.Underlay)
	}
	for _, n := range t.Nodes {
		if uint64(n.Workloads) > ipam.Size(t.Docker.Subnet)-1 {
			return nil, Inputf("%s: %d containers do not fit %s", where("nodes"), n.Workloads, t.Docker.Subnet)
		}
	}
	return t, nil
}

var nodeNameRE = mustRE(`^[a-z][a-z0-9]{0,9}$`)

// LoadFile reads a topology file (YAML or JSON), refusing unknown fields.
func LoadFile(path string) (File, error) {
	var f File
	data, err := os.ReadFile(path)
	if err != nil {
		return f, Inputf("--topology: %v", err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return f, Inputf("%s: not YAML or JSON: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, Inputf("%s: %v", path, err)
	}
	return f, nil
}
