package workshop

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/vishvananda/netlink"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/topo"
)

// The Docker model's exercises, on a lab of two hosts with two containers
// each (c1, c2 on node1; c3, c4 on node2), node:8080 published to the
// first container of each host, and the outside host.

func init() {
	register(Exercise{
		N: 1, ID: "docker-no-outside", Title: "Containers cannot reach the outside world",
		Model: Docker, Difficulty: "easy",
		Story: func(e *Env) string {
			return fmt.Sprintf("Users of c1 and c2 on node1 report that nothing outside their host answers them: "+
				"the web server of the outside host (%s) times out. Containers on node2 are fine, "+
				"and c1 and c2 still reach each other.", e.OutsideServer())
		},
		Break: func(e *Env) ([]netops.Op, error) {
			r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`^-A POSTROUTING -s \S+ ! -o \S+ .*-j MASQUERADE`))
			if err != nil {
				return nil, err
			}
			return []netops.Op{netops.IPTablesDel{NS: e.NS("node1"), Table: "nat", Rules: []string{"-D" + r[2:]}}}, nil
		},
		Criteria: []Criterion{
			{"c1 reaches the outside host", func(e *Env) Outcome {
				var a Asked
				srcs := e.SynSources("outside", "eth1", 80, func() { a = e.Ask("c1", e.OutsideServer()) })
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "outside", Observed: a.Text}
				if !o.Pass {
					if len(srcs) > 0 {
						o.Hint = fmt.Sprintf("c1's connection reached the outside host from %s, and the outside host %s. "+
							"Who should a packet leaving node1 seem to come from?", strings.Join(srcs, ", "), e.RouteBack("outside", srcs[0]))
					} else {
						o.Hint = "nothing from c1 reached the outside host: follow it with 'sudo netlab trace --lab " + e.S.Lab + " c1 outside'"
					}
				}
				return o
			}},
			{"the outside host sees node1's address, not the container's", func(e *Env) Outcome {
				a := e.Ask("c1", e.OutsideServer())
				want := e.Node("node1").IP.String()
				o := Outcome{Pass: a.Err == nil && a.Answer.Client == want, Observed: a.Text}
				if !o.Pass && a.Err == nil {
					o.Hint = fmt.Sprintf("the outside host saw %s, c1's private address: it answered only because something "+
						"now routes %s to node1, which no real network does for a private range. Rewrite the source on node1 instead.",
						a.Answer.Client, e.S.Topology.Docker.Subnet)
				} else if !o.Pass {
					o.Hint = "c1 gets no answer from the outside host yet"
				}
				return o
			}},
			{"c1 and c2 still talk directly", func(e *Env) Outcome {
				a := e.Ask("c2", e.Server("c1"))
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c1" && a.Answer.Client == e.W("c2").IP.String(), Observed: a.Text}
				if !o.Pass {
					o.Hint = "containers of one host must see each other's own addresses: is node1 rewriting packets that stay on docker0?"
				}
				return o
			}},
		},
		Solution: func(e *Env) []string {
			d := e.S.Topology.Docker
			return []string{fmt.Sprintf("sudo ip netns exec %s iptables -t nat -A POSTROUTING -s %s ! -o %s -j MASQUERADE", e.NS("node1"), d.Subnet, d.Bridge)}
		},
	})

	register(Exercise{
		N: 2, ID: "docker-published-port", Title: "The published port answers nothing",
		Model: Docker, Difficulty: "easy",
		Story: func(e *Env) string {
			return fmt.Sprintf("The web app published on node1 (%s:%d) stopped answering the outside world. "+
				"Its container, c1, is up: c2 gets an answer from %s.", e.Node("node1").IP, e.S.Topology.Docker.PublishPort, e.Server("c1"))
		},
		Break: func(e *Env) ([]netops.Op, error) {
			d := e.S.Topology.Docker
			r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`-j DNAT --to-destination `+regexp.QuoteMeta(e.Server("c1").String())+`$`))
			if err != nil {
				return nil, err
			}
			wrong := wrongPort(e)
			chain := strings.Fields(r)[1]
			return []netops.Op{
				netops.IPTablesDel{NS: e.NS("node1"), Table: "nat", Rules: []string{"-D" + r[2:]}},
				netops.IPTables{NS: e.NS("node1"), Marker: names.RuleMarker(e.S.Lab), Rules: []netops.Rule{{Table: "nat", Chain: chain,
					Spec: []string{"!", "-i", d.Bridge, "-p", "tcp", "-m", "tcp", "--dport", fmt.Sprint(d.PublishPort), "-j", "DNAT", "--to-destination", wrong.String()},
					Why:  fmt.Sprintf("publish c1:%d on port %d", d.TargetPort, d.PublishPort)}}},
			}, nil
		},
		Criteria: []Criterion{
			{"the outside host reaches c1 through node1's published port", func(e *Env) Outcome {
				pub := published(e, "node1")
				a := e.Ask("outside", pub)
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c1", Observed: a.Text}
				if !o.Pass {
					o.Hint = "follow it: " + dnatOf(e, "outside", pub) + " What does c1 listen on? (sudo netlab exec --lab " + e.S.Lab + " c1 -- ss -ltn)"
				}
				return o
			}},
			{"c1 sees the outside host's own address", func(e *Env) Outcome {
				a := e.Ask("outside", published(e, "node1"))
				o := Outcome{Pass: a.Err == nil && a.Answer.Client == e.Outside().IP.String(), Observed: a.Text}
				if !o.Pass && a.Err == nil {
					o.Hint = fmt.Sprintf("c1 saw %s, not the outside host: the connection was relayed or its source rewritten. "+
						"A published port rewrites only the destination.", a.Answer.Client)
				} else if !o.Pass {
					o.Hint = "the published port does not answer yet"
				}
				return o
			}},
			{"c1's own server answers", func(e *Env) Outcome {
				a := e.Ask("c2", e.Server("c1"))
				return Outcome{Pass: a.Err == nil && a.Answer.Name == "c1", Observed: a.Text,
					Hint: "c1's web server must keep listening on its own port"}
			}},
			unpublishedClosed("node1", "c2"),
		},
		Solution: func(e *Env) []string {
			d := e.S.Topology.Docker
			ns := e.NS("node1")
			r, err := e.SavedRule("node1", "nat", regexp.MustCompile(`-j DNAT --to-destination `+regexp.QuoteMeta(wrongPort(e).String())+`$`))
			if err != nil {
				r = fmt.Sprintf("-A DOCKER ! -i %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s", d.Bridge, d.PublishPort, wrongPort(e))
			}
			return []string{
				fmt.Sprintf("sudo ip netns exec %s iptables -t nat -D%s", ns, r[2:]),
				fmt.Sprintf("sudo ip netns exec %s iptables -t nat -A %s ! -i %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s",
					ns, strings.Fields(r)[1], d.Bridge, d.PublishPort, e.Server("c1")),
			}
		},
	})

	register(Exercise{
		N: 3, ID: "docker-host-cut-off", Title: "Nothing gets in or out of node2's containers",
		Model: Docker, Difficulty: "easy",
		Story: func(e *Env) string {
			return fmt.Sprintf("Since node2's last reboot, nothing reaches its containers from outside "+
				"(%s:%d times out) and its containers cannot reach the outside host. node2 itself answers pings.",
				e.Node("node2").IP, e.S.Topology.Docker.PublishPort)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			return []netops.Op{netops.Sysctl{NS: e.NS("node2"), Settings: []netops.KV{{Key: "net.ipv4.ip_forward", Value: "0"}}}}, nil
		},
		Criteria: []Criterion{
			{"the outside host reaches c3 through node2's published port", func(e *Env) Outcome {
				pub := published(e, "node2")
				a := e.Ask("outside", pub)
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c3" && a.Answer.Client == e.Outside().IP.String(), Observed: a.Text}
				if !o.Pass {
					o.Hint = "follow it: " + EndOf(e.Walk("outside", pub.Addr(), int(pub.Port()))) + "."
				}
				return o
			}},
			{"c3 reaches the outside host", func(e *Env) Outcome {
				a := e.Ask("c3", e.OutsideServer())
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "outside", Observed: a.Text}
				if !o.Pass {
					o.Hint = "follow it: " + EndOf(e.Walk("c3", e.Outside().IP, 80)) + "."
				}
				return o
			}},
		},
		Solution: func(e *Env) []string {
			return []string{fmt.Sprintf("sudo ip netns exec %s sysctl -w net.ipv4.ip_forward=1", e.NS("node2"))}
		},
	})

	register(Exercise{
		N: 4, ID: "docker-no-network", Title: "One container has no network at all",
		Model: Docker, Difficulty: "medium",
		Story: func(e *Env) string {
			return fmt.Sprintf("c2 on node1 cannot reach anything, not even its gateway %s; c1 next to it is fine. "+
				"Its eth0 is up and has its address %s.", e.S.Topology.Docker.Gateway(), e.W("c2").IP)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			return []netops.Op{netops.LinkSet{NS: e.NS("node1"), Name: e.W("c2").HostIface, NoMaster: true}}, nil
		},
		Criteria: []Criterion{
			{"c2 reaches its gateway", func(e *Env) Outcome {
				gw := e.S.Topology.Docker.Gateway()
				r := e.Ping("c2", gw, 2)
				o := Outcome{Pass: r.Received > 0, Observed: e.PingText("c2", gw, r, "")}
				if !o.Pass {
					o.Hint = vethHint(e, "c2")
				}
				return o
			}},
			{"c1 and c2 reach each other", func(e *Env) Outcome {
				a, b := e.Ask("c1", e.Server("c2")), e.Ask("c2", e.Server("c1"))
				o := Outcome{Pass: a.Err == nil && b.Err == nil && a.Answer.Name == "c2" && b.Answer.Name == "c1" && a.Answer.Client == e.W("c1").IP.String(),
					Observed: a.Text + "; " + b.Text}
				if !o.Pass {
					o.Hint = vethHint(e, "c2")
				}
				return o
			}},
			{"c2's host end is a port of node1's bridge", func(e *Env) Outcome {
				return bridgePort(e, "c2")
			}},
		},
		Solution: func(e *Env) []string {
			return []string{fmt.Sprintf("sudo ip -n %s link set %s master %s", e.NS("node1"), e.W("c2").HostIface, e.S.Topology.Docker.Bridge)}
		},
	})

	register(Exercise{
		N: 5, ID: "docker-call-itself", Title: "A container cannot reach its own published port",
		Model: Docker, Difficulty: "hard", Flags: []string{"--userland-proxy=false"},
		Story: func(e *Env) string {
			pub := published(e, "node1")
			return fmt.Sprintf("This host runs Docker without its userland proxy (--userland-proxy=false). "+
				"The app in c1 calls itself through its public address %s, and that call hangs. "+
				"The outside host and c2 reach %s fine.", pub, pub)
		},
		Break: func(e *Env) ([]netops.Op, error) {
			return []netops.Op{netops.LinkSet{NS: e.NS("node1"), Name: e.W("c1").HostIface, Hairpin: new(false)}}, nil
		},
		Criteria: []Criterion{
			{"c1 reaches itself through node1's published port, seen as docker0's address", func(e *Env) Outcome {
				pub := published(e, "node1")
				a := e.Ask("c1", pub)
				gw := e.S.Topology.Docker.Gateway().String()
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c1" && a.Answer.Client == gw, Observed: a.Text}
				if a.Err == nil && a.Answer.Name == "c1" && a.Answer.Client != gw {
					// A rewrite inside c1 (an OUTPUT DNAT to itself) answers
					// without the call ever leaving c1.
					o.Hint = fmt.Sprintf("c1 answered, but saw %s, not %s: the call never went through node1, where Docker's rules "+
						"(DNAT, then the hairpin MASQUERADE) would have sent it back. The fix belongs on node1, not in the container.", a.Answer.Client, gw)
				} else if !o.Pass {
					b := e.Ask("c2", pub)
					o.Hint = fmt.Sprintf("%s, yet %s. The way in works for everybody but c1: node1 rewrites c1's packet to c1's own "+
						"address, so docker0 must send it back out of the very port it came in by. Look at that port's settings "+
						"(bridge -d link show).", a.Text, b.Text)
				}
				return o
			}},
			{"c2 and the outside host reach c1 through the published port", func(e *Env) Outcome {
				pub := published(e, "node1")
				a, b := e.Ask("c2", pub), e.Ask("outside", pub)
				return Outcome{Pass: a.Err == nil && b.Err == nil && a.Answer.Name == "c1" && b.Answer.Name == "c1" &&
					b.Answer.Client == e.Outside().IP.String(), Observed: a.Text + "; " + b.Text,
					Hint: "the published port itself must keep working for others"}
			}},
			{"node1's firewall still sees bridged traffic, as on a Docker host", func(e *Env) Outcome {
				// Turning br_netfilter off makes the symptom go away (node1
				// then routes c1's packet instead of bridging it back), and
				// takes Docker's rules off every packet between containers.
				v := e.Sysctl("node1", "net.bridge.bridge-nf-call-iptables")
				o := Outcome{Pass: v == "1", Observed: "net.bridge.bridge-nf-call-iptables = " + v + " on node1"}
				if !o.Pass {
					o.Hint = "with it off, packets between containers skip Docker's iptables rules altogether: that is not the fix, put it back on"
				}
				return o
			}},
		},
		Solution: func(e *Env) []string {
			return []string{fmt.Sprintf("sudo ip -n %s link set %s type bridge_slave hairpin on", e.NS("node1"), e.W("c1").HostIface)}
		},
	})
}

