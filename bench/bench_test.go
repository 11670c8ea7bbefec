// Package bench measures lab setup and teardown: netlab against the plain
// shell version in scripts/, at growing numbers of containers. Run it with
// 'sudo make bench', which prints the results as a table.
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"netlab/internal/labtest"
)

// settle waits for the kernel to finish freeing the namespaces of the last
// teardown (it does so in the background, in kernel workers), so that work
// does not slow the next run: until the CPUs are nine tenths idle for half a
// second, or 30 seconds have passed.
func settle() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		idle0, total0 := cpuTimes()
		time.Sleep(500 * time.Millisecond)
		idle1, total1 := cpuTimes()
		if total1 > total0 && float64(idle1-idle0)/float64(total1-total0) > 0.9 {
			return
		}
	}
}

// cpuTimes returns the idle and total jiffies of all CPUs from /proc/stat.
func cpuTimes() (idle, total uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	fields := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total
}

func timed(b *testing.B, args ...string) time.Duration {
	b.Helper()
	start := time.Now()
	labtest.MustRun(b, args...)
	return time.Since(start)
}

// upDown builds a lab with the mode verb and flags args (a fresh lab name
// added), takes it down, and waits for the kernel to settle: how long
// each took.
func upDown(b *testing.B, args ...string) (up, down time.Duration) {
	b.Helper()
	name := labtest.Name("b")
	up = timed(b, append(append([]string{}, args...), "--lab", name)...)
	down = timed(b, "down", "--lab", name)
	labtest.AssertGone(b, name)
	settle()
	return up, down
}

// podsTopology is a topology file of two nodes of n pods each, a /22 each
// (more than a /24 holds past 253).
func podsTopology(b *testing.B, n int) string {
	b.Helper()
	topo := filepath.Join(b.TempDir(), "topology.yaml")
	text := fmt.Sprintf("overlay: {subnet_len: 22}\nnodes:\n  - {name: node1, ip: 192.168.56.11, pods: %d}\n  - {name: node2, ip: 192.168.56.12, pods: %d}\n", n, n)
	if err := os.WriteFile(topo, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	return topo
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
	labtest.Binary(b) // build before the clock runs
	settle()
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			var up, down, shUp, shDown time.Duration
			for i := 0; i < b.N; i++ {
				u, d := upDown(b, "docker-mode", "--nodes", "1", "--containers", fmt.Sprint(n))
				up, down = up+u, down+d
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

// BenchmarkDockerNetworks: up and down of --nodes 1 --containers N on a
// user-defined network (--network app): each container also gets the
// embedded DNS's rules in its own namespace and Docker's resolv.conf, and
// the node a resolver with a socket in each. Against the default bridge's
// figures of BenchmarkDockerMode.
func BenchmarkDockerNetworks(b *testing.B) {
	labtest.Root(b)
	labtest.Binary(b)
	settle()
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			var up, down time.Duration
			for i := 0; i < b.N; i++ {
				u, d := upDown(b, "docker-mode", "--nodes", "1", "--containers", fmt.Sprint(n), "--network", "app")
				up, down = up+u, down+d
			}
			per := float64(b.N)
			b.ReportMetric(up.Seconds()/per, "up-s")
			b.ReportMetric(down.Seconds()/per, "down-s")
			b.ReportMetric(up.Seconds()*1000/per/float64(n), "ms/container")
		})
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
