package topo

import (
	"fmt"
	"net/netip"
	"strconv"

	"netlab/internal/ipam"
)

// Dual-stack defaults: the underlay's IPv6 prefix (the Vagrant private
// network's 56, in a ULA prefix) and docker0's fixed-cidr-v6 (172.17's
// numbers, in one). The hosts' IPv6 addresses repeat their IPv4 host
// numbers: 192.168.56.11 is fd00:56::11, 192.168.56.1 fd00:56::1.
// The Kubernetes model's IPv6 cluster CIDR is kind's (fd00:10:244::/56),
// a /64 per node as kube-controller-manager gives them.
var (
	DefaultUnderlay6    = netip.MustParsePrefix("fd00:56::/64")
	DefaultSubnet6      = netip.MustParsePrefix("fd00:172:17::/64")
	DefaultClusterCIDR6 = netip.MustParsePrefix("fd00:10:244::/56")
)

// HostIP6 is the IPv6 address a host of IPv4 address ip gets on the
// underlay p6 when nothing names one: p6's network address plus ip's host
// number in the IPv4 underlay p, its decimal digits read as hexadecimal
// (11 is ::11), so that the two addresses read alike.
func HostIP6(p, p6 netip.Prefix, ip netip.Addr) (netip.Addr, error) {
	host := ipam.HostNumber(p, ip)
	digits, _ := strconv.ParseUint(strconv.FormatUint(host, 10), 16, 64) // decimal digits are hex digits
	a, err := ipam.Nth(p6, digits)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host %s has no room in %s", ip, p6)
	}
	return a, nil
}

// resolveIPv6 makes the lab dual-stack when the file or --ipv6 says so:
// the underlay's prefix and every host's address on it, and the model's
// IPv6 subnet, each checked; what netlab builds only for IPv4 is refused
// with the reason.
func resolveIPv6(t *Topology, f File, o Options, where func(string) string) error {
	if f.IPv6 != nil {
		t.IPv6 = *f.IPv6
	}
	if o.IPv6 != nil {
		t.IPv6 = *o.IPv6
	}
	what := "--ipv6"
	if o.IPv6 == nil {
		what = where("ipv6")
	}
	var cluster6 string
	if f.Overlay != nil {
		cluster6 = f.Overlay.ClusterCIDRv6
	}
	if !t.IPv6 {
		switch {
		case cluster6 != "":
			return Inputf("%s: an IPv6 cluster CIDR is for a dual-stack lab: add ipv6: true (or --ipv6)", where("overlay.cluster_cidr_v6"))
		case f.Underlay6 != "":
			return Inputf("%s: an IPv6 underlay is for a dual-stack lab: add ipv6: true (or --ipv6)", where("underlay6"))
		case t.Docker.Subnet6.IsValid():
			return Inputf("%s: an IPv6 subnet is for a dual-stack lab: add ipv6: true (or --ipv6)", where("docker.fixed_cidr_v6"))
		}
		for i, n := range f.Nodes {
			if n.IP6 != "" {
				return Inputf("%s: an IPv6 address is for a dual-stack lab: add ipv6: true (or --ipv6)", where(fmt.Sprintf("nodes[%d].ip6", i)))
			}
		}
		return nil
	}
	switch {
	case t.Mode == OverlayMode:
	case !t.Docker.Is28():
		return Inputf("%s: Docker %s's IPv6 layout was not recorded: dual-stack is Docker 28's (--docker-version 28)", what, t.Docker.Release())
	case t.Docker.UserNetworks():
		return Inputf("%s: user-defined networks are IPv4-only in this netlab so far (Docker's IPv6 networks were not recorded): leave out networks and --network", what)
	}
	t.Underlay6 = DefaultUnderlay6
	if f.Underlay6 != "" {
		p, err := netip.ParsePrefix(f.Underlay6)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 120 {
			return Inputf("%s: %s is not an IPv6 prefix such as fd00:56::/64", where("underlay6"), quote(f.Underlay6))
		}
		t.Underlay6 = p.Masked()
	}
	if t.Mode == DockerMode {
		if !t.Docker.Subnet6.IsValid() {
			t.Docker.Subnet6 = DefaultSubnet6
		}
		if t.Docker.Subnet6.Overlaps(t.Underlay6) {
			return Inputf("%s: %s overlaps the IPv6 underlay %s", where("docker.fixed_cidr_v6"), t.Docker.Subnet6, t.Underlay6)
		}
	} else if t.Docker.Subnet6.IsValid() {
		return Inputf("%s: docker's IPv6 subnet is docker-mode's", where("docker.fixed_cidr_v6"))
	}
	seen := map[netip.Addr]string{}
	if t.Outside != nil {
		a, err := HostIP6(t.Underlay, t.Underlay6, t.Outside.IP)
		if err != nil {
			return Inputf("%s: %v", where("underlay6"), err)
		}
		t.Outside.IP6 = a
		seen[a] = "outside"
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if n.IP6.IsValid() {
			if !t.Underlay6.Contains(n.IP6) || n.IP6 == t.Underlay6.Masked().Addr() {
				return Inputf("%s: %s is not a host address in the IPv6 underlay %s", where(fmt.Sprintf("nodes[%d].ip6", i)), n.IP6, t.Underlay6)
			}
		} else {
			a, err := HostIP6(t.Underlay, t.Underlay6, n.IP)
			if err != nil {
				return Inputf("%s: %v: give nodes[%d].ip6", where("underlay6"), err, i)
			}
			n.IP6 = a
		}
		if other, ok := seen[n.IP6]; ok {
			return Inputf("%s: %s is already %s's address", where(fmt.Sprintf("nodes[%d].ip6", i)), n.IP6, other)
		}
		seen[n.IP6] = n.Name
	}
	if t.Mode == OverlayMode {
		if err := resolveCluster6(t, cluster6, where); err != nil {
			return err
		}
	}
	if host := 128 - t.Docker.Subnet6.Bits(); t.Mode == DockerMode && host < 16 {
		for i, n := range t.Nodes {
			if room := 1<<host - 2; n.Workloads > room {
				return Inputf("%s: %d containers do not fit %s (room for %d)", where(fmt.Sprintf("nodes[%d].containers", i)), n.Workloads, t.Docker.Subnet6, room)
			}
		}
	}
	return nil
}

