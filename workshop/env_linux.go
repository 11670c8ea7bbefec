package workshop

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/api"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/internal/who"
	"netlab/kube"
	"netlab/trace"
)

// Env is the running lab of an exercise, as its break and its checks see
// it: every name and address comes from the lab's own topology.
type Env struct {
	S    *state.State
	memo map[string]string
}

// Once computes what key names once per check: a hint that several
// criteria share costs its probes once.
func (e *Env) Once(key string, f func() string) string {
	if e.memo == nil {
		e.memo = map[string]string{}
	}
	if v, ok := e.memo[key]; ok {
		return v
	}
	v := f()
	e.memo[key] = v
	return v
}

// NS is the namespace of a workload, node or the outside host, or of a
// pod of netlab apply's named NAMESPACE/NAME.
func (e *Env) NS(name string) netops.NS {
	if ns, ok := e.S.Find(name); ok {
		return ns
	}
	if p, ok := e.Pod(name); ok {
		return p.NS
	}
	return ""
}

// Pod is the pod of netlab apply's called NAMESPACE/NAME, as the lab's
// store has it now.
func (e *Env) Pod(key string) (kube.Pod, bool) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return kube.Pod{}, false
	}
	st, err := kube.LoadStore(e.S.Lab)
	if err != nil {
		return kube.Pod{}, false
	}
	for _, p := range st.Pods {
		if p.Namespace == ns && p.Name == name {
			return p, true
		}
	}
	return kube.Pod{}, false
}

// W is a workload of the lab.
func (e *Env) W(name string) state.Workload {
	if w := e.S.Workload(name); w != nil {
		return *w
	}
	return state.Workload{Name: name}
}

// Node is a node of the lab.
func (e *Env) Node(name string) topo.Node {
	for _, n := range e.S.Topology.Nodes {
		if n.Name == name {
			return n
		}
	}
	return topo.Node{}
}

// Outside is the outside host.
func (e *Env) Outside() topo.Host { return *e.S.Topology.Outside }

// OutsideServer is the outside host's web server.
func (e *Env) OutsideServer() netip.AddrPort {
	return netip.AddrPortFrom(e.Outside().IP, 80)
}

// Server is a workload's web server.
func (e *Env) Server(name string) netip.AddrPort {
	w := e.W(name)
	return netip.AddrPortFrom(w.IP, uint16(w.Port))
}

// label names a sender with its address: "c1 172.17.0.2".
func (e *Env) label(name string) string { return e.labelIn(name, false) }

// labelIn is label with the sender's IPv6 address when v6 (in a dual-stack
// lab: what it sends from to an IPv6 address).
func (e *Env) labelIn(name string, v6 bool) string {
	pick := func(a, a6 netip.Addr) string {
		if v6 && a6.IsValid() {
			return name + " " + a6.String()
		}
		return name + " " + a.String()
	}
	if w := e.S.Workload(name); w != nil {
		return pick(w.IP, w.IP6)
	}
	for _, h := range e.S.Topology.Hosts() {
		if h.Name == name {
			return pick(h.IP, h.IP6)
		}
	}
	if p, ok := e.Pod(name); ok {
		return pick(p.IP, p.IP6)
	}
	return name
}

// Asked is one question to a web server and what came of it.
type Asked struct {
	Answer who.Answer
	Err    error
	Text   string
}

// askTimeout is how long a check waits for a connection: a lab answers in
// a millisecond, so half a second means it will not.
const askTimeout = 500 * time.Millisecond

// Ask asks the server at to, from name's namespace, who it is and whom it
// saw; Text says it with the real addresses.
func (e *Env) Ask(from string, to netip.AddrPort) Asked {
	var a Asked
	c, err := who.Dial(e.NS(from), to, askTimeout)
	if err == nil {
		a.Answer, err = who.AskConn(c, to.String())
		c.Close()
	}
	a.Err = err
	who := e.labelIn(from, to.Addr().Is6())
	if err != nil {
		a.Text = fmt.Sprintf("%s → %s: no answer (%s)", who, to, lastWords(err))
	} else {
		a.Text = fmt.Sprintf("%s → %s: %s answered, and saw %s", who, to, a.Answer.Name, a.Answer.Client)
	}
	return a
}

