(function () {
  'use strict';
  // Inlined into the timeline page by html.rs (include_str!): the page stays one self-contained file.
  var svg = document.getElementById('tl');
  var NS = svg.namespaceURI;
  var T0 = +svg.getAttribute('data-t0'), T1 = +svg.getAttribute('data-t1');
  var LW = +svg.getAttribute('data-lw'), RM = +svg.getAttribute('data-rm');
  var AXH = +svg.getAttribute('data-axis-h');
  var wrap = document.getElementById('wrap');
  var tip = document.getElementById('tip'), details = document.getElementById('details');
  var axis = document.getElementById('axis'), clip = document.getElementById('cliprect');
  var cursor = document.getElementById('cursor'), cursorT = document.getElementById('cursor-t');
  var mark1 = document.getElementById('mark1'), mark2 = document.getElementById('mark2');
  var measure = document.getElementById('measure'), count = document.getElementById('count');
  var mini = document.getElementById('mini'), miniView = document.getElementById('mini-view');
  var qIn = document.getElementById('q'), fCpu = document.getElementById('f-cpu');
  var fKind = document.getElementById('f-kind'), fProbe = document.getElementById('f-probe');
  var list = document.getElementById('list');
  var W = +svg.getAttribute('width'), scale = 1, off = T0;
  var st = { sel: '', m1: null, m2: null };
  var cursorTime = null;
  function q(sel) { return Array.prototype.slice.call(svg.querySelectorAll(sel)); }
  var rects = q('rect[data-t0]'), labels = q('text[data-t0]'), lines = q('line[data-t]');
  var dots = q('circle[data-t]'), marks = q('text[data-t]'), flows = q('path.flow'), fullw = q('rect.lane-bg');
  var graphById = {};
  q('[data-id]').forEach(function (el) { (graphById[el.getAttribute('data-id')] = graphById[el.getAttribute('data-id')] || []).push(el); });
  var rows = Array.prototype.slice.call(document.querySelectorAll('#list tr.ev'));
  var rowById = {};
  rows.forEach(function (r) { rowById[r.getAttribute('data-id')] = r; r.searchText = r.textContent.toLowerCase(); });
  var lanes = q('g.lane').map(function (g) {
    return { sub: g.querySelector('.lane-sub'), spans: Array.prototype.slice.call(g.querySelectorAll('rect.span')).map(function (r) {
      return { t0: +r.getAttribute('data-t0'), t1: +r.getAttribute('data-t1'), d: +r.getAttribute('data-depth'), label: r.getAttribute('data-label') };
    }) };
  });
  function X(t) { return LW + (t - off) * scale; }
  function plotW() { return W - LW - RM; }
  function viewT1() { return off + plotW() / scale; }
  function fit() {
    W = Math.max(600, wrap.clientWidth || W);
    svg.setAttribute('width', W);
    clip.setAttribute('width', plotW());
    fullw.forEach(function (r) { r.setAttribute('width', W); });
  }
  function setRange(a, b) { if (b <= a) b = a + 1; scale = plotW() / (b - a); off = a; update(); }
  function reset() { fit(); setRange(T0, T1); }
  function nice(raw) {
    var m = Math.pow(10, Math.floor(Math.log10(raw))), n = raw / m;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * m;
  }
  function fmt(v) { return (Math.round(v * 1000) / 1000).toString(); }
  function drawAxis() {
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    var tLeft = off, tRight = viewT1();
    // About one tick per 110 px, so labels never run into the next tick.
    var step = nice(Math.max((tRight - tLeft) / Math.max(2, plotW() / 110), 1e-3));
    for (var v = Math.ceil(tLeft / step) * step; v <= tRight; v += step) {
      var x = X(v);
      var l = document.createElementNS(NS, 'line');
      l.setAttribute('x1', x); l.setAttribute('x2', x); l.setAttribute('y1', AXH - 8); l.setAttribute('y2', AXH);
      axis.appendChild(l);
      var t = document.createElementNS(NS, 'text');
      t.setAttribute('x', x + 2); t.setAttribute('y', AXH - 12); t.textContent = fmt(v);
      axis.appendChild(t);
    }
  }
  function placeMark(el, t) {
    var x = (t === null || X(t) < LW || X(t) > W - RM) ? -10 : X(t);
    el.setAttribute('x1', x); el.setAttribute('x2', x);
  }
  function update() {
    rects.forEach(function (r) {
      var x0 = X(+r.getAttribute('data-t0')), x1 = X(+r.getAttribute('data-t1'));
      // Patch windows keep 4 px at any zoom, so a short stop_machine stays visible at full view.
      var min = r.getAttribute('data-kind') === 'patch_window' ? 4 : 1;
      r.setAttribute('x', x0); r.setAttribute('width', Math.max(min, x1 - x0));
    });
    labels.forEach(function (t) {
      var x0 = Math.max(X(+t.getAttribute('data-t0')), LW), x1 = Math.min(X(+t.getAttribute('data-t1')), W - RM);
      t.setAttribute('x', x0 + 3);
      t.style.display = (x1 - x0 - 6 > t.textContent.length * 6.1) ? '' : 'none';
    });
    lines.forEach(function (l) { var x = X(+l.getAttribute('data-t')); l.setAttribute('x1', x); l.setAttribute('x2', x); });
    dots.forEach(function (c) { c.setAttribute('cx', X(+c.getAttribute('data-t'))); });
    marks.forEach(function (t) { t.setAttribute('x', X(+t.getAttribute('data-t')) + 2); });
    var left = LW, right = W - RM;
    flows.forEach(function (p) {
      var x0 = X(+p.getAttribute('data-t0')), x1 = X(+p.getAttribute('data-t1'));
      var y0 = +p.getAttribute('data-y0'), y1 = +p.getAttribute('data-y1'), my = (y0 + y1) / 2;
      var in0 = x0 >= left && x0 <= right, in1 = x1 >= left && x1 <= right;
      p.classList.toggle('offscreen', !(in0 && in1));
      if (in0 && in1) {
        p.style.display = '';
        p.setAttribute('d', 'M' + x0 + ',' + y0 + ' C' + x0 + ',' + my + ' ' + x1 + ',' + my + ' ' + x1 + ',' + y1);
      } else if (in1) {
        // The write is off-screen: a short arrow from the edge within the hit's own lane, not across every lane.
        var e = x0 < left ? left : right;
        p.style.display = '';
        p.setAttribute('d', 'M' + e + ',' + y1 + ' L' + x1 + ',' + y1);
      } else if (in0) {
        var e2 = x1 < left ? left : right;
        p.style.display = '';
        p.setAttribute('d', 'M' + x0 + ',' + y0 + ' L' + e2 + ',' + y0);
      } else {
        p.style.display = 'none';
      }
    });
    placeMark(mark1, st.m1); placeMark(mark2, st.m2);
    var span = Math.max(1, T1 - T0);
    var a = Math.max(0, (off - T0) / span * 1000), b = Math.min(1000, (viewT1() - T0) / span * 1000);
    miniView.setAttribute('x', a); miniView.setAttribute('width', Math.max(2, b - a));
    drawAxis();
    saveHash();
  }
  // The view state in the URL fragment: t0, t1 (zoom range), cpu, kind, probe, q (filters), sel, m1, m2.
  var loading = true;
  function saveHash() {
    if (loading) return;
    var p = ['t0=' + Math.round(off), 't1=' + Math.round(viewT1())];
    if (fCpu.value !== '') p.push('cpu=' + fCpu.value);
    if (fKind.value) p.push('kind=' + encodeURIComponent(fKind.value));
    if (fProbe.value) p.push('probe=' + encodeURIComponent(fProbe.value));
    if (qIn.value) p.push('q=' + encodeURIComponent(qIn.value));
    if (st.sel) p.push('sel=' + st.sel);
    if (st.m1 !== null) p.push('m1=' + Math.round(st.m1));
    if (st.m2 !== null) p.push('m2=' + Math.round(st.m2));
    var h = '#' + p.join('&');
    if (location.hash !== h) { try { history.replaceState(null, '', h); } catch (e) { /* file:// in some browsers */ } }
  }
  function loadHash() {
    var h = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('='); if (i > 0) h[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
    });
    if (h.cpu !== undefined) fCpu.value = h.cpu;
    if (h.kind !== undefined) fKind.value = h.kind;
    if (h.probe !== undefined) fProbe.value = h.probe;
    if (h.q !== undefined) qIn.value = h.q;
    if (h.m1 !== undefined && h.m1 !== '') st.m1 = +h.m1;
    if (h.m2 !== undefined && h.m2 !== '') st.m2 = +h.m2;
    applyFilter();
    if (h.sel && rowById[h.sel]) select(h.sel, h.t0 === undefined);
    if (h.t0 !== undefined && h.t1 !== undefined && +h.t1 > +h.t0) setRange(+h.t0, +h.t1);
    showMeasure();
  }
  function applyFilter() {
    var c = fCpu.value, k = fKind.value, pr = fProbe.value, text = qIn.value.toLowerCase();
    var active = c !== '' || k || pr || text, shown = 0;
    rows.forEach(function (r) {
      var ok = (c === '' || r.getAttribute('data-cpu') === c) && (!k || r.getAttribute('data-kind') === k) &&
        (!pr || r.getAttribute('data-probe') === pr) && (!text || r.searchText.indexOf(text) >= 0);
      r.hidden = !ok;
      if (ok) shown++;
      (graphById[r.getAttribute('data-id')] || []).forEach(function (el) { el.classList.toggle('dim', !!active && !ok); });
    });
    count.textContent = shown + " of " + rows.length + " rows";
    count.setAttribute('data-shown', shown);
    saveHash();
  }
  function select(id, zoom) {
    if (st.sel) {
      (graphById[st.sel] || []).forEach(function (el) { el.classList.remove('sel'); });
      if (rowById[st.sel]) rowById[st.sel].classList.remove('sel');
    }
    st.sel = id;
    var row = rowById[id];
    if (!row) { saveHash(); return; }
    row.classList.add('sel');
    (graphById[id] || []).forEach(function (el) { el.classList.add('sel'); });
    details.textContent = row.getAttribute('data-tip');
    var top = row.offsetTop - list.clientHeight / 2;
    list.scrollTop = Math.max(0, top);
    if (zoom) {
      var a = +row.getAttribute('data-t0'), b = +row.getAttribute('data-t1');
      var pad = Math.max((b - a) * 0.5, 20);
      setRange(Math.max(T0 - pad, a - pad), b + pad);
    } else {
      saveHash();
    }
  }
  function addMarker(t) {
    if (st.m1 === null) st.m1 = t; else if (st.m2 === null) st.m2 = t; else { st.m1 = st.m2; st.m2 = t; }
    showMeasure(); update();
  }
  function showMeasure() {
    var txt;
    if (st.m1 === null) txt = 'markers: none';
    else if (st.m2 === null) txt = 'marker A ' + fmt(st.m1) + ' (set B with shift-click or m)';
    else txt = 'A ' + fmt(st.m1) + ' \u2192 B ' + fmt(st.m2) + ': \u0394 ' + fmt(Math.abs(st.m2 - st.m1)) + ' ns';
    measure.textContent = txt;
    measure.setAttribute('data-delta', st.m1 !== null && st.m2 !== null ? Math.abs(st.m2 - st.m1) : '');
  }
  function zoomAt(factor, t) {
    var mx = X(t);
    var minScale = plotW() / Math.max(1, T1 - T0) / 4;
    scale = Math.min(Math.max(scale * factor, minScale), 400);
    off = t - (mx - LW) / scale;
    update();
  }
  function mouseX(e) { return e.clientX - svg.getBoundingClientRect().left; }
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var mx = Math.max(mouseX(e), LW);
    zoomAt(Math.exp(-e.deltaY * 0.0015), off + (mx - LW) / scale);
    hover(e);
  }, { passive: false });
  var drag = null;
  svg.addEventListener('mousedown', function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, off: off, moved: false };
    svg.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x;
    if (Math.abs(dx) > 2) drag.moved = true;
    off = drag.off - dx / scale;
    update();
  });
  window.addEventListener('mouseup', function (e) {
    if (!drag) return;
    var moved = drag.moved;
    drag = null;
    svg.classList.remove('dragging');
    if (moved) return;
    var mx = mouseX(e);
    if (e.shiftKey && mx >= LW) { addMarker(off + (mx - LW) / scale); return; }
    var el = e.target.closest ? e.target.closest('[data-tip]') : null;
    if (el && el.getAttribute('data-id')) select(el.getAttribute('data-id'), false);
    else if (el) details.textContent = el.getAttribute('data-tip');
  });
  svg.addEventListener('dblclick', reset);
  rows.forEach(function (r) { r.addEventListener('click', function () { select(r.getAttribute('data-id'), true); }); });
  [qIn, fCpu, fKind, fProbe].forEach(function (el) { el.addEventListener('input', applyFilter); el.addEventListener('change', applyFilter); });
  function miniJump(e) {
    var r = mini.getBoundingClientRect();
    var t = T0 + (e.clientX - r.left) / Math.max(1, r.width) * (T1 - T0), half = plotW() / scale / 2;
    setRange(t - half, t + half);
  }
  mini.addEventListener('mousedown', function (e) { miniJump(e); var mv = function (ev) { miniJump(ev); };
    window.addEventListener('mousemove', mv);
    window.addEventListener('mouseup', function up() { window.removeEventListener('mousemove', mv); window.removeEventListener('mouseup', up); });
  });
  document.addEventListener('keydown', function (e) {
    var tag = e.target && e.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || e.ctrlKey || e.metaKey || e.altKey) return;
    var mid = off + plotW() / scale / 2, w = plotW() / scale;
    if (e.key === '+' || e.key === '=') zoomAt(1.5, mid);
    else if (e.key === '-' || e.key === '_') zoomAt(1 / 1.5, mid);
    else if (e.key === 'ArrowLeft') { off -= w * 0.15; update(); }
    else if (e.key === 'ArrowRight') { off += w * 0.15; update(); }
    else if (e.key === '0') reset();
    else if (e.key === 'm') {
      var t = cursorTime !== null ? cursorTime : (st.sel && rowById[st.sel] ? +rowById[st.sel].getAttribute('data-t0') : mid);
      addMarker(t);
    } else if (e.key === 'Escape') { st.m1 = st.m2 = null; showMeasure(); update(); }
    else return;
    e.preventDefault();
  });
  function hover(e) {
    var el = e.target.closest ? e.target.closest('[data-tip]') : null;
    if (el && !drag) {
      tip.textContent = el.getAttribute('data-tip');
      tip.style.display = 'block';
      var tx = e.clientX + 14, ty = e.clientY + 14;
      if (tx + tip.offsetWidth > window.innerWidth) tx = Math.max(0, e.clientX - tip.offsetWidth - 10);
      if (ty + tip.offsetHeight > window.innerHeight) ty = Math.max(0, e.clientY - tip.offsetHeight - 10);
      tip.style.left = tx + 'px'; tip.style.top = ty + 'px';
    } else {
      tip.style.display = 'none';
    }
    var mx = mouseX(e);
    if (mx < LW || mx > W - RM) { leave(); return; }
    var t = off + (mx - LW) / scale;
    cursorTime = t;
    cursor.setAttribute('x1', mx); cursor.setAttribute('x2', mx);
    cursorT.setAttribute('x', mx + 3); cursorT.textContent = 'vtime ' + fmt(t);
    lanes.forEach(function (l) {
      var best = null;
      l.spans.forEach(function (s) { if (s.t0 <= t && t <= s.t1 && (!best || s.d >= best.d)) best = s; });
      var lb = best ? best.label : 'idle'; l.sub.textContent = lb.length > 30 ? lb.slice(0, 29) + '\u2026' : lb;
    });
  }
  function leave() {
    cursorTime = null;
    cursor.setAttribute('x1', -10); cursor.setAttribute('x2', -10); cursorT.textContent = '';
    lanes.forEach(function (l) { var d = l.sub.getAttribute('data-default'); l.sub.textContent = d.length > 30 ? d.slice(0, 29) + '\u2026' : d; });
  }
  svg.addEventListener('mousemove', hover);
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; leave(); });
  window.addEventListener('resize', function () { var w = plotW(); fit(); scale = scale * plotW() / w; update(); });
  window.addEventListener('hashchange', function () { loading = true; loadHash(); loading = false; update(); });
  reset();
  loadHash();
  loading = false;
  update();
})();
