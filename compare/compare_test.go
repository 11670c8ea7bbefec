package compare

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
)

var (
	mark = []byte("netlab-0123abcde")
	to   = netip.MustParseAddr("10.244.2.2")
)

// echo is an IPv4 echo request of our pings, as ping -s payload -p sends it.
func echo() []byte {
	n := 20 + 8 + payload
	p := make([]byte, n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(n))
	p[8], p[9] = 64, 1
	copy(p[16:20], to.AsSlice())
	p[20] = 8 // echo request
	copy(p[28+16:], bytes.Repeat(mark, 4))
	return p
}

func ether(ip []byte) []byte { return etherOf(0x0800, ip) }

// etherOf is ip in an Ethernet frame of ethertype typ.
func etherOf(typ uint16, ip []byte) []byte {
	f := make([]byte, 14, 14+len(ip))
	binary.BigEndian.PutUint16(f[12:14], typ)
	return append(f, ip...)
}

func TestParseOverhead(t *testing.T) {
	// As it is (Docker, host-gw): no bytes around it.
	o, what, ok := parseOverhead(ether(echo()), to, mark)
	require.True(t, ok)
	assert.Equal(t, 0, o)
	assert.Equal(t, "none", what)

	// In VXLAN: outer IPv4 (20), UDP (8) to 8472, VXLAN (8) with VNI 1,
	// the inner Ethernet header (14).
	inner := ether(echo())
	outer := make([]byte, 20+8+8, 20+8+8+len(inner))
	outer[0] = 0x45
	binary.BigEndian.PutUint16(outer[2:4], uint16(20+8+8+len(inner)))
	outer[9] = 17
	binary.BigEndian.PutUint16(outer[22:24], 8472)
	outer[28] = 0x08
	outer[28+6] = 1
	o, what, ok = parseOverhead(ether(append(outer, inner...)), to, mark)
	require.True(t, ok)
	assert.Equal(t, 50, o)
	assert.Equal(t, "VXLAN, UDP 8472, VNI 1", what)

	// Somebody else's packet of the same size is not ours.
	other := echo()
	copy(other[28+16:], bytes.Repeat([]byte("x"), 60))
	_, _, ok = parseOverhead(ether(other), to, mark)
	assert.False(t, ok)
	// Nor another capture's ping (another column on a real node's
	// underlay), nor one to another address.
	_, _, ok = parseOverhead(ether(echo()), to, []byte("netlab-fffffffff"))
	assert.False(t, ok)
	_, _, ok = parseOverhead(ether(echo()), netip.MustParseAddr("192.168.56.12"), mark)
	assert.False(t, ok)
	// Nor a reply, nor a truncated frame.
	reply := echo()
	reply[20] = 0
	_, _, ok = parseOverhead(ether(reply), to, mark)
	assert.False(t, ok)
	_, _, ok = parseOverhead(ether(echo())[:30], to, mark)
	assert.False(t, ok)
}

func sample() api.Compare {
	f := 0.05
	yes, no := true, false
	c := api.Compare{Labs: map[string]string{"docker": "docker", "kubernetes": "overlay"}, Columns: []string{"docker", "kubernetes"},
		Workloads: map[string]api.Cast{"docker": {A: "c1", AIP: "172.17.0.2"}, "kubernetes": {A: "pod1", AIP: "10.244.1.2", Backend: "vxlan"}}}
	for _, q := range Questions {
		c.Rows = append(c.Rows, api.Row{ID: q.ID, Question: q.Text, Cells: map[string]*api.Cell{
			"docker":     {Reachable: false, AnsweredBy: "c1", SeenSource: "192.168.56.11", Translated: &yes, Hops: []string{"172.17.0.2"}},
			"kubernetes": {Reachable: true, RTTms: &f, AnsweredBy: "pod3", SeenSource: "10.244.1.2", Translated: &no, Hops: []string{"10.244.1.1", "10.244.2.0", "10.244.2.2"}},
		}})
	}
	for i := range c.Rows {
		if c.Rows[i].ID == Isolation {
			c.Rows[i].Cells = map[string]*api.Cell{
				"docker": {From: "c1 172.18.0.2", To: "172.19.0.2:80", Meant: "c3", Failed: "i/o timeout",
					DroppedBy: `node1: raw PREROUTING DROP: -A PREROUTING -d 172.19.0.2/32 ! -i br-676d2c372278 -m comment --comment "netlab:docker no way into c3" -j DROP`},
				"kubernetes": {Reachable: true, From: "pod1 10.244.1.2", To: "10.244.2.2:9376", Meant: "pod3", AnsweredBy: "pod3"},
			}
		}
	}
	for _, r := range Requirements {
		c.Verdicts = append(c.Verdicts, api.Verdict{ID: r.ID, Requirement: r.Text,
			Results:  map[string]string{"docker": "FAIL", "kubernetes": "PASS"},
			Evidence: map[string]api.Evidence{"docker": {Sent: "c1 → x", Reported: "c1 answered"}, "kubernetes": {Sent: "pod1 → y", Reported: "pod3 answered"}}})
	}
	return c
}

