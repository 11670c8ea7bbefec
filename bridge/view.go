package bridge

import (
	"fmt"
	"net/netip"
	"strings"

	"netlab/internal/api"
	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/state"
	"netlab/internal/topo"
)

func init() { lab.RegisterView(Mode, view{}) }

// view describes a Docker-model lab (lab.View).
type view struct{}

func (view) Model() string { return "the Docker model" }
func (view) Kind() string  { return "container" }

func (view) Bridge(s *state.State, _ topo.Node) (string, netip.Prefix) {
	d := s.Topology.Docker
	return d.Bridge, netip.PrefixFrom(d.Gateway(), d.Subnet.Bits())
}

func (view) Underlay(*state.State) string { return "" }

func (view) NodeDetail(s *state.State, n topo.Node) string {
	pub, _, ok := Published(s.Topology, s.OnNode(n.Name))
	if !ok {
		return ""
	}
	d := s.Topology.Docker
	return fmt.Sprintf("   :%d → %s:%d", d.PublishPort, pub.Name, d.TargetPort)
}

func (view) NodeInterfaces(*state.State, topo.Node) string { return "" }

func (view) Built(s *state.State) []string {
	t := s.Topology
	d := t.Docker
	var nets []string
	if len(d.Networks) > 0 {
		var each []string
		for _, n := range d.Networks {
			w := fmt.Sprintf("%s %s on %s", n.Name, n.Subnet, n.Bridge)
			if n.Internal {
				w += " (internal: no way out)"
			}
			each = append(each, w)
		}
		nets = append(nets,
			"user-defined networks (docker network create), each a bridge of its own, isolated from the others: "+strings.Join(each, "; ")+".",
			"Docker's embedded DNS: nameserver 127.0.0.11 in each of their containers, DNATed to dockerd's resolver, which answers the names and aliases of the containers of the same networks and forwards other names from the node.")
	}
	if t.IPv6 {
		nets = append(nets, fmt.Sprintf("dual-stack (--ipv6, Docker's --ipv6 --fixed-cidr-v6 %s): %s also has %s/%d, each container an IPv6 address beside its IPv4 one and a default route via %s; ip6tables: NAT66 (MASQUERADE) for %s leaving the host, DNAT [host]:%d → first container; docker-proxy on [::]:%d too. The underlay: %s.",
			d.Subnet6, d.Bridge, d.Gateway6(), d.Subnet6.Bits(), d.Gateway6(), d.Subnet6, d.PublishPort, d.PublishPort, t.Underlay6))
	}
	return append(nets,
		fmt.Sprintf("%s, a Linux bridge with %s/%d: the same subnet on every host, as in Docker.", d.Bridge, d.Gateway(), d.Subnet.Bits()),
		fmt.Sprintf("per container: a network namespace, a veth pair (eth0 inside, veth-cN on %s), an address, a default route via %s.", d.Bridge, d.Gateway()),
		fmt.Sprintf("iptables: MASQUERADE for %s leaving the host; DNAT host:%d → first container:%d.", d.Subnet, d.PublishPort, d.TargetPort),
		chainsLine(t),
		routedLine(t),
		proxyLine(t),
		"every container runs a web server on :80 that says who it is and who asked.",
	)
}

// proxyLine says how the published port serves what DNAT does not catch.
func proxyLine(t *topo.Topology) string {
	d := t.Docker
	if d.UserlandProxy {
		return fmt.Sprintf("docker-proxy, Docker's userland proxy, listens on host:%d too: for the host's own 127.0.0.1 and containers of %s (they see %s).",
			d.PublishPort, d.Bridge, d.Gateway())
	}
	return fmt.Sprintf("no docker-proxy (--userland-proxy=false): rules catch it all, with hairpin on %s's ports and route_localnet; containers see their real clients, the host and a container to its own port see %s. dockerd still holds host:%d (listening, never accepting).",
		d.Bridge, d.Gateway(), d.PublishPort)
}

