package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/compare"
	"netlab/internal/labtest"
	"netlab/internal/topo"
)

// compareDoc is 'netlab compare --json' as a script reads it.
type compareDoc struct {
	Labs     map[string]string            `json:"labs"`
	Rows     []map[string]json.RawMessage `json:"rows"`
	Verdicts []map[string]json.RawMessage `json:"verdicts"`
}

// cell is a cell of a row, read loosely.
type cell struct {
	Reachable    bool     `json:"reachable"`
	RTTms        *float64 `json:"rtt_ms"`
	Hops         []string `json:"hops"`
	Path         []string `json:"path"`
	AnsweredBy   string   `json:"answered_by"`
	SeenSource   string   `json:"seen_source"`
	Translated   *bool    `json:"translated"`
	To           string   `json:"to"`
	MTU          int      `json:"mtu"`
	MaxDFPayload *int     `json:"max_df_payload"`
	Overhead     *int     `json:"overhead_bytes"`
	GbitS        *float64 `json:"gbit_s"`
	Error        string   `json:"error"`
	Note         string   `json:"note"`
	Server       string   `json:"server"`
	Rcode        string   `json:"rcode"`
	Resolved     []string `json:"resolved"`
	Processes    int      `json:"processes"`
	From         string   `json:"from"`
	Meant        string   `json:"meant"`
	Failed       string   `json:"failed"`
	DroppedBy    string   `json:"dropped_by"`
	Back         *cell    `json:"back"`
	OwnNode      *cell    `json:"own_node"`
	Published    *cell    `json:"published"`
}

func (d compareDoc) cell(t *testing.T, row, col string) cell {
	t.Helper()
	for _, r := range d.Rows {
		var id string
		require.NoError(t, json.Unmarshal(r["id"], &id))
		if id == row {
			var c cell
			require.Contains(t, r, col, "row %s has no %s cell", row, col)
			require.NoError(t, json.Unmarshal(r[col], &c))
			return c
		}
	}
	t.Fatalf("no row %s", row)
	return cell{}
}

func (d compareDoc) verdict(t *testing.T, id, col string) string {
	t.Helper()
	for _, v := range d.Verdicts {
		var vid, res string
		require.NoError(t, json.Unmarshal(v["id"], &vid))
		if vid == id {
			require.NoError(t, json.Unmarshal(v[col], &res))
			return res
		}
	}
	t.Fatalf("no verdict %s", id)
	return ""
}

func runCompare(t *testing.T, args ...string) (compareDoc, labtest.Result) {
	t.Helper()
	r := labtest.MustRun(t, append([]string{"compare", "--json"}, args...)...)
	var d compareDoc
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &d), r.Stdout)
	return d, r
}

// statusNode is a node of status --json with the fields compare's answers
// are checked against.
type statusNode struct {
	Name       string `json:"name"`
	UnderlayIP string `json:"underlay_ip"`
	BridgeIP   string `json:"bridge_ip"`
	VTEP       string `json:"vtep_ip"`
	PodCIDR    string `json:"pod_cidr"`
}

