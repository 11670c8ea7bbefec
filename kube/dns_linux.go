package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/miekg/dns"

	"netlab/internal/lab"
	"netlab/internal/names"
	"netlab/internal/netops"
	"netlab/internal/state"
	"netlab/internal/topo"
)

// The cluster DNS: a server in a pod of its own (kube-system/coredns-...),
// behind the Service kube-system/kube-dns at 10.96.0.10, answering as
// CoreDNS's kubernetes plugin does for the lab's Services.

// ResolvLines are what every pod's resolv.conf says, as the kubelet
// writes it for a pod of the default namespace.
func ResolvLines(ns string) []string {
	return []string{
		"nameserver " + DNSIP.String(),
		"search " + ns + ".svc.cluster.local svc.cluster.local cluster.local",
		"options ndots:5",
	}
}

// loadZone reads lab's store: the zone, with the store's modification
// time as its serial.
func loadZone(lab string) (*zone, error) {
	p := filepath.Join(state.Dir(lab), storeFile)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	data, err := state.LoadFile(lab, storeFile)
	if err != nil {
		return nil, err
	}
	var st Store
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	return newZone(st, uint32(fi.ModTime().Unix())), nil
}

// ServeDNS serves DNS on port 53 (UDP and TCP) of the namespace it runs
// in, until ctx ends; ready is told once it listens. On the lab's outside
// host (host names it) it is the outside world's DNS (OutsideDomain);
// anywhere else, lab's cluster DNS, which reads the lab's Services again
// whenever they change and forwards what is not the cluster's to the
// outside host (on a real node, to the first nameserver of the machine's
// resolv.conf), as the Corefile's forward . /etc/resolv.conf does.
func ServeDNS(ctx context.Context, lab, host string, ready func(error)) error {
	s, err := state.Load(lab)
	if err != nil {
		ready(err)
		return err
	}
	if o := s.Topology.Outside; o != nil && o.Name == host {
		return serveDNS(ctx, ready, func(r *dns.Msg, udp bool) *dns.Msg { return outsideZone{ip: o.IP}.respond(r, udp) })
	}
	up := upstream(s.Topology)
	var mu sync.Mutex
	var z *zone
	var stamp time.Time
	current := func() *zone {
		mu.Lock()
		defer mu.Unlock()
		if fi, err := os.Stat(filepath.Join(state.Dir(lab), storeFile)); err == nil && (z == nil || fi.ModTime() != stamp) {
			if nz, err := loadZone(lab); err == nil {
				z, stamp = nz, fi.ModTime()
			}
		}
		return z
	}
	m := newDNSMetrics()
	ml, err := net.Listen("tcp4", fmt.Sprintf(":%d", MetricsPort))
	if err != nil {
		ready(err)
		return err
	}
	hs := &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ml) }()
	defer hs.Close()
	return serveDNS(ctx, ready, func(r *dns.Msg, udp bool) *dns.Msg {
		a := respond(current(), r, udp, up)
		m.count(r, a, udp)
		return a
	})
}

// MetricsPort is where the cluster DNS serves its Prometheus metrics, as
// CoreDNS's prometheus plugin does (the kube-dns Service's port metrics).
const MetricsPort = 9153

// dnsMetrics are the cluster DNS's counters, under CoreDNS's names:
// requests by protocol and type, responses by rcode.
type dnsMetrics struct {
	mu        sync.Mutex
	requests  map[[2]string]int // proto, type
	responses map[string]int    // rcode
}

func newDNSMetrics() *dnsMetrics {
	return &dnsMetrics{requests: map[[2]string]int{}, responses: map[string]int{}}
}

func (m *dnsMetrics) count(r, a *dns.Msg, udp bool) {
	proto, qtype := "tcp", "other"
	if udp {
		proto = "udp"
	}
	if len(r.Question) == 1 {
		qtype = dns.TypeToString[r.Question[0].Qtype]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{proto, qtype}]++
	m.responses[dns.RcodeToString[a.Rcode]]++
}

// ServeHTTP writes the counters in Prometheus' text format.
func (m *dnsMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.")
	fmt.Fprintln(w, "# TYPE coredns_dns_requests_total counter")
	var keys [][2]string
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",proto=%q,family=\"1\",type=%q} %d\n", k[0], k[1], m.requests[k])
	}
	fmt.Fprintln(w, "# HELP coredns_dns_responses_total Counter of response status codes.")
	fmt.Fprintln(w, "# TYPE coredns_dns_responses_total counter")
	var rcodes []string
	for k := range m.responses {
		rcodes = append(rcodes, k)
	}
	sort.Strings(rcodes)
	for _, k := range rcodes {
		fmt.Fprintf(w, "coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",rcode=%q} %d\n", k, m.responses[k])
	}
}

