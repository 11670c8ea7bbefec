package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/internal/api"
	"netlab/internal/labtest"
	"netlab/kube"
	"netlab/web"
	"netlab/workshop"
)

const webToken = "test-token"

// webRoomServer is webServer with a room for the workshop's exercises.
func webRoomServer(t *testing.T, dockerLab, overlayLab string) (*httptest.Server, *web.Room) {
	t.Helper()
	room := newRoom()
	srv := &web.Server{B: webBackend{dockerLab: dockerLab, overlayLab: overlayLab}, Token: webToken, Period: 250 * time.Millisecond, Room: room}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, room
}

// webServer serves netlab web over httptest, with the verbs' own backend
// and the labs given for the Compare tab.
func webServer(t *testing.T, dockerLab, overlayLab string) *httptest.Server {
	t.Helper()
	srv := &web.Server{B: webBackend{dockerLab: dockerLab, overlayLab: overlayLab}, Token: webToken, Period: 250 * time.Millisecond}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func webDo(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Netlab-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

// TestWebAPI: the API's contract, against real labs: /api/labs is what
// status --json prints, a trace is what trace --json prints, the event
// stream's counters rise while two pods ping, compare needs the token, and
// bad requests get a 4xx with a reason and change nothing.
func TestWebAPI(t *testing.T) {
	labtest.Root(t)
	ov := labtest.NewLab(t, "w")
	dk := labtest.NewLab(t, "x")
	labtest.MustRun(t, "overlay-mode", "--lab", ov)
	ts := webServer(t, dk, ov)

	code, body := webDo(t, "GET", ts.URL+"/api/labs", "", "")
	require.Equal(t, 200, code, body)
	var labs []api.Status
	require.NoError(t, json.Unmarshal([]byte(body), &labs))
	var want api.Status
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "status", "--json", "--lab", ov).Stdout), &want))
	found := false
	for _, l := range labs {
		if l.Lab == ov {
			found = true
			assert.Equal(t, want, l, "/api/labs holds what status --json prints")
		}
	}
	require.True(t, found, "lab %s in /api/labs", ov)

	// Bad usage of the verb itself: exit 2, with the reason.
	for _, bad := range []struct{ args, reason string }{
		{"web --listen nonsense", "--listen nonsense: listen tcp: address nonsense: missing port in address"},
		{"web --lab " + ov, "web shows every running lab and changes none: it takes --listen only"},
		{"web --dry-run", "it takes --listen only"},
		{"web --overlay-lab Bad/Name", "--overlay-lab"},
		{"web --allow-host lab.example:8088", `--allow-host "lab.example:8088": a host name`},
		{"web --allow-host a/b", `--allow-host "a/b"`},
	} {
		r := labtest.Run(t, strings.Fields(bad.args)...)
		assert.Equal(t, 2, r.Code, bad.args)
		assert.Contains(t, r.Stderr, bad.reason, bad.args)
	}

	// The picture: every pod with the counters (netns, iface) of its link.
	code, body = webDo(t, "GET", ts.URL+"/api/graph", "", "")
	require.Equal(t, 200, code)
	var g struct{ Elements []web.Element }
	require.NoError(t, json.Unmarshal([]byte(body), &g))
	edge := map[string]web.Data{}
	for _, e := range g.Elements {
		if e.Group == "edges" {
			edge[e.Data.ID] = e.Data
		}
	}
	pod3 := edge[ov+"/node2/cni0--"+ov+"/w/pod3"]
	assert.Equal(t, ov+"-pod3", pod3.Netns)
	assert.Equal(t, "eth0", pod3.Iface)
	assert.Equal(t, ov+"-node1", edge[ov+"/node1/flannel.1--"+ov+"/node2/flannel.1"].Netns, "the tunnel, counted by node1's flannel.1")

	// A Deployment's pods are drawn under their nodes too, each link
	// named by its pod's own namespace, and the cluster DNS pod.
	labtest.MustRun(t, "apply", "--lab", ov, "-f", "../../examples/myapp.yaml")
	code, body = webDo(t, "GET", ts.URL+"/api/graph", "", "")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal([]byte(body), &g))
	drawn := map[string]web.Data{}
	for _, e := range g.Elements {
		// This lab's: the graph draws every lab of the machine.
		if e.Group == "nodes" && e.Data.Kind == "workload" && e.Data.Lab == ov {
			drawn[e.Data.Name] = e.Data
		}
	}
	for _, p := range getPods(t, ov) {
		d, ok := drawn[p.Name]
		if assert.True(t, ok, "pod %s drawn", p.Name) {
			assert.Equal(t, string(p.NS), d.Netns)
			assert.Equal(t, p.IP, d.IP)
		}
	}
	dns := 0
	for _, d := range drawn {
		if d.Group == "dns" {
			dns++
		}
	}
	assert.Equal(t, 1, dns, "the cluster's own DNS pod is drawn too, in its group")
	for _, p := range getPods(t, ov) {
		assert.Equal(t, "deployment/myapp", drawn[p.Name].Group)
	}
	labtest.MustRun(t, "delete", "--lab", ov, "-f", "../../examples/myapp.yaml")

	// Packets need the token.
	tr := fmt.Sprintf(`{"lab":%q,"src":"pod1","dst":"10.244.2.2"}`, ov)
	code, body = webDo(t, "POST", ts.URL+"/api/trace", "", tr)
	assert.Equal(t, 403, code)
	assert.Contains(t, body, "needs the token")
	code, _ = webDo(t, "POST", ts.URL+"/api/trace", "wrong", tr)
	assert.Equal(t, 403, code)
	code, body = webDo(t, "GET", ts.URL+"/api/compare", "", "")
	assert.Equal(t, 403, code, body)
	code, body = webDo(t, "POST", ts.URL+"/api/trace", webToken, tr)
	require.Equal(t, 200, code, body)
	var got api.Trace
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	var cli api.Trace
	require.NoError(t, json.Unmarshal([]byte(labtest.MustRun(t, "trace", "--json", "--lab", ov, "pod1", "10.244.2.2").Stdout), &cli))
	assert.True(t, got.Confirmed)
	hosts := func(tr api.Trace) []string {
		var hs []string
		for _, h := range tr.Hops {
			hs = append(hs, h.Host+" "+h.In+">"+h.Out+" "+h.Action)
		}
		return hs
	}
	assert.Equal(t, hosts(cli), hosts(got), "the page's trace is trace --json's")

	// Bad requests: a 4xx with a reason, and nothing changes.
	before := labtest.MustRun(t, "status", "--json", "--lab", ov).Stdout
	for _, bad := range []struct {
		method, path, body string
		code               int
		reason             string
	}{
		{"POST", "/api/trace", `{"lab":"` + ov + `","src":"nope","dst":"10.244.2.2"}`, 400, `has no container, pod or host called "nope"`},
		{"POST", "/api/trace", `{"lab":"` + ov + `","src":"pod1"}`, 400, "src and dst are required"},
		{"POST", "/api/trace", `{"lab":"` + ov + `","src":"pod1","dst":"10.244.2.2","port":70000}`, 400, "port 70000"},
		{"POST", "/api/trace", `{"lab":"` + ov + `","src":"pod1","dst":"fe80::1"}`, 400, "is IPv4 only (made without --ipv6)"},
		{"POST", "/api/trace", `{"src":"pod1","dst":"10.244.2.2","rm":"-rf"}`, 400, `unknown field "rm"`},
		{"POST", "/api/trace", `not json`, 400, "must be JSON"},
		{"POST", "/api/trace", `{"lab":"no-such-lab","src":"pod1","dst":"10.244.2.2"}`, 400, "is not up"},
		{"GET", "/api/trace", ``, 405, "/api/trace takes POST, not GET"},
		{"DELETE", "/api/labs", ``, 405, "/api/labs takes GET, not DELETE"},
		{"GET", "/api/compare", ``, 400, "compare needs the lab " + dk + " up"},
		{"GET", "/api/nothing", ``, 404, "no such API"},
	} {
		code, body := webDo(t, bad.method, ts.URL+bad.path, webToken, bad.body)
		assert.Equal(t, bad.code, code, "%s %s %s: %s", bad.method, bad.path, bad.body, body)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		assert.Contains(t, e.Error, bad.reason, "%s %s %s", bad.method, bad.path, bad.body)
	}
	assert.Equal(t, before, labtest.MustRun(t, "status", "--json", "--lab", ov).Stdout, "bad requests change nothing")

	// The event stream: pod3's link counts the pings pod1 sends it.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	ping := exec.Command("ip", "netns", "exec", ov+"-pod1", "ping", "-q", "-i", "0.05", "-c", "60", "10.244.2.2")
	require.NoError(t, ping.Start())
	defer func() { _ = ping.Process.Kill(); _ = ping.Wait() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	var first, last *web.Link
	busy := false
	for events := 0; sc.Scan() && events < 12; {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		events++
		var ev web.Event
		require.NoError(t, json.Unmarshal([]byte(line), &ev))
		for i, l := range ev.Links {
			if l.Netns == ov+"-pod3" && l.Iface == "eth0" {
				if first == nil {
					first = &ev.Links[i]
				}
				last = &ev.Links[i]
				busy = busy || (l.RxBps > 0 && l.RxPps > 0)
			}
		}
		if first != nil && last.RxPackets >= first.RxPackets+10 && busy {
			break
		}
	}
	require.NotNil(t, first, "pod3's eth0 is in the stream")
	assert.GreaterOrEqual(t, last.RxPackets, first.RxPackets+10, "the pings arrive in pod3's counters")
	assert.True(t, busy, "and its rate is above zero")
}

