package bench

import (
	"sort"
	"testing"
	"time"

	"netlab/internal/labtest"
)

// BenchmarkVerbs times the side-by-side verbs as a teacher runs them live,
// on the default labs (docker and overlay, built first): compare without
// its throughput row, and trace of a cross-node pod packet. Metrics are the
// median and the slowest of five runs, in seconds; the goals on a 2-core VM
// are compare under 3 s and trace under 1 s.
func BenchmarkVerbs(b *testing.B) {
	labtest.Root(b)
	settle()
	d, o := labtest.NewLab(b, "vd"), labtest.NewLab(b, "vo")
	labtest.MustRun(b, "docker-mode", "--lab", d)
	labtest.MustRun(b, "overlay-mode", "--lab", o)
	for i := 0; i < b.N; i++ {
		report(b, "compare", 5, "compare", "--docker-lab", d, "--overlay-lab", o, "--quick", "--json")
		report(b, "trace", 5, "trace", "--lab", o, "pod1", "pod3", "--json")
	}
}

// report runs netlab args n times and reports the median and slowest.
func report(b *testing.B, metric string, n int, args ...string) {
	b.Helper()
	var ts []time.Duration
	for range n {
		ts = append(ts, timed(b, args...))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	b.ReportMetric(ts[n/2].Seconds(), metric+"-s")
	b.ReportMetric(ts[n-1].Seconds(), metric+"-max-s")
}