// upstream is where the cluster DNS forwards what is not the cluster's:
// the lab's outside host, or on a real node the machine's first
// nameserver; nil when there is none.
func upstream(t *topo.Topology) func(*dns.Msg) (*dns.Msg, error) {
	var addr string
	if t.Outside != nil {
		addr = netip.AddrPortFrom(t.Outside.IP, 53).String()
	} else if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
		addr = net.JoinHostPort(cc.Servers[0], "53")
	}
	if addr == "" {
		return nil
	}
	return func(q *dns.Msg) (*dns.Msg, error) {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		r, _, err := c.Exchange(q, addr)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.Exchange(q, addr)
		}
		return r, err
	}
}

// serveDNS answers with answer on port 53, UDP and TCP, until ctx ends.
func serveDNS(ctx context.Context, ready func(error), answer func(r *dns.Msg, udp bool) *dns.Msg) error {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		_, udp := w.RemoteAddr().(*net.UDPAddr)
		_ = w.WriteMsg(answer(r, udp))
	})
	udp, err := net.ListenPacket("udp4", ":53")
	if err != nil {
		ready(err)
		return err
	}
	tcp, err := net.Listen("tcp4", ":53")
	if err != nil {
		udp.Close()
		ready(err)
		return err
	}
	servers := []*dns.Server{{PacketConn: udp, Handler: h}, {Listener: tcp, Handler: h}}
	errs := make(chan error, 2)
	for _, s := range servers {
		go func() { errs <- s.ActivateAndServe() }()
	}
	ready(nil)
	select {
	case <-ctx.Done():
		for _, s := range servers {
			_ = s.Shutdown()
		}
		return nil
	case err := <-errs:
		return fmt.Errorf("dns: %w", err)
	}
}

// resolvConf points a pod's resolver at the cluster DNS.
func (c *Cluster) resolvConf(ns netops.NS, namespace string) netops.Op {
	return netops.ResolvConf{NS: ns, Marker: names.RuleMarker(c.S.Lab), Lines: ResolvLines(namespace)}
}

// ensureDNS gives the cluster its DNS once: the Service kube-system/kube-dns
// at 10.96.0.10 over a pod of its own that runs netlab's DNS server, and
// every pod (overlay-mode's too) a resolv.conf that points at it, as the
// kubelet writes one.
func (c *Cluster) ensureDNS(ctx context.Context) error {
	if c.findService("kube-system", "kube-dns") >= 0 {
		return nil
	}
	labels := map[string]string{"k8s-app": "kube-dns"}
	c.Store.Services = append(c.Store.Services, Service{Namespace: "kube-system", Name: "kube-dns", Selector: labels, Type: "ClusterIP",
		ClusterIP: DNSIP, Created: time.Now().UTC(), Ports: []Port{
			{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: 53},
			{Name: "dns-tcp", Protocol: "TCP", Port: 53, TargetPort: 53},
			{Name: "metrics", Protocol: "TCP", Port: MetricsPort, TargetPort: MetricsPort},
		}})
	dep := Deployment{Name: "coredns", Hash: "netlab"}
	p := Pod{Namespace: "kube-system", Name: c.podName(dep), System: "dns",
		Template: PodTemplate{Labels: labels, Containers: []Container{{Name: "coredns", Ports: []ContainerPort{{Name: "dns-tcp", Port: 53}, {Name: "metrics", Port: MetricsPort}}}}}}
	if err := c.startPod(ctx, p); err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	// The outside host's DNS, where the cluster DNS forwards the names
	// that are not the cluster's (the lab's world: OutsideDomain).
	if o := c.S.Topology.Outside; o != nil && !c.Dry() {
		args := []string{names.DNSName, "--lab", c.S.Lab, "--host", o.Name}
		if err := lab.StartProcess(c.S.Lab, o.NS, c.Exe, args, "", "dns-outside.log"); err != nil {
			return fmt.Errorf("the outside host's DNS: %w", err)
		}
	}
	var ops []netops.Op
	for _, w := range c.S.Workloads {
		if w.Kind == "pod" {
			ops = append(ops, c.resolvConf(w.NS, "default"))
		}
	}
	for _, p := range c.Store.Pods {
		if p.System == "" && c.local(p.Node) {
			ops = append(ops, c.resolvConf(p.NS, p.Namespace))
		}
	}
	return c.R.Run(ctx, ops)
}

// startDNS starts netlab's DNS server in a pod's namespace, detached, and
// waits until it listens.
func startDNS(exe, labName string, n topo.Node, ns netops.NS) error {
	return lab.StartProcess(labName, ns, exe, []string{names.DNSName, "--lab", labName, "--host", n.Name}, "", "dns.log")
}