// resolveCluster6 gives each node of the Kubernetes model its IPv6 pod
// CIDR: the (i+1)-th /64 of the IPv6 cluster CIDR (given, or kind's), as
// the IPv4 ones are the (i+1)-th /24.
func resolveCluster6(t *Topology, given string, where func(string) string) error {
	o := &t.Overlay
	o.ClusterCIDR6, o.SubnetLen6 = DefaultClusterCIDR6, 64
	if given != "" {
		p, err := netip.ParsePrefix(given)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 63 {
			return Inputf("%s: %s is not an IPv6 prefix of /63 or larger, such as fd00:10:244::/56", where("overlay.cluster_cidr_v6"), quote(given))
		}
		o.ClusterCIDR6 = p.Masked()
	}
	if o.ClusterCIDR6.Overlaps(t.Underlay6) {
		return Inputf("%s: %s overlaps the IPv6 underlay %s", where("overlay.cluster_cidr_v6"), o.ClusterCIDR6, t.Underlay6)
	}
	if room := o.SubnetLen6 - o.ClusterCIDR6.Bits(); room < 63 && len(t.Nodes) >= 1<<room {
		return Inputf("%s: %s has room for %d /64s, not %d nodes", where("overlay.cluster_cidr_v6"), o.ClusterCIDR6, 1<<room-1, len(t.Nodes))
	}
	for i := range t.Nodes {
		v := o.ClusterCIDR6.Addr().As16()
		// The /64 number i+1 sits in bytes 0-7, below the cluster's bits.
		n := uint64(i + 1)
		for b := 7; b >= 0 && n > 0; b-- {
			v[b] |= byte(n)
			n >>= 8
		}
		t.Nodes[i].PodCIDR6 = netip.PrefixFrom(netip.AddrFrom16(v), o.SubnetLen6)
	}
	return nil
}
