package kube

// The NetworkPolicy probe, in the manner of Kubernetes' e2e network
// policy tests (test/e2e/network/netpol) and of cyclonus: namespaces x,
// y and z, pods a, b and c in each (labelled pod=<name>), each serving
// ports 80 and 81 over TCP and UDP, one container a port and protocol
// (cont-80-tcp, named serve-80-tcp, as the e2e model names them). Every
// pod asks every pod on each port; what the policies allow (the
// evaluator, from the objects) is set beside what the packets did.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"netlab/internal/netops"
)

// ProbeNamespaces and ProbePods are the e2e model's.
var (
	ProbeNamespaces = []string{"x", "y", "z"}
	ProbePods       = []string{"a", "b", "c"}
)

// ProbePort is a port and protocol the probe asks on.
type ProbePort struct {
	Port     int32           `json:"port"`
	Protocol corev1.Protocol `json:"protocol"`
}

func (p ProbePort) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// ProbePorts are the e2e model's: 80 and 81, TCP and UDP.
var ProbePorts = []ProbePort{{80, corev1.ProtocolTCP}, {80, corev1.ProtocolUDP}, {81, corev1.ProtocolTCP}, {81, corev1.ProtocolUDP}}

// ProbeObjects are the probe's namespaces (labelled ns=<name>, beside
// kubernetes.io/metadata.name) and pods.
func ProbeObjects() []Object {
	var out []Object
	for _, ns := range ProbeNamespaces {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"ns": ns}}}
		out = append(out, Object{Doc: "the probe's namespace " + ns, Namespace: n})
	}
	for _, ns := range ProbeNamespaces {
		for _, name := range ProbePods {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"pod": name}}}
			for _, pp := range ProbePorts {
				port := fmt.Sprintf("%d-%s", pp.Port, strings.ToLower(string(pp.Protocol)))
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "cont-" + port, Image: "netlab/web:" + ns + "-" + name,
					Ports: []corev1.ContainerPort{{Name: "serve-" + port, ContainerPort: pp.Port, Protocol: pp.Protocol}}})
			}
			out = append(out, Object{Doc: "the probe's pod " + ns + "/" + name, Pod: p})
		}
	}
	return out
}

// ProbeMissing are the probe's objects the cluster lacks; a pod of the
// probe's name that is not the probe's is an error (the probe would not
// know what it serves).
func (c *Cluster) ProbeMissing() ([]Object, error) {
	var out []Object
	for _, o := range ProbeObjects() {
		switch {
		case o.Namespace != nil:
			if c.findNamespace(o.Namespace.Name) < 0 {
				out = append(out, o)
			}
		case o.Pod != nil:
			i := c.findPod(o.Pod.Namespace, o.Pod.Name)
			if i < 0 {
				out = append(out, o)
				continue
			}
			want, _, err := template("", "", "", o.Pod.Labels, o.Pod.Spec)
			if err != nil {
				return nil, err
			}
			if TemplateHash(want) != TemplateHash(c.Store.Pods[i].Template) {
				return nil, invalidf("pod %s/%s is not the probe's (it serves other ports, or has other labels): delete it ('netlab delete pod %s -n %s'), or the namespace, and probe again",
					o.Pod.Namespace, o.Pod.Name, o.Pod.Name, o.Pod.Namespace)
			}
		}
	}
	return out, nil
}

// Cell is one probe: a pod asks another on a port. Expected is the
// evaluator's answer from the policies, Observed what the packets did;
// Why is the evaluator's reason when it expects a denial.
type Cell struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Port     int32           `json:"port"`
	Protocol corev1.Protocol `json:"protocol"`
	Expected bool            `json:"expected"`
	Observed bool            `json:"observed"`
	Why      string          `json:"why,omitempty"`
	// Error is what the client met when the packets did not get through
	// ("connection refused": a REJECT; "timeout": dropped).
	Error string `json:"error,omitempty"`
}

// ProbeTimeout is how long a probe waits for an answer: a REJECT answers
// at once, so only a dropped packet costs it.
const ProbeTimeout = 2 * time.Second

