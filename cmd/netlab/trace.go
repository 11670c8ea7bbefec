package main

import (
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"netlab/internal/api"
	"netlab/internal/lab"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/kube"
	"netlab/trace"
	"netlab/workshop"
)

func newTrace(g *globals) *cobra.Command {
	var port decimal
	var proto string
	var asJSON, v6 bool
	c := &cobra.Command{
		Use:   "trace SRC DST [--port P] [--proto tcp|icmp|udp] [--ipv6]",
		Short: "Walk a packet hop by hop from the kernel's own tables, then confirm it with one real packet",
		Long: `Walk a packet from SRC (a container, pod, node or the outside host) to DST
(an address, a name, or a Service: svc/NAME, NAME.NAMESPACE), namespace
by namespace, in the kernel's order: NAT before routing, the route it
picks (ip route get), filter FORWARD, NAT after routing; each rule that
rewrites, accepts or drops it, with the chain of jumps that led there (a
Service's KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-…); the bridge's FDB
entry, and on a VXLAN device the ARP and FDB entries that pick the remote
VTEP and the outer header. Then send one real packet (a TCP connection, a
ping or a UDP datagram) and check the walk: the interface counters on the
path moved, every rule it names counted the packet, and conntrack shows
the translations it predicts and no other. Where the kernel differs from
what netlab built (a route, an FDB entry or a rule changed by hand), it
says so.

Without --port and --proto: TCP to a container's or pod's server when DST
is one, a ping otherwise.

In a dual-stack lab (made with --ipv6) an IPv6 DST is walked in IPv6:
the kernel's IPv6 routes, its neighbour entries (NDP's, where IPv4 has
ARP's), ip6tables and IPv6 conntrack. --ipv6 takes a name's IPv6 address
(a pod's, a node's, a Service's IPv6 ClusterIP) instead of its IPv4 one.`,
		Example: "  sudo netlab trace pod1 pod3\n  sudo netlab trace c1 192.168.56.12 --port 8080\n  sudo netlab trace outside 192.168.56.11 --port 8080 --lab docker\n  sudo netlab trace node1 10.244.2.2 --proto icmp\n  sudo netlab trace pod1 svc/my-service\n  sudo netlab trace pod1 pod3 --ipv6 --lab ds",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("trace takes SRC and DST, got %d argument(s) (see 'netlab trace --help')", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			chosen, err := g.chosen()
			if err != nil {
				return err
			}
			if g.dryRun {
				return usagef("trace changes nothing: it has no --dry-run")
			}
			switch proto {
			case "", "tcp", "udp", "icmp":
			default:
				return usagef("--proto %q: tcp, udp or icmp", proto)
			}
			if c.Flags().Changed("port") && (port < 1 || port > 65535) {
				return usagef("--port %d: from 1 to 65535", port)
			}
			if proto == "icmp" && c.Flags().Changed("port") {
				return usagef("--port goes with tcp or udp, not icmp")
			}
			if err := needRoot("trace"); err != nil {
				return err
			}
			req, err := traceRequest(chosen, args[0], args[1], proto, int(port), c.Flags().Changed("port"), v6)
			if err != nil {
				return err
			}
			t := trace.Run(req)
			if asJSON {
				return writeJSON(c.OutOrStdout(), t)
			}
			trace.Text(c.OutOrStdout(), t)
			return nil
		},
	}
	c.Flags().Var(&port, "port", "destination port (tcp or udp)")
	c.Flags().StringVar(&proto, "proto", "", "tcp, udp or icmp (default: tcp to a workload's server, else icmp)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the walk as JSON, for scripts")
	c.Flags().BoolVar(&v6, "ipv6", false, "walk IPv6: a name's IPv6 address (a dual-stack lab's)")
	return c
}

// traceRequest reads trace's SRC and DST (in lab chosen, or whichever lab
// has SRC), its protocol and port (portSet: given by the user), as the
// verb and netlab web take them; v6 takes the IPv6 address of a DST
// given by name (an IPv6 DST address is IPv6 anyway).
func traceRequest(chosen, src, dst, proto string, port int, portSet, v6 bool) (trace.Request, error) {
	s, ns, wl, err := findName(chosen, src)
	if err != nil {
		return trace.Request{}, err
	}
	req := trace.Request{State: s, SrcNS: ns, Src: api.TraceEnd{Name: src, Netns: string(ns)}, Proto: proto, Port: port}
	if x, ok := workshop.FromLab(s.Lab); ok {
		// A running exercise's lab: what netlab built is its answer.
		_, req.Observe = workshop.LoadProgress(x)
	}
	if a, err := netip.ParseAddr(dst); err == nil {
		if a.Zone() != "" || a.Is4In6() {
			return req, usagef("%s: give an address without a zone, an IPv4 one as a.b.c.d", dst)
		}
		v6 = a.Is6()
	}
	if v6 && !s.Topology.IPv6 {
		return req, usagef("%s: lab %s is IPv4 only (made without --ipv6), so there is no IPv6 to walk: make a dual-stack lab with '%s-mode --ipv6 --lab NAME'", dst, s.Lab, s.Mode)
	}
	if wl != nil {
		req.Src.IP = wl.IP.String()
		if v6 {
			req.Src.IP = wl.IP6.String()
		}
	}
	addr, name, dport, err := traceDst(s, dst, v6)
	if err != nil {
		return req, err
	}
	req.Dst, req.DstName = addr, name
	if req.Proto == "" {
		req.Proto = "icmp"
		if portSet || dport != 0 {
			req.Proto = "tcp"
		}
	}
	if req.Port == 0 && req.Proto != "icmp" {
		if dport == 0 {
			return req, usagef("%s has no server netlab knows of: give --port, or --proto icmp", dst)
		}
		req.Port = dport
	}
	return req, nil
}

