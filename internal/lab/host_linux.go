package lab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// virtualNICs are the drivers of virtual machines' network cards, where
// the kernel's VXLAN checksum offload is known to go wrong (flannel#1279).
var virtualNICs = map[string]bool{
	"vmxnet3": true, "virtio_net": true, "e1000": true, "e1000e": true,
	"hv_netvsc": true, "ena": true, "xen_netfront": true, "gve": true,
}

// CheckHost looks at a real node before anything is built on it, and
// refuses what would break it or the lab: a missing underlay interface, an
// address that says this machine is not the node it claims to be, and
// subnets or device names that something else (Docker, say) already uses.
// It fills in the underlay's MTU and whether flannel.1 needs the checksum
// workaround. It only reads.
func CheckHost(t *topo.Topology) error {
	nodes := t.LocalNodes()
	if len(nodes) != 1 {
		return topo.Inputf("--node: no such node")
	}
	n := nodes[0]
	nl, err := netops.Netlink(netops.Host)
	if err != nil {
		return err
	}
	defer nl.Close()
	dev, err := nl.LinkByName(n.Iface)
	if err != nil {
		return topo.Inputf("the underlay interface %q is not on this machine: set iface in the topology file to the private network's interface (not Vagrant's NAT eth0)", n.Iface)
	}
	t.UnderlayMTU = dev.Attrs().MTU
	addrs, err := netops.Dump(func() ([]netlink.Addr, error) { return nl.AddrList(dev, netlink.FAMILY_V4) })
	if err != nil {
		return err
	}
	have := false
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == n.IP {
			have = true
		}
	}
	if !have {
		return topo.Inputf("%s is %s's address in the topology, but %s here does not have it: is this machine %s? (ip -4 addr show %s)", n.IP, n.Name, n.Iface, n.Name, n.Iface)
	}
	if t.IPv6 {
		t.KeepRA = takesRA(nl)
		// The underlay's IPv6 address is the machine's, as its IPv4 one:
		// provisioning gives it (scripts/provision.sh), netlab never does.
		addrs, err := netops.Dump(func() ([]netlink.Addr, error) { return nl.AddrList(dev, netlink.FAMILY_V6) })
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { ip, ok := netip.AddrFromSlice(a.IP); return ok && ip == n.IP6 }) {
			return topo.Inputf("--ipv6: %s is %s's IPv6 address on the underlay, but %s here does not have it: give it the address (scripts/provision.sh does: ip -6 addr add %s/%d dev %s), or name its own with nodes[].ip6 in the topology file",
				n.IP6, n.Name, n.Iface, n.IP6, t.Underlay6.Bits(), n.Iface)
		}
	}
	type ours struct {
		p    netip.Prefix
		hint string
	}
	mine := []ours{{t.Docker.Subnet, "docker.subnet, e.g. 172.18.0.0/16"}}
	names := []string{t.Docker.Bridge}
	if t.Mode == topo.OverlayMode {
		mine = []ours{{t.Overlay.ClusterCIDR, "overlay.cluster_cidr"}}
		names = []string{t.Overlay.Bridge}
		if t.Overlay.Backend == topo.VXLAN {
			names = append(names, t.Overlay.Device)
		}
	} else {
		for i, n := range t.Docker.Networks {
			mine = append(mine, ours{n.Subnet, fmt.Sprintf("networks[%d].subnet (the network %s)", i, n.Name)})
			names = append(names, n.Bridge)
		}
	}
	routes, err := netops.Dump(func() ([]netlink.Route, error) { return nl.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return err
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		p, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		bits, _ := r.Dst.Mask.Size()
		k := slices.IndexFunc(mine, func(m ours) bool { return ok && topo.Collides(netip.PrefixFrom(p, bits), m.p) })
		if k < 0 {
			continue
		}
		via := ""
		if l, err := nl.LinkByIndex(r.LinkIndex); err == nil {
			if strings.HasPrefix(l.Attrs().Alias, "netlab:") {
				continue // a running lab's own: up says so, with a better hint
			}
			via = " dev " + l.Attrs().Name
		}
		return topo.Inputf("%s collides with the route %s%s on this machine (Docker installed?): pick a free range with %s in the topology file",
			mine[k].p, r.Dst, via, mine[k].hint)
	}
	for _, name := range names {
		if l, err := nl.LinkByName(name); err == nil && !strings.HasPrefix(l.Attrs().Alias, "netlab:") {
			return topo.Inputf("this machine already has an interface %q that netlab did not make (Docker or a CNI plugin?): remove it, or rename netlab's in the topology file", name)
		}
	}
	if t.Mode == topo.OverlayMode {
		if err := noFlannel(); err != nil {
			return err
		}
	}
	if t.Mode == topo.OverlayMode && t.Overlay.Backend == topo.VXLAN && t.Overlay.TxChecksum == "auto" {
		t.ChecksumFix = checksumFix(n.Iface, driver(n.Iface))
	}
	return nil
}

