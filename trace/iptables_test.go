package trace

import (
	"net/netip"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rules of a real dockerd (scripts/docker-reference.sh recorded them),
// judged by the walk's evaluator: what Docker's documentation says each
// packet meets.
func TestEvalRealDocker(t *testing.T) {
	for _, layout := range []string{"userland-proxy-true", "userland-proxy-false"} {
		data, err := os.ReadFile("../bridge/testdata/docker-20.10/" + layout + "/iptables.txt")
		require.NoError(t, err)
		tb, err := ParseSave(string(data))
		require.NoError(t, err)
		a := netip.MustParseAddr
		host := a("192.168.56.11")
		local := func(x netip.Addr) bool { return x == host || x == a("172.17.0.1") }
		outside := Packet{Src: a("192.168.56.1"), Dst: host, Proto: "tcp", Dport: 8080, In: "eth1", Local: local}

		v := tb.Eval("nat", "PREROUTING", outside)
		assert.Equal(t, "DNAT", v.Target, layout)
		assert.Equal(t, "172.17.0.2:80", v.To, layout)
		// Without docker-proxy, the rule catches containers' packets too.
		want := map[string]string{
			"userland-proxy-true":  "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
			"userland-proxy-false": "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
		}[layout]
		assert.Equal(t, want, v.Rule, layout)

		in := outside
		in.Dst, in.Dport, in.Out = a("172.17.0.2"), 80, "docker0"
		v = tb.Eval("filter", "FORWARD", in)
		assert.Equal(t, "ACCEPT", v.Target, layout)
		assert.Equal(t, "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT", v.Rule, layout)
		assert.Equal(t, "ACCEPT", tb.Eval("nat", "POSTROUTING", in).Target, "no SNAT for what comes in: "+layout)

		in.Dport = 22 // not published: the FORWARD policy
		v = tb.Eval("filter", "FORWARD", in)
		assert.Equal(t, "DROP", v.Target, layout)
		assert.Equal(t, "-P FORWARD DROP", v.Rule, layout)

		out := Packet{Src: a("172.17.0.2"), Dst: a("192.168.56.1"), Proto: "tcp", Dport: 80, In: "docker0", Out: "eth1", Local: local}
		assert.Equal(t, "ACCEPT", tb.Eval("filter", "FORWARD", out).Target, layout)
		v = tb.Eval("nat", "POSTROUTING", out)
		assert.Equal(t, "MASQUERADE", v.Target, layout)
		assert.Equal(t, "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE", v.Rule, layout)

		// From the host itself to its published port: OUTPUT catches it;
		// 127.0.0.1 only without docker-proxy (which serves it otherwise).
		self := Packet{Src: host, Dst: host, Proto: "tcp", Dport: 8080, Local: local}
		assert.Equal(t, "DNAT", tb.Eval("nat", "OUTPUT", self).Target, layout)
		self.Dst = a("127.0.0.1")
		assert.Equal(t, layout == "userland-proxy-false", tb.Eval("nat", "OUTPUT", self).Target == "DNAT", layout)
	}
}

func TestParseSaveAndMatches(t *testing.T) {
	tb, err := ParseSave(`*nat
:POSTROUTING ACCEPT [0:0]
:NETLAB-X-SNAT - [0:0]
-A POSTROUTING -m comment --comment "netlab:x source NAT for pods" -j NETLAB-X-SNAT
-A NETLAB-X-SNAT -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "netlab:x pod to pod" -j RETURN
-A NETLAB-X-SNAT -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A NETLAB-X-SNAT -m length --length 0:2000 -j DROP
-A NETLAB-X-SNAT -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP
-A FORWARD -i veth+ -p udp --dport 30000:32767 -j ACCEPT
-A FORWARD -j MARK --set-xmark 0x4000/0x4000
-A FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
COMMIT
`)
	require.NoError(t, err)
	a := netip.MustParseAddr
	pod := Packet{Src: a("10.244.1.2"), Dst: a("10.244.2.2"), Proto: "tcp"}
	assert.Equal(t, "ACCEPT", tb.Eval("nat", "POSTROUTING", pod).Target, "pod to pod returns to the policy")
	pod.Dst = a("192.168.56.1")
	v := tb.Eval("nat", "POSTROUTING", pod)
	assert.Equal(t, "MASQUERADE", v.Target)
	assert.Equal(t, []string{"-A NETLAB-X-SNAT -m length --length 0:2000 -j DROP"}, v.Unknown, "a match it does not model is said, not guessed")
	pod.Mark = 0x4000
	assert.Equal(t, "-A NETLAB-X-SNAT -m mark --mark 0x4000/0x4000 -j MASQUERADE", tb.Eval("nat", "POSTROUTING", pod).Rule)

	udp := Packet{Proto: "udp", Dport: 30080, In: "veth12"}
	v = tb.Eval("filter", "FORWARD", udp)
	assert.Equal(t, "-A FORWARD -i veth+ -p udp --dport 30000:32767 -j ACCEPT", v.Rule)
	assert.Empty(t, v.Unknown, "kube-proxy's nfacct counter is a match trace knows: it counts, and matches")
	udp.Dport = 29999
	assert.Equal(t, "-A FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT", tb.Eval("filter", "FORWARD", udp).Rule, "MARK sets the mark for the rules after it")

	_, err = ParseSave("*nat\n-A\n")
	assert.Error(t, err)
}

// TestRandomChoice: kube-proxy's -m statistic rules are a random choice:
// the walk takes the first by default, and a forced choice takes the one
// the real packet took.
func TestRandomChoice(t *testing.T) {
	tb, err := ParseSave(`*nat
:KUBE-SVC-X - [0:0]
-A KUBE-SVC-X -m comment --comment "ns/s -> 10.0.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A
-A KUBE-SVC-X -m comment --comment "ns/s -> 10.0.0.2:80" -j KUBE-SEP-B
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.0.0.1:80
-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.0.0.2:80
COMMIT
`)
	require.NoError(t, err)
	p := Packet{Proto: "tcp", Dport: 80}
	v := tb.Eval("nat", "KUBE-SVC-X", p)
	assert.True(t, v.Random)
	assert.Equal(t, "10.0.0.1:80", v.To)
	p.Choose = func(string) bool { return false }
	v = tb.Eval("nat", "KUBE-SVC-X", p)
	assert.Equal(t, "10.0.0.2:80", v.To, "the other endpoint, when the real packet took it")
	assert.Equal(t, "KUBE-SEP-B", tb.JumpTarget("-A KUBE-SVC-X -m comment --comment \"ns/s -> 10.0.0.2:80\" -j KUBE-SEP-B"))
	assert.Equal(t, []string{"10.0.0.1:80"}, tb.DNATs("KUBE-SEP-A"))
}

// TestEvalRealDockerIPv6: the ip6tables rules of a real dockerd 28.5 with
// --ipv6 (scripts/docker-reference.sh, layout ipv6), judged by the walk's
// evaluator as it judges IPv4's: the published port DNATs to the
// container's IPv6 address in brackets, FORWARD lets it in, a packet
// routed straight to the container from outside docker0 is dropped in
// raw, and the container's packets out are masqueraded (NAT66).
func TestEvalRealDockerIPv6(t *testing.T) {
	data, err := os.ReadFile("../bridge/testdata/docker-28.5/ipv6/ip6tables.txt")
	require.NoError(t, err)
	tb, err := ParseSave(string(data))
	require.NoError(t, err)
	a := netip.MustParseAddr
	host, c1 := a("fd00:56::11"), a("fd00:172:17::2")
	local := func(x netip.Addr) bool { return x == host || x == a("fd00:172:17::1") }
	p := Packet{Src: a("fd00:56::1"), Dst: host, Proto: "tcp", Sport: 40000, Dport: 8080, In: "eth1", Local: local}

	assert.NotEqual(t, "DROP", tb.Eval("raw", "PREROUTING", p).Target, "to the host: raw lets it by")
	v := tb.Eval("nat", "PREROUTING", p)
	require.Equal(t, "DNAT", v.Target)
	assert.Equal(t, "[fd00:172:17::2]:80", v.To)
	assert.Equal(t, "-A DOCKER ! -s fe80::/10 ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:172:17::2]:80", v.Rule)
	applyDNAT(&p, v.To)
	assert.Equal(t, c1, p.Dst)
	assert.Equal(t, 80, p.Dport)
	p.Out = "docker0"
	v = tb.Eval("filter", "FORWARD", p)
	assert.Equal(t, "ACCEPT", v.Target)
	assert.Equal(t, "-A DOCKER -d fd00:172:17::2/128 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT", v.Rule)

	direct := Packet{Src: a("fd00:56::1"), Dst: c1, Proto: "tcp", Dport: 80, In: "eth1", Local: local}
	v = tb.Eval("raw", "PREROUTING", direct)
	assert.Equal(t, "DROP", v.Target, "Docker 28 drops what is routed to a container from outside its bridge")
	assert.Equal(t, "-A PREROUTING -d fd00:172:17::2/128 ! -i docker0 -j DROP", v.Rule)

	out := Packet{Src: c1, Dst: a("fd00:56::1"), Proto: "icmp", In: "docker0", Out: "eth1", Local: local}
	v = tb.Eval("nat", "POSTROUTING", out)
	assert.Equal(t, "MASQUERADE", v.Target)
	assert.Equal(t, "-A POSTROUTING -s fd00:172:17::/64 ! -o docker0 -j MASQUERADE", v.Rule)
}

// TestIPv6Matches: an address alone is its /128; ip6tables-save's
// ipv6-icmp is the walk's icmp in IPv6 (and not in IPv4); addresses with
// ports are read in either family's spelling.
func TestIPv6Matches(t *testing.T) {
	a := netip.MustParseAddr
	assert.True(t, inPrefix(a("fd00::1"), "fd00::1"))
	assert.False(t, inPrefix(a("fd00::2"), "fd00::1"))
	assert.True(t, inPrefix(a("fd00:10:244:1::2"), "fd00:10:244::/56"))
	assert.False(t, inPrefix(a("10.0.0.1"), "fd00::/8"))
	assert.True(t, inPrefix(a("10.0.0.1"), "10.0.0.1"))
	tb, err := ParseSave("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p ipv6-icmp -j ACCEPT\nCOMMIT\n")
	require.NoError(t, err)
	assert.Equal(t, "ACCEPT", tb.Eval("filter", "FORWARD", Packet{Src: a("fd00::1"), Dst: a("fd00::2"), Proto: "icmp"}).Target)
	assert.Equal(t, "DROP", tb.Eval("filter", "FORWARD", Packet{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: "icmp"}).Target)

	for s, want := range map[string]string{"[fd00::2]:9376": "fd00::2", "fd00::2": "fd00::2", "10.244.1.2:9376": "10.244.1.2", "10.244.1.2": "10.244.1.2"} {
		assert.Equal(t, want, hostOf(s), s)
	}
	for to, want := range map[string]netip.AddrPort{
		"[fd00:10:244:1::7]:9376": netip.MustParseAddrPort("[fd00:10:244:1::7]:9376"),
		"fd00:10:244:1::7":        netip.MustParseAddrPort("[fd00:10:244:1::7]:80"),
		"10.244.1.7:9376":         netip.MustParseAddrPort("10.244.1.7:9376"),
		"10.244.1.7:9376-9380":    netip.MustParseAddrPort("10.244.1.7:9376"),
	} {
		p := Packet{Dst: a("10.96.0.1"), Dport: 80}
		applyDNAT(&p, to)
		assert.Equal(t, want, netip.AddrPortFrom(p.Dst, uint16(p.Dport)), to)
	}
	assert.Equal(t, "[fd00::2]:40000 → [fd00::3]:80 tcp", describe(Packet{Src: a("fd00::2"), Sport: 40000, Dst: a("fd00::3"), Dport: 80, Proto: "tcp"}))
	assert.Equal(t, "10.0.0.2:40000 → 10.0.0.3:80 tcp", describe(Packet{Src: a("10.0.0.2"), Sport: 40000, Dst: a("10.0.0.3"), Dport: 80, Proto: "tcp"}))
}

// TestPolicyRules: NetworkPolicy's rules (kube-router's shape) judged with
// the namespace's ipsets: a hash:net with a nomatch except, the mark a
// policy rule sets, the pod chain's REJECT of what nothing marked, and a
// frame bridged between two pods of the node (-m physdev).
func TestPolicyRules(t *testing.T) {
	tb, err := ParseSave(`*filter
:FORWARD ACCEPT [0:0]
:KUBE-ROUTER-FORWARD - [0:0]
:KUBE-POD-FW-A - [0:0]
:KUBE-NWPLCY-P - [0:0]
-A FORWARD -j KUBE-ROUTER-FORWARD
-A KUBE-ROUTER-FORWARD -d 10.244.1.4/32 -m physdev --physdev-is-bridged -m comment --comment "bridged" -j KUBE-POD-FW-A
-A KUBE-POD-FW-A -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-POD-FW-A -m comment --comment "run through nw policy p" -j KUBE-NWPLCY-P
-A KUBE-POD-FW-A -m comment --comment "rule to REJECT traffic destined for POD name:a namespace: x" -m mark ! --mark 0x10000/0x10000 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-POD-FW-A -j MARK --set-xmark 0x0/0x10000
-A KUBE-NWPLCY-P -m comment --comment "ingress rule 0 of x/p" -m set --match-set KUBE-SRC-NET src -m set --match-set KUBE-DST-A dst -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10000/0x10000
-A KUBE-NWPLCY-P -m mark --mark 0x10000/0x10000 -j RETURN
COMMIT
`)
	require.NoError(t, err)
	tb.SetIPSets(`create KUBE-SRC-NET hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add KUBE-SRC-NET 10.244.0.0/16
add KUBE-SRC-NET 10.244.1.3 nomatch
create KUBE-DST-A hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x2
add KUBE-DST-A 10.244.1.4
`)
	pkt := func(src string, port int, bridged bool) Packet {
		return Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("10.244.1.4"), Proto: "tcp", Sport: 40000, Dport: port, In: "cni0", Out: "cni0", Bridged: bridged}
	}
	v := tb.Eval("filter", "FORWARD", pkt("10.244.1.5", 80, true))
	assert.Equal(t, "ACCEPT", v.Target, "allowed: falls through to the policy")
	require.Len(t, v.PolicyAllowed(), 1)
	assert.Contains(t, v.PolicyAllowed()[0], "ingress rule 0 of x/p")
	v = tb.Eval("filter", "FORWARD", pkt("10.244.1.3", 80, true))
	assert.Equal(t, "REJECT", v.Target, "the except (nomatch) is outside the block")
	assert.Contains(t, v.Rule, "rule to REJECT traffic destined for POD name:a namespace: x")
	assert.Empty(t, v.PolicyAllowed())
	v = tb.Eval("filter", "FORWARD", pkt("10.244.1.5", 81, true))
	assert.Equal(t, "REJECT", v.Target, "another port")
	v = tb.Eval("filter", "FORWARD", pkt("10.244.1.3", 80, false))
	assert.Equal(t, "ACCEPT", v.Target, "routed, not bridged: this rule is the bridged one")
	assert.Empty(t, v.Unknown, "every match judged")
}
