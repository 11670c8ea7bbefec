package bridge

import (
	"fmt"
	"net/netip"

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
	ws := s.OnNode(n.Name)
	if len(ws) == 0 {
		return ""
	}
	d := s.Topology.Docker
	return fmt.Sprintf("   :%d → %s:%d", d.PublishPort, ws[0].Name, d.TargetPort)
}

func (view) NodeInterfaces(*state.State, topo.Node) string { return "" }

func (view) Built(s *state.State) []string {
	t := s.Topology
	d := t.Docker
	return []string{
		fmt.Sprintf("%s, a Linux bridge with %s/%d: the same subnet on every host, as in Docker.", d.Bridge, d.Gateway(), d.Subnet.Bits()),
		fmt.Sprintf("per container: a network namespace, a veth pair (eth0 inside, veth-cN on %s), an address, a default route via %s.", d.Bridge, d.Gateway()),
		fmt.Sprintf("iptables: MASQUERADE for %s leaving the host; DNAT host:%d → first container:%d.", d.Subnet, d.PublishPort, d.TargetPort),
		chainsLine(t),
		routedLine(t),
		proxyLine(t),
		"every container runs a web server on :80 that says who it is and who asked.",
	}
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
	var steps []lab.Step
	if len(n1) > 1 {
		steps = append(steps, lab.Step{Cmd: cmd("exec %s -- ping -c1 %s", n1[0].Name, n1[1].IP),
			Why: fmt.Sprintf("%s → %s on one host, straight across %s", n1[0].Name, n1[1].Name, d.Bridge)})
	}
	if t.Outside != nil {
		steps = append(steps,
			lab.Step{Cmd: cmd("exec %s -- curl -s %s", n1[0].Name, t.Outside.IP), Why: fmt.Sprintf("outside sees %s, not %s (MASQUERADE)", local.IP, n1[0].IP)},
			lab.Step{Cmd: cmd("exec outside -- curl -s %s:%d", local.IP, d.PublishPort), Why: fmt.Sprintf("published port → %s:%d (DNAT)", n1[0].Name, d.TargetPort)},
			lab.Step{Cmd: cmd("exec %s -- traceroute -n %s", n1[0].Name, t.Outside.IP), Why: fmt.Sprintf("first hop: %s", d.Gateway())})
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
	d.Docker = &api.DockerSettings{Version: t.Docker.Release(), UserlandProxy: t.Docker.UserlandProxy, AllowDirectRouting: t.Docker.AllowDirectRouting}
	for _, n := range t.Nodes {
		ws := s.OnNode(n.Name)
		if len(ws) == 0 {
			continue
		}
		proxied := false
		for _, p := range s.Proxies {
			proxied = proxied || (p.Node == n.Name && p.HostPort == t.Docker.PublishPort && !p.Reserve)
		}
		d.Published = append(d.Published, api.Published{Node: n.Name, HostPort: t.Docker.PublishPort,
			Workload: ws[0].Name, TargetIP: ws[0].IP.String(), TargetPort: t.Docker.TargetPort, UserlandProxy: proxied})
	}
}

// Published is w's node's published port, when w is the container it
// leads to: the first of each node, at the subnet's first free address
// (the same on every host).
func (view) Published(s *state.State, w state.Workload) (netip.AddrPort, bool) {
	t := s.Topology
	first, _ := ipam.Nth(t.Docker.Subnet, 2)
	for _, n := range t.Nodes {
		if n.Name == w.Node && w.IP == first {
			return netip.AddrPortFrom(n.IP, uint16(t.Docker.PublishPort)), true
		}
	}
	return netip.AddrPort{}, false
}