// takesRA lists the machine's interfaces that take router advertisements
// (accept_ra 1, and forwarding off: a VM's NAT NIC on QEMU's or
// VirtualBox's user network): the routers they learned are to be kept when
// a dual-stack lab turns forwarding on (Topology.KeepRA). Names with a dot
// are left out: a sysctl key could not name them.
func takesRA(nl *netlink.Handle) []string {
	links, err := netops.Dump(func() ([]netlink.Link, error) { return nl.LinkList() })
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range links {
		name := l.Attrs().Name
		if strings.Contains(name, ".") || name == "lo" {
			continue
		}
		// With forwarding already on, accept_ra 1 takes no advertisement:
		// there is nothing to keep, and 2 would start taking them.
		ra, err1 := netops.ReadSysctl(netops.Host, "net.ipv6.conf."+name+".accept_ra")
		fwd, err2 := netops.ReadSysctl(netops.Host, "net.ipv6.conf."+name+".forwarding")
		if err1 == nil && err2 == nil && strings.TrimSpace(ra) == "1" && strings.TrimSpace(fwd) == "0" {
			out = append(out, name)
		}
	}
	return out
}

// noFlannel refuses a machine whose iptables already have flannel's chains
// (FLANNEL-POSTRTG, FLANNEL-FWD): a real flanneld's, or another overlay
// lab's. netlab's overlay lab plays flannel under flannel's names, and a
// node has one flannel.
func noFlannel() error {
	for _, table := range []string{"nat", "filter"} {
		save, err := netops.IPTablesSave(netops.Host, table)
		if err != nil {
			return nil // no iptables to read: up says so, with its command
		}
		for _, l := range strings.Split(save, "\n") {
			if chain, ok := strings.CutPrefix(l, ":FLANNEL-"); ok {
				return topo.Inputf("this machine already has flannel's chain FLANNEL-%s in its %s table (flanneld runs here, or another overlay lab: sudo netlab status): a node has one flannel; run the lab on a machine without it",
					strings.Fields(chain)[0], table)
			}
		}
	}
	return nil
}

// checksumFix says why flannel.1's TX checksum offload goes off on a real
// node (auto: always). A node's own packets into the tunnel (node → a pod
// of another node, a NodePort relayed there) leave flannel.1 with their
// inner checksum still to be filled in by the NIC below; some virtual NICs
// and hypervisor backends never fill it in, and the peer drops them while
// forwarded pod traffic passes (flannel#1279). Which combination does is
// not something netlab can read off a driver's name (it was seen on
// virtio_net, where 'make vm-test's VMs do not show it), so a real node
// always computes that checksum itself: a little CPU for the node's own
// packets, nothing for the pods'.
func checksumFix(iface, drv string) string {
	switch {
	case virtualNICs[drv]:
		return fmt.Sprintf("the underlay NIC %s is a virtual NIC (%s)", iface, drv)
	case drv != "":
		return fmt.Sprintf("a real node, whose underlay NIC %s (%s) might not fill it in", iface, drv)
	}
	return fmt.Sprintf("a real node, whose underlay NIC %s might not fill it in", iface)
}

