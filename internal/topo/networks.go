package topo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"netlab/internal/ipam"
	"netlab/internal/names"
)

// DockerNetwork is a user-defined bridge network, as `docker network
// create NAME` makes one on every node of the lab: a bridge br-<id> with
// the subnet's first address, its containers' names in Docker's embedded
// DNS, and isolation from every other network of the node.
type DockerNetwork struct {
	Name   string       `json:"name"`
	Subnet netip.Prefix `json:"subnet"`
	// Internal is `docker network create --internal`: no way out of the
	// node (no default route in its containers, no MASQUERADE, and
	// nothing forwarded between it and any other interface).
	Internal bool `json:"internal,omitempty"`
	// ID is the network's id as Docker shows it (12 hex digits). Docker's
	// is random; netlab's is a hash of the lab and the network's name, so
	// the bridge keeps its name from one up to the next.
	ID string `json:"id"`
	// Bridge is br-<ID>, as Docker names a user-defined network's bridge.
	Bridge string `json:"bridge"`
}

// Gateway is the network's bridge address: the subnet's first host address.
func (n DockerNetwork) Gateway() netip.Addr { a, _ := ipam.Nth(n.Subnet, 1); return a }

// DefaultNetwork is Docker's name for the default bridge (docker0).
const DefaultNetwork = "bridge"

// Docker's network modes, beside its bridge networks.
const (
	ModeHost      = "host"       // the node's own namespace
	ModeNone      = "none"       // a namespace with lo only
	ModeContainer = "container:" // another container's namespace (and name)
)

// DockerContainer is how one container is attached, as `docker run` says
// it: the networks it is on (eth0 on the first), with its aliases on each
// user-defined one, or a network mode. Port is what its server listens on.
type DockerContainer struct {
	Name     string   `json:"name"`
	Networks []string `json:"networks,omitempty"`
	Aliases  []string `json:"aliases,omitempty"`
	Mode     string   `json:"mode,omitempty"`
	Port     int      `json:"port,omitempty"`
}

// SharedWith is the container whose namespace c joins (mode
// container:NAME), or "".
func (c DockerContainer) SharedWith() string {
	name, ok := strings.CutPrefix(c.Mode, ModeContainer)
	if !ok {
		return ""
	}
	return name
}

// Network returns the user-defined network called name, or nil.
func (d Docker) Network(name string) *DockerNetwork {
	for i := range d.Networks {
		if d.Networks[i].Name == name {
			return &d.Networks[i]
		}
	}
	return nil
}

// Container returns how the container called name is attached: as the
// topology file says, else on the lab's network (--network), else on
// the default bridge.
func (d Docker) Container(name string) DockerContainer {
	for _, c := range d.Containers {
		if c.Name == name {
			return c
		}
	}
	c := DockerContainer{Name: name, Networks: []string{DefaultNetwork}}
	if d.DefaultNet != "" {
		c.Networks = []string{d.DefaultNet}
	}
	return c
}

// UserNetworks says the lab has a user-defined network or a container in
// a network mode of its own.
func (d Docker) UserNetworks() bool { return len(d.Networks) > 0 || len(d.Containers) > 0 }

// FileNetwork is a user-defined network in a topology file.
type FileNetwork struct {
	Name     string `json:"name"`
	Subnet   string `json:"subnet,omitempty"`
	Internal bool   `json:"internal,omitempty"`
}

