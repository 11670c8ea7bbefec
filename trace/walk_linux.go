package trace

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/api"
	"netlab/internal/inventory"
	"netlab/internal/netops"
	"netlab/internal/state"
)

// world is what the walk reads of a lab's namespaces, each read once.
type world struct {
	s     *state.State
	nss   []netops.NS
	views map[netops.NS]*nsView
	// names are the namespaces' roles: pod1, node1, underlay, outside.
	names map[netops.NS]string
	// trail is the packet as it arrives at each hop of the walk.
	trail []Packet
	// force is the endpoint ("ip:port") a random choice (kube-proxy's)
	// must take: the one the real packet took. Empty: the first.
	force string
	ids   map[string]int
	// observe: differences from netlab's plan are said as observations,
	// without the commands that would restore them (Request.Observe).
	observe bool
	// v6: the walk is of an IPv6 packet: the kernel's IPv6 routes,
	// neighbours (NDP's, not ARP's), ip6tables and conntrack entries.
	v6 bool
}

// family is the walk's address family, as netlink names it.
func (w *world) family() int {
	if w.v6 {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

// nsView is one namespace as the kernel reports it.
type nsView struct {
	ns      netops.NS
	h       *netlink.Handle
	links   []netlink.Link
	byIndex map[int]netlink.Link
	byName  map[string]netlink.Link
	addrs   map[netip.Addr]netlink.Link
	ipt     *Tables
	iptErr  error
	iptRead bool
	// nft are its native nftables tables (kube-proxy's nftables mode),
	// once read; nil where there are none.
	nft     *NFTables
	nftErr  error
	nftRead bool
	// brnf is net.bridge.bridge-nf-call-iptables (ip6tables for IPv6)
	// here, once read: "1" when br_netfilter hands bridged frames of the
	// walk's family to its tables.
	brnf string
	v6   bool
}

func newWorld(s *state.State, v6 bool) *world {
	w := &world{s: s, views: map[netops.NS]*nsView{}, names: map[netops.NS]string{}, ids: map[string]int{}, v6: v6}
	w.nss = append(w.nss, s.Namespaces...)
	// Namespaces the lab made since it came up (the pods of applied
	// manifests) carry its marker too.
	known := map[netops.NS]bool{}
	for _, ns := range w.nss {
		known[ns] = true
	}
	for _, ns := range inventory.Scan(s.Lab).Namespaces {
		if !known[ns] {
			w.nss = append(w.nss, ns)
			// "lab-k-default-web-7746868f77-vr2jw" is pod web-7746868f77-vr2jw.
			w.names[ns] = strings.TrimPrefix(strings.TrimPrefix(string(ns), s.Lab+"-"), "k-default-")
		}
	}
	if !s.Topology.Embedded {
		w.nss = append(w.nss, netops.Host)
	}
	for _, h := range s.Topology.Hosts() {
		if !s.Peer(h.Name) {
			w.names[h.NS] = h.Name
		}
	}
	for _, wl := range s.Workloads {
		// A Docker container in another's namespace, or the node's
		// (network container:NAME, host), does not name it.
		if wl.Mode == "" || wl.Mode == "none" {
			w.names[wl.NS] = wl.Name
		}
	}
	if s.Topology.Embedded {
		w.names[s.Topology.UnderlayNetns()] = "underlay"
	}
	return w
}

func (w *world) close() {
	for _, v := range w.views {
		v.h.Close()
	}
}

func (w *world) name(ns netops.NS) string {
	if n, ok := w.names[ns]; ok {
		return n
	}
	return string(ns)
}

func (w *world) view(ns netops.NS) (*nsView, error) {
	if v, ok := w.views[ns]; ok {
		return v, nil
	}
	h, err := netops.Netlink(ns)
	if err != nil {
		return nil, err
	}
	v := &nsView{ns: ns, h: h, byIndex: map[int]netlink.Link{}, byName: map[string]netlink.Link{}, addrs: map[netip.Addr]netlink.Link{}, v6: w.v6}
	v.links, err = netops.Dump(h.LinkList)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("links of %s: %w", ns, err)
	}
	for _, l := range v.links {
		v.byIndex[l.Attrs().Index], v.byName[l.Attrs().Name] = l, l
	}
	as, err := netops.Dump(func() ([]netlink.Addr, error) { return h.AddrList(nil, w.family()) })
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("addresses of %s: %w", ns, err)
	}
	for _, a := range as {
		v.addrs[addrOf(a.IP)] = v.byIndex[a.LinkIndex]
	}
	w.views[ns] = v
	return v, nil
}

// tables reads the namespace's iptables (ip6tables for IPv6) once.
func (v *nsView) tables() (*Tables, error) {
	if !v.iptRead {
		v.iptRead = true
		save := netops.IPTablesSave
		if v.v6 {
			save = netops.IP6TablesSave
		}
		out, err := save(v.ns, "")
		if err != nil {
			v.iptErr = err
		} else {
			v.ipt, v.iptErr = ParseSave(out)
		}
		if v.ipt != nil && strings.Contains(out, "--match-set") {
			// NetworkPolicy's rules match ipsets: read them too.
			sets, err := netops.IPSetSave(v.ns)
			if err != nil {
				v.iptErr = err
			}
			v.ipt.SetIPSets(sets)
		}
		if v.ipt != nil {
			// kube-proxy's session affinity checks xt_recent lists (this
			// thread's /proc/net: the namespace Do entered).
			lists := map[string]string{}
			_ = netops.Do(v.ns, func() error {
				for _, name := range v.ipt.RecentLists() {
					if b, err := os.ReadFile("/proc/thread-self/net/xt_recent/" + name); err == nil {
						lists[name] = string(b)
					}
				}
				return nil
			})
			v.ipt.SetRecent(lists)
		}
	}
	return v.ipt, v.iptErr
}

