// netfence report -o html (and diff -o html): draws the JSON document of
// `netfence report -o json` (or the diff's, reshaped by html.rs into the same
// edges with a `change`), embedded in #netfence-data. Every fact shown comes
// from that document; this script only lays it out. Input names are untrusted: text goes in through
// textContent and setAttribute only, never as markup.
(function () {
  'use strict';
  var doc = JSON.parse(document.getElementById('netfence-data').textContent);
  var DIFF = doc.mode === 'diff';
  var SVG = 'http://www.w3.org/2000/svg';
  // Beyond this many workloads namespaces start collapsed; at most MAX_EDGES
  // edges are drawn at once (the selected workload's edges always are).
  var COLLAPSE_ABOVE = 60;
  var MAX_EDGES = 250;
  var MAX_NODES_PER_NS = 300;
  var LABEL_EDGES = 80;

  function el(tag, attrs) {
    var e = document.createElement(tag);
    setAll(e, attrs);
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function sv(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    setAll(e, attrs);
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function setAll(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
    });
  }
  function add(e, c) {
    if (c === undefined || c === null) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(e, x); }); return; }
    e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function nsOf(id) { var i = id.indexOf('/'); return i < 0 ? id : id.slice(0, i); }
  function short(s, n) { return s.length > n ? s.slice(0, n - 1) + '\u2026' : s; }

  // A connection set ({TCP: [[lo, hi]], UDP, SCTP, other}) as text.
  function ports(a) {
    var parts = [];
    ['TCP', 'UDP', 'SCTP'].forEach(function (p) {
      var r = a[p] || [];
      if (!r.length) return;
      if (r.length === 1 && r[0][0] <= 1 && r[0][1] >= 65535) { parts.push(p + ' all'); return; }
      parts.push(p + ' ' + r.map(function (x) { return x[0] === x[1] ? x[0] : x[0] + '-' + x[1]; }).join(','));
    });
    if (a.other) parts.push('other protocols');
    return parts.length ? parts.join(', ') : 'nothing';
  }

  // ---- the model, straight from the document ----
  var nodes = new Map();
  var nsNames = [];
  var posture = new Map();
  (doc.namespaces || []).forEach(function (p) { posture.set(p.namespace, p); });
  var dnsBroken = new Map();
  (doc.dns || []).forEach(function (d) { dnsBroken.set(d.pod, d); });
  var openIn = new Set(), openEg = new Set();
  (doc.namespaces || []).forEach(function (p) {
    (p.open_ingress || []).forEach(function (x) { openIn.add(x); });
    (p.open_egress || []).forEach(function (x) { openEg.add(x); });
  });
  function node(id, external) {
    var n = nodes.get(id);
    if (!n) {
      n = { id: id, external: external, ns: external ? null : nsOf(id), name: external ? id : id.slice(nsOf(id).length + 1),
            isolated: null, dns: false, inbound: [], outbound: [] };
      nodes.set(id, n);
    }
    return n;
  }
  var edges = [];
  (doc.reachability || []).forEach(function (r) {
    var n = node(r.destination, !!r.external_destination);
    n.isolated = r.ingress_isolated;
    n.dns = !!r.cluster_dns;
  });
  (doc.reachability || []).forEach(function (r) {
    var dst = nodes.get(r.destination);
    (r.sources || []).forEach(function (s) {
      var src = node(s.from, !!s.external);
      var e = { from: src, to: dst, label: (s.change ? (s.change === 'added' ? '+ ' : '\u2212 ') : '') + ports(s.allowed || {}),
                policies: s.policies || [], change: s.change || null };
      edges.push(e);
      src.outbound.push(e);
      dst.inbound.push(e);
    });
  });
  var byNs = new Map();
  nodes.forEach(function (n) {
    if (n.external) return;
    if (!byNs.has(n.ns)) byNs.set(n.ns, []);
    byNs.get(n.ns).push(n);
  });
  posture.forEach(function (_, k) { if (!byNs.has(k)) byNs.set(k, []); });
  nsNames = Array.from(byNs.keys()).sort();
  var externals = Array.from(nodes.values()).filter(function (n) { return n.external; });
  var workloadCount = nodes.size - externals.length;
  var notIsolatedCount = Array.from(nodes.values()).filter(function (n) { return n.isolated === false; }).length;

  // ---- view state, from the URL fragment (#ns=NAME&q=TEXT&select=ID&expand=all) ----
  var params = new URLSearchParams(location.hash.replace(/^#/, ''));
  var state = {
    ns: params.get('ns') || params.get('filter') || '',
    q: params.get('q') || '',
    selected: params.get('select') || '',
    expanded: new Set()
  };
  if (params.get('expand') === 'all' || workloadCount <= COLLAPSE_ABOVE) nsNames.forEach(function (n) { state.expanded.add(n); });

  // ---- page skeleton ----
  var s = doc.summary || {};
  var nsSelect = el('select', { id: 'nsfilter' }, el('option', { value: '' }, 'all namespaces'),
    nsNames.map(function (n) { return el('option', { value: n }, n); }));
  var search = el('input', { id: 'search', type: 'search', placeholder: 'workload name', size: 22 });
  var expandAll = el('button', { id: 'expandall', type: 'button' }, 'expand all');
  var collapseAll = el('button', { id: 'collapseall', type: 'button' }, 'collapse all');
  var header = el('header', null, el('h1', null, DIFF ? 'netfence diff' : 'netfence report'),
    el('span', { class: 'sum' }, DIFF
      ? (doc.before || '') + ' \u2192 ' + (doc.after || '') + ': ' + (s.added || 0) + ' added, ' + (s.removed || 0) + ' removed'
      : (s.namespaces || 0) + ' namespaces, ' + (s.pods || 0) + ' workloads/pods, ' + (s.policies || 0) + ' NetworkPolicies'),
    el('label', null, 'namespace', nsSelect), el('label', null, 'search', search), expandAll, collapseAll);
  var legend = DIFF ? el('div', { class: 'legend' },
    el('span', { class: 'l-added' }, 'edge: connections the change adds'),
    el('span', { class: 'l-removed' }, 'edge: connections the change removes'),
    el('span', { class: 'l-ext' }, 'external range or node'),
    el('span', null, 'only workloads with a changed connection are drawn')) : el('div', { class: 'legend' },
    el('span', { class: 'l-ns' }, 'namespace (green: default-deny both ways, amber: one way, red dashed: none; click to expand)'),
    el('span', null, 'workload isolated for ingress'),
    el('span', { class: 'l-open' }, 'not isolated for ingress'),
    el('span', { class: 'l-dns' }, 'cluster DNS'),
    el('span', { class: 'l-dnsbroken' }, 'cannot reach DNS'),
    el('span', { class: 'l-ext' }, 'external range'),
    el('span', null, 'edge: allowed connections, labelled by ports'));
  var notice = el('div', { id: 'notice' });
  var svg = sv('svg', { id: 'graph', role: 'img', 'aria-label': 'reachability graph' });
  var details = el('aside', { id: 'details' });
  var main = el('div', { id: 'main' }, el('div', { id: 'graphwrap' }, svg), details);
  document.body.appendChild(header);
  document.body.appendChild(legend);
  document.body.appendChild(notice);
  document.body.appendChild(main);
  nsSelect.value = state.ns;
  search.value = state.q;

  function matches(n) {
    if (!state.q) return true;
    return n.id.toLowerCase().indexOf(state.q.toLowerCase()) >= 0;
  }

  // ---- drawing ----
  function render() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var defs = sv('defs', null,
      sv('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        sv('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a97a8' })));
    svg.appendChild(defs);
    var wrapWidth = Math.max(900, (document.getElementById('graphwrap').clientWidth || 1200) - 20);
    var pos = new Map(); // node id or 'ns:NAME' -> {x, y, w, h}
    var shownNodes = 0;
    var visibleNs = nsNames.filter(function (name) {
      if (state.ns && name !== state.ns) return false;
      if (!state.q) return true;
      return name.toLowerCase().indexOf(state.q.toLowerCase()) >= 0 || byNs.get(name).some(matches);
    });
    // A search opens the namespaces it finds, when they are few enough to draw.
    var autoOpen = new Set();
    if (state.q) {
      var found = 0;
      visibleNs.forEach(function (n) { found += byNs.get(n).filter(matches).length; });
      if (found <= MAX_NODES_PER_NS) visibleNs.forEach(function (n) { autoOpen.add(n); });
    }
    if (state.ns) autoOpen.add(state.ns);
    function isOpen(name) { return state.expanded.has(name) || autoOpen.has(name); }

    // External ranges in a column on the left.
    var x0 = 16, y = 16;
    var showExt = !state.ns && !state.q ? externals : externals.filter(function (n) {
      return n.outbound.some(function (e) { return visibleNs.indexOf(e.to.ns) >= 0; }) && (!state.q || visibleNs.length);
    });
    var extW = 0;
    showExt.forEach(function (n) {
      var label = short(n.id, 30);
      var w = Math.max(110, label.length * 7 + 24), h = 32;
      pos.set(n.id, { x: x0, y: y, w: w, h: h });
      var g = sv('g', { class: 'ext' + (state.selected === n.id ? ' sel' : ''), 'data-id': n.id, tabindex: 0 },
        sv('path', { d: 'M' + (x0 + 10) + ',' + y + ' h' + (w - 20) + ' l10,' + h / 2 + ' l-10,' + h / 2 + ' h-' + (w - 20) + ' l-10,-' + h / 2 + ' z' }),
        sv('text', { x: x0 + w / 2, y: y + 20, 'text-anchor': 'middle' }, label),
        sv('title', null, n.id + ' (external)'));
      g.addEventListener('click', function () { select(n.id); });
      svg.appendChild(g);
      extW = Math.max(extW, w);
      y += h + 10;
    });
    var left = showExt.length ? x0 + extW + 50 : x0;

    // Namespaces, shelf-packed left to right.
    var cx = left, cy = 16, rowH = 0, maxX = left, NS_GAP = 44;
    // Boxes under edges under edge labels under workloads: names stay readable.
    var nsLayer = sv('g', { id: 'namespaces' });
    var edgeLayer = sv('g', { id: 'edges' });
    var nodeLayer = sv('g', { id: 'workloads' });
    var labelLayer = sv('g', { id: 'edge-labels' });
    [nsLayer, edgeLayer, labelLayer, nodeLayer].forEach(function (l) { svg.appendChild(l); });
    // Few namespaces: columns by how far traffic has come from outside (the
    // namespaces external ranges reach first, then those they reach...), so
    // edges mostly run left to right. Many: shelf-packed boxes.
    var columns = visibleNs.length <= 24;
    var NW = 150, NH = 28, GAP = 10;
    var boxes = visibleNs.map(function (name) {
      var members = byNs.get(name).slice().sort(function (a, b) { return a.id < b.id ? -1 : 1; });
      var open = isOpen(name) && members.length > 0;
      var w, h, shown = [], cols = 1;
      if (open) {
        shown = members.slice(0, MAX_NODES_PER_NS);
        cols = Math.max(1, Math.min(shown.length, Math.ceil(Math.sqrt(shown.length * 1.5)), columns && visibleNs.length > 2 ? 1 : 6));
        var rows = Math.ceil(shown.length / cols);
        w = Math.max(200, cols * (NW + GAP) + GAP + 8);
        h = 48 + rows * (NH + GAP) + (members.length > shown.length ? 18 : 0);
      } else {
        w = Math.max(170, Math.min(260, name.length * 8 + 30)); h = 58;
      }
      return { name: name, members: members, open: open, shown: shown, cols: cols, w: w, h: h };
    });
    if (columns) {
      var rank = new Map();
      var frontier = [];
      externals.forEach(function (n) { n.outbound.forEach(function (e) { if (!rank.has(e.to.ns)) { rank.set(e.to.ns, 0); frontier.push(e.to.ns); } }); });
      while (frontier.length) {
        var next = [];
        frontier.forEach(function (ns) {
          byNs.get(ns).forEach(function (n) {
            n.outbound.forEach(function (e) { if (!rank.has(e.to.ns)) { rank.set(e.to.ns, rank.get(ns) + 1); next.push(e.to.ns); } });
          });
        });
        frontier = next;
      }
      var maxRank = 0;
      rank.forEach(function (r) { maxRank = Math.max(maxRank, r); });
      var colX = left, colsOf = [];
      boxes.forEach(function (bx) {
        var r = rank.has(bx.name) ? rank.get(bx.name) : maxRank + 1;
        (colsOf[r] = colsOf[r] || []).push(bx);
      });
      colsOf.forEach(function (col) {
        if (!col) return;
        var yy = 16, cw = 0;
        col.forEach(function (bx) { bx.x = colX; bx.y = yy; yy += bx.h + NS_GAP; cw = Math.max(cw, bx.w); rowH = Math.max(rowH, yy - NS_GAP - 16); });
        colX += cw + NS_GAP * 1.5;
      });
      maxX = colX;
    } else {
      boxes.forEach(function (bx) {
        if (cx + bx.w > wrapWidth && cx > left) { cx = left; cy += rowH + NS_GAP; rowH = 0; }
        bx.x = cx; bx.y = cy;
        cx += bx.w + NS_GAP;
        rowH = Math.max(rowH, bx.h);
        maxX = Math.max(maxX, cx);
      });
    }
    boxes.forEach(function (B) {
      var name = B.name, members = B.members, open = B.open, shown = B.shown, w = B.w, h = B.h;
      var p = posture.get(name);
      var cls = 'nsbox ' + (p ? (p.default_deny_ingress && p.default_deny_egress ? 'deny-both'
        : (p.default_deny_ingress || p.default_deny_egress ? 'deny-some' : 'deny-none')) : '');
      var bx = B.x, by = B.y;
      pos.set('ns:' + name, { x: bx, y: by, w: w, h: h });
      var g = sv('g', { class: 'ns' + (open ? ' expanded' : ' collapsed'), 'data-ns': name });
      var box = sv('rect', { class: cls, x: bx, y: by, width: w, height: h, rx: 8 });
      var head = sv('g', { class: 'nshead' },
        sv('text', { class: 'nstitle', x: bx + 10, y: by + 18 }, (open ? '\u25be ' : '\u25b8 ') + short(name, 40)),
        sv('text', { class: 'nsmeta', x: bx + 10, y: by + 34 },
          members.length + ' workload' + (members.length === 1 ? '' : 's') + (p ? ', ' + p.policies + ' polic' + (p.policies === 1 ? 'y' : 'ies') : '')),
        sv('title', null, name + (p ? ': default-deny ingress ' + (p.default_deny_ingress ? 'yes' : 'no') + ', egress ' + (p.default_deny_egress ? 'yes' : 'no') : '')));
      head.addEventListener('click', function () { toggle(name); });
      box.addEventListener('click', function () { toggle(name); });
      g.appendChild(box);
      g.appendChild(head);
      if (open) {
        shown.forEach(function (n, i) {
          var colsN = B.cols;
          var nx = bx + 4 + GAP + (i % colsN) * (NW + GAP), ny = by + 44 + Math.floor(i / colsN) * (NH + GAP);
          pos.set(n.id, { x: nx, y: ny, w: NW, h: NH });
          var c = 'wl';
          if (n.isolated === false) c += ' open';
          if (n.dns) c += ' dns';
          if (dnsBroken.has(n.id)) c += ' dnsbroken';
          if (state.selected === n.id) c += ' sel';
          if (!matches(n)) c += ' dim';
          var tag = n.dns ? 'DNS ' : (dnsBroken.has(n.id) ? '\u26a0 ' : '');
          var wg = sv('g', { class: c, 'data-id': n.id, 'data-ns': n.ns, tabindex: 0 },
            sv('rect', { x: nx, y: ny, width: NW, height: NH, rx: 5 }),
            sv('text', { x: nx + 8, y: ny + 18 }, tag + short(n.name.slice(n.name.lastIndexOf('/') + 1), 20)),
            sv('title', null, n.id + (n.isolated === false ? ' (not isolated for ingress)' : '') + (n.dns ? ' (cluster DNS)' : '') +
              (dnsBroken.has(n.id) ? ' (cannot reach cluster DNS)' : '')));
          wg.addEventListener('click', function (ev) { ev.stopPropagation(); select(n.id); });
          nodeLayer.appendChild(wg);
          shownNodes++;
        });
        if (members.length > shown.length) {
          g.appendChild(sv('text', { class: 'nsmeta', x: bx + 10, y: by + h - 6 }, (members.length - shown.length) + ' more: search by name to see them'));
        }
      }
      nsLayer.appendChild(g);
    });
    var height = Math.max(cy + rowH + 24, y + 10);
    var width = Math.max(maxX + 20, 400);
    // A small graph is scaled to fit the pane; a large one keeps its size and scrolls.
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    if (columns) {
      svg.setAttribute('width', '100%');
      svg.setAttribute('style', 'max-width:' + width + 'px');
      svg.removeAttribute('height');
    } else {
      svg.setAttribute('width', width);
      svg.setAttribute('height', height);
      svg.removeAttribute('style');
    }

    // Edges between what is drawn: a workload if its namespace is open, else
    // the namespace's box. Edges within one collapsed box are not drawn.
    function anchor(n) {
      if (n.external) return pos.has(n.id) ? n.id : null;
      if (pos.has(n.id)) return n.id;
      return pos.has('ns:' + n.ns) ? 'ns:' + n.ns : null;
    }
    var groups = new Map();
    edges.forEach(function (e) {
      var a = anchor(e.from), b = anchor(e.to);
      if (!a || !b || a === b) return;
      var key = a + '\u0000' + b;
      var gr = groups.get(key);
      if (!gr) { gr = { a: a, b: b, edges: [], sel: false, dns: false, direct: a === e.from.id && b === e.to.id }; groups.set(key, gr); }
      gr.edges.push(e);
      if (e.from.id === state.selected || e.to.id === state.selected) gr.sel = true;
      if (e.to.dns) gr.dns = true;
      if (e.change) gr.changes = (gr.changes || '') + e.change[0];
    });
    var list = Array.from(groups.values());
    // The selected workload's edges first, then edges between workloads, then the rest.
    list.sort(function (p, q) { return (q.sel - p.sel) || (q.direct - p.direct) || (q.edges.length - p.edges.length); });
    var total = list.length;
    var drawn = list.filter(function (gr, i) { return gr.sel || i < MAX_EDGES; });
    var placed = [];
    drawn.forEach(function (gr) {
      var A = pos.get(gr.a), B = pos.get(gr.b);
      var x1 = A.x + A.w, y1 = A.y + A.h / 2, x2 = B.x, y2 = B.y + B.h / 2, c1, c2;
      if (B.x >= A.x + A.w) { // left to right
        var bend = Math.min(60, (x2 - x1) / 2 + 10);
        c1 = [x1 + bend, y1]; c2 = [x2 - bend, y2];
      } else if (B.x + B.w <= A.x) { // right to left
        x1 = A.x; x2 = B.x + B.w;
        var back = Math.min(60, (x1 - x2) / 2 + 10);
        c1 = [x1 - back, y1]; c2 = [x2 + back, y2];
      } else { // one above the other: loop out to the left of both
        x1 = A.x; x2 = B.x;
        var bulge = Math.min(90, 24 + Math.abs(y2 - y1) / 5);
        // Never out of the drawing on the left, where nothing scrolls to.
        var lx = Math.max(4, Math.min(x1, x2) - bulge);
        c1 = [lx, y1]; c2 = [lx, y2];
      }
      var d = 'M' + x1 + ',' + y1 + ' C' + c1[0] + ',' + c1[1] + ' ' + c2[0] + ',' + c2[1] + ' ' + x2 + ',' + y2;
      // The label sits at 70% of the way, near its destination, so the labels
      // of edges fanning out of one workload do not pile up at its side.
      var t = 0.7, u = 1 - t;
      var mx = u * u * u * x1 + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t * t * t * x2;
      var my = u * u * u * y1 + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t * t * t * y2;
      var change = !gr.changes ? '' : gr.changes.indexOf('r') < 0 ? ' added' : gr.changes.indexOf('a') < 0 ? ' removed' : ' mixed';
      var cls = 'edge' + change + (gr.dns ? ' dnsedge' : '') + (gr.sel ? ' hl' : (state.selected ? ' fade' : ''));
      var label = gr.edges.length === 1 ? gr.edges[0].label : gr.edges.length + ' connections';
      var path = sv('path', { class: cls, d: d, 'marker-end': 'url(#arrow)', 'data-from': gr.a, 'data-to': gr.b },
        sv('title', null, gr.edges.slice(0, 20).map(function (e) { return e.from.id + ' \u2192 ' + e.to.id + ': ' + e.label; }).join('\n') +
          (gr.edges.length > 20 ? '\n\u2026' : '')));
      edgeLayer.appendChild(path);
      if (drawn.length <= LABEL_EDGES || gr.sel) {
        var txt = short(label, 28);
        mx = Math.max(mx, txt.length * 3.1 + 6);
        var box = { x: mx - txt.length * 3.1 - 3, y: my - 9, w: txt.length * 6.2 + 6, h: 13 };
        // A label that would cover another is left out (the edge's tooltip and
        // the details pane still give it); the selected workload's labels win.
        var clash = placed.some(function (o) { return box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h; });
        if (!clash || gr.sel) {
          placed.push(box);
          labelLayer.appendChild(sv('rect', { class: 'elabel-bg', x: box.x, y: box.y, width: box.w, height: box.h, rx: 3 }));
          labelLayer.appendChild(sv('text', { class: 'elabel', x: mx, y: my + 1, 'text-anchor': 'middle' }, txt));
        }
      }
    });
    svg.setAttribute('data-workloads-drawn', shownNodes);
    svg.setAttribute('data-edges-drawn', drawn.length);
    svg.setAttribute('data-edges-total', total);
    var msg = [];
    if (drawn.length < total) msg.push('Showing ' + drawn.length + ' of ' + total + ' edges: expand a namespace, filter or click a workload to see the rest.');
    if (workloadCount > COLLAPSE_ABOVE && !state.q && !state.ns) msg.push(workloadCount + ' workloads: namespaces start collapsed; click one to expand it.');
    notice.textContent = msg.join(' ');
  }

  function toggle(name) {
    if (state.expanded.has(name)) state.expanded.delete(name); else state.expanded.add(name);
    render();
  }

  // The policies that grant an edge, as the report's data names them.
  function byPolicies(e) {
    if (!e.policies.length) return '';
    return el('span', { class: 'muted policies' }, ' (by ' + e.policies.join(', ') + ')');
  }

  function linkTo(id) {
    if (!nodes.has(id)) return document.createTextNode(id);
    var a = el('a', { class: 'link', 'data-go': id }, id);
    a.addEventListener('click', function () {
      var n = nodes.get(id);
      if (n.ns) state.expanded.add(n.ns);
      select(id);
    });
    return a;
  }

  function select(id) {
    state.selected = id;
    var n = nodes.get(id);
    if (n && n.ns && !state.expanded.has(n.ns)) state.expanded.add(n.ns);
    render();
    showDetails();
  }

  function showDetails() {
    while (details.firstChild) details.removeChild(details.firstChild);
    var n = nodes.get(state.selected);
    if (!n) {
      if (DIFF) {
        add(details, [el('h2', null, 'Click a workload'),
          el('p', { class: 'muted' }, 'to see the connections the change adds (green) and removes (red) towards it and from it.')]);
        return;
      }
      add(details, [el('h2', null, 'Click a workload'),
        el('p', { class: 'muted' }, 'to see what reaches it and what it reaches. Click a namespace to expand or collapse it.'),
        el('p', { class: 'muted' }, 'Only destinations isolated for ingress list their sources; one that is not isolated (' +
          notIsolatedCount + ' here) accepts any source whose own egress allows it.')]);
      return;
    }
    add(details, el('h2', null, n.id));
    var facts = [];
    if (n.external) facts.push('external address range');
    else if (n.isolated === true) facts.push('isolated for ingress');
    else if (n.isolated === false) facts.push('NOT isolated for ingress: any source whose own egress allows it can connect');
    if (n.dns) facts.push('cluster DNS');
    if (openEg.has(n.id)) facts.push('not isolated for egress');
    var broken = dnsBroken.get(n.id);
    if (broken) facts.push('cannot reach cluster DNS (UDP ' + (broken.udp ? 'ok' : 'blocked') + ', TCP ' + (broken.tcp ? 'ok' : 'blocked') +
      '; isolated by ' + broken.isolated_by.join(', ') + ')');
    add(details, el('ul', null, facts.map(function (f) { return el('li', null, f); })));
    if (DIFF) {
      add(details, el('h3', null, 'Changed towards it (' + n.inbound.length + ')'));
      add(details, el('ul', null, n.inbound.map(function (e) {
        return el('li', { class: e.change }, linkTo(e.from.id), ': ', el('span', { class: 'ports' }, e.label), byPolicies(e));
      })));
      add(details, el('h3', null, 'Changed from it (' + n.outbound.length + ')'));
      add(details, el('ul', null, n.outbound.map(function (e) {
        return el('li', { class: e.change }, linkTo(e.to.id), ': ', el('span', { class: 'ports' }, e.label), byPolicies(e));
      })));
      return;
    }
    if (!n.external) {
      add(details, el('h3', null, 'Reached by (' + n.inbound.length + ')'));
      if (n.isolated === false) add(details, el('p', { class: 'muted' }, 'anything whose own egress allows it'));
      else if (!n.inbound.length) add(details, el('p', { class: 'muted' }, 'nothing can reach it'));
      add(details, el('ul', null, n.inbound.map(function (e) {
        return el('li', null, linkTo(e.from.id), ': ', el('span', { class: 'ports' }, e.label), byPolicies(e));
      })));
    }
    add(details, el('h3', null, 'Reaches (' + n.outbound.length + ' isolated destination' + (n.outbound.length === 1 ? '' : 's') + ')'));
    if (!n.outbound.length) add(details, el('p', { class: 'muted' }, 'no destination isolated for ingress'));
    add(details, el('ul', null, n.outbound.map(function (e) {
      return el('li', null, linkTo(e.to.id), ': ', el('span', { class: 'ports' }, e.label), byPolicies(e));
    })));
    if (notIsolatedCount) add(details, el('p', { class: 'muted' }, 'and, if its own egress allows it, ' +
      (notIsolatedCount === 1 ? 'the destination' : 'any of the ' + notIsolatedCount + ' destinations') + ' not isolated for ingress.'));
  }

  nsSelect.addEventListener('change', function () { state.ns = nsSelect.value; render(); });
  var timer = null;
  search.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = search.value.trim(); render(); }, 150);
  });
  expandAll.addEventListener('click', function () { nsNames.forEach(function (x) { state.expanded.add(x); }); render(); });
  collapseAll.addEventListener('click', function () { state.expanded.clear(); render(); });

  // ---- the tables below the graph ----
  function table(headers, rows) {
    return el('table', null, el('thead', null, el('tr', null, headers.map(function (h) { return el('th', null, h); }))),
      el('tbody', null, rows.map(function (r) {
        return el('tr', null, r.map(function (c) {
          if (c && typeof c === 'object' && !(c instanceof Node)) return el('td', { class: c.cls }, c.v);
          return el('td', null, c);
        }));
      })));
  }
  function yn(b) { return { v: b ? 'yes' : 'no', cls: b ? 'yes' : 'no' }; }
  function section(id, title) {
    var sec = el('section', { id: id }, el('h2', null, title));
    for (var i = 2; i < arguments.length; i++) add(sec, arguments[i]);
    document.body.appendChild(sec);
  }
  if (DIFF) {
    var d = doc.diff || {};
    var set = function (c) { var t = ports(c || {}); return t === 'nothing' ? '\u2014' : t; };
    section('callouts', 'Callouts', (d.callouts || []).length
      ? el('ul', null, d.callouts.map(function (c) {
          return el('li', null, c.kind + ': ' + (c.destination || c.namespace || c.policy || '') + (c.from ? ' from ' + c.from.join(', ') : '') +
            (c.pairs ? ' ' + c.rule + ' denies ' + c.pairs.join(', ') + ' (allowed before by ' + c.allowed_before_by.join(', ') + ')' : '') +
            (c.added ? ' (' + set(c.added) + ')' : ''));
        }))
      : el('p', { class: 'ok' }, 'Nothing that needs a second look.'));
    section('changes', 'Changes', (d.changes || []).length
      ? table(['source', 'destination', 'added', 'removed', 'policies'], d.changes.map(function (c) {
          var why = [].concat((c.why || {}).after || [], (c.why || {}).before || []).map(function (w) { return w.policy; });
          return [c.src, c.dst, { v: set(c.added), cls: 'yes' }, { v: set(c.removed), cls: 'no' },
            why.filter(function (p, i) { return p && why.indexOf(p) === i; }).join(', ')];
        }))
      : el('p', { class: 'ok' }, 'No connection changes.'));
    if ((d.default_deny || []).length) {
      section('default-deny', 'Default-deny changes', table(['namespace', 'direction', 'change', 'policies'],
        d.default_deny.map(function (x) { return [x.namespace, x.direction, { v: x.change, cls: x.change === 'lost' ? 'no' : 'yes' }, (x.policies || []).join(', ')]; })));
    }
    if ((d.admin_policies || []).length) {
      var rank = function (t, p) { return t ? t + (p === undefined ? '' : ' priority ' + p) : '\u2014'; };
      section('admin-policies', 'Admin policies', table(['policy', 'change', 'before', 'after', 'now evaluated before', 'now evaluated after'],
        d.admin_policies.map(function (x) {
          return [x.policy, x.change, rank(x.tier_before, x.priority_before), rank(x.tier_after, x.priority_after),
            (x.now_before || []).join(', '), (x.now_after || []).join(', ')];
        })));
    }
    var moved = [].concat((d.appeared || []).map(function (x) { return ['appeared', x.group, x.kind]; }),
      (d.disappeared || []).map(function (x) { return ['disappeared', x.group, x.kind]; }));
    if (moved.length) section('endpoints', 'Endpoints on one side only', table(['', 'endpoint', 'kind'], moved));
    render();
    showDetails();
    document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
    document.body.setAttribute('data-ready', '1');
    return;
  }
  if ((s.not_analyzed || []).length) {
    section('not-analyzed', 'Not analyzed', el('p', { class: 'no' },
      'Other policy kinds are present; results may differ from the cluster: ' + s.not_analyzed.join(', ')));
  }
  if ((doc.cluster || []).length) {
    section('cluster', 'Cluster-wide (admin policies)',
      el('p', { class: 'muted' }, 'Admin by priority, then NetworkPolicy, then Baseline, then allow'),
      el('ul', null, doc.cluster.map(function (c) { return el('li', null, c.text); })));
  }
  section('postures', 'Namespaces', el('p', { class: 'muted' }, 'default-deny = a policy with podSelector {} isolating that direction'),
    table(['namespace', 'default-deny ingress', 'default-deny egress', 'policies', 'pods', 'open for ingress', 'open for egress'],
      (doc.namespaces || []).map(function (p) {
        return [p.namespace, yn(p.default_deny_ingress), yn(p.default_deny_egress), p.policies, p.pods,
          p.open_ingress.length, p.open_egress.length];
      })));
  var dnsNodes = Array.from(nodes.values()).filter(function (n) { return n.dns; }).map(function (n) { return n.id; });
  section('dns', 'DNS health',
    el('p', null, 'Cluster DNS: ' + (dnsNodes.join(', ') || 'none in the input')),
    (doc.dns || []).length
      ? table(['pod', 'UDP 53', 'TCP 53', 'isolated by'], doc.dns.map(function (d) {
          return [d.pod, { v: d.udp ? 'ok' : 'blocked', cls: d.udp ? 'yes' : 'no' }, { v: d.tcp ? 'ok' : 'blocked', cls: d.tcp ? 'yes' : 'no' },
            d.isolated_by.join(', ')];
        }))
      : el('p', { class: 'ok' }, 'Every egress-isolated pod can reach cluster DNS on UDP and TCP 53.'));
  var openRows = (doc.namespaces || []).filter(function (p) { return p.pods > 0 && (p.open_ingress.length || p.open_egress.length); });
  section('open', 'Open pods', el('p', { class: 'muted' }, 'pods no policy isolates, per direction'),
    openRows.length ? table(['namespace', 'open for ingress', 'open for egress'], openRows.map(function (p) {
      return [p.namespace, short(p.open_ingress.join(', '), 600), short(p.open_egress.join(', '), 600)];
    })) : el('p', { class: 'ok' }, 'Every pod is isolated both ways.'));
  var lint = doc.lint || {};
  var counts = lint.counts || {};
  section('lint', 'Lint',
    el('p', null, (counts.error || 0) + ' errors, ' + (counts.warning || 0) + ' warnings, ' + (counts.info || 0) + ' info' +
      (lint.suppressed ? ', ' + lint.suppressed + ' suppressed' : '') + (lint.failed ? ' (fails at --fail-on ' + lint.fail_on + ')' : '') +
      '. The most severe:'),
    (lint.top || []).length ? table(['severity', 'rule', 'where', 'message'], lint.top.map(function (f) {
      var loc = f.location ? f.location.file + ':' + f.location.line + ':' + f.location.column : (f.object || '');
      return [{ v: f.severity, cls: 'sev-' + f.severity }, f.rule + ' ' + f.name, { v: loc, cls: 'loc' }, f.message];
    })) : el('p', { class: 'ok' }, 'No findings.'));
  if ((doc.warnings || []).length) {
    section('warnings', 'Input warnings', el('ul', null, doc.warnings.map(function (w) { return el('li', { class: 'loc' }, w); })));
  }

  render();
  showDetails();
  if (state.selected) select(state.selected);
  // Milliseconds from navigation to a drawn page, for measuring large inputs.
  document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-ready', '1');
})();
