package bridge

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/miekg/dns"

	"netlab/internal/ipam"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// Docker's networks on a node: its default bridge (docker0) and the
// user-defined ones (br-<id>), each a bridge of its own, isolated from
// the others; and the network modes, which are no network of their own
// (host: the node's namespace; none: lo only; container:NAME: NAME's).

// network is one of a node's Docker networks, the default bridge too.
type network struct {
	Name, Bridge string
	Subnet       netip.Prefix
	Internal     bool
}

// networks are a node's Docker networks in the order dockerd creates
// them: the default bridge at its start, then the user-defined ones.
func networks(d topo.Docker) []network {
	ns := []network{{Name: topo.DefaultNetwork, Bridge: d.Bridge, Subnet: d.Subnet}}
	for _, n := range d.Networks {
		ns = append(ns, network{Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal})
	}
	return ns
}

// Gateway is the network's bridge address: the subnet's first host address.
func (n network) Gateway() netip.Addr { a, _ := ipam.Nth(n.Subnet, 1); return a }

func networkOf(d topo.Docker, name string) network {
	for _, n := range networks(d) {
		if n.Name == name {
			return n
		}
	}
	panic("bridge: no network " + name)
}

// Attachments are w's interfaces on Docker networks, eth0's first: none
// in a network mode, eth0 on the default bridge for a container of a lab
// without user-defined networks.
func Attachments(t *topo.Topology, w state.Workload) []state.Attachment {
	if len(w.Networks) > 0 || w.Mode != "" {
		return w.Networks
	}
	return []state.Attachment{{Network: topo.DefaultNetwork, Dev: "eth0", IP: w.IP, Prefix: w.Prefix,
		Bridge: t.Docker.Bridge, HostIface: w.HostIface}}
}

// addresser hands out each network's addresses on each node in the order
// containers are made, .2 on (.1 is the bridge), as Docker's IPAM does.
type addresser map[string]uint64 // node/network -> the last host number

func (a addresser) next(node string, n network) netip.Addr {
	return a.nextIn(node+"/"+n.Name, n.Subnet)
}

// nextIn is the next address of subnet under key k.
func (a addresser) nextIn(k string, subnet netip.Prefix) netip.Addr {
	if a[k] == 0 {
		a[k] = 1
	}
	a[k]++
	ip, _ := ipam.Nth(subnet, a[k])
	return ip
}

// next6 is the next IPv6 address of subnet on node, ::2 on (::1 is the
// bridge's).
func (a addresser) next6(node string, subnet netip.Prefix) netip.Addr {
	return a.nextIn(node+"/"+subnet.String(), subnet)
}

// container names and addresses the n-th container of the lab, the i-th
// of node, on the networks (or in the mode) its topology gives it.
func (a addresser) container(t *topo.Topology, node topo.Node, n, i int) state.Workload {
	name := fmt.Sprintf("c%d", n)
	w := state.Workload{Name: name, Kind: "container", Node: node.Name, NS: names.NetnsName(t.Lab, name), Port: t.Docker.TargetPort}
	c := t.Docker.Container(name)
	if c.Port != 0 {
		w.Port = c.Port
	}
	switch {
	case c.Mode == topo.ModeHost:
		w.Mode, w.NS, w.IP, w.Prefix = c.Mode, node.NS, node.IP, t.Underlay.Bits()
		return w
	case c.Mode == topo.ModeNone:
		w.Mode = c.Mode
		return w
	case c.SharedWith() != "":
		// Its namespace and address are the other's: Plan copies them.
		w.Mode = c.Mode
		return w
	}
	for k, nn := range c.Networks {
		nw := networkOf(t.Docker, nn)
		at := state.Attachment{Network: nn, Dev: "eth" + strconv.Itoa(k), IP: a.next(node.Name, nw), Prefix: nw.Subnet.Bits(),
			Bridge: nw.Bridge, HostIface: "veth-" + name}
		if k > 0 {
			at.HostIface += "-" + strconv.Itoa(k)
		}
		w.Networks = append(w.Networks, at)
	}
	w.IP, w.Prefix, w.HostIface = w.Networks[0].IP, w.Networks[0].Prefix, w.Networks[0].HostIface
	if t.IPv6 {
		// The same host number in the bridge's IPv6 subnet: Docker's IPAM
		// hands out both in order (fd00:172:17::2 beside 172.17.0.2).
		w.IP6, w.Prefix6 = a.next6(node.Name, t.Docker.Subnet6), t.Docker.Subnet6.Bits()
	}
	if !t.Docker.UserNetworks() || len(c.Networks) == 1 && c.Networks[0] == topo.DefaultNetwork {
		w.Networks = nil // the default bridge alone: as every lab had it
	}
	w.Aliases = c.Aliases
	if onUserNetwork(w) {
		w.DNSPort = dnsPort(t.Lab, name)
	}
	return w
}

// onUserNetwork says w is on a user-defined network, where Docker's
// embedded DNS is its resolver.
func onUserNetwork(w state.Workload) bool {
	for _, a := range w.Networks {
		if a.Network != topo.DefaultNetwork {
			return true
		}
	}
	return false
}

