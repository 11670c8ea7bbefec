// netlab web: the labs as a graph, their links coloured by live traffic,
// a trace lit hop by hop, compare's table and the exercises' checks.
// window.netlab holds what the page shows, for people and for tests.
'use strict';

const nl = {
  ready: false, graphLoaded: false, nodes: 0, edgesDrawn: 0, events: 0, lastEvent: null,
  edges: {}, lit: [], denied: [], litDone: false, trace: null, compare: null, exercises: null, room: null,
  lab: null, labs: [], all: [], expanded: new Set(), zoom: 1, groups: [],
  theme: 'light', errors: [],
};
window.netlab = nl;

const params = new URLSearchParams(location.search);
const token = params.get('token') || sessionStorage.getItem('netlab-token') || '';
if (token) sessionStorage.setItem('netlab-token', token);
const $ = (id) => document.getElementById(id);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
let cy = null;

function rate(bps) {
  if (bps >= 1e9) return (bps / 1e9).toFixed(1) + ' Gbit/s';
  if (bps >= 1e6) return (bps / 1e6).toFixed(1) + ' Mbit/s';
  if (bps >= 1e3) return (bps / 1e3).toFixed(0) + ' kbit/s';
  return bps > 0 ? Math.round(bps) + ' bit/s' : '';
}

// The picture is laid out here, for the screen it is on: one lab at a
// time, a column per node (its devices, then its workloads in a grid),
// every box sized to its text, in fonts of 16 px or more at zoom 1, and
// the view never zoomed below 1. A node whose workloads do not fit in
// the height collapses its biggest groups into one box with a count.
const FONT = { box: 18, pod: 16, edge: 16 };
const LINE = 1.15; // line height, in font sizes
// Cytoscape's segment distances are perpendicular to source → target: for
// a left-to-right edge, this sign turns "below" into its own.
const LANE_SIGN = 1;
const PAD = { x: 10, y: 7 };
const GAP = { x: 8, y: 8, col: 14, un: 28, nd: 36, dp: 18, margin: 12 };
const ctx2d = document.createElement('canvas').getContext('2d');
function textWidth(text, size, bold) {
  ctx2d.font = `${bold ? 'bold ' : ''}${size}px "DejaVu Sans", Helvetica, Arial, sans-serif`;
  return ctx2d.measureText(text).width;
}
// The room a rate takes beside an uplink ("999.9 Mbit/s"), in px.
const RATE_ROOM = 10 + Math.ceil(textWidth('999.9 Mbit/s', 16, true)) + 4;
function boxOf(label, size, bold) {
  const lines = String(label || '').split('\n');
  return { w: Math.ceil(Math.max(...lines.map((l) => textWidth(l, size, bold)))) + 2 * PAD.x, h: Math.ceil(lines.length * size * LINE) + 2 * PAD.y };
}

function graphStyle() {
  const font = 'DejaVu Sans, Helvetica, Arial, sans-serif';
  return [
    { selector: 'node', style: {
      'shape': 'round-rectangle', 'label': 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center',
      'font-size': 'data(font)', 'font-family': font, 'line-height': LINE, 'color': css('--fg'), 'background-color': css('--node'),
      'border-width': 2, 'border-color': css('--line'), 'width': 'data(w)', 'height': 'data(h)' } },
    { selector: 'node.underlay', style: { 'background-color': css('--panel'), 'font-weight': 'bold' } },
    { selector: 'node.bridge', style: { 'background-color': css('--bridge') } },
    { selector: 'node.vtep', style: { 'background-color': css('--vtep') } },
    { selector: 'node.workload', style: { 'background-color': css('--workload') } },
    { selector: 'node.group', style: { 'background-color': css('--workload'), 'border-style': 'double', 'border-width': 5 } },
    { selector: 'node.busy', style: { 'border-color': css('--hot'), 'border-width': 4 } },
    { selector: 'node.peer', style: { 'background-color': css('--peer'), 'border-style': 'dashed' } },
    { selector: 'node.port', style: { 'background-color': css('--bg'), 'border-style': 'dotted', 'color': css('--muted') } },
    { selector: 'edge', style: {
      'width': 3, 'line-color': css('--line'), 'curve-style': 'straight', 'label': '', 'font-size': FONT.edge, 'font-family': font, 'font-weight': 'bold',
      'color': css('--hot'), 'text-background-color': css('--bg'), 'text-background-opacity': 0.9, 'text-background-padding': 2, 'line-height': LINE } },
    // A node's link to the underlay carries its rate, beside the line.
    { selector: 'edge.uplink', style: { 'target-endpoint': 'data(tend)', 'label': (e) => e.data('rate') || '', 'text-margin-x': (e) => (e.data('rate') ? textWidth(e.data('rate'), FONT.edge, true) / 2 + 10 : 0) } },
    // A veth: from the bridge down a lane, then down to its workload.
    { selector: 'edge.veth', style: { 'curve-style': 'taxi', 'taxi-direction': 'downward', 'taxi-turn': GAP.dp / 2, 'taxi-turn-min-distance': 4 } },
    // The tunnel and host-gw's routes run in the lane between the nodes
    // and their devices, labelled there.
    { selector: 'edge.tunnel', style: { 'curve-style': 'segments', 'segment-weights': [0, 1], 'segment-distances': 'data(lane)', 'edge-distances': 'node-position',
      'line-style': 'dashed', 'line-color': css('--tunnel'), 'width': 4, 'label': 'data(lanelabel)', 'color': css('--tunnel'), 'text-wrap': 'wrap', 'z-index': 8 } },
    { selector: 'edge.route', style: { 'curve-style': 'segments', 'segment-weights': [0, 1], 'segment-distances': 'data(lane)', 'edge-distances': 'node-position',
      'line-style': 'dotted', 'line-color': css('--tunnel'), 'width': 4, 'label': 'data(lanelabel)', 'color': css('--tunnel'), 'text-wrap': 'wrap', 'z-index': 8 } },
    { selector: 'edge.busy', style: { 'line-color': css('--hot'), 'z-index': 5 } },
    { selector: 'edge.lit', style: { 'line-color': css('--lit'), 'width': 10, 'z-index': 10 } },
    { selector: 'node.lit', style: { 'border-color': css('--lit'), 'border-width': 6, 'z-index': 10 } },
    { selector: 'node.picked', style: { 'border-color': css('--hot'), 'border-width': 6 } },
    // Where a trace's packet is dropped (a NetworkPolicy's REJECT, a
    // Docker network's DROP): the box in the warning colour, doubled.
    { selector: 'node.denied', style: { 'border-color': css('--bad'), 'border-width': 10, 'border-style': 'double', 'z-index': 11 } },
  ];
}

