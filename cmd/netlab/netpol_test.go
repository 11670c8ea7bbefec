package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/who"
	"netlab/kube"
)

// probeOf runs netpol probe --json and reads its report; its exit code
// is 1 exactly when a cell differs.
func probeOf(t *testing.T, lab string) probeReport {
	t.Helper()
	r := labtest.Run(t, "netpol", "probe", "--json", "--lab", lab)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	assert.Equal(t, map[bool]int{true: 1, false: 0}[rep.Differences > 0], r.Code, r.Stderr)
	for _, c := range rep.Cells {
		if c.Expected != c.Observed {
			t.Logf("differs: %s -> %s %d/%s: expected %v, observed %v (%s) %s", c.From, c.To, c.Port, c.Protocol, c.Expected, c.Observed, c.Error, c.Why)
		}
	}
	return rep
}

// observed is the table the packets made on one port, as the e2e suite
// prints a truth table: a row per client x/a..z/c, '.' allowed, 'X'
// denied, '-' on the diagonal (a pod to itself, which the suite ignores).
func observed(t *testing.T, rep probeReport, port int32, proto string) string {
	t.Helper()
	got := map[string]bool{}
	for _, c := range rep.Cells {
		if c.Port == port && string(c.Protocol) == proto {
			got[c.From+" "+c.To] = c.Observed
			if c.Observed != c.Expected {
				t.Logf("%s -> %s %d/%s: expected %v, observed %v %s", c.From, c.To, c.Port, c.Protocol, c.Expected, c.Observed, c.Error)
			}
		}
	}
	var b strings.Builder
	for _, from := range kube.ProbeKeys() {
		for _, to := range kube.ProbeKeys() {
			v, ok := got[from+" "+to]
			require.True(t, ok, "no cell %s -> %s on %d/%s", from, to, port, proto)
			switch {
			case from == to:
				b.WriteByte('-')
			case v:
				b.WriteByte('.')
			default:
				b.WriteByte('X')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// truth is a truth table from its nine rows, spaces between namespaces.
func truth(r ...string) string { return strings.ReplaceAll(strings.Join(r, "\n")+"\n", " ", "") }

// TestNetworkPolicyProbe: Kubernetes' e2e cases (test/e2e/network/netpol)
// on a two-node lab, the probe's pods spread over both: the packets make
// exactly the e2e suite's truth table for each, and the evaluator agrees
// cell by cell (no difference, exit 0); the rules and ipsets go with the
// policies; a rule broken by hand is a difference the probe reports
// (exit 1), named in its table.
func TestNetworkPolicyProbe(t *testing.T) {
	labtest.Root(t)
	lab := labtest.NewLab(t, "np")
	labtest.MustRun(t, "overlay-mode", "--lab", lab, "--pods", "1")

	rep := probeOf(t, lab)
	require.Len(t, rep.Cells, 9*9*4)
	assert.Zero(t, rep.Differences)
	assert.NotEmpty(t, rep.Made, "the probe made its namespaces and pods")
	open := truth(
		"-.. ... ...", ".-. ... ...", "..- ... ...",
		"... -.. ...", "... .-. ...", "... ..- ...",
		"... ... -..", "... ... .-.", "... ... ..-")
	for _, pp := range kube.ProbePorts {
		assert.Equal(t, open, observed(t, rep, pp.Port, string(pp.Protocol)), "no policy: all open on %s", pp)
	}
	nodes := map[string]bool{}
	for _, p := range getPodsNS(t, lab, "x") {
		nodes[p.Node] = true
	}
	require.Len(t, nodes, 2, "the probe's pods of x are on both nodes: the cases cross the overlay")
	// x/b's address, for the ipBlock case.
	var xb string
	for _, p := range getPodsNS(t, lab, "x") {
		if p.Name == "b" {
			xb = p.IP
		}
	}
	require.NotEmpty(t, xb)

	dir := t.TempDir()

	// conntrack keeps a flow that was allowed when it began, as on a real
	// node: x/b's UDP flow to x/a goes on after a default deny, a new one
	// is refused; the probe clears its own flows, so its cells are new
	// connections (0 differences), and the old flow is then refused too.
	t.Run("conntrack keeps an established flow", func(t *testing.T) {
		var xbNS netops.NS
		var xaIP string
		for _, p := range getPodsNS(t, lab, "x") {
			switch p.Name {
			case "a":
				xaIP = p.IP
			case "b":
				xbNS = p.NS
			}
		}
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(xaIP), 80))
		var flow *net.UDPConn
		require.NoError(t, netops.Do(xbNS, func() (err error) {
			flow, err = net.DialUDP("udp", nil, dst)
			return err
		}))
		defer flow.Close()
		answered := func(c *net.UDPConn) bool {
			for i := 0; i < 3; i++ { // a datagram may be lost: asked again
				_, _ = c.Write([]byte("hi\n"))
				_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				buf := make([]byte, 256)
				if _, err := c.Read(buf); err == nil {
					return true
				} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					return false // refused: the ICMP error of a REJECT
				}
			}
			return false
		}
		require.True(t, answered(flow), "no policy yet")
		deny := filepath.Join(dir, "deny.yaml")
		data, err := os.ReadFile("../../examples/netpol/deny-all.yaml")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(deny, data, 0o644))
		labtest.MustRun(t, "apply", "-f", deny, "--lab", lab)
		assert.True(t, answered(flow), "the flow began before the policy: conntrack lets it on")
		var fresh *net.UDPConn
		require.NoError(t, netops.Do(xbNS, func() (err error) {
			fresh, err = net.DialUDP("udp", nil, dst)
			return err
		}))
		defer fresh.Close()
		assert.False(t, answered(fresh), "a new flow is refused")
		rep := probeOf(t, lab)
		assert.Zero(t, rep.Differences, "the probe's cells are new connections")
		assert.False(t, answered(flow), "its flow cleared with the probe's own, the old flow is refused too")
		labtest.MustRun(t, "delete", "-f", deny, "--lab", lab)
	})
	for _, c := range []struct {
		name     string
		policies string // in namespace x
		port     int32
		proto    string
		expect   string
	}{
		{"default-deny-ingress", `{podSelector: {}, policyTypes: [Ingress]}`, 80, "TCP", truth(
			"-XX ... ...", "X-X ... ...", "XX- ... ...",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"default-deny-all", `{podSelector: {}, policyTypes: [Ingress, Egress]}`, 81, "UDP", truth(
			"-XX XXX XXX", "X-X XXX XXX", "XX- XXX XXX",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"allow from a pod of the namespace", `{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}`, 80, "TCP", truth(
			"-.. ... ...", ".-. ... ...", "X.- ... ...",
			"X.. -.. ...", "X.. .-. ...", "X.. ..- ...",
			"X.. ... -..", "X.. ... .-.", "X.. ... ..-")},
		{"pod selector OR namespace selector", `{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [
			{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}},
			{podSelector: {matchLabels: {pod: b}}}]}]}`, 80, "TCP", truth(
			"-.. ... ...", ".-. ... ...", "X.- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"... ... -..", "... ... .-.", "... ... ..-")},
		{"pod selector AND namespace selector", `{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [
			{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]},
			 podSelector: {matchLabels: {pod: b}}}]}]}`, 80, "TCP", truth(
			"-.. ... ...", "X-. ... ...", "X.- ... ...",
			"X.. -.. ...", "... .-. ...", "X.. ..- ...",
			"X.. ... -..", "... ... .-.", "X.. ... ..-")},
		{"egress to the pod CIDR but one address", `{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.244.0.0/16, except: [` + xb + `/32]}}]}]}`, 80, "TCP", truth(
			"-X. ... ...", ".-. ... ...", "..- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"... ... -..", "... ... .-.", "... ... ..-")},
		{"named port, probed on the other port", `{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`, 80, "TCP", truth(
			"-XX ... ...", "X-X ... ...", "XX- ... ...",
			"XXX -.. ...", "XXX .-. ...", "XXX ..- ...",
			"XXX ... -..", "XXX ... .-.", "XXX ... ..-")},
		{"named port, probed on it", `{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`, 81, "TCP", open},
		{"endPort range 80-81 from namespace y", `{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 80, endPort: 81}], from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]}]}`, 81, "TCP", truth(
			"-.. ... ...", "X-. ... ...", "X.- ... ...",
			"... -.. ...", "... .-. ...", "... ..- ...",
			"X.. ... -..", "X.. ... .-.", "X.. ... ..-")},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			require.NoError(t, os.WriteFile(f, []byte(fmt.Sprintf("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: case, namespace: x}\nspec: %s\n", c.policies)), 0o644))
			labtest.MustRun(t, "apply", "-f", f, "--lab", lab)
			rep := probeOf(t, lab)
			assert.Zero(t, rep.Differences, "the evaluator and the packets agree on all 324 cells")
			assert.Equal(t, c.expect, observed(t, rep, c.port, c.proto), "the e2e suite's truth table on %d/%s", c.port, c.proto)
			labtest.MustRun(t, "delete", "-f", f, "--lab", lab)
			for _, node := range []string{"node1", "node2"} {
				out, err := exec.Command("ip", "netns", "exec", lab+"-"+node, "iptables-save", "-t", "filter").CombinedOutput()
				require.NoError(t, err, string(out))
				assert.NotContains(t, string(out), "KUBE-NWPLCY-", "the policy's chain went with it on %s", node)
				assert.NotContains(t, string(out), "KUBE-POD-FW-", "no pod is selected on %s", node)
				sets, err := exec.Command("ip", "netns", "exec", lab+"-"+node, "ipset", "list", "-n").CombinedOutput()
				require.NoError(t, err, string(sets))
				assert.Empty(t, strings.TrimSpace(string(sets)), "its ipsets went with it on %s", node)
			}
		})
	}

	// A rule taken out by hand: the packets no longer do what the
	// policies say, and the probe says where.
	t.Run("a broken rule is a difference", func(t *testing.T) {
		f := filepath.Join(dir, "allow-b.yaml")
		require.NoError(t, os.WriteFile(f, []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-b, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}
`), 0o644))
		labtest.MustRun(t, "apply", "-f", f, "--lab", lab)
		var node, xa string
		for _, p := range getPodsNS(t, lab, "x") {
			if p.Name == "a" {
				node, xa = p.Node, p.IP
			}
		}
		// trace names the policy's rule that let x/b in, and the pod
		// chain's REJECT that kept x/c out; a real packet confirms both.
		notes := func(d traceDoc) string {
			var b strings.Builder
			for _, h := range d.Hops {
				b.WriteString(h.Note + "\n" + h.Filter + "\n")
			}
			return b.String()
		}
		doc := runTrace(t, "--lab", lab, "x/b", xa, "--port", "80")
		assert.Equal(t, "delivered", doc.Outcome)
		assert.True(t, doc.Confirmed, "%v", doc.Disagreements)
		assert.Contains(t, notes(doc), "NetworkPolicy allows it: ")
		assert.Contains(t, notes(doc), "ingress rule 0 of x/allow-b")
		doc = runTrace(t, "--lab", lab, "x/c", xa, "--port", "80")
		assert.Equal(t, "dropped", doc.Outcome)
		assert.True(t, doc.Confirmed, "%v", doc.Disagreements)
		assert.Contains(t, notes(doc), "NetworkPolicy denies it")
		assert.Contains(t, notes(doc), "rule to REJECT traffic destined for POD name:a namespace: x")
		r := labtest.Run(t, "trace", "--lab", lab, "a", xa)
		assert.Equal(t, 2, r.Code)
		assert.Contains(t, r.Stderr, "say which as NAMESPACE/NAME")
		chain := kube.PolicyChain("x", "allow-b", "IPv4")
		out, err := exec.Command("ip", "netns", "exec", lab+"-"+node, "iptables", "-F", chain).CombinedOutput()
		require.NoError(t, err, string(out))
		r = labtest.Run(t, "netpol", "probe", "--lab", lab)
		assert.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
		assert.Contains(t, r.Stdout, "x/b -> x/a 80/TCP: expected allowed, observed denied (connection refused)")
		labtest.MustRun(t, "delete", "-f", f, "--lab", lab)
	})
}

// getPodsNS is getPods of namespace ns.
func getPodsNS(t *testing.T, lab, ns string) []kubePod {
	t.Helper()
	return podsOf(t, labtest.MustRun(t, "get", "pods", "-n", ns, "-o", "json", "--lab", lab).Stdout)
}

// TestNetworkPolicyRefusals: what the API server refuses is refused, and
// nothing changes: the default namespace is not deleted; a pod of the
// user's named x/a is not the probe's, so the probe stops before it makes
// anything; a list of namespaces to delete with one missing deletes none.
// --show-labels shows the labels selectors match.
func TestNetworkPolicyRefusals(t *testing.T) {
	labtest.Root(t)
	lab := labtest.NewLab(t, "nr")
	labtest.MustRun(t, "overlay-mode", "--lab", lab, "--nodes", "1")
	mine := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(mine, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: mine}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: mine}}
spec: {containers: [{name: web, image: "netlab/web:mine", ports: [{containerPort: 8080}]}]}
`), 0o644))
	labtest.MustRun(t, "apply", "--lab", lab, "-f", mine)
	// The NAME column: AGE moves on.
	namespaces := func() string {
		var names []string
		for _, l := range strings.Split(labtest.MustRun(t, "get", "namespaces", "--lab", lab).Stdout, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				names = append(names, f[0])
			}
		}
		return strings.Join(names, " ") + " "
	}
	before := namespaces()

	r := labtest.Run(t, "delete", "namespace", "default", "--lab", lab)
	assert.Equal(t, 2, r.Code, "refused as bad input: %s", r.Stdout)
	assert.Contains(t, r.Stderr, `namespaces "default" is forbidden: this namespace may not be deleted (nothing deleted)`)

	r = labtest.Run(t, "netpol", "probe", "--lab", lab)
	assert.Equal(t, 2, r.Code, "refused as bad input: %s", r.Stdout)
	assert.Contains(t, r.Stderr, "pod x/a is not the probe's (it serves other ports, or has other labels): delete it ('netlab delete pod a -n x'), or the namespace, and probe again")
	assert.Equal(t, before, namespaces(), "no namespace y or z made")
	pods := getPodsNS(t, lab, "x")
	require.Len(t, pods, 1, "x/a is still the user's")

	r = labtest.Run(t, "delete", "namespace", "x", "nope", "--lab", lab)
	assert.Equal(t, 2, r.Code, "refused as bad input: %s", r.Stdout)
	assert.Contains(t, r.Stderr, `namespaces "nope" not found (nothing deleted)`)
	assert.Equal(t, before, namespaces())

	out := labtest.MustRun(t, "get", "pods", "-n", "x", "-o", "wide", "--show-labels", "--lab", lab).Stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	assert.Regexp(t, `^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+LABELS$`, lines[0], "kubectl's order: -o wide's columns, then LABELS")
	assert.Regexp(t, `^a\s.*\snode1\s+app=mine$`, lines[1])
	out = labtest.MustRun(t, "get", "ns", "x", "--show-labels", "--lab", lab).Stdout
	assert.Regexp(t, `x\s+Active\s+\S+\s+kubernetes\.io/metadata\.name=x,team=mine\n`, out)

	other := filepath.Join(t.TempDir(), "y.yaml")
	require.NoError(t, os.WriteFile(other, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: \"y\"}\n"), 0o644))
	labtest.MustRun(t, "apply", "--lab", lab, "-f", other)
	r = labtest.MustRun(t, "delete", "namespace", "x", "y", "--lab", lab)
	assert.Equal(t, "namespace \"x\" deleted\nnamespace \"y\" deleted\n", r.Stdout, "as kubectl says it, a line each")
	assert.Empty(t, getPodsNS(t, lab, "x"))
	assert.NotContains(t, namespaces(), " x ")
}

// TestNetworkPolicyFollowsPods: the rules follow the cluster as it changes,
// as a real node's policy controller does. A Deployment scaled up: its new
// pods are let in where the policy lets app: web in (their addresses join
// the set the rule names), and scaled down, the addresses of the pods
// gone leave it. A namespace given a label a policy selects: its pods get
// in; the label taken off, they are refused again. A pod relabelled out
// of a policy's selector is open, and back in, closed. On host-gw.
func TestNetworkPolicyFollowsPods(t *testing.T) {
	labtest.Root(t)
	lab := labtest.NewLab(t, "nf")
	// host-gw: the pods of the other node come routed, not in VXLAN, and
	// are filtered all the same (TestNetworkPolicyProbe runs on VXLAN).
	labtest.MustRun(t, "overlay-mode", "--lab", lab, "--pods", "1", "--backend", "host-gw")
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, []byte(text), 0o644))
		return f
	}
	qa := func(labels string) string {
		return write("qa.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: qa, labels: "+labels+"}\n")
	}
	labtest.MustRun(t, "apply", "--lab", lab, "-f", qa("{team: qa}"), "-f", write("shop.yaml", `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "netlab/web:web"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: db, image: "netlab/web:db", ports: [{containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: tester, namespace: qa, labels: {app: tester}}
spec: {containers: [{name: t, image: "netlab/web:tester"}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {matchLabels: {team: friends}}}]
    ports: [{port: 5432}]
`))
	var db netip.AddrPort
	for _, p := range getPodsNS(t, lab, "shop") {
		if p.Name == "db" {
			db = netip.AddrPortFrom(netip.MustParseAddr(p.IP), 5432)
		}
	}
	require.True(t, db.IsValid())
	reaches := func(ns netops.NS) bool {
		c, err := who.Dial(ns, db, 2*time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	webPods := func() map[string]kubePod {
		out := map[string]kubePod{}
		for _, p := range getPodsNS(t, lab, "shop") {
			if strings.HasPrefix(p.Name, "web-") {
				out[p.Name] = p
			}
		}
		return out
	}
	tester := getPodsNS(t, lab, "qa")[0]
	require.Len(t, webPods(), 1)
	for _, p := range webPods() {
		assert.True(t, reaches(p.NS), "%s (app: web) reaches db", p.Name)
	}
	assert.False(t, reaches(tester.NS), "qa/tester is refused: qa is not team: friends")

	labtest.MustRun(t, "scale", "deployment/web", "--replicas", "3", "-n", "shop", "--lab", lab)
	before := webPods()
	require.Len(t, before, 3)
	for _, p := range before {
		assert.True(t, reaches(p.NS), "%s, new or not, reaches db", p.Name)
	}
	labtest.MustRun(t, "scale", "deployment/web", "--replicas", "1", "-n", "shop", "--lab", lab)
	after := webPods()
	require.Len(t, after, 1)
	var sets strings.Builder
	for _, node := range []string{"node1", "node2"} {
		out, err := exec.Command("ip", "netns", "exec", lab+"-"+node, "ipset", "save").CombinedOutput()
		require.NoError(t, err, string(out))
		sets.Write(out)
	}
	for name, p := range before {
		if _, kept := after[name]; kept {
			assert.Contains(t, sets.String(), " "+p.IP+"\n", "%s's address stays in the set of app: web", name)
		} else {
			assert.NotContains(t, sets.String(), " "+p.IP+"\n", "%s is gone: its address left every set", name)
		}
	}

	labtest.MustRun(t, "apply", "--lab", lab, "-f", qa("{team: friends}"))
	assert.True(t, reaches(tester.NS), "qa is team: friends now: its pods get in")
	labtest.MustRun(t, "apply", "--lab", lab, "-f", qa("{team: qa}"))
	assert.False(t, reaches(tester.NS), "the label taken off, they are refused again")

	// A pod's own labels change, as kubectl apply changes them: db-ingress
	// no longer selects db, which is open to all; labelled back, closed.
	db2 := func(labels string) string {
		return write("db.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: shop, labels: "+labels+"}\n"+
			"spec: {containers: [{name: db, image: \"netlab/web:db\", ports: [{containerPort: 5432}]}]}\n")
	}
	r := labtest.MustRun(t, "apply", "--lab", lab, "-f", db2("{app: db-v2}"))
	assert.Contains(t, r.Stdout, "pod/db configured")
	assert.True(t, reaches(tester.NS), "no policy selects db now")
	labtest.MustRun(t, "apply", "--lab", lab, "-f", db2("{app: db}"))
	assert.False(t, reaches(tester.NS), "selected again")
}