// Ping pings dst from name's namespace.
func (e *Env) Ping(from string, dst netip.Addr, count int, extra ...string) probe.PingResult {
	// -W 0.5 after probe's own -W 1: a lab answers in a millisecond.
	r, err := probe.Ping(e.NS(from), dst.String(), count, time.Second, append([]string{"-i", "0.05", "-W", "0.5"}, extra...)...)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	return r
}

// PingText says what a ping did.
func (e *Env) PingText(from string, dst netip.Addr, r probe.PingResult, what string) string {
	s := fmt.Sprintf("%s → %s%s: %d of %d answered", e.labelIn(from, dst.Is6()), dst, what, r.Received, r.Sent)
	if len(r.Errors) > 0 {
		s += " (" + r.Errors[0] + ")"
	}
	return s
}

// Walk is netlab trace's walk of a packet from name to dst (a TCP
// connection to port, or a ping when port is 0), from the kernel's tables
// alone: the check has sent its own packets already.
func (e *Env) Walk(from string, dst netip.Addr, port int) api.Trace {
	proto := "tcp"
	if port == 0 {
		proto = "icmp"
	}
	req := trace.Request{State: e.S, SrcNS: e.NS(from), Src: api.TraceEnd{Name: from}, Dst: dst, Proto: proto, Port: port, Observe: true}
	if w := e.S.Workload(from); w != nil {
		req.Src.IP = w.IP.String()
	}
	return trace.Walk(req)
}

// EndOf says the way a walk took, host by host with each host's route,
// and where it ended and why.
func EndOf(t api.Trace) string {
	if len(t.Hops) == 0 {
		return "the walk found nothing"
	}
	var way []string
	for _, h := range t.Hops {
		step := h.Host
		if h.Route != "" && (h.Action == "route" || h.Action == "encapsulate") {
			r := strings.Fields(h.Route)
			step += " (" + strings.Join(r[1:], " ") + ")"
		}
		if len(way) == 0 || way[len(way)-1] != step {
			way = append(way, step)
		}
	}
	s := strings.Join(way, " → ")
	h := t.Hops[len(t.Hops)-1]
	switch t.Outcome {
	case "delivered":
		return s + ": delivered to " + t.DeliveredTo
	case "left":
		return s + ": it leaves this machine"
	}
	s += ": " + t.Outcome + " at " + h.Host
	switch {
	case strings.Contains(h.Filter, "DROP"):
		s += " by " + h.Filter
	case h.Note != "":
		s += ", " + h.Note
	case h.FDB != "":
		s += ", " + h.FDB
	case h.Route != "":
		s += ", route " + h.Route
	}
	return s
}

// RouteBack says how name's kernel would send a packet to a: its route,
// or that it has none.
func (e *Env) RouteBack(name string, a string) string {
	dst, err := netip.ParseAddr(a)
	if err != nil {
		return "has no route back to " + a
	}
	route, err := netops.RouteGet(e.NS(name), dst)
	if err != nil {
		return "has no route back to " + a
	}
	return "would answer " + a + " by '" + route + "'"
}

// Sysctl reads a kernel parameter in name's namespace.
func (e *Env) Sysctl(name, key string) string {
	v, _ := netops.ReadSysctl(e.NS(name), key)
	return v
}

