/**
 * The dashboard page, one HTML document with its script inline. It polls `/api/dashboard` every
 * second, keeps the last 10 minutes of samples in memory, derives rates from successive samples,
 * and draws them with uPlot (served from the package under /assets/). No CDN, no build step.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eddy dashboard</title>
<link rel="stylesheet" href="/assets/uplot.min.css">
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2430; --muted:#6b7585; --line:#e3e6eb; --accent:#2563eb; --warn:#b45309; --err:#b91c1c; --ok:#15803d; }
  * { box-sizing: border-box; }
  body { margin:0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 24px; background:#111827; color:#f9fafb; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .meta { color:#9ca3af; font-size:13px; }
  .phase { padding:2px 10px; border-radius:10px; font-size:12px; font-weight:600; background:#374151; }
  .phase.running { background:var(--ok); } .phase.restoring, .phase.starting { background:#a16207; } .phase.failed { background:var(--err); }
  main { padding:16px 24px; display:grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap:16px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; min-width:0; }
  .card h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 8px; font-weight:600; }
  .wide { grid-column: 1 / -1; }
  .kpis { display:flex; gap:28px; flex-wrap:wrap; }
  .kpi .v { font-size:24px; font-weight:600; font-variant-numeric: tabular-nums; }
  .kpi .l { color:var(--muted); font-size:12px; }
  table { border-collapse:collapse; width:100%; font-variant-numeric: tabular-nums; }
  th, td { text-align:right; padding:4px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th:first-child, td:first-child, th.l, td.l { text-align:left; }
  th { color:var(--muted); font-weight:600; font-size:12px; }
  .bar { height:8px; background:var(--line); border-radius:4px; overflow:hidden; min-width:120px; }
  .bar > div { height:100%; background:var(--accent); }
  .events { max-height:220px; overflow:auto; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
  .events .warn { color:var(--warn); } .events .error { color:var(--err); }
  .empty { color:var(--muted); font-style:italic; }
  .chart { min-height: 220px; }
  #conn { margin-left:auto; font-size:12px; color:#9ca3af; }
</style>
</head>
<body>
<header><h1>Eddy</h1><span id="job" class="meta"></span><span id="phase" class="phase">…</span><span id="conn">connecting…</span></header>
<main>
  <section class="card wide"><div class="kpis" id="kpis"></div></section>
  <section class="card"><h2>Throughput (messages/s)</h2><div id="chart-throughput" class="chart"></div></section>
  <section class="card"><h2>Store operations (ops/s, all stores)</h2><div id="chart-stores" class="chart"></div></section>
  <section class="card"><h2>Lag per input partition (records)</h2><div id="chart-lag" class="chart"></div></section>
  <section class="card"><h2>Restore</h2><div id="restores"></div></section>
  <section class="card wide"><h2>Stores: rates per partition (ops/s)</h2><div id="stores"></div></section>
  <section class="card"><h2>Tasks</h2><div id="tasks"></div></section>
  <section class="card"><h2>Recent errors and dead letters</h2><div id="events" class="events"></div></section>
</main>
<script src="/assets/uplot.min.js"></script>
<script>
(function () {
  'use strict';
  var KEEP = 600;
  var COLORS = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];
  var samples = [];
  var charts = {};
  var fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  function n(v) { return fmt.format(v); }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function el(id) { return document.getElementById(id); }

  function chart(id, names) {
    var box = el(id);
    var key = id + ':' + names.join(',');
    if (charts[id] && charts[id].key === key) return charts[id].plot;
    if (charts[id]) charts[id].plot.destroy();
    var series = [{}];
    for (var i = 0; i < names.length; i++) {
      series.push({ label: names[i], stroke: COLORS[i % COLORS.length], width: 2, points: { show: false } });
    }
    var plot = new uPlot({
      width: Math.max(300, box.clientWidth), height: 200, series: series,
      scales: { x: { time: true } },
      axes: [{}, { size: 60, values: function (u, vals) { return vals.map(function (v) { return n(v); }); } }],
      legend: { live: false },
    }, [[]], box);
    charts[id] = { key: key, plot: plot };
    return plot;
  }

  function rate(a, b, get) {
    var dt = (b.time - a.time) / 1000;
    return dt > 0 ? Math.max(0, (get(b) - get(a)) / dt) : 0;
  }

  function sum(list, field) { var s = 0; for (var i = 0; i < list.length; i++) s += list[i][field]; return s; }

  function drawThroughput() {
    var xs = [], processed = [], sent = [];
    for (var i = 1; i < samples.length; i++) {
      var a = samples[i - 1], b = samples[i];
      xs.push(b.time / 1000);
      processed.push(rate(a, b, function (s) { return s.totals.processed; }));
      sent.push(rate(a, b, function (s) { return s.totals.sent; }));
    }
    chart('chart-throughput', ['processed', 'sent']).setData([xs, processed, sent]);
  }

  function drawStores() {
    var fields = ['reads', 'inserts', 'updates', 'deletes'];
    var data = [[], [], [], [], []];
    for (var i = 1; i < samples.length; i++) {
      var a = samples[i - 1], b = samples[i];
      data[0].push(b.time / 1000);
      for (var f = 0; f < fields.length; f++) {
        data[f + 1].push(rate(a, b, function (s) { return sum(s.stores, fields[f]); }));
      }
    }
    chart('chart-stores', fields).setData(data);
  }

  function drawLag() {
    var last = samples[samples.length - 1];
    var names = last.lag.map(function (l) { return l.topic + '/' + l.partition; });
    var data = [[]];
    for (var k = 0; k < names.length; k++) data.push([]);
    for (var i = 0; i < samples.length; i++) {
      var s = samples[i];
      data[0].push(s.time / 1000);
      var byName = {};
      for (var j = 0; j < s.lag.length; j++) byName[s.lag[j].topic + '/' + s.lag[j].partition] = s.lag[j].records;
      for (var k2 = 0; k2 < names.length; k2++) data[k2 + 1].push(byName[names[k2]] === undefined ? null : byName[names[k2]]);
    }
    chart('chart-lag', names.length ? names : ['(no inputs)']).setData(names.length ? data : [data[0], data[0].map(function () { return 0; })]);
  }

  function drawTables(prev, s) {
    var kpis = [
      ['processed', n(s.totals.processed)],
      ['messages/s', n(prev ? rate(prev, s, function (x) { return x.totals.processed; }) : 0)],
      ['sent', n(s.totals.sent)],
      ['commits', n(s.totals.commits)],
      ['skipped', n(s.totals.skipped)],
      ['dead-lettered', n(s.totals.deadLettered)],
      ['tasks', n(s.tasks.length)],
      ['lag (records)', n(sum(s.lag, 'records'))],
    ];
    el('kpis').innerHTML = kpis.map(function (k) { return '<div class="kpi"><div class="v">' + k[1] + '</div><div class="l">' + k[0] + '</div></div>'; }).join('');

    var rows = s.stores.map(function (st) {
      var before = prev && prev.stores.filter(function (p) { return p.store === st.store && p.partition === st.partition; })[0];
      var dt = prev ? (s.time - prev.time) / 1000 : 0;
      function r(f) { return before && dt > 0 ? n(Math.max(0, (st[f] - before[f]) / dt)) : '0'; }
      var hits = st.cacheHits + st.cacheMisses;
      return '<tr><td>' + esc(st.store) + '</td><td>' + st.partition + '</td><td>' + r('reads') + '</td><td>' + r('inserts') + '</td><td>' + r('updates') + '</td><td>' + r('deletes') + '</td><td>' + n(st.reads) + '</td><td>' + n(st.inserts + st.updates) + '</td><td>' + (hits ? Math.round(100 * st.cacheHits / hits) + '%' : '–') + '</td></tr>';
    });
    el('stores').innerHTML = rows.length ? '<table><tr><th>store</th><th>partition</th><th>reads/s</th><th>inserts/s</th><th>updates/s</th><th>deletes/s</th><th>reads</th><th>writes</th><th>cache hits</th></tr>' + rows.join('') + '</table>' : '<p class="empty">no stores</p>';

    var lagOf = {};
    s.lag.forEach(function (l) { lagOf[l.task] = (lagOf[l.task] || 0) + l.records; });
    el('tasks').innerHTML = s.tasks.length ? '<table><tr><th>task</th><th>thread</th><th class="l">partitions</th><th class="l">state</th><th>processed</th><th>lag</th></tr>' + s.tasks.map(function (t) {
      return '<tr><td>' + esc(t.task) + '</td><td>' + t.thread + '</td><td class="l">' + esc(t.inputs.join(', ')) + '</td><td class="l">' + esc(t.state) + '</td><td>' + n(t.processed) + '</td><td>' + n(lagOf[t.task] || 0) + '</td></tr>';
    }).join('') + '</table>' : '<p class="empty">no tasks yet (' + esc(s.phase) + ')</p>';

    el('restores').innerHTML = s.restores.length ? '<table><tr><th>store</th><th>partition</th><th class="l">progress</th><th>records</th><th class="l">mode</th></tr>' + s.restores.map(function (r) {
      var frac = r.done ? 1 : (r.total ? r.restored / r.total : 0);
      return '<tr><td>' + esc(r.store) + '</td><td>' + r.partition + '</td><td class="l"><div class="bar"><div style="width:' + Math.round(frac * 100) + '%"></div></div></td><td>' + n(r.restored) + '</td><td class="l">' + esc(r.done ? r.mode : 'restoring…') + '</td></tr>';
    }).join('') + '</table>' : '<p class="empty">no stores with a changelog</p>';

    el('events').innerHTML = s.events.length ? s.events.slice().reverse().map(function (e) {
      return '<div class="' + esc(e.level) + '">' + new Date(e.time).toLocaleTimeString() + ' ' + esc(e.level) + ' ' + esc(e.message) + '</div>';
    }).join('') : '<p class="empty">none</p>';

    el('job').textContent = 'job ' + s.job + ' on the ' + s.backend + ' log, up ' + Math.round(s.uptimeSeconds) + ' s';
    var phase = el('phase');
    phase.textContent = s.phase;
    phase.className = 'phase ' + s.phase;
  }

  function poll() {
    fetch('/api/dashboard', { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (s) {
      var prev = samples[samples.length - 1];
      samples.push(s);
      if (samples.length > KEEP) samples.shift();
      drawTables(prev, s);
      drawThroughput();
      drawStores();
      drawLag();
      el('conn').textContent = 'updated ' + new Date(s.time).toLocaleTimeString();
      document.body.dataset.samples = String(samples.length);
    }).catch(function (e) {
      el('conn').textContent = 'disconnected (' + e.message + ')';
    }).then(function () { setTimeout(poll, 1000); });
  }
  window.addEventListener('resize', function () {
    for (var id in charts) charts[id].plot.setSize({ width: Math.max(300, el(id).clientWidth), height: 200 });
  });
  poll();
})();
</script>
</body>
</html>
`;