// dnsPort is the port of the embedded DNS in container name of lab, in
// the kernel's default ephemeral range (32768-60999), where the kernel
// picked Docker's. Docker's is random; netlab's is a hash of the lab and
// the container, so that a plan made again (trace's check of what netlab
// built) names the same port.
func dnsPort(lab, name string) int {
	sum := sha256.Sum256([]byte("netlab dns " + lab + "/" + name))
	return 32768 + int(binary.BigEndian.Uint16(sum[:2]))%(60999-32768+1)
}

// shareNamespaces gives every container in mode container:NAME NAME's
// namespace and address, as Docker does: one namespace, two containers.
func shareNamespaces(ws []state.Workload) {
	by := map[string]int{}
	for i, w := range ws {
		by[w.Name] = i
	}
	for i := range ws {
		if other := (topo.DockerContainer{Mode: ws[i].Mode}).SharedWith(); other != "" {
			o := ws[by[other]]
			ws[i].NS, ws[i].IP, ws[i].Prefix = o.NS, o.IP, o.Prefix
		}
	}
}

// Published is the container whose port the node publishes (the first
// on a network of its own) and its interface there; ok is false when no
// container of cs is on one.
func Published(t *topo.Topology, cs []state.Workload) (state.Workload, state.Attachment, bool) {
	for _, c := range cs {
		if as := Attachments(t, c); len(as) > 0 {
			return c, as[0], true
		}
	}
	return state.Workload{}, state.Attachment{}, false
}

// resolvConf is the resolv.conf Docker 28 writes for w: the embedded DNS
// on a user-defined network, else the node's own nameserver (the outside
// host, in an embedded lab), each with Docker's own comments.
func resolvConf(t *topo.Topology, w state.Workload) netops.Op {
	head := []string{"# Generated by Docker Engine.",
		"# This file can be edited; Docker Engine will not make further changes once it",
		"# has been modified.", ""}
	host := HostNameserver(t)
	lines := append(head, "nameserver "+host, "", "# Based on host file: '/etc/resolv.conf' (legacy)", "# Overrides: []")
	if w.DNSPort != 0 {
		ext := "[]"
		if host != "" {
			ext = "[host(" + host + ")]"
		}
		lines = append(head, "nameserver "+EmbeddedDNS, "options ndots:0", "",
			"# Based on host file: '/etc/resolv.conf' (internal resolver)",
			"# ExtServers: "+ext, "# Overrides: []", "# Option ndots from: internal")
	}
	return netops.ResolvConf{NS: w.NS, Marker: names.RuleMarker(t.Lab), Lines: lines}
}

// HostNameserver is a node's nameserver, where the embedded DNS forwards
// what it does not know: the outside host in an embedded lab, else the
// first of this machine's /etc/resolv.conf ("" if none).
func HostNameserver(t *topo.Topology) string {
	if t.Outside != nil {
		return t.Outside.IP.String()
	}
	if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
		return cc.Servers[0]
	}
	return ""
}

// EmbeddedDNS is the address of Docker's embedded DNS in every container
// on a user-defined network.
const EmbeddedDNS = "127.0.0.11"

// DNSChains are the chains Docker writes in a container's own namespace
// for its embedded DNS.
var DNSChains = []netops.Chain{{Table: "nat", Name: "DOCKER_OUTPUT"}, {Table: "nat", Name: "DOCKER_POSTROUTING"}}

// DNSRules are those chains' rules for a resolver on port: the
// container's queries to 127.0.0.11:53 go to the resolver's port, and its
// answers come back from port 53.
func DNSRules(port int) []netops.Rule {
	p := strconv.Itoa(port)
	var rules []netops.Rule
	rules = append(rules,
		netops.Rule{Table: "nat", Chain: "OUTPUT", Spec: []string{"-d", EmbeddedDNS + "/32", "-j", "DOCKER_OUTPUT"},
			Why: "queries to the embedded DNS"},
		netops.Rule{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-d", EmbeddedDNS + "/32", "-j", "DOCKER_POSTROUTING"},
			Why: "its answers"})
	for _, proto := range []string{"tcp", "udp"} {
		rules = append(rules, netops.Rule{Table: "nat", Chain: "DOCKER_OUTPUT",
			Spec: []string{"-d", EmbeddedDNS + "/32", "-p", proto, "--dport", "53", "-j", "DNAT", "--to-destination", EmbeddedDNS + ":" + p},
			Why:  "port 53 goes to the embedded DNS, listening on " + proto + " " + p})
	}
	for _, proto := range []string{"tcp", "udp"} {
		rules = append(rules, netops.Rule{Table: "nat", Chain: "DOCKER_POSTROUTING",
			Spec: []string{"-s", EmbeddedDNS + "/32", "-p", proto, "--sport", p, "-j", "SNAT", "--to-source", ":53"},
			Why:  "the answer comes from port 53, as asked"})
	}
	return rules
}