// Run runs a command in name's namespace and returns what it printed.
func (e *Env) Run(name string, argv ...string) string {
	full := probe.Command(e.NS(name), argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// Link returns a link of name's namespace.
func (e *Env) Link(name, dev string) (netlink.Link, error) {
	h, err := netops.Netlink(e.NS(name))
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.LinkByName(dev)
}

// SavedRule finds the rule of table in name's namespace, as iptables-save
// prints it, that matches re.
func (e *Env) SavedRule(name, table string, re *regexp.Regexp) (string, error) {
	saved, err := netops.IPTablesSave(e.NS(name), table)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(saved, "\n") {
		if strings.HasPrefix(l, "-A ") && re.MatchString(l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("no rule of %s's %s table matches %s", name, table, re)
}

// NFTRule finds the first rule of name's table ip kube-proxy whose text
// matches re, as `nft -a list table` prints it: its chain, its text and
// its handle.
func (e *Env) NFTRule(name string, re *regexp.Regexp) (chain, rule string, handle int, err error) {
	text, err := netops.NFTListTable(e.NS(name), "ip", names.KubeProxyTable)
	if err != nil {
		return "", "", 0, err
	}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if c, ok := strings.CutPrefix(l, "chain "); ok {
			chain = strings.Fields(c)[0]
			continue
		}
		body, h, ok := strings.Cut(l, " # handle ")
		if ok && chain != "" && re.MatchString(body) {
			if _, err := fmt.Sscan(h, &handle); err == nil {
				return chain, body, handle, nil
			}
		}
	}
	return "", "", 0, fmt.Errorf("no rule of %s's table ip kube-proxy matches %s", name, re)
}

// SynSources captures, on dev of name's namespace, the TCP SYNs to port
// while fn runs, and returns the source addresses they came from.
func (e *Env) SynSources(name, dev string, port int, fn func()) []string {
	var fd int
	err := netops.Do(e.NS(name), func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_IP)
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto)); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	})
	if err != nil {
		fn()
		return nil
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	seen := map[string]bool{}
	var out []string
	buf := make([]byte, 2048)
	var quiet time.Time
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		select {
		case <-done:
			if quiet.IsZero() {
				quiet = time.Now().Add(100 * time.Millisecond)
			}
		default:
		}
		if !quiet.IsZero() && time.Now().After(quiet) {
			break
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || n < 40 || buf[9] != unix.IPPROTO_TCP {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+14 || int(binary.BigEndian.Uint16(buf[ihl+2:ihl+4])) != port || buf[ihl+13]&0x12 != 0x02 {
			continue // not a SYN to port
		}
		src := netip.AddrFrom4([4]byte(buf[12:16])).String()
		if !seen[src] {
			seen[src] = true
			out = append(out, src)
		}
	}
	<-done
	return out
}

// Transfer moves size bytes with iperf3 between two workloads (from
// sends, or receives when reverse), and says how long it took or that it
// hung.
func (e *Env) Transfer(from, to string, size string, reverse bool) (bool, string) {
	return e.TransferAt(from, to, e.W(to).IP, size, reverse)
}

// TransferAt is Transfer to workload to at its address dst (its IPv4 or
// its IPv6 one).
func (e *Env) TransferAt(from, to string, dst netip.Addr, size string, reverse bool) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dir, args := "sends", []string{"-n", size, "--snd-timeout", "700"}
	if reverse {
		dir, args = "receives", []string{"-n", size, "-R", "--rcv-timeout", "700"}
	}
	start := time.Now()
	r := probe.IPerf3(ctx, e.NS(from), e.NS(to), dst, 5202, args...)
	what := fmt.Sprintf("%s %s %sB of TCP with %s %s", e.labelIn(from, dst.Is6()), dir, size, to, dst)
	if r.Error != "" || r.End.Received.Bytes == 0 {
		if ctx.Err() != nil || time.Since(start) > 600*time.Millisecond {
			return false, what + ": it hung"
		}
		return false, what + ": it hung (" + r.Error + ")"
	}
	return true, fmt.Sprintf("%s: done in %.0f ms", what, r.End.Received.Seconds*1000)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func lastWords(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// tempRoute adds a route to dst via gw in name's namespace, through the
// ops layer, and returns what removes it again; a route to dst already
// there (the learner's) is left as it is, and undo does nothing.
func (e *Env) tempRoute(name string, dst netip.Prefix, gw netip.Addr) (func(), error) {
	h, err := netops.Netlink(e.NS(name))
	if err != nil {
		return nil, err
	}
	rs, _ := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}}, netlink.RT_FILTER_DST)
	h.Close()
	if len(rs) > 0 {
		return func() {}, nil
	}
	r := netops.NewRunner(netops.Apply, io.Discard)
	add := netops.RouteAdd{NS: e.NS(name), Dst: dst.String(), Via: gw.String()}
	if err := r.Run(context.Background(), []netops.Op{add}); err != nil {
		r.Close()
		return nil, err
	}
	return func() {
		defer r.Close()
		_ = r.Run(context.Background(), []netops.Op{netops.RouteDel{NS: add.NS, Dst: add.Dst, Via: add.Via}})
	}, nil
}
