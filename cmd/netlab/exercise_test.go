package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
	"netlab/internal/labtest"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/web"
	"netlab/workshop"
)

// checkDoc is 'netlab exercise check N --json' as a script reads it.
type checkDoc struct {
	ID       string `json:"id"`
	Lab      string `json:"lab"`
	Model    string `json:"model"`
	Solved   bool   `json:"solved"`
	Checks   int    `json:"checks"`
	Criteria []struct {
		Name     string `json:"name"`
		Pass     bool   `json:"pass"`
		Observed string `json:"observed"`
		Hint     string `json:"hint"`
	} `json:"criteria"`
}

func checkExercise(t *testing.T, n int, wantCode int) checkDoc {
	t.Helper()
	r := labtest.Run(t, "exercise", "check", fmt.Sprint(n), "--json", "--hints")
	require.Equal(t, wantCode, r.Code, "check %d: %s\n%s", n, r.Stderr, r.Stdout)
	var d checkDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.Stdout)
	return d
}

// failing returns the indexes of the criteria that fail.
func (d checkDoc) failing() []int {
	out := []int{}
	for i, c := range d.Criteria {
		if !c.Pass {
			out = append(out, i)
		}
	}
	return out
}

// shell runs fix commands as a learner types them (sudo is dropped: the
// test is root), with lab names as the exercise's.
func shell(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		cmd := exec.Command("bash", "-c", strings.TrimPrefix(l, "sudo "))
		// netlab is the netlab under test (the NetworkPolicy exercises'
		// fixes are netlab apply and delete).
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(labtest.Binary(t))+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", l, out)
	}
}

// solution is the reference fix netlab prints, as commands.
func solution(t *testing.T, n int) []string {
	t.Helper()
	r := labtest.MustRun(t, "exercise", "solution", fmt.Sprint(n), "--yes")
	var cmds []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, "  sudo ") {
			cmds = append(cmds, strings.TrimSpace(l))
		}
	}
	require.NotEmpty(t, cmds, r.Stdout)
	return cmds
}

// wrongFix is a fix a learner tries that the check must refuse: cmds (with
// %[1]s the exercise's lab) leave criterion at failing, with hint in its
// hint; undo removes what it made outside the lab.
type wrongFix struct {
	cmds []string
	at   int
	hint string
	undo []string
	// docker is the only Docker version the wrong fix is refused so on
	// ("": every version, and every other model).
	docker string
}

// lab's %[1]s in fix commands.
func fixCmds(lab string, cmds []string) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, fmt.Sprintf(c, lab))
	}
	return out
}

// netpolFix applies a NetworkPolicy as a learner types it (%[1]s: the
// exercise's lab): a one-line YAML flow document on netlab apply's input.
func netpolFix(name, ns, spec string) string {
	return "netlab apply --lab %[1]s -f - <<< '{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: " + name + ", namespace: " + ns + "}, spec: " + spec + "}'"
}

// The wrong fixes of exercises 11 to 13, as shell: kube-proxy's rules
// edited with iptables-save and iptables-restore.
const (
	svcNS = "ns=%[1]s-node1; nat() { ip netns exec $ns iptables-save -t nat; }; restore() { ip netns exec $ns iptables-restore -T nat; }; "
	// The KUBE-SEP whose DNAT goes to the wrong port: its jump deleted.
	dropBrokenJump = svcNS + `sep=$(nat | grep -- '--to-destination [0-9.]*:9377' | awk '{print $2}'); nat | grep -v -- "^-A KUBE-SVC-.* -j $sep\$" | restore`
	// Its DNAT sent to another pod, on the right port.
	otherPod = svcNS + `other=$(nat | grep -o -- '--to-destination [0-9.]*:9376' | head -1 | cut -d' ' -f2 | cut -d: -f1); nat | sed "s/--to-destination [0-9.]*:9377/--to-destination $other:9376/" | restore`
	// kube-proxy's REJECT for backend, as node2 has it, with DROP.
	dropNoEndpoints = `r=$(ip netns exec %[1]s-node2 iptables -S KUBE-SERVICES | grep 'default/backend has no endpoints' | head -1 | sed -e 's/^-A KUBE-SERVICES //' -e 's/-j REJECT.*/-j DROP/'); eval ip netns exec %[1]s-node1 iptables -I KUBE-SERVICES $r`
)

