package compare

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"netlab/internal/netops"
	"netlab/internal/probe"
	"netlab/internal/who"
)

// The kernel side of the questions: each probe runs in one namespace and
// reports what real packets did.

// ping sends count echo requests, 50 ms apart.
func ping(ns netops.NS, dst netip.Addr, count int, extra ...string) (probe.PingResult, error) {
	args := append([]string{"-i", "0.05"}, extra...)
	return probe.Ping(ns, dst.String(), count, time.Second, args...)
}

// hops runs traceroute and returns one address per hop ("*" for none).
func hops(ns netops.NS, dst netip.Addr) ([]string, error) {
	hs, _, err := probe.Traceroute(ns, dst.String(), 8)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hs {
		if h.Addr == "" {
			out = append(out, "*")
			continue
		}
		out = append(out, h.Addr)
	}
	// traceroute keeps trying past the end of a path that never answers:
	// stars after the last answer are not hops.
	for len(out) > 0 && out[len(out)-1] == "*" {
		out = out[:len(out)-1]
	}
	return out, nil
}

// ask asks the web server at addr who it is and whom it saw, from ns.
func ask(ns netops.NS, addr netip.AddrPort) (who.Answer, error) {
	c, err := who.Dial(ns, addr, askTimeout)
	if err != nil {
		return who.Answer{}, err
	}
	defer c.Close()
	return who.AskConn(c, addr.String())
}

// askTimeout is how long a question waits for a connection. A lab answers
// in a millisecond, but a first SYN that is lost (an emulated VM under
// load drops one now and then) is sent again only after a second: two
// seconds let that retry land, and still say "never" quickly.
const askTimeout = 2 * time.Second

// routeSource is the source address the kernel of ns picks for dst.
func routeSource(ns netops.NS, dst netip.Addr) (netip.Addr, error) {
	h, err := netops.Netlink(ns)
	if err != nil {
		return netip.Addr{}, err
	}
	defer h.Close()
	rs, err := h.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("route to %s in %s: %w", dst, ns, err)
	}
	if len(rs) == 0 || rs[0].Src == nil {
		return netip.Addr{}, fmt.Errorf("route to %s in %s has no source address", dst, ns)
	}
	a, _ := netip.AddrFromSlice(rs[0].Src)
	return a.Unmap(), nil
}

// iface returns the first IPv4 address and the MTU of dev in ns.
func iface(ns netops.NS, dev string) (netip.Addr, int, error) { return ifaceIn(ns, dev, false) }

// ifaceIn is iface of one family: with v6, dev's first global IPv6
// address (not its link-local one).
func ifaceIn(ns netops.NS, dev string, v6 bool) (netip.Addr, int, error) {
	h, err := netops.Netlink(ns)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	family, what := netlink.FAMILY_V4, "IPv4"
	if v6 {
		family, what = netlink.FAMILY_V6, "global IPv6"
	}
	as, err := netops.Dump(func() ([]netlink.Addr, error) { return h.AddrList(l, family) })
	if err != nil {
		return netip.Addr{}, l.Attrs().MTU, err
	}
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && !ip.IsLinkLocalUnicast() {
			return ip.Unmap(), l.Attrs().MTU, nil
		}
	}
	return netip.Addr{}, l.Attrs().MTU, fmt.Errorf("%s in %s has no %s address", dev, ns, what)
}

