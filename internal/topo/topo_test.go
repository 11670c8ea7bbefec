package topo

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func opts() Options {
	return Options{Lab: "docker", Mode: "docker", Nodes: 2, Workloads: 2, WorkloadsF: "--containers"}
}

func TestResolveDefaults(t *testing.T) {
	top, err := Resolve(opts())
	require.NoError(t, err)
	require.Len(t, top.Nodes, 2)
	assert.Equal(t, "node1", top.Nodes[0].Name)
	assert.Equal(t, "192.168.56.11", top.Nodes[0].IP.String())
	assert.Equal(t, "192.168.56.12", top.Nodes[1].IP.String())
	assert.Equal(t, "docker-node2", string(top.Nodes[1].NS))
	assert.Equal(t, "192.168.56.1", top.Outside.IP.String())
	assert.Equal(t, "172.17.0.1", top.Docker.Gateway().String())
	assert.Equal(t, 8080, top.Docker.PublishPort)
}

func TestResolveRejects(t *testing.T) {
	file := func(text string) string {
		p := filepath.Join(t.TempDir(), "topo.yaml")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no nodes", func(o *Options) { o.Nodes = 0 }, "--nodes 0: must be from 1 to 16"},
		{"too many nodes", func(o *Options) { o.Nodes = 17 }, "--nodes 17"},
		{"no containers", func(o *Options) { o.Workloads = 0 }, "--containers 0: must be from 1 to 1023"},
		{"more containers than a bridge has ports", func(o *Options) { o.Workloads = 1024 }, "--containers 1024"},
		{"bad lab", func(o *Options) { o.Lab = "Bad Lab" }, `--lab "Bad Lab"`},
		{"file and flags", func(o *Options) { o.File = file("nodes: []"); o.NodesSet = true }, "--topology: give node and --containers counts in the file"},
		{"missing file", func(o *Options) { o.File = "/nonexistent/topo.yaml" }, "no such file"},
		{"not yaml", func(o *Options) { o.File = file("nodes: [") }, "not YAML or JSON"},
		{"unknown field", func(o *Options) { o.File = file("nodez: []") }, `unknown field "nodez"`},
		{"bad node ip", func(o *Options) { o.File = file("nodes: [{name: node1, ip: 1.2.3}]") }, `nodes[0].ip: "1.2.3" is not an IPv4 address`},
		{"node ip off the underlay", func(o *Options) { o.File = file("nodes: [{name: node1, ip: 10.0.0.1}]") }, "nodes[0].ip: 10.0.0.1 is not a host address in the underlay"},
		{"duplicate name", func(o *Options) {
			o.File = file("nodes: [{name: a, ip: 192.168.56.11}, {name: a, ip: 192.168.56.12}]")
		}, `nodes[1].name: "a" is already nodes[0]'s name`},
		{"duplicate ip", func(o *Options) {
			o.File = file("nodes: [{name: a, ip: 192.168.56.11}, {name: b, ip: 192.168.56.11}]")
		}, "nodes[1].ip: 192.168.56.11 is already a's address"},
		{"node is outside", func(o *Options) { o.File = file("nodes: [{name: a, ip: 192.168.56.1}]") }, "already outside's address"},
		{"reserved name", func(o *Options) { o.File = file("nodes: [{name: outside, ip: 192.168.56.11}]") }, `"outside" is already the outside host's name`},
		{"long node name", func(o *Options) { o.File = file("nodes: [{name: averylongname, ip: 192.168.56.11}]") }, "nodes[0].name"},
		{"bad containers", func(o *Options) { o.File = file("nodes: [{name: a, ip: 192.168.56.11, containers: 0}]") }, "nodes[0].containers: 0 must be from 1"},
		{"bad subnet", func(o *Options) { o.File = file("docker: {subnet: 172.17.0.0/31}") }, "docker.subnet"},
		{"subnet on underlay", func(o *Options) { o.File = file("docker: {subnet: 192.168.0.0/16}") }, "overlaps the underlay"},
		{"long bridge", func(o *Options) { o.File = file("docker: {bridge: a-very-long-bridge}") }, "docker.bridge"},
		{"bad port", func(o *Options) { o.File = file("docker: {publish: 70000}") }, "docker.publish: 70000 is not a TCP port"},
		{"more than a lab's total", func(o *Options) { o.Nodes, o.Workloads = 5, 1000 }, "5000 containers in all: a lab has at most 4096"},
		{"unknown backend in a file", func(o *Options) { o.File = file("overlay: {backend: udp}") }, `overlay.backend: "udp" is not a backend netlab builds: vxlan or host-gw`},
		{"unknown --backend", func(o *Options) { b := "ipip"; o.Backend = &b }, `--backend "ipip": flannel's backends netlab builds are vxlan and host-gw`},
		{"empty file", func(o *Options) { o.File = file("") }, "the file is empty"},
		{"only comments", func(o *Options) { o.File = file("# nothing\n") }, "the file is empty"},
		{"empty mapping", func(o *Options) { o.File = file("{}") }, "the file is empty"},
		{"a list, not a mapping", func(o *Options) { o.File = file("- a\n- b\n") }, "must be a mapping of fields"},
		{"nodes: []", func(o *Options) { o.File = file("nodes: []") }, "nodes: the list is empty"},
		{"nodes: null", func(o *Options) { o.File = file("nodes: null") }, "nodes has no value"},
		{"nodes:", func(o *Options) { o.File = file("nodes:\n") }, "nodes has no value"},
		{"a null deep inside", func(o *Options) { o.File = file("nodes: [{name: a, ip: null}]") }, "nodes[0].ip has no value"},
		{"duplicate keys", func(o *Options) { o.File = file("underlay: 10.1.0.0/24\nunderlay: 10.2.0.0/24\n") }, `"underlay" already set`},
		{"JSON with trailing garbage", func(o *Options) { o.File = file(`{"underlay": "10.1.0.0/24"} xyz`) }, "more after the JSON document"},
		{"two YAML documents", func(o *Options) { o.File = file("underlay: 10.1.0.0/24\n---\nunderlay: 10.2.0.0/24\n") }, "several YAML documents"},
		{"vni 0", func(o *Options) { o.File = file("overlay: {vni: 0}") }, "overlay.vni: 0 is not a VXLAN network identifier"},
		{"port 0", func(o *Options) { o.File = file("overlay: {port: 0}") }, "overlay.port: 0 is not a UDP port"},
		{"underlay_mtu 0", func(o *Options) { o.File = file("underlay_mtu: 0") }, "underlay_mtu: 0 must be from 1280"},
		{"subnet_len 0", func(o *Options) { o.File = file("overlay: {subnet_len: 0}") }, "overlay.subnet_len: 0 must be longer"},
		{"node on the broadcast address", func(o *Options) { o.File = file("nodes: [{name: a, ip: 192.168.56.255}]") }, "not its network or broadcast address"},
		{"node on the network address", func(o *Options) { o.File = file("nodes: [{name: a, ip: 192.168.56.0}]") }, "not its network or broadcast address"},
		{"outside on the broadcast address", func(o *Options) { o.File = file("outside: 192.168.56.255") }, "outside: 192.168.56.255 is not a host address"},
		{"node named like a container", func(o *Options) { o.File = file("nodes: [{name: c1, ip: 192.168.56.11}]") }, `nodes[0].name: "c1" is how netlab names a container or pod`},
		{"node named like a pod", func(o *Options) { o.File = file("nodes: [{name: pod12, ip: 192.168.56.11}]") }, `"pod12" is how netlab names`},
		{"bridge lo", func(o *Options) { o.File = file("docker: {bridge: lo}") }, `docker.bridge: "lo" is the loopback interface`},
		{"bridge on the underlay interface", func(o *Options) { o.File = file("docker: {bridge: eth1}") }, `"eth1" is the nodes' underlay interface`},
		{"bridge named like a veth", func(o *Options) { o.File = file("docker: {bridge: veth-c1}") }, "host ends of workloads' veth pairs"},
		{"a huge value is cut", func(o *Options) { o.File = file("underlay: " + strings.Repeat("x", 100000)) }, `... (100000 bytes) is not an IPv4 prefix`},
		{"too small subnet", func(o *Options) {
			o.File = file("docker: {subnet: 10.1.0.0/30}\nnodes: [{name: a, ip: 192.168.56.11, containers: 5}]")
		}, "5 containers do not fit 10.1.0.0/30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			tc.mod(&o)
			_, err := Resolve(o)
			require.Error(t, err)
			assert.True(t, IsInput(err), "bad input is an InputError (exit 2): %v", err)
			assert.Contains(t, err.Error(), tc.want)
			if o.File != "" && !strings.Contains(tc.want, "--topology") && !strings.Contains(tc.want, "no such file") {
				assert.Contains(t, err.Error(), o.File, "the message names the file")
			}
		})
	}
}