func statusNodes(t *testing.T, labName string) map[string]statusNode {
	t.Helper()
	r := labtest.MustRun(t, "status", "--json", "--lab", labName)
	var s struct {
		Nodes []statusNode `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &s))
	m := map[string]statusNode{}
	for _, n := range s.Nodes {
		m[n.Name] = n
	}
	return m
}

// TestCompare builds the missing labs through compare, checks every cell
// against what the labs' status says they are, then breaks the labs by
// hand and sees the cells change.
func TestCompare(t *testing.T) {
	labtest.Root(t)
	d, o, h := labtest.NewLab(t, "cd"), labtest.NewLab(t, "co"), labtest.NewLab(t, "ch")
	doc, r := runCompare(t, "--docker-lab", d, "--overlay-lab", o, "--hostgw-lab", h)
	for _, l := range []string{d, o, h} {
		assert.Contains(t, r.Stderr, fmt.Sprintf("lab %s is not up: building it", l))
		assert.Contains(t, labtest.MustRun(t, "status", "--lab", l).Stdout, l, "compare leaves the labs it built up")
	}
	assert.Equal(t, map[string]string{"docker": d, "kubernetes": o, "hostgw": h}, doc.Labs)
	var ids []string
	for _, row := range doc.Rows {
		var id string
		require.NoError(t, json.Unmarshal(row["id"], &id))
		ids = append(ids, id)
		assert.Contains(t, row, "question")
	}
	assert.Equal(t, []string{"same_node", "cross_node", "source_seen", "node_to_remote_workload", "outside_to_workload", "routed_to_workload", "workload_to_outside", "name_lookup", "shared_namespace", "isolation", "mtu", "encapsulation", "throughput"}, ids)

	ds, ost := readStatus(t, d), readStatus(t, o)
	_, dNode1 := ds.node("node1")
	_, dNode2 := ds.node("node2")
	_, outsideIP := ds.node("outside")
	_, pod1IP := ost.workload("pod1")
	_, pod3IP := ost.workload("pod3")
	on, hn := statusNodes(t, o), statusNodes(t, h)

	// The same node: everyone reaches a neighbour in one hop.
	for _, col := range []string{"docker", "kubernetes", "hostgw"} {
		c := doc.cell(t, "same_node", col)
		assert.True(t, c.Reachable, col)
		assert.Len(t, c.Hops, 1, col)
		require.NotNil(t, c.RTTms, col)
		assert.Greater(t, *c.RTTms, 0.0, col)
	}
	// Another node, by its workload's address: Docker answers itself.
	c := doc.cell(t, "cross_node", "docker")
	assert.False(t, c.Reachable)
	assert.Equal(t, "c1", c.AnsweredBy, "172.17.0.2 on node2 is c1's own address on node1")
	assert.Equal(t, []string{"c1 · → ·"}, c.Path, "the packet never leaves c1")
	c = doc.cell(t, "cross_node", "kubernetes")
	assert.True(t, c.Reachable)
	assert.Equal(t, "pod3", c.AnsweredBy)
	assert.Equal(t, []string{on["node1"].BridgeIP, on["node2"].VTEP, pod3IP}, c.Hops, "cni0, node2's flannel.1, pod3")
	assert.Contains(t, c.Path, "node1 veth-pod1 → flannel.1")
	assert.Contains(t, c.Path, "node2 flannel.1 → veth-pod3")
	c = doc.cell(t, "cross_node", "hostgw")
	assert.True(t, c.Reachable)
	assert.Equal(t, []string{hn["node1"].BridgeIP, hn["node2"].UnderlayIP, pod3IP}, c.Hops, "cni0, node2's underlay address, pod3")

	// The source address seen: NAT through Docker's published port, none
	// between pods.
	c = doc.cell(t, "source_seen", "docker")
	assert.Equal(t, "c3", c.AnsweredBy)
	assert.Equal(t, dNode2+":8080", c.To)
	assert.Equal(t, dNode1, c.SeenSource)
	require.NotNil(t, c.Translated)
	assert.True(t, *c.Translated)
	for _, col := range []string{"kubernetes", "hostgw"} {
		c = doc.cell(t, "source_seen", col)
		assert.Equal(t, pod1IP, c.SeenSource, col)
		require.NotNil(t, c.Translated, col)
		assert.False(t, *c.Translated, col)
	}
	// A node to a workload on another node, and back.
	c = doc.cell(t, "node_to_remote_workload", "docker")
	assert.False(t, c.Reachable)
	assert.Equal(t, "c1", c.AnsweredBy)
	c = doc.cell(t, "node_to_remote_workload", "kubernetes")
	assert.True(t, c.Reachable)
	assert.Equal(t, on["node1"].VTEP, c.SeenSource, "node1 speaks to other nodes' pods from its flannel.1 address")
	require.NotNil(t, c.OwnNode)
	assert.Equal(t, pod1IP, c.OwnNode.SeenSource, "pod1 to its node, untranslated")
	require.NotNil(t, c.Back)
	assert.Equal(t, on["node2"].UnderlayIP, c.Back.SeenSource, "pod3 to node1 leaves the cluster CIDR: flannel's ip-masq")
	c = doc.cell(t, "node_to_remote_workload", "hostgw")
	assert.Equal(t, hn["node1"].UnderlayIP, c.SeenSource, "host-gw: node1 routes by its underlay address")
	// The outside host: Docker's published port, no route to pods.
	c = doc.cell(t, "outside_to_workload", "docker")
	assert.False(t, c.Reachable)
	require.NotNil(t, c.Published)
	assert.True(t, c.Published.Reachable)
	assert.Equal(t, "c3", c.Published.AnsweredBy)
	assert.Equal(t, outsideIP, c.Published.SeenSource, "DNAT only: c3 sees the outside host")
	assert.False(t, doc.cell(t, "outside_to_workload", "kubernetes").Reachable)
	// Routed to a workload's own address: Docker 28 drops it in raw (the
	// drop rule's counter says so), a pod answers and sees the outside
	// host; the outside host keeps no route afterwards.
	c = doc.cell(t, "routed_to_workload", "docker")
	assert.False(t, c.Reachable)
	assert.Contains(t, c.Note, "dropped on node1 in raw PREROUTING (-d 172.17.0.2/32 ! -i docker0 -j DROP)")
	for _, col := range []string{"kubernetes", "hostgw"} {
		c = doc.cell(t, "routed_to_workload", col)
		assert.True(t, c.Reachable, col)
		assert.Equal(t, "pod1", c.AnsweredBy, col)
		assert.Equal(t, outsideIP, c.SeenSource, "%s: no NAT on the way in", col)
	}
	for _, l := range []string{d, o, h} {
		out, err := exec.Command("ip", "-n", l+"-outside", "route", "show").Output()
		require.NoError(t, err)
		assert.NotContains(t, string(out), " via ", "%s: the outside host keeps no route of compare's", l)
	}
	for _, col := range []string{"docker", "kubernetes", "hostgw"} {
		c = doc.cell(t, "workload_to_outside", col)
		assert.True(t, c.Reachable, col)
		assert.Equal(t, map[string]string{"docker": dNode1, "kubernetes": on["node1"].UnderlayIP, "hostgw": hn["node1"].UnderlayIP}[col], c.SeenSource, col)
		assert.True(t, *c.Translated, col)
	}
	// Names: the default bridge has none (its resolver is the node's, the
	// outside host, which does not know c2); no cluster DNS before apply.
	c = doc.cell(t, "name_lookup", "docker")
	assert.False(t, c.Reachable)
	assert.Equal(t, "c2", c.To)
	assert.Equal(t, outsideIP, c.Server)
	assert.Equal(t, "SERVFAIL", c.Rcode)
	assert.Contains(t, doc.cell(t, "name_lookup", "kubernetes").Note, "no cluster DNS yet")
	// One namespace, several containers: a pod's, none of Docker's here.
	assert.Contains(t, doc.cell(t, "shared_namespace", "docker").Note, "no container of this lab shares another's namespace")
	c = doc.cell(t, "shared_namespace", "kubernetes")
	assert.True(t, c.Reachable)
	assert.Equal(t, "pod1/app", c.AnsweredBy)
	assert.GreaterOrEqual(t, c.Processes, 2)
	// Nothing keeps workloads apart: one Docker network, no NetworkPolicy.
	c = doc.cell(t, "isolation", "docker")
	assert.True(t, c.Reachable, c.Note)
	assert.Equal(t, "c2", c.Meant)
	assert.Contains(t, c.Note, "every container of node1 is on bridge, which keeps nothing apart")
	c = doc.cell(t, "isolation", "kubernetes")
	assert.True(t, c.Reachable, c.Note)
	assert.Equal(t, "pod3", c.Meant)
	assert.Contains(t, c.Note, "no NetworkPolicy in lab "+o)
	// MTU and encapsulation, measured.
	for col, want := range map[string][2]int{"docker": {1500, 0}, "kubernetes": {1500 - topo.VXLANOverhead, topo.VXLANOverhead}, "hostgw": {1500, 0}} {
		c = doc.cell(t, "mtu", col)
		assert.Equal(t, want[0], c.MTU, col)
		require.NotNil(t, c.MaxDFPayload, col)
		assert.Equal(t, want[0]-28, *c.MaxDFPayload, col)
		c = doc.cell(t, "encapsulation", col)
		require.NotNil(t, c.Overhead, "%s: %s", col, c.Error)
		assert.Equal(t, want[1], *c.Overhead, col)
	}
	// Throughput: between pods, none between Docker's containers.
	assert.Nil(t, doc.cell(t, "throughput", "docker").GbitS)
	for _, col := range []string{"kubernetes", "hostgw"} {
		c = doc.cell(t, "throughput", col)
		require.NotNil(t, c.GbitS, "%s: %s", col, c.Error)
		assert.Greater(t, *c.GbitS, 0.0)
	}
	for _, v := range []string{"no_nat_workload_workload", "no_nat_node_workload", "self_ip_is_seen_ip"} {
		assert.Equal(t, "FAIL", doc.verdict(t, v, "docker"), v)
		assert.Equal(t, "PASS", doc.verdict(t, v, "kubernetes"), v)
		assert.Equal(t, "PASS", doc.verdict(t, v, "hostgw"), v)
	}

	// Broken by hand, the cells change: node1 loses its route to node2's
	// pods, and c1's eth0 a hundred bytes of MTU.
	on1, _ := ost.node("node1")
	c1NS, _ := ds.workload("c1")
	out, err := exec.Command("ip", "-n", string(on1), "route", "del", on["node2"].PodCIDR).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("ip", "-n", string(c1NS), "link", "set", "eth0", "mtu", "1400").CombinedOutput()
	require.NoError(t, err, "%s", out)
	doc, r = runCompare(t, "--docker-lab", d, "--overlay-lab", o, "--quick")
	assert.NotContains(t, r.Stderr, "building")
	c = doc.cell(t, "cross_node", "kubernetes")
	assert.False(t, c.Reachable)
	assert.Equal(t, "FAIL", doc.verdict(t, "no_nat_workload_workload", "kubernetes"))
	assert.Equal(t, "skipped (--quick)", doc.cell(t, "throughput", "kubernetes").Error)
	for _, r := range doc.Rows {
		assert.NotContains(t, string(r["id"]), "_ipv6", "IPv4-only labs: no IPv6 rows")
	}
	c = doc.cell(t, "mtu", "docker")
	assert.Equal(t, 1400, c.MTU)
	require.NotNil(t, c.MaxDFPayload)
	assert.Equal(t, 1372, *c.MaxDFPayload)

	// The projector's table and the handout.
	txt := labtest.MustRun(t, "compare", "--docker-lab", d, "--overlay-lab", o, "--quick").Stdout
	// (Cells wrap within their column to keep the table 100 wide.)
	for _, want := range []string{"Docker model (lab", d + ")", o + ", vxlan)", "eth0 1400 · DF payload ≤", "1372", "no: i/o timeout", "no NAT between containers", "FAIL"} {
		assert.Contains(t, txt, want)
	}
	for _, l := range strings.Split(txt, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), compare.TextWidth, "%q", l)
	}
	assert.NotContains(t, txt, "host-gw", "labs named on the command line: no host-gw lab of anybody's joins")
	md := labtest.MustRun(t, "compare", "--docker-lab", d, "--overlay-lab", o, "--quick", "--markdown").Stdout
	assert.Contains(t, md, "| question | Docker model | Kubernetes model |")
	assert.Contains(t, md, "| containers can communicate with all other containers without NAT | **FAIL** | **FAIL** |")
}

// TestCompareNamesAndSharing: with user-defined networks, a container
// finds another by name through Docker's embedded DNS, and c6 lives in c1's
// namespace; after apply, a pod finds kubernetes.default through the
// cluster DNS.
func TestCompareNamesAndSharing(t *testing.T) {
	labtest.Root(t)
	d, o := labtest.NewLab(t, "cn"), labtest.NewLab(t, "cm")
	labtest.MustRun(t, "docker-mode", "--lab", d, "--topology", "../../examples/docker-networks.yaml")
	labtest.MustRun(t, "overlay-mode", "--lab", o, "--nodes", "1")
	labtest.MustRun(t, "apply", "--lab", o, "-f", "../../examples/my-service.json")
	doc, _ := runCompare(t, "--docker-lab", d, "--overlay-lab", o, "--quick")
	ds := readStatus(t, d)
	_, c2IP := ds.workload("c2")
	c := doc.cell(t, "name_lookup", "docker")
	assert.True(t, c.Reachable, c.Note)
	assert.Equal(t, "127.0.0.11", c.Server)
	assert.Equal(t, []string{c2IP}, c.Resolved)
	c = doc.cell(t, "name_lookup", "kubernetes")
	assert.True(t, c.Reachable, c.Note)
	assert.Equal(t, "10.96.0.10", c.Server)
	assert.Equal(t, []string{"10.96.0.1"}, c.Resolved, "kubernetes.default's ClusterIP")
	c = doc.cell(t, "shared_namespace", "docker")
	assert.True(t, c.Reachable, c.Note)
	assert.Equal(t, "c1", c.AnsweredBy, "127.0.0.1:80 in c6's namespace is c1's server")
	assert.Equal(t, 2, c.Processes, "c1's server and c6's")
	assert.Contains(t, c.Note, "c6 has no namespace of its own")
	// Kept apart: c1 (app) and c3 (other) by node1's rules; no policy yet.
	c = doc.cell(t, "isolation", "docker")
	assert.False(t, c.Reachable, c.Note)
	_, c1IP := ds.workload("c1")
	assert.Equal(t, "c1 "+c1IP, c.From)
	assert.Equal(t, "c3", c.Meant)
	assert.Equal(t, "i/o timeout", c.Failed, "a DROP: no answer at all")
	assert.Contains(t, c.DroppedBy, "node1: ")
	assert.Contains(t, c.DroppedBy, "-j DROP")
	assert.Contains(t, c.Note, "c1 is on app, c3 on other: no network in common")
	assert.True(t, doc.cell(t, "isolation", "kubernetes").Reachable)

	// A default deny of ingress in default: pods of myapp refuse one
	// another, and kube-system's DNS, by their pod chain's REJECT.
	deny := filepath.Join(t.TempDir(), "deny.yaml")
	require.NoError(t, os.WriteFile(deny, []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: default}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n"), 0o644))
	labtest.MustRun(t, "apply", "--lab", o, "-f", "../../examples/myapp.yaml", "-f", deny)
	doc, _ = runCompare(t, "--docker-lab", d, "--overlay-lab", o, "--quick")
	c = doc.cell(t, "isolation", "kubernetes")
	assert.False(t, c.Reachable, c.Note)
	assert.True(t, strings.HasPrefix(c.Meant, "default/myapp-"), c.Meant)
	assert.Equal(t, "connection refused", c.Failed, "a REJECT")
	assert.Contains(t, c.DroppedBy, "node1: ")
	assert.Contains(t, c.DroppedBy, "-j REJECT")
	assert.Contains(t, c.DroppedBy, "KUBE-POD-FW-")
	assert.Contains(t, c.Note, "NetworkPolicy: ingress of "+c.Meant+" denied: selected by [default/deny]")
	txt := labtest.MustRun(t, "compare", "--docker-lab", d, "--overlay-lab", o, "--quick").Stdout
	assert.Contains(t, txt, "yes: c1 → c3")
	assert.Contains(t, txt, "i/o timeout: node1's")
	assert.Contains(t, txt, "yes: myapp-", "a pod of the user's asks, by its name alone (the default namespace)")
	assert.Contains(t, txt, "connection refused")
	labtest.MustRun(t, "delete", "--lab", o, "-f", deny)
	doc, _ = runCompare(t, "--docker-lab", d, "--overlay-lab", o, "--quick")
	assert.True(t, doc.cell(t, "isolation", "kubernetes").Reachable, "the policy gone, nothing keeps pods apart")
}

// TestCompareBadInput: bad usage exits 2, builds nothing and says why.
func TestCompareBadInput(t *testing.T) {
	labtest.Root(t)
	o := labtest.NewLab(t, "cb")
	labtest.MustRun(t, "overlay-mode", "--lab", o, "--nodes", "1")
	cx := labtest.Name("cx")
	// The labs compare would build: its defaults and those named below.
	labs := []string{"docker", "overlay", "hostgw", o, cx}
	before := netnsList(t, labs...)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--json", "--markdown"}, "do not go together"},
		{[]string{"--lab", "x"}, "not --lab"},
		{[]string{"--dry-run"}, "changes nothing"},
		{[]string{"--docker-lab", "Bad/Name"}, "--docker-lab"},
		{[]string{"--hostgw-lab", ""}, "--hostgw-lab"},
		{[]string{"--docker-lab", o, "--overlay-lab", cx}, "built by overlay-mode, not docker-mode"},
		{[]string{"extra"}, "takes no arguments"},
	} {
		r := labtest.Run(t, append([]string{"compare"}, tc.args...)...)
		assert.Equal(t, 2, r.Code, "%v: %s", tc.args, r.Stderr)
		assert.Contains(t, r.Stderr, tc.want, tc.args)
		assert.Empty(t, r.Stdout, tc.args)
	}
	assert.Equal(t, before, netnsList(t, labs...), "bad input built nothing")
}

// netnsList lists the named network namespaces of the labs named (each
// lab's are "LAB-…"): only those, since the tests of other packages, run
// at the same time, and a user's own labs make and remove theirs.
func netnsList(t *testing.T, labs ...string) []string {
	t.Helper()
	require.NotEmpty(t, labs, "netnsList needs the labs to look at")
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		for _, l := range labs {
			if strings.HasPrefix(e.Name(), l+"-") {
				out = append(out, e.Name())
				break
			}
		}
	}
	return out
}
