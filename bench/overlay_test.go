package bench

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"netlab/internal/labtest"
)

// BenchmarkOverlayMode: up and down of 2 nodes with N pods each (two
// processes per pod). 500 pods need more than a /24 per node, so the
// topology gives each node a /22.
func BenchmarkOverlayMode(b *testing.B) {
	labtest.Root(b)
	labtest.Binary(b)
	settle()
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("pods=2x%d", n), func(b *testing.B) {
			topo := podsTopology(b, n)
			var up, down time.Duration
			for i := 0; i < b.N; i++ {
				u, d := upDown(b, "overlay-mode", "--topology", topo)
				up, down = up+u, down+d
			}
			per := float64(b.N)
			b.ReportMetric(up.Seconds()/per, "up-s")
			b.ReportMetric(down.Seconds()/per, "down-s")
			b.ReportMetric(up.Seconds()*1000/per/float64(2*n), "ms/pod")
		})
	}
}

// iperf runs an iperf3 server in serverNS and a 3-second TCP test to addr
// from clientNS, and returns the received bits per second.
func iperf(b *testing.B, serverNS, clientNS, addr string) float64 {
	b.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		if bps := iperfOnce(b, serverNS, clientNS, addr); bps > 0 {
			return bps
		}
	}
	b.Fatalf("iperf3 %s -> %s: no throughput in three attempts", clientNS, addr)
	return 0
}

func iperfOnce(b *testing.B, serverNS, clientNS, addr string) float64 {
	b.Helper()
	srv := exec.Command("ip", "netns", "exec", serverNS, "iperf3", "-s", "-1", "-p", "5201")
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	// Wait until the server listens, so the client's first try counts.
	for try := 0; try < 100; try++ {
		out, _ := exec.Command("ip", "netns", "exec", serverNS, "ss", "-Hltn", "sport", "= :5201").Output()
		if len(out) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := exec.Command("ip", "netns", "exec", clientNS, "iperf3", "-c", addr, "-p", "5201", "-t", "3", "-J").Output()
	if err != nil {
		b.Logf("iperf3 %s -> %s: %v", clientNS, addr, err)
		return 0
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatal(err)
	}
	return res.End.SumReceived.BitsPerSecond
}

var rttRE = regexp.MustCompile(`= [\d.]+/([\d.]+)/`)

// rtt returns the mean round trip of 50 quick pings, in microseconds.
func rtt(b *testing.B, ns, addr string) float64 {
	b.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-q", "-n", "-c", "50", "-i", "0.01", addr).Output()
	m := rttRE.FindSubmatch(out)
	if err != nil || m == nil {
		b.Fatalf("ping %s from %s: %v\n%s", addr, ns, err, out)
	}
	ms, _ := strconv.ParseFloat(string(m[1]), 64)
	return ms * 1000
}

var ipLenRE = regexp.MustCompile(`IP \(tos [^\n]*, length (\d+)\)`)

// vxlanOverhead captures one ping on the node's underlay interface and
// returns the outer IP packet's length less the inner one's: what VXLAN
// adds to every packet on the wire (tcpdump -v prints both headers).
func vxlanOverhead(b *testing.B, nodeNS, podNS, dst string) float64 {
	b.Helper()
	cap := exec.Command("ip", "netns", "exec", nodeNS, "timeout", "5", "tcpdump", "-l", "-n", "-v", "-i", "eth1", "-c", "1", "-T", "vxlan", "udp", "port", "8472")
	var out strings.Builder
	cap.Stdout = &out
	if err := cap.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // tcpdump opens its socket
	_ = exec.Command("ip", "netns", "exec", podNS, "ping", "-c", "1", "-s", "1000", dst).Run()
	_ = cap.Wait()
	m := ipLenRE.FindAllStringSubmatch(out.String(), -1)
	if len(m) < 2 {
		b.Fatalf("no VXLAN packet with both IP headers in:\n%s", out.String())
	}
	outer, _ := strconv.Atoi(m[0][1])
	inner, _ := strconv.Atoi(m[1][1])
	return float64(outer - inner)
}

// BenchmarkDataPlane measures TCP throughput (iperf3) and round trips on
// three paths of an overlay lab: pod to pod on one node (across cni0), pod
// to pod across nodes (VXLAN), and node to node on the raw underlay veth;
// and the bytes VXLAN adds to each packet, from a packet captured on the
// underlay.
func BenchmarkDataPlane(b *testing.B) {
	labtest.Root(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("iperf3 is not installed: make deps installs it")
	}
	settle()
	name := labtest.NewLab(b, "p")
	labtest.MustRun(b, "overlay-mode", "--lab", name)
	ns := func(s string) string { return name + "-" + s }
	for i := 0; i < b.N; i++ {
		same := iperf(b, ns("pod2"), ns("pod1"), "10.244.1.3")
		vxlan := iperf(b, ns("pod3"), ns("pod1"), "10.244.2.2")
		raw := iperf(b, ns("node2"), ns("node1"), "192.168.56.12")
		b.ReportMetric(same/1e9, "same-node-Gbps")
		b.ReportMetric(vxlan/1e9, "vxlan-Gbps")
		b.ReportMetric(raw/1e9, "underlay-Gbps")
		b.ReportMetric(vxlan/same, "vxlan/same")
		b.ReportMetric(rtt(b, ns("pod1"), "10.244.1.3"), "same-node-rtt-us")
		b.ReportMetric(rtt(b, ns("pod1"), "10.244.2.2"), "vxlan-rtt-us")
		b.ReportMetric(rtt(b, ns("node1"), "192.168.56.12"), "underlay-rtt-us")

		overhead := vxlanOverhead(b, ns("node1"), ns("pod1"), "10.244.2.2")
		b.ReportMetric(overhead, "overhead-B/pkt")
	}
}
