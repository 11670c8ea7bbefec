package bench

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/who"
)

// BenchmarkProxyModes measures kube-proxy's two modes with 1,000 Services
// (and one pod behind all of them, so that every connection takes the
// same way once rewritten), one sub-benchmark a
// mode: the apply of the 1,000 to their rules on both nodes; one more
// Service's apply (a sync of 1,001: kube-proxy's rule update); and the
// first-packet cost of a new connection from a pod: the median time of a
// TCP connect to the Service whose rule iptables' KUBE-SERVICES walks
// first, to the one it walks last, and straight to a pod (no Service).
// iptables walks KUBE-SERVICES rule by rule; nftables looks the
// ClusterIP, protocol and port up in one verdict map: the last Service
// costs it what the first does.
func BenchmarkProxyModes(b *testing.B) {
	labtest.Root(b)
	// Names of one width (s0000..s0999), so that kube-proxy's order (by
	// name) is the number's: s0000 first, s0999 last.
	many := manyServices(1, 1000, "s%04d")
	dir := b.TempDir()
	file, one := filepath.Join(dir, "many.yaml"), filepath.Join(dir, "one.yaml")
	if err := os.WriteFile(file, []byte(many), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(one, []byte("{apiVersion: v1, kind: Service, metadata: {name: s1000}, spec: {selector: {app: many}, ports: [{port: 80, targetPort: 9376}]}}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"iptables", "nftables"} {
		b.Run(mode, func(b *testing.B) {
			settle()
			name := labtest.NewLab(b, "pm")
			labtest.MustRun(b, "overlay-mode", "--lab", name, "--pods", "1", "--proxy-mode", mode)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				labtest.MustRun(b, "apply", "--lab", name, "-f", file)
				b.ReportMetric(time.Since(start).Seconds(), "apply-1000-s")
				start = time.Now()
				labtest.MustRun(b, "apply", "--lab", name, "-f", one)
				b.ReportMetric(time.Since(start).Seconds(), "update-s")
				first, last := clusterIP(b, name, "s0000"), clusterIP(b, name, "s0999")
				pod := podIP(b, name)
				from := netops.NS(name + "-pod1")
				var tf, tl, tp []time.Duration
				connect := func(to netip.AddrPort) time.Duration {
					start := time.Now()
					c, err := who.Dial(from, to, 5*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					took := time.Since(start)
					_ = c.Close()
					return took
				}
				for range 300 {
					tl = append(tl, connect(netip.AddrPortFrom(last, 80)))
					tf = append(tf, connect(netip.AddrPortFrom(first, 80)))
					tp = append(tp, connect(netip.AddrPortFrom(pod, 9376)))
				}
				b.ReportMetric(float64(median(tf).Microseconds()), "first-us")
				b.ReportMetric(float64(median(tl).Microseconds()), "last-us")
				b.ReportMetric(float64(median(tp).Microseconds()), "pod-us")
				labtest.MustRun(b, "delete", "--lab", name, "-f", file, "-f", one)
			}
		})
	}
}

func clusterIP(b *testing.B, lab, svc string) netip.Addr {
	var s struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(labtest.MustRun(b, "get", "services", svc, "-o", "json", "--lab", lab).Stdout), &s); err != nil {
		b.Fatal(err)
	}
	return netip.MustParseAddr(s.Spec.ClusterIP)
}

// podIP is the address of the lab's one applied pod.
func podIP(b *testing.B, lab string) netip.Addr {
	ips := podIPs(b, lab)
	if len(ips) != 1 {
		b.Fatalf("%d pods, not 1", len(ips))
	}
	return ips[0]
}

// podIPs are the addresses of the lab's applied pods, as get pods lists them.
func podIPs(b *testing.B, lab string) []netip.Addr {
	var pods struct {
		Items []struct {
			Status struct {
				PodIP string `json:"podIP"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(labtest.MustRun(b, "get", "pods", "-o", "json", "--lab", lab).Stdout), &pods); err != nil {
		b.Fatal(err)
	}
	var out []netip.Addr
	for _, p := range pods.Items {
		out = append(out, netip.MustParseAddr(p.Status.PodIP))
	}
	return out
}
