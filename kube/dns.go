package kube

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// The cluster DNS's answers, as CoreDNS v1.14's kubernetes plugin gives
// them with kubeadm's Corefile (kubernetes cluster.local in-addr.arpa
// ip6.arpa { pods insecure; fallthrough in-addr.arpa ip6.arpa; ttl 30 },
// forward . /etc/resolv.conf), following the Kubernetes DNS-Based Service
// Discovery specification (schema 1.1.0):
//
//	<svc>.<ns>.svc.cluster.local            A: the ClusterIP, or each ready endpoint (headless);
//	                                        AAAA: the same of IPv6 (a dual-stack or IPv6 Service)
//	<ip-dashed>.<svc>.<ns>.svc.cluster.local A or AAAA: that endpoint (any Service's)
//	_<port>._<proto>.<svc>.<ns>.svc...      SRV: per port (ClusterIP) or per endpoint (headless),
//	                                        the targets' A and AAAA records in Additional
//	<ip-dashed>.<ns>.pod.cluster.local      A or AAAA: the address (pods insecure)
//	<ns>.svc.cluster.local, svc..., pod...  NOERROR without data (an existing namespace)
//	cluster.local                           SOA, NS ns.dns.cluster.local (its A: the DNS Service)
//	dns-version.cluster.local               TXT 1.1.0
//	PTR of a ClusterIP, or of an endpoint   <svc>.<ns>.svc..., or <ip-dashed>.<svc>.<ns>.svc...
//	                                        (in-addr.arpa, and ip6.arpa's nibbles for IPv6)
//
// A name of addresses of one family only has no data of the other: A of
// an IPv6-only Service, AAAA of an IPv4 one, are NOERROR without answer.
//
// A name that does not exist is NXDOMAIN with the zone's SOA; one that
// exists without data of the type asked, NOERROR with the SOA. Anything
// else (another domain, a reverse name the cluster does not have) is
// forwarded upstream, as the Corefile's forward does.

// DNSIP is the cluster DNS's ClusterIP, kubeadm's default.
var DNSIP = netip.MustParseAddr("10.96.0.10")

// Domain is the cluster's DNS domain.
const Domain = "cluster.local."

// DNSTTL is the records' time to live: kubeadm's Corefile sets ttl 30
// (the plugin's own default is 5).
const DNSTTL = 30

// DNSVersion is the DNS schema version the cluster answers at
// dns-version.cluster.local, as CoreDNS does.
const DNSVersion = "1.1.0"

// systemNamespaces exist in every cluster, whatever it holds.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// zone is what the server answers from: the lab's Services and their
// ready endpoints, and the namespaces that exist, read from its store.
type zone struct {
	services   []Service
	eps        map[string]map[string][]Endpoint // ns/name -> port name -> endpoints
	namespaces map[string]bool
	// serial is the SOA serial: when the store last changed, as CoreDNS
	// gives the time its view of the cluster last changed.
	serial uint32
}

// newZone is the zone of store st, last changed at serial.
func newZone(st Store, serial uint32) *zone {
	c := &Cluster{Store: st}
	z := &zone{services: st.Services, eps: map[string]map[string][]Endpoint{}, namespaces: map[string]bool{}, serial: serial}
	for ns := range st.NamespaceLabels() {
		z.namespaces[ns] = true
	}
	for _, s := range st.Services {
		// The endpoints of each of its families (its EndpointSlices).
		eps := map[string][]Endpoint{}
		for _, fam := range s.IPFamilies() {
			for port, list := range c.EndpointsOf(s, fam) {
				eps[port] = append(eps[port], list...)
			}
		}
		z.eps[s.Namespace+"/"+s.Name] = eps
	}
	return z
}

// result is a lookup's outcome: the records, or that the name is not the
// cluster's (forward it).
type result struct {
	rcode          int
	answer, extra  []dns.RR
	forward, exist bool
}

// record is one of a name's targets, as the plugin's msg.Service: an
// address, a port, and the name it goes by.
type record struct {
	host netip.Addr
	port int
	name string
}

func (z *zone) soa() dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: Domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DNSTTL},
		Ns: "ns.dns." + Domain, Mbox: "hostmaster." + Domain, Serial: z.serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: DNSTTL}
}

func rrA(name string, ip netip.Addr) dns.RR {
	if ip.Is6() {
		return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: DNSTTL}, AAAA: net.IP(ip.AsSlice())}
	}
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: DNSTTL}, A: net.IP(ip.AsSlice())}
}

// addressType is the record type of an address: A for IPv4, AAAA for IPv6.
func addressType(ip netip.Addr) uint16 {
	if ip.Is4() {
		return dns.TypeA
	}
	return dns.TypeAAAA
}

