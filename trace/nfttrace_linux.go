package trace

// nftables' own tracing, to confirm a walk through nftables rules with
// the real packet: its rules keep no counters (kube-proxy writes none),
// so a namespace whose native tables the walk crossed gets a table of its
// own for the time of the packet, netlab-trace, whose chains (at priority
// -150: after conntrack, which ct state needs, before kube-proxy's at
// -110 and NAT's at -100) set `meta nftrace` on the packet as the walk
// has it there, and `nft monitor trace` says, rule by rule, what
// the kernel did with it.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"netlab/internal/api"
	"netlab/internal/names"
	"netlab/internal/netops"
)

// TraceTable is the table a trace adds for the time of its real packet.
const TraceTable = names.TraceTable

// nftTracer is `nft monitor` in one namespace, with the trace table in.
type nftTracer struct {
	ns     netops.NS
	family string
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	ready  chan struct{}
	done   chan struct{}
}

// startNFTTraces starts a tracer in every namespace of hops whose native
// nftables tables the walk met, matching the packet as the walk has it
// there (new connections only: NAT rules see nothing else).
func (w *world) startNFTTraces(hops []api.Hop) []*nftTracer {
	var out []*nftTracer
	seen := map[string]bool{}
	for _, h := range hops {
		if seen[h.Namespace] {
			continue
		}
		seen[h.Namespace] = true
		v, err := w.view(netops.NS(h.Namespace))
		if err != nil {
			continue
		}
		if n, _ := v.nfts(); n == nil {
			continue
		}
		match := traceMatch(h.Packet, w.nftFamily())
		if match == "" {
			continue
		}
		t, err := startNFTTrace(v.ns, w.nftFamily(), match, w.s.Lab)
		if err != nil {
			continue
		}
		out = append(out, t)
	}
	return out
}

// traceMatch is the nft match of a packet as describe() writes it:
// "10.244.1.2 → 10.96.0.11:80 tcp".
func traceMatch(desc, family string) string {
	src, rest, ok := strings.Cut(desc, " → ")
	f := strings.Fields(rest)
	if !ok || len(f) != 2 {
		return ""
	}
	m := ""
	if s := hostOf(strings.TrimSpace(src)); !strings.HasPrefix(s, "(") {
		m += fmt.Sprintf("%s saddr %s ", family, s)
	}
	m += fmt.Sprintf("%s daddr %s meta l4proto %s ", family, hostOf(f[0]), f[1])
	if f[1] == "tcp" || f[1] == "udp" {
		if _, port, ok := strings.Cut(strings.TrimPrefix(f[0], "["+hostOf(f[0])+"]"), ":"); ok {
			m += "th dport " + port + " "
		}
	}
	return m + "ct state new"
}

// startNFTTrace starts `nft monitor` in ns, then adds the trace table and
// waits until the monitor has seen it: from then on, it sees the trace.
func startNFTTrace(ns netops.NS, family, match, lab string) (*nftTracer, error) {
	argv := []string{"nft", "monitor"}
	if ns != netops.Host {
		argv = append([]string{"ip", "netns", "exec", string(ns)}, argv...)
	}
	t := &nftTracer{ns: ns, family: family, cmd: exec.Command(argv[0], argv[1:]...), ready: make(chan struct{}), done: make(chan struct{})}
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	table := family + " " + TraceTable
	go func() {
		defer close(t.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		readied := false
		for sc.Scan() {
			l := sc.Text()
			t.mu.Lock()
			t.lines = append(t.lines, l)
			t.mu.Unlock()
			if !readied && strings.HasPrefix(l, "add table "+table) {
				readied = true
				close(t.ready)
			}
			if readied && strings.HasPrefix(l, "delete table "+table) {
				return // (a delete before it was ready is startNFTTrace's retry)
			}
		}
	}()
	var lines []string
	lines = append(lines, fmt.Sprintf(`add table %s { comment "netlab trace (%s)" ; }`, table, names.RuleMarker(lab)))
	for _, hook := range []string{"prerouting", "output"} {
		lines = append(lines,
			fmt.Sprintf("add chain %s %s { type filter hook %s priority -150 ; }", table, hook, hook),
			fmt.Sprintf("add rule %s %s %s meta nftrace set 1", table, hook, match))
	}
	// The monitor may not listen yet when the table comes: add it again
	// (a new chain each time, which the monitor sees) until it says so.
	for i := 0; ; i++ {
		if err := runNFT(ns, lines); err != nil {
			t.stop()
			return nil, err
		}
		select {
		case <-t.ready:
			return t, nil
		case <-time.After(100 * time.Millisecond):
		}
		if i == 20 {
			t.stop()
			return nil, fmt.Errorf("nft monitor in %s did not start", ns)
		}
		_ = runNFT(ns, []string{"delete table " + table})
	}
}

// stop removes the trace table, waits for the monitor to see that (every
// trace event before it has been printed by then), and returns the
// trace's lines of nftables' verdicts: "ip kube-proxy services rule …
// (verdict goto …)".
func (t *nftTracer) stop() []string {
	_ = runNFT(t.ns, []string{"delete table " + t.family + " " + TraceTable})
	select {
	case <-t.done:
	case <-time.After(2 * time.Second):
	}
	_ = t.cmd.Process.Kill()
	_ = t.cmd.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range t.lines {
		if rest, ok := strings.CutPrefix(l, "trace id "); ok {
			if _, ev, ok := strings.Cut(rest, " "); ok {
				out = append(out, ev)
			}
		}
	}
	return out
}

// runNFT loads lines as one nft transaction in ns, through the ops layer.
func runNFT(ns netops.NS, lines []string) error {
	r := netops.NewRunner(netops.Apply, io.Discard)
	defer r.Close()
	return r.Run(context.Background(), []netops.Op{netops.NFT{NS: ns, Lines: lines}})
}

// stopNFTTraces stops the tracers and returns their lines by namespace.
func stopNFTTraces(ts []*nftTracer) map[string][]string {
	out := map[string][]string{}
	for _, t := range ts {
		out[string(t.ns)] = t.stop()
	}
	return out
}

// nftTraced says whether the trace shows rule (as the walk names it,
// "chain NAME: TEXT") of table ("ip kube-proxy") taking the packet.
func nftTraced(lines []string, table, rule string) bool {
	chain, text, ok := strings.Cut(strings.TrimPrefix(rule, "chain "), ": ")
	if !ok {
		return false
	}
	want := fmt.Sprintf("%s %s rule %s (verdict ", table, chain, text)
	for _, l := range lines {
		if strings.HasPrefix(l, want) {
			return true
		}
	}
	return false
}