// chromium is Debian's browser (make test installs it), or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestWebBrowser loads the page in a headless chromium against a real lab:
// the graph is drawn, pod3's link shows the pings pod1 sends it, a trace
// from the page lights its hops; one screenshot per theme is saved
// (NETLAB_ARTIFACTS, or a temporary directory: the test says where).
func TestWebBrowser(t *testing.T) {
	labtest.Root(t)
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium here: 'sudo make test' installs Debian's chromium (apt-get install chromium)")
	}
	ov, dk, hg := labtest.NewLab(t, "b"), labtest.NewLab(t, "c"), labtest.NewLab(t, "h")
	labtest.MustRun(t, "overlay-mode", "--lab", ov)
	labtest.MustRun(t, "docker-mode", "--lab", dk)
	labtest.MustRun(t, "overlay-mode", "--lab", hg, "--backend", "host-gw")
	// An exercise running, for the teacher's tab: its lab named for this
	// test, here and in the netlab it runs.
	prefix := labtest.Name("q")
	t.Setenv("NETLAB_EXERCISE_PREFIX", prefix)
	old := workshop.Prefix
	workshop.Prefix = prefix
	t.Cleanup(func() { workshop.Prefix = old })
	t.Cleanup(func() { _ = exec.Command(labtest.Binary(t), "down", "--lab", prefix+"1").Run() })
	labtest.MustRun(t, "exercise", "start", "1")
	ts, room := webRoomServer(t, dk, ov)
	// A learner reports their check to the room: not solved yet.
	r := labtest.Run(t, "exercise", "check", "1", "--report", ts.URL, "--room-token", room.Token, "--as", "Ada L")
	require.Equal(t, 1, r.Code, "not solved yet: %s", r.Stderr)
	assert.Contains(t, r.Stdout, fmt.Sprintf("Reported to the room at %s as \"Ada L\".", ts.URL))
	r = labtest.Run(t, "exercise", "check", "1", "--report", ts.URL, "--room-token", "wrong", "--as", "Ada L")
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "the room at "+ts.URL+" refused the report (403 Forbidden): a report needs the room token")
	require.Len(t, room.View().Learners, 1, "the refused report kept nothing")
	dir := os.Getenv("NETLAB_ARTIFACTS")
	if dir == "" {
		// A directory of the test's own, never a fixed name another user
		// could have planted; kept, so the screenshots can be looked at.
		var err error
		dir, err = os.MkdirTemp("", "netlab-web-artifacts.")
		require.NoError(t, err)
		t.Logf("screenshots in %s", dir)
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 720), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	waitFor := func(expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(30*time.Second)))
		require.NoError(t, err, "waiting for %s", expr)
	}
	evalInt := func(expr string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
		require.NoError(t, err, expr)
		return v
	}
	do := func(expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		require.NoError(t, err, expr)
	}
	_, err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 720))
	require.NoError(t, err)
	// The seed's Deployment on the Kubernetes lab: its pods and the DNS pod
	// are drawn under their nodes, overlapping nothing.
	labtest.MustRun(t, "apply", "--lab", ov, "-f", "../../examples/myapp.yaml")
	_, err = chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/?token="+webToken+"&lab="+hg))
	require.NoError(t, err)
	waitFor(`window.netlab && window.netlab.graphLoaded && window.netlab.events > 0`)
	labs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#lab-pick option')].map(o => o.value)`))
	require.NoError(t, err)
	for _, l := range []string{ov, dk, hg} {
		assert.Contains(t, labs, l, "the lab picker offers every running lab")
	}
	pickLab := func(l string) {
		t.Helper()
		do(fmt.Sprintf(`document.querySelector('[data-tab=labs]').click(); ((p) => { p.value = %q; p.dispatchEvent(new Event('change')); })(document.getElementById('lab-pick')); true`, l))
		waitFor(fmt.Sprintf(`window.netlab.lab === %q && window.netlab.cy.nodes().every(n => n.data('lab') === %q)`, l, l))
	}
	// One lab at a time: the one in the address first, then each picked.
	routes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.netlab.cy.edges('.route').map(e => e.data('label'))`))
	require.NoError(t, err)
	require.Len(t, routes, 1, "host-gw: the routes between the two nodes")
	assert.Contains(t, routes[0], "10.244.2.0/24 via 192.168.56.12", "as host-gw's view says")
	for _, l := range []string{dk, hg, ov} {
		pickLab(l)
		_, err := chromedp.Run(ctx, chromedp.Sleep(300*time.Millisecond))
		require.NoError(t, err)
		r, err := chromedp.Run(ctx, chromedp.Evaluate[layoutReport](measureLayout))
		require.NoError(t, err)
		assert.Empty(t, r.Hidden, "%s: every box and link drawn", l)
		assert.Empty(t, r.Overlaps, "%s: no box or label over another", l)
		assert.GreaterOrEqual(t, r.MinFont, 16.0, "%s: the picture's smallest text on screen", l)
		assert.Empty(t, r.SmallText, "%s: the page's text under 16 px", l)
		assert.Empty(t, r.Outside, "%s: all of it on the screen", l)
	}
	drawnPods, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.netlab.cy.nodes('[kind = "workload"]').map(n => n.data('name'))`))
	require.NoError(t, err)
	for _, p := range getPods(t, ov) {
		assert.Contains(t, drawnPods, p.Name, "the Deployment's pods are drawn")
	}
	assert.GreaterOrEqual(t, evalInt(`window.netlab.nodes`), 16.0, "underlay, outside, 2 nodes with a bridge and flannel.1 each, 4 pods, 3 of the Deployment, the DNS pod")

	// Traffic pod1 → pod3: the drawn link of pod3 counts it.
	pod3 := fmt.Sprintf("%s/node2/cni0--%s/w/pod3", ov, ov)
	before := evalInt(fmt.Sprintf(`window.netlab.edges[%q].rx_packets`, pod3))
	ping := exec.Command("ip", "netns", "exec", ov+"-pod1", "ping", "-q", "-i", "0.05", "-c", "100", "10.244.2.2")
	require.NoError(t, ping.Start())
	defer func() { _ = ping.Process.Kill(); _ = ping.Wait() }()
	waitFor(fmt.Sprintf(`window.netlab.edges[%q].rx_packets >= %d && window.netlab.edges[%q].rx_bps > 0 && window.netlab.edges[%q].rx_pps > 0`, pod3, int(before)+10, pod3, pod3))
	// Tapping the link shows its counters both ways.
	do(fmt.Sprintf(`window.netlab.cy.getElementById(%q).emit('tap'); true`, pod3))
	waitFor(`document.getElementById('link-out').textContent.includes('eth0 in ` + ov + `-pod3') && document.getElementById('link-out').textContent.includes('pkt/s')`)

	// A trace from the page lights the hops.
	do(`document.getElementById('trace-src').value='pod1 → 10.244.2.2'; document.getElementById('trace-dst').value='';
		document.getElementById('trace-run').click(); true`)
	waitFor(`window.netlab.litDone === true`)
	lit, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.netlab.lit`))
	require.NoError(t, err)
	confirmed, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.netlab.trace.confirmed`))
	require.NoError(t, err)
	assert.True(t, confirmed, "the page shows trace's verdict")
	for _, id := range []string{ov + "/node1/cni0--" + ov + "/w/pod1", ov + "/node1--" + ov + "/underlay", ov + "/node2/flannel.1", pod3} {
		assert.Contains(t, lit, id, "lit on the way pod1 → pod3")
	}
	assert.NotContains(t, lit, ov+"/w/pod2", "pod2 is not on the way")

	// The screenshots of docs/web.md: 1280×720 and 1920×1080, with the
	// seed's Deployment and pod1's pings (NETLAB_DOCS_IMG=1 writes them
	// into docs/img: 'make screenshots').
	for _, size := range [][2]int64{{1920, 1080}, {1280, 720}} {
		_, err := chromedp.Run(ctx, chromedp.EmulateViewport(size[0], size[1]))
		require.NoError(t, err)
		waitFor(fmt.Sprintf(`window.innerWidth === %d && window.netlab.cy.width() > 0`, size[0]))
		_, err = chromedp.Run(ctx, chromedp.Sleep(600*time.Millisecond))
		require.NoError(t, err)
		r, err := chromedp.Run(ctx, chromedp.Evaluate[layoutReport](measureLayout))
		require.NoError(t, err)
		assert.Empty(t, r.Overlaps, "%dx%d: no box or label over another", size[0], size[1])
		assert.GreaterOrEqual(t, r.MinFont, 16.0)
		assert.Empty(t, r.Outside, "%dx%d: all of it on the screen", size[0], size[1])
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		name := fmt.Sprintf("web-%dx%d.png", size[0], size[1])
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
		if os.Getenv("NETLAB_DOCS_IMG") == "1" {
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "img", name), png, 0o644))
		}
	}
	for _, theme := range []string{"light", "dark"} {
		do(fmt.Sprintf(`document.querySelector('[data-tab=labs]').click(); window.netlab.theme !== %q && document.getElementById('theme').click(); true`, theme))
		waitFor(fmt.Sprintf(`window.netlab.theme === %q`, theme))
		_, err := chromedp.Run(ctx, chromedp.Sleep(300*time.Millisecond))
		require.NoError(t, err)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		p := filepath.Join(dir, "web-"+theme+".png")
		require.NoError(t, os.WriteFile(p, png, 0o644))
		t.Logf("screenshot: %s", p)
		if os.Getenv("NETLAB_DOCS_IMG") == "1" && theme == "dark" {
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "img", "web-"+theme+".png"), png, 0o644))
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		p := filepath.Join(dir, "web-"+name+".png")
		require.NoError(t, os.WriteFile(p, png, 0o644))
		t.Logf("screenshot: %s", p)
		if os.Getenv("NETLAB_DOCS_IMG") == "1" {
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "img", "web-"+name+".png"), png, 0o644))
		}
	}

	// The Compare tab: compare's table and the seed's three requirements,
	// run from the page.
	do(`document.querySelector('[data-tab=compare]').click(); document.getElementById('compare-run').click(); true`)
	waitFor(`window.netlab.compare && document.querySelectorAll('#compare-out td.pass').length >= 3`)
	verdicts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`window.netlab.compare.verdicts.map(v => v.docker + ' ' + v.kubernetes)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"FAIL PASS", "FAIL PASS", "FAIL PASS"}, verdicts)
	shot("compare")

	// The teacher's tab: the running exercise, its criteria as check says.
	do(`document.querySelector('[data-tab=exercises]').click(); true`)
	waitFor(`window.netlab.exercises && window.netlab.exercises.length === 1 && document.querySelectorAll('#exercises-out td.fail').length > 0`)
	solved, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.netlab.exercises[0].solved`))
	require.NoError(t, err)
	assert.False(t, solved, "exercise 1 is broken as it starts")
	// The room: Ada's report, a row with exercise 1 tried and not solved.
	waitFor(`window.netlab.room && window.netlab.room.learners.length === 1 && document.querySelector('#room-out table.room')`)
	row, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#room-out table.room tr')[1].children].slice(0, 3).map(c => c.className + ':' + c.textContent)`))
	require.NoError(t, err)
	ada := room.View().Learners[0].Exercises[1]
	require.NotNil(t, ada)
	assert.Less(t, ada.Passed, len(ada.Criteria))
	assert.Equal(t, []string{":Ada L", fmt.Sprintf("fail:%d/%d", ada.Passed, len(ada.Criteria)), ":"}, row, "Ada tried exercise 1, and not 2")
	shot("exercises")

	// A denied flow: the NetworkPolicy probe's pods and a default deny of
	// ingress in x. The page's trace x/c → x/b ends dropped where x/b runs:
	// that node's box marked denied, the hop named, the walk confirmed.
	labtest.MustRun(t, "netpol", "probe", "--lab", ov)
	labtest.MustRun(t, "apply", "--lab", ov, "-f", filepath.Join("..", "..", "examples", "netpol", "deny-all.yaml"))
	ks, err := kube.LoadStore(ov)
	require.NoError(t, err)
	var bNode string
	for _, p := range ks.Pods {
		if p.Namespace == "x" && p.Name == "b" {
			bNode = p.Node
		}
	}
	require.NotEmpty(t, bNode, "the probe made x/b")
	do(`document.querySelector('[data-tab=labs]').click(); true`)
	// The picture gains the probe's pods (it reloads the graph every 5 s),
	// x/a and y/a as two boxes named as trace takes them.
	waitFor(fmt.Sprintf(`window.netlab.cy.getElementById(%q).length === 1 && window.netlab.cy.getElementById(%q).length === 1`, ov+"/w/x/b", ov+"/w/y/a"))
	do(`document.getElementById('trace-src').value='x/c → x/b'; document.getElementById('trace-dst').value='';
		document.getElementById('trace-run').click(); true`)
	waitFor(`window.netlab.litDone === true`)
	denied, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.netlab.denied`))
	require.NoError(t, err)
	assert.Equal(t, []string{ov + "/" + bNode}, denied, "the box of the node whose rules drop it")
	outcome, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[window.netlab.trace.outcome, String(window.netlab.trace.confirmed), document.querySelector('#trace-out p.bad') ? document.querySelector('#trace-out p.bad').textContent : '']`))
	require.NoError(t, err)
	require.Len(t, outcome, 3)
	assert.Equal(t, "dropped", outcome[0])
	assert.Equal(t, "true", outcome[1], "a real packet was refused where the walk says")
	assert.Contains(t, outcome[2], "dropped at "+bNode+": FORWARD REJECT: -A KUBE-POD-FW-")
	lit, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.netlab.lit`))
	require.NoError(t, err)
	assert.NotContains(t, lit, ov+"/"+bNode+"/cni0--"+ov+"/w/x/b", "the packet never reaches x/b's link")
	shot("denied")

	errs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.netlab.errors`))
	require.NoError(t, err)
	assert.Empty(t, errs, "the page met no error")
}