// groupName names a group of workloads in a collapsed box.
function groupName(g, items) {
  if (g.startsWith('deployment/')) return g.slice('deployment/'.length);
  if (g === 'dns') return 'cluster DNS';
  if (g === 'pod') return 'Pods';
  return `${items[0].data.name} … ${items[items.length - 1].data.name}`;
}

// columnBoxes: a node's workloads as boxes within rows rows of k: each
// workload its own box in the grid, or when they do not fit, the biggest
// groups (a Deployment's pods, the DNS pod) collapsed first into one box
// with the count (a row of its own), then the rest after the first ones
// into a "+N more" box. expanded are
// the boxes a tap opened: they stay open (and the view pans).
function columnBoxes(node, items, k, rows, expanded) {
  const groups = new Map();
  for (const w of items) {
    const g = w.data.group || '';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(w);
  }
  let single = items.length, folded = 0;
  const used = () => Math.ceil(single / k) + folded;
  const collapsed = new Set();
  for (const [g, ws] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
    if (used() <= rows) break;
    // The lab's own workloads are never one box: as many as fit, then
    // "+N more".
    if (g === '' || ws.length < 2 || expanded.has(node + '|' + g)) continue;
    collapsed.add(g);
    single -= ws.length;
    folded++;
  }
  let grid = [];
  const folds = [];
  for (const [g, ws] of groups) {
    if (collapsed.has(g)) folds.push(groupBox(node, g, ws, `${groupName(g, ws)} ×${ws.length}`));
    else grid.push(...ws);
  }
  if (used() > rows && !expanded.has(node + '|more')) {
    const keep = Math.max(0, (rows - folded - 1) * k);
    const rest = grid.slice(keep);
    grid = grid.slice(0, keep);
    if (rest.length) folds.push(groupBox(node, 'more', rest, `+${rest.length} more: ${rest[0].data.name} …`));
  }
  return { grid, folds };
}

function groupBox(node, g, ws, first) {
  const lab = ws[0].data.lab;
  const ips = ws.map((w) => w.data.ip).filter(Boolean);
  const label = `${first}\n${ips.length ? ips[0] + (ips.length > 1 ? ' … ' + ips[ips.length - 1] : '') : ''}`;
  return { group: 'nodes', classes: 'workload group', members: ws,
    data: { id: `${lab}/group/${node}/${g}`, kind: 'group', lab, node, group: g, label, count: ws.length, members: ws.map((w) => w.data.netns), key: node + '|' + g } };
}

// compactLabel puts a label on two lines: "node1 · eth1 …" at its dots,
// "cni0 10.244.1.1/24" after its name, ":8080 → …" after the arrow.
function compactLabel(label) {
  if (label.includes(' · ')) return label.split(' · ').join('\n');
  if (label.includes(' → ')) return label.replace(' → ', ' →\n');
  return label.replace(' ', '\n');
}