// driver returns the kernel driver of an interface in this namespace.
func driver(iface string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, iface)
	if err != nil {
		return ""
	}
	return unix.ByteSliceToString(info.Driver[:])
}

// hostTeardown returns the ops that remove lab's objects from the
// namespace netlab runs in, where a real node keeps them: links carrying
// the lab's marker (the bridge and flannel.1; routes, ARP and FDB entries go
// with them), the rules carrying its comment in built-in chains, and its
// own chains. On a machine that only ever ran embedded labs it finds
// nothing. It only reads.
func hostTeardown(lab string, realNode bool) ([]netops.Op, error) {
	links, err := netops.Links(netops.Host)
	if err != nil {
		return nil, err
	}
	var ops []netops.Op
	for _, l := range links {
		// A veth's other end is in a workload's namespace, and the kernel
		// deletes the pair with that namespace: deleting it here would
		// only cost time (about 20 ms a veth). waitVeths waits for that.
		if strings.HasPrefix(l.Attrs().Alias, names.MarkerPrefix(lab)) && l.Type() != "veth" {
			ops = append(ops, netops.LinkDel{NS: netops.Host, Name: l.Attrs().Name})
		}
	}
	// Rules only ever come after the links on a real node: where neither
	// the links nor the state say this was one, there is nothing to read.
	if len(ops) == 0 && !realNode {
		return nil, nil
	}
	ipt := iptablesCleanup(lab)
	ops = append(ops, ipt...)
	// NetworkPolicy's ipsets, once the rules naming them are gone.
	if sets := labIPSets(lab, ipt); len(sets) > 0 {
		ops = append(ops, netops.IPSets{NS: netops.Host, Destroy: sets})
	}
	// kube-proxy's nftables table, and a trace's (left by one killed
	// mid-way), where the lab made them (their comment says so).
	for _, fam := range []string{"ip", "ip6"} {
		for _, table := range []string{names.KubeProxyTable, names.TraceTable} {
			if has, _ := netops.NFTHasTable(netops.Host, fam, table); has {
				if c, _ := netops.NFTTableComment(netops.Host, fam, table); names.OwnsTable(c, lab) {
					ops = append(ops, netops.NFT{NS: netops.Host, Lines: []string{"delete table " + fam + " " + table}})
				}
			}
		}
	}
	// kube-proxy's nfacct counters went with its rules: the lab made them
	// when it made KUBE-FORWARD, which only the lab's rules used.
	for _, op := range ipt {
		if d, ok := op.(netops.IPTablesDel); ok && !d.IPv6 && d.Table == "filter" && slices.Contains(d.Chains, "KUBE-FORWARD") {
			ops = append(ops, netops.Nfacct{NS: netops.Host, Del: true, Names: names.KubeProxyCounters})
		}
	}
	return ops, nil
}

// hostRoutes returns the ops that delete the routes lab's plan added on a
// real node's own links (host-gw's, via the underlay interface): they go
// with no link of the lab's, so down deletes them one by one. The plan is
// made again from the state's topology, by the lab's own model.
func hostRoutes(s *state.State) []netops.Op {
	if s == nil || s.Topology.Embedded {
		return nil
	}
	var plan *Plan
	for _, m := range Modes() {
		if m.Name == s.Mode {
			p := m.Plan(s.Topology)
			plan = &p
		}
	}
	if plan == nil {
		return nil
	}
	own := map[string]bool{} // the lab's own devices take their routes with them
	var ops []netops.Op
	for _, op := range netops.Flatten(plan.Ops) {
		switch o := op.(type) {
		case netops.BridgeAdd:
			own[o.Name] = o.NS == netops.Host
		case netops.VxlanAdd:
			own[o.Name] = o.NS == netops.Host
		case netops.VethAdd:
			own[o.Name] = o.NS == netops.Host
		case netops.RouteAdd:
			if o.NS == netops.Host && o.Dev != "" && !own[o.Dev] {
				ops = append(ops, netops.RouteDel{NS: o.NS, Dst: o.Dst, Via: o.Via, Dev: o.Dev})
			}
		}
	}
	return ops
}