// The wrong fixes of exercise 22, as shell: kube-proxy's nftables rules
// edited with nft, by handle. $c and $h are the chain and handle of the
// endpoint's dnat to the wrong port; $ip is its pod.
const (
	nftNS = "ns=%[1]s-node1; t() { ip netns exec $ns nft -a list table ip kube-proxy; }; " +
		`set -- $(t | awk '$1 == "chain" {c = $2} /dnat to [0-9.]+:9377/ {print c, $NF, $(NF-3)}'); c=$1 h=$2 ip=${3%%:*}; `
	// The broken endpoint taken out of the service chain's numgen map.
	nftDropBroken = nftNS + `s=$(t | awk '$1 == "chain" && $2 ~ /^service-.*default\/my-service\// {print $2}'); ` +
		`g=$(t | awk -v s="$s" '$1 == "chain" {c = $2} c == s && /numgen/ {print $NF}'); ` +
		`set -- $(t | awk '$1 == "chain" && $2 ~ /^endpoint-.*default\/my-service\// {print $2}' | grep -vxF "$c"); ` +
		`ip netns exec $ns nft replace rule ip kube-proxy "$s" handle "$g" numgen random mod 2 vmap "{ 0 : goto $1, 1 : goto $2 }"`
	// Its dnat sent to another pod, on the right port.
	nftOtherPod = nftNS + `other=$(t | grep -o 'dnat to [0-9.]*:9376' | grep -v "$ip" | head -1 | cut -d' ' -f3); ` +
		`ip netns exec $ns nft replace rule ip kube-proxy "$c" handle "$h" meta l4proto tcp dnat to "$other"`
	// A sound fix another way: the wrong rule deleted, the right one added.
	nftDeleteAdd = nftNS + `ip netns exec $ns nft delete rule ip kube-proxy "$c" handle "$h" && ip netns exec $ns nft add rule ip kube-proxy "$c" meta l4proto tcp dnat to "$ip:9376"`
)

// Exercise 14's pieces: c2 published on node1:8081 in nat DOCKER, and
// filter DOCKER's ACCEPT for it, appended (after Docker 28's final DROP) or
// inserted.
const publishC2 = "ip netns exec %s-node1 iptables -t nat -A DOCKER ! -i docker0 -p tcp --dport 8081 -j DNAT --to-destination 172.17.0.3:80"

func acceptC2(verb string) string {
	return "ip netns exec %s-node1 iptables " + verb + " DOCKER -d 172.17.0.3/32 ! -i docker0 -o docker0 -p tcp --dport 80 -j ACCEPT"
}

// dnsPortOf sets $p to the port c1's embedded DNS listens on (exercise 15).
const dnsPortOf = "p=$(ip netns exec %[1]s-c1 ss -Hlun src 127.0.0.11 | awk '{print $4}' | cut -d: -f2); "

// backBridge is the bridge of exercise 16's network back, found by its
// address.
const backBridge = "$(ip -n %[1]s-node1 -br -4 addr | awk '$3 == \"172.19.0.1/16\" {print $1}')"

// everyProbability sets every --probability of my-service's KUBE-SVC
// chain, on both nodes, to p.
func everyProbability(p string) string {
	return `for n in node1 node2; do ns=%[1]s-$n; ip netns exec $ns iptables-save -t nat | sed -E '/^-A KUBE-SVC-.*default\/my-service/ s/--probability [0-9.]+/--probability ` + p + `/' | ip netns exec $ns iptables-restore -T nat; done`
}

// exerciseCase is one exercise as TestExercises runs it.
type exerciseCase struct {
	n     int
	story string
	fails []int
	hint  string // in the first failing criterion's hint
	// wrongs are fixes the check must refuse; alt is a different
	// fix that must pass.
	wrongs []wrongFix
	alt    []string
	// trace is a trace (SRC DST [flags]) that meets the break: its
	// "Not as netlab built it" observes, and never gives the fix.
	trace []string
}

