package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/probe"
)

// traceDoc is 'netlab trace --json' as a script reads it.
type traceDoc struct {
	Src struct {
		IP string `json:"ip"`
	} `json:"src"`
	Dst struct {
		IP   string `json:"ip"`
		Name string `json:"name"`
		Note string `json:"note"`
	} `json:"dst"`
	Hops          []traceHop `json:"hops"`
	Outcome       string     `json:"outcome"`
	DeliveredTo   string     `json:"delivered_to"`
	Sent          string     `json:"sent"`
	Confirmed     bool       `json:"confirmed"`
	Disagreements []string   `json:"disagreements"`
	Expected      []string   `json:"expected"`
}

type traceHop struct {
	Host      string `json:"host"`
	Namespace string `json:"namespace"`
	In        string `json:"in"`
	Out       string `json:"out"`
	Packet    string `json:"packet"`
	Route     string `json:"route"`
	Rewrite   []struct {
		Chain, Rule, What, Conntrack string
		Via                          []string
	} `json:"rewrite"`
	Filter        string   `json:"filter"`
	Bridge        string   `json:"bridge"`
	Note          string   `json:"note"`
	FilterVia     []string `json:"filter_via"`
	FDB           string   `json:"fdb"`
	Neighbour     string   `json:"neighbour"`
	Encapsulation *struct {
		Src, Dst string
		Port     int
		VNI      int
	} `json:"encapsulation"`
	Action string `json:"action"`
	Seen   string `json:"seen"`
}

func runTrace(t *testing.T, args ...string) traceDoc {
	t.Helper()
	r := labtest.MustRun(t, append([]string{"trace", "--json"}, args...)...)
	var d traceDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.Stdout)
	require.NotEmpty(t, d.Hops)
	return d
}

// routers are the addresses a traceroute should show for the walk: each
// namespace that routes the packet (not the tunnel's outer packet, not a
// bridge) answers from the source its kernel picks back toward the
// packet's sender, and then the destination answers.
func (d traceDoc) routers(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, h := range d.Hops {
		if h.In == "" || (h.Action != "route" && h.Action != "encapsulate") || !strings.Contains(h.Packet, "→ "+d.Dst.IP) {
			continue
		}
		sender := strings.Split(strings.Fields(h.Packet)[0], ":")[0]
		r, err := exec.Command("ip", "-n", h.Namespace, "-o", "route", "get", sender).CombinedOutput()
		require.NoError(t, err, "%s", r)
		f := strings.Fields(string(r))
		for i := range f {
			if f[i] == "src" {
				out = append(out, f[i+1])
			}
		}
	}
	return append(out, d.Dst.IP)
}

func traceroute(t *testing.T, ns netops.NS, dst string) []string {
	t.Helper()
	hs, out, err := probe.Traceroute(ns, dst, 8)
	require.NoError(t, err, out)
	var addrs []string
	for _, h := range hs {
		addrs = append(addrs, h.Addr)
	}
	return addrs
}

