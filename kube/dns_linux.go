package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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

// DNSIP is the cluster DNS's ClusterIP, kubeadm's default.
var DNSIP = netip.MustParseAddr("10.96.0.10")

// Domain is the cluster's DNS domain.
const Domain = "cluster.local."

// DNSTTL is the records' time to live, as CoreDNS's kubernetes plugin
// gives them.
const DNSTTL = 5

// ResolvLines are what every pod's resolv.conf says, as the kubelet
// writes it for a pod of the default namespace.
func ResolvLines(ns string) []string {
	return []string{
		"nameserver " + DNSIP.String(),
		"search " + ns + ".svc.cluster.local svc.cluster.local cluster.local",
		"options ndots:5",
	}
}

// zone is what the server answers from: the lab's Services and their
// ready endpoints, read from its store.
type zone struct {
	services []Service
	eps      map[string]map[string][]Endpoint // ns/name -> port name -> endpoints
}

func loadZone(lab string) (*zone, error) {
	data, err := state.LoadFile(lab, storeFile)
	if err != nil {
		return nil, err
	}
	var st Store
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	c := &Cluster{Store: st}
	z := &zone{services: st.Services, eps: map[string]map[string][]Endpoint{}}
	for _, s := range st.Services {
		z.eps[s.Namespace+"/"+s.Name] = c.Endpoints(s)
	}
	return z, nil
}

// answer builds the reply to one question.
func (z *zone) answer(q dns.Question) ([]dns.RR, int) {
	name := strings.ToLower(q.Name)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: DNSTTL}
	}
	if strings.HasSuffix(name, ".in-addr.arpa.") && q.Qtype == dns.TypePTR {
		for _, s := range z.services {
			if s.ClusterIP.IsValid() {
				if rev, _ := dns.ReverseAddr(s.ClusterIP.String()); rev == name {
					return []dns.RR{&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: s.Name + "." + s.Namespace + ".svc." + Domain}}, dns.RcodeSuccess
				}
			}
		}
		return nil, dns.RcodeNameError
	}
	if !strings.HasSuffix(name, "."+Domain) {
		return nil, dns.RcodeRefused // no upstream in a lab
	}
	labels := dns.SplitDomainName(strings.TrimSuffix(name, "."+Domain))
	// svc.ns.svc, or _port._proto.svc.ns.svc for SRV.
	var port, proto string
	if len(labels) == 5 && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
		port, proto, labels = labels[0][1:], labels[1][1:], labels[2:]
	}
	if len(labels) != 3 || labels[2] != "svc" {
		return nil, dns.RcodeNameError
	}
	for _, s := range z.services {
		if s.Name != labels[0] || s.Namespace != labels[1] {
			continue
		}
		fqdn := s.Name + "." + s.Namespace + ".svc." + Domain
		eps := z.eps[s.Namespace+"/"+s.Name]
		var ips []netip.Addr
		if s.ClusterIP.IsValid() {
			ips = append(ips, s.ClusterIP)
		} else {
			seen := map[netip.Addr]bool{}
			for _, list := range eps {
				for _, e := range list {
					if !seen[e.IP] {
						seen[e.IP] = true
						ips = append(ips, e.IP)
					}
				}
			}
			if len(ips) == 0 {
				return nil, dns.RcodeNameError // headless, nobody Ready
			}
		}
		var rrs []dns.RR
		switch {
		case port != "":
			if q.Qtype != dns.TypeSRV && q.Qtype != dns.TypeANY {
				return nil, dns.RcodeSuccess
			}
			for _, p := range s.Ports {
				if p.Name == port && strings.EqualFold(p.Protocol, proto) {
					rrs = append(rrs, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: fqdn})
				}
			}
			if len(rrs) == 0 {
				return nil, dns.RcodeNameError
			}
		case q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY:
			for _, ip := range ips {
				rrs = append(rrs, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(ip.AsSlice())})
			}
		}
		return rrs, dns.RcodeSuccess
	}
	return nil, dns.RcodeNameError
}

// respond answers r from zone zn (nil: not loaded yet), as CoreDNS does
// on the wire: an EDNS version above 0 gets BADVERS (with an OPT of
// version 0, nothing else); an answer larger than the client can take
// over UDP (512 bytes without EDNS, its buffer size with it) is
// truncated, with TC set, so that the client asks again over TCP.
func respond(zn *zone, r *dns.Msg, udp bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	size := dns.MinMsgSize
	opt := r.IsEdns0()
	if opt != nil {
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), 4096)
		if opt.Version() != 0 {
			m.Authoritative = false
			m.Rcode = dns.RcodeBadVers
			m.SetEdns0(uint16(size), opt.Do())
			return m
		}
	}
	switch {
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	case zn == nil:
		m.Rcode = dns.RcodeServerFailure
	default:
		m.Answer, m.Rcode = zn.answer(r.Question[0])
		if m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0) {
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DNSTTL},
				Ns: "ns.dns." + Domain, Mbox: "hostmaster." + Domain, Serial: uint32(time.Now().Unix()), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: DNSTTL}}
		}
	}
	if opt != nil {
		m.SetEdns0(uint16(size), opt.Do())
	}
	if udp {
		m.Truncate(size)
	} else {
		m.Truncate(dns.MaxMsgSize)
	}
	return m
}

// ServeDNS serves lab's cluster DNS on port 53 (UDP and TCP) of the
// namespace it runs in, until ctx ends; ready is told once it listens. It
// reads the lab's Services again whenever they change.
func ServeDNS(ctx context.Context, lab string, ready func(error)) error {
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
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		_, udp := w.RemoteAddr().(*net.UDPAddr)
		_ = w.WriteMsg(respond(current(), r, udp))
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
		}})
	dep := Deployment{Name: "coredns", Hash: "netlab"}
	p := Pod{Namespace: "kube-system", Name: c.podName(dep), System: "dns",
		Template: PodTemplate{Labels: labels, Containers: []Container{{Name: "coredns", Ports: []ContainerPort{{Name: "dns-tcp", Port: 53}}}}}}
	if err := c.startPod(ctx, p); err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
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
