package netops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{NetnsAdd{Name: "docker-c1", Marker: "netlab:docker:c1"},
			"ip netns add docker-c1\nip -n docker-c1 link set lo up alias netlab:docker:c1"},
		{Sysctl{NS: "docker-node1", Settings: []KV{{Key: "net.ipv4.ip_forward", Value: "1"}}},
			"ip netns exec docker-node1 sysctl -qw net.ipv4.ip_forward=1"},
		{Sysctl{NS: Host, Settings: []KV{{Key: "net.ipv4.ip_forward", Value: "1"}}},
			"sysctl -qw net.ipv4.ip_forward=1"},
		{Sysctl{NS: "c1", Settings: []KV{{Key: "net.ipv4.ping_group_range", Value: "0 2147483647"},
			{Key: "net.bridge.bridge-nf-call-iptables", Value: "1", Optional: true}}},
			"ip netns exec c1 sysctl -qw 'net.ipv4.ping_group_range=0 2147483647'\nip netns exec c1 sysctl -qew net.bridge.bridge-nf-call-iptables=1"},
		{BridgeAdd{NS: Host, Name: "docker0", Alias: "netlab:docker:docker0"},
			"ip link add docker0 type bridge\nip link set docker0 alias netlab:docker:docker0\nip link set docker0 up"},
		{VethAdd{NS: "n1", Name: "veth-c1", Master: "docker0", Alias: "a", PeerNS: "c1", PeerName: "eth0"},
			"ip -n n1 link add veth-c1 master docker0 up type veth peer name eth0 netns c1\nip -n n1 link set veth-c1 alias a\nip -n c1 link set eth0 up"},
		{VethAdd{NS: Host, Name: "veth-p1", MTU: 1450, PeerNS: "p1", PeerName: "eth0"},
			"ip link add veth-p1 mtu 1450 up type veth peer name eth0 mtu 1450 netns p1\nip -n p1 link set eth0 up"},
		{AddrAdd{NS: "c1", Dev: "eth0", CIDR: "172.17.0.2/16"}, "ip -n c1 addr add 172.17.0.2/16 dev eth0"},
		{RouteAdd{NS: "c1", Dst: "default", Via: "172.17.0.1"}, "ip -n c1 route add default via 172.17.0.1"},
		{RouteAdd{NS: Host, Dst: "10.244.2.0/24", Via: "10.244.2.0", Dev: "flannel.1", Onlink: true},
			"ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"},
		{LinkSet{NS: "n1", Name: "veth-c1", MTU: 1500, NoMaster: true, Hairpin: new(false), Down: true},
			"ip -n n1 link set veth-c1 mtu 1500\nip -n n1 link set veth-c1 nomaster\nip -n n1 link set veth-c1 type bridge_slave hairpin off\nip -n n1 link set veth-c1 down"},
		{ConntrackDel{NS: "n1", Proto: "udp", OrigDst: "10.96.0.10", ReplySrc: "10.244.2.5"},
			"ip netns exec n1 conntrack -D -p udp --orig-dst 10.96.0.10 --reply-src 10.244.2.5 || true"},
		{FdbDel{NS: "n1", MAC: "0e:6c:c0:a8:38:0c", Dev: "flannel.1", Dst: "192.168.56.12"},
			"bridge -n n1 fdb del 0e:6c:c0:a8:38:0c dev flannel.1 dst 192.168.56.12 self"},
	} {
		assert.Equal(t, tc.want, strings.Join(tc.op.Commands(), "\n"), "%T", tc.op)
	}
}

func TestIPTablesRendering(t *testing.T) {
	o := IPTables{NS: "n1", Marker: "netlab:docker",
		Chains: []Chain{{"filter", "NETLAB-DOCKER-FWD"}, {"nat", "NETLAB-DOCKER-SNAT"}},
		Rules: []Rule{
			{Table: "filter", Chain: "FORWARD", Insert: true, Spec: []string{"-j", "NETLAB-DOCKER-FWD"}, Why: "forwarding"},
			{Table: "nat", Chain: "NETLAB-DOCKER-SNAT", Spec: []string{"-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"}, Why: "it's NAT"},
		}}
	assert.Equal(t, []string{
		"ip netns exec n1 iptables -w -t filter -N NETLAB-DOCKER-FWD",
		"ip netns exec n1 iptables -w -t nat -N NETLAB-DOCKER-SNAT",
		"ip netns exec n1 iptables -w -t filter -I FORWARD -m comment --comment 'netlab:docker forwarding' -j NETLAB-DOCKER-FWD",
		`ip netns exec n1 iptables -w -t nat -A NETLAB-DOCKER-SNAT -s 172.17.0.0/16 ! -o docker0 -m comment --comment 'netlab:docker it'\''s NAT' -j MASQUERADE`,
	}, o.Commands())
	// nat before filter, one COMMIT per table, comments double-quoted.
	assert.Equal(t, `*nat
:NETLAB-DOCKER-SNAT - [0:0]
-A NETLAB-DOCKER-SNAT -s 172.17.0.0/16 ! -o docker0 -m comment --comment "netlab:docker it's NAT" -j MASQUERADE
COMMIT
*filter
:NETLAB-DOCKER-FWD - [0:0]
-I FORWARD -m comment --comment "netlab:docker forwarding" -j NETLAB-DOCKER-FWD
COMMIT
`, o.Restore())
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"docker0": "docker0", "": "''", "a b": "'a b'", "it's": `'it'\''s'`,
		"netlab:docker:c1": "netlab:docker:c1", "$(rm)": "'$(rm)'",
	} {
		assert.Equal(t, want, Quote(in), in)
	}
}

func TestSplitSaved(t *testing.T) {
	assert.Equal(t, []string{"-D", "FORWARD", "-m", "comment", "--comment", "netlab:x the user's rules, first", "-j", "X"},
		SplitSaved(`-D FORWARD -m comment --comment "netlab:x the user\'s rules, first" -j X`))
	assert.Equal(t, []string{"-D", "OUTPUT", "!", "-d", "127.0.0.0/8", "-j", "DOCKER"}, SplitSaved(`-D OUTPUT ! -d 127.0.0.0/8 -j DOCKER`))
	del := IPTablesDel{NS: "n1", Table: "filter", Rules: []string{`-D FORWARD -m comment --comment "netlab:x user\'s" -j X`}, Chains: []string{"X"}}
	assert.Equal(t, []string{
		`ip netns exec n1 iptables -w -t filter -D FORWARD -m comment --comment 'netlab:x user'\''s' -j X`,
		"ip netns exec n1 iptables -w -t filter -F X",
		"ip netns exec n1 iptables -w -t filter -X X",
	}, del.Commands())
}