// TestExercises: each exercise breaks its lab as it says (check fails on
// the criteria the break touches, passes the others, with a hint naming
// what it saw), the reference fix makes it pass, the wrong fixes of
// docs/workshop.md's table are each refused where the exercise says so,
// a different sound fix passes, and stop leaves nothing behind but the
// exercise's progress.
func TestExercises(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("x")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	for _, tc := range []exerciseCase{
		{n: 1, story: "192.168.56.1:80", fails: []int{0, 1}, hint: "from 172.17.0.2", wrongs: []wrongFix{
			// A route back to the containers: on 20.10 the outside host
			// answers and sees c1's own address; on 28 node1 drops the
			// answer in raw PREROUTING.
			{cmds: []string{"ip -n %s-outside route add 172.17.0.0/16 via 192.168.56.11"}, at: 1, hint: "saw 172.17.0.2", docker: "20.10"},
			{cmds: []string{"ip -n %s-outside route add 172.17.0.0/16 via 192.168.56.11"}, at: 0, hint: "from 172.17.0.2", docker: "28"},
			{cmds: []string{"ip netns exec %s-node1 iptables -t nat -A POSTROUTING -j MASQUERADE"}, at: 2, hint: "rewriting packets that stay on docker0"},
		}},
		{n: 2, story: "192.168.56.11:8080", fails: []int{0, 1}, hint: "→ 172.17.0.2:8000", trace: []string{"outside", "192.168.56.11", "--port", "8080"}, wrongs: []wrongFix{
			{cmds: []string{`ip netns exec %s-node1 sh -c "iptables-save -t nat | grep -v -- '-j DNAT' | iptables-restore"`}, at: 1, hint: "saw 172.17.0.1"},
			// On 20.10 the FORWARD policy is all that keeps c2:80 closed;
			// on 28 the raw drops and DOCKER's own DROP still do.
			{cmds: []string{`ip netns exec %[1]s-node1 sh -c "iptables-save -t nat | sed 's/172.17.0.2:8000/172.17.0.2:80/' | iptables-restore"`,
				"ip netns exec %s-node1 iptables -P FORWARD ACCEPT"}, at: 3, hint: "no rule accepts", docker: "20.10"},
			{cmds: []string{`ip netns exec %[1]s-node1 sh -c "iptables-save -t nat | sed 's/172.17.0.2:8000/172.17.0.2:80/' | iptables-restore"`,
				"ip netns exec %s-node1 iptables -t nat -I POSTROUTING -o docker0 -j MASQUERADE"}, at: 1, hint: "saw 172.17.0.1"},
		}},
		{n: 3, story: "192.168.56.12:8080", fails: []int{0, 1}, hint: "forwarding is off on eth1", wrongs: []wrongFix{
			{cmds: []string{"ip netns exec %s-node2 sysctl -qw net.ipv4.conf.eth1.forwarding=1"}, at: 1, hint: "forwarding is off on docker0"},
			{cmds: []string{"ip netns exec %s-node2 sysctl -qw net.ipv4.conf.docker0.forwarding=1"}, at: 0, hint: "forwarding is off on eth1"},
		}},
		{n: 4, story: "172.17.0.1", fails: []int{0, 1, 2}, hint: "veth-c2 on node1, which is up and on no bridge", wrongs: []wrongFix{
			{cmds: []string{"ip -n %s-node1 addr add 172.17.0.1/32 dev veth-c2"}, at: 1, hint: "veth-c2"},
			{cmds: []string{"ip -n %s-node1 route add 172.17.0.3/32 dev veth-c2", "ip netns exec %s-node1 sysctl -qw net.ipv4.conf.veth-c2.proxy_arp=1"}, at: 2, hint: "on no bridge"},
		}},
		{n: 5, story: "192.168.56.11:8080", fails: []int{0}, hint: "c2 172.17.0.3 → 192.168.56.11:8080: c1 answered", wrongs: []wrongFix{
			{cmds: []string{"ip netns exec %s-node1 sysctl -qw net.bridge.bridge-nf-call-iptables=0"}, at: 2, hint: "skip Docker's iptables rules"},
			{cmds: []string{"ip netns exec %s-c1 iptables -t nat -A OUTPUT -d 192.168.56.11 -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"}, at: 0, hint: "never went through node1"},
		}},
		{n: 6, story: "10.244.2.2", fails: []int{0, 1, 2, 3}, hint: "node1 (via 192.168.56.1 dev eth1", trace: []string{"pod1", "pod3"}, wrongs: []wrongFix{
			{cmds: []string{"ip -n %s-node1 route add 10.244.2.0/24 via 192.168.56.12"}, at: 3, hint: "answers another"},
			{cmds: []string{"ip -n %s-node1 route add 10.244.2.0/24 dev flannel.1"}, at: 0, hint: "follow it"},
		}, alt: []string{"ip -n %s-node1 route add 10.244.2.0/24 via 192.168.56.12", "ip -n %s-node2 route replace 10.244.1.0/24 via 192.168.56.11"}},
		{n: 7, story: "10.244.2.2", fails: []int{0, 1, 2, 4}, hint: "no FDB entry for", trace: []string{"pod1", "pod3"}, wrongs: []wrongFix{
			{cmds: []string{"ip -n %s-node1 route replace 10.244.2.0/24 via 192.168.56.12 dev eth1"}, at: 3, hint: "around the tunnel"},
			{cmds: []string{"bridge -n %s-node1 fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.168.56.12"}, at: 4, hint: "all-zero entry"},
		}},
		{n: 8, story: "10.244.2.2", fails: []int{1, 2, 3, 4}, hint: "1422 bytes vanish without a word", wrongs: []wrongFix{
			{cmds: []string{"ip -n %s-pod1 link set eth0 mtu 1300"}, at: 4, hint: "vanish without a word"},
			{cmds: []string{"ip netns exec %s-node1 iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200",
				"ip netns exec %s-node2 iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200"}, at: 3, hint: "vanish without a word"},
		}, alt: []string{"ip -n %[1]s-node1 link set flannel.1 mtu 1350", "ip -n %[1]s-node2 link set flannel.1 mtu 1350"}},
		{n: 9, story: "192.168.56.1:80", fails: []int{0}, hint: "from 10.244.1.2", wrongs: []wrongFix{
			{cmds: []string{"ip netns exec %s-node1 iptables -t nat -I POSTROUTING -s 10.244.0.0/16 -j MASQUERADE"}, at: 1, hint: "saw 10.244.1.0"},
			{cmds: []string{"ip -n %s-outside route add 10.244.0.0/16 via 192.168.56.11"}, at: 0, hint: "routes the cluster's range"},
		}},
		{n: 10, story: "10.244.1.0/24", fails: []int{0, 1, 2, 3, 4}, hint: "ip netns add", wrongs: []wrongFix{
			{cmds: []string{"SOLUTION WITHOUT MTU"}, at: 2, hint: "adds 50 bytes", undo: []string{"ip netns del pod-%s"}},
			{cmds: []string{"ip netns add pod-%[1]s",
				"ip -n %[1]s-node1 link add veth-mypod mtu 1450 up type veth peer name eth0 mtu 1450 netns pod-%[1]s",
				"ip -n pod-%[1]s link set lo up", "ip -n pod-%[1]s link set eth0 up",
				"ip -n pod-%[1]s addr add 10.244.1.200/24 dev eth0", "ip -n pod-%[1]s route add default via 10.244.1.1",
				"ip -n %[1]s-node1 route add 10.244.1.200/32 dev veth-mypod",
				"ip netns exec %[1]s-node1 sysctl -qw net.ipv4.conf.veth-mypod.proxy_arp=1"}, at: 1, hint: "must be an up port of cni0",
				undo: []string{"ip netns del pod-%s"}},
		}},
		{n: 11, story: "connection refused", fails: []int{0}, hint: "refused at once", wrongs: []wrongFix{
			{cmds: []string{dropBrokenJump}, at: 0, hint: "never by"},
			{cmds: []string{otherPod}, at: 0, hint: "never by"},
		}},
		{n: 12, story: "has no pods yet", fails: []int{0}, hint: "waited", wrongs: []wrongFix{
			{cmds: []string{"ip netns exec %s-node1 iptables -I FORWARD -i cni0 -j REJECT"}, at: 2, hint: "refused at once"},
			{cmds: []string{dropNoEndpoints}, at: 0, hint: "waited"},
		}},
		{n: 13, story: "runs hot", fails: []int{0, 1, 2, 3}, hint: "--probability", wrongs: []wrongFix{
			{cmds: []string{everyProbability("0.3333")}, at: 0, hint: "Make each a third"},
			{cmds: []string{everyProbability("0.5")}, at: 0, hint: "Make each a third"},
		}},
		{n: 14, story: "192.168.56.11:8081", fails: []int{0, 1}, hint: "follow it", wrongs: []wrongFix{
			{cmds: []string{publishC2}, at: 0, hint: "-j DROP"},
			{cmds: []string{publishC2, acceptC2("-A")}, at: 0, hint: "-j DROP"},
			{cmds: []string{publishC2, acceptC2("-I"), `ip netns exec %s-node1 sh -c "iptables-save -t raw | grep -v -- '-d 172.17.0.3/32' | iptables-restore -T raw"`},
				at: 3, hint: "iptables -t raw -S"},
			{cmds: []string{publishC2, acceptC2("-I"), "ip netns exec %s-node1 iptables -t nat -I POSTROUTING -o docker0 -j MASQUERADE"}, at: 1, hint: "c2 saw 172.17.0.1"},
		}, alt: []string{publishC2, "ip netns exec %s-node1 iptables -I DOCKER-USER -i eth1 -o docker0 -d 172.17.0.3/32 -p tcp --dport 80 -j ACCEPT"}},
		{n: 15, story: "Temporary failure in name resolution", fails: []int{0}, hint: "the embedded DNS listens on UDP 127.0.0.11:", wrongs: []wrongFix{
			{cmds: []string{"printf 'nameserver 192.168.56.1\\n' > /etc/netns/%[1]s-c1/resolv.conf"}, at: 0, hint: "c1's nameserver is 192.168.56.1"},
			{cmds: []string{dnsPortOf + "ip netns exec %[1]s-c1 iptables -t nat -A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp --dport 53 -j REDIRECT --to-ports $p"}, at: 0, hint: "listens on UDP"},
		}, alt: []string{dnsPortOf + "ip netns exec %[1]s-c1 iptables -t nat -I OUTPUT -d 127.0.0.11/32 -p udp --dport 53 -j DNAT --to-destination 127.0.0.11:$p"}},
		{n: 16, story: "trusts clients of its own network only", fails: []int{0, 1}, hint: "raw PREROUTING DROP", wrongs: []wrongFix{
			{cmds: []string{"ip netns exec %[1]s-node1 iptables -I DOCKER-USER -s 172.18.0.2 -d 172.19.0.2 -j ACCEPT"}, at: 0, hint: "raw PREROUTING DROP"},
			{cmds: []string{"ip netns exec %[1]s-node1 sh -c \"iptables-save -t raw | grep -v -- '-d 172.19.0.2/32' | iptables-restore -T raw\"",
				"ip netns exec %[1]s-node1 iptables -I DOCKER-USER -s 172.18.0.2 -d 172.19.0.2 -j ACCEPT"}, at: 1, hint: "back's gateway"},
			{cmds: []string{"ip netns exec %[1]s-node1 sh -c \"iptables-save -t raw | grep -v -e '-d 172.19.0.2/32' -e '-d 172.18.0.2/32' | iptables-restore -T raw\"",
				"ip netns exec %[1]s-node1 iptables -I DOCKER-USER -s 172.18.0.0/16 -d 172.19.0.0/16 -j ACCEPT",
				"ip netns exec %[1]s-node1 iptables -t nat -I POSTROUTING -s 172.18.0.0/16 -o " + backBridge + " -j RETURN"}, at: 1, hint: "came through the node from another network"},
		}, alt: []string{"ip -n %[1]s-node1 link add c1-back master " + backBridge + " up type veth peer name back0 netns %[1]s-c1",
			"ip -n %[1]s-c1 link set back0 up", "ip -n %[1]s-c1 addr add 172.19.0.200/16 dev back0"}},
		{n: 17, story: "[fd00:10:244:2::2]:9376", fails: []int{0, 1, 4}, hint: "flannel-v6.1", wrongs: []wrongFix{
			{cmds: []string{"ip -n %s-node1 -6 route replace fd00:10:244:2::/64 via fd00:56::12 dev eth1"}, at: 3, hint: "around the tunnel"},
			{cmds: []string{"bridge -n %s-node1 fdb append 00:00:00:00:00:00 dev flannel-v6.1 dst fd00:56::12"}, at: 4, hint: "all-zero entry"},
		}},
		{n: 18, story: "6in4", fails: []int{0, 1, 3, 4}, hint: "vanish without a word", wrongs: []wrongFix{
			{cmds: []string{"ip netns exec %s-node1 ip6tables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200",
				"ip netns exec %s-node2 ip6tables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200"}, at: 3, hint: "vanish without a word"},
			{cmds: []string{"ip -n %s-node1 link set flannel.1 mtu 1350", "ip -n %s-node2 link set flannel.1 mtu 1350"}, at: 0, hint: "vanish without a word"},
		}, alt: []string{"ip -n %[1]s-pod1 link set eth0 mtu 1410", "ip -n %[1]s-pod2 link set eth0 mtu 1410",
			"ip -n %[1]s-pod3 link set eth0 mtu 1410", "ip -n %[1]s-pod4 link set eth0 mtu 1410"}},
		{n: 19, story: "could not resolve host", fails: []int{0, 1}, hint: "egress of shop/frontend denied", wrongs: []wrongFix{
			{cmds: []string{"netlab delete --lab %s networkpolicy frontend-egress -n shop"}, at: 3, hint: "no policy selects shop/frontend"},
			{cmds: []string{netpolFix("frontend-dns", "shop", "{podSelector: {matchLabels: {app: frontend}}, policyTypes: [Egress], egress: [{ports: [{port: 53, protocol: UDP}]}]}")},
				at: 1, hint: "over TCP when the answer is big"},
			{cmds: []string{netpolFix("frontend-out", "shop", "{podSelector: {matchLabels: {app: frontend}}, policyTypes: [Egress], egress: [{}]}")}, at: 3, hint: "Let DNS out, not everything"},
		}, alt: []string{netpolFix("dns-anywhere", "shop", "{podSelector: {matchLabels: {app: frontend}}, policyTypes: [Egress], egress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]}")}},
		{n: 20, story: "shop/web connect to the database", fails: []int{1, 2}, hint: "shop/web got in, and must not", wrongs: []wrongFix{
			{cmds: []string{netpolFix("db-ingress", "data", "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: shop}}}], ports: [{port: 5432}]}]}")},
				at: 1, hint: "a list of alternatives"},
			{cmds: []string{netpolFix("db-ingress", "data", "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {role: api}}}], ports: [{port: 5432}]}]}")},
				at: 0, hint: "ingress of data/db denied"},
			{cmds: []string{netpolFix("db-ingress", "data", "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {role: api}}}], ports: [{port: 5432}]}]}")},
				at: 3, hint: "namespaceSelector: {} selects every namespace"},
		}, alt: []string{netpolFix("db-ingress", "data", "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}, podSelector: {matchLabels: {role: api}}}]}]}")}},
		{n: 21, story: "'connection refused'", fails: []int{0}, hint: "which names does shop/web give its ports", wrongs: []wrongFix{
			{cmds: []string{"netlab delete --lab %s netpol web-ingress -n shop"}, at: 1, hint: "Only role: client"},
			{cmds: []string{netpolFix("web-ingress", "shop", "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]}")},
				at: 2, hint: "A rule without ports"},
		}, alt: []string{netpolFix("web-ingress", "shop", "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: 8080, protocol: TCP}]}]}")}},
		{n: 22, story: "nftables mode", fails: []int{0}, hint: "refused at once", wrongs: []wrongFix{
			{cmds: []string{nftDropBroken}, at: 0, hint: "never by"},
			{cmds: []string{nftOtherPod}, at: 0, hint: "nft list table ip kube-proxy"},
		}, alt: []string{nftDeleteAdd}},
	} {
		// The Docker exercises on both Dockers' layouts.
		versions := []string{""}
		if tc.n <= 5 {
			versions = topo.DockerVersions
		}
		for _, version := range versions {
			t.Run(strings.TrimSuffix(fmt.Sprint(tc.n)+"/"+version, "/"), func(t *testing.T) {
				runExercise(t, prefix, tc, version)
			})
		}
	}
}