// exposePort is the port exercise 14 asks c2 to be published on: the one
// after node1's published port.
func exposePort(e *Env) netip.AddrPort {
	return netip.AddrPortFrom(e.Node("node1").IP, uint16(e.S.Topology.Docker.PublishPort+1))
}

func init() {
	register(Exercise{
		N: 14, ID: "docker-reach-a-container", Title: "A developer cannot reach a container",
		Model: Docker, Difficulty: "medium", Flags: []string{"--docker-version", topo.Docker28},
		Story: func(e *Env) string {
			d := e.S.Topology.Docker
			return fmt.Sprintf("A developer on the outside host needs c2's web server (%s on node1), which nobody published. "+
				"They added a route to %s via node1 on the outside host, and c2 still does not answer them. "+
				"Make c2's server answer the outside host at %s, as Docker publishes a port (this host runs Docker 28), "+
				"and keep the rest as it is: node1's published port %s still leads to c1, and nothing reaches a container "+
				"by its own address from outside its host.", e.Server("c2"), d.Subnet, exposePort(e), published(e, "node1"))
		},
		Break: func(e *Env) ([]netops.Op, error) {
			// The developer's attempt: a route to the containers.
			return []netops.Op{netops.RouteAdd{NS: e.NS("outside"), Dst: e.S.Topology.Docker.Subnet.String(), Via: e.Node("node1").IP.String()}}, nil
		},
		Criteria: []Criterion{
			{"the outside host reaches c2 at node1's new published port", func(e *Env) Outcome {
				pub := exposePort(e)
				a := e.Ask("outside", pub)
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c2", Observed: a.Text}
				if !o.Pass {
					o.Hint = "follow it: " + EndOf(e.Walk("outside", pub.Addr(), int(pub.Port()))) +
						". Compare with how node1 publishes c1's port, table by table (iptables -t nat -S, iptables -S), and mind the order of a chain's rules."
				}
				return o
			}},
			{"c2 sees the outside host's own address, as through a published port", func(e *Env) Outcome {
				a := e.Ask("outside", exposePort(e))
				o := Outcome{Pass: a.Err == nil && a.Answer.Name == "c2" && a.Answer.Client == e.Outside().IP.String(), Observed: a.Text}
				switch {
				case a.Err == nil && a.Answer.Client != e.Outside().IP.String():
					o.Hint = fmt.Sprintf("c2 saw %s: the connection was relayed or its source rewritten. A published port rewrites only the destination.", a.Answer.Client)
				case !o.Pass:
					o.Hint = "the new published port does not lead to c2 yet"
				}
				return o
			}},
			{"node1's published port still leads to c1", func(e *Env) Outcome {
				a := e.Ask("outside", published(e, "node1"))
				return Outcome{Pass: a.Err == nil && a.Answer.Name == "c1" && a.Answer.Client == e.Outside().IP.String(), Observed: a.Text,
					Hint: "c1's published port must keep working as it did"}
			}},
			{"no container answers the outside host by its own address, even with a route to it", func(e *Env) Outcome {
				o := routedClosed(e, "node1", "c1", "c2")
				if !o.Pass && o.Hint == "" {
					o.Hint = "a packet routed to a container's own address from outside its host got in: Docker 28 drops such packets " +
						"before any NAT or routing. Which table holds those drops? (iptables -t raw -S)"
				}
				return o
			}},
		},
		Solution: func(e *Env) []string {
			d := e.S.Topology.Docker
			ns, c2, pub := e.NS("node1"), e.Server("c2"), exposePort(e)
			return []string{
				fmt.Sprintf("sudo ip netns exec %s iptables -t nat -A DOCKER ! -i %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s",
					ns, d.Bridge, pub.Port(), c2),
				// Before DOCKER's last rule, Docker 28's DROP of the rest.
				fmt.Sprintf("sudo ip netns exec %s iptables -I DOCKER -d %s/32 ! -i %s -o %s -p tcp -m tcp --dport %d -j ACCEPT",
					ns, c2.Addr(), d.Bridge, d.Bridge, c2.Port()),
			}
		},
	})
}