func TestExampleTopology(t *testing.T) {
	o := opts()
	o.File = "../../examples/docker-uneven.yaml"
	top, err := Resolve(o)
	require.NoError(t, err)
	require.Len(t, top.Nodes, 2)
	assert.Equal(t, 2, top.Nodes[0].Workloads)
	assert.Equal(t, 3, top.Nodes[1].Workloads)
}

func TestResolveOverlayRejects(t *testing.T) {
	file := func(text string) string {
		p := filepath.Join(t.TempDir(), "topo.yaml")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	for _, tc := range []struct{ text, want string }{
		{"nodes: [{name: a, ip: 192.168.56.11, pod_cidr: 10.0.0.0/24}]", "nodes[0].pod_cidr: 10.0.0.0/24 is not inside the cluster CIDR 10.244.0.0/16"},
		{"nodes: [{name: a, ip: 192.168.56.11, pod_cidr: banana}]", `nodes[0].pod_cidr: "banana" is not an IPv4 prefix`},
		{"nodes: [{name: a, ip: 192.168.56.11, pod_cidr: 10.244.1.0/24}, {name: b, ip: 192.168.56.12, pod_cidr: 10.244.1.128/25}]", "nodes[1].pod_cidr: 10.244.1.128/25 overlaps nodes[0]'s 10.244.1.0/24"},
		{"nodes: [{name: a, ip: 192.168.56.11, pods: 300}]", "nodes[0].pods: 300 pods do not fit 10.244.1.0/24"},
		{"overlay: {subnet_len: 8}", "overlay.subnet_len: 8 must be longer than the cluster CIDR's /16"},
		{"overlay: {vni: 16777216}", "overlay.vni: 16777216 is not a VXLAN network identifier"},
		{"overlay: {port: 70000}", "overlay.port: 70000 is not a UDP port"},
		{"overlay: {cluster_cidr: 192.168.0.0/16}", "overlay.cluster_cidr: 192.168.0.0/16 overlaps the underlay"},
		{"overlay: {tx_checksum: maybe}", `overlay.tx_checksum: "maybe" must be auto, on or off`},
		{"underlay_mtu: 100", "underlay_mtu: 100 must be from 1280 to 9000"},
		{"iface: this-name-is-too-long", "iface: interface name"},
	} {
		p := file(tc.text)
		_, err := Resolve(Options{Lab: "overlay", Mode: "overlay", Nodes: 2, Workloads: 2, WorkloadsF: "--pods", File: p})
		require.Error(t, err, tc.text)
		assert.True(t, IsInput(err))
		assert.Contains(t, err.Error(), tc.want, tc.text)
		assert.Contains(t, err.Error(), p, "the message names the file")
	}
	// YAML's on/off are booleans; the field takes them as words.
	top, err := Resolve(Options{Lab: "overlay", Mode: "overlay", Nodes: 2, Workloads: 2, WorkloadsF: "--pods", File: file("overlay: {tx_checksum: off}")})
	require.NoError(t, err)
	assert.Equal(t, "off", top.Overlay.TxChecksum)
	assert.NotEmpty(t, top.ChecksumFix)
}

func TestCollides(t *testing.T) {
	p := netip.MustParsePrefix
	for _, c := range []struct {
		dst, mine string
		want      bool
	}{
		{"0.0.0.0/0", "10.244.0.0/16", false},    // a VM's default route
		{"0.0.0.0/0", "172.17.0.0/16", false},    // the same, for docker-mode
		{"10.0.0.0/8", "10.244.0.0/16", false},   // a wider route that merely contains the range
		{"10.0.2.0/24", "10.244.0.0/16", false},  // Vagrant's NAT network, beside it
		{"10.244.0.0/16", "10.244.0.0/16", true}, // the same range: someone has it
		{"10.244.3.0/24", "10.244.0.0/16", true}, // a route inside it
		{"172.17.0.0/16", "172.17.0.0/16", true}, // Docker's docker0
		{"172.17.5.0/24", "172.17.0.0/16", true},
		{"192.168.56.0/24", "172.17.0.0/16", false},
	} {
		assert.Equal(t, c.want, Collides(p(c.dst), p(c.mine)), "%s vs %s", c.dst, c.mine)
	}
}

// TestLoadFileAccepts: the strict reader still takes what people write: a
// document marker, comments, JSON, flow style, on/off.
func TestLoadFileAccepts(t *testing.T) {
	for name, text := range map[string]string{
		"marker and comments": "# a class of three\n---\nnodes:\n  - {name: node1, ip: 192.168.56.11}\n...\n",
		"json":                `{"underlay": "10.1.0.0/24", "outside": "10.1.0.1", "overlay": {"vni": 7}}`,
		"flow style":          "{underlay: 10.1.0.0/24, outside: 10.1.0.1}",
		"on/off":              "overlay: {tx_checksum: off}",
	} {
		p := filepath.Join(t.TempDir(), "topo")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		o := opts()
		o.File = p
		_, err := Resolve(o)
		assert.NoError(t, err, name)
	}
}

// TestUserlandProxySetting: Docker's default is on; a topology file turns it
// off; --userland-proxy wins over the file.
func TestUserlandProxySetting(t *testing.T) {
	top, err := Resolve(opts())
	require.NoError(t, err)
	assert.True(t, top.Docker.UserlandProxy, "Docker's default")
	p := filepath.Join(t.TempDir(), "topo.yaml")
	require.NoError(t, os.WriteFile(p, []byte("docker: {userland_proxy: false}\n"), 0o644))
	o := opts()
	o.File = p
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.False(t, top.Docker.UserlandProxy)
	on := true
	o.UserlandProxy = &on
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.True(t, top.Docker.UserlandProxy, "the flag wins")
}

// TestDockerVersionSetting: Docker 28 by default; a topology file's
// docker.version (a string, or the number YAML reads, 20.10 as 20.1) and
// allow_direct_routing; the flags win; bad values are refused with the
// field or flag named.
func TestDockerVersionSetting(t *testing.T) {
	top, err := Resolve(opts())
	require.NoError(t, err)
	assert.Equal(t, Docker28, top.Docker.Version, "today's Docker by default")
	assert.True(t, top.Docker.Is28())
	assert.False(t, top.Docker.AllowDirectRouting)
	file := func(text string) Options {
		p := filepath.Join(t.TempDir(), "topo.yaml")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		o := opts()
		o.File = p
		return o
	}
	for text, want := range map[string]string{
		"docker: {version: 20.10}\n":     Docker2010,
		"docker: {version: \"20.10\"}\n": Docker2010,
		"docker: {version: 28}\n":        Docker28,
		"docker:\n  version: '28'\n":     Docker28,
	} {
		top, err := Resolve(file(text))
		require.NoError(t, err, text)
		assert.Equal(t, want, top.Docker.Version, text)
	}
	top, err = Resolve(file("docker: {allow_direct_routing: true}\n"))
	require.NoError(t, err)
	assert.True(t, top.Docker.AllowDirectRouting)

	o := file("docker: {version: 20.10}\n")
	v := Docker28
	o.DockerVersion = &v
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, Docker28, top.Docker.Version, "the flag wins")

	for text, msg := range map[string]string{
		"docker: {version: 27}\n":                                `docker.version: "27": netlab builds Docker 28 or 20.10`,
		"docker: {version: [28]}\n":                              `give a version, such as 28 or "20.10"`,
		"docker: {version: 20.10, allow_direct_routing: true}\n": "docker.allow_direct_routing: Docker 20.10 has no such option",
	} {
		_, err := Resolve(file(text))
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), msg, text)
	}
	bad := "19.03"
	o = opts()
	o.DockerVersion = &bad
	_, err = Resolve(o)
	assert.ErrorContains(t, err, `--docker-version "19.03": netlab builds Docker 28 or 20.10`)
	var ie *InputError
	assert.ErrorAs(t, err, &ie)
}