// opCount is how many objects ops remove: a link, a rule, a chain each.
func opCount(ops []netops.Op) int {
	n := 0
	for _, op := range ops {
		switch o := op.(type) {
		case netops.IPTablesDel:
			n += len(o.Rules) + len(o.Chains)
		default:
			n++
		}
	}
	return n
}

// iptablesCleanup reads this namespace's rules and returns the ops that
// delete lab's: its rules (found by their comment), then its chains: its
// own (found by their exact names), and the chains it made under the names
// of the programs it plays, flannel's and kube-proxy's (FLANNEL-*, KUBE-*:
// chains that hold only its rules, and that only its rules jump to), a
// table at a time. None when there is nothing of lab's, or no iptables.
func iptablesCleanup(lab string) []netops.Op {
	// A dual-stack lab's rules are in ip6tables too; a machine without
	// ip6tables has none of them.
	return append(familyCleanup(lab, false), familyCleanup(lab, true)...)
}

// familyCleanup is iptablesCleanup of iptables, or of ip6tables.
func familyCleanup(lab string, v6 bool) []netops.Op {
	save := netops.IPTablesSave
	if v6 {
		save = netops.IP6TablesSave
	}
	chainPrefix := names.ChainName(lab, "")
	var ops []netops.Op
	for _, table := range []string{"raw", "nat", "filter"} {
		out, err := save(netops.Host, table)
		if err != nil {
			if table == "raw" {
				continue // no raw table here: nothing of the lab's in it
			}
			return ops
		}
		del := netops.IPTablesDel{NS: netops.Host, Table: table, IPv6: v6}
		kube := map[string]bool{}       // a borrowed chain → still a candidate
		jumpedByUs := map[string]bool{} // borrowed chains the lab's rules jump to
		hasRules := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			switch {
			case strings.HasPrefix(line, ":"+chainPrefix) && ownChain(line[1+len(chainPrefix):]):
				del.Chains = append(del.Chains, strings.Fields(line[1:])[0])
			case len(f) > 0 && strings.HasPrefix(f[0], ":") && borrowed(f[0][1:]):
				kube[f[0][1:]] = true // iptables-save declares every chain before the rules
			case len(f) > 1 && f[0] == "-A":
				mine := names.MarkedRule(line, lab)
				target := ""
				if i := strings.Index(line, " -j "); i >= 0 && borrowed(strings.Fields(line[i+4:])[0]) {
					target = strings.Fields(line[i+4:])[0]
				}
				if borrowed(f[1]) {
					hasRules[f[1]] = true
					kube[f[1]] = kube[f[1]] && mine
				}
				if target != "" {
					if mine {
						jumpedByUs[target] = true
					} else {
						kube[target] = false
					}
				}
				if mine && !strings.HasPrefix(f[1], chainPrefix) {
					del.Rules = append(del.Rules, "-D"+line[2:])
				}
			}
		}
		// NetworkPolicy's chains the lab's store records: a policy's chain
		// may be empty (a default deny) and jumped to by no rule here.
		recorded := map[string]bool{}
		if table == "filter" {
			for _, c := range storePolicyChains(lab, v6) {
				recorded[c] = true
			}
		}
		var ks []string
		for chain, ok := range kube {
			if ok && (hasRules[chain] || jumpedByUs[chain] || recorded[chain]) {
				ks = append(ks, chain)
			}
		}
		sort.Strings(ks)
		del.Chains = append(del.Chains, ks...)
		if len(del.Rules)+len(del.Chains) > 0 {
			ops = append(ops, del)
		}
	}
	return ops
}

