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
	name := labtest.NewLab(t, "n")
	labtest.MustRun(t, "overlay-mode", "--lab", name)
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
	for _, n := range []string{"my-service.default.svc.cluster.local", "my-service.default.svc.cluster.local."} {
		addrs, err := r.LookupHost(ctx, n)
		require.NoError(t, err, n)
		assert.Equal(t, []string{vip}, addrs, n)
	}
	_, srvs, err := r.LookupSRV(ctx, "http", "tcp", "myapp-pods.default.svc.cluster.local")
	require.NoError(t, err)
	require.Len(t, srvs, 1)
	assert.EqualValues(t, 9376, srvs[0].Port)
	headless, err := r.LookupHost(ctx, "myapp-pods.default.svc.cluster.local")
	require.NoError(t, err)
	var ips []string
	for _, p := range getPods(t, name) {
		ips = append(ips, p.IP)
	}
	assert.ElementsMatch(t, ips, headless, "one A per Ready pod")
	_, err = r.LookupHost(ctx, "nobody.default.svc.cluster.local")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound, "a headless Service with no Ready pod: NXDOMAIN")
	names, err := r.LookupAddr(ctx, vip)
	require.NoError(t, err)
	assert.Equal(t, []string{"my-service.default.svc.cluster.local."}, names)
	_, err = netip.ParseAddr(vip)
	require.NoError(t, err)
	assert.Equal(t, 2, labtest.Run(t, "get", "services", "kube-dns", "--lab", name).Code, "kube-system's Services show with -A only")
	all := labtest.MustRun(t, "get", "services", "-A", "--lab", name).Stdout
	assert.Regexp(t, `kube-system\s+kube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53/UDP,53/TCP`, all)

	// down takes the pods' resolv.conf with their namespaces.
	labtest.MustRun(t, "down", "--lab", name)
	labtest.AssertGone(t, name)
}