// layout places one lab's elements for a viewport of w × h pixels, and
// returns the elements to draw (collapsed groups instead of their pods).
function layout(els, w, h, expanded) {
  const byKind = (k) => els.filter((e) => e.group === 'nodes' && e.data.kind === k);
  const cols = els.filter((e) => e.group === 'nodes' && (e.data.kind === 'node' || e.data.kind === 'peer'));
  const size = (e, font, bold) => {
    const b = boxOf(e.data.label, font, bold);
    e.data.w = b.w; e.data.h = b.h; e.data.font = font;
    return b;
  };
  const place = (e, x, y) => { e.position = { x, y }; };
  const M = GAP.margin;
  const wl = els.filter((e) => e.group === 'nodes' && e.data.kind === 'workload');
  // Every workload box as wide as the widest, so that the grid aligns.
  let pw = 0, ph = 0;
  for (const e of wl) { const b = size(e, FONT.pod); pw = Math.max(pw, b.w); ph = Math.max(ph, b.h); }
  const order = ['bridge', 'vtep', 'port'];
  const devices = (c) => els.filter((e) => e.group === 'nodes' && e.data.node === c.data.name && order.includes(e.data.kind))
    .sort((a, b) => order.indexOf(a.data.kind) - order.indexOf(b.data.kind));
  // Each column as narrow as its widest row; when the columns do not fit
  // side by side, node and device labels take two lines.
  const measureCols = (compact) => {
    let min = 0;
    for (const c of cols) {
      for (const e of [c, ...devices(c)]) {
        if (e.data.full === undefined) e.data.full = e.data.label;
        e.data.label = compact ? compactLabel(e.data.full) : e.data.full;
      }
      const cw = size(c, FONT.box, true).w;
      const dw = devices(c).reduce((a, d) => a + size(d, d.data.kind === 'port' ? FONT.pod : FONT.box).w + GAP.x, -GAP.x);
      min = Math.max(min, cw, dw, pw);
    }
    return min + GAP.col;
  };
  let colMin = measureCols(false);
  if (cols.length * colMin + 2 * GAP.margin > w) colMin = measureCols(true);
  const outside = byKind('outside')[0];
  const under = byKind('underlay')[0];
  const ob = outside ? size(outside, FONT.box) : { w: 0, h: 0 };
  size(under, FONT.box, true);
  const colW = Math.max(colMin, (w - 2 * M) / Math.max(1, cols.length));
  const k = Math.max(1, Math.floor((colW - GAP.col + GAP.x) / (pw + GAP.x)));
  // Rows, top to bottom.
  const rowH = (es) => Math.max(0, ...es.map((e) => e.data.h || 0));
  const uH = Math.max(under.data.h, ob.h);
  const nH = rowH(cols);
  const lanes = els.filter((e) => e.group === 'edges' && (e.data.kind === 'tunnel' || e.data.kind === 'route'));
  const laneLines = Math.max(1, ...lanes.map((e) => String(e.data.label).split('\n').length));
  // Tunnels over a neighbour run in lanes of their own, a label's height
  // apart, so that no line runs through another's label.
  const laneStep = laneLines * FONT.edge * LINE + 12;
  const spans = Math.max(1, cols.length - 1);
  const nd = Math.max(GAP.nd, laneStep * spans + 12);
  const dH = Math.max(0, ...cols.map((c) => rowH(devices(c))));
  const yU = M + uH / 2;
  const yN = M + uH + GAP.un + nH / 2;
  const yLane = M + uH + GAP.un + nH + 8 + laneStep / 2;
  const yD = M + uH + GAP.un + nH + nd + dH / 2;
  const podTop = M + uH + GAP.un + nH + nd + dH + GAP.dp;
  const rowsFit = Math.max(1, Math.floor((h - M - podTop + GAP.y) / (ph + GAP.y)));
  nl.layoutInfo = { w, h, colW, colMin, k, rowsFit, pw, ph, podTop };
  const out = [];
  const total = cols.length * colW;
  // The underlay across every column, the outside host at its right end.
  under.data.w = Math.max(under.data.w, total - (outside ? ob.w + 3 * GAP.x : 0));
  place(under, M + under.data.w / 2, yU);
  out.push(under);
  if (outside) { place(outside, M + total - ob.w / 2, yU); out.push(outside); }
  const xOf = {};
  cols.forEach((c, i) => {
    const cx = M + colW * (i + 0.5);
    xOf[c.data.id] = cx;
    place(c, cx, yN);
    out.push(c);
    // Its devices side by side: the bridge first, centred as a pair.
    const ds = devices(c);
    let x = cx - (ds.reduce((a, d) => a + d.data.w + GAP.x, -GAP.x)) / 2;
    for (const d of ds) { place(d, x + d.data.w / 2, yD); x += d.data.w + GAP.x; out.push(d); }
    const bridge = ds.find((d) => d.data.kind === 'bridge');
    const items = wl.filter((e) => e.data.node === c.data.name);
    const { grid, folds } = columnBoxes(c.data.name, items, k, rowsFit, expanded);
    const gw = k * pw + (k - 1) * GAP.x;
    const gx = bridge ? bridge.position.x : cx;
    // The grid under the bridge, kept inside the column.
    const left = Math.min(Math.max(gx - gw / 2, cx - colW / 2 + GAP.col / 2), cx + colW / 2 - GAP.col / 2 - gw) + pw / 2;
    grid.forEach((b, j) => {
      b.data.w = pw; b.data.h = ph;
      place(b, left + (j % k) * (pw + GAP.x), podTop + ph / 2 + Math.floor(j / k) * (ph + GAP.y));
      out.push(b);
    });
    let y = podTop + Math.ceil(grid.length / k) * (ph + GAP.y);
    for (const b of folds) {
      const bb = boxOf(b.data.label, FONT.pod);
      b.data.w = Math.min(Math.max(bb.w, pw), colW - GAP.col); b.data.h = bb.h; b.data.font = FONT.pod;
      place(b, left - pw / 2 + gw / 2, y + bb.h / 2);
      y += bb.h + GAP.y;
      out.push(b);
      if (bridge) out.push({ group: 'edges', classes: 'veth', data: { id: `${bridge.data.id}--${b.data.id}`, kind: 'link', lab: b.data.lab, source: bridge.data.id, target: b.data.id, members: b.data.members } });
    }
  });
  const drawn = new Set(out.map((e) => e.data.id));
  for (const e of els) {
    if (e.group !== 'edges' || !drawn.has(e.data.source) || !drawn.has(e.data.target)) continue;
    const cls = (e.classes || '').split(' ');
    if (e.data.kind === 'link' && e.data.target === under.data.id && e.data.source !== (outside && outside.data.id)) {
      // Straight up into the underlay, above the node.
      cls.push('uplink');
      const src = els.find((x) => x.data.id === e.data.source);
      e.data.tend = `${Math.round(src.position.x - under.position.x)}px ${Math.round(under.data.h / 2)}px`;
    }
    if (e.data.kind === 'tunnel' || e.data.kind === 'route') {
      // Into the lane: up from the devices (the tunnel), down from the
      // nodes (routes); the label in the lane, once per neighbour pair.
      const src = els.find((x) => x.data.id === e.data.source), dst = els.find((x) => x.data.id === e.data.target);
      const span = Math.abs(xOf[src.data.id] - xOf[dst.data.id]) || Math.abs(src.position.x - dst.position.x);
      const dy = e.data.kind === 'tunnel' ? yLane - yD : yLane - yN;
      const over = Math.max(0, Math.round(span / colW) - 1);
      // Tunnels bend up from the devices, routes down from the nodes, into
      // the lanes between: neighbours' first, then the longer spans'.
      const off = dy + over * laneStep;
      const d = (src.position.x < dst.position.x ? 1 : -1) * off * LANE_SIGN;
      e.data.lane = [d, d];
      e.data.lanelabel = Math.round(span / colW) <= 1 ? e.data.label : '';
    }
    out.push({ ...e, classes: cls.join(' ') });
  }
  return out;
}

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const doc = await r.json();
  if (!r.ok) throw new Error(doc.error || r.statusText);
  return doc;
}