// policyRecord is what lab's Kubernetes store (kube.json) records of its
// NetworkPolicy rules: the chains ("node", "node ip6") and ipsets of each
// node, nil where it has none.
func policyRecord(lab string) (chains, sets map[string][]string) {
	data, err := state.LoadFile(lab, "kube.json")
	if err != nil {
		return nil, nil
	}
	var st struct {
		Chains map[string][]string `json:"policy_chains"`
		Sets   map[string][]string `json:"policy_sets"`
	}
	if json.Unmarshal(data, &st) != nil {
		return nil, nil
	}
	return st.Chains, st.Sets
}

// storePolicyChains are the NetworkPolicy chains lab's store records, of
// ip6tables with v6.
func storePolicyChains(lab string, v6 bool) []string {
	chains, _ := policyRecord(lab)
	var out []string
	for key, cs := range chains {
		if strings.HasSuffix(key, " ip6") == v6 {
			out = append(out, cs...)
		}
	}
	return out
}

// labIPSets are the ipsets of lab's NetworkPolicy rules in this
// namespace that exist: those the lab's rules name (in ipt, the ops that
// delete them), and those its Kubernetes store records (kube.json's
// policy_sets: a set made by a sync that died before its rules). None
// where ipset is not installed, where no set can be.
func labIPSets(lab string, ipt []netops.Op) []string {
	out, err := exec.Command("ipset", "list", "-n").Output()
	if err != nil {
		return nil
	}
	exists := map[string]bool{}
	for _, n := range strings.Fields(string(out)) {
		exists[n] = true
	}
	want := map[string]bool{}
	for _, op := range ipt {
		d, ok := op.(netops.IPTablesDel)
		if !ok {
			continue
		}
		for _, r := range d.Rules {
			f := strings.Fields(r)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "--match-set" {
					want[f[i+1]] = true
				}
			}
		}
	}
	_, recorded := policyRecord(lab)
	for _, names := range recorded {
		for _, n := range names {
			want[n] = true
		}
	}
	var sets []string
	for n := range want {
		if exists[n] && (strings.HasPrefix(n, "KUBE-SRC-") || strings.HasPrefix(n, "KUBE-DST-") || strings.HasPrefix(n, "inet6:KUBE-")) {
			sets = append(sets, n)
		}
	}
	sort.Strings(sets)
	return sets
}

// borrowed reports whether chain has a name netlab borrows from the
// program it plays: flannel's FLANNEL-*, kube-proxy's KUBE-*.
func borrowed(chain string) bool {
	return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, "FLANNEL-")
}

// ownChain reports whether the rest of a chain line after lab's prefix
// ("NETLAB-DOCKER-") names one of lab's chains: a suffix without '-'. The
// chains of a lab named docker-x ("NETLAB-DOCKER-X-DNAT") also start with
// docker's prefix, and are not docker's.
func ownChain(rest string) bool {
	name := strings.Fields(rest)
	return len(name) > 0 && name[0] != "" && !strings.Contains(name[0], "-")
}

// waitVeths waits (up to five seconds) until no veth marked as lab's is
// left in netlab's own namespace: the kernel deletes them as it tears down
// the workloads' namespaces, in the background.
func waitVeths(lab string) error {
	nl, err := netops.Netlink(netops.Host)
	if err != nil {
		return err
	}
	defer nl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		links, err := netops.Dump(nl.LinkList)
		if err != nil {
			return err
		}
		var left []string
		for _, l := range links {
			if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Alias, names.MarkerPrefix(lab)) {
				left = append(left, l.Attrs().Name)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("veths %v of lab %q are still here after their namespaces went", left, lab)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
