package kube

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/labtest"
)

// TestNFTablesLoads: the kernel takes GenerateNFT's transaction as it is
// (nft -f, in a network namespace of the test's own), and `nft list`
// shows its chains, maps and sets, the endpoints' verdict map and an
// affinity set with its timeout among them.
func TestNFTablesLoads(t *testing.T) {
	labtest.Root(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("no nft here: 'sudo make test' installs it (apt-get install nftables)")
	}
	ns := labtest.Name("nft")
	out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	s := svc("ns1", "svc1", "10.96.0.41", ep("10.244.1.5", 9376), ep("10.244.2.5", 9376))
	s.NodePort, s.AffinitySeconds = 30080, 10800
	lines := GenerateNFT([]ServicePort{s, svc("ns1", "empty", "10.96.0.42")}, NFTOptions{
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		NodePortIPs: []netip.Addr{netip.MustParseAddr("192.168.56.11")},
	})
	f := filepath.Join(t.TempDir(), "kube-proxy.nft")
	require.NoError(t, os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	out, err = exec.Command("ip", "netns", "exec", ns, "nft", "-f", f).CombinedOutput()
	require.NoError(t, err, "nft -f: %s", out)
	out, err = exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", "kube-proxy").CombinedOutput()
	require.NoError(t, err, string(out))
	listed := string(out)
	for _, want := range []string{
		"chain " + NFTServiceChain(s) + " {",
		"numgen random mod 2 vmap { 0 : goto " + NFTEndpointChain(s, s.Endpoints[0]) + ", 1 : goto " + NFTEndpointChain(s, s.Endpoints[1]) + " }",
		"meta l4proto tcp dnat to 10.244.2.5:9376",
		"set " + NFTAffinitySet(s, s.Endpoints[0]) + " {",
		"timeout 3h",
		"10.96.0.41 . tcp . 80 : goto " + NFTServiceChain(s),
		"tcp . 30080 : goto " + NFTExternalChain(s),
		`10.96.0.42 . tcp . 80 comment "ns1/empty:p80" : goto reject-chain`,
		// The base chains as a live kube-proxy's table lists them (a k3s
		// node's `nft list table ip kube-proxy`, 2025): nft names dstnat
		// and srcnat where the hook has them.
		"chain filter-prerouting {\n\t\ttype filter hook prerouting priority dstnat - 10; policy accept;\n\t\tct state new jump firewall-check\n\t}",
		"chain filter-output-post-dnat {\n\t\ttype filter hook output priority -90; policy accept;\n\t\tct state new jump cluster-ips-check\n\t}",
		"chain nat-postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tjump masquerading\n\t}",
		"chain masquerading {\n\t\tmeta mark & 0x00004000 == 0x00000000 return\n\t\tmeta mark set meta mark ^ 0x00004000\n\t\tmasquerade fully-random\n\t}",
	} {
		assert.Contains(t, listed, want)
	}
}
