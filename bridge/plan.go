package bridge

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"

	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// Mode is the name of the Docker model's mode and its default lab name.
const Mode = topo.DockerMode

// UnderlayBridge is the switch of the embedded underlay network.
const UnderlayBridge = "br-underlay"

// Plan returns the ops that build topology t's local hosts (all of them
// when embedded), the containers they run, and every namespace they name.
func Plan(t *topo.Topology) lab.Plan {
	a := addresser{}
	p := lab.PlanWith(t, lab.Model{
		Workload: a.container,
		Node:     Node,
		Make:     Container,
		Firewall: Firewall,
	}, UnderlayBridge)
	shareNamespaces(p.Workloads)
	shareNamespaces(p.Peers)
	if t.Docker.UserNetworks() {
		// Docker's embedded DNS on each node.
		for _, node := range t.LocalNodes() {
			p.Daemons = append(p.Daemons, lab.Daemon{Host: node.Host, Args: names.DaemonArgs(names.DockerDNSName, t.Lab, node.Name),
				Log: "dockerdns-" + node.Name + ".log"})
		}
	}
	if resolvers(t) {
		// The outside host's DNS: the nodes' nameserver, the lab's world.
		p.Daemons = append(p.Daemons, lab.Daemon{Host: *t.Outside, Args: names.DaemonArgs(names.DNSName, t.Lab, t.Outside.Name),
			Log: "dns-outside.log"})
	}
	// Docker's default, the userland proxy: a process of the node listens
	// on the published port too, for what the DNAT rules do not catch
	// (the node's own 127.0.0.1:8080, containers of the same bridge, a
	// container to its own published port). Without it, dockerd still
	// holds the port (listening, never accepting), so that nothing else
	// takes it.
	for _, node := range t.LocalNodes() {
		var ws []state.Workload
		for _, w := range p.Workloads {
			if w.Node == node.Name {
				ws = append(ws, w)
			}
		}
		if w, at, ok := Published(t, ws); ok {
			p.Proxies = append(p.Proxies, Proxies(t, node, w, at)...)
		}
	}
	return p
}

// Proxies are Docker's userland proxies of node's published port, whose
// container is w (at: its attachment), one per address family it listens
// on, as Docker runs one docker-proxy each: IPv4's, relaying to the
// container's IPv4 address, and IPv6's ([::], where the node has IPv6),
// relaying to its IPv6 address in a dual-stack lab, else to its IPv4 one.
// Without the userland proxy, dockerd's hold on the port instead (IPv6's
// only in a dual-stack lab, as recorded), so that nothing else takes it.
func Proxies(t *topo.Topology, node topo.Node, w state.Workload, at state.Attachment) []state.Proxy {
	p := state.Proxy{Node: node.Name, HostPort: t.Docker.PublishPort, Target: at.IP,
		TargetPort: t.Docker.TargetPort, Reserve: !t.Docker.UserlandProxy}
	ps := []state.Proxy{p}
	switch {
	case t.IPv6:
		p.Listen6, p.Target = true, w.IP6
		ps = append(ps, p)
	case t.Docker.UserlandProxy:
		p.Listen6 = true
		ps = append(ps, p)
	}
	return ps
}

