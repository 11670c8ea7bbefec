package bridge

import (
	"fmt"
	"net/netip"

	"netlab/internal/ipam"
	"netlab/internal/lab"
	"netlab/internal/netops"
)

// Mode is the name of the Docker model's mode and its default lab name.
const Mode = "docker"

// UnderlayBridge is the switch of the embedded underlay network.
const UnderlayBridge = "br-underlay"

// Plan returns the ops that build topology t's local hosts (all of them
// when embedded), the containers they run, and every namespace they name.
func Plan(t *lab.Topology) lab.Plan {
	p := lab.Build(t, lab.Model{
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
		for _, w := range p.Workloads {
			if w.Node == node.Name {
				p.Proxies = append(p.Proxies, lab.Proxy{Node: node.Name, HostPort: t.Docker.PublishPort, Target: w.IP, TargetPort: t.Docker.TargetPort})
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

func container(t *lab.Topology, node lab.Node, n, i int) lab.Workload {
	name := fmt.Sprintf("c%d", n)
	ip, _ := ipam.Nth(t.Docker.Subnet, uint64(i+2)) // .1 is docker0
	return lab.Workload{Name: name, Kind: "container", Node: node.Name,
		NS: lab.NetnsName(t.Lab, name), IP: ip, Prefix: t.Docker.Subnet.Bits(),
		HostIface: "veth-" + name, Port: t.Docker.TargetPort}
}

// Node returns the ops that give a node its docker0 network: forwarding on,
// IPv6 off (Docker's choice on IPv4-only networks; it also keeps bridge
// ports from flooding each other with IPv6 autoconf) and the bridge.
func Node(t *lab.Topology, node lab.Node) []netops.Op {
	return []netops.Op{
		netops.Sysctl{NS: node.NS, Settings: []netops.KV{
			{Key: "net.ipv4.ip_forward", Value: "1"},
		}},
		netops.BridgeAdd{NS: node.NS, Name: t.Docker.Bridge, Alias: lab.Marker(t.Lab, t.Docker.Bridge), MAC: MAC(t.Docker.Gateway())},
		netops.AddrAdd{NS: node.NS, Dev: t.Docker.Bridge,
			CIDR: netip.PrefixFrom(t.Docker.Gateway(), t.Docker.Subnet.Bits()).String()},
	}
}

// Container returns the ops that make container w on node: its namespace,
// its veth pair into docker0, its address and its default route.
func Container(t *lab.Topology, node lab.Node, w lab.Workload) []netops.Op {
	return []netops.Op{
		lab.Netns(t.Lab, w.Name, lab.ContainerSysctls...),
		netops.VethAdd{NS: node.NS, Name: w.HostIface, Master: t.Docker.Bridge,
			Alias: lab.Marker(t.Lab, w.Name), PeerNS: w.NS, PeerName: "eth0", PeerMAC: MAC(w.IP)},
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
func Firewall(t *lab.Topology, node lab.Node, cs []lab.Workload) netops.IPTables {
	ipt := netops.IPTables{NS: node.NS, Marker: lab.RuleMarker(t.Lab)}
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
// published port, with its default userland proxy, in its order.
func DockerRules(t *lab.Topology, published lab.Workload) []netops.Rule {
	br := t.Docker.Bridge
	subnet := t.Docker.Subnet.String()
	pub, target := fmt.Sprint(t.Docker.PublishPort), fmt.Sprint(t.Docker.TargetPort)
	dest := published.IP.String() + "/32"
	return []netops.Rule{
		{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
			Why: "published ports, for packets arriving at this host"},
		{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"},
			Why: "published ports, for packets from this host itself (127.0.0.1 is docker-proxy's)"},
		{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-s", subnet, "!", "-o", br, "-j", "MASQUERADE"},
			Why: "containers leaving the host take its address"},
		{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-s", dest, "-d", dest, "-p", "tcp", "--dport", target, "-j", "MASQUERADE"},
			Why: "a container to its own published port (hairpin)"},
		{Table: "nat", Chain: "DOCKER", Spec: []string{"-i", br, "-j", "RETURN"},
			Why: "containers do not go through published ports: docker-proxy serves them"},
		{Table: "nat", Chain: "DOCKER", Spec: []string{"!", "-i", br, "-p", "tcp", "--dport", pub, "-j", "DNAT", "--to-destination", published.IP.String() + ":" + target},
			Why: fmt.Sprintf("publish %s:%s on port %s", published.Name, target, pub)},
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
	}
}

// Chains are the lab's own iptables chains on a real node, where they play
// Docker's: NETLAB-<LAB>-DNAT plays nat DOCKER, NETLAB-<LAB>-SNAT Docker's
// MASQUERADE in POSTROUTING, NETLAB-<LAB>-FWD filter DOCKER and Docker's
// FORWARD rules.
func Chains(labName string) []netops.Chain {
	return []netops.Chain{
		{Table: "nat", Name: lab.ChainName(labName, "DNAT")},
		{Table: "nat", Name: lab.ChainName(labName, "SNAT")},
		{Table: "filter", Name: lab.ChainName(labName, "FWD")},
	}
}

// Rules returns a real node's iptables rules, Docker's own set in spirit:
// masquerade on the way out, DNAT for the published port on the way in,
// and forwarding that works even under a FORWARD policy of DROP.
func Rules(t *lab.Topology, published lab.Workload) []netops.Rule {
	br := t.Docker.Bridge
	dnat, snat, fwd := lab.ChainName(t.Lab, "DNAT"), lab.ChainName(t.Lab, "SNAT"), lab.ChainName(t.Lab, "FWD")
	subnet := t.Docker.Subnet.String()
	pub, target := fmt.Sprint(t.Docker.PublishPort), fmt.Sprint(t.Docker.TargetPort)
	dest := published.IP.String()
	return []netops.Rule{
		{Table: "nat", Chain: "PREROUTING", Spec: []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
			Why: "published ports, for packets arriving at this host"},
		{Table: "nat", Chain: "OUTPUT", Spec: []string{"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat},
			Why: "published ports, for packets from this host itself"},
		{Table: "nat", Chain: "POSTROUTING", Spec: []string{"-j", snat},
			Why: "source NAT for containers"},
		{Table: "nat", Chain: dnat, Spec: []string{"-i", br, "-j", "RETURN"},
			Why: "containers do not go through published ports"},
		{Table: "nat", Chain: dnat, Spec: []string{"-p", "tcp", "--dport", pub, "-j", "DNAT", "--to-destination", dest + ":" + target},
			Why: fmt.Sprintf("publish %s:%s on port %s", published.Name, target, pub)},
		{Table: "nat", Chain: snat, Spec: []string{"-s", subnet, "!", "-o", br, "-j", "MASQUERADE"},
			Why: "containers leaving the host take its address"},
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
	}
}