var (
	nxdomain = result{rcode: dns.RcodeNameError}
	nodata   = result{rcode: dns.RcodeSuccess, exist: true}
)

// lookup answers one question from the zone, or says to forward it.
func (z *zone) lookup(q dns.Question) result {
	name := strings.ToLower(dns.Fqdn(q.Name))
	if strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.") {
		if q.Qtype == dns.TypePTR {
			if rrs := z.reverse(q.Name, name); len(rrs) > 0 {
				return result{rcode: dns.RcodeSuccess, answer: rrs}
			}
		}
		return result{forward: true} // fallthrough in-addr.arpa ip6.arpa
	}
	if !dns.IsSubDomain(Domain, name) {
		return result{forward: true}
	}
	switch name {
	case Domain:
		switch q.Qtype {
		case dns.TypeSOA:
			return result{rcode: dns.RcodeSuccess, answer: []dns.RR{z.soa()}}
		case dns.TypeNS:
			return result{rcode: dns.RcodeSuccess,
				answer: []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: Domain, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: DNSTTL}, Ns: "ns.dns." + Domain}},
				extra:  []dns.RR{rrA("ns.dns."+Domain, DNSIP)}}
		}
		return nodata
	case "dns-version." + Domain:
		if q.Qtype == dns.TypeTXT {
			return result{rcode: dns.RcodeSuccess, answer: []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 28800}, Txt: []string{DNSVersion}}}}
		}
		return nodata
	case "ns.dns." + Domain:
		if q.Qtype == dns.TypeA {
			return result{rcode: dns.RcodeSuccess, answer: []dns.RR{rrA(q.Name, DNSIP)}}
		}
		return nodata
	}
	labels := dns.SplitDomainName(strings.TrimSuffix(name, "."+Domain))
	kind := labels[len(labels)-1]
	if kind != "svc" && kind != "pod" {
		return nxdomain
	}
	labels = labels[:len(labels)-1]
	switch {
	case len(labels) == 0: // svc.cluster.local, pod.cluster.local
		return nodata
	case !z.namespaces[labels[len(labels)-1]]:
		return nxdomain
	case len(labels) == 1: // <ns>.svc.cluster.local
		return nodata
	case kind == "pod":
		return z.pod(q, labels)
	}
	return z.service(q, labels)
}

// pod answers <ip-dashed>.<ns>.pod: the address the name spells, as
// "pods insecure" does (kubeadm's Corefile), for an existing namespace:
// three dashes and no two together are IPv4's dots (10-244-1-2), else
// every dash is an IPv6 colon (fd00-10-244-1--2), as CoreDNS reads them.
func (z *zone) pod(q dns.Question, labels []string) result {
	if len(labels) != 2 {
		return nxdomain
	}
	name := labels[0]
	text := strings.ReplaceAll(name, "-", ":")
	if strings.Count(name, "-") == 3 && !strings.Contains(name, "--") {
		text = strings.ReplaceAll(name, "-", ".")
	}
	parsed := net.ParseIP(text) // CoreDNS's test: what net.ParseIP takes
	if parsed == nil {
		return nxdomain
	}
	ip, _ := netip.AddrFromSlice(parsed)
	ip = ip.Unmap()
	if q.Qtype == addressType(ip) {
		return result{rcode: dns.RcodeSuccess, answer: []dns.RR{rrA(q.Name, ip)}}
	}
	return nodata
}