// MAC is the MAC Docker 20.10 gives a container on its bridge: 02:42
// (locally administered, unicast) and the four bytes of the IPv4 address,
// so 172.17.0.2 is 02:42:ac:11:00:02, recognisable in ip neigh and tcpdump.
// Docker 28 gives containers random MACs instead (RandomMAC).
func MAC(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// macRand is where random MACs come from (a test makes it repeatable).
var macRand io.Reader = rand.Reader

// RandomMAC is a random locally administered unicast MAC, as Docker 28
// gives docker0 and every container.
func RandomMAC() string {
	var b [6]byte
	if _, err := io.ReadFull(macRand, b[:]); err != nil {
		panic("bridge: no randomness for a MAC: " + err.Error())
	}
	b[0] = b[0]&0xfe | 0x02
	return net.HardwareAddr(b[:]).String()
}

// BridgeMAC is the MAC Docker gives its bridge: 02:42 and four random bytes
// (20.10), or six random ones (28). Either way it is set, so the bridge
// keeps it rather than take its lowest port's.
func BridgeMAC(d topo.Docker) string {
	if d.Is28() {
		return RandomMAC()
	}
	return "02:42" + RandomMAC()[5:]
}

// containerMAC is the MAC of container w's eth0, as d's Docker chooses it.
func containerMAC(d topo.Docker, w state.Workload) string {
	if d.Is28() {
		return RandomMAC()
	}
	return MAC(w.IP)
}

// Node returns the ops that give a node its docker0 network: forwarding on,
// the bridge with Docker's MAC and the gateway address. An embedded node's
// IPv6 is as a Docker host has it: on (lo has ::1, docker0 and the
// containers' veths their link-local addresses), and docker-proxy listens
// on [::] too; a real node's is the machine's own.
func Node(t *topo.Topology, node topo.Node) []netops.Op {
	var ops []netops.Op
	if t.Embedded {
		ops = append(ops, netops.Sysctl{NS: node.NS, Settings: []netops.KV{
			{Key: "net.ipv6.conf.all.disable_ipv6", Value: "0"},
			{Key: "net.ipv6.conf.default.disable_ipv6", Value: "0"},
		}})
	}
	ops = append(ops,
		netops.Sysctl{NS: node.NS, Settings: []netops.KV{
			{Key: "net.ipv4.ip_forward", Value: "1"},
		}},
		netops.BridgeAdd{NS: node.NS, Name: t.Docker.Bridge, Alias: names.Marker(t.Lab, t.Docker.Bridge), MAC: BridgeMAC(t.Docker)},
		netops.AddrAdd{NS: node.NS, Dev: t.Docker.Bridge,
			CIDR: netip.PrefixFrom(t.Docker.Gateway(), t.Docker.Subnet.Bits()).String()},
	)
	if t.IPv6 {
		// Docker's --ipv6: the bridge's IPv6 gateway (no DAD, as Docker
		// adds it), and IPv6 forwarding on.
		ops = append(ops,
			lab.Forwarding6(t, node.NS),
			netops.AddrAdd{NS: node.NS, Dev: t.Docker.Bridge, CIDR: netip.PrefixFrom(t.Docker.Gateway6(), t.Docker.Subnet6.Bits()).String(), NoDAD: true})
	}
	if resolvers(t) {
		// The node's own resolver is the outside host, the lab's world:
		// what Docker's embedded DNS forwards goes there, a container on
		// the default bridge has it in its resolv.conf, and a container of
		// network host reads this file.
		ops = append(ops, netops.ResolvConf{NS: node.NS, Marker: names.RuleMarker(t.Lab), Lines: []string{"nameserver " + t.Outside.IP.String()}})
	}
	// `docker network create`: a bridge br-<id> per user-defined network,
	// with its gateway address (an internal network's too: it is the
	// containers' way to the node, not out of it).
	for _, n := range t.Docker.Networks {
		ops = append(ops,
			netops.BridgeAdd{NS: node.NS, Name: n.Bridge, Alias: names.Marker(t.Lab, n.Bridge), MAC: BridgeMAC(t.Docker)},
			netops.AddrAdd{NS: node.NS, Dev: n.Bridge, CIDR: netip.PrefixFrom(n.Gateway(), n.Subnet.Bits()).String()})
	}
	if !t.Docker.UserlandProxy {
		// Without docker-proxy, the node's own 127.0.0.1:8080 is DNATed
		// too, into docker0: the kernel routes a 127/8 source there only
		// with route_localnet (and MASQUERADE then gives it 172.17.0.1).
		ops = append(ops, netops.Sysctl{NS: node.NS, Settings: []netops.KV{
			{Key: "net.ipv4.conf." + t.Docker.Bridge + ".route_localnet", Value: "1"},
		}})
	}
	return ops
}

// Container returns the ops that make container w on node: its namespace,
// its veth pair into docker0, its address and its default route. IPv6 in
// the container is as its Docker leaves it on an IPv4 network: all off
// (20.10), or on but for eth0 (28: lo has ::1).
func Container(t *topo.Topology, node topo.Node, w state.Workload) []netops.Op {
	if w.Mode != "" && w.Mode != topo.ModeNone {
		return nil // the node's namespace, or another container's
	}
	ns := lab.Netns(t.Lab, w.Name, lab.ContainerSysctls...)
	dualStack := t.IPv6 && w.IP6.IsValid()
	if dualStack {
		// IPv6 on, eth0's too.
		ns = lab.NetnsIPv6(t.Lab, w.Name, append(append([]netops.KV{}, lab.ContainerSysctls...), lab.QuietIPv6...)...)
	} else if t.Docker.Is28() {
		// IPv6 on (lo gets ::1), default off: eth0 arrives with IPv6 off,
		// as Docker 28 sets it; then default on, as Docker leaves it.
		ns = lab.NetnsIPv6(t.Lab, w.Name, append(append([]netops.KV{}, lab.ContainerSysctls...),
			netops.KV{Key: "net.ipv6.conf.default.disable_ipv6", Value: "1"})...)
	}
	ops := []netops.Op{ns}
	as := Attachments(t, w)
	for k, a := range as {
		alias := names.Marker(t.Lab, w.Name)
		if k > 0 {
			alias += "/" + a.Dev
		}
		ops = append(ops, netops.VethAdd{NS: node.NS, Name: a.HostIface, Master: a.Bridge,
			Alias: alias, PeerNS: w.NS, PeerName: a.Dev, PeerMAC: containerMAC(t.Docker, w),
			// Without docker-proxy, a container reaches its own published
			// port through docker0 and back out of the same port.
			Hairpin: !t.Docker.UserlandProxy})
	}
	if t.Docker.Is28() && !dualStack {
		ops = append(ops, netops.Sysctl{NS: w.NS, Settings: []netops.KV{{Key: "net.ipv6.conf.default.disable_ipv6", Value: "0"}}})
	}
	for _, a := range as {
		ops = append(ops, netops.AddrAdd{NS: w.NS, Dev: a.Dev, CIDR: netip.PrefixFrom(a.IP, a.Prefix).String()})
	}
	if dualStack {
		ops = append(ops, netops.AddrAdd{NS: w.NS, Dev: as[0].Dev, CIDR: netip.PrefixFrom(w.IP6, w.Prefix6).String(), NoDAD: true})
	}
	// The default route is the first network's with a way out: an
	// internal network has none.
	for _, a := range as {
		if n := networkOf(t.Docker, a.Network); !n.Internal {
			ops = append(ops, netops.RouteAdd{NS: w.NS, Dst: "default", Via: n.Gateway().String()})
			break
		}
	}
	if dualStack {
		ops = append(ops, netops.RouteAdd{NS: w.NS, Dst: "default", Via: t.Docker.Gateway6().String()})
	}
	if w.DNSPort != 0 {
		ops = append(ops, netops.IPTables{NS: w.NS, Marker: names.RuleMarker(t.Lab), Chains: DNSChains, Rules: DNSRules(w.DNSPort)})
	}
	if w.DNSPort != 0 || resolvers(t) {
		ops = append(ops, resolvConf(t, w))
	}
	return ops
}

// resolvers says the lab gives its nodes and containers resolv.conf files
// as a Docker 28 host has them (recorded: the embedded DNS's, or the
// node's nameserver, each with Docker's comments), and the outside host
// a DNS server: an embedded lab of Docker 28. A real node's resolver is
// the machine's own.
func resolvers(t *topo.Topology) bool { return t.Embedded && t.Docker.Is28() && t.Outside != nil }

// Firewall returns a node's iptables. On an embedded node, a namespace
// netlab made that plays a Docker host, they are Docker's own, chain for
// chain and rule for rule, in the layout of the lab's Docker version
// (bridge/testdata/docker-20.10 and docker-28.5 are what dockerd wrote),
// each with netlab's comment, and Docker 28's ip6tables too. On a real
// node, where Docker itself may run, netlab writes into no chain of
// Docker's: its own chains play them.
func Firewall(t *topo.Topology, node topo.Node, cs []state.Workload) []netops.Op {
	ipt := netops.IPTables{NS: node.NS, Marker: names.RuleMarker(t.Lab)}
	if !t.Embedded {
		ipt.Chains, ipt.Rules = Chains(t), Rules(t, cs)
		if !t.IPv6 {
			return []netops.Op{ipt}
		}
		// Dual-stack: the same chains of netlab's own in ip6tables, with
		// the IPv6 addresses.
		t6, cs6 := ipv6View(t, cs)
		return []netops.Op{ipt, netops.IPTables{NS: node.NS, IPv6: true, Marker: names.RuleMarker(t.Lab), Chains: Chains(t6), Rules: Rules(t6, cs6)}}
	}
	ipt.Policies = []netops.Policy{{Table: "filter", Chain: "FORWARD", Target: "DROP"}}
	if !t.Docker.Is28() {
		ipt.Chains, ipt.Rules = DockerChains, DockerRules(t, cs[0])
		return []netops.Op{ipt}
	}
	ipt.Chains, ipt.Rules = Docker28Chains, Docker28Rules(t, cs)
	ip6 := netops.IPTables{NS: node.NS, IPv6: true, Marker: names.RuleMarker(t.Lab),
		Chains: Docker28Chains, Rules: Docker28IPv6Rules(t, cs)}
	if t.IPv6 {
		// Docker turned IPv6 forwarding on, and so set FORWARD's policy.
		ip6.Policies = ipt.Policies
	}
	return []netops.Op{ipt, ip6}
}

// DockerChains are the chains dockerd makes.
var DockerChains = []netops.Chain{
	{Table: "nat", Name: "DOCKER"},
	{Table: "filter", Name: "DOCKER"},
	{Table: "filter", Name: "DOCKER-ISOLATION-STAGE-1"},
	{Table: "filter", Name: "DOCKER-ISOLATION-STAGE-2"},
	{Table: "filter", Name: "DOCKER-USER"},
}

// DockerRules are the rules dockerd 20.10 writes for one bridge and one
// published port, in its order, in either layout (userland-proxy on or
// off).
func DockerRules(t *topo.Topology, published state.Workload) []netops.Rule {
	br := t.Docker.Bridge
	target := fmt.Sprint(t.Docker.TargetPort)
	dest := host(published.IP)
	return append(natRules(t, published, "DOCKER", "POSTROUTING"), []netops.Rule{
		{Table: "filter", Chain: "FORWARD", Spec: []string{"-j", "DOCKER-USER"},
			Why: "the place for the user's own rules, first"},
		{Table: "filter", Chain: "FORWARD", Spec: []string{"-j", "DOCKER-ISOLATION-STAGE-1"},
			Why: "Docker networks do not reach each other"},
		{Table: "filter", Chain: "FORWARD", Spec: []string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			Why: "replies to containers"},
		{Table: "filter", Chain: "FORWARD", Spec: []string{"-o", br, "-j", "DOCKER"},
			Why: "to containers: only their published ports"},
		{Table: "filter", Chain: "FORWARD", Spec: []string{"-i", br, "!", "-o", br, "-j", "ACCEPT"},
			Why: "containers may go anywhere"},
		{Table: "filter", Chain: "FORWARD", Spec: []string{"-i", br, "-o", br, "-j", "ACCEPT"},
			Why: "containers of one bridge talk to each other"},
		{Table: "filter", Chain: "DOCKER", Spec: []string{"-d", dest, "!", "-i", br, "-o", br, "-p", "tcp", "--dport", target, "-j", "ACCEPT"},
			Why: "the published port"},
		{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-1", Spec: []string{"-i", br, "!", "-o", br, "-j", "DOCKER-ISOLATION-STAGE-2"},
			Why: "leaving " + br + " for another interface"},
		{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-1", Spec: []string{"-j", "RETURN"}, Why: "the rest"},
		{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-2", Spec: []string{"-o", br, "-j", "DROP"},
			Why: "not into another Docker network"},
		{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-2", Spec: []string{"-j", "RETURN"}, Why: "the rest"},
		{Table: "filter", Chain: "DOCKER-USER", Spec: []string{"-j", "RETURN"}, Why: "no rules of the user's yet"},
	}...)
}

// Docker28Chains are the chains dockerd 28 makes, in iptables and
// ip6tables alike.
var Docker28Chains = []netops.Chain{
	{Table: "nat", Name: "DOCKER"},
	{Table: "filter", Name: "DOCKER"},
	{Table: "filter", Name: "DOCKER-BRIDGE"},
	{Table: "filter", Name: "DOCKER-CT"},
	{Table: "filter", Name: "DOCKER-FORWARD"},
	{Table: "filter", Name: "DOCKER-ISOLATION-STAGE-1"},
	{Table: "filter", Name: "DOCKER-ISOLATION-STAGE-2"},
	{Table: "filter", Name: "DOCKER-USER"},
}

// Docker28Rules are the rules dockerd 28 writes for one bridge, its
// containers cs (the first published), in its order, in either layout:
// FORWARD hands everything to DOCKER-USER (empty) and DOCKER-FORWARD, which
// splits it into replies (DOCKER-CT), isolation, packets into the bridge
// (DOCKER-BRIDGE, then DOCKER: the published port, or the drop at its end)
// and packets out of it; the raw table drops, before any NAT, a packet for a
// container's address that did not come from its bridge (unless
// allow-direct-routing), which 20.10 let through to a published port.
func Docker28Rules(t *topo.Topology, cs []state.Workload) []netops.Rule {
	nets := networks(t.Docker)
	rules := rawDropRules(t, cs, "PREROUTING")
	var masq, returns, drops, toBridge, replies, out, iso1, iso2 []netops.Rule
	for _, n := range nets {
		br := n.Bridge
		if n.Internal {
			// Nothing in or out but between its own containers; these come
			// first in STAGE-1, the newest network's at the top.
			sub := n.Subnet.String()
			iso1 = append([]netops.Rule{
				{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-1", Spec: []string{"!", "-s", sub, "-o", br, "-j", "DROP"},
					Why: "internal network " + n.Name + ": nothing in from elsewhere"},
				{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-1", Spec: []string{"!", "-d", sub, "-i", br, "-j", "DROP"},
					Why: "internal network " + n.Name + ": nothing out"},
			}, iso1...)
			out = append(out, netops.Rule{Table: "filter", Chain: "DOCKER-FORWARD", Spec: []string{"-i", br, "-o", br, "-j", "ACCEPT"},
				Why: "containers of internal network " + n.Name + " talk to each other"})
			continue
		}
		// Rules Docker inserts (-I) come out newest first.
		masq = append([]netops.Rule{{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-s", n.Subnet.String(), "!", "-o", br, "-j", "MASQUERADE"},
			Why: "containers leaving the host take its address"}}, masq...)
		returns = append([]netops.Rule{{Table: "nat", Chain: "DOCKER", Spec: []string{"-i", br, "-j", "RETURN"},
			Why: "containers do not go through published ports: docker-proxy serves them"}}, returns...)
		iso2 = append([]netops.Rule{{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-2", Spec: []string{"-o", br, "-j", "DROP"},
			Why: "not into another Docker network"}}, iso2...)
		drops = append(drops, netops.Rule{Table: "filter", Chain: "DOCKER", Spec: []string{"!", "-i", br, "-o", br, "-j", "DROP"},
			Why: "nothing else into " + br + " from outside it"})
		toBridge = append(toBridge, netops.Rule{Table: "filter", Chain: "DOCKER-BRIDGE", Spec: []string{"-o", br, "-j", "DOCKER"},
			Why: "into " + br + ": its published ports"})
		replies = append(replies, netops.Rule{Table: "filter", Chain: "DOCKER-CT", Spec: []string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			Why: "replies to containers"})
		out = append(out, netops.Rule{Table: "filter", Chain: "DOCKER-FORWARD", Spec: []string{"-i", br, "-j", "ACCEPT"},
			Why: "containers may go anywhere"})
	}
	for _, n := range nets {
		if !n.Internal {
			iso1 = append(iso1, netops.Rule{Table: "filter", Chain: "DOCKER-ISOLATION-STAGE-1", Spec: []string{"-i", n.Bridge, "!", "-o", n.Bridge, "-j", "DOCKER-ISOLATION-STAGE-2"},
				Why: "leaving " + n.Bridge + " for another interface"})
		}
	}
	pub, at, published := Published(t, cs)
	target := fmt.Sprint(t.Docker.TargetPort)
	if t.Docker.UserlandProxy {
		rules = append(rules,
			netops.Rule{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
				Why: "published ports, for packets arriving at this host"},
			netops.Rule{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", loopback(t.Docker), "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
				Why: "published ports, for packets from this host itself (" + lo(t.Docker) + " is docker-proxy's)"})
		rules = append(append(rules, masq...), returns...)
		if published {
			rules = append(rules, netops.Rule{Table: "nat", Chain: "DOCKER",
				Spec: append(fromLinkLocal(t.Docker), "!", "-i", at.Bridge, "-p", "tcp", "--dport", fmt.Sprint(t.Docker.PublishPort), "-j", "DNAT", "--to-destination", to(at.IP, t.Docker.TargetPort)),
				Why:  fmt.Sprintf("publish %s:%s on port %d", pub.Name, target, t.Docker.PublishPort)})
		}
	} else {
		// Without docker-proxy, rules catch what it would serve (a lab of
		// the default bridge alone: Resolve refuses user-defined networks
		// without the proxy, whose layout is not recorded).
		rules = append(rules, natRules(t, pub, "DOCKER", "POSTROUTING")...)
	}
	var accept []netops.Rule
	if published {
		accept = append(accept, netops.Rule{Table: "filter", Chain: "DOCKER",
			Spec: []string{"-d", host(at.IP), "!", "-i", at.Bridge, "-o", at.Bridge, "-p", "tcp", "--dport", target, "-j", "ACCEPT"},
			Why:  "the published port"})
	}
	rules = append(rules, docker28Jumps...)
	for _, part := range [][]netops.Rule{accept, drops, toBridge, replies, out, iso1, iso2} {
		rules = append(rules, part...)
	}
	return rules
}

// Docker28IPv6Rules are the ip6tables rules dockerd 28 writes on a host
// with IPv6 (ip6tables is on by default since 27): in a dual-stack lab
// (--ipv6, Docker's --ipv6 --fixed-cidr-v6), the same rules as in
// iptables with the IPv6 addresses (bridge/testdata/docker-28.5/ipv6);
// else, its bridge having no IPv6, the chains and their jumps, nothing for
// docker0.
func Docker28IPv6Rules(t *topo.Topology, cs []state.Workload) []netops.Rule {
	if t.IPv6 {
		return Docker28Rules(ipv6View(t, cs))
	}
	output := netops.Rule{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", "::1/128", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
		Why: "published ports, for packets from this host itself (::1 is docker-proxy's)"}
	if !t.Docker.UserlandProxy {
		output.Spec, output.Why = output.Spec[3:], "published ports, for packets from this host itself"
	}
	return append([]netops.Rule{
		{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
			Why: "published ports, for packets arriving at this host"},
		output,
	}, docker28Jumps...)
}

// docker28Jumps are the jumps dockerd 28 writes in iptables and ip6tables
// alike: FORWARD to DOCKER-USER and DOCKER-FORWARD, and DOCKER-FORWARD's
// own, before any rule of a bridge.
var docker28Jumps = []netops.Rule{
	{Table: "filter", Chain: "FORWARD", Spec: []string{"-j", "DOCKER-USER"},
		Why: "the place for the user's own rules, first"},
	{Table: "filter", Chain: "FORWARD", Spec: []string{"-j", "DOCKER-FORWARD"},
		Why: "Docker's forwarding rules"},
	{Table: "filter", Chain: "DOCKER-FORWARD", Spec: []string{"-j", "DOCKER-CT"}, Why: "replies first"},
	{Table: "filter", Chain: "DOCKER-FORWARD", Spec: []string{"-j", "DOCKER-ISOLATION-STAGE-1"},
		Why: "Docker networks do not reach each other"},
	{Table: "filter", Chain: "DOCKER-FORWARD", Spec: []string{"-j", "DOCKER-BRIDGE"}, Why: "into a bridge"},
}

// rawDropRules are Docker 28's drops in the raw table, one per container
// of cs, in chain (PREROUTING, or a real node's own chain): a packet for a
// container's address that did not come in on its bridge. None with
// allow-direct-routing, or before 28.
func rawDropRules(t *topo.Topology, cs []state.Workload, chain string) []netops.Rule {
	if !rawDrops(t.Docker) {
		return nil
	}
	var rules []netops.Rule
	for _, c := range cs {
		for _, a := range Attachments(t, c) {
			if networkOf(t.Docker, a.Network).Internal {
				continue // nothing is routed into an internal network anyway
			}
			rules = append(rules, netops.Rule{Table: "raw", Chain: chain,
				Spec: []string{"-d", host(a.IP), "!", "-i", a.Bridge, "-j", "DROP"},
				Why:  "no way into " + c.Name + " but through " + a.Bridge + ": routed from elsewhere, dropped"})
		}
	}
	return rules
}

// natRules are Docker's nat rules for one bridge and one published port,
// in the layout t says: dnat is the chain of the published ports (DOCKER,
// or a real node's own), masq where MASQUERADE rules go (POSTROUTING, or a
// real node's own chain).
func natRules(t *topo.Topology, published state.Workload, dnat, masq string) []netops.Rule {
	br := t.Docker.Bridge
	subnet := t.Docker.Subnet.String()
	pub, target := fmt.Sprint(t.Docker.PublishPort), fmt.Sprint(t.Docker.TargetPort)
	dest := host(published.IP)
	prerouting := netops.Rule{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
		Why: "published ports, for packets arriving at this host"}
	masquerade := netops.Rule{Table: "nat", Chain: masq, Spec: []string{"-s", subnet, "!", "-o", br, "-j", "MASQUERADE"},
		Why: "containers leaving the host take its address"}
	hairpin := netops.Rule{Table: "nat", Chain: masq, Spec: []string{"-s", dest, "-d", dest, "-p", "tcp", "--dport", target, "-j", "MASQUERADE"},
		Why: "a container to its own published port (hairpin)"}
	publish := fmt.Sprintf("publish %s:%s on port %s", published.Name, target, pub)
	dnatTo := to(published.IP, t.Docker.TargetPort)
	if t.Docker.UserlandProxy {
		rules := []netops.Rule{
			prerouting,
			{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", loopback(t.Docker), "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
				Why: "published ports, for packets from this host itself (" + lo(t.Docker) + " is docker-proxy's)"},
			masquerade,
		}
		if !t.Docker.Is28() {
			// 28 leaves the hairpin to docker-proxy.
			rules = append(rules, hairpin)
		}
		return append(rules,
			netops.Rule{Table: "nat", Chain: dnat, Spec: []string{"-i", br, "-j", "RETURN"},
				Why: "containers do not go through published ports: docker-proxy serves them"},
			netops.Rule{Table: "nat", Chain: dnat, Spec: append(fromLinkLocal(t.Docker), "!", "-i", br, "-p", "tcp", "--dport", pub, "-j", "DNAT", "--to-destination", dnatTo),
				Why: publish})
	}
	return []netops.Rule{
		prerouting,
		{Table: "nat", Chain: "OUTPUT", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
			Why: "published ports, for packets from this host itself, " + lo(t.Docker) + " too"},
		{Table: "nat", Chain: masq, Spec: []string{"-o", br, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"},
			Why: "this host's own packets into " + br + " (from " + lo(t.Docker) + " too) take its address there"},
		masquerade, hairpin,
		{Table: "nat", Chain: dnat, Spec: append(fromLinkLocal(t.Docker), "-p", "tcp", "--dport", pub, "-j", "DNAT", "--to-destination", dnatTo),
			Why: publish + ", for containers too"},
	}
}

// Chains are the lab's own iptables chains on a real node, where they play
// Docker's: NETLAB-<LAB>-DNAT plays nat DOCKER, NETLAB-<LAB>-SNAT Docker's
// MASQUERADE in POSTROUTING, NETLAB-<LAB>-FWD filter DOCKER and Docker's
// FORWARD rules, and with Docker 28, NETLAB-<LAB>-RAW its drops in raw
// PREROUTING.
func Chains(t *topo.Topology) []netops.Chain {
	cs := []netops.Chain{
		{Table: "nat", Name: names.ChainName(t.Lab, "DNAT")},
		{Table: "nat", Name: names.ChainName(t.Lab, "SNAT")},
		{Table: "filter", Name: names.ChainName(t.Lab, "FWD")},
	}
	if rawDrops(t.Docker) {
		cs = append(cs, netops.Chain{Table: "raw", Name: names.ChainName(t.Lab, "RAW")})
	}
	if t.Docker.UserNetworks() {
		cs = append(cs, netops.Chain{Table: "filter", Name: names.ChainName(t.Lab, "ISO")})
	}
	return cs
}

// networkRules are a real node's rules, in netlab's own chains, for
// Docker's networks (the default bridge and the user-defined ones), as
// Docker 28 has them with its userland proxy: each network masqueraded on
// its way out and its containers' way through published ports left to
// docker-proxy, the published port DNATed, and the networks apart
// (NETLAB-<LAB>-ISO plays DOCKER-ISOLATION-STAGE-2), an internal one
// closed both ways.
func networkRules(t *topo.Topology, cs []state.Workload, dnat, snat, fwd string) []netops.Rule {
	iso := names.ChainName(t.Lab, "ISO")
	rules := []netops.Rule{
		{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
			Why: "published ports, for packets arriving at this host"},
		{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
			Why: "published ports, for packets from this host itself (127.0.0.1 is docker-proxy's)"},
		{Table: "filter", Chain: "FORWARD", Insert: true, Spec: []string{"-j", fwd},
			Why: "forwarding for containers, whatever the FORWARD policy"},
	}
	var inner, replies, apart, out, closed []netops.Rule
	for _, n := range networks(t.Docker) {
		br := n.Bridge
		if n.Internal {
			sub := n.Subnet.String()
			inner = append(inner,
				netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"!", "-s", sub, "-o", br, "-j", "DROP"}, Why: "internal network " + n.Name + ": nothing in from elsewhere"},
				netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"!", "-d", sub, "-i", br, "-j", "DROP"}, Why: "internal network " + n.Name + ": nothing out"})
			out = append(out, netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"-i", br, "-o", br, "-j", "ACCEPT"},
				Why: "containers of internal network " + n.Name + " talk to each other"})
			continue
		}
		rules = append(rules,
			netops.Rule{Table: "nat", Chain: snat, Spec: []string{"-s", n.Subnet.String(), "!", "-o", br, "-j", "MASQUERADE"},
				Why: "containers leaving the host take its address"},
			netops.Rule{Table: "nat", Chain: dnat, Spec: []string{"-i", br, "-j", "RETURN"},
				Why: "containers do not go through published ports: docker-proxy serves them"},
			netops.Rule{Table: "filter", Chain: iso, Spec: []string{"-o", br, "-j", "DROP"}, Why: "not into another Docker network"})
		replies = append(replies, netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			Why: "replies to containers"})
		apart = append(apart, netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"-i", br, "!", "-o", br, "-j", iso},
			Why: "leaving " + br + " for another interface"})
		out = append(out, netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"-i", br, "-j", "ACCEPT"}, Why: "containers may go anywhere"})
		closed = append(closed, netops.Rule{Table: "filter", Chain: fwd, Spec: []string{"!", "-i", br, "-o", br, "-j", "DROP"},
			Why: "container addresses are private to this host"})
	}
	rules = append(rules, netops.Rule{Table: "filter", Chain: iso, Spec: []string{"-j", "RETURN"}, Why: "the rest"})
	var pub []netops.Rule
	if w, at, ok := Published(t, cs); ok {
		target := fmt.Sprint(t.Docker.TargetPort)
		rules = append(rules, netops.Rule{Table: "nat", Chain: dnat,
			Spec: []string{"!", "-i", at.Bridge, "-p", "tcp", "--dport", fmt.Sprint(t.Docker.PublishPort), "-j", "DNAT", "--to-destination", at.IP.String() + ":" + target},
			Why:  fmt.Sprintf("publish %s:%s on port %d", w.Name, target, t.Docker.PublishPort)})
		pub = append(pub, netops.Rule{Table: "filter", Chain: fwd,
			Spec: []string{"-d", at.IP.String() + "/32", "!", "-i", at.Bridge, "-o", at.Bridge, "-p", "tcp", "--dport", target, "-j", "ACCEPT"},
			Why:  "the published port"})
	}
	for _, part := range [][]netops.Rule{inner, replies, apart, pub, out, closed} {
		rules = append(rules, part...)
	}
	return rules
}

