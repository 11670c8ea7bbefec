// Package bench measures lab setup and teardown: netlab against the plain
// shell version in scripts/, at growing numbers of containers. Run it with
// 'sudo make bench', which prints the results as a table.
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"netlab/internal/labtest"
)

// settle waits for the kernel to finish freeing the namespaces of the last
// teardown (it does so in the background), so it does not slow the next run.
func settle() { time.Sleep(2 * time.Second) }

func timed(b *testing.B, args ...string) time.Duration {
	b.Helper()
	start := time.Now()
	labtest.MustRun(b, args...)
	return time.Since(start)
}

func timedShell(b *testing.B, args ...string) time.Duration {
	b.Helper()
	script, err := filepath.Abs("../scripts/docker-mode.sh")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command("bash", append([]string{script}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("docker-mode.sh %v: %v\n%s", args, err, out)
	}
	return time.Since(start)
}

// BenchmarkDockerMode: up and down of --nodes 1 --containers N, by netlab
// and by scripts/docker-mode.sh. Metrics are seconds per run.
func BenchmarkDockerMode(b *testing.B) {
	labtest.Root(b)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			var up, down, shUp, shDown time.Duration
			for i := 0; i < b.N; i++ {
				name := labtest.Name("b")
				up += timed(b, "docker-mode", "--lab", name, "--nodes", "1", "--containers", fmt.Sprint(n))
				down += timed(b, "down", "--lab", name)
				labtest.AssertGone(b, name)
				settle()
				sh := labtest.Name("s")
				shUp += timedShell(b, "up", sh, "1", fmt.Sprint(n))
				shDown += timedShell(b, "down", sh)
				labtest.AssertGone(b, sh)
				settle()
			}
			per := float64(b.N)
			b.ReportMetric(up.Seconds()/per, "up-s")
			b.ReportMetric(down.Seconds()/per, "down-s")
			b.ReportMetric(shUp.Seconds()/per, "sh-up-s")
			b.ReportMetric(shDown.Seconds()/per, "sh-down-s")
			b.ReportMetric(up.Seconds()*1000/per/float64(n), "ms/container")
		})
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