// TestTextAligned: every line of the table starts its columns at the same
// place, so the room reads down a column.
func TestTextAligned(t *testing.T) {
	var b bytes.Buffer
	Text(&b, sample())
	var table []string
	in := false
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "──") {
			in = true
			continue
		}
		if in && l == "" {
			break
		}
		if in {
			table = append(table, l)
		}
	}
	require.Len(t, table, 19) // 13 rows: the cross-node one and the isolation on three lines, a name lookup and a shared namespace on two
	col := strings.Index(string([]rune(table[0])), "no: c1")
	for _, l := range table {
		r := []rune(l)
		if len(r) > 24 {
			assert.Equal(t, "   ", string(r[18:21]), "column gap in %q", l)
		}
	}
	assert.Greater(t, col, 0)
	assert.Contains(t, b.String(), "Kubernetes model (lab overlay, vxlan)")
}

// TestJSONShape: rows and verdicts carry their cells as keys, and read
// back the same.
func TestJSONShape(t *testing.T) {
	c := sample()
	data, err := json.Marshal(c)
	require.NoError(t, err)
	var loose map[string]any
	require.NoError(t, json.Unmarshal(data, &loose))
	row := loose["rows"].([]any)[0].(map[string]any)
	assert.Equal(t, "same_node", row["id"])
	assert.Contains(t, row, "docker")
	assert.Contains(t, row, "kubernetes")
	v := loose["verdicts"].([]any)[0].(map[string]any)
	assert.Equal(t, "FAIL", v["docker"])
	assert.Equal(t, "PASS", v["kubernetes"])
	assert.Contains(t, v["evidence"], "docker")
	var back api.Compare
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, c.Rows[1].Cells["kubernetes"].Hops, back.Rows[1].Cells["kubernetes"].Hops)
	assert.Equal(t, c.Verdicts[2].Results, back.Verdicts[2].Results)
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	Markdown(&b, sample())
	md := b.String()
	assert.Contains(t, md, "| question | Docker model | Kubernetes model |\n|---|---|---|\n")
	assert.Contains(t, md, "| requirement | Docker model | Kubernetes model |\n|---|---|---|\n")
	assert.Contains(t, md, "| containers can communicate with all other containers without NAT | **FAIL** | **PASS** |")
	assert.Contains(t, md, "hops 10.244.1.1 › 10.244.2.0 › 10.244.2.2", "a cell's lines joined with <br>")
}

// TestThroughputNotes: the median of the runs, and a note when two
// columns' runs overlap (noise, not the model), none when they do not.
func TestThroughputNotes(t *testing.T) {
	assert.Equal(t, 9.05, median([]float64{9.31, 9.05, 8.09}))
	assert.Equal(t, 2.5, median([]float64{3, 2}))
	cols := []Column{{Key: "kubernetes"}, {Key: "hostgw"}}
	cell := func(runs ...float64) *api.Cell { return &api.Cell{GbitRuns: runs} }
	n := notes(Throughput, cols, map[string]*api.Cell{"kubernetes": cell(8.09, 9.05, 9.31), "hostgw": cell(7.55, 16.6, 11.04)})
	require.Len(t, n, 1)
	assert.Contains(t, n[0], "Kubernetes model and Kubernetes, host-gw overlap over 3 runs each: the difference is within this machine's noise")
	assert.Empty(t, notes(Throughput, cols, map[string]*api.Cell{"kubernetes": cell(8.1, 9.0, 9.3), "hostgw": cell(11.0, 16.6, 12.2)}))

	// The note travels in --json and back, and Text prints it.
	c := sample()
	c.Rows[len(c.Rows)-1].Notes = n
	data, err := json.Marshal(c)
	require.NoError(t, err)
	var back api.Compare
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, n, back.Rows[len(back.Rows)-1].Notes)
	var b bytes.Buffer
	Text(&b, c)
	assert.Contains(t, b.String(), "  * throughput: Kubernetes model and")
}

