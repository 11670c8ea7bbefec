package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"netlab/internal/labtest"
	"netlab/internal/netops"
	"netlab/internal/probe"
)

// BenchmarkWeb measures netlab web as a workshop runs it, a real server
// process with a page (an event-stream client) connected: its CPU, in % of
// one core, over 10 s with the default labs up (goal: under 5%), then with
// a lab of 1,000+ links, whose snapshots must still arrive every second.
func BenchmarkWeb(b *testing.B) {
	labtest.Root(b)
	settle()
	d, o := labtest.NewLab(b, "wd"), labtest.NewLab(b, "wo")
	labtest.MustRun(b, "docker-mode", "--lab", d)
	labtest.MustRun(b, "overlay-mode", "--lab", o)
	for i := 0; i < b.N; i++ {
		cpu, events, links := webCost(b, 10*time.Second)
		b.ReportMetric(cpu, "cpu-%")
		b.ReportMetric(events, "events/s")
		b.ReportMetric(float64(links), "links")
		big := labtest.NewLab(b, "wb")
		labtest.MustRun(b, "overlay-mode", "--lab", big, "--pods", "250")
		b.ReportMetric(float64(reachable(b, big)), "answered-of-500")
		cpu, events, links = webCost(b, 10*time.Second)
		b.ReportMetric(cpu, "cpu-1000-%")
		b.ReportMetric(events, "events-1000/s")
		b.ReportMetric(float64(links), "links-1000")
		labtest.MustRun(b, "down", "--lab", big)
	}
}

// webCost runs netlab web, reads its event stream for d, and returns the
// server's CPU (% of one core), the snapshots a second that arrived, and
// the links in the last one.
func webCost(b *testing.B, d time.Duration) (float64, float64, int) {
	b.Helper()
	cmd, addr := startWeb(b)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	next := func() int {
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev struct{ Links []json.RawMessage }
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					b.Fatal(err)
				}
				return len(ev.Links)
			}
		}
		b.Fatalf("the event stream ended: %v", sc.Err())
		return 0
	}
	next() // the first snapshot: the server is warm
	cpu0, start := cpuTicks(b, cmd.Process.Pid), time.Now()
	events, links := 0, 0
	for time.Since(start) < d {
		links = next()
		events++
	}
	elapsed := time.Since(start).Seconds()
	used := float64(cpuTicks(b, cmd.Process.Pid)-cpu0) / 100 // USER_HZ
	return used / elapsed * 100, float64(events) / elapsed, links
}

// cpuTicks is the user and system time of a process and of its
// descendants, in clock ticks (netlab runs under a supervising parent of
// its own, netlab_pod.c's: the server is its child).
func cpuTicks(b *testing.B, pid int) int64 {
	stat := func(pid int) []string {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil
		}
		return strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	}
	f := stat(pid)
	if f == nil {
		b.Fatalf("process %d is gone", pid)
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	total := u + s
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cf := stat(child); cf != nil && cf[1] == strconv.Itoa(pid) {
			total += cpuTicks(b, child)
		}
	}
	return total
}

// BenchmarkWebIdleConnections: netlab web while a client holds 10,000
// idle connections (half after a request, half silent): the server's RSS
// and a normal client's latency (median of 20 requests, each on a new
// connection), against the same with none held.
func BenchmarkWebIdleConnections(b *testing.B) {
	labtest.Root(b)
	settle()
	for i := 0; i < b.N; i++ {
		cmd, addr := startWeb(b)
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		latency := func() time.Duration {
			var ts []time.Duration
			for range 20 {
				start := time.Now()
				resp, err := client.Get("http://" + addr + "/api/labs")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ts = append(ts, time.Since(start))
			}
			return median(ts)
		}
		b.ReportMetric(float64(latency().Microseconds())/1000, "calm-ms")
		b.ReportMetric(rssMiB(cmd.Process.Pid), "calm-rss-MiB")
		var held []net.Conn
		for j := range 10000 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("connection %d: %v", j, err)
			}
			held = append(held, c)
			if j%2 == 0 {
				_, _ = io.WriteString(c, "GET /static/app.js HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
			}
		}
		b.ReportMetric(float64(latency().Microseconds())/1000, "siege-ms")
		b.ReportMetric(rssMiB(cmd.Process.Pid), "siege-rss-MiB")
		for _, c := range held {
			c.Close()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// reachable pings every pod of lab from its node and returns how many
// answered; every one must. A ping takes two entries of the kernel's
// neighbour table, one for the whole machine (gc_thresh3, 1024 by
// default), so the pods are pinged a hundred at a time and the lab's own
// entries flushed between (in the lab's namespaces: the machine's setting
// is left alone).
func reachable(b *testing.B, name string) int {
	b.Helper()
	var st struct {
		Nodes     []struct{ Name, Netns string }
		Workloads []struct{ Name, Node, Netns, IP string }
	}
	if err := json.Unmarshal([]byte(labtest.MustRun(b, "status", "--json", "--lab", name).Stdout), &st); err != nil {
		b.Fatal(err)
	}
	nodeNS := map[string]netops.NS{}
	for _, nd := range st.Nodes {
		nodeNS[nd.Name] = netops.NS(nd.Netns)
	}
	flush := func(nss ...string) {
		for _, ns := range nss {
			_ = exec.Command("ip", "-n", ns, "neigh", "flush", "all").Run()
		}
	}
	answered := 0
	var batch []string
	for i, w := range st.Workloads {
		if r, err := probe.Ping(nodeNS[w.Node], w.IP, 1, 2*time.Second); err == nil && r.Received == 1 {
			answered++
		} else {
			b.Errorf("%s (%s) did not answer its node: %v", w.Name, w.IP, err)
		}
		batch = append(batch, w.Netns)
		if len(batch) == 100 || i == len(st.Workloads)-1 {
			for _, nd := range st.Nodes {
				flush(nd.Netns)
			}
			flush(batch...)
			batch = batch[:0]
		}
	}
	return answered
}

// startWeb starts netlab web on a port of the kernel's choosing, and
// returns it and the address it printed.
func startWeb(b *testing.B) (*exec.Cmd, string) {
	b.Helper()
	cmd := exec.Command(labtest.Binary(b), "web", "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`http://(\S+)/\?token=`).FindStringSubmatch(line)
	if m == nil {
		b.Fatalf("netlab web printed %q", line)
	}
	return cmd, m[1]
}

// rssMiB is the resident memory of a process and its children, in MiB
// (netlab runs its Go program under a small supervisor).
func rssMiB(pid int) float64 {
	total := rssOf(pid)
	kids, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	for _, k := range strings.Fields(string(kids)) {
		if n, err := strconv.Atoi(k); err == nil {
			total += rssMiB(n)
		}
	}
	return total
}

func rssOf(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