// nfts reads the namespace's native nftables tables once.
func (v *nsView) nfts() (*NFTables, error) {
	if !v.nftRead {
		v.nftRead = true
		// The text (each rule as a learner reads it) only where there are
		// native tables: a pod's namespace has none, and a walk crosses
		// many.
		j, err := netops.NFTRuleset(v.ns)
		if err == nil && j != nil {
			if n, _ := ParseNFT(j, nil); n != nil {
				var text []byte
				if text, err = netops.NFTRulesetText(v.ns); err == nil {
					v.nft, err = ParseNFT(j, text)
				}
			}
		}
		v.nftErr = err
	}
	return v.nft, v.nftErr
}

// nftFamily is the walk's nftables family: ip, or ip6.
func (w *world) nftFamily() string {
	if w.v6 {
		return "ip6"
	}
	return "ip"
}

// nftFilter runs p through nftables' filter chains on hook with a
// priority from lo to hi, and says whether it goes on: a DROP or REJECT
// there drops it, and the hop says by which rule.
func (w *world) nftFilter(v *nsView, hop *api.Hop, hook string, lo, hi int, q Packet) bool {
	n, err := v.nfts()
	if err != nil {
		hop.Note = joinNote(hop.Note, err.Error())
		return true
	}
	if n == nil {
		return true
	}
	vd := n.EvalHook(w.nftFamily(), "filter", hook, lo, hi, q)
	for _, u := range vd.Unknown {
		hop.Note = joinNote(hop.Note, "an nftables rule the walk cannot judge, taken as not matching: "+u)
	}
	if vd.Target != "DROP" && vd.Target != "REJECT" {
		return true
	}
	hop.Action = "drop"
	hop.Filter, hop.FilterVia = fmt.Sprintf("%s %s %s: %s", vd.Table, vd.Chain, vd.Target, vd.Rule), vd.Via
	if strings.Contains(vd.Rule, "reject-chain") || anyContains(vd.Via, "@no-endpoint-") {
		hop.Note = joinNote(hop.Note, "kube-proxy rejects it: the Service has no ready endpoint (its element in a no-endpoint map sends it to reject-chain)")
	} else if strings.Contains(vd.Rule, "@cluster-ips reject") {
		hop.Note = joinNote(hop.Note, "kube-proxy rejects it: the address is a Service's ClusterIP, but no Service has this protocol and port on it, so nothing rewrote it")
	}
	return false
}

func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// nftChooser decides numgen's choice of an endpoint chain as chooser
// does for iptables' random rules.
func (w *world) nftChooser(n *NFTables) func(string) bool {
	if w.force == "" {
		return nil
	}
	return func(rule string) bool {
		for _, d := range n.DNATs(strings.TrimPrefix(rule, "goto ")) {
			if d == w.force {
				return true
			}
		}
		return false
	}
}

// localPort is the port of bridge br whose own MAC mac is: the kernel
// keeps each port's MAC as a local FDB entry of the bridge, and passes a
// frame for it up, where IP drops it unless it is the bridge's own MAC
// too (kernel 6.18: a ping does not get through). A bridge without a MAC
// set takes its ports' lowest, and changes it as ports come and go: a
// neighbour entry learned before still holds the old one. Nil when mac
// is no port's.
func localPort(v *nsView, br netlink.Link, mac net.HardwareAddr) netlink.Link {
	for _, p := range v.links {
		if p.Attrs().MasterIndex == br.Attrs().Index && bytes.Equal(p.Attrs().HardwareAddr, mac) {
			return p
		}
	}
	return nil
}

func isBridgePort(v *nsView, l netlink.Link) bool {
	m := v.byIndex[l.Attrs().MasterIndex]
	return l.Attrs().MasterIndex > 0 && m != nil && m.Type() == "bridge"
}

// brNetfilter reports whether bridged frames of the walk's family pass
// its tables here (br_netfilter loaded, and its switch on in this
// namespace: bridge-nf-call-iptables, or -ip6tables).
func (v *nsView) brNetfilter() bool {
	if v.brnf == "" {
		key := "net.bridge.bridge-nf-call-iptables"
		if v.v6 {
			key = "net.bridge.bridge-nf-call-ip6tables"
		}
		v.brnf, _ = netops.ReadSysctl(v.ns, key)
		if v.brnf == "" {
			v.brnf = "absent"
		}
	}
	return v.brnf == "1"
}

func (v *nsView) local(a netip.Addr) bool { _, ok := v.addrs[a]; return ok }

func (v *nsView) linkName(i int) string {
	if l, ok := v.byIndex[i]; ok {
		return l.Attrs().Name
	}
	return fmt.Sprintf("if%d", i)
}