// Probe asks from every probe pod that runs on this machine to every
// probe pod, on each of ports, with real connections (TCP) and datagrams
// (UDP), several at a time, and returns the cells in order (from, to,
// port); skipped are the probe pods of other machines, which ask from
// there.
func (c *Cluster) Probe(ctx context.Context, ports []ProbePort) (cells []Cell, skipped []string, err error) {
	set := c.PolicySet()
	byKey := map[string]*PolicyPod{}
	for i := range set.Pods {
		byKey[set.Pods[i].Key()] = &set.Pods[i]
	}
	keys := ProbeKeys()
	for _, k := range keys {
		if byKey[k] == nil {
			return nil, nil, invalidf("pod %s is missing: the probe makes its pods first", k)
		}
	}
	local := map[string]netops.NS{}
	for _, p := range c.Store.Pods {
		if c.local(p.Node) {
			local[p.Namespace+"/"+p.Name] = p.NS
		}
	}
	for _, from := range keys {
		if _, ok := local[from]; !ok {
			skipped = append(skipped, from)
			continue
		}
		for _, to := range keys {
			for _, pp := range ports {
				v := set.Evaluate(Peer{Pod: byKey[from]}, Peer{Pod: byKey[to]}, pp.Port, pp.Protocol)
				cell := Cell{From: from, To: to, Port: pp.Port, Protocol: pp.Protocol, Expected: v.Allowed}
				if !v.Allowed {
					cell.Why = v.Why(from, to)
				}
				cells = append(cells, cell)
			}
		}
	}
	// Each cell is a new connection. A UDP datagram whose addresses and
	// ports are those of a flow conntrack still holds (30 s, from an
	// earlier probe, before a policy changed) would pass as an answer to
	// it, as on a real node: the probe's own UDP flows are cleared first.
	var clear []netops.Op
	for _, n := range c.S.Topology.LocalNodes() {
		for _, k := range keys {
			for _, ip := range byKey[k].IPs {
				if ip.Is4() {
					clear = append(clear, netops.ConntrackDel{NS: n.NS, Proto: "udp", OrigDst: ip.String()})
				}
			}
		}
	}
	if err := c.R.Run(ctx, clear); err != nil {
		return nil, nil, fmt.Errorf("clear the probe's UDP flows from conntrack: %w", err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range cells {
		cl := &cells[i]
		to := byKey[cl.To]
		var dst netip.Addr
		for _, ip := range to.IPs {
			if ip.Is4() {
				dst = ip
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cl.Observed, cl.Error = probeAsk(ctx, local[cl.From], netip.AddrPortFrom(dst, uint16(cl.Port)), cl.Protocol)
		}()
	}
	wg.Wait()
	return cells, skipped, ctx.Err()
}

// probeAsk connects from namespace ns to addr: a TCP connection, or a UDP
// datagram that must be answered. It reports whether it got through, or
// what stopped it.
func probeAsk(ctx context.Context, ns netops.NS, addr netip.AddrPort, proto corev1.Protocol) (bool, string) {
	var ok bool
	var why string
	err := netops.Do(ns, func() error {
		d := net.Dialer{Timeout: ProbeTimeout}
		network := "tcp"
		if proto == corev1.ProtocolUDP {
			network = "udp"
		}
		conn, err := d.DialContext(ctx, network, addr.String())
		if err != nil {
			why = brief(err)
			return nil
		}
		defer conn.Close()
		if network == "tcp" {
			ok = true
			return nil
		}
		// A datagram may be lost where a connection's SYN is sent again
		// (the first packets to a neighbour not yet resolved wait in a
		// short queue): sent again every 400 ms until the timeout, as a
		// DNS client asks again.
		deadline := time.Now().Add(ProbeTimeout)
		buf := make([]byte, 512)
		for {
			if _, err := conn.Write([]byte("probe\n")); err != nil {
				why = brief(err)
				return nil
			}
			wait := time.Now().Add(400 * time.Millisecond)
			if wait.After(deadline) {
				wait = deadline
			}
			_ = conn.SetReadDeadline(wait)
			_, err := conn.Read(buf)
			if err == nil {
				break
			}
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() || time.Now().After(deadline) {
				why = brief(err)
				return nil
			}
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, err.Error()
	}
	return ok, why
}

// brief is a client's error in a word or two.
func brief(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "refused"):
		return "connection refused"
	case strings.Contains(s, "timeout"), strings.Contains(s, "deadline"):
		return "timeout"
	case strings.Contains(s, "unreachable"):
		return "unreachable"
	}
	return s
}

// ProbeKeys are the probe's pods in the tables' order.
func ProbeKeys() []string {
	var out []string
	for _, ns := range ProbeNamespaces {
		for _, name := range ProbePods {
			out = append(out, ns+"/"+name)
		}
	}
	return out
}

// Differences are the cells whose observation is not what the policies
// expect, in the cells' order (Probe's: by client, server, port).
func Differences(cells []Cell) []Cell {
	var out []Cell
	for _, c := range cells {
		if c.Expected != c.Observed {
			out = append(out, c)
		}
	}
	return out
}