// traceDst resolves DST: an address, or the name of a workload or host of
// the lab (its IPv6 address with v6); with the port of the server there,
// if netlab runs one.
func traceDst(s *state.State, dst string, v6 bool) (netip.Addr, string, int, error) {
	of := func(ip4, ip6 netip.Addr) netip.Addr {
		if v6 {
			return ip6
		}
		return ip4
	}
	if a, err := netip.ParseAddr(dst); err == nil {
		for _, w := range s.Workloads {
			if of(w.IP, w.IP6) == a && countIP(s, a) == 1 {
				return a, w.Name, w.Port, nil
			}
		}
		if o := s.Topology.Outside; o != nil && of(o.IP, o.IP6) == a {
			return a, o.Name, lab.OutsidePort, nil
		}
		return a, "", 0, nil
	}
	if w := s.Workload(dst); w != nil {
		return of(w.IP, w.IP6), w.Name, w.Port, nil
	}
	for _, h := range s.Topology.Hosts() {
		if h.Name == dst {
			port := 0
			if o := s.Topology.Outside; o != nil && o.Name == dst {
				port = lab.OutsidePort
			}
			return of(h.IP, h.IP6), h.Name, port, nil
		}
	}
	if a, name, port, ok := traceService(s, dst, v6); ok {
		return a, name, port, nil
	}
	// A pod of netlab apply's, by name or NAMESPACE/NAME, wherever it runs:
	// the port of its first container.
	if ks, err := kube.LoadStore(s.Lab); err == nil {
		p, err := findPod(ks, s.Lab, dst)
		if err != nil {
			return netip.Addr{}, "", 0, err
		}
		if p != nil {
			port := 0
			if cs := p.Template.Containers; len(cs) > 0 && !cs[0].ServesUDP() {
				port = cs[0].ServePort()
			}
			return of(p.IP, p.IP6), dst, port, nil
		}
	}
	if m, ok := lab.ModeNamed(s.Mode); ok && !s.Topology.Embedded {
		for _, w := range m.Plan(s.Topology).Peers {
			if w.Name == dst {
				return of(w.IP, w.IP6), w.Name, w.Port, nil
			}
		}
	}
	return netip.Addr{}, "", 0, usagef("%s is not an IP address, nor a container, pod, host or Service of lab %s ('netlab status --lab %s' lists them)", dst, s.Lab, s.Lab)
}

// traceService resolves a Service of an overlay lab, as svc/NAME (or
// service/NAME, or NAME alone) in namespace default, or NAME.NAMESPACE:
// its ClusterIP (of IPv6 with v6) and its first port.
func traceService(s *state.State, dst string, v6 bool) (netip.Addr, string, int, bool) {
	if s.Mode != topo.OverlayMode {
		return netip.Addr{}, "", 0, false
	}
	name := dst
	for _, p := range []string{"svc/", "service/", "services/"} {
		name = strings.TrimPrefix(name, p)
	}
	ns := "default"
	if n, space, ok := strings.Cut(name, "."); ok {
		name, ns = n, space
	}
	st, err := kube.LoadStore(s.Lab)
	if err != nil {
		return netip.Addr{}, "", 0, false
	}
	fam := kube.IPv4
	if v6 {
		fam = kube.IPv6
	}
	for _, sv := range st.Services {
		if vip := sv.ClusterIPOf(fam); sv.Name == name && sv.Namespace == ns && vip.IsValid() && len(sv.Ports) > 0 {
			return vip, "svc/" + sv.Name, sv.Ports[0].Port, true
		}
	}
	return netip.Addr{}, "", 0, false
}

// countIP is how many of the lab's workloads have address a: in the
// Docker model, one per host.
func countIP(s *state.State, a netip.Addr) int {
	n := 0
	for _, w := range s.Workloads {
		if w.IP == a || w.IP6 == a {
			n++
		}
	}
	return n
}
