package bench

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/who"
)

// BenchmarkServices measures the seed's Service on an overlay lab: apply of
// a Deployment of 100 replicas and its Service, to every endpoint ready
// (goal under 2 s), and a request through the ClusterIP against one
// straight to a pod's address (goal: a latency ratio under 1.2).
func BenchmarkServices(b *testing.B) {
	labtest.Root(b)
	settle()
	name := labtest.NewLab(b, "s")
	labtest.MustRun(b, "overlay-mode", "--lab", name)
	dir := b.TempDir()
	deploy := filepath.Join(dir, "d.yaml")
	if err := os.WriteFile(deploy, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: myapp}
spec:
  replicas: 100
  selector: {matchLabels: {app: MyApp}}
  template:
    metadata: {labels: {app: MyApp}}
    spec: {containers: [{name: web, image: "netlab/web:red", ports: [{containerPort: 9376}]}]}
`), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		start := time.Now()
		labtest.MustRun(b, "apply", "--lab", name, "-f", deploy, "-f", "../examples/my-service.json")
		b.ReportMetric(time.Since(start).Seconds(), "apply-100-s")

		ips := podIPs(b, name)
		if len(ips) != 100 {
			b.Fatalf("%d pods, not 100", len(ips))
		}
		from := netops.NS(name + "-pod1")
		vip := netip.AddrPortFrom(clusterIP(b, name, "my-service"), 80)
		// Straight to the pods, each in turn: the same spread over the
		// nodes as the Service's random choice, without its rules.
		var direct []netip.AddrPort
		for _, ip := range ips {
			direct = append(direct, netip.AddrPortFrom(ip, 9376))
		}
		through, straight := latencies(b, from, vip, direct)
		b.ReportMetric(float64(through.Microseconds()), "clusterip-us")
		b.ReportMetric(float64(straight.Microseconds()), "podip-us")
		b.ReportMetric(float64(through)/float64(straight), "ratio")

		// A rolling update of the 100, with Kubernetes' defaults (25%
		// surge, 25% unavailable).
		start = time.Now()
		labtest.MustRun(b, "set", "image", "deployment/myapp", "web=netlab/web:green", "--lab", name)
		b.ReportMetric(time.Since(start).Seconds(), "rollout-100-s")
		labtest.MustRun(b, "delete", "--lab", name, "deployment", "myapp")
	}
}

// latencies are the median times of 400 requests from ns through vip and
// 400 straight to the pods (each in turn), interleaved one and one, so that
// both see the machine alike (a busy moment costs both, not one).
func latencies(b *testing.B, ns netops.NS, vip netip.AddrPort, pods []netip.AddrPort) (through, straight time.Duration) {
	var tv, tp []time.Duration
	ask := func(to netip.AddrPort) time.Duration {
		start := time.Now()
		if _, err := who.Ask(ns, to); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for i := range 400 {
		tv = append(tv, ask(vip))
		tp = append(tp, ask(pods[i%len(pods)]))
	}
	return median(tv), median(tp)
}

func median(ts []time.Duration) time.Duration {
	ts = slices.Clone(ts)
	slices.Sort(ts)
	return ts[len(ts)/2]
}

// BenchmarkManyObjects measures apply -f and delete -f of one file of
// 1,000 objects (990 Services and a Deployment of 10 pods with their
// Service): deleting them costs about what applying them does (goal:
// delete within twice apply), with the lab's lock held the whole time.
func BenchmarkManyObjects(b *testing.B) {
	labtest.Root(b)
	settle()
	name := labtest.NewLab(b, "m")
	labtest.MustRun(b, "overlay-mode", "--lab", name)
	file := filepath.Join(b.TempDir(), "many.yaml")
	if err := os.WriteFile(file, []byte(manyServices(10, 999, "s%d")), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		start := time.Now()
		labtest.MustRun(b, "apply", "--lab", name, "-f", file)
		b.ReportMetric(time.Since(start).Seconds(), "apply-1000-s")
		start = time.Now()
		r := labtest.MustRun(b, "delete", "--lab", name, "-f", file)
		b.ReportMetric(time.Since(start).Seconds(), "delete-1000-s")
		if n := strings.Count(r.Stdout, " deleted\n"); n != 1000 {
			b.Fatalf("%d objects deleted, not 1000", n)
		}
	}
}

// manyServices is a List of a Deployment "many" of replicas pods and n
// Services in front of it, named by nameFmt from their number.
func manyServices(replicas, n int, nameFmt string) string {
	var sb strings.Builder
	sb.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	fmt.Fprintf(&sb, "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: many}, spec: {replicas: %d, selector: {matchLabels: {app: many}}, "+
		"template: {metadata: {labels: {app: many}}, spec: {containers: [{name: web, image: 'netlab/web:red', ports: [{containerPort: 9376}]}]}}}}\n", replicas)
	for i := range n {
		fmt.Fprintf(&sb, "- {apiVersion: v1, kind: Service, metadata: {name: "+nameFmt+"}, spec: {selector: {app: many}, ports: [{port: 80, targetPort: 9376}]}}\n", i)
	}
	return sb.String()
}