// listenOnce listens on ip in ns, on a port the kernel picks, for one
// connection; wait returns the address that connection came from.
func listenOnce(ns netops.NS, ip netip.Addr) (port int, wait func() (netip.Addr, error), err error) {
	var l *net.TCPListener
	err = netops.Do(ns, func() error {
		network := "tcp4"
		if ip.Is6() {
			network = "tcp6"
		}
		ln, err := net.ListenTCP(network, &net.TCPAddr{IP: net.IP(ip.AsSlice())})
		l = ln
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return l.Addr().(*net.TCPAddr).Port, func() (netip.Addr, error) {
		defer l.Close()
		_ = l.SetDeadline(time.Now().Add(askTimeout + 500*time.Millisecond))
		c, err := l.AcceptTCP()
		if err != nil {
			return netip.Addr{}, err
		}
		defer c.Close()
		return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(), nil
	}, nil
}

// dialFrom connects from ns to addr and closes at once.
func dialFrom(ns netops.NS, addr netip.AddrPort) error {
	c, err := who.Dial(ns, addr, askTimeout)
	if err != nil {
		return err
	}
	return c.Close()
}

// maxDF finds the largest ICMP payload that reaches dst from ns with
// don't-fragment set, starting from what the MTU allows: one ping at the
// MTU's payload and one past it when the path is sound, a search when not.
func maxDF(ns netops.NS, dst netip.Addr, mtu int) (int, error) {
	passes := func(size int) (bool, error) {
		r, err := ping(ns, dst, 1, "-M", "do", "-s", strconv.Itoa(size))
		return r.Received > 0, err
	}
	best := mtu - 28 // IPv4 (20) and ICMP (8) headers
	if dst.Is6() {
		best = mtu - 48 // IPv6 (40) and ICMPv6 (8)
	}
	ok, err := passes(best)
	if err != nil {
		return 0, err
	}
	if ok {
		if past, _ := passes(best + 1); past {
			return 0, fmt.Errorf("a %d-byte payload passed with don't-fragment set, past the %d-byte MTU", best+1, mtu)
		}
		return best, nil
	}
	lo, hi := 0, best // lo passes (or is 0), hi fails
	if ok, _ := passes(lo); !ok {
		return 0, fmt.Errorf("not even an empty ping reaches %s", dst)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if ok, _ := passes(mid); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// marker returns a fresh pattern for the pings of one capture: two
// columns of a real node share its underlay, and each must find its own.
func marker() []byte {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return []byte("netlab-" + hex.EncodeToString(b)[:9])
}

// payload is the size of those pings' ICMP payload.
const payload = 1000

// overhead captures, on dev in capNS, one of the pings sent from srcNS to
// dst and returns how many bytes the underlay carries around the ping's
// own IPv4 packet (its outer IPv4 packet's length less the inner one's),
// and what carried it ("VXLAN, UDP 8472" or "none").
func overhead(capNS netops.NS, dev string, srcNS netops.NS, dst netip.Addr) (int, string, error) {
	var fd int
	err := netops.Do(capNS, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	})
	if err != nil {
		return 0, "", fmt.Errorf("capture on %s: %w", dev, err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	mark := marker()
	done := make(chan error, 1)
	go func() {
		_, err := ping(srcNS, dst, 3, "-s", strconv.Itoa(payload), "-p", hex.EncodeToString(mark))
		done <- err
	}()
	buf := make([]byte, 65536)
	// Until the pings are over (and a little after, for the last to
	// cross), however slow the machine starts them.
	var quiet time.Time
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if quiet.IsZero() {
			select {
			case <-done:
				quiet = time.Now().Add(300 * time.Millisecond)
			default:
			}
		} else if time.Now().After(quiet) {
			break
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // the 100 ms timeout: look at the clock again
		}
		if o, what, ok := parseOverhead(buf[:n], dst, mark); ok {
			if quiet.IsZero() {
				<-done
			}
			return o, what, nil
		}
	}
	if quiet.IsZero() {
		<-done
	}
	return 0, "", fmt.Errorf("none of the pings to %s crossed %s", dst, dev)
}

// parseOverhead finds our echo request to dst, marked with mark, in an
// Ethernet frame and returns the outer IP packet's length less the echo's
// own IP packet's length: IPv4 in IPv4, or IPv6 in IPv6 (a dual-stack
// lab's IPv6 overlay rides the underlay's IPv6).
func parseOverhead(frame []byte, dst netip.Addr, mark []byte) (int, string, bool) {
	if len(frame) < 14+20 {
		return 0, "", false
	}
	outer := frame[14:]
	var outerLen int
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_IP:
		outerLen = int(binary.BigEndian.Uint16(outer[2:4]))
	case unix.ETH_P_IPV6:
		if len(outer) < 40 {
			return 0, "", false
		}
		outerLen = 40 + int(binary.BigEndian.Uint16(outer[4:6]))
	default:
		return 0, "", false
	}
	hdr := 20
	if dst.Is6() {
		hdr = 40
	}
	inner := payload + 8 + hdr
	for off := 0; off+hdr+8 <= len(outer); off++ {
		p := outer[off:]
		if !echoTo(p, dst, inner) || !bytes.Contains(p[hdr+8:min(len(p), inner)], mark) {
			continue
		}
		what := "none"
		if off > 0 {
			what = carrier(outer)
		}
		return outerLen - inner, what, true
	}
	return 0, "", false
}

// echoTo reports whether p starts an echo request to dst of length n
// bytes, IPv4 (ICMP type 8) or IPv6 (ICMPv6 type 128, right after the
// fixed header).
func echoTo(p []byte, dst netip.Addr, n int) bool {
	if dst.Is4() {
		return p[0] == 0x45 && int(binary.BigEndian.Uint16(p[2:4])) == n && p[9] == unix.IPPROTO_ICMP && p[20] == 8 &&
			netip.AddrFrom4([4]byte(p[16:20])) == dst
	}
	return p[0]>>4 == 6 && int(binary.BigEndian.Uint16(p[4:6]))+40 == n && p[6] == unix.IPPROTO_ICMPV6 && p[40] == 128 &&
		netip.AddrFrom16([16]byte(p[24:40])) == dst
}

// carrier names the outer packet's protocol: "VXLAN, UDP 8472" (over
// IPv4 or IPv6).
func carrier(outer []byte) string {
	ihl, proto := int(outer[0]&0x0f)*4, outer[9]
	if outer[0]>>4 == 6 {
		ihl, proto = 40, outer[6]
	}
	switch proto {
	case unix.IPPROTO_UDP:
		if len(outer) >= ihl+16 {
			port := binary.BigEndian.Uint16(outer[ihl+2 : ihl+4])
			vni := uint32(outer[ihl+12])<<16 | uint32(outer[ihl+13])<<8 | uint32(outer[ihl+14])
			if outer[ihl+8]&0x08 != 0 {
				if ihl == 40 {
					return fmt.Sprintf("VXLAN, UDP %d, VNI %d, in IPv6", port, vni)
				}
				return fmt.Sprintf("VXLAN, UDP %d, VNI %d", port, vni)
			}
			return fmt.Sprintf("UDP %d", port)
		}
	case unix.IPPROTO_IPIP:
		return "IP in IP"
	}
	return fmt.Sprintf("IP protocol %d", proto)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// throughput runs iperf3 for a second from srcNS to dst, its server in
// dstNS for one test, and returns the received rate in Gbit/s.
func throughput(srcNS, dstNS netops.NS, dst netip.Addr) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := probe.IPerf3(ctx, srcNS, dstNS, dst, 5201, "-t", "1")
	if r.Error != "" {
		return 0, fmt.Errorf("iperf3 from %s to %s: %s", srcNS, dst, r.Error)
	}
	return r.End.Received.BPS / 1e9, nil
}

// lookup asks server (port 53, UDP) for name's A records from inside
// ns, as the workload's resolver would: the addresses and the rcode.
func lookup(ns netops.NS, server, name string) ([]string, string, error) {
	ips, rcode, err := probe.Lookup(ns, server, name, dns.TypeA, false, askTimeout)
	return ips, dns.RcodeToString[rcode], err
}

// pidsIn counts the programs in namespace ns: its processes by name
// (a server's short-lived children share its name), this one aside
// (whose probes enter namespaces from its threads, the main one too).
func pidsIn(ns netops.NS) int {
	out, err := exec.Command("ip", "netns", "pids", string(ns)).Output()
	if err != nil {
		return 0
	}
	seen := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		if p == strconv.Itoa(os.Getpid()) {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + p + "/comm"); err == nil {
			seen[strings.TrimSpace(string(comm))] = true
		}
	}
	return len(seen)
}