// chainsLine says whose chains hold the rules.
func chainsLine(t *topo.Topology) string {
	if t.Embedded && t.Docker.Is28() {
		return "the chains and rules are dockerd 28's own (FORWARD → DOCKER-USER, DOCKER-FORWARD → DOCKER-CT, DOCKER-ISOLATION-STAGE-1/2, DOCKER-BRIDGE → DOCKER), with its FORWARD policy DROP, and its ip6tables chains."
	}
	if t.Embedded {
		return "the chains and rules are dockerd 20.10's own (DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2), with its FORWARD policy DROP."
	}
	c := func(s string) string { return names.ChainName(t.Lab, s) }
	line := fmt.Sprintf("this machine's Docker chains are left alone: %s plays nat DOCKER, %s Docker's MASQUERADE, %s filter DOCKER and its FORWARD rules",
		c("DNAT"), c("SNAT"), c("FWD"))
	if rawDrops(t.Docker) {
		line += fmt.Sprintf(", %s Docker 28's drops in raw PREROUTING", c("RAW"))
	}
	return line + "."
}

// routedLine says what becomes of a packet routed to a container's address
// from outside its host.
func routedLine(t *topo.Topology) string {
	d := t.Docker
	switch {
	case rawDrops(d):
		return fmt.Sprintf("Docker 28: a packet routed to a container's address from outside %s is dropped (raw PREROUTING), published port or not; --allow-direct-routing lets it through.", d.Bridge)
	case d.Is28():
		return fmt.Sprintf("--allow-direct-routing: a packet routed to a container's address from outside %s reaches its published port (DOCKER accepts it), nothing else.", d.Bridge)
	}
	return fmt.Sprintf("Docker %s: a packet routed to a container's address from outside %s reaches its published port (Docker 28 drops it).", d.Release(), d.Bridge)
}

func (view) Steps(s *state.State, cmd func(string, ...any) string) []lab.Step {
	t := s.Topology
	d := t.Docker
	local := t.LocalNodes()[0]
	n1 := s.OnNode(local.Name)
	// The first container's own network (the default bridge, unless the
	// topology puts it on another).
	br, gw := d.Bridge, d.Gateway()
	if as := Attachments(t, n1[0]); len(as) > 0 {
		n := networkOf(d, as[0].Network)
		br, gw = n.Bridge, n.Gateway()
	}
	var steps []lab.Step
	for _, a := range n1 {
		if a.DNSPort == 0 {
			continue
		}
		for _, b := range n1 {
			if b.Name != a.Name && len(b.Networks) > 0 && b.Networks[0].Network == a.Networks[0].Network {
				steps = append(steps, lab.Step{Cmd: cmd("exec %s -- getent hosts %s", a.Name, b.Name),
					Why: fmt.Sprintf("%s's address, from Docker's embedded DNS (both on %s)", b.Name, a.Networks[0].Network)})
				break
			}
		}
		break
	}
	if len(n1) > 1 {
		steps = append(steps, lab.Step{Cmd: cmd("exec %s -- ping -c1 %s", n1[0].Name, n1[1].IP),
			Why: fmt.Sprintf("%s → %s on one host, straight across %s", n1[0].Name, n1[1].Name, br)})
	}
	if t.Outside != nil {
		steps = append(steps,
			lab.Step{Cmd: cmd("exec %s -- curl -s %s", n1[0].Name, t.Outside.IP), Why: fmt.Sprintf("outside sees %s, not %s (MASQUERADE)", local.IP, n1[0].IP)},
			lab.Step{Cmd: cmd("exec outside -- curl -s %s:%d", local.IP, d.PublishPort), Why: fmt.Sprintf("published port → %s:%d (DNAT)", n1[0].Name, d.TargetPort)},
			lab.Step{Cmd: cmd("exec %s -- traceroute -n %s", n1[0].Name, t.Outside.IP), Why: fmt.Sprintf("first hop: %s", gw)})
		if t.IPv6 && n1[0].IP6.IsValid() {
			steps = append(steps,
				lab.Step{Cmd: cmd("exec %s -- curl -s '[%s]'", n1[0].Name, t.Outside.IP6), Why: fmt.Sprintf("IPv6: outside sees %s, not %s (NAT66)", local.IP6, n1[0].IP6)},
				lab.Step{Cmd: cmd("exec outside -- curl -s '[%s]:%d'", local.IP6, d.PublishPort), Why: fmt.Sprintf("IPv6: published port → %s:%d", n1[0].Name, d.TargetPort)})
		}
	}
	if !t.Embedded {
		return steps
	}
	for _, n := range t.Nodes {
		if peer := s.OnNode(n.Name); n.Name != local.Name && len(peer) > 0 {
			last := peer[len(peer)-1]
			steps = append(steps, lab.Step{Cmd: cmd("exec %s -- curl -s %s", n1[0].Name, last.IP),
				Why: fmt.Sprintf("%s's address: on %s, a container of %s answers", last.Name, local.Name, local.Name)})
			break
		}
	}
	return steps
}