async function loadGraph() {
  const doc = await getJSON('/api/graph');
  const ids = doc.elements.map((e) => e.data.id).sort().join(',');
  if (ids === nl.graphIds) return;
  nl.graphIds = ids;
  nl.all = doc.elements;
  const labs = [...new Set(doc.elements.map((e) => e.data.lab))].sort();
  nl.labs = labs;
  $('lab-pick').innerHTML = labs.map((l) => `<option>${esc(l)}</option>`).join('');
  if (!labs.includes(nl.lab)) nl.lab = labs.includes(params.get('lab')) ? params.get('lab') : (labs.includes(localStorage.getItem('netlab-lab')) ? localStorage.getItem('netlab-lab') : labs[0]);
  $('lab-pick').value = nl.lab || '';
  render();
  nl.graphLoaded = true;
  if (!labs.length) $('trace-out').innerHTML = '<p class="hint">No lab is up. Start one: <code>sudo netlab overlay-mode</code></p>';
}

// render draws the picked lab, laid out for the graph's size now.
function render() {
  const box = $('graph');
  const fresh = () => (nl.all || []).filter((e) => e.data.lab === nl.lab).map((e) => ({ ...e, data: { ...e.data } }));
  // The largest zoom (up to 1.5) at which the lab is drawn as at zoom 1,
  // with no more collapsed and all of it on the screen: bigger type for
  // the back of the room.
  const W = box.clientWidth, H = box.clientHeight;
  const attempt = (z) => {
    const out = layout(fresh(), W / z, H / z, nl.expanded);
    const nodes = out.filter((e) => e.group === 'nodes');
    return { out, folds: nodes.filter((e) => e.data.kind === 'group').length,
      fits: nodes.every((e) => e.position.x + e.data.w / 2 <= W / z && e.position.y + e.data.h / 2 <= H / z &&
        // room for a rate beside a node's uplink
        (e.data.kind !== 'node' || e.position.x + RATE_ROOM <= W / z)) };
  };
  let drawn = [];
  if (fresh().length) {
    const base = attempt(1);
    drawn = base.out;
    for (const z of [1.5, 1.4, 1.3, 1.2, 1.1]) {
      const a = attempt(z);
      if (a.fits && a.folds <= base.folds) { drawn = a.out; break; }
    }
  }
  if (!cy) {
    cy = cytoscape({ container: box, elements: [], layout: { name: 'preset' }, style: graphStyle(),
      wheelSensitivity: 0.3, minZoom: 0.3, maxZoom: 3 });
    cy.on('tap', 'node', (ev) => pick(ev.target));
    cy.on('tap', 'edge', (ev) => { nl.shown = ev.target.id(); showLink(ev.target); });
    cy.on('tap', (ev) => { if (ev.target === cy) view(); });
    nl.cy = cy;
  }
  cy.batch(() => {
    cy.elements().remove();
    cy.add(drawn.map((e) => ({ group: e.group, data: e.data, position: e.position, classes: e.classes })));
  });
  view();
  const names = new Set();
  cy.nodes().forEach((n) => {
    if (n.data('name')) names.add(n.data('name'));
    if (n.data('ip')) names.add(n.data('ip'));
  });
  $('names').innerHTML = [...names].sort().map((n) => `<option value="${esc(n)}">`).join('');
  nl.nodes = cy.nodes().length;
  nl.edgesDrawn = cy.edges().length;
  nl.groups = cy.nodes('[kind = "group"]').map((n) => ({ id: n.id(), count: n.data('count') }));
  if (nl.lastLinks) paint(nl.lastLinks);
}

