package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netlab/bridge"
	"netlab/internal/labtest"
	"netlab/internal/state"
	"netlab/internal/topo"
	"netlab/overlay"
	"netlab/web"
)

// layoutBackend serves pictures of labs made without the kernel: states
// as up would leave them, for the page's layout alone.
type layoutBackend struct {
	webBackend
	labs []web.Lab
}

func (b layoutBackend) Labs() []web.Lab        { return b.labs }
func (b layoutBackend) States() []*state.State { return nil }

// planState is the state of a lab of nodes × per workloads, as up leaves
// it, made without the kernel.
func planState(t *testing.T, name, mode string, nodes, per int, backend string) *state.State {
	t.Helper()
	return planStateOf(t, topo.Options{Lab: name, Mode: mode, Nodes: nodes, Workloads: per, WorkloadsF: "--pods"}, backend)
}

// planState6 is planState of a dual-stack lab (--ipv6).
func planState6(t *testing.T, name, mode string, nodes, per int) *state.State {
	t.Helper()
	on := true
	return planStateOf(t, topo.Options{Lab: name, Mode: mode, Nodes: nodes, Workloads: per, WorkloadsF: "--pods", IPv6: &on}, "")
}

func planStateOf(t *testing.T, o topo.Options, backend string) *state.State {
	t.Helper()
	name, mode := o.Lab, o.Mode
	if backend != "" {
		o.Backend = &backend
	}
	top, err := topo.Resolve(o)
	require.NoError(t, err)
	plan := bridge.Plan
	if mode == overlay.Mode {
		plan = overlay.Plan
	}
	p := plan(top)
	return &state.State{Lab: name, Mode: mode, Status: state.StatusUp, Created: time.Now(), Topology: top,
		Workloads: p.Workloads, Namespaces: p.Namespaces, Proxies: p.Proxies}
}

// layoutReport is what the page drew, measured in the browser: the zoom,
// the smallest font on screen (the picture's, at its zoom, and the
// page's), every pair of boxes or labels that overlap, and what fits.
type layoutReport struct {
	Zoom       float64  `json:"zoom"`
	MinFont    float64  `json:"minFont"`
	SmallText  []string `json:"smallText"`
	Overlaps   []string `json:"overlaps"`
	Workloads  int      `json:"workloads"`
	Groups     []int    `json:"groups"`
	Hidden     []string `json:"hidden"`
	Outside    []string `json:"outside"`
	Labels     []string `json:"labels"`
	Unlabelled int      `json:"unlabelled"`
}

// measureLayout is the browser's side of layoutReport. Boxes are nodes
// with their labels; an edge counts by its label alone (lines may cross).
const measureLayout = `(() => {
  const cy = window.netlab.cy, z = cy.zoom(), pan = cy.pan();
  const r = { zoom: z, minFont: 1e9, smallText: [], overlaps: [], workloads: 0, groups: [], hidden: [], outside: [], labels: [], unlabelled: 0 };
  const boxes = [];
  const W = cy.width(), H = cy.height();
  cy.nodes().forEach((n) => {
    const b = n.renderedBoundingBox({ includeLabels: true, includeOverlays: false, includeUnderlays: false });
    boxes.push({ id: n.id(), b });
    if (n.data('kind') === 'workload') r.workloads++;
    if (n.data('kind') === 'group') r.groups.push(n.data('count'));
    if (b.x1 < -1 || b.y1 < -1 || b.x2 > W + 1 || b.y2 > H + 1) r.outside.push(n.id());
  });
  cy.elements().forEach((e) => {
    if (!e.visible()) r.hidden.push(e.id());
    const label = e.pstyle('label').strValue;
    if (!label) return;
    r.minFont = Math.min(r.minFont, parseFloat(e.pstyle('font-size').pfValue) * z);
    if (e.isEdge()) {
      r.labels.push(label);
      // Where Cytoscape drew the label (its centre and size, in the
      // graph's units), moved by its margins, with its background.
      const rs = e._private.rstyle;
      if (!(rs.labelWidth > 0) || rs.labelX === undefined) { r.unlabelled++; return; }
      const pad = e.pstyle('text-background-padding').pfValue || 0;
      const x = rs.labelX + (e.pstyle('text-margin-x').pfValue || 0), y = rs.labelY + (e.pstyle('text-margin-y').pfValue || 0);
      const w = rs.labelWidth / 2 + pad, h = rs.labelHeight / 2 + pad;
      const b = { x1: (x - w) * z + pan.x, y1: (y - h) * z + pan.y, x2: (x + w) * z + pan.x, y2: (y + h) * z + pan.y };
      boxes.push({ id: e.id() + ' (label)', b });
      if (b.x1 < -1 || b.y1 < -1 || b.x2 > W + 1 || b.y2 > H + 1) r.outside.push(e.id() + ' (label)');
    }
  });
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i].b, b = boxes[j].b;
      const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1), h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
      if (w > 1 && h > 1) r.overlaps.push(boxes[i].id + ' × ' + boxes[j].id);
    }
  }
  for (const el of document.querySelectorAll('body *')) {
    if (el.offsetParent === null && el.tagName !== 'BODY') continue;
    if (![...el.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) continue;
    const px = parseFloat(getComputedStyle(el).fontSize);
    if (px < 16) r.smallText.push(el.tagName + '#' + el.id + '.' + el.className + ' ' + px + 'px: ' + el.textContent.trim().slice(0, 40));
  }
  return r;
})()`