// TestTextFits: with three columns (host-gw beside the two models) no
// line is wider than a projector's terminal; cells wrap in their column.
func TestTextFits(t *testing.T) {
	c := sample()
	c.Columns = append(c.Columns, "hostgw")
	c.Labs["hostgw"] = "hostgw"
	c.Workloads["hostgw"] = c.Workloads["kubernetes"]
	for i := range c.Rows {
		c.Rows[i].Cells["hostgw"] = c.Rows[i].Cells["kubernetes"]
	}
	for i := range c.Verdicts {
		c.Verdicts[i].Results["hostgw"] = c.Verdicts[i].Results["kubernetes"]
		c.Verdicts[i].Evidence["hostgw"] = c.Verdicts[i].Evidence["kubernetes"]
	}
	var b bytes.Buffer
	Text(&b, c)
	for _, l := range strings.Split(b.String(), "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), TextWidth, "%q", l)
	}
	assert.Contains(t, b.String(), "10.244.2.0 › 10.244.2.2", "a long cell wraps, nothing is lost")
}

// TestParseOverhead6: an IPv6 echo request inside VXLAN inside IPv6 (a
// dual-stack lab's IPv6 overlay): 70 bytes around it, the carrier named
// with its family; the same echo alone: none; an echo reply: not ours.
func TestParseOverhead6(t *testing.T) {
	to6 := netip.MustParseAddr("fd00:10:244:2::2")
	echo6 := func(typ byte) []byte {
		p := make([]byte, 40+8+payload)
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:6], uint16(8+payload))
		p[6], p[7] = 58, 64
		copy(p[24:40], to6.AsSlice())
		p[40] = typ
		copy(p[48+16:], bytes.Repeat(mark, 4))
		return p
	}
	ether6 := func(ip []byte) []byte { return etherOf(0x86dd, ip) }
	o, what, ok := parseOverhead(ether6(echo6(128)), to6, mark)
	require.True(t, ok)
	assert.Equal(t, 0, o)
	assert.Equal(t, "none", what)

	inner := ether6(echo6(128))
	outer := make([]byte, 40+8+8, 40+8+8+len(inner))
	outer[0] = 0x60
	binary.BigEndian.PutUint16(outer[4:6], uint16(8+8+len(inner)))
	outer[6] = 17
	binary.BigEndian.PutUint16(outer[42:44], 8472)
	outer[48] = 0x08
	outer[48+6] = 1
	o, what, ok = parseOverhead(ether6(append(outer, inner...)), to6, mark)
	require.True(t, ok)
	assert.Equal(t, 70, o)
	assert.Equal(t, "VXLAN, UDP 8472, VNI 1, in IPv6", what)

	_, _, ok = parseOverhead(ether6(echo6(129)), to6, mark)
	assert.False(t, ok, "an echo reply")
	_, _, ok = parseOverhead(ether6(echo6(128)), netip.MustParseAddr("fd00:10:244:2::3"), mark)
	assert.False(t, ok, "to another address")
}

// TestIsolationLines: the isolation row says who was kept from whom, how
// the connection ended, and the host, chain and target of the rule; a pod
// of the default namespace by its name alone.
func TestIsolationLines(t *testing.T) {
	c := sample()
	var cells map[string]*api.Cell
	for _, r := range c.Rows {
		if r.ID == Isolation {
			cells = r.Cells
		}
	}
	assert.Equal(t, []string{"yes: c1 → c3", "i/o timeout: node1's", "PREROUTING (raw) DROP"}, lines(Isolation, cells["docker"], api.Cast{}))
	assert.Equal(t, []string{"none: pod1 → pod3 answered"}, lines(Isolation, cells["kubernetes"], api.Cast{}))
	denied := &api.Cell{From: "default/web-1 10.244.1.4", Meant: "x/b", Failed: "connection refused",
		DroppedBy: `node2: FORWARD REJECT: -A KUBE-POD-FW-74II5IOAUBU2ADXF -m mark ! --mark 0x10000/0x10000 -j REJECT --reject-with icmp-port-unreachable`}
	assert.Equal(t, []string{"yes: web-1 → x/b", "connection refused: node2's", "KUBE-POD-FW-74II5IOAUBU2ADXF REJECT"}, lines(Isolation, denied, api.Cast{}))
	denied.DroppedBy = ""
	assert.Equal(t, []string{"yes: web-1 → x/b", "connection refused"}, lines(Isolation, denied, api.Cast{}))
}