// view shows the lab as large as the screen allows, never smaller than
// zoom 1 (the fonts' sizes): what does not fit is panned to.
function view() {
  if (!cy || !cy.elements().length) return;
  const bb = cy.elements().boundingBox();
  const W = cy.width(), H = cy.height(), M = GAP.margin;
  const z = Math.min(1.5, Math.max(1, Math.min((W - 2 * M) / bb.w, (H - 2 * M) / bb.h)));
  cy.zoom(z);
  const x = bb.w * z <= W ? (W - bb.w * z) / 2 - bb.x1 * z : M - bb.x1 * z;
  const y = bb.h * z <= H ? (H - bb.h * z) / 2 - bb.y1 * z : M - bb.y1 * z;
  cy.pan({ x, y });
  nl.zoom = z;
}

function pickLab(lab) {
  if (lab === nl.lab) return;
  nl.lab = lab;
  nl.expanded = new Set();
  localStorage.setItem('netlab-lab', lab);
  $('lab-pick').value = lab;
  render();
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Each second's counters: every link's rates, drawn as width and colour;
// a workload's box is hot when its link is busy.
function onEvent(ev) {
  const doc = JSON.parse(ev.data);
  nl.events++;
  nl.lastEvent = doc.time;
  nl.lastLinks = doc.links;
  paint(doc.links);
  $('status').textContent = `live · ${doc.links.length} links · ${new Date(doc.time).toLocaleTimeString()}`;
}

function paint(links) {
  const byKey = {};
  for (const l of links) byKey[l.lab + '|' + l.netns + '|' + l.iface] = l;
  for (const e of (nl.all || [])) {
    if (e.group !== 'edges' || !e.data.netns) continue;
    const l = byKey[e.data.lab + '|' + e.data.netns + '|' + e.data.iface];
    if (l) nl.edges[e.data.id] = l;
  }
  if (!cy) return;
  cy.batch(() => {
    cy.edges().forEach((e) => {
      // A collapsed group's link: the sum of its members'.
      const ls = e.data('members') ? e.data('members').map((ns) => byKey[e.data('lab') + '|' + ns + '|eth0']).filter(Boolean) :
        [byKey[e.data('lab') + '|' + e.data('netns') + '|' + e.data('iface')]].filter(Boolean);
      if (!ls.length) return;
      const sum = (k) => ls.reduce((a, l) => a + l[k], 0);
      const bps = Math.max(sum('rx_bps'), sum('tx_bps'));
      if (e.id() === nl.shown) showLink(e);
      if (e.hasClass('tunnel') || e.hasClass('route')) return;
      // The picture says the rate; a tap on the link, the packets too.
      e.data('rate', bps > 0 ? rate(bps) : '');
      e.style('width', 3 + Math.min(10, Math.log10(1 + bps / 1000) * 3));
      e.toggleClass('busy', bps > 8000);
      if (e.hasClass('veth')) e.target().toggleClass('busy', bps > 8000);
    });
  });
}

function connect() {
  const es = new EventSource('/api/events');
  es.onmessage = onEvent;
  es.onerror = () => { $('status').textContent = 'reconnecting…'; };
}

// showLink puts a tapped link's counters, both ways, in the side panel.
function showLink(e) {
  const l = nl.edges[e.id()];
  const a = e.source().data('label').split('\n')[0], b = e.target().data('label').split('\n')[0];
  let html = `<h2>${esc(a)} — ${esc(b)}</h2>`;
  if (e.data('label') && e.hasClass('veth')) html += `<p>a veth pair: ${esc(e.data('label'))}</p>`;
  if (e.data('members')) {
    html += `<p class="hint">${e.data('members').length} veth pairs, drawn as one: tap the group to open it</p>`;
  } else if (!l) {
    html += '<p class="hint">no counters here: another machine\'s side</p>';
  } else {
    html += `<p class="hint">${esc(l.iface)} in ${esc(l.netns || 'this machine')}, as its kernel counts</p><table>
      <tr><th></th><th>received</th><th>sent</th></tr>
      <tr><th>now</th><td>${rate(l.rx_bps) || '0'} · ${Math.round(l.rx_pps)} pkt/s</td><td>${rate(l.tx_bps) || '0'} · ${Math.round(l.tx_pps)} pkt/s</td></tr>
      <tr><th>in all</th><td>${l.rx_bytes} bytes · ${l.rx_packets} pkts</td><td>${l.tx_bytes} bytes · ${l.tx_packets} pkts</td></tr></table>`;
  }
  $('link-out').innerHTML = html;
}

// Tapping two boxes traces from the first to the second; tapping a
// collapsed group opens it.
let picked = null;
function pick(n) {
  if (n.data('kind') === 'group') {
    nl.expanded.add(n.data('key'));
    render();
    return;
  }
  if (!n.data('name') && !n.data('ip')) return;
  if (!picked) {
    picked = n;
    n.addClass('picked');
    $('trace-src').value = n.data('name') || n.data('ip');
    return;
  }
  $('trace-dst').value = n.data('kind') === 'workload' || n.data('kind') === 'outside' ? n.data('ip') : (n.data('name') || n.data('ip'));
  picked.removeClass('picked');
  picked = null;
  runTrace();
}

async function runTrace() {
  // "pod1 → 10.244.2.2" (or ->) typed in one box is both ends.
  const typed = $('trace-src').value.split(/\s*(?:→|->)\s*/);
  if (typed.length === 2 && typed[1]) {
    $('trace-src').value = typed[0];
    $('trace-dst').value = typed[1];
  }
  const req = { lab: nl.lab || '', src: $('trace-src').value.trim(), dst: $('trace-dst').value.trim(), port: Number($('trace-port').value || 0) };
  nl.trace = null; nl.lit = []; nl.denied = []; nl.litDone = false;
  if (cy) cy.elements().removeClass('lit denied');
  $('trace-out').innerHTML = '<p class="hint">tracing: a walk through the kernel\'s answers, then one real packet…</p>';
  let doc;
  try {
    doc = await getJSON('/api/trace', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Netlab-Token': token }, body: JSON.stringify(req) });
  } catch (e) {
    nl.errors.push(String(e.message));
    $('trace-out').innerHTML = `<p class="bad">${esc(e.message)}</p>`;
    return;
  }
  nl.trace = doc;
  const verdict = doc.confirmed ? '<span class="ok">confirmed</span>: the real packet did what the walk says' :
    `<span class="bad">not confirmed</span>: ${esc((doc.disagreements || []).join('; ') || doc.sent)}`;
  let html = `<h2>${esc(req.src)} → ${esc(req.dst)}</h2><p>${esc(doc.outcome)}${doc.delivered_to ? ' to ' + esc(doc.delivered_to) : ''} · ${verdict}</p>`;
  const last = doc.hops[doc.hops.length - 1];
  if (doc.outcome === 'dropped' && last) {
    html += `<p class="bad">dropped at ${esc(last.host)}${last.filter ? ': ' + esc(last.filter) : ''}${last.note ? ' (' + esc(last.note) + ')' : ''}</p>`;
  }
  for (const [i, h] of doc.hops.entries()) {
    const what = [h.route && 'route: ' + h.route, ...(h.rewrite || []).map((r) => 'NAT: ' + r.what), h.fdb && 'FDB: ' + h.fdb,
      h.encapsulation && `encapsulated: ${h.encapsulation.type.toUpperCase()} ${h.encapsulation.src} → ${h.encapsulation.dst}, UDP ${h.encapsulation.port}, VNI ${h.encapsulation.vni}`, h.filter && 'filter: ' + h.filter, h.note].filter(Boolean).join('\n');
    const dropped = doc.outcome === 'dropped' && i === doc.hops.length - 1 ? ' dropped' : '';
    html += `<div class="hop${dropped}" id="hop-${i}"><b>${i + 1}. ${esc(h.host)}</b> ${esc(h.action)} <span class="hint">${esc(h.packet)}</span><div class="what">${esc(what)}</div></div>`;
  }
  for (const x of doc.expected || []) html += `<p class="bad">differs from what netlab built: ${esc(x)}</p>`;
  $('trace-out').innerHTML = html;
  pickLab(req.lab || doc.lab);
  await light(doc, req.lab || doc.lab);
}

// light marks the path, hop by hop: each hop's box and the links it
// takes in and out; where the packet is dropped, the box is marked
// denied and the link it would have left by stays dark.
async function light(doc, lab) {
  if (!cy) return;
  for (const [i, h] of doc.hops.entries()) {
    const drop = doc.outcome === 'dropped' && i === doc.hops.length - 1;
    const els = cy.elements().filter((e) => {
      if (e.data('lab') !== lab) return false;
      if (h.host === 'underlay' && e.data('kind') === 'underlay') return true;
      // A collapsed group holds the workload, and its link.
      if (e.data('members') && e.data('members').includes(h.namespace)) return true;
      if (e.data('netns') !== h.namespace) return false;
      if (e.isEdge()) return e.data('iface') && (e.data('iface') === h.in || (!drop && e.data('iface') === h.out));
      return ['node', 'workload', 'outside'].includes(e.data('kind')) || e.data('iface') === h.in || (!drop && e.data('iface') === h.out);
    });
    els.addClass('lit');
    els.forEach((e) => { if (!nl.lit.includes(e.id())) nl.lit.push(e.id()); });
    if (drop) {
      const at = els.filter((e) => e.isNode() && ['node', 'workload', 'outside'].includes(e.data('kind')));
      at.addClass('denied');
      at.forEach((e) => nl.denied.push(e.id()));
    }
    await new Promise((r) => setTimeout(r, 350));
  }
  nl.litDone = true;
}

async function runCompare() {
  $('compare-out').innerHTML = '<p class="hint">asking every model the same questions…</p>';
  try {
    const doc = await getJSON('/api/compare', { headers: { 'X-Netlab-Token': token } });
    nl.compare = doc;
    const cols = doc.columns;
    const cell = (c) => {
      if (!c) return '';
      if (c.error) return `<span class="bad">${esc(c.error)}</span>`;
      const parts = [];
      if ('reachable' in c && (c.hops || c.rtt_ms !== undefined || c.answered_by)) parts.push(c.reachable ? '<span class="pass">yes</span>' : '<span class="fail">no</span>');
      if (c.rtt_ms !== undefined) parts.push(c.rtt_ms.toFixed(3) + ' ms');
      if (c.meant) parts.push(`${esc(c.from)} → ${esc(c.meant)}: ` + (c.reachable ? 'answered' : '<span class="fail">' + esc(c.failed || 'no answer') + '</span>'));
      else if (c.answered_by) parts.push(esc(c.answered_by) + ' answered');
      if (c.dropped_by) parts.push('dropped at ' + esc(c.dropped_by));
      if (c.seen_source) parts.push('saw ' + esc(c.seen_source) + (c.translated ? ' · NAT' : ' · no NAT'));
      if (c.mtu) parts.push('MTU ' + c.mtu);
      if (c.overhead_bytes !== undefined) parts.push(c.overhead_bytes + ' bytes: ' + esc(c.encapsulation || ''));
      if (c.gbit_s !== undefined) parts.push(c.gbit_s.toFixed(1) + ' Gbit/s');
      if (c.note) parts.push('<span class="hint">' + esc(c.note) + '</span>');
      return parts.join('<br>');
    };
    let html = `<table><tr><th></th>${cols.map((k) => `<th>${esc(k)} (lab ${esc(doc.labs[k] || '')})</th>`).join('')}</tr>`;
    for (const r of doc.rows) html += `<tr><th>${esc(r.question)}</th>${cols.map((k) => `<td>${cell(r[k])}</td>`).join('')}</tr>`;
    html += '</table><h2>The seed\'s requirements</h2><table>';
    for (const v of doc.verdicts) {
      html += `<tr><th>${esc(v.requirement)}</th>${cols.map((k) => `<td class="${v[k] === 'PASS' ? 'pass' : 'fail'}">${esc(v[k] || '')}</td>`).join('')}</tr>`;
    }
    $('compare-out').innerHTML = html + '</table>';
  } catch (e) {
    nl.errors.push(String(e.message));
    $('compare-out').innerHTML = `<p class="bad">${esc(e.message)}</p>`;
  }
}

// The room: who solved what, from the learners' reports
// ('netlab exercise check --report'), one row a learner.
async function loadRoom() {
  const doc = await getJSON('/api/room', { headers: { 'X-Netlab-Token': token } });
  nl.room = doc;
  if (!doc.learners.length) {
    $('room-out').innerHTML = '<p class="hint">No learner has reported yet. Start <code>netlab web --room</code>: it prints the command learners run.</p>';
    return;
  }
  const xs = doc.exercises;
  let html = `<table class="room"><tr><th>learner</th>${xs.map((x) => `<th title="${esc(x.title)}">${x.number}</th>`).join('')}<th>solved</th></tr>`;
  for (const l of doc.learners) {
    let n = 0;
    html += `<tr><th>${esc(l.name)}</th>`;
    for (const x of xs) {
      const a = l.exercises[x.number];
      if (!a) { html += '<td></td>'; continue; }
      if (a.solved) n++;
      const tip = `${x.title}: ${a.passed}/${a.criteria.length} criteria, ${a.reports} report(s)`;
      html += a.solved ? `<td class="pass" title="${esc(tip)}">✓</td>` : `<td class="fail" title="${esc(tip)}">${a.passed}/${a.criteria.length}</td>`;
    }
    html += `<td>${n}</td></tr>`;
  }
  html += `<tr><th>solved by</th>${xs.map((x) => `<td>${doc.learners.filter((l) => l.exercises[x.number] && l.exercises[x.number].solved).length}</td>`).join('')}<td></td></tr>`;
  $('room-out').innerHTML = html + '</table>';
}

async function loadExercises() {
  if (!document.getElementById('exercises').classList.contains('active')) return;
  loadRoom().catch((e) => { nl.errors.push(String(e.message)); $('room-out').innerHTML = `<p class="bad">${esc(e.message)}</p>`; });
  try {
    const doc = await getJSON('/api/exercises', { headers: { 'X-Netlab-Token': token } });
    nl.exercises = doc;
    if (!doc.length) {
      $('exercises-out').innerHTML = '<p class="hint">No exercise is running. Start one: <code>sudo netlab exercise start 1</code></p>';
      return;
    }
    let html = '';
    for (const x of doc) {
      html += `<h2>${x.number}. ${esc(x.title)} <span class="${x.solved ? 'pass' : 'fail'}">${x.solved ? 'solved' : 'not yet'}</span> <span class="hint">lab ${esc(x.lab)}</span></h2><table>`;
      for (const c of x.criteria) html += `<tr><td class="${c.pass ? 'pass' : 'fail'}">${c.pass ? 'PASS' : 'FAIL'}</td><td>${esc(c.name)}</td><td class="hint">${esc(c.observed)}</td></tr>`;
      html += '</table>';
    }
    $('exercises-out').innerHTML = html;
  } catch (e) {
    nl.errors.push(String(e.message));
    $('exercises-out').innerHTML = `<p class="bad">${esc(e.message)}</p>`;
  }
}

function setTheme(t) {
  nl.theme = t;
  document.documentElement.dataset.theme = t;
  localStorage.setItem('netlab-theme', t);
  if (cy) cy.style(graphStyle());
}

function init() {
  const show = (tab) => {
    document.querySelectorAll('.tab, .panel').forEach((x) => x.classList.remove('active'));
    document.querySelector(`.tab[data-tab="${tab}"]`).classList.add('active');
    $(tab).classList.add('active');
    nl.tab = tab;
    if (tab === 'labs' && cy) { cy.resize(); render(); }
    if (tab === 'exercises') loadExercises();
  };
  for (const b of document.querySelectorAll('.tab')) {
    b.addEventListener('click', () => { history.replaceState(null, '', '#' + b.dataset.tab); show(b.dataset.tab); });
  }
  // #compare or #exercises opens that tab: a teacher's bookmark.
  if (['labs', 'compare', 'exercises'].includes(location.hash.slice(1))) show(location.hash.slice(1));
  $('theme').addEventListener('click', () => setTheme(nl.theme === 'dark' ? 'light' : 'dark'));
  $('trace-form').addEventListener('submit', (e) => { e.preventDefault(); runTrace(); });
  $('compare-run').addEventListener('click', runCompare);
  // One lab at a time: the picker in the header.
  $('lab-pick').addEventListener('change', () => pickLab($('lab-pick').value));
  // A new size lays the picture out again (a projector's, a window's).
  let resized = null;
  window.addEventListener('resize', () => { clearTimeout(resized); resized = setTimeout(() => { if (cy) { cy.resize(); render(); } }, 150); });
  setTheme(params.get('theme') || localStorage.getItem('netlab-theme') || 'light');
  loadGraph().then(() => { nl.ready = true; connect(); }).catch((e) => { nl.errors.push(String(e)); $('status').textContent = String(e); });
  setInterval(() => loadGraph().catch(() => {}), 5000);
  setInterval(loadExercises, 10000);
}
init();
