package kube

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExplainPorts: a Service's steps in both modes are exactly its own
// rules of each generator's output (no other Service's), in kube-proxy's
// words: its place in KUBE-SERVICES, its probabilities, its numgen, its
// endpoints' DNAT, its NodePort; a Service without endpoints is one
// reject step.
func TestExplainPorts(t *testing.T) {
	web := svc("ns1", "web", "10.96.0.41", ep("10.244.1.5", 9376), ep("10.244.2.5", 9376))
	web.NodePort, web.AffinitySeconds = 30080, 600
	other := svc("ns1", "other", "10.96.0.40", ep("10.244.1.9", 80))
	empty := svc("ns1", "empty", "10.96.0.42")
	all := []ServicePort{web, other, empty}
	cidr, svcs, node := netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12"), netip.MustParseAddr("192.168.56.11")
	got := ExplainPorts(all, "ns1", "web", cidr, svcs, node, nil)
	require.Len(t, got, 1)
	p := got[0]
	assert.Equal(t, "ns1/web:p80", p.Port)
	assert.Equal(t, []string{"10.244.1.5:9376", "10.244.2.5:9376"}, p.Endpoints)
	require.Len(t, p.Steps, 6)
	// ns1/other:p80 sorts before ns1/web:p80: web's is the second rule.
	assert.Equal(t, "rule 2 of the 3 in KUBE-SERVICES, which every new connection walks in order until one matches", p.Steps[0].IPTablesWhy)
	assert.Equal(t, []string{`-A KUBE-SERVICES -m comment --comment "ns1/web:p80 cluster IP" -m tcp -p tcp -d 10.96.0.41 --dport 80 -j ` + ServiceChain(web)}, p.Steps[0].IPTables)
	assert.Equal(t, []string{"add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
		"add element ip kube-proxy service-ips { 10.96.0.41 . tcp . 80 : goto " + NFTServiceChain(web) + " }"}, p.Steps[0].NFTables)
	choose := strings.Join(p.Steps[2].IPTables, "\n")
	assert.Contains(t, choose, "--probability 0.5000000000 -j "+EndpointChain(web, web.Endpoints[0]))
	assert.Contains(t, choose, "-m recent --name "+EndpointChain(web, web.Endpoints[0])+" --rcheck --seconds 600 --reap")
	nchoose := strings.Join(p.Steps[2].NFTables, "\n")
	assert.Contains(t, nchoose, "numgen random mod 2 vmap")
	assert.Contains(t, nchoose, "ip saddr @"+NFTAffinitySet(web, web.Endpoints[1])+" goto "+NFTEndpointChain(web, web.Endpoints[1]))
	assert.Contains(t, strings.Join(p.Steps[3].NFTables, "\n"), "meta l4proto tcp dnat to 10.244.2.5:9376")
	assert.Contains(t, strings.Join(p.Steps[5].NFTables, "\n"), "tcp . 30080 : goto "+NFTExternalChain(web))
	for _, s := range p.Steps {
		for _, r := range append(append([]string{}, s.IPTables...), s.NFTables...) {
			assert.NotContains(t, r, "ns1/other", "%s: only web's rules", s.Step)
			assert.NotContains(t, r, "10.244.1.9", "%s: only web's rules", s.Step)
		}
	}

	got = ExplainPorts(all, "ns1", "empty", cidr, svcs, node, nil)
	require.Len(t, got, 1)
	require.Len(t, got[0].Steps, 1)
	assert.Equal(t, []string{`-A KUBE-SERVICES -m comment --comment "ns1/empty:p80 has no endpoints" -m tcp -p tcp -d 10.96.0.42 --dport 80 -j REJECT`}, got[0].Steps[0].IPTables)
	assert.Contains(t, got[0].Steps[0].NFTables, `add element ip kube-proxy no-endpoint-services { 10.96.0.42 . tcp . 80 comment "ns1/empty:p80" : goto reject-chain }`)
	assert.Empty(t, ExplainPorts(all, "ns2", "web", cidr, svcs, node, nil), "another namespace's")
}
