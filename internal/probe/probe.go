// Package probe runs ping and traceroute inside a lab namespace and reads
// their output, so tests and the comparison speak of what real packets did.
package probe

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"netlab/internal/netops"
)

// PingResult is what one ping run saw.
type PingResult struct {
	Sent, Received int
	// Errors are lines ping printed for failed probes, such as
	// "From 172.17.0.2 icmp_seq=1 Destination Host Unreachable".
	Errors []string
	// RTTms is the mean round trip of the answered probes, in ms.
	RTTms  float64
	Output string
}

// OK reports whether every probe was answered.
func (r PingResult) OK() bool { return r.Sent > 0 && r.Received == r.Sent }

var (
	pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)
	pingRTT   = regexp.MustCompile(`(?m)^rtt min/avg/max/mdev = [\d.]+/([\d.]+)/`)
	// networkAnswer matches what ping prints when the kernel refuses to
	// send for a reason of the network: no route, a too-large packet, a
	// local firewall rule.
	networkAnswer = regexp.MustCompile(`^ping: (connect|sendmsg|sendto): (Network is unreachable|No route to host|Message too long|Operation not permitted)$|^ping: local error: message too long`)
)

// ParsePing reads iputils ping output.
func ParsePing(out string) (PingResult, error) {
	r := PingResult{Output: out}
	m := pingStats.FindStringSubmatch(out)
	if m == nil {
		// "ping: connect: Network is unreachable": the network's answer,
		// given before a packet left. Anything else without statistics
		// ("ping: socket: Operation not permitted", "unknown host", a
		// missing namespace) means ping could not run: no answer at all,
		// and never to be taken for "unreachable".
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "ping: ") && networkAnswer.MatchString(l) {
				r.Errors = append(r.Errors, strings.TrimSpace(l))
			}
		}
		if len(r.Errors) > 0 {
			return r, nil
		}
		return r, fmt.Errorf("ping could not run: %q", strings.TrimSpace(out))
	}
	r.Sent, _ = strconv.Atoi(m[1])
	r.Received, _ = strconv.Atoi(m[2])
	if m := pingRTT.FindStringSubmatch(out); m != nil {
		r.RTTms, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "From ") || strings.Contains(l, "ping: ") {
			r.Errors = append(r.Errors, strings.TrimSpace(l))
		}
	}
	return r, nil
}

// Hop is one line of traceroute: the address that answered, or none (*).
type Hop struct {
	TTL  int
	Addr string
}

var hopLine = regexp.MustCompile(`^\s*(\d+)\s+(\S+)`)

// ParseTraceroute reads `traceroute -n -q1` output.
func ParseTraceroute(out string) ([]Hop, error) {
	var hops []Hop
	for _, l := range strings.Split(out, "\n") {
		m := hopLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		ttl, _ := strconv.Atoi(m[1])
		addr := m[2]
		if addr == "*" {
			addr = ""
		}
		hops = append(hops, Hop{TTL: ttl, Addr: addr})
	}
	if len(hops) == 0 {
		return nil, fmt.Errorf("no hops in %q", strings.TrimSpace(out))
	}
	return hops, nil
}

// Command returns argv that runs argv inside ns.
func Command(ns netops.NS, argv ...string) []string {
	if ns == netops.Host {
		return argv
	}
	return append([]string{"ip", "netns", "exec", string(ns)}, argv...)
}

// run runs argv in ns and returns everything it printed, and its error
// only if it could not run at all (a failed ping is an answer, not an error).
func run(ns netops.NS, argv ...string) (string, error) {
	full := Command(ns, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C") // the output is parsed
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); exited {
		err = nil
	}
	return out.String(), err
}

// Ping sends count pings from ns to dst, each waiting at most wait. Extra
// arguments go to ping before dst (e.g. "-M", "do", "-s", "1422").
func Ping(ns netops.NS, dst string, count int, wait time.Duration, extra ...string) (PingResult, error) {
	argv := []string{"ping", "-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", strconv.Itoa(max(1, int(wait.Seconds())))}
	argv = append(append(argv, extra...), dst)
	out, err := run(ns, argv...)
	if err != nil {
		return PingResult{Output: out}, fmt.Errorf("ping in %q: %w", ns, err)
	}
	return ParsePing(out)
}

// Traceroute traces the path from ns to dst, one probe per hop.
func Traceroute(ns netops.NS, dst string, maxHops int) ([]Hop, string, error) {
	out, err := run(ns, "traceroute", "-n", "-q", "1", "-w", "1", "-m", strconv.Itoa(maxHops), dst)
	if err != nil {
		return nil, out, fmt.Errorf("traceroute in %q: %w", ns, err)
	}
	hops, err := ParseTraceroute(out)
	return hops, out, err
}
