package workshop

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netlab/internal/ipam"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/topo"
)

// The exercises of user-defined networks: Docker's embedded DNS, reached
// through NAT rules in the container's own namespace, and networks that
// are isolated from each other.

// Looked is one name lookup, as a workload's resolver makes it: to the
// first nameserver of its resolv.conf, port 53.
type Looked struct {
	Addrs []string
	Err   error
	Text  string
}

// Lookup asks, from name's namespace, its own nameserver for host's A
// records, over UDP or TCP, with a connected socket as a resolver has (an
// answer from another port than 53 is not one).
func (e *Env) Lookup(name, host string, tcp bool) Looked {
	proto := map[bool]string{false: "udp", true: "tcp"}[tcp]
	server := e.Nameserver(name)
	var l Looked
	if server == "" {
		l.Err = fmt.Errorf("no nameserver in its resolv.conf")
		l.Text = fmt.Sprintf("%s: no nameserver in its resolv.conf", name)
		return l
	}
	ips, rcode, err := probe.Lookup(e.NS(name), server, host, dns.TypeA, tcp, time.Second)
	switch {
	case err != nil:
		l.Err = err
		l.Text = fmt.Sprintf("%s asked %s:53 (%s) for %s: no answer (%s)", name, server, proto, host, lastWords(err))
	case rcode != dns.RcodeSuccess:
		l.Err = fmt.Errorf("%s", dns.RcodeToString[rcode])
		l.Text = fmt.Sprintf("%s asked %s:53 (%s) for %s: %s", name, server, proto, host, dns.RcodeToString[rcode])
	default:
		l.Addrs = ips
		l.Text = fmt.Sprintf("%s asked %s:53 (%s) for %s: %s", name, server, proto, host, strings.Join(ips, ", "))
	}
	return l
}

// Nameserver is the first nameserver of name's resolv.conf ("" if none).
func (e *Env) Nameserver(name string) string { return netops.Nameserver(e.NS(name)) }

// resolves: from resolves to's name, over proto, to its address.
func resolves(from, to string, tcp bool) Criterion {
	proto := map[bool]string{false: "UDP", true: "TCP"}[tcp]
	return Criterion{fmt.Sprintf("%s finds %s by name (%s, with its own resolv.conf)", from, to, proto), func(e *Env) Outcome {
		l := e.Lookup(from, to, tcp)
		want := e.W(to).IP.String()
		o := Outcome{Pass: l.Err == nil && len(l.Addrs) == 1 && l.Addrs[0] == want, Observed: l.Text}
		switch {
		case o.Pass:
		case l.Err == nil:
			o.Hint = fmt.Sprintf("the answer is not %s's address (%s)", to, want)
		case e.Nameserver(from) != "127.0.0.11":
			o.Hint = fmt.Sprintf("%s's nameserver is %s: only Docker's embedded DNS (127.0.0.11) knows the containers of its networks", from, e.Nameserver(from))
		default:
			o.Hint = e.Once("dns-hint-"+from, func() string { return dnsHint(e, from) })
		}
		return o
	}}
}

// dnsHint says where a query to 127.0.0.11:53 goes in from's namespace:
// who listens there, and what the nat table does with port 53.
func dnsHint(e *Env, from string) string {
	listen := strings.TrimSpace(e.Run(from, "ss", "-Hlun", "src", "127.0.0.11"))
	port := "nothing"
	if f := strings.Fields(listen); len(f) >= 4 {
		port = f[3]
	}
	return fmt.Sprintf("in %s, the embedded DNS listens on UDP %s (ss -lun), not on 127.0.0.11:53, where the resolver asks: "+
		"what sends a query for port 53 there? Compare %s's nat table with a container that resolves, and its UDP rules with its TCP ones "+
		"(iptables -t nat -S)", from, port, from)
}

var dnatUDP53 = regexp.MustCompile(`^-A DOCKER_OUTPUT .*-p udp .*--dport 53 `)

func init() {
	register(Exercise{
		N: 15, ID: "docker-embedded-dns", Title: "A container that cannot resolve names",
		Model: Docker, Difficulty: "medium", Flags: []string{"--network", "app"},
		Story: func(e *Env) string {
			return fmt.Sprintf("On node1, c1's app logs 'Temporary failure in name resolution' when it calls http://c2/. "+
				"c2, and the containers of node2, resolve names fine; nobody touched c1's resolv.conf (nameserver 127.0.0.11). "+
				"Every container is on the user-defined network app. Make c1 find c2 by name again (%s), over UDP and TCP, as the others do.", e.W("c2").IP)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			// The UDP half of c1's DNAT to the embedded DNS, gone.
			rule, err := e.SavedRule("c1", "nat", dnatUDP53)
			if err != nil {
				return nil, err
			}
			return []netops.Op{netops.IPTablesDel{NS: e.NS("c1"), Table: "nat", Rules: []string{"-D" + rule[2:]}}}, nil
		},
		Criteria: []Criterion{
			resolves("c1", "c2", false),
			resolves("c1", "c2", true),
			resolves("c2", "c1", false),
			resolves("c3", "c4", false),
		},
		Solution: func(e *Env) []string {
			ns, port := e.NS("c1"), e.W("c1").DNSPort
			return []string{
				fmt.Sprintf("sudo ip netns exec %s iptables -t nat -A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp --dport 53 -j DNAT --to-destination 127.0.0.11:%d", ns, port),
			}
		},
	})
}