func (view) Decode(*state.State) []string { return nil }

// Join: nothing joins two Docker hosts' containers.
func (view) Join(*state.State, topo.Node, topo.Node) string { return "" }

func (view) Status(s *state.State, d *api.Status) {
	t := s.Topology
	d.Subnet = t.Docker.Subnet.String()
	if t.IPv6 {
		d.Subnet6 = t.Docker.Subnet6.String()
		for i := range d.Nodes {
			if d.Nodes[i].Role == "node" {
				d.Nodes[i].BridgeIP6 = t.Docker.Gateway6().String()
			}
		}
	}
	d.Docker = &api.DockerSettings{Version: t.Docker.Release(), UserlandProxy: t.Docker.UserlandProxy, AllowDirectRouting: t.Docker.AllowDirectRouting}
	for _, n := range networks(t.Docker) {
		dn := api.DockerNetwork{Name: n.Name, Subnet: n.Subnet.String(), Bridge: n.Bridge, Internal: n.Internal}
		gw, _ := ipam.Nth(n.Subnet, 1)
		dn.Gateway = gw.String()
		if u := t.Docker.Network(n.Name); u != nil {
			dn.ID = u.ID
		}
		d.Docker.Networks = append(d.Docker.Networks, dn)
	}
	for _, n := range t.Nodes {
		pub, at, ok := Published(t, s.OnNode(n.Name))
		if !ok {
			continue
		}
		proxied := false
		for _, p := range s.Proxies {
			proxied = proxied || (p.Node == n.Name && p.HostPort == t.Docker.PublishPort && !p.Reserve)
		}
		ap := api.Published{Node: n.Name, HostPort: t.Docker.PublishPort,
			Workload: pub.Name, TargetIP: at.IP.String(), TargetPort: t.Docker.TargetPort, UserlandProxy: proxied}
		if pub.IP6.IsValid() {
			ap.TargetIP6 = pub.IP6.String()
		}
		d.Published = append(d.Published, ap)
	}
}

// Published is w's node's published port, when w is the container it
// leads to: the first of each node on a network (the default bridge's
// first free address, the same on every host, unless the topology puts
// containers elsewhere).
func (view) Published(s *state.State, w state.Workload) (netip.AddrPort, bool) {
	t := s.Topology
	k := 0
	for _, n := range t.Nodes {
		for i := 0; i < n.Workloads; i++ {
			k++
			// The node's first container on a network of its own (this
			// machine's or a peer's, whose workloads the state does not
			// hold: the topology says it alike).
			if name := fmt.Sprintf("c%d", k); t.Docker.Container(name).Mode == "" {
				if n.Name == w.Node && name == w.Name {
					return netip.AddrPortFrom(n.IP, uint16(t.Docker.PublishPort)), true
				}
				k += n.Workloads - i - 1
				break
			}
		}
	}
	return netip.AddrPort{}, false
}