// unpublishedClosed: a container's port nobody published stays closed to
// the outside host even when it has a route to the container through its
// node, as Docker's FORWARD policy DROP keeps it (a fix that opens FORWARD
// to everything is refused).
func unpublishedClosed(node, c string) Criterion {
	return Criterion{fmt.Sprintf("%s's unpublished port stays closed to the outside host, even with a route to it", c), func(e *Env) Outcome {
		to := e.Server(c)
		o := routedClosed(e, node, c)
		switch {
		case o.Hint != "": // the route could not be added
		case !o.Pass && e.S.Topology.Docker.Is28():
			o.Hint = fmt.Sprintf("anyone who can route to %s reaches %s, a port nobody published: Docker 28 drops such packets on %s before "+
				"any NAT or routing, and its DOCKER chain drops what else comes into the bridge. Are those rules still there? (iptables -t raw -S, iptables -S DOCKER)",
				to.Addr(), to, node)
		case !o.Pass:
			o.Hint = fmt.Sprintf("anyone who can route to %s reaches %s, a port nobody published: what does %s's FORWARD chain do with a packet "+
				"no rule accepts? (iptables -S FORWARD)", to.Addr(), to, node)
		}
		return o
	}}
}

// routedClosed asks containers cs by their own addresses from the outside
// host, given for each question a route to it via node, and passes when
// none answers. Observed says what each question got; a Hint only when a
// route could not be added.
func routedClosed(e *Env, node string, cs ...string) Outcome {
	var seen []string
	pass := true
	for _, c := range cs {
		to := e.Server(c)
		undo, err := e.tempRoute("outside", netip.PrefixFrom(to.Addr(), 32), e.Node(node).IP)
		if err != nil {
			return Outcome{Observed: err.Error(), Hint: "netlab could not add its route on the outside host for the check: " + err.Error()}
		}
		a := e.Ask("outside", to)
		undo()
		seen = append(seen, a.Text)
		pass = pass && a.Err != nil
	}
	return Outcome{Pass: pass, Observed: strings.Join(seen, "; ") + " (the outside host given a route via " + node + ")"}
}

