/* buyt operations dashboard: the live map, fleet summary, engine health and problem vehicles.
 * Plain JavaScript, no build step, no library; served by buyt-ingest with the page
 * (ingest/dashboard.c). What it shows and where each number comes from: docs/DASHBOARD.md.
 *
 * Data flow: the network (routes, stops, simplified shapes) once from /api/v1/network, again
 * only when /api/v1/fleet names another network_version; every REFRESH_MS /api/v1/fleet (every
 * vehicle, the summary, engine counters) and /healthz (broker, database). A clicked vehicle
 * adds /api/v1/vehicles/{id} and the arrivals at its next stops every DETAIL_REFRESH_MS. */
'use strict';

(() => {
  // Every path the page requests, in one table: tests/integration/test_dashboard.c requests
  // each one on a live engine and checks that no other path is written in this file.
  const API = {
    fleet: '/api/v1/fleet',
    network: '/api/v1/network',
    health: '/healthz',
    vehicle: '/api/v1/vehicles/{vehicle_id}',
    arrivals: '/api/v1/stops/{stop_id}/arrivals',
  };

  const REFRESH_MS = 3000; // while the page is visible
  const HIDDEN_REFRESH_MS = 15000; // in a background tab
  const DETAIL_REFRESH_MS = 10000; // the selected vehicle's next stops
  const NEXT_STOPS = 5;
  const PROBLEM_ROWS = 100;
  const EARTH_M_PER_DEG = 6371008.8 * Math.PI / 180;
  // Draw order: problems on top of the rest.
  const STATUSES = ['on_time', 'early', 'unassigned', 'late', 'stale', 'off_route'];
  const STATUS_LABEL = {
    on_time: 'On time', late: 'Late', early: 'Early', off_route: 'Off route',
    stale: 'Stale', unassigned: 'No trip', offline: 'Never seen',
  };

  const $ = (id) => document.getElementById(id);
  const S = {
    net: null, // {version, frame, routes, stops, patterns, byPattern, routeIndex, bounds, paths}
    frame: null, // {lat0, lon0, m_per_deg_lat, m_per_deg_lon}
    fleet: null,
    rows: [], // one object per positioned vehicle
    byId: new Map(),
    health: null,
    route: '',
    hidden: new Set(),
    selected: null, // vehicle id
    follow: false,
    detail: null, // {id, vehicle, arrivals: Map stop_id -> arrival, at}
    view: null, // {cx, cy, scale}: world metres at the canvas centre, pixels per metre
    lastOk: 0,
    failingSince: 0,
    colors: {},
  };

  // ------------------------------------------------------------------ requests

  function url(name, params, query) {
    let u = API[name].replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(params[k]));
    const q = new URLSearchParams(query || {}).toString();
    return q ? u + '?' + q : u;
  }

  // The one place that talks to the engine. `accept`: statuses whose JSON body is an answer
  // (/healthz says 503 with a body when unhealthy).
  async function getJSON(name, params, query, accept = [200]) {
    const res = await fetch(url(name, params, query), {
      headers: { Accept: 'application/json' },
      cache: 'no-cache', // revalidate with the ETag: the network answers 304 until it changes
    });
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!accept.includes(res.status)) {
      const msg = body && body.error ? body.error.message : res.statusText;
      throw new Error(`${res.status} ${msg}`);
    }
    return body;
  }

  // ------------------------------------------------------------------ formatting

  const pad = (n) => String(n).padStart(2, '0');
  // Clock times in the agency's zone (/healthz network.timezone), not the browser's: a control
  // room PC may well run on UTC.
  const clockFmt = { zone: '', long: null, short: null, label: '' };
  function setZone(tz) {
    if (!tz || tz === clockFmt.zone) return;
    try {
      const opts = { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
      clockFmt.short = new Intl.DateTimeFormat('en-GB', opts);
      clockFmt.long = new Intl.DateTimeFormat('en-GB', { ...opts, second: '2-digit' });
      const part = new Intl.DateTimeFormat('en-GB', { timeZone: tz, timeZoneName: 'short' })
        .formatToParts(new Date()).find((x) => x.type === 'timeZoneName');
      clockFmt.label = part ? part.value : tz;
      clockFmt.zone = tz;
      $('clock').title = `Agency time (${tz})`;
    } catch (e) {
      clockFmt.zone = tz; // unknown to this browser: keep its own zone
    }
  }
  function fmtClock(ms, seconds = true) {
    const f = seconds ? clockFmt.long : clockFmt.short;
    if (f) return f.format(ms);
    const d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + (seconds ? ':' + pad(d.getSeconds()) : '');
  }
  function fmtDelay(s) {
    if (s === null || s === undefined) return '–';
    const a = Math.abs(s);
    const t = Math.floor(a / 60) + ':' + pad(a % 60);
    return s > 0 ? '+' + t : s < 0 ? '−' + t : '0:00';
  }
  function fmtAge(s) {
    if (s === null || s === undefined) return '–';
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + pad(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + pad(Math.floor(s % 3600 / 60)) + ' min';
  }
  const numFmt = [0, 1].map((d) => new Intl.NumberFormat(undefined, { minimumFractionDigits: d, maximumFractionDigits: d }));
  function fmtNum(x, digits = 0) {
    if (x === null || x === undefined || Number.isNaN(x)) return '–';
    return numFmt[digits].format(x);
  }
  function delayClass(s) {
    return s > 300 ? 'late-text' : s < -60 ? 'early-text' : 'good-text';
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function setText(id, text) {
    const e = $(id);
    if (e.textContent !== String(text)) e.textContent = text;
  }

  // ------------------------------------------------------------------ geometry

  function project(lat, lon) {
    const f = S.frame;
    return [(lon - f.lon0) * f.m_per_deg_lon, (lat - f.lat0) * f.m_per_deg_lat];
  }

  // Without a network (none loaded yet) the frame is centred on the vehicles.
  function frameFromRows(rows) {
    let lat = 0, lon = 0;
    for (const r of rows) { lat += r.lat; lon += r.lon; }
    lat /= rows.length; lon /= rows.length;
    return { lat0: lat, lon0: lon, m_per_deg_lat: EARTH_M_PER_DEG,
             m_per_deg_lon: EARTH_M_PER_DEG * Math.cos(lat * Math.PI / 180) };
  }

  function loadNetwork(n) {
    const net = {
      version: n.version, feed: n.feed_version, routes: n.routes, patterns: n.patterns,
      stops: n.stops.map(([id, name, x, y]) => ({ id, name, x, y })),
      byPattern: new Map(), routeIndex: new Map(), paths: [], bounds: n.bounds,
    };
    n.routes.forEach((r, i) => net.routeIndex.set(r.id, i));
    for (const p of n.patterns) {
      net.byPattern.set(p.pattern, p);
      // line: x0, y0, then deltas, integer metres (ingest/dashboard.c)
      const path = new Path2D();
      let x = 0, y = 0, minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
      for (let i = 0; i + 1 < p.line.length; i += 2) {
        x += p.line[i]; y += p.line[i + 1];
        if (i === 0) path.moveTo(x, y); else path.lineTo(x, y);
        minx = Math.min(minx, x); maxx = Math.max(maxx, x);
        miny = Math.min(miny, y); maxy = Math.max(maxy, y);
      }
      p.box = [minx, miny, maxx, maxy];
      p.path = path;
    }
    S.net = net;
    if (n.frame) S.frame = n.frame;
    fillRouteSelect();
    netCache.key = '';
  }

  function routeBox(routeIdx) {
    let b = null;
    for (const p of S.net.patterns) {
      if (p.route !== routeIdx) continue;
      b = b ? [Math.min(b[0], p.box[0]), Math.min(b[1], p.box[1]),
               Math.max(b[2], p.box[2]), Math.max(b[3], p.box[3])] : p.box.slice();
    }
    return b;
  }

  // ------------------------------------------------------------------ the map

  const canvas = $('map');
  const ctx = canvas.getContext('2d');
  const netCanvas = document.createElement('canvas');
  const netCtx = netCanvas.getContext('2d');
  const netCache = { key: '' };
  let dpr = 1, W = 0, H = 0, drawQueued = false;

  function readColors() {
    const cs = getComputedStyle(document.documentElement);
    for (const k of [...STATUSES, 'map-bg', 'map-route', 'map-route-hi', 'map-stop', 'accent']) {
      S.colors[k] = cs.getPropertyValue('--' + k).trim() || '#888';
    }
  }

  function resize() {
    const r = canvas.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    W = Math.max(1, Math.round(r.width));
    H = Math.max(1, Math.round(r.height));
    for (const c of [canvas, netCanvas]) {
      c.width = Math.round(W * dpr);
      c.height = Math.round(H * dpr);
    }
    netCache.key = '';
    if (!S.view) fitSelection();
    requestDraw();
  }

  function fit(box) {
    box = box || (S.net && S.net.bounds) || rowsBox();
    if (!box || W < 2) return;
    const w = Math.max(box[2] - box[0], 200), h = Math.max(box[3] - box[1], 200);
    const scale = Math.min(W / w, H / h) * 0.9;
    S.view = { cx: (box[0] + box[2]) / 2, cy: (box[1] + box[3]) / 2, scale };
    S.follow = false;
    $('d-center').classList.remove('on');
    netCache.key = '';
    requestDraw();
  }

  function rowsBox() {
    if (!S.rows.length) return null;
    let b = [Infinity, Infinity, -Infinity, -Infinity];
    for (const r of S.rows) b = [Math.min(b[0], r.x), Math.min(b[1], r.y), Math.max(b[2], r.x), Math.max(b[3], r.y)];
    return b;
  }

  const toScreen = (x, y) => [(x - S.view.cx) * S.view.scale + W / 2, H / 2 - (y - S.view.cy) * S.view.scale];
  const toWorld = (sx, sy) => [(sx - W / 2) / S.view.scale + S.view.cx, S.view.cy - (sy - H / 2) / S.view.scale];

  function zoomAt(factor, sx, sy) {
    if (!S.view) return;
    const [wx, wy] = toWorld(sx, sy);
    const fitScale = S.net && S.net.bounds
      ? Math.min(W / (S.net.bounds[2] - S.net.bounds[0] + 1), H / (S.net.bounds[3] - S.net.bounds[1] + 1)) : 0.01;
    const scale = Math.min(20, Math.max(fitScale / 4, S.view.scale * factor));
    S.view.scale = scale;
    S.view.cx = wx - (sx - W / 2) / scale;
    S.view.cy = wy + (sy - H / 2) / scale;
    netCache.key = '';
    requestDraw();
  }

  function requestDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; draw(); });
  }

  function selectedPattern() {
    const r = S.selected && S.byId.get(S.selected);
    return r && r.pattern !== null && S.net ? S.net.byPattern.get(r.pattern) : null;
  }

  // The network layer is drawn into its own canvas and reused until the view, the filter or
  // the network changes: a refresh only redraws the vehicles.
  function drawNetwork() {
    const sel = selectedPattern();
    const key = [W, H, dpr, S.view.cx, S.view.cy, S.view.scale, S.route, S.net ? S.net.version : '',
                 sel ? sel.pattern : ''].join('|');
    if (key === netCache.key) return;
    netCache.key = key;
    const c = netCtx, v = S.view;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.fillStyle = S.colors['map-bg'];
    c.fillRect(0, 0, netCanvas.width, netCanvas.height);
    if (!S.net) return;
    const [x0, y1] = toWorld(0, 0), [x1, y0] = toWorld(W, H);
    const visible = (b) => b[2] >= x0 && b[0] <= x1 && b[3] >= y0 && b[1] <= y1;
    const routeIdx = S.route ? S.net.routeIndex.get(S.route) : undefined;
    // world -> device pixels, y up
    c.setTransform(v.scale * dpr, 0, 0, -v.scale * dpr, (W / 2 - v.cx * v.scale) * dpr, (H / 2 + v.cy * v.scale) * dpr);
    c.lineJoin = 'round';
    c.lineCap = 'round';
    const px = 1 / v.scale; // one CSS pixel in metres
    const hi = [];
    c.strokeStyle = S.colors['map-route'];
    c.lineWidth = 1.6 * px;
    c.globalAlpha = routeIdx !== undefined ? 0.55 : 1;
    for (const p of S.net.patterns) {
      if (!visible(p.box)) continue;
      if (p.route === routeIdx || p === sel) { hi.push(p); continue; }
      c.stroke(p.path);
    }
    c.globalAlpha = 1;
    c.strokeStyle = S.colors['map-route-hi'];
    c.lineWidth = 3 * px;
    for (const p of hi) c.stroke(p.path);
    // Stops once they are more than a few pixels apart (1 km > 60 px).
    if (v.scale > 0.06) {
      const onRoute = new Set();
      for (const p of hi) for (const s of p.stops) onRoute.add(s);
      const r = (v.scale > 0.3 ? 3 : 2) * px;
      S.net.stops.forEach((s, i) => {
        if (s.x < x0 || s.x > x1 || s.y < y0 || s.y > y1) return;
        c.fillStyle = onRoute.has(i) ? S.colors['map-route-hi'] : S.colors['map-stop'];
        c.fillRect(s.x - r / 2, s.y - r / 2, r, r);
      });
    }
  }

  function marker(c, status, x, y, r) {
    const col = S.colors[status];
    c.beginPath();
    if (status === 'off_route') {
      const d = r * 1.35;
      c.moveTo(x, y - d); c.lineTo(x + d, y); c.lineTo(x, y + d); c.lineTo(x - d, y); c.closePath();
      c.fillStyle = col; c.fill();
      c.lineWidth = 1; c.strokeStyle = '#000'; c.stroke();
    } else if (status === 'stale') {
      c.arc(x, y, r - 0.5, 0, 2 * Math.PI);
      c.lineWidth = 2; c.strokeStyle = col; c.stroke();
    } else if (status === 'unassigned') {
      c.rect(x - r * 0.7, y - r * 0.7, r * 1.4, r * 1.4);
      c.fillStyle = col; c.fill();
    } else {
      c.arc(x, y, r, 0, 2 * Math.PI);
      c.fillStyle = col; c.fill();
    }
  }

  function markerRadius() {
    return Math.min(7, Math.max(3, S.view.scale * 12));
  }

  function draw() {
    if (!S.view || !W) return;
    drawNetwork();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(netCanvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const r = markerRadius();
    const heading = S.view.scale > 0.05;
    const groups = new Map(STATUSES.map((s) => [s, []]));
    for (const v of S.rows) {
      if (S.hidden.has(v.status) && v.id !== S.selected) continue;
      const [sx, sy] = toScreen(v.x, v.y);
      v.sx = sx; v.sy = sy;
      if (sx < -20 || sy < -20 || sx > W + 20 || sy > H + 20) continue;
      (groups.get(v.status) || groups.get('unassigned')).push(v);
    }
    for (const [status, list] of groups) {
      for (const v of list) {
        // course and speed are null when the bus's receiver does not report them
        if (heading && v.speed > 1 && v.course !== null && status !== 'stale') {
          const a = v.course * Math.PI / 180; // compass: 0 north, clockwise
          ctx.beginPath();
          ctx.moveTo(v.sx, v.sy);
          ctx.lineTo(v.sx + Math.sin(a) * (r + 6), v.sy - Math.cos(a) * (r + 6));
          ctx.lineWidth = 2; ctx.strokeStyle = S.colors[status];
          ctx.stroke();
        }
        marker(ctx, status, v.sx, v.sy, r);
      }
    }
    const sel = S.selected && S.byId.get(S.selected);
    if (sel && sel.sx !== undefined) {
      ctx.beginPath();
      ctx.arc(sel.sx, sel.sy, r + 6, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5; ctx.strokeStyle = S.colors.accent;
      ctx.stroke();
      drawNextStops(sel, r);
    }
    drawScale();
  }

  function drawNextStops(v, r) {
    const p = selectedPattern();
    if (!p || v.next === null) return;
    ctx.fillStyle = S.colors.accent;
    for (const si of p.stops.slice(v.next, v.next + NEXT_STOPS)) {
      const s = S.net.stops[si];
      const [sx, sy] = toScreen(s.x, s.y);
      ctx.beginPath();
      ctx.arc(sx, sy, Math.max(3, r - 2), 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  function drawScale() {
    const target = 100 / S.view.scale; // metres in ~100 px
    const pow = Math.pow(10, Math.floor(Math.log10(target)));
    const m = [1, 2, 5, 10].map((k) => k * pow).filter((d) => d <= target).pop() || pow;
    const bar = $('scale');
    bar.firstElementChild.style.width = Math.round(m * S.view.scale) + 'px';
    bar.lastElementChild.textContent = m >= 1000 ? m / 1000 + ' km' : m + ' m';
  }

  function hit(sx, sy) {
    let best = null, bd = 12 * 12;
    for (const v of S.rows) {
      if (v.sx === undefined || (S.hidden.has(v.status) && v.id !== S.selected)) continue;
      const d = (v.sx - sx) ** 2 + (v.sy - sy) ** 2;
      if (d < bd) { bd = d; best = v; }
    }
    return best;
  }

  // Pan by dragging, zoom with the wheel, click to select.
  let drag = null;
  canvas.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, moved: false, cx: S.view && S.view.cx, cy: S.view && S.view.cy };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    const rect = canvas.getBoundingClientRect();
    const sx = e.clientX - rect.left, sy = e.clientY - rect.top;
    if (drag && S.view) {
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
      if (drag.moved) {
        canvas.classList.add('dragging');
        S.view.cx = drag.cx - dx / S.view.scale;
        S.view.cy = drag.cy + dy / S.view.scale;
        S.follow = false;
        $('d-center').classList.remove('on');
        netCache.key = '';
        requestDraw();
      }
      $('tip').hidden = true;
      return;
    }
    const v = hit(sx, sy);
    canvas.classList.toggle('hover', !!v);
    const tip = $('tip');
    if (v) {
      tip.textContent = `${v.id} · ${v.route || 'no trip'} · ${STATUS_LABEL[v.status] || v.status}` +
        (v.delay !== null ? ' ' + fmtDelay(v.delay) : '');
      tip.style.left = sx + 'px';
      tip.style.top = sy + 'px';
      tip.hidden = false;
    } else {
      tip.hidden = true;
    }
  });
  canvas.addEventListener('pointerup', (e) => {
    canvas.classList.remove('dragging');
    const d = drag;
    drag = null;
    if (!d || d.moved) return;
    const rect = canvas.getBoundingClientRect();
    const v = hit(e.clientX - rect.left, e.clientY - rect.top);
    select(v ? v.id : null);
  });
  canvas.addEventListener('pointerleave', () => { $('tip').hidden = true; });
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const rect = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), e.clientX - rect.left, e.clientY - rect.top);
  }, { passive: false });
  $('zoom-in').addEventListener('click', () => zoomAt(1.6, W / 2, H / 2));
  $('zoom-out').addEventListener('click', () => zoomAt(1 / 1.6, W / 2, H / 2));
  $('zoom-fit').addEventListener('click', () => fitSelection());
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'SELECT' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'Escape') select(null);
    else if (e.key === '+' || e.key === '=') zoomAt(1.6, W / 2, H / 2);
    else if (e.key === '-') zoomAt(1 / 1.6, W / 2, H / 2);
    else if (e.key === '0') fitSelection();
  });

  function fitSelection() {
    const idx = S.route && S.net ? S.net.routeIndex.get(S.route) : undefined;
    fit(idx !== undefined ? routeBox(idx) : null);
  }

  for (const b of document.querySelectorAll('#legend button')) {
    b.addEventListener('click', () => {
      const s = b.dataset.status;
      if (S.hidden.has(s)) S.hidden.delete(s); else S.hidden.add(s);
      b.classList.toggle('off', S.hidden.has(s));
      requestDraw();
    });
  }

  // ------------------------------------------------------------------ route filter

  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  const naturalCompare = collator.compare;

  function fillRouteSelect() {
    const sel = $('route');
    const keep = S.route;
    while (sel.options.length > 1) sel.remove(1);
    const routes = S.net.routes.slice().sort((a, b) => naturalCompare(a.short_name || a.id, b.short_name || b.id));
    for (const r of routes) {
      const o = el('option', null, r.short_name && r.short_name !== r.id ? `${r.short_name} (${r.id})` : r.id);
      o.value = r.id;
      sel.appendChild(o);
    }
    sel.value = S.net.routeIndex.has(keep) ? keep : '';
    S.route = sel.value;
  }

  $('route').addEventListener('change', () => {
    S.route = $('route').value;
    history.replaceState(null, '', S.route ? '#route=' + encodeURIComponent(S.route) : '#');
    netCache.key = '';
    fitSelection();
    refresh();
  });

  // ------------------------------------------------------------------ fleet data

  function loadFleet(f) {
    S.fleet = f;
    const ix = {};
    f.vehicle_fields.forEach((k, i) => { ix[k] = i; });
    if (!S.frame && f.vehicles.length) {
      S.frame = frameFromRows(f.vehicles.map((a) => ({ lat: a[ix.lat], lon: a[ix.lon] })));
    }
    S.rows = f.vehicles.map((a) => {
      const [x, y] = project(a[ix.lat], a[ix.lon]);
      return {
        id: a[ix.id], status: a[ix.status], lat: a[ix.lat], lon: a[ix.lon], x, y,
        course: a[ix.course_deg], speed: a[ix.speed_mps], route: a[ix.route_id],
        delay: a[ix.delay_s], age: a[ix.fix_age_s], pattern: a[ix.pattern], next: a[ix.next_stop],
      };
    });
    S.byId = new Map(S.rows.map((r) => [r.id, r]));
    if (S.selected && S.route && !S.byId.has(S.selected)) select(null); // not on this route
    if (S.follow && S.selected && S.byId.has(S.selected)) {
      const v = S.byId.get(S.selected);
      S.view.cx = v.x; S.view.cy = v.y;
      netCache.key = '';
    }
  }

  function routeName(id) {
    if (!id) return '';
    const i = S.net ? S.net.routeIndex.get(id) : undefined;
    return i !== undefined && S.net.routes[i].short_name ? S.net.routes[i].short_name : id;
  }

  function renderSummary() {
    const f = S.fleet, s = f.summary, b = s.by_status;
    setText('fleet-title', f.route ? `Route ${routeName(f.route)}` : 'Fleet');
    setText('k-reporting', fmtNum(s.reporting));
    setText('k-known', `of ${fmtNum(s.known)}`);
    setText('k-assigned', fmtNum(s.assigned));
    setText('k-off_route', fmtNum(b.off_route));
    setText('k-stale', fmtNum(b.stale));
    setText('k-unassigned', fmtNum(b.unassigned));
    setText('k-offline', fmtNum(b.offline));
    $('k-off_route').parentElement.classList.toggle('alert', b.off_route > 0);
    for (const st of STATUSES) setText('n-' + st, fmtNum(b[st]));
    const timed = b.on_time + b.late + b.early;
    setText('otp', s.on_time_performance === null ? '–' : fmtNum(s.on_time_performance * 100, 1) + ' %');
    $('otp-early').style.width = timed ? (100 * b.early / timed) + '%' : '0';
    $('otp-on').style.width = timed ? (100 * b.on_time / timed) + '%' : '0';
    $('otp-late').style.width = timed ? (100 * b.late / timed) + '%' : '0';
    setText('otp-n-early', fmtNum(b.early));
    setText('otp-n-on', fmtNum(b.on_time));
    setText('otp-n-late', fmtNum(b.late));
  }

  function renderEngine() {
    const e = S.fleet.engine, r = e.rates, h = S.health;
    setText('e-msg-rate', r ? fmtNum(r.messages_per_s, 1) : '–');
    setText('e-rec-rate', r ? `${fmtNum(r.records_per_s, 1)} records/s` : `${fmtNum(e.messages)} in all`);
    setText('e-dup-rate', r ? fmtNum(r.duplicates_per_s, 1) : '–');
    setText('e-dup', `${fmtNum(e.duplicates)} in all`);
    setText('e-rej-rate', r ? fmtNum(r.rejected_per_s, 1) : '–');
    setText('e-rej', `${fmtNum(e.rejected)} in all`);
    $('e-rej-rate').classList.toggle('warn', !!(r && r.rejected_per_s > 0));
    const reasons = Object.entries(e.rejected_by_reason).sort((a, b) => b[1] - a[1]);
    const box = $('e-reasons');
    box.replaceChildren(...(reasons.length
      ? reasons.slice(0, 6).map(([k, n]) => el('span', null, `${k.replace(/_/g, ' ')} ${fmtNum(n)}`))
      : [el('span', 'muted', 'none')]));
    setText('e-spool', fmtNum(e.spool_pending_batches));
    $('e-spool').classList.toggle('warn', e.spool_pending_batches > 50);
    setText('e-commit', fmtNum(e.batch_commit_last_ms, 1));
    setText('e-commit-max', `max ${fmtNum(e.batch_commit_max_ms, 1)} ms`);
    const n = h && h.network;
    setText('e-network', n && n.loaded
      ? `feed ${n.feed_version} · ${fmtNum(n.routes)} routes · ${fmtNum(n.stops)} stops`
      : e.network_loaded ? `feed ${e.feed_version}` : 'not loaded');
    badge('b-engine', h ? h.status === 'ok' : null, h ? `engine ${h.status}` : 'engine');
    badge('b-broker', e.broker_connected, e.broker_connected ? 'broker' : 'broker down');
    const db = h ? h.database.reachable : null;
    badge('b-db', db, db === false ? 'database down' : 'database');
  }

  function badge(id, ok, text) {
    const b = $(id);
    b.classList.toggle('ok', ok === true);
    b.classList.toggle('bad', ok === false);
    setText(id, text);
  }

  // Severity: off route, then silent (longest first), then late (latest first), then early.
  const RANK = { off_route: 0, stale: 1, late: 2, early: 3 };
  function problems() {
    const list = S.rows.filter((v) => v.status in RANK);
    list.sort((a, b) => RANK[a.status] - RANK[b.status] ||
      (a.status === 'stale' ? b.age - a.age
        : a.status === 'early' ? a.delay - b.delay
        : (b.delay || 0) - (a.delay || 0)) ||
      naturalCompare(a.id, b.id));
    return list;
  }

  // The table keeps its rows and rewrites only the cells that changed: 2,000 vehicles every
  // few seconds must not rebuild the DOM.
  function setCell(td, text, cls) {
    if (td.textContent !== text) td.textContent = text;
    if (cls !== undefined && td.className !== cls) td.className = cls;
  }

  function renderProblems() {
    const list = problems();
    setText('p-count', list.length ? `${fmtNum(list.length)}` : 'none');
    const body = $('problems');
    const shown = list.slice(0, PROBLEM_ROWS);
    while (body.rows.length > shown.length) body.deleteRow(-1);
    while (body.rows.length < shown.length) {
      const tr = body.insertRow();
      const st = el('td');
      st.append(el('i'), document.createTextNode(''));
      tr.append(el('td'), el('td'), st, el('td'), el('td', 'num'));
    }
    shown.forEach((v, i) => {
      const tr = body.rows[i], c = tr.cells;
      tr.dataset.id = v.id;
      tr.className = v.id === S.selected ? 'sel' : '';
      setCell(c[0], v.id);
      setCell(c[1], routeName(v.route) || '–');
      c[2].firstChild.className = 'sw s-' + v.status;
      if (c[2].lastChild.data !== STATUS_LABEL[v.status]) c[2].lastChild.data = STATUS_LABEL[v.status];
      setCell(c[3], fmtDelay(v.delay), 'num ' + (v.delay !== null ? delayClass(v.delay) : ''));
      setCell(c[4], fmtAge(v.age));
    });
    const more = list.length - shown.length;
    setText('p-more', more > 0 ? `… and ${fmtNum(more)} more` : '');
  }

  $('problems').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (!tr) return;
    select(tr.dataset.id);
    const v = S.byId.get(tr.dataset.id);
    if (v && S.view) {
      S.view.cx = v.x; S.view.cy = v.y;
      S.view.scale = Math.max(S.view.scale, 0.1);
      netCache.key = '';
      requestDraw();
    }
  });

  // ------------------------------------------------------------------ selected vehicle

  function select(id) {
    S.selected = id;
    S.detail = id ? { id, vehicle: null, arrivals: new Map(), at: 0, error: null } : null;
    if (!id) { S.follow = false; $('d-center').classList.remove('on'); }
    $('detail').hidden = !id;
    for (const tr of document.querySelectorAll('#problems tr')) tr.classList.toggle('sel', tr.dataset.id === id);
    netCache.key = '';
    requestDraw();
    if (id) { renderDetail(); loadDetail(id); }
  }

  $('d-close').addEventListener('click', () => select(null));
  $('d-center').addEventListener('click', () => {
    S.follow = !S.follow;
    $('d-center').classList.toggle('on', S.follow);
    const v = S.selected && S.byId.get(S.selected);
    if (S.follow && v) { S.view.cx = v.x; S.view.cy = v.y; netCache.key = ''; requestDraw(); }
  });

  async function loadDetail(id) {
    const d = S.detail;
    if (!d || d.id !== id) return;
    d.at = Date.now();
    d.atServer = serverNow();
    try {
      const vehicle = await getJSON('vehicle', { vehicle_id: id });
      const row = S.byId.get(id);
      const p = row && row.pattern !== null && S.net ? S.net.byPattern.get(row.pattern) : null;
      const next = p && row.next !== null ? p.stops.slice(row.next, row.next + NEXT_STOPS) : [];
      const trip = vehicle.trip;
      const arrivals = new Map();
      if (trip) {
        // The trip's arrival at each of its next stops, as the passenger API gives it.
        const answers = await Promise.all(next.map((si) => getJSON('arrivals', { stop_id: S.net.stops[si].id },
          { minutes_before: 5, minutes_after: 180, limit: 100 }).catch(() => null)));
        answers.forEach((a, k) => {
          const stop = S.net.stops[next[k]];
          const mine = a && a.arrivals.find((x) => x.trip_id === trip.trip_id && x.service_date === trip.service_date);
          arrivals.set(stop.id, { stop, arrival: mine || null });
        });
      }
      if (S.detail !== d) return; // another vehicle was selected meanwhile
      d.vehicle = vehicle;
      d.next = next.map((si) => S.net.stops[si]);
      d.arrivals = arrivals;
      d.error = null;
    } catch (err) {
      if (S.detail !== d) return;
      d.error = err.message;
    }
    renderDetail();
  }

  function renderDetail() {
    const d = S.detail;
    if (!d) return;
    const row = S.byId.get(d.id);
    const v = d.vehicle;
    const status = row ? row.status : v ? 'offline' : '';
    setText('d-id', d.id);
    $('d-swatch').className = 'sw s-' + status;
    const st = $('d-status');
    st.className = 'status ' + status;
    st.textContent = STATUS_LABEL[status] || status;
    const t = v && v.trip;
    setText('d-route', t ? `${t.route_short_name || t.route_id} → ${t.headsign}` : row && row.route ? routeName(row.route) : 'no trip');
    setText('d-trip', t ? `${t.trip_id} · ${t.service_date} · ${t.assigned_by.replace(/_/g, ' ')}` : '–');
    const delay = row ? row.delay : v ? v.delay_s : null;
    const de = $('d-delay');
    de.textContent = delay === null || delay === undefined ? '–'
      : `${fmtDelay(delay)} ${delay > 0 ? 'late' : delay < 0 ? 'early' : ''}` + (v && v.layover ? ' · layover' : '') + (v && v.completed ? ' · trip completed' : '');
    de.className = delay === null || delay === undefined ? '' : delayClass(delay);
    setText('d-age', row ? fmtAge(row.age) : v && v.fix_age_s !== null ? fmtAge(v.fix_age_s) : 'no fix yet');
    setText('d-speed', row && row.speed !== null ? `${fmtNum(row.speed * 3.6)} km/h` : '–');
    setText('d-pos', row ? `${row.lat.toFixed(5)}, ${row.lon.toFixed(5)}` : '–');
    const body = $('d-stops');
    const frag = document.createDocumentFragment();
    for (const s of d.next || []) {
      const a = d.arrivals.get(s.id);
      const arr = a && a.arrival;
      const tr = el('tr');
      tr.appendChild(el('td', null, s.name || s.id)).title = s.id;
      tr.appendChild(el('td', null, arr ? fmtClock(arr.scheduled_arrival_ms, false) : '–'));
      if (arr && arr.predicted_arrival_ms) {
        const mins = Math.max(0, Math.round((arr.predicted_arrival_ms - serverNow()) / 60000));
        const late = Math.round((arr.predicted_arrival_ms - arr.scheduled_arrival_ms) / 1000);
        tr.appendChild(el('td', delayClass(late), `${fmtClock(arr.predicted_arrival_ms, false)} · ${mins} min`));
      } else {
        tr.appendChild(el('td', 'muted', arr ? 'schedule only' : '–'));
      }
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    setText('d-note', d.error ? `Could not load details: ${d.error}`
      : !v ? 'Loading…'
      : !(d.next || []).length ? (v.trip ? 'No stop ahead on this trip.' : 'Not on a trip: no stops to predict.')
      : `Predictions: ${API.arrivals.replace('{stop_id}', '…')} · updated ${fmtClock(d.atServer)}`);
  }

  // ------------------------------------------------------------------ refresh loop

  let timer = 0, inFlight = false;

  async function refresh() {
    clearTimeout(timer);
    timer = 0;
    if (inFlight) { timer = setTimeout(refresh, 200); return; }
    inFlight = true;
    try {
      const query = S.route ? { route: S.route } : {};
      const [fleet, health] = await Promise.all([
        getJSON('fleet', {}, query, [200, 404]),
        getJSON('health', {}, {}, [200, 503]).catch(() => null),
      ]);
      if (fleet.error) {
        // No such route (a bookmark, or a new network without it): the whole fleet instead.
        if (!S.route) throw new Error(`404 ${fleet.error.message}`);
        S.route = '';
        $('route').value = '';
        history.replaceState(null, '', '#');
        timer = setTimeout(refresh, 0);
        return;
      }
      S.health = health;
      if (health && health.network) setZone(health.network.timezone);
      if (!S.net || S.net.version !== fleet.network_version) {
        loadNetwork(await getJSON('network'));
        if (!S.lastOk) S.view = null; // first data: fit it (below)
      }
      loadFleet(fleet);
      S.lastOk = Date.now(); // with fleet.time_ms: serverNow()
      if (!S.view) fitSelection();
      renderSummary();
      renderEngine();
      renderProblems();
      if (S.detail) {
        if (Date.now() - S.detail.at > DETAIL_REFRESH_MS) loadDetail(S.detail.id);
        else renderDetail();
      }
      S.failingSince = 0;
      $('banner').hidden = true;
      requestDraw();
    } catch (err) {
      if (!S.failingSince) {
        S.failingSince = Date.now();
        S.failingSinceServer = serverNow();
      }
      const b = $('banner');
      b.textContent = `Engine not answering since ${fmtClock(S.failingSinceServer)} (${err.message}) — retrying; the map shows the last data`;
      b.hidden = false;
    } finally {
      inFlight = false;
      if (!timer) timer = setTimeout(refresh, document.hidden ? HIDDEN_REFRESH_MS : REFRESH_MS);
      tick();
    }
  }

  // The engine's clock, not the browser's (a PC's clock may be off): its time_ms at the last
  // answer plus the time since.
  function serverNow() {
    return S.fleet ? S.fleet.time_ms + (Date.now() - S.lastOk) : Date.now();
  }

  function tick() {
    const now = Date.now();
    setText('clock', fmtClock(serverNow()) + (clockFmt.label ? ' ' + clockFmt.label : ''));
    const age = S.lastOk ? Math.round((now - S.lastOk) / 1000) : null;
    setText('updated', age === null ? 'connecting…' : `updated ${age < 2 ? 'just now' : age + ' s ago'}`);
    $('updated').parentElement.classList.toggle('late', age !== null && age > 10);
    const dot = $('conn');
    dot.classList.toggle('ok', !S.failingSince && S.lastOk > 0);
    dot.classList.toggle('bad', !!S.failingSince);
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
  window.addEventListener('hashchange', () => {
    const m = /route=([^&]+)/.exec(location.hash);
    const r = m ? decodeURIComponent(m[1]) : '';
    if (r !== S.route) { S.route = r; $('route').value = r; netCache.key = ''; fitSelection(); refresh(); }
  });

  function start() {
    readColors();
    const m = /route=([^&]+)/.exec(location.hash);
    S.route = m ? decodeURIComponent(m[1]) : '';
    new ResizeObserver(resize).observe($('map-wrap'));
    setInterval(tick, 1000);
    refresh();
  }

  start();
})();