// runExercise is TestExercises for exercise n, on a Docker exercise's
// Docker version (empty: the default).
func runExercise(t *testing.T, prefix string, tc exerciseCase, version string) {
	var wrongs []wrongFix
	for _, w := range tc.wrongs {
		if w.docker == "" || version == "" || w.docker == version {
			wrongs = append(wrongs, w)
		}
	}
	tc.wrongs = wrongs
	lab := fmt.Sprintf("%s%d", prefix, tc.n)
	t.Cleanup(func() {
		_, _ = exec.Command(labtest.Binary(t), "down", "--lab", lab).CombinedOutput()
		_ = exec.Command("ip", "netns", "del", "pod-"+lab).Run()
		_, _ = exec.Command(labtest.Binary(t), "exercise", "stop", fmt.Sprint(tc.n), "--forget").CombinedOutput()
		labtest.AssertGone(t, lab)
		_, err := os.Stat(filepath.Join(state.RecordDir(), lab+".json"))
		assert.True(t, os.IsNotExist(err), "stop --forget leaves no record")
	})
	start := []string{"exercise", "start", fmt.Sprint(tc.n)}
	if version != "" {
		start = append(start, "--docker-version", version)
	}
	r := labtest.MustRun(t, start...)
	if version != "" {
		assert.Contains(t, r.Stderr, "--docker-version "+version, "the lab is built as Docker "+version+" does")
	}
	assert.Contains(t, r.Stdout, "What users report:")
	assert.Contains(t, r.Stdout, tc.story)
	d := checkExercise(t, tc.n, 1)
	assert.Equal(t, lab, d.Lab)
	assert.False(t, d.Solved)
	require.Equal(t, tc.fails, d.failing(), "%+v", d.Criteria)
	assert.LessOrEqual(t, len(d.Criteria), web.MaxCriteria, "a room takes this exercise's report")
	if tc.n == 1 {
		// solution asks first: y on its input shows it, anything
		// else does not, and no input at all says how to skip asking.
		ask := func(input string) (string, int) {
			cmd := exec.Command(labtest.Binary(t), "exercise", "solution", "1")
			cmd.Stdin = strings.NewReader(input)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			return string(out), code
		}
		out, code := ask("y\n")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "MASQUERADE")
		out, code = ask("n\n")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "Not shown")
		assert.NotContains(t, out, "MASQUERADE")
		out, code = ask("")
		assert.Equal(t, 2, code, out)
		assert.Contains(t, out, "add --yes")
	}
	if tc.n == 10 {
		// Another lab's pods share node1's pod CIDR: none of them
		// is the learner's pod.
		other := labtest.NewLab(t, "xd")
		labtest.MustRun(t, "overlay-mode", "--lab", other)
		labtest.MustRun(t, "apply", "--lab", other, "-f", "../../examples/myapp.yaml")
		require.Equal(t, tc.fails, checkExercise(t, tc.n, 1).failing(), "another lab's pods are not the learner's")
		labtest.MustRun(t, "down", "--lab", other)
	}
	first := d.Criteria[tc.fails[0]]
	assert.Contains(t, first.Hint, tc.hint, "the hint names what the check saw")
	for _, c := range d.Criteria {
		assert.NotEmpty(t, c.Observed, c.Name)
		if !c.Pass {
			assert.NotEmpty(t, c.Hint, c.Name)
		}
	}
	if tc.trace != nil {
		doc := runTrace(t, append([]string{"--lab", lab}, tc.trace...)...)
		require.NotEmpty(t, doc.Expected, "the trace sees the break")
		seen := strings.Join(doc.Expected, "\n")
		assert.NotContains(t, seen, "netlab built it with")
		assert.NotContains(t, seen, "netlab's rule '")
		for _, c := range solution(t, tc.n) {
			fix := strings.TrimPrefix(c, "sudo ")
			for _, part := range []string{"--to-destination 172.17.0.2:80", "route add", "fdb append", fix} {
				if strings.Contains(fix, part) {
					assert.NotContains(t, seen, part, "the trace gives the fix away")
				}
			}
		}
	}
	require.GreaterOrEqual(t, len(tc.wrongs), 2, "at least two wrong fixes per exercise")
	for i, w := range tc.wrongs {
		cmds := fixCmds(lab, w.cmds)
		if w.cmds[0] == "SOLUTION WITHOUT MTU" {
			cmds = nil
			for _, c := range solution(t, tc.n) {
				cmds = append(cmds, regexp.MustCompile(` mtu \d+`).ReplaceAllString(c, ""))
			}
		}
		shell(t, cmds...)
		d = checkExercise(t, tc.n, 1)
		require.False(t, d.Criteria[w.at].Pass, "wrong fix %d is refused at %q: %+v", i+1, d.Criteria[w.at].Name, d.Criteria)
		assert.Contains(t, d.Criteria[w.at].Hint, w.hint, "wrong fix %d", i+1)
		shell(t, fixCmds(lab, w.undo)...)
		labtest.MustRun(t, "exercise", "reset", fmt.Sprint(tc.n))
		require.Equal(t, tc.fails, checkExercise(t, tc.n, 1).failing(), "reset breaks it again, as new")
	}
	if tc.alt != nil {
		for _, a := range tc.alt {
			shell(t, fmt.Sprintf(a, lab))
		}
		d = checkExercise(t, tc.n, 0)
		assert.True(t, d.Solved, "a different sound fix passes")
		labtest.MustRun(t, "exercise", "reset", fmt.Sprint(tc.n))
	}
	shell(t, solution(t, tc.n)...)
	d = checkExercise(t, tc.n, 0)
	assert.True(t, d.Solved, "%+v", d.Criteria)
	assert.Empty(t, d.failing())

	var list []struct {
		ID      string `json:"id"`
		Lab     string `json:"lab"`
		Solved  bool   `json:"solved"`
		Running bool   `json:"running"`
		Checks  int    `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
	require.Len(t, list, len(workshop.All))
	assert.Equal(t, lab, list[tc.n-1].Lab)
	assert.True(t, list[tc.n-1].Solved, "progress survives: solved")
	assert.GreaterOrEqual(t, list[tc.n-1].Checks, 1)
	r = labtest.MustRun(t, "exercise", "stop", fmt.Sprint(tc.n))
	assert.Contains(t, r.Stdout, "Its record stays: solved at ")
	labtest.AssertGone(t, lab)
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
	assert.True(t, list[tc.n-1].Solved, "solved survives stop")
	assert.False(t, list[tc.n-1].Running)
	r = labtest.MustRun(t, "exercise", "stop", fmt.Sprint(tc.n), "--forget")
	assert.Contains(t, r.Stdout, "record is forgotten")
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
	assert.False(t, list[tc.n-1].Solved, "forgotten")
}

// TestExerciseBadInput: bad usage exits 2 and changes nothing.
func TestExerciseBadInput(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("y")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	var labs []string // the exercises' labs, under either prefix
	for n := 1; n <= 15; n++ {
		labs = append(labs, prefix+strconv.Itoa(n), "Bad/Prefix"+strconv.Itoa(n))
	}
	before := netnsList(t, labs...)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exercise", "start"}, "takes one exercise"},
		{[]string{"exercise", "start", "99"}, "no exercise \"99\""},
		{[]string{"exercise", "start", "1", "--docker-version", "19.03"}, "netlab builds Docker 28 or 20.10"},
		{[]string{"exercise", "start", "6", "--docker-version", "28"}, "which has no Docker"},
		{[]string{"exercise", "start", "14", "--docker-version", "20.10"}, "runs on Docker 28 only"},
		{[]string{"exercise", "start", "1", "2"}, "takes one exercise"},
		{[]string{"exercise", "check", "1"}, "is not running"},
		{[]string{"exercise", "check"}, "no exercise is running"},
		{[]string{"exercise", "hint", "docker-no-outside"}, "is not running"},
		{[]string{"exercise", "solution", "1", "--yes"}, "is not running"},
		{[]string{"exercise", "stop", "1"}, "is not running"},
		{[]string{"exercise", "start", "1", "--lab", "x"}, "no --lab"},
		{[]string{"exercise", "start", "1", "--dry-run"}, "no --dry-run"},
		{[]string{"exercise", "frob"}, "unknown exercise verb"},
		{[]string{"exercise", "check", "1", "--as", "alice"}, "--room-token and --as go with --report"},
		{[]string{"exercise", "check", "1", "--report", "ftp://teacher:8088", "--room-token", "t", "--as", "a"}, "the teacher's netlab web as http://HOST:PORT"},
		{[]string{"exercise", "check", "1", "--report", "http://teacher:8088/api/room", "--room-token", "t", "--as", "a"}, "(no path)"},
		{[]string{"exercise", "check", "1", "--report", "http://teacher:8088", "--as", "a"}, "--report needs --room-token"},
		{[]string{"exercise", "check", "1", "--report", "http://teacher:8088", "--room-token", "t"}, `--as: learner ""`},
		{[]string{"exercise", "check", "1", "--report", "http://teacher:8088", "--room-token", "t", "--as", "<b>"}, `--as: learner "<b>"`},
	} {
		r := labtest.Run(t, tc.args...)
		assert.Equal(t, 2, r.Code, "%v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want, tc.args)
	}
	t.Setenv("NETLAB_EXERCISE_PREFIX", "Bad/Prefix")
	r := labtest.Run(t, "exercise", "start", "1")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "NETLAB_EXERCISE_PREFIX")
	assert.Equal(t, before, netnsList(t, labs...), "bad usage built nothing")
}

// TestInterruptedExerciseStart: a start killed after building its lab and
// before setting the exercise (here: its progress file removed, the state
// such a kill leaves) makes list, check and start agree: not running,
// interrupted, and start builds it again.
func TestInterruptedExerciseStart(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("z")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	lab := prefix + "1"
	t.Cleanup(func() { _ = exec.Command(labtest.Binary(t), "down", "--lab", lab).Run() })
	labtest.MustRun(t, "exercise", "start", "1")
	require.NoError(t, os.Remove(filepath.Join(state.RunDir, lab, "exercise.json")))

	var list []api.Exercise
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &list))
	assert.False(t, list[0].Running)
	assert.True(t, list[0].Interrupted)
	assert.Contains(t, labtest.MustRun(t, "exercise", "list").Stdout, "interrupted (start it again)")
	r := labtest.Run(t, "exercise", "check", "1")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "an earlier start was interrupted after building lab "+lab)
	r = labtest.Run(t, "exercise", "start", "1")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "left by an interrupted start of exercise 1: removing it, then starting over")
	r = labtest.Run(t, "exercise", "check", "1")
	assert.Equal(t, 1, r.Code, "running, and broken: %s", r.Stderr)
	var after []api.Exercise
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "exercise", "list", "--json").Stdout), &after))
	assert.True(t, after[0].Running)
	assert.False(t, after[0].Interrupted)
}

// TestExerciseHints: check shows no hint unless asked (--hints, or
// 'exercise hint'), and by itself once as many checks failed as the
// teacher chose with start --hints-after; reset keeps that choice.
func TestExerciseHints(t *testing.T) {
	labtest.Root(t)
	prefix := labtest.Name("h")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	t.Cleanup(func() {
		_, _ = exec.Command(labtest.Binary(t), "exercise", "stop", "1", "--forget").CombinedOutput()
		labtest.AssertGone(t, prefix+"1")
	})
	hints := func(args ...string) (hidden bool, shown int) {
		t.Helper()
		r := labtest.Run(t, append([]string{"exercise", "check", "1", "--json"}, args...)...)
		require.Equal(t, 1, r.Code, r.Stderr)
		var d struct {
			HintsHidden bool `json:"hints_hidden"`
			Criteria    []struct{ Hint string }
		}
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d))
		for _, c := range d.Criteria {
			if c.Hint != "" {
				shown++
			}
		}
		return d.HintsHidden, shown
	}
	r := labtest.Run(t, "exercise", "start", "1", "--hints-after", "-1")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "--hints-after -1")

	labtest.MustRun(t, "exercise", "start", "1", "--hints-after", "2")
	out := labtest.Run(t, "exercise", "check", "1").Stdout
	assert.NotContains(t, out, "hint:")
	assert.Contains(t, out, "Stuck? 'sudo netlab exercise check 1 --hints'")
	hidden, shown := hints()
	assert.True(t, hidden, "one failed check before this one: fewer than the teacher's two")
	assert.Zero(t, shown)
	hidden, shown = hints("--hints")
	assert.False(t, hidden)
	assert.NotZero(t, shown, "asked for")
	assert.Contains(t, labtest.MustRun(t, "exercise", "hint", "1").Stdout, "hint: ")
	hidden, shown = hints()
	assert.False(t, hidden, "four failed checks before this one: the teacher's two are past")
	assert.NotZero(t, shown)

	labtest.MustRun(t, "exercise", "reset", "1")
	hidden, _ = hints()
	assert.True(t, hidden, "reset starts counting again")
	hidden, _ = hints()
	assert.True(t, hidden)
	_, shown = hints()
	assert.NotZero(t, shown, "reset keeps the teacher's --hints-after 2")
}
