package main

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
	"netlab/internal/netops"
)

// resolver asks the cluster DNS (10.96.0.10) from inside ns.
func resolver(ns netops.NS) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var c net.Conn
		err := netops.Do(ns, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, "10.96.0.10:53")
			return err
		})
		return c, err
	}}
}

// TestClusterDNS: names resolve from a pod through the search path, as
// CoreDNS's kubernetes plugin answers them: A for the Service, SRV for a
// named port, one A per Ready pod for a headless Service (NXDOMAIN when
// none is), PTR for a ClusterIP.
func TestClusterDNS(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testClusterDNS)
}

func testClusterDNS(t *testing.T, mode string) {
	name := labtest.NewLab(t, "n")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--proxy-mode", mode)
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../examples/my-service.json", "-f", manifest(t, `
apiVersion: v1
kind: Service
metadata: {name: myapp-pods}
spec:
  clusterIP: None
  selector: {app: MyApp}
  ports: [{name: http, port: 9376}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  clusterIP: None
  selector: {app: none}
  ports: [{name: http, port: 80}]
`))
	st := readStatus(t, name)
	pod1, _ := st.workload("pod1")
	vip := getService(t, name, "my-service").ClusterIP

	// From a pod, with its resolv.conf: curl http://my-service/ just works.
	out, err := exec.Command("ip", "netns", "exec", string(pod1), "curl", "-s", "-m", "5", "http://my-service/").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "the color is red")
	conf, err := exec.Command("ip", "netns", "exec", string(pod1), "cat", "/etc/resolv.conf").CombinedOutput()
	require.NoError(t, err)
	assert.Equal(t, "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
		strings.SplitN(string(conf), "\n", 2)[1], "as the kubelet writes it")

	r := resolver(pod1)
	ctx := context.Background()
	var dnsErr *net.DNSError
	for _, n := range []string{"my-service.default.svc.cluster.local", "my-service.default.svc.cluster.local."} {
		addrs, err := r.LookupHost(ctx, n)
		require.NoError(t, err, n)
		assert.Equal(t, []string{vip}, addrs, n)
	}
	var ips []string
	for _, p := range getPods(t, name) {
		ips = append(ips, p.IP)
	}
	require.Len(t, ips, 3)
	// A headless Service: one SRV per Ready pod, its target the pod's own
	// name, which resolves to the pod; its PTR names it back.
	_, srvs, err := r.LookupSRV(ctx, "http", "tcp", "myapp-pods.default.svc.cluster.local")
	require.NoError(t, err)
	require.Len(t, srvs, 3)
	var targets []string
	for _, srv := range srvs {
		assert.EqualValues(t, 9376, srv.Port)
		assert.EqualValues(t, 33, srv.Weight, "100 over three targets, as CoreDNS weighs them")
		addrs, err := r.LookupHost(ctx, srv.Target)
		require.NoError(t, err, srv.Target)
		require.Len(t, addrs, 1)
		assert.Equal(t, strings.ReplaceAll(addrs[0], ".", "-")+".myapp-pods.default.svc.cluster.local.", srv.Target)
		targets = append(targets, addrs[0])
	}
	assert.ElementsMatch(t, ips, targets)
	back, err := r.LookupAddr(ctx, ips[0])
	require.NoError(t, err)
	dashed := strings.ReplaceAll(ips[0], ".", "-")
	assert.ElementsMatch(t, []string{dashed + ".my-service.default.svc.cluster.local.", dashed + ".myapp-pods.default.svc.cluster.local."}, back,
		"an endpoint's address names it under each Service it serves")
	pod, err := r.LookupHost(ctx, dashed+".default.pod.cluster.local")
	require.NoError(t, err)
	assert.Equal(t, []string{ips[0]}, pod, "pods insecure, as kubeadm's Corefile")
	headless, err := r.LookupHost(ctx, "myapp-pods.default.svc.cluster.local")
	require.NoError(t, err)
	assert.ElementsMatch(t, ips, headless, "one A per Ready pod")
	txt, err := r.LookupTXT(ctx, "dns-version.cluster.local.")
	require.NoError(t, err)
	assert.Equal(t, []string{"1.1.0"}, txt)

	// A name that is not the cluster's goes to the outside host's DNS, as
	// the Corefile's forward does: its own zone answers, the rest of the
	// world (none in a lab) is SERVFAIL.
	www, err := r.LookupHost(ctx, "www.example.test.")
	require.NoError(t, err)
	_, outsideIP := st.node("outside")
	assert.Equal(t, []string{outsideIP}, www)
	out, err = exec.Command("ip", "netns", "exec", string(pod1), "curl", "-s", "-m", "5", "http://www.example.test/").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "name=outside")
	_, err = r.LookupHost(ctx, "kubernetes.io.")
	require.ErrorAs(t, err, &dnsErr)
	assert.False(t, dnsErr.IsNotFound, "SERVFAIL, not NXDOMAIN: %v", err)

	// The DNS pod's metrics port, as CoreDNS's, counts what it answered.
	metrics, err := exec.Command("ip", "netns", "exec", string(pod1), "curl", "-s", "-m", "5", "http://10.96.0.10:9153/metrics").CombinedOutput()
	require.NoError(t, err, "%s", metrics)
	assert.Regexp(t, `coredns_dns_requests_total\{[^}]*type="SRV"\} [1-9]`, string(metrics))
	assert.Regexp(t, `coredns_dns_responses_total\{[^}]*rcode="SERVFAIL"\} [1-9]`, string(metrics))
	_, err = r.LookupHost(ctx, "nobody.default.svc.cluster.local")
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound, "a headless Service with no Ready pod: NXDOMAIN")
	names, err := r.LookupAddr(ctx, vip)
	require.NoError(t, err)
	assert.Equal(t, []string{"my-service.default.svc.cluster.local."}, names)
	_, err = netip.ParseAddr(vip)
	require.NoError(t, err)
	assert.Equal(t, 2, labtest.Run(t, "get", "services", "kube-dns", "--lab", name).Code, "kube-system's Services show with -A only")
	all := labtest.MustRun(t, "get", "services", "-A", "--lab", name).Stdout
	assert.Regexp(t, `kube-system\s+kube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53/UDP,53/TCP,9153/TCP`, all)

	// down takes the pods' resolv.conf with their namespaces.
	labtest.MustRun(t, "down", "--lab", name)
	labtest.AssertGone(t, name)
}
