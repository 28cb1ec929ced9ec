/* otel-perf dashboard: reads the JSON reports of the service that serves this page and draws
 * them. No libraries, no network beyond this origin; charts are plain SVG (lineChart below).
 * Every panel follows the one time range; a panel that fails shows its error, the others
 * still render. */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('otel-perf-config').textContent);
  var RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
  // Auto-refresh period: 30 s, or ?refresh=<seconds> in the page's address (at least 1).
  var REFRESH_MS = (function () {
    var asked = Number(new URLSearchParams(location.search).get('refresh'));
    return asked >= 1 ? asked * 1000 : 30e3;
  })();
  var SVG = 'http://www.w3.org/2000/svg';
  var COLORS = { p50: '#2f6fb3', p95: '#d9822b', p99: '#c23b3b', rate: '#3b8f5a', err: '#c23b3b' };

  var state = {
    range: '1h',
    custom: null, // {start: Date, end: Date}
    paused: false,
    timer: null,
    refreshes: 0,
    generation: 0, // of the newest refresh started
    endpointSort: { key: 'count', dir: -1 },
    detail: null, // {kind: 'endpoint'|'operation', name}
    endpoints: [],
  };

  // ---- formatting ------------------------------------------------------------------------
  var NUM = new Intl.NumberFormat('en-US');
  var fmt = {
    ms: function (v) {
      if (v === null || v === undefined) return '—';
      if (v === 0) return '0 ms';
      if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
      if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
      if (v >= 100) return NUM.format(Math.round(v)) + ' ms';
      if (v >= 1) return v.toFixed(1) + ' ms';
      return v.toFixed(2) + ' ms';
    },
    int: function (v) {
      return v === null || v === undefined ? '—' : NUM.format(Math.round(v));
    },
    num: function (v, digits) {
      if (v === null || v === undefined) return '—';
      return new Intl.NumberFormat('en-US', { maximumFractionDigits: digits }).format(v);
    },
    // A fraction (0.0125) as a percentage ("1.25%").
    pct: function (rate) {
      if (rate === null || rate === undefined) return '—';
      var p = rate * 100;
      if (p === 0) return '0%';
      return (p < 10 ? p.toFixed(2) : p.toFixed(1)) + '%';
    },
    // A percentage already (42.5) as "42.5%".
    percent: function (p) {
      return p === null || p === undefined ? '—' : p.toFixed(1) + '%';
    },
    perMin: function (v) {
      if (v === null || v === undefined) return '—';
      return (v >= 100 ? NUM.format(Math.round(v)) : fmt.num(v, v >= 10 ? 1 : 2)) + '/min';
    },
    bytes: function (v) {
      if (v === null || v === undefined) return '—';
      var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      var i = 0;
      while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (i ? v.toFixed(1) : String(v)) + ' ' + units[i];
    },
    time: function (iso, withDate) {
      if (!iso) return '—';
      var d = new Date(iso);
      var opts = withDate
        ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
        : { hour: '2-digit', minute: '2-digit', second: '2-digit' };
      return d.toLocaleString('en-GB', opts);
    },
  };

  // ---- small DOM helpers -----------------------------------------------------------------
  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] === null || attrs[k] === undefined) return;
        if (k === 'text') node.textContent = attrs[k];
        else if (k === 'class') node.className = attrs[k];
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), attrs[k]);
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function replace(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (c) { if (c) node.appendChild(c); });
  }

  function none(text) { return el('p', { class: 'none', text: text }); }

  function setValue(id, value, formatted) {
    var node = $(id);
    node.textContent = formatted;
    node.setAttribute('data-value', value === null || value === undefined ? '' : String(value));
  }

  function traceLink(traceId) {
    if (!traceId) return el('span', { class: 'muted', text: '—' });
    var short = traceId.slice(0, 12) + '…';
    if (cfg.traceUrlTemplate) {
      return el('a', {
        href: cfg.traceUrlTemplate.split('{trace_id}').join(encodeURIComponent(traceId)),
        target: '_blank', rel: 'noopener noreferrer', class: 'trace', title: traceId,
        'data-trace-id': traceId, text: short,
      });
    }
    return el('code', { class: 'trace', title: traceId, 'data-trace-id': traceId, text: short });
  }

  // ---- the reports -----------------------------------------------------------------------
  function query(extra) {
    var q = new URLSearchParams();
    var r = rangeBounds();
    q.set('start_date', r.start.toISOString());
    if (r.end) q.set('end_date', r.end.toISOString());
    Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
    return q.toString();
  }

  function reportUrl(name, sub, extra) {
    var base = cfg.api + name + (sub !== undefined ? '/' + encodeURIComponent(sub) : cfg.suffix);
    return base + '?' + query(extra);
  }

  function specUrl(action, extra) {
    return cfg.spec + '?' + query(Object.assign({ action: action }, extra || {}));
  }

  // Errors about the whole page (access, the store), shown once in the banner.
  function AuthError(message) { this.message = message; }

  function get(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          throw new AuthError('Your session has ended or lacks access: reload the page to sign in.');
        }
        return response.json().then(function (body) {
          if (body.error && body.error.code === 'STORE_UNAVAILABLE') {
            throw new AuthError('The performance store cannot be read right now. Check that ' +
              'OTEL_PERF_STORE names the store your instrumented app writes to, and that the ' +
              'app has run; this page retries on its own.');
          }
          if (body.status !== 'success') {
            throw new Error((body.error && body.error.message) || 'HTTP ' + response.status);
          }
          return body.data;
        });
      });
  }

  function rangeBounds() {
    if (state.range === 'custom' && state.custom) return state.custom;
    var now = Math.floor(Date.now() / 1000) * 1000;
    return { start: new Date(now - (RANGES[state.range] || RANGES['1h'])), end: null };
  }

  function spanMs() {
    var r = rangeBounds();
    return (r.end ? r.end.getTime() : Date.now()) - r.start.getTime();
  }

  // ---- charts ----------------------------------------------------------------------------
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  /* points: [{t, ...}], series: [{key, label, color}], yFmt: value -> text. */
  function lineChart(box, points, series, yFmt) {
    var width = Math.max(box.clientWidth || 300, 240);
    var height = 180;
    var m = { l: 62, r: 12, t: 10, b: 24 };
    var w = width - m.l - m.r;
    var h = height - m.t - m.b;
    var has = points.some(function (p) {
      return series.some(function (s) { return p[s.key] !== null && p[s.key] !== undefined; });
    });
    if (!points.length || !has) {
      replace(box, [none('No data in this period.')]);
      return;
    }
    var times = points.map(function (p) { return new Date(p.t).getTime(); });
    var t0 = times[0];
    var t1 = times[times.length - 1];
    if (t1 === t0) { t0 -= 30e3; t1 += 30e3; }
    var max = 0;
    points.forEach(function (p) {
      series.forEach(function (s) { if (p[s.key] > max) max = p[s.key]; });
    });
    max = niceMax(max);
    var x = function (t) { return m.l + ((t - t0) / (t1 - t0)) * w; };
    var y = function (v) { return m.t + h - (v / max) * h; };
    var root = svg('svg', {
      viewBox: '0 0 ' + width + ' ' + height, width: width, height: height,
      role: 'img', class: 'line-chart',
    });
    for (var i = 0; i <= 4; i++) {
      var v = (max * i) / 4;
      root.appendChild(svg('line', {
        x1: m.l, x2: m.l + w, y1: y(v), y2: y(v), class: 'grid-line',
      }));
      var label = svg('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' });
      label.textContent = yFmt(v);
      root.appendChild(label);
    }
    var withDate = t1 - t0 > 20 * 3600e3;
    var ticks = Math.max(2, Math.min(6, Math.floor(w / 90)));
    for (var k = 0; k <= ticks; k++) {
      var t = t0 + ((t1 - t0) * k) / ticks;
      var tl = svg('text', {
        x: x(t), y: height - 6, class: 'axis',
        'text-anchor': k === 0 ? 'start' : k === ticks ? 'end' : 'middle',
      });
      var d = new Date(t);
      tl.textContent = withDate
        ? d.toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit' })
        : d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
      root.appendChild(tl);
    }
    series.forEach(function (s) {
      var path = '';
      var pen = false;
      points.forEach(function (p, j) {
        var value = p[s.key];
        if (value === null || value === undefined) { pen = false; return; }
        path += (pen ? 'L' : 'M') + x(times[j]).toFixed(1) + ' ' + y(value).toFixed(1);
        pen = true;
      });
      root.appendChild(svg('path', {
        d: path, fill: 'none', stroke: s.color, 'stroke-width': 2,
        'stroke-linejoin': 'round', 'data-series': s.key,
      }));
      points.forEach(function (p, j) {
        var value = p[s.key];
        var alone = (value !== null && value !== undefined) &&
          (j === 0 || points[j - 1][s.key] === null) &&
          (j === points.length - 1 || points[j + 1][s.key] === null);
        if (alone) {
          root.appendChild(svg('circle', { cx: x(times[j]), cy: y(value), r: 3.5, fill: s.color }));
        }
      });
    });
    var cursor = svg('line', { y1: m.t, y2: m.t + h, class: 'cursor', visibility: 'hidden' });
    root.appendChild(cursor);
    var overlay = svg('rect', { x: m.l, y: m.t, width: w, height: h, fill: 'transparent' });
    root.appendChild(overlay);
    var tip = $('tooltip');
    overlay.addEventListener('mousemove', function (event) {
      var rect = root.getBoundingClientRect();
      var px = ((event.clientX - rect.left) / rect.width) * width;
      var best = 0;
      times.forEach(function (t, j) {
        if (Math.abs(x(t) - px) < Math.abs(x(times[best]) - px)) best = j;
      });
      var p = points[best];
      cursor.setAttribute('x1', x(times[best]));
      cursor.setAttribute('x2', x(times[best]));
      cursor.setAttribute('visibility', 'visible');
      replace(tip, [el('strong', { text: fmt.time(p.t, withDate) })].concat(series.map(function (s) {
        return el('div', {}, [el('span', { class: 'swatch swatch-' + s.key }), s.label + ': ' + yFmt(p[s.key])]);
      })));
      tip.hidden = false;
      tip.style.left = Math.min(event.pageX + 12, document.documentElement.scrollWidth - 180) + 'px';
      tip.style.top = event.pageY + 12 + 'px';
    });
    overlay.addEventListener('mouseleave', function () {
      tip.hidden = true;
      cursor.setAttribute('visibility', 'hidden');
    });
    var legend = el('div', { class: 'legend' }, series.map(function (s) {
      return el('span', {}, [el('span', { class: 'swatch swatch-' + s.key }), s.label]);
    }));
    replace(box, series.length > 1 ? [legend, root] : [root]);
  }

  var LATENCY = [
    { key: 'p50_ms', label: 'p50', color: COLORS.p50 },
    { key: 'p95_ms', label: 'p95', color: COLORS.p95 },
    { key: 'p99_ms', label: 'p99', color: COLORS.p99 },
  ];
  var RATE = [{ key: 'rate_per_min', label: 'requests/min', color: COLORS.rate }];
  var ERRORS = [{ key: 'error_rate', label: 'error rate', color: COLORS.err }];

  // ---- tables ----------------------------------------------------------------------------
  /* columns: [{key, label, fmt(value,row) -> text|Node, num, sortable}] */
  function table(columns, rows, opts) {
    opts = opts || {};
    var sort = opts.sort;
    var head = el('tr', {}, columns.map(function (c) {
      var attrs = { scope: 'col', class: c.num ? 'num' : null };
      if (sort && c.sortable !== false) {
        var active = sort.key === c.key;
        attrs['aria-sort'] = active ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none';
        return el('th', attrs, [el('button', {
          type: 'button', class: 'sort', 'data-key': c.key,
          onclick: function () { opts.onSort(c.key); },
          text: c.label + (active ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''),
        })]);
      }
      return el('th', Object.assign(attrs, { text: c.label }));
    }));
    var body = rows.map(function (row) {
      var tr = el('tr', opts.onRow ? {
        class: 'clickable', tabindex: '0',
        onclick: function (e) { if (e.target.tagName !== 'A') opts.onRow(row); },
        onkeydown: function (e) { if (e.key === 'Enter') opts.onRow(row); },
      } : {}, columns.map(function (c) {
        var value = row[c.key];
        var shown = c.fmt ? c.fmt(value, row) : value === null || value === undefined ? '—' : String(value);
        var td = el('td', {
          class: (c.num ? 'num ' : '') + (c.cls || ''), 'data-col': c.key, 'data-label': c.label,
          'data-value': value === null || value === undefined || typeof value === 'object' ? null : String(value),
        }, [typeof shown === 'string' ? shown : shown]);
        return td;
      }));
      if (opts.rowAttrs) {
        var extra = opts.rowAttrs(row);
        Object.keys(extra).forEach(function (k) { tr.setAttribute(k, extra[k]); });
      }
      return tr;
    });
    return el('table', { class: 'stack' }, [el('thead', {}, [head]), el('tbody', {}, body)]);
  }

  function breakdownBar(parts) {
    var total = parts.reduce(function (a, p) { return a + (p.value || 0); }, 0);
    if (!total) return el('span', { class: 'muted', text: '—' });
    var bar = el('span', { class: 'bar', title: parts.map(function (p) {
      return p.label + ' ' + fmt.ms(p.value);
    }).join(' · ') });
    parts.forEach(function (p) {
      var seg = el('span', { class: 'seg seg-' + p.key });
      seg.style.width = ((100 * (p.value || 0)) / total).toFixed(1) + '%';
      bar.appendChild(seg);
    });
    return bar;
  }

  function phases(b) {
    return [
      { key: 'parse', label: 'parse', value: b.parsing_ms },
      { key: 'validate', label: 'validate', value: b.validation_ms },
      { key: 'execute', label: 'execute', value: Math.max(0, (b.execution_ms || 0) - (b.database_ms || 0)) },
      { key: 'db', label: 'database', value: b.database_ms },
    ];
  }

  // ---- panels ----------------------------------------------------------------------------
  function renderSummary(s) {
    var health = $('health');
    health.textContent = s.health_score === null ? s.status : s.status + ' · ' + s.health_score;
    health.className = 'badge status-' + s.status;
    health.setAttribute('data-value', s.health_score === null ? '' : String(s.health_score));
    setValue('kpi-requests', s.total_requests, fmt.int(s.total_requests));
    setValue('kpi-errors', s.error_rate, fmt.pct(s.error_rate));
    setValue('kpi-alerts', s.open_alerts, fmt.int(s.open_alerts));
    $('kpi-alerts').parentNode.classList.toggle('alarm', s.critical_alerts + s.high_alerts > 0);
    $('empty').hidden = s.total_requests > 0;
  }

  function renderSeries(ts) {
    setValue('kpi-rate', ts.totals.rate_per_min, fmt.perMin(ts.totals.rate_per_min));
    setValue('kpi-p50', ts.totals.p50_ms, fmt.ms(ts.totals.p50_ms));
    setValue('kpi-p95', ts.totals.p95_ms, fmt.ms(ts.totals.p95_ms));
    setValue('kpi-p99', ts.totals.p99_ms, fmt.ms(ts.totals.p99_ms));
    lineChart($('chart-latency'), ts.points, LATENCY, fmt.ms);
    lineChart($('chart-rate'), ts.points, RATE, fmt.perMin);
    lineChart($('chart-errors'), ts.points, ERRORS, fmt.pct);
  }

  function renderEndpoints() {
    var rows = state.endpoints.slice();
    var s = state.endpointSort;
    rows.sort(function (a, b) {
      var x = a[s.key];
      var y = b[s.key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * s.dir;
    });
    if (!rows.length) { replace($('endpoints'), [none('No requests in this period.')]); return; }
    replace($('endpoints'), [table([
      { key: 'endpoint', label: 'Endpoint', cls: 'name' },
      { key: 'count', label: 'Requests', num: true, fmt: fmt.int },
      { key: 'p50_ms', label: 'p50', num: true, fmt: fmt.ms },
      { key: 'p95_ms', label: 'p95', num: true, fmt: fmt.ms },
      { key: 'p99_ms', label: 'p99', num: true, fmt: fmt.ms },
      { key: 'error_rate', label: 'Errors', num: true, fmt: fmt.pct },
      { key: 'avg_db_queries', label: 'DB/req', num: true, fmt: function (v) { return fmt.num(v, 1); } },
      { key: 'n_plus_one_requests', label: 'N+1', num: true, fmt: fmt.int },
    ], rows, {
      sort: s,
      onSort: function (key) {
        state.endpointSort = { key: key, dir: s.key === key ? -s.dir : key === 'endpoint' ? 1 : -1 };
        renderEndpoints();
      },
      onRow: function (row) { openDetail('endpoint', row.endpoint); },
      rowAttrs: function (row) { return { 'data-endpoint': row.endpoint }; },
    })]);
  }

  function renderOperations(data) {
    $('operations-hint').textContent = 'slow at ≥ ' + fmt.ms(data.slow_threshold_ms) + ' · click a row for its detail';
    if (!data.operations.length) {
      replace($('operations'), [none('No GraphQL operations in this period.')]);
      return;
    }
    replace($('operations'), [table([
      { key: 'operation_name', label: 'Operation', cls: 'name', fmt: function (v, row) {
        return (v || '(anonymous)') + (row.operation_type ? ' · ' + row.operation_type : '');
      } },
      { key: 'count', label: 'Count', num: true, fmt: fmt.int },
      { key: 'avg_ms', label: 'Avg', num: true, fmt: fmt.ms },
      { key: 'p95_ms', label: 'p95', num: true, fmt: fmt.ms },
      { key: 'avg_db_queries', label: 'DB/op', num: true, fmt: function (v) { return fmt.num(v, 1); } },
      { key: 'breakdown', label: 'Breakdown (mean)', fmt: function (b) { return breakdownBar(phases(b)); } },
    ], data.operations, {
      onRow: function (row) { if (row.operation_name) openDetail('operation', row.operation_name); },
      rowAttrs: function (row) { return { 'data-operation': row.operation_name || '' }; },
    }), phaseLegend()]);
  }

  function phaseLegend() {
    return el('div', { class: 'legend' }, ['parse', 'validate', 'execute', 'db'].map(function (k) {
      return el('span', {}, [el('span', { class: 'swatch seg-' + k }), k === 'db' ? 'database' : k]);
    }));
  }

  function renderSlowOperations(data) {
    if (!data.slow_queries.length) {
      replace($('slow-operations'), [none('No operation reached ' + fmt.ms(data.summary.threshold_ms) + ' in this period.')]);
      return;
    }
    replace($('slow-operations'), [el('ul', { class: 'cards' }, data.slow_queries.map(function (q) {
      var b = q.performance_breakdown;
      return el('li', { 'data-id': q.id }, [
        el('div', { class: 'card-head' }, [
          el('strong', { text: q.operation_name || '(anonymous)' }),
          el('span', { class: 'num', text: fmt.ms(q.execution_time_ms) }),
        ]),
        breakdownBar(phases(b)),
        el('div', { class: 'muted small', text:
          'parse ' + fmt.ms(b.parsing_ms) + ' · validate ' + fmt.ms(b.validation_ms) +
          ' · execute ' + fmt.ms(b.execution_ms) + ' · database ' + fmt.ms(b.database_ms) +
          ' · ' + fmt.int(q.database_queries) + ' queries · complexity ' + fmt.int(q.complexity_score) +
          ' · ' + fmt.time(q.timestamp, true) }),
      ]);
    }))]);
  }

  function renderDatabase(db) {
    $('database-hint').textContent = fmt.int(db.total_statements) + ' statements · ' + fmt.ms(db.total_time_ms) + ' in total';
    if (!db.slowest_statements.length) {
      replace($('database'), [none('No database statements in this period.')]);
    } else {
      replace($('database'), [table([
        { key: 'statement', label: 'Statement', cls: 'sql', fmt: function (v) { return el('code', { text: v }); } },
        { key: 'calls', label: 'Calls', num: true, fmt: fmt.int },
        { key: 'total_ms', label: 'Total', num: true, fmt: fmt.ms },
        { key: 'avg_ms', label: 'Avg', num: true, fmt: fmt.ms },
        { key: 'max_ms', label: 'Max', num: true, fmt: fmt.ms },
      ], db.slowest_statements, {
        rowAttrs: function (row) { return { 'data-fingerprint': row.fingerprint || '' }; },
      })]);
    }
    if (!db.n_plus_one.length) {
      replace($('n-plus-one'), [none('No N+1 query patterns found in this period.')]);
      return;
    }
    replace($('n-plus-one'), [el('ul', { class: 'cards' }, db.n_plus_one.map(function (f) {
      return el('li', { 'data-fingerprint': f.fingerprint || '' }, [
        el('div', { class: 'card-head' }, [
          el('strong', { text: f.graphql_field_path
            ? (f.graphql_operation_name || '(anonymous)') + ' → ' + f.graphql_field_path
            : f.endpoint || '—' }),
          el('span', { class: 'num', text: fmt.int(f.max_executions) + '× per request' }),
        ]),
        el('code', { class: 'sql block', text: f.statement }),
        el('p', { class: 'suggestion' }, [el('strong', { text: 'Suggestion: ' }), f.suggestion || '—']),
        el('div', { class: 'muted small', text: fmt.int(f.requests) + ' requests · ' +
          fmt.ms(f.total_ms) + ' in total · last ' + fmt.time(f.last_seen, true) +
          (f.graphql_field_path && f.endpoint ? ' · ' + f.endpoint : '') }),
      ]);
    }))]);
  }

  function renderAlerts(data) {
    if (!data.alerts.length) { replace($('alerts'), [none('No alerts in this period.')]); return; }
    var sorted = data.alerts.slice().sort(function (a, b) { return (a.resolved ? 1 : 0) - (b.resolved ? 1 : 0); });
    replace($('alerts'), [el('ul', { class: 'cards alerts' }, sorted.map(function (a) {
      return el('li', { class: 'sev-' + a.severity + (a.resolved ? ' resolved' : ''), 'data-alert-id': a.id }, [
        el('div', { class: 'card-head' }, [
          el('span', { class: 'badge sev sev-' + a.severity, text: a.severity }),
          el('strong', { text: a.type.replace(/_/g, ' ') }),
          el('span', { class: 'muted', text: a.resolved ? 'resolved ' + fmt.time(a.resolved_at, true) : 'active' }),
        ]),
        el('div', { text: a.message }),
        el('div', { class: 'muted small', text: fmt.int(a.occurrences) + ' occurrences · last ' + fmt.time(a.timestamp, true) }),
      ]);
    }))]);
  }

  function renderSystem(data) {
    var badge = $('system-health');
    badge.textContent = data.system_health;
    badge.className = 'badge health-' + data.system_health;
    if (!data.samples_total) {
      replace($('system'), [none('No system samples in this period. Host CPU, memory and disk appear here once a process of your app runs the system sampler.')]);
      return;
    }
    var a = data.averages;
    var latest = {};
    data.samples.forEach(function (s) {
      if (!latest[s.host_name] || latest[s.host_name].timestamp < s.timestamp) latest[s.host_name] = s;
    });
    var hosts = Object.keys(latest).map(function (k) { return latest[k]; });
    replace($('system'), [
      el('dl', { class: 'facts' }, [
        el('dt', { text: 'CPU' }), el('dd', { text: fmt.percent(a.avg_cpu_percent) + ' avg · ' + fmt.percent(a.max_cpu_percent) + ' max' }),
        el('dt', { text: 'Memory' }), el('dd', { text: fmt.percent(a.avg_memory_percent) + ' avg · ' + fmt.percent(a.max_memory_percent) + ' max' }),
        el('dt', { text: 'Disk' }), el('dd', { text: fmt.percent(a.avg_disk_percent) + ' avg · ' + fmt.percent(a.max_disk_percent) + ' max' }),
        el('dt', { text: 'Samples' }), el('dd', { text: fmt.int(data.samples_total) }),
      ]),
      table([
        { key: 'host_name', label: 'Host', cls: 'name' },
        { key: 'cpu_percent', label: 'CPU', num: true, fmt: fmt.percent },
        { key: 'memory_percent', label: 'Mem', num: true, fmt: fmt.percent },
        { key: 'disk_free', label: 'Disk free', num: true, fmt: fmt.bytes },
      ], hosts),
    ]);
  }

  // ---- drill-down ------------------------------------------------------------------------
  function openDetail(kind, name) {
    state.detail = { kind: kind, name: name };
    history.replaceState(null, '', '#' + kind + '=' + encodeURIComponent(name));
    $('detail').hidden = false;
    loadDetail().then(function () { $('detail').scrollIntoView({ behavior: 'smooth', block: 'start' }); });
  }

  function closeDetail() {
    state.detail = null;
    $('detail').hidden = true;
    history.replaceState(null, '', location.pathname + location.search);
  }

  function loadDetail() {
    var d = state.detail;
    if (!d) return Promise.resolve();
    var url = d.kind === 'endpoint' ? reportUrl('timeseries', d.name) : reportUrl('operations', d.name);
    $('detail-title').textContent = (d.kind === 'endpoint' ? '' : 'GraphQL operation ') + d.name;
    $('detail').setAttribute('data-kind', d.kind);
    $('detail').setAttribute('data-name', d.name);
    return get(url).then(function (data) {
      if (!state.detail || state.detail.name !== d.name) return;
      var t = data.totals;
      replace($('detail-kpis'), [
        kpi('Requests', t.count, fmt.int(t.count), 'detail-count'),
        kpi('Rate', t.rate_per_min, fmt.perMin(t.rate_per_min), 'detail-rate-value'),
        kpi('p50', t.p50_ms, fmt.ms(t.p50_ms), 'detail-p50'),
        kpi('p95', t.p95_ms, fmt.ms(t.p95_ms), 'detail-p95'),
        kpi('p99', t.p99_ms, fmt.ms(t.p99_ms), 'detail-p99'),
        kpi('Errors', t.error_rate, fmt.pct(t.error_rate), 'detail-errors'),
      ]);
      lineChart($('detail-latency'), data.points, LATENCY, fmt.ms);
      lineChart($('detail-rate'), data.points, RATE, fmt.perMin);
      var slow = d.kind === 'endpoint' ? data.slowest_requests : data.slowest_operations;
      $('detail-slowest-title').textContent = d.kind === 'endpoint' ? 'Slowest requests' : 'Slowest executions';
      if (!slow.length) { replace($('detail-slowest'), [none('Nothing in this period.')]); return; }
      var cols = [
        { key: 'timestamp', label: 'When', fmt: function (v) { return fmt.time(v, true); } },
        { key: 'duration_ms', label: 'Duration', num: true, fmt: fmt.ms },
      ];
      if (d.kind === 'endpoint') {
        cols.push({ key: 'path', label: 'Path', cls: 'name' });
        cols.push({ key: 'status_code', label: 'Status', num: true });
        cols.push({ key: 'db_queries', label: 'DB', num: true, fmt: fmt.int });
      } else {
        cols.push({ key: 'performance_breakdown', label: 'Breakdown', fmt: function (b) { return breakdownBar(phases(b)); } });
        cols.push({ key: 'database_queries', label: 'DB', num: true, fmt: fmt.int });
      }
      cols.push({ key: 'trace_id', label: 'Trace', fmt: traceLink });
      replace($('detail-slowest'), [table(cols, slow)]);
    }).catch(panelError($('detail-slowest')));
  }

  function kpi(label, value, text, id) {
    return el('div', { class: 'kpi' }, [
      el('span', { class: 'label', text: label }),
      el('span', { class: 'value', id: id, 'data-value': value === null || value === undefined ? '' : String(value), text: text }),
    ]);
  }

  // ---- refresh ---------------------------------------------------------------------------
  function panelError(node) {
    return function (error) {
      if (error instanceof AuthError) { showError(error.message); return; }
      replace(node, [el('p', { class: 'none error', text: 'Could not load: ' + error.message })]);
    };
  }

  function showError(message) {
    var banner = $('error');
    banner.textContent = message;
    banner.hidden = !message;
    if (message) $('empty').hidden = true;
  }

  /* Every panel, for the current range. A refresh that a newer one overtook (the range
   * changed meanwhile) renders nothing, so a slow answer never paints an old range. */
  function refresh() {
    var gen = ++state.generation;
    var current = function (render) {
      return function (data) { if (gen === state.generation) render(data); };
    };
    document.body.setAttribute('data-state', 'loading');
    showError('');
    var jobs = [
      get(reportUrl('summary')).then(current(renderSummary)).catch(panelError($('kpis'))),
      get(reportUrl('timeseries')).then(current(renderSeries)).catch(panelError($('chart-latency'))),
      get(reportUrl('endpoints', undefined, { top_n: 50 })).then(current(function (data) {
        state.endpoints = data.endpoints;
        renderEndpoints();
      })).catch(panelError($('endpoints'))),
      get(reportUrl('operations', undefined, { top_n: 20 })).then(current(renderOperations))
        .catch(panelError($('operations'))),
      get(specUrl('slow_queries', { limit: 10 })).then(current(renderSlowOperations))
        .catch(panelError($('slow-operations'))),
      get(reportUrl('database', undefined, { limit: 20 })).then(current(renderDatabase))
        .catch(panelError($('database'))),
      get(reportUrl('alerts', undefined, { limit: 50 })).then(current(renderAlerts))
        .catch(panelError($('alerts'))),
      get(reportUrl('system-metrics')).then(current(renderSystem)).catch(panelError($('system'))),
      loadDetail(),
    ];
    return Promise.all(jobs).then(function () {
      if (gen !== state.generation) return;
      state.refreshes += 1;
      $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString('en-GB');
      document.body.setAttribute('data-refreshes', String(state.refreshes));
      document.body.setAttribute('data-state', 'loaded');
    });
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.paused) return;
    state.timer = setTimeout(function () {
      (document.hidden ? Promise.resolve() : refresh()).then(schedule);
    }, REFRESH_MS);
  }

  function selectRange(range) {
    $('custom-range').hidden = range !== 'custom';
    if (range === 'custom' && !state.custom) return; // the current range holds until Apply
    state.range = range;
    Array.prototype.forEach.call(document.querySelectorAll('[data-range]'), function (b) {
      b.setAttribute('aria-pressed', String(b.getAttribute('data-range') === range));
    });
    refresh().then(schedule);
  }

  function localInput(date) {
    var d = new Date(date.getTime() - date.getTimezoneOffset() * 60e3);
    return d.toISOString().slice(0, 16);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-range]'), function (b) {
      b.addEventListener('click', function () {
        if (b.getAttribute('data-range') === 'custom' && !state.custom) {
          var now = new Date();
          $('custom-from').value = localInput(new Date(now.getTime() - spanMs()));
          $('custom-to').value = localInput(now);
        }
        selectRange(b.getAttribute('data-range'));
      });
    });
    $('custom-range').addEventListener('submit', function (event) {
      event.preventDefault();
      var start = new Date($('custom-from').value);
      var end = new Date($('custom-to').value);
      if (isNaN(start.getTime()) || isNaN(end.getTime()) || end <= start) {
        showError('The custom range needs a start before its end.');
        return;
      }
      state.custom = { start: start, end: end };
      selectRange('custom');
    });
    $('pause').addEventListener('click', function () {
      state.paused = !state.paused;
      $('pause').setAttribute('aria-pressed', String(state.paused));
      $('pause').textContent = state.paused ? 'Resume' : 'Pause';
      if (state.paused) clearTimeout(state.timer);
      else refresh().then(schedule);
    });
    $('detail-close').addEventListener('click', closeDetail);
    if (cfg.logout) {
      $('logout').setAttribute('action', cfg.logout);
      $('logout').hidden = false;
    }
    var resizeTimer = null;
    window.addEventListener('resize', function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(refresh, 300);
    });
    var hash = /^#(endpoint|operation)=(.+)$/.exec(location.hash);
    if (hash) {
      state.detail = { kind: hash[1], name: decodeURIComponent(hash[2]) };
      $('detail').hidden = false;
    }
    selectRange('1h');
  }

  init();
})();
