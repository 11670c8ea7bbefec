package bench

import (
	"fmt"
	"netlab/internal/labtest"
	"testing"
	"time"
)

// BenchmarkDualStack: up and down of each model IPv4-only and dual-stack
// (--ipv6), one after the other at the same size, so that their ratio is
// measured on the same machine at the same moment (the goal: dual-stack
// within 1.5x of IPv4-only). Docker: 1 node of N containers; Kubernetes:
// 2 nodes of N pods, each node a /22 (and a /64).
func BenchmarkDualStack(b *testing.B) {
	labtest.Root(b)
	labtest.Binary(b)
	settle()
	type size struct {
		mode string
		n    int
	}
	for _, sz := range []size{{"docker-mode", 10}, {"docker-mode", 100}, {"docker-mode", 1000}, {"overlay-mode", 100}, {"overlay-mode", 500}} {
		b.Run(fmt.Sprintf("%s/n=%d", sz.mode, sz.n), func(b *testing.B) {
			args := []string{sz.mode, "--nodes", "1", "--containers", fmt.Sprint(sz.n)}
			if sz.mode == "overlay-mode" {
				args = []string{sz.mode, "--topology", podsTopology(b, sz.n)}
			}
			var up, down, up6, down6 time.Duration
			for i := 0; i < b.N; i++ {
				u, d := upDown(b, args...)
				up, down = up+u, down+d
				u, d = upDown(b, append(args, "--ipv6")...)
				up6, down6 = up6+u, down6+d
			}
			per := float64(b.N)
			b.ReportMetric(up.Seconds()/per, "up-s")
			b.ReportMetric(down.Seconds()/per, "down-s")
			b.ReportMetric(up6.Seconds()/per, "up6-s")
			b.ReportMetric(down6.Seconds()/per, "down6-s")
			b.ReportMetric(up6.Seconds()/up.Seconds(), "up6/up")
		})
	}
}
