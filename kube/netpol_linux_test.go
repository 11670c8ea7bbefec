package kube

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// TestPolicyRulesWithPackets: the rules GeneratePolicies writes, loaded
// into a node's kernel, let through exactly what the evaluator expects,
// cell by cell, with real TCP connections between pods on one bridge
// (br_netfilter's path, as pods of one node): the two are written apart
// and check each other. Cases from Kubernetes' e2e suite.
func TestPolicyRulesWithPackets(t *testing.T) {
	labtest.Root(t)
	s := xyz()
	s.Pods = s.Pods[:6] // x and y: 30 cells a case
	node := netops.NS(labtest.Name("np"))
	sh := func(args ...string) {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	sh("ip", "netns", "add", string(node))
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", string(node)).Run() })
	sh("ip", "netns", "exec", string(node), "sysctl", "-qw", "net.ipv4.ip_forward=1")
	sh("ip", "-n", string(node), "link", "add", "cni0", "type", "bridge")
	sh("ip", "-n", string(node), "addr", "add", "10.244.1.1/24", "dev", "cni0")
	sh("ip", "-n", string(node), "link", "set", "cni0", "up")
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		t.Skip("br_netfilter is not loaded (netlab loads no kernel module): 'sudo modprobe br_netfilter', then run again")
	}
	sh("ip", "netns", "exec", string(node), "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
	for i := range s.Pods {
		p := &s.Pods[i]
		p.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 244, 1, byte(10 + i)})}
		ns := node + netops.NS(fmt.Sprintf("-p%d", i))
		sh("ip", "netns", "add", string(ns))
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", string(ns)).Run() })
		veth := fmt.Sprintf("veth%d", i)
		sh("ip", "-n", string(node), "link", "add", veth, "master", "cni0", "up", "type", "veth", "peer", "name", "eth0", "netns", string(ns))
		sh("ip", "-n", string(ns), "addr", "add", p.IPs[0].String()+"/24", "dev", "eth0")
		sh("ip", "-n", string(ns), "link", "set", "eth0", "up")
		sh("ip", "-n", string(ns), "link", "set", "lo", "up")
		// A listener on 80 and 81, opened in the pod's namespace.
		for _, port := range []int{80, 81} {
			var l net.Listener
			require.NoError(t, netops.Do(ns, func() (err error) {
				l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
				return err
			}))
			t.Cleanup(func() { _ = l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
		}
	}
	nsOf := func(i int) netops.NS { return node + netops.NS(fmt.Sprintf("-p%d", i)) }
	connects := func(from, to int, port int32) bool {
		var ok bool
		_ = netops.Do(nsOf(from), func() error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", s.Pods[to].IPs[0], port), 400*time.Millisecond)
			if err == nil {
				ok = true
				_ = c.Close()
			}
			return nil
		})
		return ok
	}
	r := netops.NewRunner(netops.Apply, nil)
	defer r.Close()
	var jumped bool
	for _, c := range []struct {
		name  string
		specs []string
		port  int32
	}{
		{"no policy", nil, 80},
		{"default-deny-ingress", []string{`{podSelector: {}, policyTypes: [Ingress]}`}, 80},
		{"default-deny-all", []string{`{podSelector: {}, policyTypes: [Ingress, Egress]}`}, 80},
		{"allow from a pod of the namespace", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}`}, 80},
		{"pod AND namespace selector", []string{`{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {matchLabels: {pod: b}}}]}]}`}, 80},
		{"named port, other port", []string{`{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`}, 80},
		{"named port, its port", []string{`{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}`}, 81},
		{"egress to a CIDR except one", []string{`{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.11/32]}}]}]}`}, 80},
		{"endPort", []string{`{podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: 81, endPort: 90}]}]}`}, 80},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.Policies = nil
			for _, sp := range c.specs {
				s.Policies = append(s.Policies, policy(t, "x", sp))
			}
			gen := GeneratePolicies(s, s.Pods, corev1.IPv4Protocol)
			ipt := netops.IPTables{NS: node, Marker: "netlab:test"}
			for _, ch := range gen.Filter.Chains {
				ipt.Chains = append(ipt.Chains, netops.Chain{Table: "filter", Name: ch})
			}
			ipt.Rules = gen.Filter.Rules
			if !jumped {
				ipt.Rules = append(ipt.Rules, PolicyJumps()...)
				jumped = true
			}
			// Sets first (the rules name them), then the rules: the
			// top-level chains declared again are flushed, so the last
			// case's pod chains are no longer jumped to.
			require.NoError(t, r.Run(context.Background(), []netops.Op{netops.IPSets{NS: node, Sets: gen.Sets}, ipt}))
			var want, got strings.Builder
			for i := range s.Pods {
				for j := range s.Pods {
					if i == j {
						want.WriteByte('-')
						got.WriteByte('-')
						continue
					}
					e := s.Evaluate(Peer{Pod: &s.Pods[i]}, Peer{Pod: &s.Pods[j]}, c.port, corev1.ProtocolTCP).Allowed
					want.WriteByte(map[bool]byte{true: '.', false: 'X'}[e])
					got.WriteByte(map[bool]byte{true: '.', false: 'X'}[connects(i, j, c.port)])
				}
				want.WriteByte('\n')
				got.WriteByte('\n')
			}
			require.Equal(t, want.String(), got.String(), "expected (the evaluator) against observed (packets), rows x/a..y/c")
		})
	}
}
