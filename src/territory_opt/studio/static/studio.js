/* The plan studio page: draws the plan with Leaflet (vendored), edits through the JSON API.
   Every text from the data is set with textContent (never innerHTML). */
(function () {
  "use strict";

  const TOKEN = document.querySelector('meta[name="studio-token"]').content;
  if (window.location.search.indexOf("token=") >= 0) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  // ------------------------------------------------------------------ helpers
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "style") Object.assign(node.style, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  const $ = (id) => document.getElementById(id);
  const fmt = (v, digits) => (v === null || v === undefined) ? "–" :
    Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 0 : digits, minimumFractionDigits: digits || 0 });
  const compact = (v) => (v === null || v === undefined) ? "–" :
    Number(v).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 });
  const signed = (v, digits) => (v > 0 ? "+" : "") + fmt(v, digits);
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { "X-Studio-Token": TOKEN, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      throw new Error(detail);
    }
    return data;
  }

  function status(text, error) {
    const node = $("status");
    node.textContent = text || "";
    node.className = "status" + (error ? " error" : "");
  }

  async function guarded(action) {
    try {
      await action();
    } catch (err) {
      status(err.message, true);
    }
  }

  // ------------------------------------------------------------------ state
  const S = {
    state: null, assign: [], baseline: [], locked: new Set(), detached: new Set(), selected: new Set(),
    layers: [], figures: null, proposal: null, compareChanged: null, mode: "click", busy: false,
  };
  window.studio = S; // for scripts and tests

  const map = L.map("map", { preferCanvas: true, boxZoom: false, zoomSnap: 0.25 });
  const renderer = L.canvas({ padding: 0.5, tolerance: 2 });
  S.map = map;

  function unitStyle(i) {
    const st = S.state;
    let t = S.assign[i];
    const proposed = S.proposal && S.proposal.assignment[i] !== S.assign[i];
    if (proposed) t = S.proposal.assignment[i];
    const style = {
      renderer, fillColor: st.territories[t].colour, fillOpacity: 0.62, color: "#4b5563", weight: 0.5,
      opacity: 0.9, dashArray: null,
    };
    if (S.showChanges && S.assign[i] !== S.baseline[i]) { style.color = "#c026d3"; style.weight = 2.2; }
    if (S.compareChanged && S.compareChanged.has(i)) { style.color = "#c026d3"; style.weight = 2.2; }
    if (S.locked.has(i)) { style.color = "#111827"; style.weight = 1.6; style.dashArray = "4 3"; }
    if (S.detached.has(i)) { style.color = "#dc2626"; style.weight = 3; style.dashArray = null; }
    if (proposed) { style.color = "#f97316"; style.weight = 2.5; style.dashArray = null; }
    if (S.selected.has(i)) { style.fillOpacity = 0.9; style.color = "#000"; style.weight = 2.6; style.dashArray = null; }
    if (st.kind === "points") { style.radius = S.selected.has(i) ? 6 : 4; style.weight = Math.min(style.weight, 2); }
    return style;
  }
  function restyle(indices) {
    for (const i of indices) if (S.layers[i]) S.layers[i].setStyle(unitStyle(i));
  }
  function restyleAll() { restyle(S.assign.keys()); }

  // ------------------------------------------------------------------ drawing
  function hover(i) {
    const st = S.state, u = st.units, info = S.info;
    clear(info._div);
    if (i === null) { info._div.appendChild(el("div", { class: "muted", text: "hover a unit for its figures" })); return; }
    const t = st.territories[S.assign[i]];
    info._div.appendChild(el("div", { class: "t", text: u.names[i] + " (" + u.ids[i] + ")" }));
    info._div.appendChild(el("div", {}, el("span", { class: "swatch", style: { background: t.colour } }), t.name + " (" + t.id + ")"));
    st.measures.forEach((m, j) => info._div.appendChild(el("div", { text: m + ": " + fmt(u.values[j][i]) })));
    if (u.owner[i] >= 0 && u.owner[i] !== S.assign[i]) info._div.appendChild(el("div", { text: "moved from " + st.territories[u.owner[i]].id }));
    if (S.baseline[i] !== S.assign[i]) info._div.appendChild(el("div", { text: "changed from " + st.territories[S.baseline[i]].id + " (baseline)" }));
    if (S.locked.has(i)) info._div.appendChild(el("div", { text: "locked by hand" }));
    if (u.data_lock[i] >= 0) info._div.appendChild(el("div", { text: "locked by the data to " + st.territories[u.data_lock[i]].id }));
    if (S.detached.has(i)) info._div.appendChild(el("div", { class: "warn", text: "cut off from the rest of its territory" }));
  }

  function onUnitClick(i, event) {
    if (S.mode !== "click") return;
    const add = event.originalEvent && (event.originalEvent.shiftKey || event.originalEvent.metaKey || event.originalEvent.ctrlKey);
    const before = Array.from(S.selected);
    if (!add) S.selected.clear();
    if (add && S.selected.has(i)) S.selected.delete(i); else S.selected.add(i);
    restyle(before.concat([i]));
    selectionChanged();
  }

  function bindUnit(layer, i) {
    S.layers[i] = layer;
    layer.on("click", (e) => { L.DomEvent.stopPropagation(e); onUnitClick(i, e); });
    layer.on("mouseover", () => hover(i));
    layer.on("mouseout", () => hover(null));
  }

  async function drawUnits() {
    const st = S.state;
    if (st.kind === "geography") {
      const geojson = await api("GET", "/api/geometry");
      S.timing.geometry = performance.now() - S.timing.start;
      S.unitLayer = L.geoJSON(geojson, {
        style: (f) => unitStyle(f.properties.i),
        onEachFeature: (f, layer) => bindUnit(layer, f.properties.i),
      }).addTo(map);
    } else {
      S.unitLayer = L.layerGroup().addTo(map);
      st.units.lat.forEach((lat, i) => {
        if (lat === null) return;
        const marker = L.circleMarker([lat, st.units.lon[i]], unitStyle(i));
        bindUnit(marker, i);
        S.unitLayer.addLayer(marker);
      });
    }
  }

  // accounts: each territory's area as the convex hull of its accounts (redrawn where edits land)
  function hull(points) {
    points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    const lower = [], upper = [];
    for (const p of points) {
      while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
      lower.push(p);
    }
    for (let k = points.length - 1; k >= 0; k--) {
      const p = points[k];
      while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
      upper.push(p);
    }
    return lower.slice(0, -1).concat(upper.slice(0, -1));
  }
  function drawAreas(territories) {
    const st = S.state;
    if (st.kind !== "points") return;
    if (!S.areaLayer) {
      map.createPane("areas").style.zIndex = 350; // under the accounts
      S.areaRenderer = L.canvas({ pane: "areas" });
      S.areaLayer = L.layerGroup().addTo(map);
      S.areas = [];
    }
    const wanted = new Set(territories || st.territories.map((t) => t.index));
    const members = new Map();
    wanted.forEach((t) => members.set(t, []));
    S.assign.forEach((t, i) => { if (wanted.has(t) && st.units.lat[i] !== null) members.get(t).push([st.units.lon[i], st.units.lat[i]]); });
    members.forEach((points, t) => {
      if (S.areas[t]) { S.areaLayer.removeLayer(S.areas[t]); S.areas[t] = null; }
      if (points.length < 3) return;
      const ring = hull(points).map((p) => [p[1], p[0]]);
      S.areas[t] = L.polygon(ring, { renderer: S.areaRenderer, pane: "areas", color: st.territories[t].colour, weight: 1, opacity: 0.8, fillOpacity: 0.07, interactive: false });
      S.areaLayer.addLayer(S.areas[t]);
    });
  }

  function drawSeats() {
    const st = S.state;
    if (S.seatLayer) S.seatLayer.remove();
    S.seatLayer = L.layerGroup().addTo(map);
    st.territories.forEach((t) => {
      if (t.lat === null) return;
      const marker = L.circleMarker([t.lat, t.lon], {
        renderer, radius: t.home ? 7 : 8, fillColor: t.home ? t.colour : "#ffffff", fillOpacity: 1,
        color: "#111827", weight: 2, dashArray: t.home ? null : "3 2", interactive: true,
      });
      const label = el("span", { text: t.name + (t.home ? "" : " (open seat)") });
      marker.bindTooltip(label, { permanent: true, direction: "top", offset: [0, -8], className: "label-territory" });
      S.seatLayer.addLayer(marker);
    });
  }

  function fitMap() {
    const st = S.state;
    const lats = st.units.lat.filter((v) => v !== null), lons = st.units.lon.filter((v) => v !== null);
    map.fitBounds([[Math.min(...lats), Math.min(...lons)], [Math.max(...lats), Math.max(...lons)]], { padding: [10, 10] });
  }

  // ------------------------------------------------------------------ panel
  function barFor(m) {
    const tgt = m.target;
    const lo = m.low === null ? tgt : m.low, hi = m.high === null ? tgt : m.high;
    const spread = Math.max(Math.abs(m.load - tgt), hi - tgt, tgt - lo, 1e-9) * 1.6;
    const left = tgt - spread, width = 2 * spread;
    const pct = (v) => Math.max(0, Math.min(100, 100 * (v - left) / width)) + "%";
    const bar = el("div", { class: "bar", title: "band " + fmt(lo) + " – " + fmt(hi) + ", target " + fmt(tgt) });
    if (m.low !== null) bar.appendChild(el("div", { class: "band", style: { left: pct(lo), width: "calc(" + pct(hi) + " - " + pct(lo) + ")" } }));
    bar.appendChild(el("div", { class: "tgt", style: { left: pct(tgt) } }));
    bar.appendChild(el("div", { class: "val" + (m.within ? "" : " out"), style: { left: pct(m.load) } }));
    return bar;
  }

  function renderTotals() {
    const f = S.figures.totals, box = $("totals");
    clear(box);
    const item = (label, value, bad) => box.appendChild(el("span", { class: bad ? "bad" : "" }, label + " ", el("b", { text: value })));
    item("travel", fmt(f.travel_km, 1) + " km");
    item("out of band", String(f.out_of_band), f.out_of_band > 0);
    if (f.cut_edges !== null) item("broken", String(f.broken), f.broken > 0);
    if (f.disruption_pct !== null) item("moved", f.moved + " (" + fmt(f.disruption_pct, 1) + " %)");
    item("changed vs baseline", String(f.changed_vs_baseline));
    item("locked", String(f.locked));
  }

  // the table is built once; an edit rebuilds only the rows whose figures changed
  function renderTerritories() {
    const st = S.state, figures = S.figures, table = $("territories");
    const head = table.tHead, body = table.tBodies[0];
    // balanced measures only (the others show on hover); a plan without bands shows its first measure
    const measures = Object.keys(st.tolerance).length ? Object.keys(st.tolerance) : st.measures.slice(0, 1);
    const hasQuota = figures.territories.some((r) => r.quota !== null);
    if (!S.rows || S.rowsQuota !== hasQuota) {
      clear(head); clear(body);
      S.rows = new Map();
      S.rowsQuota = hasQuota;
      const headRow = el("tr", {}, el("th", { text: "territory" }));
      measures.forEach((m) => headRow.appendChild(el("th", { text: m + (m in st.tolerance ? " ±" + fmt(100 * st.tolerance[m], 0) + "%" : "") })));
      headRow.appendChild(el("th", { class: "num", text: "km", title: "travel: weighted mean distance to the home base or centre" }));
      headRow.appendChild(el("th", { class: "num", text: "moved" }));
      if (hasQuota) headRow.appendChild(el("th", { class: "num", text: "quota" }));
      head.appendChild(headRow);
    }
    figures.territories.forEach((row) => {
      const key = JSON.stringify(row);
      const cached = S.rows.get(row.index);
      if (cached && cached.key === key) return;
      const tr = territoryRow(row, measures, hasQuota);
      if (cached) body.replaceChild(tr, cached.tr); else body.appendChild(tr);
      S.rows.set(row.index, { key, tr });
    });
  }

  function territoryRow(row, measures, hasQuota) {
    const st = S.state;
    const t = st.territories[row.index];
    const broken = row.pieces !== null && row.pieces > 1;
    const tr = el("tr", { "data-territory": t.id, class: row.balanced && !broken ? "" : "bad" });
    const name = el("td", { class: "name", title: t.name + " (" + t.id + "): click to select its units; the move list picks it" },
      el("span", { class: "swatch", style: { background: t.colour } }), t.name);
    name.addEventListener("click", (e) => selectTerritory(row.index, e.shiftKey));
    name.appendChild(el("div", { class: "muted", text: row.units + " units" + (t.exempt ? " · stands alone" : "") }));
    if (broken) name.appendChild(el("div", { class: "warn", text: row.pieces + " pieces" }));
    tr.appendChild(name);
    measures.forEach((m) => {
      const fig = row.measures[m];
      const td = el("td", { "data-measure": m });
      const banded = m in st.tolerance;
      td.appendChild(el("div", { class: "fig" + (fig.within ? "" : " out"), "data-dev": fig.dev_pct.toFixed(4),
        title: fmt(fig.load) + " of target " + fmt(fig.target), text: compact(fig.load) + (banded ? " (" + signed(fig.dev_pct, 1) + " %)" : "") }));
      if (banded) td.appendChild(barFor(fig));
      tr.appendChild(td);
    });
    tr.appendChild(el("td", { class: "num", "data-travel": row.travel_km.toFixed(4), text: fmt(row.travel_km, 1) }));
    tr.appendChild(el("td", { class: "num", title: "moved in / out against the current alignment", text: "+" + row.moved_in + "/−" + row.moved_out }));
    if (hasQuota) tr.appendChild(el("td", { class: "num", title: fmt(row.quota), text: compact(row.quota) }));
    return tr;
  }

  function renderTargets() {
    const select = $("target");
    const keep = select.value;
    clear(select);
    S.state.territories.forEach((t) => select.appendChild(el("option", { value: t.id, text: t.name + " (" + t.id + ")" })));
    if (keep) select.value = keep;
  }

  function renderHistory(history) {
    S.history = history;
    $("undo").disabled = history.undo === 0;
    $("redo").disabled = history.redo === 0;
    $("undo").title = history.undo_label ? "Undo: " + history.undo_label + " (Ctrl+Z)" : "Nothing to undo";
    $("redo").title = history.redo_label ? "Redo: " + history.redo_label + " (Ctrl+Y)" : "Nothing to redo";
  }

  function renderVersions(versions) {
    S.versions = versions;
    const list = $("versions");
    clear(list);
    versions.forEach((v) => {
      const open = el("button", { text: "Open", title: "Make this version the current state (undoable)" });
      open.addEventListener("click", () => guarded(async () => {
        applyDelta(await api("POST", "/api/versions/" + encodeURIComponent(v.name) + "/open"));
        status("opened " + v.name);
      }));
      list.appendChild(el("li", { "data-version": v.name }, el("span", { class: "vname", text: v.name }),
        el("span", { class: "vnote", text: [v.note, v.created].filter(Boolean).join(" · "), title: v.folder || "" }), open));
    });
    for (const id of ["cmp-a", "cmp-b"]) {
      const select = $(id), keep = select.value;
      clear(select);
      versions.concat([{ name: "current" }]).forEach((v) => select.appendChild(el("option", { value: v.name, text: v.name })));
      select.value = keep || (id === "cmp-a" ? "baseline" : "current");
    }
  }

  function selectionChanged() {
    $("selection").textContent = S.selected.size + " selected";
  }

  function selectTerritory(t, add) {
    const before = Array.from(S.selected);
    if (!add) S.selected.clear();
    S.assign.forEach((a, i) => { if (a === t) S.selected.add(i); });
    $("target").value = S.state.territories[t].id;
    restyle(before.concat(Array.from(S.selected)));
    selectionChanged();
  }

  function applyFigures(figures) {
    S.figures = figures;
    const old = S.detached;
    S.detached = new Set(figures.detached);
    const touched = [];
    old.forEach((i) => { if (!S.detached.has(i)) touched.push(i); });
    S.detached.forEach((i) => { if (!old.has(i)) touched.push(i); });
    restyle(touched);
    renderTotals();
    renderTerritories();
  }

  function applyDelta(delta) {
    const touched = [], territories = new Set();
    for (const [i, t] of delta.changes) { territories.add(S.assign[i]); territories.add(t); S.assign[i] = t; touched.push(i); }
    if (territories.size) drawAreas(Array.from(territories));
    const locked = new Set(delta.locked);
    S.locked.forEach((i) => { if (!locked.has(i)) touched.push(i); });
    locked.forEach((i) => { if (!S.locked.has(i)) touched.push(i); });
    S.locked = locked;
    if (delta.figures) applyFigures(delta.figures);
    renderHistory(delta.history);
    restyle(touched);
    return touched.length;
  }

  // ------------------------------------------------------------------ editing
  const selectedIds = () => Array.from(S.selected).map((i) => S.state.units.ids[i]);

  async function moveSelection() {
    if (!S.selected.size) { status("select units first (click, box or lasso)", true); return; }
    const target = $("target").value;
    const started = performance.now();
    const delta = await api("POST", "/api/move", { units: selectedIds(), territory: target });
    applyDelta(delta);
    S.lastEditMs = performance.now() - started;
    status("moved " + S.selected.size + " unit(s) to " + target + " (" + Math.round(S.lastEditMs) + " ms)");
  }
  async function lockSelection(lock) {
    if (!S.selected.size) { status("select units first", true); return; }
    applyDelta(await api("POST", lock ? "/api/lock" : "/api/unlock", { units: selectedIds() }));
    status((lock ? "locked " : "unlocked ") + S.selected.size + " unit(s)");
  }
  async function undo() { applyDelta(await api("POST", "/api/undo")); status("undone"); }
  async function redo() { applyDelta(await api("POST", "/api/redo")); status("redone"); }

  // box and lasso: point-in-polygon on the units' centroids, in screen pixels
  function inside(point, polygon) {
    let hit = false;
    for (let a = 0, b = polygon.length - 1; a < polygon.length; b = a++) {
      const pa = polygon[a], pb = polygon[b];
      if ((pa.y > point.y) !== (pb.y > point.y) && point.x < (pb.x - pa.x) * (point.y - pa.y) / (pb.y - pa.y) + pa.x) hit = !hit;
    }
    return hit;
  }
  function selectInPolygon(polygon, add) {
    const u = S.state.units, before = Array.from(S.selected);
    if (!add) S.selected.clear();
    let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    polygon.forEach((p) => { xmin = Math.min(xmin, p.x); xmax = Math.max(xmax, p.x); ymin = Math.min(ymin, p.y); ymax = Math.max(ymax, p.y); });
    for (let i = 0; i < u.lat.length; i++) {
      if (u.lat[i] === null) continue;
      const p = map.latLngToContainerPoint([u.lat[i], u.lon[i]]);
      if (p.x < xmin || p.x > xmax || p.y < ymin || p.y > ymax) continue;
      if (inside(p, polygon)) S.selected.add(i);
    }
    restyle(before.concat(Array.from(S.selected)));
    selectionChanged();
    return S.selected.size;
  }
  S.selectInPolygon = selectInPolygon;

  function setMode(mode) {
    S.mode = mode;
    for (const m of ["click", "box", "lasso"]) $("mode-" + m).classList.toggle("active", m === mode);
    $("map").classList.toggle("box", mode === "box");
    $("map").classList.toggle("lasso", mode === "lasso");
    if (mode === "click") map.dragging.enable(); else map.dragging.disable();
  }

  function initDrawing() {
    let drawing = null;
    const container = map.getContainer();
    container.addEventListener("mousedown", (e) => {
      if (S.mode === "click" || e.button !== 0) return;
      const start = map.mouseEventToContainerPoint(e);
      drawing = { points: [start], add: e.shiftKey, shape: null };
      e.preventDefault();
    });
    container.addEventListener("mousemove", (e) => {
      if (!drawing) return;
      const p = map.mouseEventToContainerPoint(e);
      if (S.mode === "lasso") drawing.points.push(p); else drawing.points[1] = p;
      const latlngs = S.mode === "lasso" ? drawing.points.map((q) => map.containerPointToLatLng(q))
        : [drawing.points[0], L.point(p.x, drawing.points[0].y), p, L.point(drawing.points[0].x, p.y)].map((q) => map.containerPointToLatLng(q));
      if (drawing.shape) drawing.shape.setLatLngs(latlngs);
      else drawing.shape = L.polygon(latlngs, { renderer, color: "#1d4ed8", weight: 2, dashArray: "5 4", fillOpacity: 0.06, interactive: false }).addTo(map);
    });
    const finish = (e) => {
      if (!drawing) return;
      const d = drawing;
      drawing = null;
      if (d.shape) d.shape.remove();
      let polygon = d.points;
      if (S.mode === "box" && d.points.length > 1) {
        const [a, b] = d.points;
        polygon = [a, L.point(b.x, a.y), b, L.point(a.x, b.y)];
      }
      if (polygon.length < 3) return;
      const n = selectInPolygon(polygon, d.add || (e && e.shiftKey));
      status(n + " selected");
    };
    container.addEventListener("mouseup", finish);
    container.addEventListener("mouseleave", finish);
  }

  // ------------------------------------------------------------------ re-optimise
  async function reoptimise() {
    const limit = Number($("reopt-limit").value) || 10;
    const job = await api("POST", "/api/reoptimise", { time_limit: limit });
    showJob({ job, proposal: null });
    poll();
  }
  async function poll() {
    const status_ = await api("GET", "/api/reoptimise");
    showJob(status_);
    if (status_.job && status_.job.state === "running") S.pollTimer = setTimeout(() => guarded(poll), 400);
  }
  function showJob(info) {
    const job = info.job, running = job && job.state === "running";
    $("reopt").disabled = !!running;
    $("reopt-cancel").disabled = !running;
    $("progress").hidden = !running;
    const text = $("progress-text");
    if (!job) { text.textContent = ""; }
    else if (running) {
      $("progress-bar").style.width = Math.min(100, 100 * job.elapsed_s / job.time_limit_s) + "%";
      const p = job.progress || {};
      text.textContent = "re-optimising: " + (p.stage || "starting the engine") + " · " + fmt(job.elapsed_s, 1) + " of " + fmt(job.time_limit_s) + " s" +
        (p.objective !== undefined && p.objective !== null ? " · objective " + fmt(p.objective, 2) : "") +
        (p.gap !== undefined && p.gap !== null ? " · gap " + fmt(100 * p.gap, 2) + " %" : "");
    } else if (job.state === "error") { text.textContent = ""; status("re-optimise failed: " + job.error, true); }
    else if (job.state === "cancelled") { text.textContent = "re-optimise cancelled"; }
    else text.textContent = "re-optimise finished in " + fmt(job.elapsed_s, 1) + " s";
    showProposal(info.proposal);
  }
  function showProposal(proposal) {
    const old = S.proposal;
    S.proposal = proposal;
    $("proposal").hidden = !proposal;
    const touched = [];
    if (old) old.changes.forEach((c) => touched.push(c.unit));
    if (proposal) {
      proposal.changes.forEach((c) => touched.push(c.unit));
      const s = proposal.summary;
      $("proposal-text").textContent = "Proposal: " + proposal.changes.length + " unit(s) change territory; " +
        "travel " + fmt(S.figures.totals.travel_km, 1) + " → " + fmt(proposal.figures.totals.travel_km, 1) + " km, out of band " +
        S.figures.totals.out_of_band + " → " + proposal.figures.totals.out_of_band + " (" + s.status + ", " + s.method + ")" +
        (s.audit_ok ? "" : " · audit: " + s.audit.join("; ")) + (proposal.stale ? " · the state changed since: discard" : "");
      const list = $("proposal-list");
      clear(list);
      proposal.changes.slice(0, 300).forEach((c) => list.appendChild(el("li", { text: c.name + " (" + c.id + "): " + c.from + " → " + c.to })));
      if (proposal.changes.length > 300) list.appendChild(el("li", { text: "… and " + (proposal.changes.length - 300) + " more" }));
    }
    restyle(touched);
  }

  // ------------------------------------------------------------------ versions
  async function save() {
    status("saving …");
    const result = await api("POST", "/api/save", { note: $("note").value });
    renderVersions(result.versions);
    $("note").value = "";
    status("saved " + result.version.name + " in " + result.version.folder + (result.audit_ok ? "" : " (the audit lists findings: see its summary.json)"));
  }
  async function compare() {
    const a = $("cmp-a").value, b = $("cmp-b").value;
    const result = await api("GET", "/api/compare?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b));
    const out = $("compare-out");
    clear(out);
    const st = S.state, measures = st.measures;
    out.appendChild(el("div", { text: result.changed.length + " unit(s) differ between " + a + " and " + b +
      "; travel " + fmt(result.totals.travel_km[0], 1) + " → " + fmt(result.totals.travel_km[1], 1) + " km; out of band " +
      result.totals.out_of_band[0] + " → " + result.totals.out_of_band[1] }));
    const table = el("table", {});
    const head = el("tr", {}, el("th", { text: "territory" }), el("th", { class: "num", text: "units" }));
    measures.forEach((m) => head.appendChild(el("th", { class: "num", text: "Δ " + m })));
    head.appendChild(el("th", { class: "num", text: "Δ travel" }));
    table.appendChild(head);
    result.territories.forEach((r) => {
      if (r.gained === 0 && r.lost === 0) return;
      const tr = el("tr", {}, el("td", { text: r.name }), el("td", { class: "num", text: "+" + r.gained + " / −" + r.lost }));
      measures.forEach((m) => { const d = r[m][1] - r[m][0]; tr.appendChild(el("td", { class: "num " + (d >= 0 ? "pos" : "neg"), text: signed(d) })); });
      const dt = r.travel_km[1] - r.travel_km[0];
      tr.appendChild(el("td", { class: "num", text: signed(dt, 1) }));
      table.appendChild(tr);
    });
    out.appendChild(table);
    const before = S.compareChanged ? Array.from(S.compareChanged) : [];
    S.compareChanged = new Set(result.changed.map((c) => c.unit));
    restyle(before.concat(Array.from(S.compareChanged)));
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("mode-click").addEventListener("click", () => setMode("click"));
    $("mode-box").addEventListener("click", () => setMode("box"));
    $("mode-lasso").addEventListener("click", () => setMode("lasso"));
    $("clear").addEventListener("click", () => { const b = Array.from(S.selected); S.selected.clear(); restyle(b); selectionChanged(); });
    $("move").addEventListener("click", () => guarded(moveSelection));
    $("target").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); guarded(moveSelection); } });
    $("lock").addEventListener("click", () => guarded(() => lockSelection(true)));
    $("unlock").addEventListener("click", () => guarded(() => lockSelection(false)));
    $("undo").addEventListener("click", () => guarded(undo));
    $("redo").addEventListener("click", () => guarded(redo));
    $("show-changes").addEventListener("change", (e) => { S.showChanges = e.target.checked; restyleAll(); });
    $("reopt").addEventListener("click", () => guarded(reoptimise));
    $("reopt-cancel").addEventListener("click", () => guarded(async () => { showJob(await api("POST", "/api/reoptimise/cancel")); }));
    $("accept").addEventListener("click", () => guarded(async () => {
      const proposal = S.proposal;
      S.proposal = null;
      applyDelta(await api("POST", "/api/proposal/accept"));
      showProposal(null);
      if (proposal) restyle(proposal.changes.map((c) => c.unit));
      status("proposal accepted (Undo reverts it)");
    }));
    $("discard").addEventListener("click", () => guarded(async () => {
      await api("POST", "/api/proposal/discard");
      showProposal(null);
      status("proposal discarded");
    }));
    $("save").addEventListener("click", () => guarded(save));
    $("compare").addEventListener("click", () => guarded(compare));
    document.addEventListener("keydown", (e) => {
      const tag = (e.target && e.target.tagName) || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
      const key = e.key.toLowerCase();
      if ((e.ctrlKey || e.metaKey) && key === "z") { e.preventDefault(); guarded(e.shiftKey ? redo : undo); }
      else if ((e.ctrlKey || e.metaKey) && key === "y") { e.preventDefault(); guarded(redo); }
      else if (e.ctrlKey || e.metaKey || e.altKey) return;
      else if (key === "escape") $("clear").click();
      else if (key === "v") setMode("click");
      else if (key === "b") setMode("box");
      else if (key === "l") setMode("lasso");
      else if (key === "m") { e.preventDefault(); $("target").focus(); }
      else if (key === "k") guarded(() => lockSelection(true));
      else if (key === "u") guarded(() => lockSelection(false));
    });
  }

  async function main() {
    const started = performance.now();
    S.timing = { start: started };
    const st = await api("GET", "/api/state");
    S.timing.state = performance.now() - started;
    S.state = st;
    S.assign = st.assignment.slice();
    S.baseline = st.baseline.slice();
    S.locked = new Set(st.locked);
    S.detached = new Set(st.figures.detached);
    S.figures = st.figures;
    document.title = st.name + " · plan studio";
    $("title").textContent = st.name;
    $("title").title = st.description || "";
    S.info = L.control({ position: "topleft" });
    S.info.onAdd = function () { this._div = el("div", { class: "info" }); return this._div; };
    S.info.addTo(map);
    fitMap();
    await drawUnits();
    S.timing.units = performance.now() - started;
    drawAreas();
    drawSeats();
    hover(null);
    renderTargets();
    renderTotals();
    renderTerritories();
    renderHistory(st.history);
    renderVersions(st.versions);
    wire();
    initDrawing();
    if (st.job && st.job.state === "running") poll(); else showJob({ job: st.job, proposal: st.proposal });
    S.firstDrawMs = performance.now() - started;
    S.ready = true;
    document.body.setAttribute("data-ready", "1");
    status("ready: " + st.units.ids.length + " units, " + st.territories.length + " territories (" + Math.round(S.firstDrawMs) + " ms)");
  }

  main().catch((err) => status(err.message, true));
})();
