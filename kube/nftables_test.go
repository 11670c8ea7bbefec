package kube

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNFTablesChainNames: kube-proxy's own names, as its golden test and
// its comments give them.
func TestNFTablesChainNames(t *testing.T) {
	s := svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80))
	assert.Equal(t, "service-ULMVA6XW-ns1/svc1/tcp/p80", NFTServiceChain(s))
	assert.Equal(t, "external-ULMVA6XW-ns1/svc1/tcp/p80", NFTExternalChain(s))
	assert.Equal(t, "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80", NFTEndpointChain(s, s.Endpoints[0]))
	// An IPv6 endpoint's colons become dots: a chain name holds no colon.
	s6 := svc("ns1", "svc1", "fd00:172:30::41", ep("fd00:10:180::1", 80))
	assert.Equal(t, "endpoint-ZVRFLKHO-ns1/svc1/tcp/p80__fd00.10.180..1/80", NFTEndpointChain(s6, s6.Endpoints[0]))
	// A port without a name, as a live node lists it.
	s.PortName = ""
	assert.Equal(t, "service-", NFTServiceChain(s)[:8])
	assert.True(t, strings.HasSuffix(NFTServiceChain(s), "-ns1/svc1/tcp/"), NFTServiceChain(s))
}

// TestNFTablesGolden: for the input of kube-proxy's TestOverallNFTablesRules
// (the Services netlab has), GenerateNFT writes exactly the lines of
// testdata/kube-proxy-nftables-overall.rules: kube-proxy's golden lines,
// and the current proxier's where it has changed them since (the file
// says which and why), no more, no less.
func TestNFTablesGolden(t *testing.T) {
	s3 := svc("ns3", "svc3", "172.30.0.43", ep("10.180.0.3", 80))
	s3.NodePort = 3003
	s4 := svc("ns4", "svc4", "172.30.0.44", ep("10.180.0.5", 80), ep("10.180.0.4", 80))
	s5 := svc("ns5", "svc5", "172.30.0.45", ep("10.180.0.3", 80))
	s5.NodePort, s5.AffinitySeconds = 3002, 10800
	got := GenerateNFT([]ServicePort{svc("ns6", "svc6", "172.30.0.46"), s5, s4, s3, svc("ns1", "svc1", "172.30.0.41", ep("10.180.0.1", 80))}, NFTOptions{
		ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"), ServiceCIDR: netip.MustParsePrefix("172.30.0.0/16"),
		NodePortIPs: []netip.Addr{netip.MustParseAddr("192.168.0.2"), netip.MustParseAddr("127.0.0.1")},
	})
	f, err := os.Open(filepath.Join("testdata", "kube-proxy-nftables-overall.rules"))
	require.NoError(t, err)
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	require.NoError(t, sc.Err())
	require.Greater(t, len(want), 80, "the golden lines were read")
	sort.Strings(want)
	sorted := append([]string{}, got...)
	sort.Strings(sorted)
	assert.Equal(t, want, sorted)
	assert.Len(t, got, len(want), "no line twice")

	// One transaction nft can load from nothing: every chain, set and map
	// declared before a rule or element names it.
	declared := map[string]bool{}
	for _, l := range got {
		f := strings.Fields(l)
		require.GreaterOrEqual(t, len(f), 4, l)
		switch f[1] {
		case "table":
		case "chain", "set", "map":
			declared[f[4]] = true
		case "rule":
			assert.True(t, declared[f[4]], "rule in chain %s before its declaration", f[4])
			for _, w := range f[5:] {
				if target, ok := strings.CutPrefix(w, "@"); ok {
					assert.True(t, declared[target], "%s named before its declaration: %s", target, l)
				}
			}
		case "element":
			assert.True(t, declared[f[4]], "element of %s before its declaration", f[4])
		}
	}
}