// service answers the names under <svc>.<ns>.svc: the Service, one of its
// endpoints, or _port._proto for SRV.
func (z *zone) service(q dns.Question, labels []string) result {
	ns, name := labels[len(labels)-1], labels[len(labels)-2]
	var endpoint, port, proto string
	switch prefix := labels[:len(labels)-2]; len(prefix) {
	case 0:
	case 1:
		endpoint = prefix[0]
	case 2:
		port, proto = strings.TrimPrefix(prefix[0], "_"), strings.TrimPrefix(prefix[1], "_")
	default:
		return nxdomain // too long
	}
	var s *Service
	for i := range z.services {
		if z.services[i].Namespace == ns && z.services[i].Name == name {
			s = &z.services[i]
		}
	}
	if s == nil {
		return nxdomain
	}
	fqdn := s.Name + "." + s.Namespace + ".svc." + Domain
	matches := func(p Port) bool {
		return (port == "" || port == "*" || strings.EqualFold(port, p.Name)) && (proto == "" || proto == "*" || strings.EqualFold(proto, p.Protocol))
	}
	var recs []record
	if !s.ClusterIP.IsValid() || endpoint != "" {
		eps := z.eps[s.Namespace+"/"+s.Name]
		for _, p := range s.Ports {
			if !matches(p) {
				continue
			}
			for _, e := range eps[p.Name] {
				host := EndpointHostname(e.IP)
				if endpoint == "" || endpoint == host {
					recs = append(recs, record{host: e.IP, port: e.Port, name: host + "." + fqdn})
				}
			}
		}
	} else {
		for _, p := range s.Ports {
			if matches(p) {
				for _, ip := range s.ClusterIPs() {
					recs = append(recs, record{host: ip, port: p.Port, name: fqdn})
				}
			}
		}
	}
	if len(recs) == 0 {
		return nxdomain
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		var rrs []dns.RR
		seen := map[netip.Addr]bool{}
		for _, r := range recs {
			if !seen[r.host] && addressType(r.host) == q.Qtype {
				seen[r.host] = true
				rrs = append(rrs, rrA(q.Name, r.host))
			}
		}
		if len(rrs) == 0 {
			return nodata // addresses of the other family only
		}
		return result{rcode: dns.RcodeSuccess, answer: rrs}
	case dns.TypeSRV:
		return srv(q.Name, recs)
	}
	return nodata
}

// srv is the SRV answer of recs, as CoreDNS's backend writes it: priority
// 0, each weight 100 divided by the number of targets (rounded down),
// one record per target and port, and each target's A in Additional.
func srv(qname string, recs []record) result {
	weight := uint16(100 / len(recs))
	var out result
	out.rcode = dns.RcodeSuccess
	seen, seenA := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		key := fmt.Sprintf("%s/%d", r.name, r.port)
		if !seen[key] {
			seen[key] = true
			out.answer = append(out.answer, &dns.SRV{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: DNSTTL},
				Priority: 0, Weight: weight, Port: uint16(r.port), Target: r.name})
		}
		if a := r.name + " " + r.host.String(); !seenA[a] {
			seenA[a] = true
			out.extra = append(out.extra, rrA(r.name, r.host))
		}
	}
	return out
}

// EndpointHostname is an endpoint's DNS label: its address with dashes
// (10-244-1-2, fd00-10-244-1--2), as CoreDNS names an endpoint without a
// hostname; an IPv6 one that would end in a dash ends in "-0" instead.
func EndpointHostname(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	h := strings.ReplaceAll(ip.String(), ":", "-")
	if strings.HasSuffix(h, "-") {
		h += "0"
	}
	return h
}

// reverse answers a PTR question: a Service's name for its ClusterIP,
// else an endpoint's name under each Service it serves.
func (z *zone) reverse(qname, lower string) []dns.RR {
	ip := reverseAddr(lower)
	if !ip.IsValid() {
		return nil
	}
	ptr := func(target string) dns.RR {
		return &dns.PTR{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: DNSTTL}, Ptr: target}
	}
	for _, s := range z.services {
		for _, vip := range s.ClusterIPs() {
			if vip == ip {
				return []dns.RR{ptr(s.Name + "." + s.Namespace + ".svc." + Domain)}
			}
		}
	}
	var rrs []dns.RR
	seen := map[string]bool{}
	for _, s := range z.services {
		for _, eps := range z.eps[s.Namespace+"/"+s.Name] {
			for _, e := range eps {
				name := EndpointHostname(e.IP) + "." + s.Name + "." + s.Namespace + ".svc." + Domain
				if e.IP == ip && !seen[name] {
					seen[name] = true
					rrs = append(rrs, ptr(name))
				}
			}
		}
	}
	return rrs
}

// reverseAddr is the address a name under in-addr.arpa (four numbers) or
// ip6.arpa (32 nibbles) names, if it names one.
func reverseAddr(name string) netip.Addr {
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}
		}
		var hex strings.Builder
		for i := 31; i >= 0; i-- {
			if len(l[i]) != 1 || !strings.Contains("0123456789abcdef", l[i]) {
				return netip.Addr{}
			}
			hex.WriteString(l[i])
			if i%4 == 0 && i > 0 {
				hex.WriteByte(':')
			}
		}
		ip, err := netip.ParseAddr(hex.String())
		if err != nil {
			return netip.Addr{}
		}
		return ip
	}
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}
	}
	l := strings.Split(rest, ".")
	if len(l) != 4 {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
	if err != nil {
		return netip.Addr{}
	}
	return ip
}