// TestReadmeTopology: the topology file the README shows is one netlab
// takes, in both modes.
func TestReadmeTopology(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := string(readme)
	a := strings.Index(text, "```yaml\n")
	require.GreaterOrEqual(t, a, 0, "the README shows a topology file")
	b := strings.Index(text[a+8:], "```")
	p := filepath.Join(t.TempDir(), "readme.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text[a+8:a+8+b]), 0o644))
	for _, mode := range []string{"docker", "overlay"} {
		o := opts()
		o.Mode, o.File = mode, p
		top, err := Resolve(o)
		require.NoError(t, err, mode)
		assert.Len(t, top.Nodes, 2)
	}
}

// TestBackend: vxlan is the default; host-gw from a file or --backend, with
// the underlay's whole MTU.
func TestBackend(t *testing.T) {
	o := opts()
	o.Mode = "overlay"
	top, err := Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, VXLAN, top.Overlay.Backend)
	assert.Equal(t, 1450, top.MTU())
	p := filepath.Join(t.TempDir(), "topo.yaml")
	require.NoError(t, os.WriteFile(p, []byte("overlay: {backend: host-gw}\nunderlay_mtu: 9000\n"), 0o644))
	o.File = p
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, HostGW, top.Overlay.Backend)
	assert.Equal(t, 9000, top.MTU(), "host-gw adds nothing")
	b := VXLAN
	o.Backend = &b
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, VXLAN, top.Overlay.Backend, "the flag wins")
}