// isolatedTopology is exercise 16's host: a front end (c1, published, and
// c4) on network front, the API (c2, alias api) and its database (c3) on
// network back.
const isolatedTopology = `nodes: [{name: node1, ip: 192.168.56.11, containers: 4}]
networks: [{name: front}, {name: back}]
containers:
  - {name: c1, networks: [front]}
  - {name: c2, networks: [back], aliases: [api]}
  - {name: c3, networks: [back]}
  - {name: c4, networks: [front]}
`

// onNetwork says whether a is an address of name's own (in its namespace)
// inside network's subnet, and not the network's gateway.
func onNetwork(e *Env, name, network, a string) bool {
	n := e.S.Topology.Docker.Network(network)
	ip, err := netip.ParseAddr(a)
	if n == nil || err != nil || !n.Subnet.Contains(ip) || ip == n.Gateway() {
		return false
	}
	return strings.Contains(" "+e.Run(name, "ip", "-br", "-4", "addr")+" ", " "+a+"/")
}

func init() {
	register(Exercise{
		N: 16, ID: "docker-networks-apart", Title: "The front end cannot reach the API",
		Model: Docker, Difficulty: "medium", Flags: []string{"--docker-version", topo.Docker28}, Topology: isolatedTopology,
		Story: func(e *Env) string {
			return fmt.Sprintf("node1 runs a front end (c1, published on %s, and c4) on the Docker network front, and an API (c2, %s) "+
				"with its database (c3) on the network back. c1 must now call the API, and gets no answer from %s. "+
				"The API trusts clients of its own network only (back, %s). Let c1, and only c1, reach the API as a client of back, "+
				"as 'docker network connect' would; c4 stays off back, and node1's published port keeps leading to c1.",
				published(e, "node1"), e.Server("c2"), e.Server("c2"), e.S.Topology.Docker.Network("back").Subnet)
		},
		Break: func(e *Env) ([]netops.Op, error) { return nil, nil }, // the lab as its owners made it
		Criteria: []Criterion{
			{"c1 reaches the API (c2's server)", func(e *Env) Outcome {
				to := e.Server("c2")
				a := e.Ask("c1", to)
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c2", Observed: a.Text}
				if !o.Pass {
					o.Hint = "follow it: " + EndOf(e.Walk("c1", to.Addr(), int(to.Port()))) +
						". Each Docker network is a bridge of its own (ip -br link), and the node keeps them apart (iptables -S DOCKER-ISOLATION-STAGE-2)."
				}
				return o
			}},
			{"the API sees c1 as a client of back: an address of c1's own in back's subnet", func(e *Env) Outcome {
				a := e.Ask("c1", e.Server("c2"))
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c2" && onNetwork(e, "c1", "back", a.Answer.Client), Observed: a.Text}
				back := e.S.Topology.Docker.Network("back")
				switch {
				case o.Pass:
				case a.Err != nil:
					o.Hint = "c1 does not reach the API yet: see the criterion above"
				case a.Answer.Client == back.Gateway().String():
					o.Hint = fmt.Sprintf("c2 saw %s, back's gateway (the node): the source was rewritten on the way. A client of back has an address on back itself.", a.Answer.Client)
				default:
					o.Hint = fmt.Sprintf("c2 saw %s, not an address of c1's on back (%s): the packet came through the node from another network. "+
						"What does 'docker network connect back c1' give c1? (an interface on back's bridge, with an address of back's)", a.Answer.Client, back.Subnet)
				}
				return o
			}},
			{"c4, on front, still reaches neither the API nor its database", func(e *Env) Outcome {
				a2, a3 := e.Ask("c4", e.Server("c2")), e.Ask("c4", e.Server("c3"))
				o := Outcome{Pass: a2.Err != nil && a3.Err != nil, Observed: a2.Text + "; " + a3.Text}
				if !o.Pass {
					o.Hint = "c4 is not on back: the networks must stay apart for every container but c1 (iptables -S DOCKER-ISOLATION-STAGE-1, -2, and iptables -t raw -S)"
				}
				return o
			}},
			{"node1's published port still leads to c1", func(e *Env) Outcome {
				a := e.Ask("outside", published(e, "node1"))
				return Outcome{Pass: a.Err == nil && a.Answer.Name == "c1" && a.Answer.Client == e.Outside().IP.String(), Observed: a.Text,
					Hint: "c1 keeps its place on front, and its published port"}
			}},
		},
		Solution: func(e *Env) []string {
			back := e.S.Topology.Docker.Network("back")
			addr, _ := ipam.Nth(back.Subnet, 10)
			return []string{
				fmt.Sprintf("sudo ip -n %s link add veth-c1-1 master %s up type veth peer name eth1 netns %s", e.NS("node1"), back.Bridge, e.NS("c1")),
				fmt.Sprintf("sudo ip -n %s link set eth1 up", e.NS("c1")),
				fmt.Sprintf("sudo ip -n %s addr add %s/%d dev eth1", e.NS("c1"), addr, back.Subnet.Bits()),
			}
		},
	})
}
