package bridge

import (
	"fmt"
	"net/netip"

	"netlab/internal/ipam"
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
	p := lab.PlanWith(t, lab.Model{
		Workload: container,
		Node:     Node,
		Make:     Container,
		Firewall: Firewall,
	}, UnderlayBridge)
	// Docker's default, the userland proxy: a process of the node listens
	// on the published port too, for what the DNAT rules do not catch
	// (the node's own 127.0.0.1:8080, containers of the same bridge, a
	// container to its own published port).
	for _, node := range t.LocalNodes() {
		if !t.Docker.UserlandProxy {
			break
		}
		for _, w := range p.Workloads {
			if w.Node == node.Name {
				p.Proxies = append(p.Proxies, state.Proxy{Node: node.Name, HostPort: t.Docker.PublishPort, Target: w.IP, TargetPort: t.Docker.TargetPort})
				break
			}
		}
	}
	return p
}

// MAC is the MAC Docker gives an address on its bridge: 02:42 (locally
// administered, unicast) and the four bytes of the IPv4 address, so
// 172.17.0.2 is 02:42:ac:11:00:02, recognisable in ip neigh and tcpdump.
// Docker does so for containers; netlab gives docker0 its gateway's too,
// where Docker picks a random 02:42 one, so that it never changes.
func MAC(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

func container(t *topo.Topology, node topo.Node, n, i int) state.Workload {
	name := fmt.Sprintf("c%d", n)
	ip, _ := ipam.Nth(t.Docker.Subnet, uint64(i+2)) // .1 is docker0
	return state.Workload{Name: name, Kind: "container", Node: node.Name,
		NS: names.NetnsName(t.Lab, name), IP: ip, Prefix: t.Docker.Subnet.Bits(),
		HostIface: "veth-" + name, Port: t.Docker.TargetPort}
}

// Node returns the ops that give a node its docker0 network: forwarding on,
// IPv6 off (Docker's choice on IPv4-only networks; it also keeps bridge
// ports from flooding each other with IPv6 autoconf) and the bridge.
func Node(t *topo.Topology, node topo.Node) []netops.Op {
	ops := []netops.Op{
		netops.Sysctl{NS: node.NS, Settings: []netops.KV{
			{Key: "net.ipv4.ip_forward", Value: "1"},
		}},
		netops.BridgeAdd{NS: node.NS, Name: t.Docker.Bridge, Alias: names.Marker(t.Lab, t.Docker.Bridge), MAC: MAC(t.Docker.Gateway())},
		netops.AddrAdd{NS: node.NS, Dev: t.Docker.Bridge,
			CIDR: netip.PrefixFrom(t.Docker.Gateway(), t.Docker.Subnet.Bits()).String()},
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
// its veth pair into docker0, its address and its default route.
func Container(t *topo.Topology, node topo.Node, w state.Workload) []netops.Op {
	return []netops.Op{
		lab.Netns(t.Lab, w.Name, lab.ContainerSysctls...),
		netops.VethAdd{NS: node.NS, Name: w.HostIface, Master: t.Docker.Bridge,
			Alias: names.Marker(t.Lab, w.Name), PeerNS: w.NS, PeerName: "eth0", PeerMAC: MAC(w.IP),
			// Without docker-proxy, a container reaches its own published
			// port through docker0 and back out of the same port.
			Hairpin: !t.Docker.UserlandProxy},
		netops.AddrAdd{NS: w.NS, Dev: "eth0", CIDR: netip.PrefixFrom(w.IP, w.Prefix).String()},
		netops.RouteAdd{NS: w.NS, Dst: "default", Via: t.Docker.Gateway().String()},
	}
}

// Firewall returns a node's iptables. On an embedded node, a namespace
// netlab made that plays a Docker host, they are Docker 20.10's own, chain
// for chain and rule for rule (DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-
// 1/2, the FORWARD policy DROP: bridge/testdata/docker-20.10 is what dockerd
// wrote), each with netlab's comment. On a real node, where Docker itself may
// run, netlab writes into no chain of Docker's: its own chains play them.
func Firewall(t *topo.Topology, node topo.Node, cs []state.Workload) netops.IPTables {
	ipt := netops.IPTables{NS: node.NS, Marker: names.RuleMarker(t.Lab)}
	if t.Embedded {
		ipt.Chains, ipt.Policies, ipt.Rules = DockerChains, []netops.Policy{{Table: "filter", Chain: "FORWARD", Target: "DROP"}}, DockerRules(t, cs[0])
	} else {
		ipt.Chains, ipt.Rules = Chains(t.Lab), Rules(t, cs[0])
	}
	return ipt
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
	dest := published.IP.String() + "/32"
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

// natRules are Docker's nat rules for one bridge and one published port,
// in the layout t says: dnat is the chain of the published ports (DOCKER,
// or a real node's own), masq where MASQUERADE rules go (POSTROUTING, or a
// real node's own chain).
func natRules(t *topo.Topology, published state.Workload, dnat, masq string) []netops.Rule {
	br := t.Docker.Bridge
	subnet := t.Docker.Subnet.String()
	pub, target := fmt.Sprint(t.Docker.PublishPort), fmt.Sprint(t.Docker.TargetPort)
	dest := published.IP.String() + "/32"
	prerouting := netops.Rule{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
		Why: "published ports, for packets arriving at this host"}
	masquerade := netops.Rule{Table: "nat", Chain: masq, Spec: []string{"-s", subnet, "!", "-o", br, "-j", "MASQUERADE"},
		Why: "containers leaving the host take its address"}
	hairpin := netops.Rule{Table: "nat", Chain: masq, Spec: []string{"-s", dest, "-d", dest, "-p", "tcp", "--dport", target, "-j", "MASQUERADE"},
		Why: "a container to its own published port (hairpin)"}
	publish := fmt.Sprintf("publish %s:%s on port %s", published.Name, target, pub)
	to := published.IP.String() + ":" + target
	if t.Docker.UserlandProxy {
		return []netops.Rule{
			prerouting,
			{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
				Why: "published ports, for packets from this host itself (127.0.0.1 is docker-proxy's)"},
			masquerade, hairpin,
			{Table: "nat", Chain: dnat, Spec: []string{"-i", br, "-j", "RETURN"},
				Why: "containers do not go through published ports: docker-proxy serves them"},
			{Table: "nat", Chain: dnat, Spec: []string{"!", "-i", br, "-p", "tcp", "--dport", pub, "-j", "DNAT", "--to-destination", to},
				Why: publish},
		}
	}
	return []netops.Rule{
		prerouting,
		{Table: "nat", Chain: "OUTPUT", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
			Why: "published ports, for packets from this host itself, 127.0.0.1 too"},
		{Table: "nat", Chain: masq, Spec: []string{"-o", br, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"},
			Why: "this host's own packets into " + br + " (from 127.0.0.1 too) take its address there"},
		masquerade, hairpin,
		{Table: "nat", Chain: dnat, Spec: []string{"-p", "tcp", "--dport", pub, "-j", "DNAT", "--to-destination", to},
			Why: publish + ", for containers too"},
	}
}

// Chains are the lab's own iptables chains on a real node, where they play
// Docker's: NETLAB-<LAB>-DNAT plays nat DOCKER, NETLAB-<LAB>-SNAT Docker's
// MASQUERADE in POSTROUTING, NETLAB-<LAB>-FWD filter DOCKER and Docker's
// FORWARD rules.
func Chains(labName string) []netops.Chain {
	return []netops.Chain{
		{Table: "nat", Name: names.ChainName(labName, "DNAT")},
		{Table: "nat", Name: names.ChainName(labName, "SNAT")},
		{Table: "filter", Name: names.ChainName(labName, "FWD")},
	}
}

// Rules returns a real node's iptables rules, Docker's own set in spirit:
// masquerade on the way out, DNAT for the published port on the way in,
// and forwarding that works even under a FORWARD policy of DROP.
func Rules(t *topo.Topology, published state.Workload) []netops.Rule {
	br := t.Docker.Bridge
	dnat, snat, fwd := names.ChainName(t.Lab, "DNAT"), names.ChainName(t.Lab, "SNAT"), names.ChainName(t.Lab, "FWD")
	target := fmt.Sprint(t.Docker.TargetPort)
	dest := published.IP.String()
	return append(append([]netops.Rule{
		{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-j", snat},
			Why: "source NAT for containers"},
	}, natRules(t, published, dnat, snat)...), []netops.Rule{
		{Table: "filter", Chain: "FORWARD", Insert: true, Spec: []string{"-j", fwd},
			Why: "forwarding for containers, whatever the FORWARD policy"},
		{Table: "filter", Chain: fwd, Spec: []string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
			Why: "replies to containers"},
		{Table: "filter", Chain: fwd, Spec: []string{"-d", dest + "/32", "!", "-i", br, "-o", br, "-p", "tcp", "--dport", target, "-j", "ACCEPT"},
			Why: "the published port"},
		{Table: "filter", Chain: fwd, Spec: []string{"-i", br, "-j", "ACCEPT"},
			Why: "containers may go anywhere"},
		{Table: "filter", Chain: fwd, Spec: []string{"!", "-i", br, "-o", br, "-j", "DROP"},
			Why: "container addresses are private to this host"},
	}...)
}