// host is address a as one host's prefix in a rule: a/32, or a/128.
func host(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// to is a DNAT's --to-destination: 172.17.0.2:80, or [fd00:172:17::2]:80.
func to(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

// loopback is the family's loopback prefix, which docker-proxy serves:
// 127.0.0.0/8, or ::1/128.
func loopback(d topo.Docker) string {
	if d.Subnet.Addr().Is6() {
		return "::1/128"
	}
	return "127.0.0.0/8"
}

// lo is the family's loopback address, for the rules' comments.
func lo(d topo.Docker) string {
	if d.Subnet.Addr().Is6() {
		return "::1"
	}
	return "127.0.0.1"
}

// fromLinkLocal is what Docker adds to an IPv6 DNAT: not from a link-local
// address (a DNAT would send its replies off the link it came from).
func fromLinkLocal(d topo.Docker) []string {
	if d.Subnet.Addr().Is6() {
		return []string{"!", "-s", "fe80::/10"}
	}
	return nil
}

// ipv6View is topology t and its containers cs as the IPv6 rules see them
// in a dual-stack lab: the bridge's subnet is its IPv6 one, and each
// container's address its IPv6 one. The rules are then written by the
// same code as IPv4's: Docker writes ip6tables as it writes iptables.
func ipv6View(t *topo.Topology, cs []state.Workload) (*topo.Topology, []state.Workload) {
	t6 := *t
	t6.Docker.Subnet = t.Docker.Subnet6
	cs6 := make([]state.Workload, len(cs))
	for i, c := range cs {
		c.IP, c.Prefix = c.IP6, c.Prefix6
		cs6[i] = c
	}
	return &t6, cs6
}

// rawDrops says Docker drops packets routed to its containers in raw.
func rawDrops(d topo.Docker) bool { return d.Is28() && !d.AllowDirectRouting }

// Rules returns a real node's iptables rules for its containers cs (the
// first published), Docker's own set in spirit: masquerade on the way out,
// DNAT for the published port on the way in, forwarding that works even
// under a FORWARD policy of DROP, and Docker 28's drop of what is routed to
// a container from elsewhere.
func Rules(t *topo.Topology, cs []state.Workload) []netops.Rule {
	br := t.Docker.Bridge
	published := cs[0]
	dnat, snat, fwd := names.ChainName(t.Lab, "DNAT"), names.ChainName(t.Lab, "SNAT"), names.ChainName(t.Lab, "FWD")
	target := fmt.Sprint(t.Docker.TargetPort)
	var rules []netops.Rule
	if rawDrops(t.Docker) {
		raw := names.ChainName(t.Lab, "RAW")
		rules = append(append(rules, netops.Rule{Table: "raw", Chain: "PREROUTING", Spec: []string{"-j", raw},
			Why: "Docker 28: containers are reached through their bridge only"}), rawDropRules(t, cs, raw)...)
	}
	rules = append(rules, netops.Rule{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-j", snat},
		Why: "source NAT for containers"})
	if t.Docker.UserNetworks() {
		return append(rules, networkRules(t, cs, dnat, snat, fwd)...)
	}
	rules = append(rules, natRules(t, published, dnat, snat)...)
	return append(rules, []netops.Rule{
		{Table: "filter", Chain: "FORWARD", Insert: true, Spec: []string{"-j", fwd},
			Why: "forwarding for containers, whatever the FORWARD policy"},
		{Table: "filter", Chain: fwd, Spec: []string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			Why: "replies to containers"},
		{Table: "filter", Chain: fwd, Spec: []string{"-d", host(published.IP), "!", "-i", br, "-o", br, "-p", "tcp", "--dport", target, "-j", "ACCEPT"},
			Why: "the published port"},
		{Table: "filter", Chain: fwd, Spec: []string{"-i", br, "-j", "ACCEPT"},
			Why: "containers may go anywhere"},
		{Table: "filter", Chain: fwd, Spec: []string{"!", "-i", br, "-o", br, "-j", "DROP"},
			Why: "container addresses are private to this host"},
	}...)
}
