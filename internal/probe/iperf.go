package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"netlab/internal/netops"
)

// IPerf is what one iperf3 test reports (its -J output): the bytes and
// rate received, or why there was none.
type IPerf struct {
	Error string `json:"error"`
	End   struct {
		Received struct {
			Seconds float64 `json:"seconds"`
			Bytes   float64 `json:"bytes"`
			BPS     float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
}

// IPerf3 runs one iperf3 test from srcNS to dst:port, its server (for
// that one test) in dstNS, with the client's extra arguments (-t 1, -n 2M,
// -R ...), until ctx ends. A test that transferred nothing says why in
// Error.
func IPerf3(ctx context.Context, srcNS, dstNS netops.NS, dst netip.Addr, port int, client ...string) IPerf {
	p := fmt.Sprint(port)
	sargv := Command(dstNS, "iperf3", "-s", "-1", "-B", dst.String(), "-p", p)
	srv := exec.CommandContext(ctx, sargv[0], sargv[1:]...)
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		return IPerf{Error: "iperf3 server: " + err.Error()}
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	argv := Command(srcNS, append([]string{"iperf3", "-c", dst.String(), "-p", p, "-J", "--connect-timeout", "500"}, client...)...)
	var r IPerf
	for try := 0; ; try++ {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, _ := cmd.Output()
		r = IPerf{}
		if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
			r.Error = "no result (" + strings.TrimSpace(string(out)) + ")"
		}
		// iperf3 -J exits 0 even when it could not connect: its JSON
		// says so. Until the server listens, try again; a refused
		// connection does not end the server's one test.
		if !strings.Contains(r.Error, "unable to connect") || try == 40 || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Error != "" && srvOut.Len() > 0 {
		r.Error += " (server: " + strings.TrimSpace(srvOut.String()) + ")"
	}
	return r
}
