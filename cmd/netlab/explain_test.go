package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
	"netlab/internal/labtest"
	"netlab/internal/names"
	"netlab/kube"
)

// TestExplainService: explain svc/NAME lays one Service's rules out in both of
// kube-proxy's modes, step by step, and the lab's own mode's rules are
// the ones in the kernel: iptables-save's lines (but for netlab's
// comment), or the chains, map elements and dnat rules of nft's listing.
// A Service it does not have, or a headless one, is refused by name.
func TestExplainService(t *testing.T) {
	labtest.Root(t)
	eachProxyMode(t, testExplain)
}

func testExplain(t *testing.T, mode string) {
	name := labtest.NewLab(t, "x")
	labtest.MustRun(t, "overlay-mode", "--lab", name, "--pods", "1", "--proxy-mode", mode)
	labtest.MustRun(t, "apply", "--lab", name, "-f", "../../examples/myapp.yaml", "-f", "../../docs/examples/nodeport.yaml", "-f", manifest(t, nobodyService))
	var e api.Explain
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "explain", "svc/my-service-np", "--lab", name, "--json").Stdout), &e))
	assert.Equal(t, mode, e.ProxyMode)
	assert.Equal(t, "default/my-service-np", e.Service)
	require.Len(t, e.Ports, 1)
	p := e.Ports[0]
	assert.Equal(t, 30080, p.NodePort)
	assert.Len(t, p.Endpoints, 3)
	var steps []string
	for _, s := range p.Steps {
		steps = append(steps, strings.Fields(s.Step)[0])
		assert.NotEmpty(t, s.IPTables, "%s: iptables' rules", s.Step)
		assert.NotEmpty(t, s.NFTables, "%s: nftables' rules", s.Step)
	}
	assert.Equal(t, []string{"find", "mark", "choose", "DNAT", "masquerade", "the"}, steps)
	assert.Regexp(t, `^rule \d+ of the \d+ in KUBE-SERVICES`, p.Steps[0].IPTablesWhy)
	assert.Contains(t, strings.Join(p.Steps[2].IPTables, "\n"), "--probability 0.3333333")
	assert.Regexp(t, `numgen random mod 3 vmap \{ 0 : goto endpoint-`, strings.Join(p.Steps[2].NFTables, "\n"))

	// The loaded mode's rules in the kernel's spelling, the other's as
	// its commands write them.
	mark := strings.Join(p.Steps[1].NFTables, "\n")
	if mode == "nftables" {
		assert.Contains(t, mark, "add rule ip kube-proxy mark-for-masquerade meta mark set meta mark | 0x00004000", "as nft lists it")
	} else {
		assert.Contains(t, mark, "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000", "as netlab's nft command writes it")
		assert.Contains(t, strings.Join(p.Steps[1].IPTables, "\n"), "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", "as iptables-save lists it")
	}
	node1 := string(names.NetnsName(name, "node1"))
	if mode == "iptables" {
		out, err := exec.Command("ip", "netns", "exec", node1, "iptables-save", "-t", "nat").CombinedOutput()
		require.NoError(t, err, "%s", out)
		mine := regexp.MustCompile(` -m comment --comment "netlab:` + name + ` kube-proxy"`)
		kernel := mine.ReplaceAllString(string(out), "")
		for _, s := range p.Steps {
			for _, r := range s.IPTables {
				assert.Contains(t, kernel, r+"\n", "%s: the rule is in node1's nat table", s.Step)
			}
		}
		// The kernel's lines, each where the step has it.
		sp := kube.ServicePort{Namespace: "default", Name: "my-service-np", Protocol: "TCP"}
		assert.Equal(t, []string{"-A KUBE-SERVICES -d " + p.ClusterIP + `/32 -p tcp -m comment --comment "default/my-service-np cluster IP" -m tcp --dport 80 -j ` + kube.ServiceChain(sp)}, p.Steps[0].IPTables)
		for _, ep := range p.Endpoints {
			assert.Contains(t, strings.Join(p.Steps[3].IPTables, "\n"), "-j DNAT --to-destination "+ep)
		}
	} else {
		out, err := exec.Command("ip", "netns", "exec", node1, "nft", "list", "table", "ip", "kube-proxy").CombinedOutput()
		require.NoError(t, err, "%s", out)
		listed := string(out)
		for _, s := range p.Steps {
			for _, r := range s.NFTables {
				f := strings.Fields(r)
				switch f[1] {
				case "rule":
					// The rule, as nft lists it, in its chain's block.
					block := listed[strings.Index(listed, "chain "+f[4]+" {"):]
					block = block[:strings.Index(block, "\n\t}")+1]
					assert.Contains(t, block, "\t\t"+strings.Join(f[5:], " ")+"\n", "%s: in node1's chain", r)
				case "element":
					_, elem, _ := strings.Cut(r, "{ ")
					assert.Contains(t, listed, strings.TrimSuffix(elem, " }"), "%s: the element is in node1's map", r)
				}
			}
		}
	}
	text := labtest.MustRun(t, "explain", "svc/my-service-np", "--lab", name).Stdout
	assert.Contains(t, text, "Lab "+name+" runs kube-proxy in "+mode+" mode")
	assert.Contains(t, text, "1. find the Service by its ClusterIP, protocol and port")
	assert.Contains(t, text, mode+" *")

	// No endpoints: one step, the reject, in both modes.
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "explain", "svc/nobody", "--lab", name, "--json").Stdout), &e))
	require.Len(t, e.Ports, 1)
	require.Len(t, e.Ports[0].Steps, 1)
	assert.Regexp(t, `^-A KUBE-SERVICES .*"default/nobody has no endpoints" .*-j REJECT`, strings.Join(e.Ports[0].Steps[0].IPTables, "\n"))
	assert.Contains(t, strings.Join(e.Ports[0].Steps[0].NFTables, "\n"), `comment "default/nobody" : goto reject-chain`)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "svc/nosuch", "--lab", name}, `services "nosuch" not found in namespace default`},
		{[]string{"explain", "svc/kube-dns", "--lab", name}, `services "kube-dns" not found in namespace default`},
		{[]string{"explain", "my-service-np", "--lab", name}, `"my-service-np": explain takes a Service as svc/NAME`},
		{[]string{"explain", "deploy/myapp", "--lab", name}, `explain takes a Service as svc/NAME`},
	} {
		r := labtest.Run(t, tc.args...)
		assert.Equal(t, 2, r.Code, "%v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want)
	}
	assert.Contains(t, labtest.MustRun(t, "explain", "svc/kube-dns", "-n", "kube-system", "--lab", name).Stdout, "kube-system/kube-dns:dns")
}
