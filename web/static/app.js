// netlab web: the labs as a graph, their links coloured by live traffic,
// a trace lit hop by hop, compare's table and the exercises' checks.
// window.netlab holds what the page shows, for people and for tests.
'use strict';

const nl = {
  ready: false, graphLoaded: false, nodes: 0, edgesDrawn: 0, events: 0, lastEvent: null,
  edges: {}, lit: [], litDone: false, trace: null, compare: null, exercises: null, room: null,
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

// boxSize sizes a box to its label, in the font size given: a box's size
// is fixed, not 'label' (which Cytoscape may measure as 0 before the font
// is ready, and then draws neither the box nor its links).
function boxSize(n, font) {
  const lines = String(n.data('label') || '').split('\n');
  return { w: Math.max(...lines.map((l) => l.length)) * font * 0.56 + 22, h: lines.length * font * 1.25 + 14 };
}

function graphStyle() {
  return [
    { selector: 'node', style: {
      'shape': 'round-rectangle', 'label': 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center',
      'font-size': 20, 'font-family': 'DejaVu Sans, Helvetica, sans-serif', 'color': css('--fg'), 'background-color': css('--node'),
      'border-width': 2, 'border-color': css('--line'), 'width': (n) => boxSize(n, 20).w, 'height': (n) => boxSize(n, 20).h } },
    { selector: 'node.title', style: { 'background-opacity': 0, 'border-width': 0, 'font-size': 22, 'width': (n) => boxSize(n, 22).w, 'height': (n) => boxSize(n, 22).h, 'font-weight': 'bold', 'text-halign': 'center' } },
    { selector: 'node.underlay', style: { 'background-color': css('--panel'), 'width': 460, 'font-weight': 'bold' } },
    { selector: 'node.bridge', style: { 'background-color': css('--bridge') } },
    { selector: 'node.vtep', style: { 'background-color': css('--vtep') } },
    { selector: 'node.workload', style: { 'background-color': css('--workload'), 'font-size': 19, 'width': (n) => boxSize(n, 19).w, 'height': (n) => boxSize(n, 19).h } },
    { selector: 'node.peer', style: { 'background-color': css('--peer'), 'border-style': 'dashed' } },
    { selector: 'node.port', style: { 'background-opacity': 0, 'border-width': 0, 'font-size': 15, 'width': (n) => boxSize(n, 15).w, 'height': (n) => boxSize(n, 15).h, 'color': css('--muted') } },
    { selector: 'edge', style: {
      'width': 3, 'line-color': css('--line'), 'curve-style': 'bezier', 'label': (e) => e.data('rate') || '', 'font-size': 16, 'font-weight': 'bold', 'text-wrap': 'wrap',
      'color': css('--hot'), 'text-background-color': css('--bg'), 'text-background-opacity': 0.85, 'text-background-padding': 2 } },
    { selector: 'edge.tunnel', style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': [110], 'control-point-weights': [0.5], 'line-style': 'dashed', 'line-color': css('--tunnel'), 'width': 4, 'label': 'data(label)', 'color': css('--tunnel'), 'text-wrap': 'wrap', 'font-size': 16 } },
    { selector: 'edge.route', style: { 'line-style': 'dotted', 'line-color': css('--tunnel'), 'width': 4, 'label': 'data(label)', 'color': css('--tunnel'), 'text-wrap': 'wrap', 'font-size': 16 } },
    { selector: 'edge.busy', style: { 'line-color': css('--hot') } },
    { selector: 'edge.lit', style: { 'line-color': css('--lit'), 'width': 10, 'z-index': 10 } },
    { selector: 'node.lit', style: { 'border-color': css('--lit'), 'border-width': 6, 'z-index': 10 } },
    { selector: 'node.picked', style: { 'border-color': css('--hot'), 'border-width': 6 } },
  ];
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
  if (!cy) {
    cy = cytoscape({ container: $('graph'), elements: doc.elements, layout: { name: 'preset' }, style: graphStyle(),
      wheelSensitivity: 0.3, minZoom: 0.2, maxZoom: 3 });
    cy.on('tap', 'node', (ev) => pick(ev.target));
    cy.on('tap', 'edge', (ev) => { nl.shown = ev.target.id(); showLink(ev.target); });
    cy.on('tap', (ev) => { if (ev.target === cy) cy.animate({ fit: { eles: cy.elements(), padding: 30 } }, { duration: 300 }); });
    nl.cy = cy;
  } else {
    cy.elements().remove();
    cy.add(doc.elements);
  }
  cy.fit(undefined, 30);
  const names = new Set(), labs = new Set();
  cy.nodes().forEach((n) => {
    if (n.data('name')) names.add(n.data('name'));
    if (n.data('ip')) names.add(n.data('ip'));
    labs.add(n.data('lab'));
  });
  $('names').innerHTML = [...names].sort().map((n) => `<option value="${esc(n)}">`).join('');
  $('trace-lab').innerHTML = [...labs].sort().map((l) => `<option>${esc(l)}</option>`).join('');
  nl.nodes = cy.nodes().length;
  nl.edgesDrawn = cy.edges().length;
  nl.graphLoaded = true;
  if (!nl.nodes) $('trace-out').innerHTML = '<p class="hint">No lab is up. Start one: <code>sudo netlab overlay-mode</code></p>';
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Each second's counters: every link's rates, drawn as width and colour.
function onEvent(ev) {
  const doc = JSON.parse(ev.data);
  nl.events++;
  nl.lastEvent = doc.time;
  const byKey = {};
  for (const l of doc.links) byKey[l.lab + '|' + l.netns + '|' + l.iface] = l;
  if (!cy) return;
  cy.batch(() => {
    cy.edges().forEach((e) => {
      const l = byKey[e.data('lab') + '|' + e.data('netns') + '|' + e.data('iface')];
      if (!l) return;
      const bps = Math.max(l.rx_bps, l.tx_bps);
      nl.edges[e.id()] = l;
      if (e.id() === nl.shown) showLink(e);
      if (e.hasClass('tunnel') || e.hasClass('route')) return;
      const pps = l.rx_bps >= l.tx_bps ? l.rx_pps : l.tx_pps;
      e.data('rate', bps > 0 ? `${rate(bps)}\n${Math.round(pps)} pkt/s` : '');
      e.style('width', 3 + Math.min(14, Math.log10(1 + bps / 1000) * 4));
      e.toggleClass('busy', bps > 8000);
    });
  });
  $('status').textContent = `live · ${doc.links.length} links · ${new Date(doc.time).toLocaleTimeString()}`;
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
  if (!l) {
    html += '<p class="hint">no counters here: another machine\'s side</p>';
  } else {
    html += `<p class="hint">${esc(l.iface)} in ${esc(l.netns || 'this machine')}, as its kernel counts</p><table>
      <tr><th></th><th>received</th><th>sent</th></tr>
      <tr><th>now</th><td>${rate(l.rx_bps) || '0'} · ${Math.round(l.rx_pps)} pkt/s</td><td>${rate(l.tx_bps) || '0'} · ${Math.round(l.tx_pps)} pkt/s</td></tr>
      <tr><th>in all</th><td>${l.rx_bytes} bytes · ${l.rx_packets} pkts</td><td>${l.tx_bytes} bytes · ${l.tx_packets} pkts</td></tr></table>`;
  }
  $('link-out').innerHTML = html;
}

// Tapping two boxes traces from the first to the second.
let picked = null;
function pick(n) {
  if (!n.data('name') && !n.data('ip')) return;
  if (!picked) {
    picked = n;
    n.addClass('picked');
    $('trace-src').value = n.data('name') || n.data('ip');
    $('trace-lab').value = n.data('lab');
    return;
  }
  $('trace-dst').value = n.data('kind') === 'workload' || n.data('kind') === 'outside' ? n.data('ip') : (n.data('name') || n.data('ip'));
  picked.removeClass('picked');
  picked = null;
  runTrace();
}

function focusLab(lab) {
  if (!cy) return;
  const els = cy.elements().filter((e) => e.data('lab') === lab);
  cy.animate({ fit: { eles: els.length ? els : cy.elements(), padding: 30 } }, { duration: 300 });
}

async function runTrace() {
  // "pod1 → 10.244.2.2" (or ->) typed in one box is both ends.
  const typed = $('trace-src').value.split(/\s*(?:→|->)\s*/);
  if (typed.length === 2 && typed[1]) {
    $('trace-src').value = typed[0];
    $('trace-dst').value = typed[1];
  }
  const req = { lab: $('trace-lab').value, src: $('trace-src').value.trim(), dst: $('trace-dst').value.trim(), port: Number($('trace-port').value || 0) };
  nl.trace = null; nl.lit = []; nl.litDone = false;
  if (cy) cy.elements().removeClass('lit');
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
  for (const [i, h] of doc.hops.entries()) {
    const what = [h.route && 'route: ' + h.route, ...(h.rewrite || []).map((r) => 'NAT: ' + r.what), h.fdb && 'FDB: ' + h.fdb,
      h.encapsulation && `encapsulated: ${h.encapsulation.type.toUpperCase()} ${h.encapsulation.src} → ${h.encapsulation.dst}, UDP ${h.encapsulation.port}, VNI ${h.encapsulation.vni}`, h.filter && 'filter: ' + h.filter, h.note].filter(Boolean).join('\n');
    html += `<div class="hop" id="hop-${i}"><b>${i + 1}. ${esc(h.host)}</b> ${esc(h.action)} <span class="hint">${esc(h.packet)}</span><div class="what">${esc(what)}</div></div>`;
  }
  for (const x of doc.expected || []) html += `<p class="bad">differs from what netlab built: ${esc(x)}</p>`;
  $('trace-out').innerHTML = html;
  focusLab(req.lab || doc.lab);
  await light(doc, req.lab || doc.lab);
}

// light marks the path, hop by hop: each hop's box and the links it
// takes in and out.
async function light(doc, lab) {
  if (!cy) return;
  for (const h of doc.hops) {
    const els = cy.elements().filter((e) => {
      if (e.data('lab') !== lab) return false;
      if (h.host === 'underlay' && e.data('kind') === 'underlay') return true;
      if (e.data('netns') !== h.namespace) return false;
      if (e.isEdge()) return e.data('iface') && (e.data('iface') === h.in || e.data('iface') === h.out);
      return ['node', 'workload', 'outside'].includes(e.data('kind')) || e.data('iface') === h.in || e.data('iface') === h.out;
    });
    els.addClass('lit');
    els.forEach((e) => { if (!nl.lit.includes(e.id())) nl.lit.push(e.id()); });
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
      if (c.answered_by) parts.push(esc(c.answered_by) + ' answered');
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
    if (tab === 'labs' && cy) cy.resize();
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
  // The lab picked for a trace fills the picture; a tap on the background
  // shows every lab again.
  $('trace-lab').addEventListener('change', () => focusLab($('trace-lab').value));
  setTheme(params.get('theme') || localStorage.getItem('netlab-theme') || 'light');
  loadGraph().then(() => { nl.ready = true; connect(); }).catch((e) => { nl.errors.push(String(e)); $('status').textContent = String(e); });
  setInterval(() => loadGraph().catch(() => {}), 5000);
  setInterval(loadExercises, 10000);
}
init();