// peerOf finds the other end of veth dev of ns among the lab's namespaces:
// the namespace the kernel names by its id as seen from ns
// (IFLA_LINK_NETNSID), and in it the interface of the peer's index.
func (w *world) peerOf(ns netops.NS, dev netlink.Link) (netops.NS, netlink.Link, bool) {
	if dev.Type() != "veth" {
		return "", nil, false
	}
	want := dev.Attrs().ParentIndex
	for _, other := range w.nss {
		if dev.Attrs().NetNsID < 0 && other != ns {
			continue // no id: the peer is in ns itself
		}
		if dev.Attrs().NetNsID >= 0 && (other == ns || w.nsid(ns, other) != dev.Attrs().NetNsID) {
			continue
		}
		v, err := w.view(other)
		if err != nil {
			continue
		}
		if l, ok := v.byIndex[want]; ok && l.Type() == "veth" && l.Attrs().ParentIndex == dev.Attrs().Index {
			return other, l, true
		}
	}
	return "", nil, false
}

// openNS opens a namespace: this process's own for netops.Host (on a
// real node, the machine's stack; in a test's "VM", the VM's).
func openNS(ns netops.NS) (int, error) {
	if ns != netops.Host {
		return unix.Open(netops.Path(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	// This thread's: no goroutine of the walk is inside another
	// namespace, and netops.Do puts its threads back.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// nsid is the id namespace from gives namespace to, or -1.
func (w *world) nsid(from, to netops.NS) int {
	key := string(from) + ">" + string(to)
	if id, ok := w.ids[key]; ok {
		return id
	}
	id := -1
	if v, err := w.view(from); err == nil {
		if fd, err := openNS(to); err == nil {
			if n, err := v.h.GetNetNsIdByFd(fd); err == nil {
				id = n
			}
			unix.Close(fd)
		}
	}
	w.ids[key] = id
	return id
}

// neighbour returns the MAC the kernel of v would send to for next hop nh
// on dev: its ARP entry (its NDP one, for IPv6), or (not resolved yet)
// the MAC of whoever owns nh.
func (w *world) neighbour(v *nsView, dev netlink.Link, nh netip.Addr) (net.HardwareAddr, string) {
	ns, _ := v.h.NeighList(dev.Attrs().Index, w.family())
	for _, n := range ns {
		if n.IP.Equal(net.IP(nh.AsSlice())) && len(n.HardwareAddr) == 6 && n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0 {
			return n.HardwareAddr, fmt.Sprintf("%s lladdr %s %s", nh, n.HardwareAddr, nudName(n.State))
		}
	}
	cache, proto := "the ARP cache", "ARP"
	if w.v6 {
		cache, proto = "the neighbour table", "neighbour discovery (NDP)"
	}
	if l, ok := w.neighbourOwner(v, dev, nh); ok {
		return l.Attrs().HardwareAddr, fmt.Sprintf("%s: not in %s yet; %s finds it at %s (%s)", nh, cache, proto, l.Attrs().HardwareAddr, l.Attrs().Name)
	}
	return nil, fmt.Sprintf("%s: not in %s, and nobody in the lab has that address", nh, cache)
}

// neighbourOwner finds the interface that answers ARP for nh on dev: of
// those holding nh (in the Docker model every host has a 172.17.0.2), the
// one whose veth peer is dev or a port of dev, else the first.
func (w *world) neighbourOwner(v *nsView, dev netlink.Link, nh netip.Addr) (netlink.Link, bool) {
	var first netlink.Link
	for _, ns := range w.nss {
		o, err := w.view(ns)
		if err != nil {
			continue
		}
		l, ok := o.addrs[nh]
		if !ok {
			continue
		}
		if first == nil {
			first = l
		}
		if pns, peer, ok := w.peerOf(ns, l); ok && pns == v.ns &&
			(peer.Attrs().Index == dev.Attrs().Index || peer.Attrs().MasterIndex == dev.Attrs().Index) {
			return l, true
		}
	}
	return first, first != nil
}

func nudName(s int) string {
	switch {
	case s&netlink.NUD_PERMANENT != 0:
		return "PERMANENT"
	case s&netlink.NUD_REACHABLE != 0:
		return "REACHABLE"
	case s&netlink.NUD_STALE != 0:
		return "STALE"
	case s&netlink.NUD_DELAY != 0:
		return "DELAY"
	case s&netlink.NUD_PROBE != 0:
		return "PROBE"
	}
	return fmt.Sprintf("state %#x", s)
}

// bridgePort returns the port of bridge br (in v) that frames for mac
// leave by: its FDB entry, or, not learned yet, the port that leads to the
// owner of mac (the bridge floods, and that copy is the one that counts).
func (w *world) bridgePort(v *nsView, br netlink.Link, mac net.HardwareAddr) (netlink.Link, string) {
	fdb, _ := v.h.NeighList(0, unix.AF_BRIDGE)
	for _, n := range fdb {
		if n.MasterIndex == br.Attrs().Index && bytes.Equal(n.HardwareAddr, mac) {
			if p, ok := v.byIndex[n.LinkIndex]; ok && p.Attrs().Index != br.Attrs().Index {
				return p, fmt.Sprintf("%s dev %s master %s%s", mac, p.Attrs().Name, br.Attrs().Name, fdbState(n))
			}
		}
	}
	for _, p := range v.links {
		if p.Attrs().MasterIndex != br.Attrs().Index {
			continue
		}
		if _, peer, ok := w.peerOf(v.ns, p); ok && bytes.Equal(peer.Attrs().HardwareAddr, mac) {
			return p, fmt.Sprintf("%s not learned on %s: it floods every port; %s leads to it", mac, br.Attrs().Name, p.Attrs().Name)
		}
	}
	return nil, fmt.Sprintf("%s not learned on %s, and no port leads to it", mac, br.Attrs().Name)
}

func fdbState(n netlink.Neigh) string {
	if n.State&netlink.NUD_PERMANENT != 0 || n.State&netlink.NUD_NOARP != 0 {
		return " permanent"
	}
	return " (learned)"
}

// vxlanFDB returns the remote VTEP that frames for mac go to on dev.
func vxlanFDB(v *nsView, dev netlink.Link, mac net.HardwareAddr) (netip.Addr, string, bool) {
	fdb, _ := v.h.NeighList(dev.Attrs().Index, unix.AF_BRIDGE)
	for _, n := range fdb {
		if bytes.Equal(n.HardwareAddr, mac) && n.IP != nil {
			a := addrOf(n.IP)
			return a, fmt.Sprintf("%s dev %s dst %s self permanent", mac, dev.Attrs().Name, a), true
		}
	}
	// No entry for the MAC: the kernel sends the frame to every all-zero
	// (default) entry's VTEP, as it floods an unknown MAC.
	zero := net.HardwareAddr{0, 0, 0, 0, 0, 0}
	var dsts []netip.Addr
	for _, n := range fdb {
		if bytes.Equal(n.HardwareAddr, zero) && n.IP != nil {
			dsts = append(dsts, addrOf(n.IP))
		}
	}
	if len(dsts) > 0 {
		why := fmt.Sprintf("no entry for %s: the all-zero (default) entry 00:00:00:00:00:00 dev %s dst %s takes it", mac, dev.Attrs().Name, dsts[0])
		if len(dsts) > 1 {
			why += fmt.Sprintf(", and a copy goes to each of the %d other all-zero entries' VTEPs (the walk follows the first)", len(dsts)-1)
		}
		return dsts[0], why, true
	}
	return netip.Addr{}, fmt.Sprintf("no FDB entry for %s on %s: the device has no tunnel to send it into", mac, dev.Attrs().Name), false
}

// routeGet is ip route get: with in set, as for a packet arriving on it.
func routeGet(v *nsView, p Packet, in string) (*netlink.Route, error) {
	opts := &netlink.RouteGetOptions{}
	if in != "" {
		opts.Iif = in
		opts.SrcAddr = net.IP(p.Src.AsSlice())
	}
	rs, err := v.h.RouteGetWithOptions(net.IP(p.Dst.AsSlice()), opts)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, errors.New("no route")
	}
	return &rs[0], nil
}

// routeText prints a route as ip route get does.
func routeText(v *nsView, r *netlink.Route, dst netip.Addr, in string) string {
	return netops.RouteText(r, dst, v.linkName(r.LinkIndex), in)
}

// addrOf is a netlink address as netip's: an IPv4 one as IPv4 (netlink
// may give it in 16 bytes), an IPv6 one as itself.
func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// hostPort writes an address and port as iptables and conntrack do:
// 10.244.1.2:9376, [fd00:10:244:1::2]:9376.
func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// hostOf is the address of "ADDR", "ADDR:PORT" or "[ADDR6]:PORT".
func hostOf(s string) string {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		h, _, _ := strings.Cut(rest, "]")
		return h
	}
	if strings.Count(s, ":") == 1 {
		h, _, _ := strings.Cut(s, ":")
		return h
	}
	return s
}

// describe is a packet as a hop shows it: "SRC[:SPORT] → DST[:DPORT]
// PROTO", an IPv6 address with a port in brackets.
func describe(p Packet) string {
	src := "(source by route)"
	if p.Src.IsValid() {
		src = p.Src.String()
	}
	switch {
	case p.Proto == "icmp":
		return fmt.Sprintf("%s → %s icmp", src, p.Dst)
	case p.Sport != 0 && p.Src.IsValid():
		return fmt.Sprintf("%s → %s %s", hostPort(p.Src, p.Sport), hostPort(p.Dst, p.Dport), p.Proto)
	case p.Sport != 0:
		return fmt.Sprintf("%s:%d → %s %s", src, p.Sport, hostPort(p.Dst, p.Dport), p.Proto)
	}
	return fmt.Sprintf("%s → %s %s", src, hostPort(p.Dst, p.Dport), p.Proto)
}

// frame is a packet and the destination MAC it travels to on a link.
type frame struct {
	p   Packet
	mac net.HardwareAddr
	// inner is the packet a VXLAN device carries inside this one, with
	// its VNI.
	inner *frame
	vni   int
}

// walk follows f from ns (arriving on in, or sent by ns itself when in is
// "") until it is delivered, dropped or leaves the machine.
func (w *world) walk(ns netops.NS, in string, f frame) ([]api.Hop, string, string) {
	var hops []api.Hop
	for step := 0; step < 40; step++ {
		v, err := w.view(ns)
		if err != nil {
			hops = append(hops, api.Hop{Host: w.name(ns), Namespace: string(ns), Action: "drop", Note: err.Error()})
			w.trail = append(w.trail, f.p)
			return hops, "dropped", ""
		}
		hop := api.Hop{Host: w.name(ns), Namespace: string(ns), In: in, Packet: describe(f.p)}
		// On a bridge port, the bridge decides first: a frame for its own
		// MAC goes up to this namespace's IP stack, one for another MAC is
		// bridged (through iptables too where br_netfilter is on).
		var port netlink.Link
		if l := v.byName[in]; in != "" && l != nil && isBridgePort(v, l) {
			port = l
			br := v.byIndex[l.Attrs().MasterIndex]
			if port := localPort(v, br, f.mac); bytes.Equal(br.Attrs().HardwareAddr, f.mac) {
				hop.Bridge = fmt.Sprintf("%s is %s's own MAC: up to %s's IP stack", f.mac, br.Attrs().Name, w.name(ns))
			} else if port != nil {
				// The bridge passes the frame up (a local FDB entry), but
				// not as its own: the IP layer drops a frame for another
				// host (PACKET_OTHERHOST), as a real packet shows.
				hop.Bridge = fmt.Sprintf("%s is the MAC of %s, a port of %s, not %s's own (%s)", f.mac, port.Attrs().Name, br.Attrs().Name, br.Attrs().Name, br.Attrs().HardwareAddr)
				hop.Action = "drop"
				hop.Note = fmt.Sprintf("%s takes a frame for a port's MAC up, but IP drops it: it is not addressed to %s. The sender's neighbour entry was learned while %s had that MAC (a bridge whose MAC was never set takes its ports' lowest, and changes it as ports come and go): it holds until the entry goes stale, or 'ip neigh flush all' in the sender. netlab sets cni0's MAC, as CNI's bridge plugin does, so that it never changes",
					br.Attrs().Name, br.Attrs().Name, br.Attrs().Name)
				hops, w.trail = append(hops, hop), append(w.trail, f.p)
				return hops, "dropped", ""
			}
			in = br.Attrs().Name
		}
		arrived := f.p
		arrived.In = in
		next, outcome, to := w.route(v, &hop, in, port, &f)
		hops, w.trail = append(hops, hop), append(w.trail, arrived)
		if outcome != "" {
			return hops, outcome, to
		}
		if next.ns != ns {
			// A packet that crosses into another namespace loses its
			// mark (skb_scrub_packet), the inner one of a tunnel too.
			f.p.Mark = 0
			for in := f.inner; in != nil; in = in.inner {
				in.p.Mark = 0
			}
		}
		ns, in = next.ns, next.in
	}
	return hops, "looped", ""
}

type place struct {
	ns netops.NS
	in string
}

// route is the IP layer of one namespace: NAT before routing, the route,
// the FORWARD verdict, NAT after routing, and how the packet leaves.
func (w *world) route(v *nsView, hop *api.Hop, in string, port netlink.Link, f *frame) (place, string, string) {
	p := &f.p
	// br is the bridge the frame came in on, if any; l2 says the frame is
	// for another MAC than br's own: bridged, not routed.
	var br netlink.Link
	l2, brnf := false, false
	if port != nil {
		br = v.byIndex[port.Attrs().MasterIndex]
		l2 = !bytes.Equal(br.Attrs().HardwareAddr, f.mac) && localPort(v, br, f.mac) == nil
		brnf = v.brNetfilter()
	}
	if l2 && !brnf {
		// A plain bridge: no iptables, no routing.
		pt, pl, outcome := w.bridgeTo(v, hop, br, port, f.mac)
		if pt != nil {
			hop.Action = "bridge"
		}
		return pl, outcome, ""
	}
	t, terr := v.tables()
	pk := func(out string) Packet {
		q := *p
		q.In, q.Out, q.Local = in, out, v.local
		return q
	}
	// DNAT before routing: PREROUTING for what arrives, OUTPUT for what
	// this namespace sends.
	chain := "PREROUTING"
	if in == "" {
		chain = "OUTPUT"
		// What this namespace sends has its source before any NAT: the
		// one routing to the destination as the socket names it gives
		// (a node's connection to a ClusterIP leaves from its own
		// address, and only a masquerade after the DNAT changes it).
		if !p.Src.IsValid() {
			if r, err := routeGet(v, *p, ""); err == nil && r.Src != nil {
				p.Src = addrOf(r.Src)
				hop.Packet = describe(*p)
			}
		}
	}
	// bridged takes the frame through br to the port of mac, with the
	// rules br_netfilter runs once the bridge has found that port.
	bridged := func(mac net.HardwareAddr, r *netlink.Route) (place, string, string) {
		pt, pl, outcome := w.bridgeTo(v, hop, br, port, mac)
		if pt == nil {
			return pl, outcome, ""
		}
		q := pk(br.Attrs().Name)
		q.Bridged = true
		if terr == nil && !w.forwardAndSNAT(v, hop, t, q, p, br, r) {
			return place{}, "dropped", ""
		}
		hop.Action = "bridge"
		return pl, outcome, ""
	}
	// The raw table comes first, before conntrack and NAT: Docker 28
	// drops there what is routed to a container from outside its bridge.
	if terr == nil && t.Has("raw") {
		if vd := t.Eval("raw", chain, pk("")); vd.Target == "DROP" {
			hop.Action = "drop"
			hop.Filter, hop.FilterVia = fmt.Sprintf("raw %s DROP: %s", chain, vd.Rule), vd.Via
			hop.Note = joinNote(hop.Note, "dropped in the raw table, before any NAT or routing")
			return place{}, "dropped", ""
		}
	}
	dnat := false
	if terr == nil {
		q := pk("")
		q.Choose = w.chooser(t)
		vd := t.Eval("nat", chain, q)
		p.Mark = vd.Mark // KUBE-MARK-MASQ's mark stays on the packet
		if vd.Target == "DNAT" {
			dnat = true
			before := hostPort(p.Dst, p.Dport)
			applyDNAT(p, vd.To)
			hop.Rewrite = append(hop.Rewrite, api.Rewrite{Table: "nat", Chain: chain, Rule: vd.Rule, Via: vd.Via,
				What: fmt.Sprintf("dst %s → %s", before, hostPort(p.Dst, p.Dport))})
			if vd.Random {
				hop.Note = joinNote(hop.Note, "one of the Service's endpoints, picked at random by kube-proxy's -m statistic rules: another packet may take another")
			}
		}
	} else {
		hop.Note = terr.Error()
	}
	// nftables' chains on the same hook (kube-proxy's nftables mode): its
	// filter chains before DNAT (dstnat-10), its nat chains, and after
	// them what sees the new destination (output's post-dnat check).
	hook := strings.ToLower(chain)
	if !w.nftFilter(v, hop, hook, math.MinInt32, -101, pk("")) {
		return place{}, "dropped", ""
	}
	if n, _ := v.nfts(); n != nil && !dnat {
		q := pk("")
		q.Choose = w.nftChooser(n)
		vd := n.EvalHook(w.nftFamily(), "nat", hook, math.MinInt32, math.MaxInt32, q)
		p.Mark = vd.Mark // mark-for-masquerade's mark stays on the packet
		if vd.Target == "DNAT" {
			dnat = true
			before := hostPort(p.Dst, p.Dport)
			applyDNAT(p, vd.To)
			hop.Rewrite = append(hop.Rewrite, api.Rewrite{Table: vd.Table, Chain: vd.Chain, Rule: vd.Rule, Via: vd.Via,
				What: fmt.Sprintf("dst %s → %s", before, hostPort(p.Dst, p.Dport))})
			if vd.Random {
				hop.Note = joinNote(hop.Note, "one of the Service's endpoints, picked at random by kube-proxy's numgen verdict map: another packet may take another")
			}
		}
	}
	if hook == "output" && !w.nftFilter(v, hop, hook, -99, math.MaxInt32, pk("")) {
		return place{}, "dropped", ""
	}
	if l2 && !dnat {
		// br_netfilter: a bridged frame passes filter FORWARD and nat
		// POSTROUTING as if routed from br to br, once the bridge has
		// found its port.
		return bridged(f.mac, nil)
	}
	r, err := routeGet(v, *p, in)
	if err != nil {
		hop.Action = "drop"
		hop.Route = fmt.Sprintf("%s: %v", p.Dst, err)
		if in != "" {
			why := "no route"
			if forwarding(v.ns, in, w.v6) == "0" {
				why = fmt.Sprintf("forwarding is off on %s (net.%s.conf.%s.forwarding = 0)", in, map[bool]string{false: "ipv4", true: "ipv6"}[w.v6], in)
			}
			hop.Note = joinNote(hop.Note, fmt.Sprintf("the kernel will not forward it (%v): %s", err, why))
		}
		return place{}, "dropped", ""
	}
	hop.Route = routeText(v, r, p.Dst, in)
	if !p.Src.IsValid() && r.Src != nil {
		p.Src = addrOf(r.Src)
		hop.Packet = describe(*p)
	}
	if r.Type == unix.RTN_LOCAL {
		// nftables' input chains (kube-proxy's NodePort with no endpoint).
		if f.inner == nil && !w.nftFilter(v, hop, "input", math.MinInt32, math.MaxInt32, pk("")) {
			return place{}, "dropped", ""
		}
		return w.deliver(v, hop, f)
	}
	if r.Type != unix.RTN_UNICAST {
		hop.Action = "drop"
		hop.Note = joinNote(hop.Note, fmt.Sprintf("route type %d: not forwarded", r.Type))
		return place{}, "dropped", ""
	}
	out := v.byIndex[r.LinkIndex]
	nh := p.Dst
	if r.Gw != nil {
		nh = addrOf(r.Gw)
	}
	if brnf && dnat && out.Attrs().Index == br.Attrs().Index {
		// br_netfilter's bridged DNAT: the new destination is behind the
		// bridge the frame came in on, so the bridge takes the frame
		// there itself (the route only gives the MAC): not routed, the
		// TTL stays.
		hop.Bridge = fmt.Sprintf("DNAT'd to an address behind %s, the bridge it came in on: %s bridges it there (br_netfilter's bridged DNAT), not routed, so the TTL stays", br.Attrs().Name, br.Attrs().Name)
		mac, neigh := w.neighbour(v, out, nh)
		hop.Neighbour = neigh
		if mac == nil {
			hop.Action = "drop"
			return place{}, "dropped", ""
		}
		f.mac = mac
		return bridged(mac, r)
	}
	if terr == nil && !w.forwardAndSNAT(v, hop, t, pk(out.Attrs().Name), p, out, r) {
		return place{}, "dropped", ""
	}
	hop.Action, hop.Out = "route", out.Attrs().Name
	mac, neigh := w.neighbour(v, out, nh)
	hop.Neighbour = neigh
	if mac == nil && out.Type() != "vxlan" {
		hop.Action = "drop"
		return place{}, "dropped", ""
	}
	f.mac = mac
	switch out.Type() {
	case "bridge":
		_, pl, outcome := w.bridgeTo(v, hop, out, nil, mac)
		return pl, outcome, ""
	case "vxlan":
		vx := out.(*netlink.Vxlan)
		if mac == nil {
			hop.Action = "drop"
			return place{}, "dropped", ""
		}
		vtep, why, ok := vxlanFDB(v, out, mac)
		hop.FDB = why
		if !ok {
			hop.Action = "drop"
			return place{}, "dropped", ""
		}
		src := addrOf(vx.SrcAddr)
		hop.Action = "encapsulate"
		hop.Encapsulation = &api.Encap{Type: "vxlan", Src: src.String(), Dst: vtep.String(), Port: vx.Port, VNI: vx.VxlanId}
		inner := *f
		*f = frame{p: Packet{Src: src, Dst: vtep, Proto: "udp", Sport: 0, Dport: vx.Port}, inner: &inner, vni: vx.VxlanId}
		// The outer packet starts again in this namespace, as one it sends.
		return place{v.ns, ""}, "", ""
	case "veth":
		if pns, peer, ok := w.peerOf(v.ns, out); ok {
			return place{pns, peer.Attrs().Name}, "", ""
		}
	}
	// A NIC (or a veth to no namespace of the lab): the wire of a real
	// node, where this machine's view ends.
	hop.Action = "leave"
	there := nh.String()
	for _, n := range w.s.Topology.Nodes {
		if n.IP == nh {
			there = n.Name + " " + there
		}
	}
	hop.Note = joinNote(hop.Note, fmt.Sprintf("leaves this machine by %s to %s: the walk goes on there", out.Attrs().Name, there))
	return place{}, "left", there
}

// forwardAndSNAT runs filter FORWARD (for what arrived from elsewhere)
// and nat POSTROUTING on p leaving by out, and says whether it goes on.
func (w *world) forwardAndSNAT(v *nsView, hop *api.Hop, t *Tables, q Packet, p *Packet, out netlink.Link, r *netlink.Route) bool {
	if q.In != "" {
		// nftables' forward chains (kube-proxy's at dstnat-10) come before
		// iptables' (at 0).
		if !w.nftFilter(v, hop, "forward", math.MinInt32, -1, q) {
			return false
		}
		vd := t.Eval("filter", "FORWARD", q)
		p.Mark = vd.Mark
		hop.Filter, hop.FilterVia = fmt.Sprintf("FORWARD %s: %s", vd.Target, vd.Rule), vd.Via
		for _, u := range vd.Unknown {
			hop.Note = joinNote(hop.Note, "a rule the walk cannot judge, taken as not matching: "+u)
		}
		for _, r := range vd.PolicyAllowed() {
			hop.Note = joinNote(hop.Note, "NetworkPolicy allows it: "+r)
		}
		if vd.Target == "REJECT" && strings.HasPrefix(vd.Rule, "-A KUBE-POD-FW-") {
			hop.Note = joinNote(hop.Note, "NetworkPolicy denies it: a policy selects the pod, and no rule of the policies selecting it marked the packet allowed (0x10000), so the pod's chain rejects it")
		}
		if vd.Target == "DROP" || vd.Target == "REJECT" {
			hop.Action = "drop"
			return false
		}
		q.Mark = p.Mark
	}
	// Source NAT: iptables' nat POSTROUTING, else nftables' nat chains on
	// postrouting (kube-proxy's masquerading).
	vd := t.Eval("nat", "POSTROUTING", q)
	vd.Table, vd.Chain = "nat", "POSTROUTING"
	if n, _ := v.nfts(); n != nil && vd.Target != "MASQUERADE" && vd.Target != "SNAT" {
		q.Mark = vd.Mark
		vd = n.EvalHook(w.nftFamily(), "nat", "postrouting", math.MinInt32, math.MaxInt32, q)
	}
	p.Mark = vd.Mark
	if vd.Target == "MASQUERADE" || vd.Target == "SNAT" {
		before := p.Src
		if vd.Target == "SNAT" {
			p.Src = addrOf(net.ParseIP(hostOf(vd.To)))
		} else if r != nil && r.Src != nil {
			p.Src = addrOf(r.Src) // the address the route gives the outgoing interface
		} else if src := masqSource(v, p.Dst, out); src.IsValid() {
			p.Src = src
		}
		hop.Rewrite = append(hop.Rewrite, api.Rewrite{Table: vd.Table, Chain: vd.Chain, Rule: vd.Rule, Via: vd.Via,
			What: fmt.Sprintf("src %s → %s", before, p.Src)})
	}
	return true
}

// bridgeTo finds the port of br that frames for mac leave by, as the
// bridge does: its FDB entry, never back out the port the frame came in
// by (ingress, nil for a frame the namespace sends) unless that port is in
// hairpin mode. It returns the port (nil: dropped) and where the frame
// goes next.
func (w *world) bridgeTo(v *nsView, hop *api.Hop, br, ingress netlink.Link, mac net.HardwareAddr) (netlink.Link, place, string) {
	pt, why := w.bridgePort(v, br, mac)
	hop.FDB = why
	if pt == nil {
		hop.Action = "drop"
		return nil, place{}, "dropped"
	}
	if ingress != nil && pt.Attrs().Index == ingress.Attrs().Index {
		pi, err := v.h.LinkGetProtinfo(pt)
		if err != nil || !pi.Hairpin {
			hop.Action = "drop"
			hop.Note = joinNote(hop.Note, fmt.Sprintf("%s would send it back out %s, the port it came in by: a bridge does that only through a port in hairpin mode, which %s is not, so the frame is dropped", br.Attrs().Name, pt.Attrs().Name, pt.Attrs().Name))
			return nil, place{}, "dropped"
		}
		hop.Note = joinNote(hop.Note, fmt.Sprintf("hairpin mode is on for %s: %s sends the frame back out the port it came in by", pt.Attrs().Name, br.Attrs().Name))
	}
	hop.Out = br.Attrs().Name + " → " + pt.Attrs().Name
	pns, peer, ok := w.peerOf(v.ns, pt)
	if !ok {
		hop.Note = joinNote(hop.Note, pt.Attrs().Name+" leads out of the lab")
		return pt, place{}, "left"
	}
	return pt, place{pns, peer.Attrs().Name}, ""
}

// deliver ends the walk in v, or decapsulates a VXLAN packet and goes on
// with the inner one.
func (w *world) deliver(v *nsView, hop *api.Hop, f *frame) (place, string, string) {
	if f.inner != nil && f.p.Proto == "udp" {
		for _, l := range v.links {
			// The kernel's VXLAN sockets are one per port and family, and
			// a socket's devices are told apart by VNI: flannel.1 and
			// flannel-v6.1 share VNI 1 and port 8472 over two families.
			vx, ok := l.(*netlink.Vxlan)
			if !ok || vx.Port != f.p.Dport || vx.VxlanId != f.vni ||
				(vx.SrcAddr != nil && (vx.SrcAddr.To4() == nil) != f.p.Dst.Is6()) {
				continue
			}
			hop.Action = "decapsulate"
			hop.Note = fmt.Sprintf("UDP %d is %s's (VNI %d): the inner packet arrives on it", vx.Port, vx.Name, vx.VxlanId)
			inner := *f.inner
			*f = inner
			return place{v.ns, vx.Name}, "", ""
		}
	}
	hop.Action = "deliver"
	return place{}, "delivered", w.name(v.ns)
}

// chooser decides kube-proxy's random rules: every one matches (the
// first endpoint), or, once the real packet's choice is known, only the
// one that leads to it.
func (w *world) chooser(t *Tables) func(string) bool {
	if w.force == "" {
		return nil
	}
	return func(rule string) bool {
		for _, d := range t.DNATs(t.JumpTarget(rule)) {
			if d == w.force {
				return true
			}
		}
		return false
	}
}

// forwarding reads whether ns forwards what arrives on dev, of IPv4 or
// of IPv6.
func forwarding(ns netops.NS, dev string, v6 bool) string {
	family := "ipv4"
	if v6 {
		family = "ipv6"
	}
	var v []byte
	_ = netops.Do(ns, func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/net/" + family + "/conf/" + dev + "/forwarding")
		return err
	})
	return strings.TrimSpace(string(v))
}

// masqSource is the address MASQUERADE gives a packet for dst leaving by
// out: the source the kernel would pick to send to dst itself (its
// source address selection: IPv4's inet_select_addr, IPv6's
// ipv6_dev_get_saddr, which never picks a link-local address for a global
// destination), else an address of out's of dst's scope.
func masqSource(v *nsView, dst netip.Addr, out netlink.Link) netip.Addr {
	if r, err := routeGet(v, Packet{Dst: dst}, ""); err == nil && r.Src != nil && r.LinkIndex == out.Attrs().Index {
		return addrOf(r.Src)
	}
	for a, dev := range v.addrs {
		if dev.Attrs().Index == out.Attrs().Index && a.IsLinkLocalUnicast() == dst.IsLinkLocalUnicast() {
			return a
		}
	}
	return firstAddr(v, out)
}

func firstAddr(v *nsView, l netlink.Link) netip.Addr {
	for a, dev := range v.addrs {
		if dev.Attrs().Index == l.Attrs().Index {
			return a
		}
	}
	return netip.Addr{}
}

// applyDNAT rewrites p's destination to a DNAT's --to-destination:
// ADDR, ADDR:PORT, or [ADDR6]:PORT (a port range: its first).
func applyDNAT(p *Packet, to string) {
	host := hostOf(to)
	if a, err := netip.ParseAddr(host); err == nil {
		p.Dst = a
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(to, "["+host+"]"), host)
	if port, ok := strings.CutPrefix(rest, ":"); ok {
		var n int
		if _, err := fmt.Sscan(strings.Split(port, "-")[0], &n); err == nil {
			p.Dport = n
		}
	}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