// wrongPort is where exercise 2's broken rule sends the published port: a
// port c1 does not listen on.
func wrongPort(e *Env) netip.AddrPort {
	p := 8000
	if e.S.Topology.Docker.TargetPort == p {
		p++
	}
	return netip.AddrPortFrom(e.W("c1").IP, uint16(p))
}

// published is the published port of a node.
func published(e *Env, node string) netip.AddrPort {
	return netip.AddrPortFrom(e.Node(node).IP, uint16(e.S.Topology.Docker.PublishPort))
}

// dnatOf says what the walk of a connection to a published port found: the
// rewrite, and where it ends.
func dnatOf(e *Env, from string, pub netip.AddrPort) string {
	t := e.Walk(from, pub.Addr(), int(pub.Port()))
	var what []string
	for _, h := range t.Hops {
		for _, r := range h.Rewrite {
			what = append(what, fmt.Sprintf("%s rewrites %s", h.Host, r.What))
		}
	}
	if len(what) == 0 {
		what = append(what, "nothing rewrites it")
	}
	return strings.Join(what, "; ") + "; " + EndOf(t) + " (" + t.Sent + ")."
}

// vethHint says what the host end of a workload's veth pair is doing.
func vethHint(e *Env, name string) string {
	w := e.W(name)
	l, err := e.Link(w.Node, w.HostIface)
	if err != nil {
		return fmt.Sprintf("%s's eth0 has a peer on %s, but %s is gone: find the peer with 'ip -n %s link' (its @ifN)", name, w.Node, w.HostIface, e.NS(name))
	}
	master := "on no bridge"
	if m := l.Attrs().MasterIndex; m > 0 {
		if ml, err := linkByIndex(e, w.Node, m); err == nil {
			master = "a port of " + ml.Attrs().Name
		}
	}
	return fmt.Sprintf("%s's eth0 is paired with %s on %s, which is %s and %s. Where do the frames from %s go, then?",
		name, w.HostIface, w.Node, strings.ToLower(l.Attrs().OperState.String()), master, name)
}