// TestTrace walks packets in both models, checks each walk against a real
// traceroute and conntrack, then breaks a route, an FDB entry and a DNAT
// rule by hand and sees trace name the hop.
func TestTrace(t *testing.T) {
	labtest.Root(t)
	d, o, h := labtest.NewLab(t, "td"), labtest.NewLab(t, "to"), labtest.NewLab(t, "th")
	labtest.MustRun(t, "docker-mode", "--lab", d)
	labtest.MustRun(t, "overlay-mode", "--lab", o)
	labtest.MustRun(t, "overlay-mode", "--lab", h, "--backend", "host-gw")
	ds, ost := readStatus(t, d), readStatus(t, o)
	_, dNode1 := ds.node("node1")
	_, dNode2 := ds.node("node2")
	_, outsideIP := ds.node("outside")
	_, c3IP := ds.workload("c3")
	on := statusNodes(t, o)

	// Pairs a traceroute can check: no DNAT on the way.
	for _, tc := range []struct {
		lab, src, dst string
		args          []string
		delivered     string
		masq          string // the source MASQUERADE gives, if any
	}{
		{d, "c1", "c2", nil, "c2", ""},
		{d, "c1", "outside", nil, "outside", dNode1},
		{d, "node1", c3IP, []string{"--proto", "icmp"}, "c1", ""}, // c3's address is c1's on node1
		{d, "c1", "c3", nil, "c1", ""},
		{o, "pod1", "pod2", nil, "pod2", ""},
		{o, "pod1", "pod3", nil, "pod3", ""},
		{o, "pod1", "outside", nil, "outside", on["node1"].UnderlayIP},
		{o, "node1", "pod3", []string{"--proto", "icmp"}, "pod3", ""},
		{h, "pod1", "pod3", nil, "pod3", ""},
	} {
		name := tc.lab + " " + tc.src + "→" + tc.dst
		doc := runTrace(t, append([]string{"--lab", tc.lab, tc.src, tc.dst}, tc.args...)...)
		assert.True(t, doc.Confirmed, "%s: %v", name, doc.Disagreements)
		assert.Empty(t, doc.Expected, name)
		assert.Equal(t, "delivered", doc.Outcome, name)
		assert.Equal(t, tc.delivered, doc.DeliveredTo, name)
		srcNS := netops.NS(doc.Hops[0].Namespace)
		assert.Equal(t, doc.routers(t), traceroute(t, srcNS, doc.Dst.IP), "%s: the walk's routers are traceroute's hops", name)
		var masq []string
		for _, hop := range doc.Hops {
			for _, r := range hop.Rewrite {
				masq = append(masq, r.What)
				assert.NotEmpty(t, r.Conntrack, name)
			}
		}
		if tc.masq != "" {
			require.Len(t, masq, 1, name)
			assert.True(t, strings.HasSuffix(masq[0], "→ "+tc.masq), "%s: %v", name, masq)
		} else {
			assert.Empty(t, masq, name)
		}
	}
	// Docker across nodes by address: the note says where it really went.
	doc := runTrace(t, "--lab", d, "c1", "c3")
	assert.Contains(t, doc.Dst.Note, "ends in c1")
	assert.Len(t, doc.Hops, 1, "it never leaves c1")

	// The published port, from outside: DNAT on node2, and conntrack agrees.
	doc = runTrace(t, "--lab", d, "outside", dNode2, "--port", "8080")
	require.True(t, doc.Confirmed, "%v", doc.Disagreements)
	assert.Equal(t, "c3", doc.DeliveredTo)
	var dnat string
	for _, hop := range doc.Hops {
		for _, r := range hop.Rewrite {
			if r.Chain == "PREROUTING" {
				dnat = hop.Host + " " + r.What + " " + r.Conntrack
				assert.Contains(t, r.Rule, "-j DNAT --to-destination "+c3IP+":80")
			}
		}
	}
	assert.Contains(t, dnat, "node2 dst "+dNode2+":8080 → "+c3IP+":80")
	assert.Contains(t, dnat, "src="+c3IP, "conntrack's reply comes from c3")
	assert.Contains(t, doc.Sent, "c3 answered and saw "+outsideIP)

	// The VXLAN hop: the FDB entry picks node2, the outer header as flannel's.
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	var encap bool
	for _, hop := range doc.Hops {
		if hop.Encapsulation != nil {
			encap = true
			assert.Equal(t, "node1", hop.Host)
			assert.Equal(t, on["node2"].UnderlayIP, hop.Encapsulation.Dst)
			assert.Equal(t, 8472, hop.Encapsulation.Port)
			assert.Equal(t, 1, hop.Encapsulation.VNI)
			assert.Contains(t, hop.FDB, "dst "+on["node2"].UnderlayIP)
		}
	}
	assert.True(t, encap, "pod1 → pod3 is encapsulated")

	// Broken by hand, each at its hop.
	on1, _ := ost.node("node1")
	sh := func(args ...string) {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	sh("ip", "-n", string(on1), "route", "del", on["node2"].PodCIDR)
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	assert.NotEqual(t, "delivered", doc.Outcome)
	require.Len(t, doc.Expected, 1, "%v", doc.Expected)
	assert.Contains(t, doc.Expected[0], "node1: netlab built it with 'ip -n "+string(on1)+" route add "+on["node2"].PodCIDR)
	sh("ip", "-n", string(on1), "route", "add", on["node2"].PodCIDR, "via", on["node2"].VTEP, "dev", "flannel.1", "onlink")

	mac := strings.Fields(sh1(t, "ip", "-n", string(on1), "neigh", "show", "dev", "flannel.1", on["node2"].VTEP))[2]
	sh("bridge", "-n", string(on1), "fdb", "del", mac, "dev", "flannel.1", "dst", on["node2"].UnderlayIP, "self")
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	assert.Equal(t, "dropped", doc.Outcome)
	assert.True(t, doc.Confirmed, "the packet is lost where the walk says: %v", doc.Disagreements)
	require.Len(t, doc.Expected, 1, "%v", doc.Expected)
	assert.Contains(t, doc.Expected[0], "node1: ")
	assert.Contains(t, doc.Expected[0], "no FDB entry for "+mac)
	// An all-zero (default) entry instead: the kernel sends the unknown
	// MAC's frame to its VTEP, and the walk says so.
	sh("bridge", "-n", string(on1), "fdb", "append", "00:00:00:00:00:00", "dev", "flannel.1", "dst", on["node2"].UnderlayIP, "self", "permanent")
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	assert.Equal(t, "delivered", doc.Outcome)
	assert.True(t, doc.Confirmed, "the default entry carries it: %v", doc.Disagreements)
	var zero bool
	for _, hop := range doc.Hops {
		if hop.Encapsulation != nil {
			zero = strings.Contains(hop.FDB, "the all-zero (default) entry") && hop.Encapsulation.Dst == on["node2"].UnderlayIP
		}
	}
	assert.True(t, zero, "the walk names the default entry")
	sh("bridge", "-n", string(on1), "fdb", "del", "00:00:00:00:00:00", "dev", "flannel.1", "dst", on["node2"].UnderlayIP, "self")
	sh("bridge", "-n", string(on1), "fdb", "replace", mac, "dev", "flannel.1", "dst", on["node2"].UnderlayIP, "self", "permanent")

	// pod1's neighbour entry for its gateway names a port of cni0, not
	// cni0 (as one learned while a bridge without a MAC set had its
	// lowest port's): dropped at node1, where the walk says.
	pod1NS, _ := ost.workload("pod1")
	gw := strings.Fields(sh1(t, "ip", "-n", string(pod1NS), "route", "show", "default"))[2]
	veth2 := strings.Fields(sh1(t, "sh", "-c", "ip -n "+string(on1)+" -o link show veth-pod2 | grep -o 'link/ether [0-9a-f:]*'"))[1]
	sh("ip", "-n", string(pod1NS), "neigh", "replace", gw, "lladdr", veth2, "dev", "eth0", "nud", "permanent")
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	assert.Equal(t, "dropped", doc.Outcome)
	assert.True(t, doc.Confirmed, "the packet is lost where the walk says: %v", doc.Disagreements)
	last := doc.Hops[len(doc.Hops)-1]
	assert.Equal(t, "node1", last.Host)
	assert.Contains(t, last.Bridge, veth2+" is the MAC of veth-pod2, a port of cni0, not cni0's own")
	assert.Contains(t, last.Note, "IP drops it")
	sh("ip", "-n", string(pod1NS), "neigh", "del", gw, "dev", "eth0")

	dn2, _ := ds.node("node2")
	rule := strings.TrimSpace(sh1(t, "sh", "-c", "ip netns exec "+string(dn2)+" iptables -t nat -S DOCKER | grep DNAT"))
	sh1(t, "sh", "-c", "ip netns exec "+string(dn2)+" iptables -t nat "+strings.Replace(rule, "-A ", "-D ", 1))
	sh1(t, "sh", "-c", "ip netns exec "+string(dn2)+" iptables -t nat "+strings.Replace(rule, c3IP+":80", c3IP+":81", 1))
	doc = runTrace(t, "--lab", d, "outside", dNode2, "--port", "8080")
	require.Len(t, doc.Expected, 1, "%v", doc.Expected)
	assert.Contains(t, doc.Expected[0], "node2: netlab's rule")
	assert.Contains(t, doc.Expected[0], "→ "+c3IP+":81")

	// A rule the walk cannot judge drops the packet: the real one says so.
	sh("ip", "netns", "exec", string(on1), "iptables", "-I", "FORWARD", "-m", "length", "--length", "0:65535", "-j", "DROP")
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	assert.False(t, doc.Confirmed)
	require.NotEmpty(t, doc.Disagreements)
	assert.Contains(t, doc.Disagreements[0], "node1: the walk has it leave by flannel.1, but flannel.1 sent nothing")
}

// webNodePort is two pods of web behind NodePort 30003.
var webNodePort = webDeployment("web", "app: web", "blue", 2, "") + `---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30003}]
`

// TestTraceServices: a Service's packets, walked and confirmed by the
// kernel's own counters and conntrack: a NodePort from the outside host
// whose endpoint is on the other node (the mark KUBE-MARK-MASQ sets takes
// it through KUBE-FORWARD, and KUBE-POSTROUTING masquerades it to the
// node's flannel.1 address), a ClusterIP by name from a pod (its whole
// path, KUBE-SERVICES → KUBE-SVC → KUBE-SEP), and a Service without
// endpoints (refused where the walk says).
func TestTraceServices(t *testing.T) {
	labtest.Root(t)
	o := labtest.NewLab(t, "ts")
	labtest.MustRun(t, "overlay-mode", "--lab", o)
	labtest.MustRun(t, "apply", "--lab", o, "-f", manifest(t, webNodePort), "-f", manifest(t, nobodyService))
	labtest.MustRun(t, "rollout", "status", "deployment/web", "--lab", o)
	on := statusNodes(t, o)
	node := map[string]string{}
	for _, p := range getPods(t, o) {
		node[p.Name] = p.Node
	}

	// The NodePort on node1, from outside, until kube-proxy's random
	// choice sends one to node2's pod (2 endpoints: a run of 12 misses it
	// once in 4,096).
	remote := false
	for i := 0; i < 12 && !remote; i++ {
		doc := runTrace(t, "--lab", o, "outside", on["node1"].UnderlayIP, "--port", "30003")
		require.True(t, doc.Confirmed, "NodePort: %v", doc.Disagreements)
		require.Equal(t, "delivered", doc.Outcome)
		if node[doc.DeliveredTo] != "node2" {
			continue
		}
		remote = true
		var n1 *traceHop
		for i := range doc.Hops {
			if doc.Hops[i].Host == "node1" && n1 == nil {
				n1 = &doc.Hops[i]
			}
		}
		require.NotNil(t, n1, "the walk crosses node1")
		assert.Contains(t, n1.Filter, "FORWARD ACCEPT: -A KUBE-FORWARD ")
		assert.Contains(t, n1.Filter, "-m mark --mark 0x4000/0x4000", "KUBE-FORWARD's mark rule takes it")
		var dnat, snat string
		for _, r := range n1.Rewrite {
			if r.Chain == "POSTROUTING" {
				snat = r.What + " by " + r.Rule
				assert.Contains(t, strings.Join(r.Via, "\n"), "-j KUBE-POSTROUTING")
			} else {
				dnat = r.What
			}
		}
		assert.Contains(t, dnat, "dst "+on["node1"].UnderlayIP+":30003 → ")
		assert.Contains(t, snat, "src 192.168.56.1 → 10.244.1.0 by -A KUBE-POSTROUTING", "masqueraded to node1's flannel.1 address")
		last := doc.Hops[len(doc.Hops)-1]
		assert.True(t, strings.HasPrefix(last.Packet, "10.244.1.0 "), "the pod gets node1's flannel.1 address: %s", last.Packet)
		assert.Contains(t, doc.Sent, "saw 10.244.1.0")
	}
	assert.True(t, remote, "no trace of 12 took node2's endpoint")

	// A ClusterIP by name, from a pod: the whole Service path.
	for _, dst := range []string{"svc/web", "web", "web.default"} {
		doc := runTrace(t, "--lab", o, "pod1", dst)
		require.True(t, doc.Confirmed, "%s: %v", dst, doc.Disagreements)
		assert.Equal(t, "delivered", doc.Outcome, dst)
		assert.Equal(t, "svc/web", doc.Dst.Name)
		var via []string
		for _, h := range doc.Hops {
			for _, r := range h.Rewrite {
				if r.Chain == "PREROUTING" {
					via = append(append(via, r.Via...), r.Rule)
				}
			}
		}
		require.Len(t, via, 4, "%s: %v", dst, via)
		assert.Contains(t, via[0], "-A PREROUTING ")
		assert.Contains(t, via[1], "-A KUBE-SERVICES ")
		assert.Contains(t, via[1], "-j KUBE-SVC-")
		assert.Contains(t, via[2], "-j KUBE-SEP-")
		assert.Contains(t, via[3], "-j DNAT --to-destination ")
	}

	// A ClusterIP whose one endpoint is a pod of the sender's node, of
	// the other node, and the sender itself (hairpin).
	labtest.MustRun(t, "apply", "--lab", o, "-f", manifest(t, `
apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  containers: [{name: web, image: "netlab/web:blue", ports: [{name: http, containerPort: 9376}]}]
---
apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  selector: {app: solo}
  ports: [{port: 80, targetPort: http}]
`))
	var soloNode string
	require.Eventually(t, func() bool {
		for _, p := range getPods(t, o) {
			if p.Name == "solo" && p.Ready {
				soloNode = p.Node
			}
		}
		return soloNode != ""
	}, 10*time.Second, 100*time.Millisecond, "solo is Ready")
	st := readStatus(t, o)
	var near, far string // lab pods on solo's node, and on the other
	for _, w := range st.Workloads {
		if w.Kind != "pod" {
			continue
		}
		if w.Node == soloNode && near == "" {
			near = w.Name
		} else if w.Node != soloNode && far == "" {
			far = w.Name
		}
	}
	require.NotEmpty(t, near)
	require.NotEmpty(t, far)
	nodeHop := func(doc traceDoc) traceHop {
		for _, h := range doc.Hops {
			if h.Host == soloNode {
				return h
			}
		}
		t.Fatalf("the walk never crosses %s", soloNode)
		return traceHop{}
	}
	// Local: br_netfilter's bridged DNAT, cni0 takes it from port to
	// port; no mark (the client is in the cluster), no SNAT.
	doc := runTrace(t, "--lab", o, near, "svc/solo")
	require.True(t, doc.Confirmed, "local endpoint: %v", doc.Disagreements)
	assert.Equal(t, "solo", doc.DeliveredTo)
	h := nodeHop(doc)
	assert.Equal(t, "bridge", h.Action, "bridged DNAT, not routed")
	assert.Contains(t, h.Bridge, "bridged DNAT")
	assert.Len(t, h.Rewrite, 1, "a DNAT and no SNAT: %+v", h.Rewrite)
	assert.Contains(t, h.Filter, "FORWARD ACCEPT: ")
	_, localIP := st.workload(near)
	assert.Contains(t, doc.Sent, "saw "+localIP)
	assert.NotContains(t, doc.Dst.Note, "own address", "a Service's address is nobody's own")
	// Remote: routed into the tunnel on the sender's node, no SNAT either.
	doc = runTrace(t, "--lab", o, far, "svc/solo")
	require.True(t, doc.Confirmed, "remote endpoint: %v", doc.Disagreements)
	assert.Equal(t, "solo", doc.DeliveredTo)
	assert.Equal(t, "encapsulate", doc.Hops[1].Action, "%+v", doc.Hops[1])
	_, remoteIP := st.workload(far)
	assert.Contains(t, doc.Sent, "saw "+remoteIP)
	// Hairpin: solo to its own Service. KUBE-SEP's hairpin rule marks it,
	// cni0 sends it back out solo's port (hairpin mode, as flannel's CNI
	// config sets), and KUBE-POSTROUTING masquerades it to cni0's address.
	doc = runTrace(t, "--lab", o, "solo", "svc/solo")
	require.True(t, doc.Confirmed, "hairpin: %v", doc.Disagreements)
	assert.Equal(t, "solo", doc.DeliveredTo)
	h = nodeHop(doc)
	assert.Equal(t, "bridge", h.Action)
	assert.Equal(t, h.Out, "cni0 → "+h.In, "out the port it came in by")
	assert.Contains(t, h.Note, "hairpin mode is on for "+h.In)
	require.Len(t, h.Rewrite, 2, "%+v", h.Rewrite)
	assert.Contains(t, h.Rewrite[1].Rule, "-A KUBE-POSTROUTING ")
	assert.Contains(t, doc.Sent, "solo answered and saw "+strings.Split(on[soloNode].BridgeIP, "/")[0])
	// Hairpin mode off on that port: the bridge drops the frame, where the
	// walk says, and the counters and conntrack agree.
	port := h.In
	sh1(t, "ip", "-n", h.Namespace, "link", "set", port, "type", "bridge_slave", "hairpin", "off")
	doc = runTrace(t, "--lab", o, "solo", "svc/solo")
	assert.True(t, doc.Confirmed, "hairpin off: %v", doc.Disagreements)
	assert.Equal(t, "dropped", doc.Outcome)
	h = nodeHop(doc)
	assert.Equal(t, "drop", h.Action)
	assert.Contains(t, h.Note, "the port it came in by: a bridge does that only through a port in hairpin mode, which "+port+" is not")
	assert.Empty(t, h.Filter, "the bridge drops it before FORWARD")
	assert.NotContains(t, doc.Sent, "connected")
	sh1(t, "ip", "-n", h.Namespace, "link", "set", port, "type", "bridge_slave", "hairpin", "on")

	// No endpoints: kube-proxy's REJECT, where the walk says.
	doc = runTrace(t, "--lab", o, "pod1", "svc/nobody")
	assert.Equal(t, "dropped", doc.Outcome)
	assert.Contains(t, doc.Sent, "refused")
	assert.True(t, doc.Confirmed, "%v", doc.Disagreements)

	// A rule the walk cannot judge takes the packet before the one the
	// walk names: the counters say so, and the trace is not confirmed.
	n1, _ := readStatus(t, o).node("node1")
	sh1(t, "ip", "netns", "exec", string(n1), "iptables", "-I", "FORWARD", "-m", "length", "--length", "0:65535", "-j", "ACCEPT")
	doc = runTrace(t, "--lab", o, "pod1", "pod3")
	assert.False(t, doc.Confirmed)
	require.NotEmpty(t, doc.Disagreements)
	assert.Contains(t, doc.Disagreements[0], "node1: the walk has this rule take the packet, but its counter did not move")
	assert.Contains(t, doc.Disagreements[0], "these counted it: -A FORWARD -m length --length 0:65535 -j ACCEPT")
}

// TestTraceHostGW: a Service's packets over host-gw, where the nodes
// route pod CIDRs to each other's underlay address (no tunnel): a NodePort
// from outside reaching the other node's pod is masqueraded to node1's
// underlay address, and a ClusterIP from a pod keeps the pod's own; both
// confirmed by the kernel's counters and conntrack.
func TestTraceHostGW(t *testing.T) {
	labtest.Root(t)
	h := labtest.NewLab(t, "tg")
	labtest.MustRun(t, "overlay-mode", "--lab", h, "--backend", "host-gw")
	labtest.MustRun(t, "apply", "--lab", h, "-f", manifest(t, webNodePort))
	labtest.MustRun(t, "rollout", "status", "deployment/web", "--lab", h)
	on := statusNodes(t, h)
	node := map[string]string{}
	for _, p := range getPods(t, h) {
		node[p.Name] = p.Node
	}
	seen := map[string]bool{}
	for i := 0; i < 16 && len(seen) < 2; i++ {
		doc := runTrace(t, "--lab", h, "outside", on["node1"].UnderlayIP, "--port", "30003")
		require.True(t, doc.Confirmed, "NodePort: %v", doc.Disagreements)
		require.Equal(t, "delivered", doc.Outcome)
		seen[node[doc.DeliveredTo]] = true
		if node[doc.DeliveredTo] != "node2" {
			continue
		}
		var snat string
		for _, hop := range doc.Hops {
			for _, r := range hop.Rewrite {
				if hop.Host == "node1" && r.Chain == "POSTROUTING" {
					snat = r.What
				}
			}
			assert.Nil(t, hop.Encapsulation, "host-gw has no tunnel")
		}
		assert.Equal(t, "src 192.168.56.1 → "+on["node1"].UnderlayIP, snat, "masqueraded to node1's underlay address")
		assert.Contains(t, doc.Sent, "saw "+on["node1"].UnderlayIP)
	}
	assert.True(t, seen["node2"], "no trace of 16 took node2's endpoint")

	st := readStatus(t, h)
	_, pod1IP := st.workload("pod1")
	for i := 0; i < 4; i++ {
		doc := runTrace(t, "--lab", h, "pod1", "svc/web")
		require.True(t, doc.Confirmed, "ClusterIP: %v", doc.Disagreements)
		assert.Contains(t, doc.Sent, "saw "+pod1IP, "no NAT but the DNAT")
	}
}

func sh1(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%v: %s", args, out)
	return string(out)
}

// TestTraceBadInput: bad usage exits 2 and says why.
func TestTraceBadInput(t *testing.T) {
	labtest.Root(t)
	o := labtest.NewLab(t, "tb")
	labtest.MustRun(t, "overlay-mode", "--lab", o, "--nodes", "1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "takes SRC and DST"},
		{[]string{"pod1"}, "takes SRC and DST"},
		{[]string{"pod1", "pod2", "pod3"}, "takes SRC and DST"},
		{[]string{"pod1", "pod2", "--proto", "sctp"}, "--proto"},
		{[]string{"pod1", "pod2", "--port", "0"}, "--port 0"},
		{[]string{"pod1", "pod2", "--port", "70000"}, "--port 70000"},
		{[]string{"pod1", "pod2", "--port", "0x50"}, "not a whole number"},
		{[]string{"pod1", "pod2", "--proto", "icmp", "--port", "80"}, "not icmp"},
		{[]string{"nosuch", "pod2"}, "no container, pod or host"},
		{[]string{"pod1", "nosuch"}, "nosuch is not an IP address, nor a container, pod, host or Service"},
		{[]string{"pod1", "svc/nosuch"}, "nor a container, pod, host or Service"},
		{[]string{"pod1", "svc/kube-dns.kube-system.extra"}, "nor a container, pod, host or Service"},
		{[]string{"pod1", "::1"}, "::1: lab " + o + " is IPv4 only (made without --ipv6), so there is no IPv6 to walk"},
		{[]string{"pod1", "pod2", "--ipv6"}, "is IPv4 only"},
		{[]string{"pod1", "fe80::1%eth0"}, "without a zone"},
		{[]string{"pod1", "node1", "--proto", "tcp"}, "give --port"},
		{[]string{"pod1", "pod2", "--dry-run"}, "no --dry-run"},
	} {
		r := labtest.Run(t, append([]string{"trace", "--lab", o}, tc.args...)...)
		assert.Equal(t, 2, r.Code, "%v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want, tc.args)
		assert.Empty(t, r.Stdout, tc.args)
	}
}

// TestTraceEmbeddedDNS: a container's query to Docker's embedded DNS
// never leaves its namespace: the walk takes the DNAT of its own
// DOCKER_OUTPUT chain to the port where dockerd listens, and the real
// datagram confirms it (conntrack in the container). A container of
// network host is its node; one of another network is dropped in raw.
func TestTraceEmbeddedDNS(t *testing.T) {
	labtest.Root(t)
	name := labtest.NewLab(t, "td")
	labtest.MustRun(t, "docker-mode", "--lab", name, "--topology", "../../examples/docker-networks.yaml")
	d := runTrace(t, "--lab", name, "c1", "127.0.0.11", "--port", "53", "--proto", "udp")
	assert.True(t, d.Confirmed, "%v", d.Disagreements)
	assert.Empty(t, d.Expected)
	assert.Equal(t, "delivered", d.Outcome)
	assert.Equal(t, "c1", d.DeliveredTo)
	require.Len(t, d.Hops, 1, "it never leaves c1's namespace")
	h := d.Hops[0]
	assert.Equal(t, "127.0.0.1 → 127.0.0.11:53 udp", h.Packet, "from lo's address, as the route through lo picks")
	require.Len(t, h.Rewrite, 1)
	assert.Contains(t, h.Rewrite[0].Rule, "-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53")
	port := regexp.MustCompile(`→ 127\.0\.0\.11:(\d+)$`).FindStringSubmatch(h.Rewrite[0].What)
	require.NotNil(t, port, h.Rewrite[0].What)
	ss, err := exec.Command("ip", "netns", "exec", name+"-c1", "ss", "-Hlunp", "src", "127.0.0.11:"+port[1]).Output()
	require.NoError(t, err)
	assert.Contains(t, string(ss), `"dockerd"`, "dockerd's resolver listens where the DNAT sends port 53")
	assert.Contains(t, d.Dst.Note, "Docker's embedded DNS")

	d = runTrace(t, "--lab", name, "c8", "192.168.56.1", "--port", "80")
	assert.Equal(t, "node1", d.Hops[0].Host, "c8 (network host) sends from node1's own stack")
	d = runTrace(t, "--lab", name, "c3", "172.18.0.2", "--port", "80")
	assert.Equal(t, "dropped", d.Outcome)
	assert.Contains(t, d.Hops[len(d.Hops)-1].Filter, "raw PREROUTING DROP", "another network's container is dropped before any routing")
	assert.True(t, d.Confirmed, "%v", d.Disagreements)
}