// browser is a headless chromium at the given size, for the test's life.
func browser(t *testing.T, w, h int) context.Context {
	t.Helper()
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium here: 'sudo make test' installs Debian's chromium (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(w, h), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel := context.WithTimeout(bctx, 120*time.Second)
	t.Cleanup(cancel)
	_, err := chromedp.Run(ctx, chromedp.EmulateViewport(int64(w), int64(h)))
	require.NoError(t, err)
	return ctx
}

// measure opens lab in the page and measures what it drew.
func measure(t *testing.T, ctx context.Context, url, lab string) layoutReport {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/?token=%s&lab=%s", url, webToken, lab)))
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(`window.netlab && window.netlab.graphLoaded && window.netlab.lab === %q`, lab), chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the page draws lab %s", lab)
	// Let the fonts settle (a label is measured once its font is there).
	_, err = chromedp.Run(ctx, chromedp.Sleep(300*time.Millisecond))
	require.NoError(t, err)
	rep, err := chromedp.Run(ctx, chromedp.Evaluate[layoutReport](measureLayout))
	require.NoError(t, err)
	return rep
}

// TestWebLayout: the picture on a projector, at 1280×720 and 1920×1080:
// one lab at a time, no box or label over another, no text under 16 px
// on screen (the picture's at its zoom, and the page's), every workload
// drawn at 2×20 within the screen, and at 2×50 the groups collapsed with
// their counts, still readable. Also 3 nodes (tunnels between
// neighbours and over them), host-gw's routes, and Docker's published
// ports. No kernel: the labs are plans, as up would leave them.
func TestWebLayout(t *testing.T) {
	lab := func(s string) string { return labtest.Name(s) }
	cases := []struct {
		name string
		s    *state.State
		// all: every workload its own box, all of it on the screen;
		// folded: at 1280×720, some collapsed into groups.
		all, folded bool
	}{
		{"2x20", planState(t, lab("l"), overlay.Mode, 2, 20, ""), true, false},
		{"2x50", planState(t, lab("m"), overlay.Mode, 2, 50, ""), false, true},
		{"3x4", planState(t, lab("n"), overlay.Mode, 3, 4, ""), true, false},
		{"host-gw", planState(t, lab("o"), overlay.Mode, 2, 2, "host-gw"), true, false},
		{"docker", planState(t, lab("p"), bridge.Mode, 2, 2, ""), true, false},
		// Dual-stack: every label a line longer (the IPv6 address).
		{"docker-ipv6", planState6(t, lab("q"), bridge.Mode, 2, 2), true, false},
		{"2x4-ipv6", planState6(t, lab("r"), overlay.Mode, 2, 4), true, false},
	}
	var labs []web.Lab
	for _, c := range cases {
		labs = append(labs, web.Lab{Status: statusJSON(c.s), State: c.s})
	}
	srv := &web.Server{B: layoutBackend{labs: labs}, Token: webToken, Period: time.Hour}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	for _, size := range [][2]int{{1280, 720}, {1920, 1080}} {
		ctx := browser(t, size[0], size[1])
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s@%dx%d", c.name, size[0], size[1]), func(t *testing.T) {
				r := measure(t, ctx, ts.URL, c.s.Lab)
				if dir := os.Getenv("NETLAB_ARTIFACTS"); dir != "" {
					png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("layout-%s-%dx%d.png", c.name, size[0], size[1])), png, 0o644))
				}
				assert.Empty(t, r.Overlaps, "no box or label over another")
				assert.GreaterOrEqual(t, r.MinFont, 16.0, "the picture's smallest text on screen, in px")
				assert.GreaterOrEqual(t, r.Zoom, 1.0)
				assert.Empty(t, r.SmallText, "the page's text under 16 px")
				assert.Empty(t, r.Hidden)
				assert.Zero(t, r.Unlabelled, "every label measured")
				n := len(c.s.Workloads)
				sum := r.Workloads
				for _, g := range r.Groups {
					sum += g
				}
				assert.Equal(t, n, sum, "each workload drawn, or counted in a group")
				if c.all {
					assert.Equal(t, n, r.Workloads, "every workload its own box")
				}
				if len(r.Groups) == 0 {
					assert.Empty(t, r.Outside, "all of it on the screen")
				}
				if c.folded && size[0] == 1280 {
					assert.NotEmpty(t, r.Groups, "groups collapse with a count")
					assert.Less(t, r.Workloads, n)
				}
				switch c.name {
				case "host-gw":
					assert.Contains(t, r.Labels, "node1: 10.244.2.0/24 via 192.168.56.12\nnode2: 10.244.1.0/24 via 192.168.56.11")
				case "3x4":
					assert.Contains(t, r.Labels, "VXLAN VNI 1, UDP 8472")
				}
			})
		}
	}
}