// FileContainer is one container's networking in a topology file, in
// Compose's words: networks (eth0 on the first), aliases, network_mode.
type FileContainer struct {
	Name        string   `json:"name"`
	Networks    []string `json:"networks,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
	NetworkMode string   `json:"network_mode,omitempty"`
	Port        *int     `json:"port,omitempty"`
}

var (
	// networkNameRE is Docker's rule for a network's name, at most 63 bytes.
	networkNameRE = names.MustRE(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
	// aliasRE is a DNS name, lowercase (the embedded DNS answers any case
	// of it): labels of letters, digits and '-', joined by dots.
	aliasRE = names.MustRE(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// networkID is the id netlab gives lab's network name: 12 hex digits.
func networkID(lab, name string) string {
	sum := sha256.Sum256([]byte("netlab network " + lab + "/" + name))
	return hex.EncodeToString(sum[:6])
}

// defaultPools are where Docker takes a new network's subnet from when
// none is given: 172.17.0.0/16 to 172.31.0.0/16 (the first is docker0's),
// then 192.168.0.0/20 and on, the first one free.
func defaultPools() []netip.Prefix {
	var ps []netip.Prefix
	for i := 17; i <= 31; i++ {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
	return ps
}

// freePool is the first subnet of Docker's pools that overlaps none of
// taken (none: the zero prefix).
func freePool(taken []netip.Prefix) netip.Prefix {
	for _, p := range defaultPools() {
		if !slices.ContainsFunc(taken, func(q netip.Prefix) bool { return q.IsValid() && q.Overlaps(p) }) {
			return p
		}
	}
	return netip.Prefix{}
}

// resolveNetworks applies the file's networks and containers, and
// --network (net, nil when not given), after the nodes are known.
func resolveNetworks(t *Topology, f File, net *string, where func(string) string) error {
	if t.Mode != DockerMode {
		switch {
		case len(f.Networks) > 0:
			return Inputf("%s: Docker networks are docker-mode's; overlay-mode's pods are all on one network", where("networks"))
		case len(f.Containers) > 0:
			return Inputf("%s: containers are docker-mode's; overlay-mode has pods", where("containers"))
		}
		return nil
	}
	taken := []netip.Prefix{t.Docker.Subnet, t.Underlay}
	takenBy := []string{"docker.subnet (the default bridge's)", "the underlay"}
	seen := map[string]bool{}
	for i, fn := range f.Networks {
		w := func(field string) string { return where(fmt.Sprintf("networks[%d].%s", i, field)) }
		switch {
		case !networkNameRE.MatchString(fn.Name):
			return Inputf("%s: %s must be letters, digits, '_', '.' or '-', starting with a letter or digit, at most 63 bytes (Docker's rule)", w("name"), quote(fn.Name))
		case fn.Name == DefaultNetwork || fn.Name == ModeHost || fn.Name == ModeNone || fn.Name == "default":
			return Inputf("%s: %s is Docker's own (the default bridge, and the network modes host and none): pick another name", w("name"), quote(fn.Name))
		case seen[fn.Name]:
			return Inputf("%s: %s is already networks[%d]'s name", w("name"), quote(fn.Name), slices.IndexFunc(f.Networks, func(n FileNetwork) bool { return n.Name == fn.Name }))
		}
		seen[fn.Name] = true
		n := DockerNetwork{Name: fn.Name, Internal: fn.Internal, ID: networkID(t.Lab, fn.Name)}
		n.Bridge = "br-" + n.ID
		if fn.Subnet != "" {
			p, err := netip.ParsePrefix(fn.Subnet)
			if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
				return Inputf("%s: %s is not an IPv4 prefix of /30 or larger", w("subnet"), quote(fn.Subnet))
			}
			n.Subnet = p.Masked()
			for j, q := range taken {
				if q.Overlaps(n.Subnet) {
					return Inputf("%s: %s overlaps %s %s", w("subnet"), n.Subnet, takenBy[j], q)
				}
			}
		}
		t.Docker.Networks = append(t.Docker.Networks, n)
		taken = append(taken, n.Subnet)
		takenBy = append(takenBy, "networks["+strconv.Itoa(i)+"]'s")
	}
	// Subnets not given come from Docker's pools, in order, the first free
	// one (of the given ones too, whichever network comes first).
	for i := range t.Docker.Networks {
		n := &t.Docker.Networks[i]
		if n.Subnet.IsValid() {
			continue
		}
		n.Subnet = freePool(taken)
		taken = append(taken, n.Subnet)
		if !n.Subnet.IsValid() {
			return Inputf("%s: no subnet of Docker's pools (172.17-31.0.0/16, 192.168.0-240.0/20) is free: give one", where(fmt.Sprintf("networks[%d].subnet", i)))
		}
	}
	if net != nil && *net != "" && *net != DefaultNetwork {
		switch n := *net; {
		case n == ModeHost || n == ModeNone || strings.HasPrefix(n, ModeContainer):
			return Inputf("--network %s: give a network mode per container, in a topology file (containers: [{name: c1, network_mode: %s}])", quote(n), n)
		case !networkNameRE.MatchString(n):
			return Inputf("--network %s: a network's name is letters, digits, '_', '.' or '-', starting with a letter or digit, at most 63 bytes (Docker's rule)", quote(n))
		case t.Docker.Network(n) == nil:
			// Created as `docker network create NAME` would: the next free
			// subnet of the pools.
			d := DockerNetwork{Name: n, ID: networkID(t.Lab, n), Subnet: freePool(taken)}
			d.Bridge = "br-" + d.ID
			if !d.Subnet.IsValid() {
				return Inputf("--network %s: no subnet of Docker's pools is free", quote(n))
			}
			t.Docker.Networks = append(t.Docker.Networks, d)
		}
		t.Docker.DefaultNet = *net
	}
	node := map[string]string{} // container -> node
	n := 0
	for _, nd := range t.Nodes {
		for i := 0; i < nd.Workloads; i++ {
			n++
			node[fmt.Sprintf("c%d", n)] = nd.Name
		}
	}
	byName := map[string]int{}
	for i, fc := range f.Containers {
		w := func(field string) string { return where(fmt.Sprintf("containers[%d].%s", i, field)) }
		if _, ok := node[fc.Name]; !ok {
			return Inputf("%s: %s is not a container of this lab (its containers are c1 to c%d, numbered across the nodes)", w("name"), quote(fc.Name), n)
		}
		if j, ok := byName[fc.Name]; ok {
			return Inputf("%s: %s is already containers[%d]", w("name"), quote(fc.Name), j)
		}
		byName[fc.Name] = i
		c := DockerContainer{Name: fc.Name, Mode: fc.NetworkMode, Networks: fc.Networks, Aliases: fc.Aliases}
		switch {
		case fc.NetworkMode == DefaultNetwork:
			if len(fc.Networks) > 0 {
				return Inputf("%s: network_mode bridge and networks: give one or the other", w("network_mode"))
			}
			c.Mode, c.Networks = "", []string{DefaultNetwork}
		case fc.NetworkMode == "":
			if len(c.Networks) == 0 {
				c.Networks = t.Docker.Container(fc.Name).Networks
			}
		case fc.NetworkMode == ModeHost || fc.NetworkMode == ModeNone || strings.HasPrefix(fc.NetworkMode, ModeContainer):
			if len(fc.Networks) > 0 || len(fc.Aliases) > 0 {
				return Inputf("%s: a container in network mode %s is on no network of its own: it takes no networks or aliases", w("network_mode"), fc.NetworkMode)
			}
		default:
			return Inputf("%s: %s is not a network mode: bridge, host, none or container:NAME", w("network_mode"), quote(fc.NetworkMode))
		}
		onUser := false
		for j, name := range c.Networks {
			if name != DefaultNetwork && t.Docker.Network(name) == nil {
				return Inputf("%s: %s is no network of this lab (networks: %s)", w(fmt.Sprintf("networks[%d]", j)), quote(name), networkNames(t.Docker))
			}
			if slices.Index(c.Networks, name) != j {
				return Inputf("%s: %s is already networks[%d]", w(fmt.Sprintf("networks[%d]", j)), quote(name), slices.Index(c.Networks, name))
			}
			onUser = onUser || name != DefaultNetwork
		}
		for j, a := range fc.Aliases {
			switch {
			case !aliasRE.MatchString(a) || len(a) > 253:
				return Inputf("%s: %s is not a DNS name in lowercase (labels of letters, digits and '-', joined by dots)", w(fmt.Sprintf("aliases[%d]", j)), quote(a))
			case !onUser:
				return Inputf("%s: an alias is answered by Docker's embedded DNS, on a user-defined network: %s is on none", w("aliases"), fc.Name)
			}
		}
		if fc.Port != nil {
			if *fc.Port < 1 || *fc.Port > 65535 {
				return Inputf("%s: %d is not a TCP port", w("port"), *fc.Port)
			}
			c.Port = *fc.Port
		}
		t.Docker.Containers = append(t.Docker.Containers, c)
	}
	// A namespace to share is another container's own, on the same node.
	for i := range t.Docker.Containers {
		c := &t.Docker.Containers[i]
		w := func(field string) string { return where(fmt.Sprintf("containers[%d].%s", byName[c.Name], field)) }
		if other := c.SharedWith(); other != "" {
			switch {
			case node[other] == "":
				return Inputf("%s: %s is not a container of this lab", w("network_mode"), quote(other))
			case other == c.Name:
				return Inputf("%s: %s cannot share its own namespace", w("network_mode"), c.Name)
			case node[other] != node[c.Name]:
				return Inputf("%s: %s runs on %s and %s on %s: containers share a namespace on one host only", w("network_mode"), c.Name, node[c.Name], other, node[other])
			case t.Docker.Container(other).SharedWith() != "":
				owner := t.Docker.Container(other).SharedWith()
				return Inputf("%s: %s itself shares %s's namespace: name %s", w("network_mode"), other, owner, owner)
			}
		}
	}
	if t.Docker.UserNetworks() {
		what := where("networks")
		if len(f.Networks) == 0 && len(f.Containers) == 0 {
			what = "--network " + *net
		}
		switch {
		case !t.Docker.Is28():
			return Inputf("%s: user-defined networks and network modes are built as Docker 28 writes them (recorded from 28.5.2): use --docker-version 28 (docker.version in a topology file)", what)
		case !t.Docker.UserlandProxy:
			return Inputf("%s: user-defined networks are built as Docker 28 writes them with its userland proxy (the layout recorded): leave --userland-proxy (userland_proxy in a topology file) on", what)
		}
	}
	return assignPorts(t, node)
}

// assignPorts gives each container the port its server listens on: the
// file's, else the target port, else (in a namespace another server holds
// it in: container:NAME, host) the next one free there.
func assignPorts(t *Topology, node map[string]string) error {
	held := map[string]map[int]string{} // namespace -> port -> container
	hold := func(ns string, port int, c string) string {
		if held[ns] == nil {
			held[ns] = map[int]string{}
		}
		if other, ok := held[ns][port]; ok {
			return other
		}
		held[ns][port] = c
		return ""
	}
	nsOf := func(c DockerContainer) string {
		switch {
		case c.Mode == ModeHost:
			return "node " + node[c.Name]
		case c.SharedWith() != "":
			return c.SharedWith()
		}
		return c.Name
	}
	// The node's own ports: the published one. A container the file does
	// not name holds the target port in its own namespace.
	for _, nd := range t.Nodes {
		hold("node "+nd.Name, t.Docker.PublishPort, "the published port")
	}
	for c := range node {
		if !slices.ContainsFunc(t.Docker.Containers, func(d DockerContainer) bool { return d.Name == c }) {
			hold(c, t.Docker.TargetPort, c)
		}
	}
	for _, pass := range []bool{true, false} { // given ports first
		for i := range t.Docker.Containers {
			c := &t.Docker.Containers[i]
			if (c.Port != 0) != pass {
				continue
			}
			ns := nsOf(*c)
			if pass {
				if other := hold(ns, c.Port, c.Name); other != "" {
					return Inputf("containers: %s and %s both listen on port %d in one namespace: give one another port", c.Name, other, c.Port)
				}
				continue
			}
			for p := t.Docker.TargetPort; ; p++ {
				if hold(ns, p, c.Name) == "" {
					c.Port = p
					break
				}
			}
		}
	}
	return nil
}

func networkNames(d Docker) string {
	s := []string{DefaultNetwork}
	for _, n := range d.Networks {
		s = append(s, n.Name)
	}
	return strings.Join(s, ", ")
}