// TestProxyMode: kube-proxy's iptables mode is the default; nftables from
// a file or --proxy-mode, the flag winning; anything else is refused,
// naming the flag or the field; a lab of an older netlab (no proxy_mode
// in its state) is in iptables mode.
func TestProxyMode(t *testing.T) {
	o := opts()
	o.Mode = "overlay"
	top, err := Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, ProxyIPTables, top.Overlay.Proxy())
	p := filepath.Join(t.TempDir(), "topo.yaml")
	require.NoError(t, os.WriteFile(p, []byte("overlay: {proxy_mode: nftables}\n"), 0o644))
	o.File = p
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, ProxyNFTables, top.Overlay.Proxy())
	m := ProxyIPTables
	o.ProxyMode = &m
	top, err = Resolve(o)
	require.NoError(t, err)
	assert.Equal(t, ProxyIPTables, top.Overlay.Proxy(), "the flag wins")

	bad := "ipvs"
	o.ProxyMode = &bad
	_, err = Resolve(o)
	require.Error(t, err)
	assert.Equal(t, `--proxy-mode "ipvs": kube-proxy's modes netlab builds are iptables and nftables`, err.Error())
	o.ProxyMode = nil
	require.NoError(t, os.WriteFile(p, []byte("overlay: {proxy_mode: userspace}\n"), 0o644))
	_, err = Resolve(o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `overlay.proxy_mode: "userspace" is not a kube-proxy mode netlab builds: iptables or nftables`)
	var inErr *InputError
	assert.ErrorAs(t, err, &inErr)

	assert.Equal(t, ProxyIPTables, Overlay{}.Proxy(), "no mode written: iptables")
}