func linkByIndex(e *Env, host string, i int) (netlink.Link, error) {
	h, err := netops.Netlink(e.NS(host))
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.LinkByIndex(i)
}

// bridgePort checks that the host end of a workload's eth0, whatever it is
// called now, is an up port of its node's bridge.
func bridgePort(e *Env, name string) Outcome {
	w := e.W(name)
	br, _ := bridgeOf(e)
	eth0, err := e.Link(name, "eth0")
	if err != nil {
		return Outcome{Observed: fmt.Sprintf("%s has no eth0: %v", name, err), Hint: name + " needs its eth0 back"}
	}
	peer, err := linkByIndex(e, w.Node, eth0.Attrs().ParentIndex)
	if err != nil {
		return Outcome{Observed: fmt.Sprintf("%s's eth0 has no peer on %s", name, w.Node), Hint: vethHint(e, name)}
	}
	master := "no bridge"
	if m, err := linkByIndex(e, w.Node, peer.Attrs().MasterIndex); err == nil && peer.Attrs().MasterIndex > 0 {
		master = m.Attrs().Name
	}
	up := peer.Attrs().OperState == netlink.OperUp
	o := Outcome{Pass: master == br && up,
		Observed: fmt.Sprintf("%s's eth0 is paired with %s on %s: a port of %s, %s", name, peer.Attrs().Name, w.Node, master, strings.ToLower(peer.Attrs().OperState.String()))}
	if !o.Pass {
		o.Hint = vethHint(e, name)
	}
	return o
}

// bridgeOf is the lab's workload bridge: docker0 or cni0.
func bridgeOf(e *Env) (string, bool) {
	if e.S.Mode == topo.DockerMode {
		return e.S.Topology.Docker.Bridge, true
	}
	return e.S.Topology.Overlay.Bridge, false
}