// respond answers r from zone zn (nil: not loaded yet), as CoreDNS does
// on the wire: an EDNS version above 0 gets BADVERS (with an OPT of
// version 0, nothing else); an answer larger than the client can take
// over UDP (512 bytes without EDNS, its buffer size with it) is
// truncated, with TC set, so that the client asks again over TCP. A name
// that is not the cluster's goes to upstream (nil: there is none), whose
// answer is passed on as it is, not authoritative unless upstream says so;
// no answer from it is SERVFAIL, as CoreDNS's forward gives.
func respond(zn *zone, r *dns.Msg, udp bool, upstream func(*dns.Msg) (*dns.Msg, error)) *dns.Msg {
	m, size, bad := begin(r)
	if bad {
		return m
	}
	switch {
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	case zn == nil:
		m.Rcode = dns.RcodeServerFailure
	default:
		res := zn.lookup(r.Question[0])
		if res.forward {
			m = forward(r, upstream)
			break
		}
		m.Authoritative = true
		m.Answer, m.Extra, m.Rcode = res.answer, res.extra, res.rcode
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{zn.soa()}
		}
	}
	return seal(m, r, size, udp)
}

// begin starts the reply to r: its size limit over UDP, and BADVERS
// already (bad) for an EDNS version above 0.
func begin(r *dns.Msg) (m *dns.Msg, size int, bad bool) {
	m = new(dns.Msg)
	m.SetReply(r)
	size = dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), 4096)
		if opt.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			m.SetEdns0(uint16(size), opt.Do())
			return m, size, true
		}
	}
	return m, size, false
}

// seal adds the OPT a client with EDNS gets, and truncates the reply to
// what it takes.
func seal(m, r *dns.Msg, size int, udp bool) *dns.Msg {
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(uint16(size), opt.Do())
	}
	if udp {
		m.Truncate(size)
	} else {
		m.Truncate(dns.MaxMsgSize)
	}
	return m
}

// forward asks upstream r's question and passes its answer on (without
// its OPT: seal adds the one this client gets); SERVFAIL when there is no
// upstream or it does not answer.
func forward(r *dns.Msg, upstream func(*dns.Msg) (*dns.Msg, error)) *dns.Msg {
	fail := new(dns.Msg)
	fail.SetRcode(r, dns.RcodeServerFailure)
	fail.RecursionAvailable = true
	if upstream == nil {
		return fail
	}
	a, err := upstream(r.Copy())
	if err != nil || a == nil {
		return fail
	}
	a.Id = r.Id
	var extra []dns.RR
	for _, rr := range a.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	a.Extra = extra
	return a
}

// OutsideDomain is the outside host's own zone, the lab's stand-in for
// the world's DNS: outside.example.test and www.example.test are the
// outside host. (example.test is reserved for testing, RFC 2606: it is
// nobody's.)
const OutsideDomain = "example.test."

// outsideZone is the outside host's DNS server: authoritative for
// OutsideDomain, and a resolver that cannot reach the internet for every
// other name (SERVFAIL), which is what a lab's world is.
type outsideZone struct{ ip netip.Addr }

func (o outsideZone) respond(r *dns.Msg, udp bool) *dns.Msg {
	m, size, bad := begin(r)
	if bad {
		return m
	}
	m.RecursionAvailable = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return seal(m, r, size, udp)
	}
	q := r.Question[0]
	name := strings.ToLower(dns.Fqdn(q.Name))
	hdr := func(n string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
	}
	soa := &dns.SOA{Hdr: hdr(OutsideDomain, dns.TypeSOA), Ns: "ns." + OutsideDomain, Mbox: "hostmaster." + OutsideDomain,
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: 300}
	if rev, _ := dns.ReverseAddr(o.ip.String()); name == rev && q.Qtype == dns.TypePTR {
		m.Answer = []dns.RR{&dns.PTR{Hdr: hdr(q.Name, dns.TypePTR), Ptr: "outside." + OutsideDomain}}
		return seal(m, r, size, udp)
	}
	if !dns.IsSubDomain(OutsideDomain, name) {
		m.Rcode = dns.RcodeServerFailure
		return seal(m, r, size, udp)
	}
	m.Authoritative = true
	switch name {
	case OutsideDomain:
		switch q.Qtype {
		case dns.TypeSOA:
			m.Answer = []dns.RR{soa}
		case dns.TypeNS:
			m.Answer = []dns.RR{&dns.NS{Hdr: hdr(OutsideDomain, dns.TypeNS), Ns: "ns." + OutsideDomain}}
		}
	case "outside." + OutsideDomain, "www." + OutsideDomain, "ns." + OutsideDomain:
		if q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: hdr(q.Name, dns.TypeA), A: net.IP(o.ip.AsSlice())}}
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{soa}
	}
	return seal(m, r, size, udp)
}
