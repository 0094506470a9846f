// leakhound's page script. The page reads fully without it; this only adds table sorting and the
// flame graph's zoom and search. No network, no eval: the Content-Security-Policy forbids both.
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';

  function cellValue(row, i) {
    var c = row.cells[i];
    if (!c) return '';
    var v = c.getAttribute('data-v');
    if (v !== null && v !== '' && !isNaN(+v)) return +v;
    return c.textContent.trim().toLowerCase();
  }

  function sortTable(table, i, th) {
    var body = table.tBodies[0];
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    var ths = table.tHead.rows[0].cells;
    for (var k = 0; k < ths.length; k++) ths[k].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, i), y = cellValue(b, i);
      var r = x < y ? -1 : x > y ? 1 : 0;
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll('table.sortable').forEach(function (table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.classList.add('sortable-th');
      th.tabIndex = 0;
      th.title = 'sort';
      th.addEventListener('click', function () { sortTable(table, i, th); });
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sortTable(table, i, th); });
    });
  });

  var dataEl = document.getElementById('flame-data');
  if (dataEl) flame(JSON.parse(dataEl.textContent));

  function flame(d) {
    var svg = document.getElementById('flame');
    var input = document.getElementById('flame-search');
    var reset = document.getElementById('flame-reset');
    var status = document.getElementById('flame-status');
    var W = d.width, RH = d.row, MAXD = d.max_depth;
    var names = d.fns;
    function mk(f, parent) {
      return { f: f, b: 0, n: 0, a: 0, kids: new Map(), sorted: null, parent: parent, depth: parent ? parent.depth + 1 : 0 };
    }
    var root = mk(-1, null);
    d.stacks.forEach(function (s) {
      var b = s[0], n = s[1], a = Math.abs(n - b), node = root;
      root.b += b; root.n += n; root.a += a;
      for (var i = 2; i < s.length && i - 2 < MAXD; i++) {
        var c = node.kids.get(s[i]);
        if (!c) { c = mk(s[i], node); node.kids.set(s[i], c); }
        c.b += b; c.n += n; c.a += a;
        node = c;
      }
    });
    function name(nd) { return nd.f < 0 ? d.root_label : names[nd.f]; }
    function kids(nd) {
      if (!nd.sorted) {
        nd.sorted = Array.from(nd.kids.values()).sort(function (x, y) {
          var p = name(x), q = name(y);
          return p < q ? -1 : p > q ? 1 : 0;
        });
      }
      return nd.sorted;
    }
    function cls(nd) {
      if (nd.a === 0) return 'eq';
      var r = (nd.n - nd.b) / nd.a;
      if (r === 0) return 'eq';
      var k = Math.min(4, Math.max(1, Math.ceil(Math.abs(r) * 4)));
      return (r > 0 ? 'up' : 'dn') + k;
    }
    function fmt(v) {
      if (d.unit !== 'bytes') return String(v);
      var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], x = Math.abs(v), i = 0;
      while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
      return (v < 0 ? '-' : '') + (i === 0 ? x : x.toFixed(1)) + ' ' + u[i];
    }
    function delta(v) { return (v > 0 ? '+' : '') + fmt(v); }
    function tip(nd) {
      var pct = root.a ? (100 * nd.a / root.a).toFixed(1) : '0';
      return name(nd) + '\n' + fmt(nd.b) + ' \u2192 ' + fmt(nd.n) + ' (' + delta(nd.n - nd.b) + '); ' + pct + '% of the change';
    }
    var zoom = root, query = '';
    function matches(nd) { return query !== '' && nd.f >= 0 && name(nd).toLowerCase().indexOf(query) >= 0; }
    function draw() {
      var items = [];
      var anc = [];
      for (var p = zoom.parent; p; p = p.parent) anc.push(p);
      anc.forEach(function (p) { items.push([p, 0, W, true]); });
      items.push([zoom, 0, W, false]);
      var todo = [[zoom, 0, W]];
      while (todo.length) {
        var t = todo.pop(), nd = t[0];
        if (nd.a <= 0) continue;
        var x = t[1];
        kids(nd).forEach(function (k) {
          var w = t[2] * k.a / nd.a;
          if (w >= 0.4) { items.push([k, x, w, false]); todo.push([k, x, w]); }
          x += w;
        });
      }
      var depth = 0;
      items.forEach(function (it) { if (it[0].depth > depth) depth = it[0].depth; });
      var H = (depth + 1) * RH;
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
      var frag = document.createDocumentFragment();
      items.forEach(function (it) {
        var nd = it[0], x = it[1], w = it[2];
        var g = document.createElementNS(SVG, 'g');
        var c = matches(nd) ? 'hit' : cls(nd);
        g.setAttribute('class', c + (it[3] ? ' anc' : ''));
        g.__node = nd;
        var title = document.createElementNS(SVG, 'title');
        title.textContent = tip(nd);
        var r = document.createElementNS(SVG, 'rect');
        r.setAttribute('x', x.toFixed(2)); r.setAttribute('y', nd.depth * RH);
        r.setAttribute('width', w.toFixed(2)); r.setAttribute('height', RH - 1);
        g.appendChild(title); g.appendChild(r);
        var chars = Math.floor((w - 6) / 6.6);
        if (chars >= 3) {
          var s = name(nd);
          if (s.length > chars) s = s.slice(0, chars - 1) + '\u2026';
          var tx = document.createElementNS(SVG, 'text');
          tx.setAttribute('x', (x + 3).toFixed(2)); tx.setAttribute('y', nd.depth * RH + RH - 5);
          tx.textContent = s;
          g.appendChild(tx);
        }
        frag.appendChild(g);
      });
      svg.appendChild(frag);
      svg.setAttribute('data-zoom', zoom === root ? '' : name(zoom));
      svg.setAttribute('data-nodes', String(items.length));
      reset.hidden = zoom === root;
    }
    function searchStatus() {
      if (query === '') { status.textContent = zoom === root ? '' : 'zoomed on ' + name(zoom) + ': ' + tip(zoom).split('\n')[1]; return; }
      var frames = 0, covered = 0;
      var todo = [root];
      while (todo.length) {
        var nd = todo.pop();
        if (matches(nd)) { frames++; covered += nd.a; }
        nd.kids.forEach(function (k) { todo.push(k); });
      }
      // Share of the change under the outermost matches only, so nested matches are not counted twice.
      var share = 0;
      todo = [root];
      while (todo.length) {
        var m = todo.pop();
        if (matches(m)) { share += m.a; continue; }
        m.kids.forEach(function (k) { todo.push(k); });
      }
      status.textContent = frames + ' matching frames, ' + (root.a ? (100 * share / root.a).toFixed(1) : '0') + '% of the change';
      status.setAttribute('data-matches', String(frames));
    }
    svg.addEventListener('click', function (e) {
      var g = e.target.closest ? e.target.closest('g') : null;
      if (!g || !g.__node) return;
      zoom = g.__node === zoom ? (zoom.parent || root) : g.__node;
      draw(); searchStatus();
    });
    reset.addEventListener('click', function () { zoom = root; draw(); searchStatus(); });
    input.addEventListener('input', function () { query = input.value.trim().toLowerCase(); draw(); searchStatus(); });
    document.getElementById('flame-controls').hidden = false;
    draw();
  }
})();
