package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// BenchmarkNetworkPolicies measures NetworkPolicy on an overlay lab of 100
// pods (ten Deployments of ten): apply of 50 policies to their rules in
// place on both nodes (apply returns once every node's iptables-restore
// has loaded them), the rules and ipsets each node then holds, and the
// probe's 324 cells (goal under 10 s) with the 50 policies in place,
// first building its nine pods, then with them up.
func BenchmarkNetworkPolicies(b *testing.B) {
	labtest.Root(b)
	settle()
	name := labtest.NewLab(b, "np")
	labtest.MustRun(b, "overlay-mode", "--lab", name)
	dir := b.TempDir()
	var deploys, policies strings.Builder
	for i := range 10 {
		fmt.Fprintf(&deploys, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app%d}
spec:
  replicas: 10
  selector: {matchLabels: {app: app%d}}
  template:
    metadata: {labels: {app: app%d, tier: t%d}}
    spec: {containers: [{name: web, image: "netlab/web:app%d", ports: [{name: http, containerPort: 9376}]}]}
`, i, i, i, i%3, i)
	}
	// Three shapes, as policies come: ingress from another app by pod
	// selector on a named port, egress to a tier on a number, ingress
	// from an address block with an exception.
	for i := range 50 {
		var spec string
		switch i % 3 {
		case 0:
			spec = fmt.Sprintf(`{podSelector: {matchLabels: {app: app%d}}, ingress: [{from: [{podSelector: {matchLabels: {app: app%d}}}], ports: [{port: http}]}]}`, i%10, (i+1)%10)
		case 1:
			spec = fmt.Sprintf(`{podSelector: {matchLabels: {app: app%d}}, policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {tier: t%d}}}], ports: [{port: 9376, protocol: TCP}]}, {ports: [{port: 53, protocol: UDP}]}]}`, i%10, i%3)
		default:
			spec = fmt.Sprintf(`{podSelector: {matchLabels: {app: app%d}}, ingress: [{from: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.%d.0/24]}}]}]}`, i%10, 1+i%2)
		}
		fmt.Fprintf(&policies, "---\n{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p%d}, spec: %s}\n", i, spec)
	}
	dFile, pFile := filepath.Join(dir, "d.yaml"), filepath.Join(dir, "p.yaml")
	for f, text := range map[string]string{dFile: deploys.String(), pFile: policies.String()} {
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	labtest.MustRun(b, "apply", "--lab", name, "-f", dFile)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		labtest.MustRun(b, "apply", "--lab", name, "-f", pFile)
		b.ReportMetric(time.Since(start).Seconds(), "apply-50-s")
		for _, node := range []string{"node1", "node2"} {
			rules, chains := policyRules(b, netops.NS(name+"-"+node))
			if chains["KUBE-NWPLCY"] != 50 {
				b.Fatalf("%s: %d policy chains once apply returned, not 50", node, chains["KUBE-NWPLCY"])
			}
			b.ReportMetric(float64(rules), "rules-"+node)
			b.ReportMetric(float64(chains["KUBE-POD-FW"]), "podchains-"+node)
			sets, err := netops.IPSetSave(netops.NS(name + "-" + node))
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, l := range strings.Split(sets, "\n") {
				if strings.HasPrefix(l, "create ") {
					n++
				}
			}
			b.ReportMetric(float64(n), "ipsets-"+node)
		}
		for _, what := range []string{"probe-first-s", "probe-s"} {
			start = time.Now()
			r := labtest.Run(b, "netpol", "probe", "--lab", name, "--json")
			took := time.Since(start)
			var doc struct {
				Cells       []json.RawMessage `json:"cells"`
				Differences int               `json:"differences"`
			}
			if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &doc) != nil || len(doc.Cells) != 324 {
				b.Fatalf("probe: exit %d, %d cells: %s", r.Code, len(doc.Cells), r.Stderr)
			}
			b.ReportMetric(took.Seconds(), what)
		}
		labtest.MustRun(b, "delete", "--lab", name, "-f", pFile)
	}
}

// policyRules counts the NetworkPolicy rules of a node's filter table (the
// kube-router chains' and the jumps to them) and its chains by kind.
func policyRules(b *testing.B, ns netops.NS) (int, map[string]int) {
	save, err := netops.IPTablesSave(ns, "filter")
	if err != nil {
		b.Fatal(err)
	}
	rules, chains := 0, map[string]int{}
	for _, l := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(l, ":KUBE-NWPLCY-"):
			chains["KUBE-NWPLCY"]++
		case strings.HasPrefix(l, ":KUBE-POD-FW-"):
			chains["KUBE-POD-FW"]++
		case strings.HasPrefix(l, "-A ") && strings.Contains(l, "kube-router"):
			rules++
		}
	}
	return rules, chains
}
