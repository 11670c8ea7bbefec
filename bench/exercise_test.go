package bench

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"netlab/internal/labtest"
)

// BenchmarkExerciseCheck times 'netlab exercise check N' for every
// exercise, broken (as started) and fixed (after its reference fix), in
// seconds. The goal on a 2-core VM: a fixed lab checks in under 2 s; a
// broken one waits for the probes that get no answer.
func BenchmarkExerciseCheck(b *testing.B) {
	labtest.Root(b)
	b.Setenv("NETLAB_EXERCISE_PREFIX", labtest.Name("b"))
	for n := 1; n <= 13; n++ {
		for i := 0; i < b.N; i++ {
			labtest.MustRun(b, "exercise", "start", fmt.Sprint(n))
			broken := timedCheck(b, n, 1)
			out := labtest.MustRun(b, "exercise", "solution", fmt.Sprint(n), "--yes").Stdout
			for _, l := range strings.Split(out, "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "sudo ") {
					if o, err := exec.Command("bash", "-c", strings.TrimPrefix(l, "sudo ")).CombinedOutput(); err != nil {
						b.Fatalf("%s: %v: %s", l, err, o)
					}
				}
			}
			fixed := timedCheck(b, n, 0)
			labtest.MustRun(b, "exercise", "stop", fmt.Sprint(n))
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) == 5 && f[1] == "ip" && f[2] == "netns" && f[3] == "add" {
					_ = exec.Command("ip", "netns", "del", f[4]).Run()
				}
			}
			b.ReportMetric(broken.Seconds(), fmt.Sprintf("ex%d-broken-s", n))
			b.ReportMetric(fixed.Seconds(), fmt.Sprintf("ex%d-fixed-s", n))
		}
	}
}

// timedCheck times one check, which must exit want (1: not solved, 0:
// solved).
func timedCheck(b *testing.B, n, want int) time.Duration {
	start := time.Now()
	r := labtest.Run(b, "exercise", "check", fmt.Sprint(n))
	took := time.Since(start)
	if r.Code != want {
		b.Fatalf("exercise check %d: exit %d, want %d\n%s%s", n, r.Code, want, r.Stdout, r.Stderr)
	}
	return took
}
