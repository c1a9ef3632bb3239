// The live status page: one EventSource, figures into the cards and tables, history into uPlot
// charts kept in the browser (the last MAX_POINTS views). Everything shown goes in via textContent.
(function () {
  'use strict';
  var MAX_POINTS = 180;
  var COLORS = ['#1a73e8', '#e8710a', '#137333', '#a142f4', '#c5221f', '#007b83', '#9aa0a6', '#b06000', '#d01884', '#3c4043'];
  var state = { updates: 0, prev: null, t: [], latency: [], ops: [], memory: [], hits: {}, rl: {}, charts: {}, keys: {} };
  // Read by the browser test.
  window.__status = state;

  function $(id) { return document.getElementById(id); }
  function setText(id, value) { $(id).textContent = value; }
  function num(n) { return n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'); }
  function pct(r) { return r === null ? '–' : (r * 100).toFixed(1) + ' %'; }
  function bytes(b) {
    if (!b) return '0 B';
    var units = ['B', 'KB', 'MB', 'GB', 'TB'];
    var i = Math.min(units.length - 1, Math.floor(Math.log(b) / Math.log(1024)));
    return (b / Math.pow(1024, i)).toFixed(i === 0 ? 0 : 1) + ' ' + units[i];
  }
  function ratioOf(f) { var reads = f.hits + f.stale + f.misses; return reads === 0 ? null : (f.hits + f.stale) / reads; }
  function time(ms) { return new Date(ms).toLocaleTimeString(); }

  // Keyed series stay aligned with state.t: a key first seen later is padded with nulls.
  function pushKeyed(map, values) {
    var n = state.t.length;
    Object.keys(values).forEach(function (k) { if (!map[k]) { map[k] = []; while (map[k].length < n - 1) map[k].push(null); } });
    Object.keys(map).forEach(function (k) { map[k].push(k in values ? values[k] : null); if (map[k].length > MAX_POINTS) map[k].shift(); });
  }
  function push(arr, v) { arr.push(v); if (arr.length > MAX_POINTS) arr.shift(); }

  function chart(id, labels, data, extra) {
    var el = $(id);
    var key = labels.join('\u0000');
    var c = state.charts[id];
    el.dataset.points = String(data[0].length);
    el.dataset.series = labels.join('|');
    if (typeof uPlot === 'undefined') return;
    if (c && state.keys[id] === key) { c.setData(data); return; }
    if (c) c.destroy();
    var series = [{}].concat(labels.map(function (label, i) {
      var s = { label: label, stroke: COLORS[i % COLORS.length], width: 2 };
      if (extra && extra.series && extra.series[i]) Object.keys(extra.series[i]).forEach(function (k) { s[k] = extra.series[i][k]; });
      return s;
    }));
    var opts = { width: Math.max(260, el.clientWidth), height: 200, series: series, scales: { x: { time: true } }, legend: { live: false }, cursor: { drag: { x: false, y: false } } };
    opts.axes = extra && extra.axes ? extra.axes : [{}, { size: 50 }];
    if (extra && extra.scales) Object.keys(extra.scales).forEach(function (k) { opts.scales[k] = extra.scales[k]; });
    state.charts[id] = new uPlot(opts, data, el);
    state.keys[id] = key;
  }

  function row(tbody, cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) { var td = document.createElement('td'); td.textContent = c; tr.appendChild(td); });
    tbody.appendChild(tr);
  }

  function render(view) {
    state.updates++;
    var c = view.connections[0];
    var prev = state.prev;
    var dt = prev ? Math.max(0.001, (view.at - prev.at) / 1000) : null;
    var server = c ? c.server : null;
    var mode = c ? c.mode : 'unavailable';

    var badge = $('mode');
    badge.dataset.mode = mode;
    badge.textContent = mode === 'redis' ? 'Redis' : mode === 'memory' ? (c && c.engine === 'embedded' ? 'Memory (no Redis configured)' : 'Memory (Redis unavailable)') : 'Unavailable';
    setText('live', 'live · ' + time(view.at));
    $('live').classList.remove('stale');

    setText('topology', c ? (c.topology === 'sentinel' ? 'Sentinel master' : c.topology === 'cluster' ? 'Cluster, ' + c.nodes.length + ' masters' : c.topology) : '–');
    setText('nodes', c ? c.nodes.join(', ') : '');
    setText('latency', c && c.latencyMs !== null ? c.latencyMs.toFixed(2) : '–');
    if (server) {
      setText('memory', bytes(server.usedMemoryBytes) + (server.maxMemoryBytes ? ' / ' + bytes(server.maxMemoryBytes) : ''));
      var bar = $('memory-bar');
      bar.style.width = server.memoryRatio === null ? '0' : Math.min(100, server.memoryRatio * 100).toFixed(1) + '%';
      bar.className = server.memoryRatio !== null && server.memoryRatio > 0.8 ? 'high' : '';
      setText('memory-note', server.memoryRatio === null ? 'no maxmemory set' : pct(server.memoryRatio) + ' of maxmemory');
      setText('ops', num(server.opsPerSec));
      setText('clients', num(server.connectedClients) + ' clients');
      setText('keys', num(server.keys));
      setText('keys-prefix', Object.keys(server.keysByPrefix).sort().map(function (k) { return k + ' ≈ ' + num(server.keysByPrefix[k]); }).join(' · '));
      var slow = 0;
      Object.keys(server.slowCommands).forEach(function (k) { slow += server.slowCommands[k]; });
      setText('slow', num(slow));
      setText('evictions', num(server.evictedKeys) + ' evicted · ' + num(server.expiredKeys) + ' expired');
    } else {
      ['memory', 'ops', 'keys', 'slow'].forEach(function (id) { setText(id, '–'); });
      setText('memory-note', 'Redis is not answering');
      setText('clients', '');
      setText('keys-prefix', '');
      setText('evictions', '');
    }
    var m = view.metrics;
    setText('sessions', m.sessionsActive === null ? '–' : num(m.sessionsActive));
    setText('reuse', num(m.refreshTokenReuse) + ' refresh-token reuses');
    setText('journal', num(m.journalSize));
    setText('breaker', c && c.breaker ? 'breaker opened ' + c.breaker.opened + '×, recovered ' + c.breaker.recovered + '×' : '');

    // History: one point per view.
    push(state.t, view.at / 1000);
    push(state.latency, c && c.latencyMs !== null ? c.latencyMs : null);
    push(state.ops, server ? server.opsPerSec : null);
    push(state.memory, server ? server.usedMemoryBytes / 1048576 : null);
    var hitNow = {};
    var rlNow = {};
    if (prev && dt) {
      [['ns', m.cacheNamespaces, prev.metrics.cacheNamespaces], ['route', m.cacheRoutes, prev.metrics.cacheRoutes]].forEach(function (g) {
        Object.keys(g[1]).forEach(function (k) {
          var a = g[1][k], b = g[2][k] || { hits: 0, misses: 0, stale: 0 };
          var d = { hits: a.hits - b.hits, misses: a.misses - b.misses, stale: a.stale - b.stale };
          var r = ratioOf(d);
          hitNow[(g[0] === 'ns' ? 'namespace ' : '') + (k || '(root)')] = r === null ? null : r * 100;
        });
      });
      Object.keys(m.rateLimit).forEach(function (p) {
        var a = m.rateLimit[p], b = prev.metrics.rateLimit[p] || { allowed: 0, refused: 0, unchecked: 0 };
        rlNow[p + ' allowed'] = (a.allowed - b.allowed) / dt;
        rlNow[p + ' refused'] = (a.refused - b.refused) / dt;
      });
    }
    pushKeyed(state.hits, hitNow);
    pushKeyed(state.rl, rlNow);

    chart('chart-latency', ['latency ms', 'commands/s'], [state.t, state.latency, state.ops], {
      series: [{ scale: 'ms' }, { scale: 'ops' }],
      axes: [{}, { scale: 'ms', size: 50 }, { scale: 'ops', side: 1, size: 60, grid: { show: false } }],
    });
    var hitKeys = Object.keys(state.hits).sort();
    chart('chart-hits', hitKeys.length ? hitKeys : ['no reads yet'], [state.t].concat(hitKeys.length ? hitKeys.map(function (k) { return state.hits[k]; }) : [state.t.map(function () { return null; })]), {
      scales: { y: { range: [0, 100] } },
      // Namespaces dashed: a route and its namespace often read the same and would hide each other.
      series: hitKeys.map(function (k) { return /^namespace /.test(k) ? { spanGaps: true, dash: [8, 5], width: 3 } : { spanGaps: true }; }),
    });
    var rlKeys = Object.keys(state.rl).sort();
    chart('chart-rl', rlKeys.length ? rlKeys : ['no decisions yet'], [state.t].concat(rlKeys.length ? rlKeys.map(function (k) { return state.rl[k]; }) : [state.t.map(function () { return null; })]), {
      series: rlKeys.map(function (k) { return /refused$/.test(k) ? { dash: [6, 4] } : {}; }),
    });
    chart('chart-memory', ['used MB'], [state.t, state.memory], { series: [{ fill: 'rgba(26,115,232,0.12)' }] });

    var cache = $('cache-table').tBodies[0];
    cache.textContent = '';
    Object.keys(m.cacheNamespaces).sort().forEach(function (k) { var f = m.cacheNamespaces[k]; row(cache, ['namespace ' + (k || '(root)'), num(f.hits + f.stale), num(f.misses), pct(ratioOf(f))]); });
    Object.keys(m.cacheRoutes).sort().forEach(function (k) { var f = m.cacheRoutes[k]; row(cache, ['GET ' + k, num(f.hits + f.stale), num(f.misses), pct(ratioOf(f))]); });
    var rl = $('rl-table').tBodies[0];
    rl.textContent = '';
    Object.keys(m.rateLimit).sort().forEach(function (k) { var p = m.rateLimit[k]; row(rl, [k, num(p.allowed), num(p.refused), num(p.unchecked)]); });

    var list = $('transitions');
    if (c && c.transitions.length) {
      list.textContent = '';
      c.transitions.slice().reverse().forEach(function (t) {
        var li = document.createElement('li');
        var to = document.createElement('span');
        to.className = 'to-' + t.to;
        to.textContent = '→ ' + t.to;
        li.appendChild(document.createTextNode(time(t.at) + ' '));
        li.appendChild(to);
        li.appendChild(document.createTextNode(' ' + t.reason));
        list.appendChild(li);
      });
    }
    var ups = $('upstreams');
    ups.textContent = '';
    view.upstreams.forEach(function (u) {
      var li = document.createElement('li');
      li.textContent = u.url + (u.ok ? ' · metrics read' : ' · not answering');
      if (!u.ok) li.className = 'down';
      ups.appendChild(li);
    });
    state.prev = view;
  }

  var source;
  var lastAt = 0;
  function connect() {
    source = new EventSource('/status/events');
    source.addEventListener('status', function (e) {
      lastAt = Date.now();
      try { render(JSON.parse(e.data)); } catch (err) { setText('live', 'could not draw: ' + err.message); }
    });
    source.onerror = function () {
      setText('live', 'reconnecting…');
      $('live').classList.add('stale');
      // A refused stream (401 after logging out elsewhere, 503 when full) is not retried by the browser.
      if (source.readyState === 2) setTimeout(connect, 5000);
    };
  }
  setInterval(function () { if (lastAt && Date.now() - lastAt > 10000) { setText('live', 'no update for ' + Math.round((Date.now() - lastAt) / 1000) + ' s'); $('live').classList.add('stale'); } }, 2000);
  window.addEventListener('resize', function () {
    Object.keys(state.charts).forEach(function (id) { state.charts[id].setSize({ width: Math.max(260, $(id).clientWidth), height: 200 }); });
  });
  connect();
})();
