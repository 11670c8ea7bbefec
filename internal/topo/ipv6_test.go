package topo

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIPv6(t *testing.T) {
	on := true
	o := opts()
	o.IPv6 = &on
	top, err := Resolve(o)
	require.NoError(t, err)
	assert.True(t, top.IPv6)
	assert.Equal(t, "fd00:56::/64", top.Underlay6.String())
	assert.Equal(t, "fd00:172:17::/64", top.Docker.Subnet6.String(), "Docker's fixed-cidr-v6, 172.17's numbers in a ULA prefix")
	assert.Equal(t, "fd00:172:17::1", top.Docker.Gateway6().String())
	assert.Equal(t, "fd00:56::1", top.Outside.IP6.String(), "192.168.56.1 is fd00:56::1")
	assert.Equal(t, "fd00:56::11", top.Nodes[0].IP6.String(), "192.168.56.11 is fd00:56::11")
	assert.Equal(t, "fd00:56::12", top.Nodes[1].IP6.String())

	o = opts()
	o.Mode, o.WorkloadsF, o.IPv6 = OverlayMode, "--pods", &on
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, "fd00:10:244::/56", top.Overlay.ClusterCIDR6.String(), "kind's IPv6 pod subnet")
	assert.Equal(t, "fd00:10:244:1::/64", top.Nodes[0].PodCIDR6.String(), "node1's /64, as 10.244.1.0/24")
	assert.Equal(t, "fd00:10:244:2::/64", top.Nodes[1].PodCIDR6.String())
	assert.Equal(t, "fd00:10:244:1::1", top.Nodes[0].Gateway6().String(), "cni0's")
	assert.Equal(t, "fd00:10:244:1::", top.Nodes[0].VTEP6().String(), "flannel-v6.1's, the network address")
	assert.Equal(t, 1430, top.MTU(), "a pod's one MTU fits VXLAN over the IPv6 underlay: 1500 - 70")
	assert.Equal(t, 1450, top.MTU4())
	assert.False(t, top.Docker.Subnet6.IsValid(), "no docker0 in the Kubernetes model")
	hostGW := HostGW
	o.Backend = &hostGW
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, 1500, top.MTU(), "host-gw adds nothing, in either family")

	top, err = Resolve(opts())
	require.NoError(t, err)
	assert.False(t, top.IPv6, "IPv4 only unless asked")
	assert.False(t, top.Docker.Gateway6().IsValid())
	assert.False(t, top.Nodes[0].IP6.IsValid())

	p := filepath.Join(t.TempDir(), "topo.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`
ipv6: true
underlay6: fd12:3456::/64
docker: {fixed_cidr_v6: "2001:db8:1::/64"}
nodes: [{name: node1, ip: 192.168.56.11}, {name: node2, ip: 192.168.56.12, ip6: "fd12:3456::abc"}]
`), 0o644))
	o = opts()
	o.File = p
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, "2001:db8:1::1", top.Docker.Gateway6().String())
	assert.Equal(t, "fd12:3456::11", top.Nodes[0].IP6.String())
	assert.Equal(t, "fd12:3456::abc", top.Nodes[1].IP6.String())
	off := false
	o.IPv6 = &off
	_, err = Resolve(o)
	assert.ErrorContains(t, err, "underlay6: an IPv6 underlay is for a dual-stack lab", "--ipv6=false and a file's IPv6 fields")
}

func TestHostIP6(t *testing.T) {
	p, p6 := netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/64")
	for ip, want := range map[string]string{"10.1.0.11": "fd00:1::11", "10.1.1.4": "fd00:1::260", "10.1.39.16": "fd00:1::1:0"} {
		got, err := HostIP6(p, p6, netip.MustParseAddr(ip))
		require.NoError(t, err)
		assert.Equal(t, want, got.String(), ip)
	}
	_, err := HostIP6(p, netip.MustParsePrefix("fd00:1::/120"), netip.MustParseAddr("10.1.1.4"))
	assert.ErrorContains(t, err, "no room in fd00:1::/120")
}

func TestIPv6Reject(t *testing.T) {
	on := func(o *Options) { v := true; o.IPv6 = &v }
	checkRejects(t, []rejectCase{
		{"subnet without ipv6", "docker: {fixed_cidr_v6: 'fd00:1::/64'}", nil, "docker.fixed_cidr_v6: an IPv6 subnet is for a dual-stack lab: add ipv6: true (or --ipv6)"},
		{"ip6 without ipv6", "nodes: [{name: node1, ip: 192.168.56.11, ip6: 'fd00:56::11'}]", nil, "nodes[0].ip6: an IPv6 address is for a dual-stack lab"},
		{"bad subnet6", "ipv6: true\ndocker: {fixed_cidr_v6: 10.0.0.0/8}", nil, `docker.fixed_cidr_v6: "10.0.0.0/8" is not an IPv6 prefix`},
		{"mapped subnet6", "ipv6: true\ndocker: {fixed_cidr_v6: '::ffff:10.0.0.0/104'}", nil, "is not an IPv6 prefix"},
		{"bad underlay6", "ipv6: true\nunderlay6: banana", nil, `underlay6: "banana" is not an IPv6 prefix`},
		{"overlap", "ipv6: true\nunderlay6: 'fd00:172::/32'", nil, "docker.fixed_cidr_v6: fd00:172:17::/64 overlaps the IPv6 underlay fd00:172::/32"},
		{"bad ip6", "ipv6: true\nnodes: [{name: node1, ip: 192.168.56.11, ip6: 192.168.56.11}]", nil, `nodes[0].ip6: "192.168.56.11" is not an IPv6 address`},
		{"zone", "ipv6: true\nnodes: [{name: node1, ip: 192.168.56.11, ip6: 'fe80::1%eth1'}]", nil, "is not an IPv6 address"},
		{"ip6 elsewhere", "ipv6: true\nnodes: [{name: node1, ip: 192.168.56.11, ip6: 'fd99::1'}]", nil, "nodes[0].ip6: fd99::1 is not a host address in the IPv6 underlay fd00:56::/64"},
		{"ip6 twice", "ipv6: true\nnodes: [{name: node1, ip: 192.168.56.11, ip6: 'fd00:56::1'}]", nil, "nodes[0].ip6: fd00:56::1 is already outside's address"},
		{"small subnet6", "ipv6: true\ndocker: {fixed_cidr_v6: 'fd00:1::/120'}\nnodes: [{name: node1, ip: 192.168.56.11, containers: 300}]", nil, "nodes[0].containers: 300 containers do not fit fd00:1::/120 (room for 254)"},
		{"20.10", "", func(o *Options) { on(o); v := Docker2010; o.DockerVersion = &v }, "--ipv6: Docker 20.10's IPv6 layout was not recorded"},
		{"networks", "networks: [{name: a}]", on, "--ipv6: user-defined networks are IPv4-only in this netlab so far"},
		{"file says", "ipv6: true\nnetworks: [{name: a}]", nil, "ipv6: user-defined networks are IPv4-only"},
		{"cluster6 without ipv6", "overlay: {cluster_cidr_v6: 'fd00:10:244::/56'}", nil, "overlay.cluster_cidr_v6: an IPv6 cluster CIDR is for a dual-stack lab"},
		{"docker's subnet6 in overlay", "ipv6: true\ndocker: {fixed_cidr_v6: 'fd00:1::/64'}", func(o *Options) { o.Mode = OverlayMode; o.WorkloadsF = "--pods" }, "docker.fixed_cidr_v6: docker's IPv6 subnet is docker-mode's"},
		{"bad cluster6", "ipv6: true\noverlay: {cluster_cidr_v6: 'fd00:10:244::/64'}", func(o *Options) { o.Mode = OverlayMode; o.WorkloadsF = "--pods" }, `overlay.cluster_cidr_v6: "fd00:10:244::/64" is not an IPv6 prefix of /63 or larger`},
		{"cluster6 on the underlay", "ipv6: true\noverlay: {cluster_cidr_v6: 'fd00::/16'}", func(o *Options) { o.Mode = OverlayMode; o.WorkloadsF = "--pods" }, "overlay.cluster_cidr_v6: fd00::/16 overlaps the IPv6 underlay fd00:56::/64"},
		{"cluster6 too small", "ipv6: true\noverlay: {cluster_cidr_v6: 'fd00:10:244::/63'}", func(o *Options) { o.Mode = OverlayMode; o.WorkloadsF = "--pods" }, "fd00:10:244::/63 has room for 1 /64s, not 2 nodes"},
	})
}
