/* territory_opt map viewer. Static code: every piece of data comes from the JSON element
 * #to-map-data (parsed, never evaluated) and every label is set with textContent, so no
 * account, rep or territory name can run as code. Draws each .to-map[data-panel] element. */
(function () {
  "use strict";
  var source = document.getElementById("to-map-data");
  if (!source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function tip(title, rows) {
    var box = el("div", "to-tip");
    if (title) { box.appendChild(el("b", null, title)); }
    (rows || []).forEach(function (row) {
      var line = el("div");
      if (row[0]) { line.appendChild(el("span", null, row[0] + ": ")); }
      line.appendChild(document.createTextNode(String(row[1])));
      box.appendChild(line);
    });
    return box;
  }

  function mix(a, b, s) {
    var pa = [1, 3, 5].map(function (i) { return parseInt(a.substr(i, 2), 16); });
    var pb = [1, 3, 5].map(function (i) { return parseInt(b.substr(i, 2), 16); });
    return "rgb(" + pa.map(function (v, i) { return Math.round(v + (pb[i] - v) * s); }).join(",") + ")";
  }

  function devColour(d, limit) {
    if (d === null || d === undefined) { return "#cccccc"; }
    var s = Math.max(-1, Math.min(1, d / (limit || 1)));
    return s < 0 ? mix("#f7f7f7", "#2166ac", -s) : mix("#f7f7f7", "#b2182b", s);
  }

  function draw(container, panel) {
    var T = panel.territories;
    var map = L.map(container, { maxZoom: 18, zoomSnap: 0.25 });
    var dots = L.canvas({ padding: 0.3 });
    if (data.tiles) {
      L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
        maxZoom: 19, attribution: "\u00a9 OpenStreetMap contributors"
      }).addTo(map);
    }
    var layers = [];

    if (panel.areas && panel.areas.features.length) {
      var areas = L.geoJSON(panel.areas, {
        className: "to-area",
        style: function (f) {
          return { fillColor: T[f.properties.t].colour, color: "#444444", weight: 1, fillOpacity: 0.42 };
        },
        onEachFeature: function (f, layer) {
          var t = T[f.properties.t];
          layer.bindTooltip(function () { return tip(t.title, t.info); }, { sticky: true });
          layer.on("add", function () {
            var path = layer.getElement && layer.getElement();
            if (path) { path.setAttribute("data-territory", t.id); }
          });
          layer.on("mouseover", function () { layer.setStyle({ weight: 3, fillOpacity: 0.65 }); });
          layer.on("mouseout", function () { layer.setStyle({ weight: 1, fillOpacity: 0.42 }); });
        }
      });
      layers.push({ name: panel.area_label || "Territories", layer: areas, on: true });
    }

    var pts = panel.points;
    if (pts && pts.draw && pts.lat.length) {
      var accounts = L.layerGroup();
      pts.lat.forEach(function (lat, i) {
        var t = T[pts.t[i]];
        var marker = L.circleMarker([lat, pts.lon[i]], {
          renderer: dots, radius: 3.5, weight: 0.6, color: "#222222", fillColor: t.colour, fillOpacity: 0.95
        });
        marker.bindTooltip(function () {
          return tip(pts.name[i], [["id", pts.id[i]], ["territory", t.title]]);
        });
        accounts.addLayer(marker);
      });
      layers.push({ name: pts.label, layer: accounts, on: true });
    }

    var moved = panel.moved;
    if (moved && moved.count) {
      var movedLayer = L.layerGroup();
      var movedTip = function (k) {
        return function () {
          return tip(moved.name[k], [["from", moved.from[k]], ["to", moved.to[k]]]);
        };
      };
      if (moved.areas) {
        L.geoJSON(moved.areas, {
          className: "to-moved",
          style: function () { return { fill: false, color: "#000000", weight: 2.5, dashArray: "5 4" }; },
          onEachFeature: function (f, layer) { layer.bindTooltip(movedTip(f.properties.k), { sticky: true }); }
        }).addTo(movedLayer);
      } else {
        moved.lat.forEach(function (lat, k) {
          var many = moved.lat.length > 300;  // thin rings, so a dense city stays readable
          var ring = { radius: many ? 5 : 6.5, weight: many ? 1.2 : 2.5, color: "#000000", fill: true, fillOpacity: 0, className: "to-moved" };
          if (moved.lat.length > 1500) { ring.renderer = dots; }  // many: drawn on a canvas
          L.circleMarker([lat, moved.lon[k]], ring).bindTooltip(movedTip(k)).addTo(movedLayer);
        });
      }
      layers.push({ name: moved.label, layer: movedLayer, on: !!moved.on });
    }

    if (panel.seats && panel.seats.length) {
      var seats = L.layerGroup();
      panel.seats.forEach(function (s) {
        var t = T[s.t];
        var marker = L.circleMarker([s.lat, s.lon], s.open
          ? { radius: 8, weight: 3, color: t.colour, fillColor: "#ffffff", fillOpacity: 1, dashArray: "3 2", className: "to-seat to-open" }
          : { radius: 7, weight: 2, color: "#000000", fillColor: t.colour, fillOpacity: 1, className: "to-seat" });
        marker.bindTooltip(function () {
          return tip(s.open ? "Open seat " + t.id : "Home base of " + t.name,
            s.open ? [["location", "chosen by the optimiser (centre of its accounts)"]] : [["territory", t.id]]);
        });
        seats.addLayer(marker);
      });
      layers.push({ name: panel.seat_label || "Home bases", layer: seats, on: true });
    }

    var labels = L.layerGroup();
    T.forEach(function (t) {
      if (!t.label) { return; }
      var box = el("div");
      box.appendChild(el("div", null, t.id));
      labels.addLayer(L.tooltip({ permanent: true, direction: "center", className: "to-label", interactive: false })
        .setLatLng(t.label).setContent(box));
    });
    if (T.length) { layers.push({ name: "Territory labels", layer: labels, on: T.length <= 40 }); }

    var scale = null;
    if (panel.areas && panel.areas.features.length && panel.measure) {
      var limit = panel.dev_limit || 1;
      var devLayer = L.geoJSON(panel.areas, {
        style: function (f) {
          return { fillColor: devColour(T[f.properties.t].dev, limit), color: "#555555", weight: 1, fillOpacity: 0.8 };
        },
        onEachFeature: function (f, layer) {
          var t = T[f.properties.t];
          layer.bindTooltip(function () {
            return tip(t.id, [[panel.measure + " vs target", t.dev === null ? "n/a" : (t.dev >= 0 ? "+" : "") + t.dev.toFixed(1) + "%"]]);
          }, { sticky: true });
        }
      });
      scale = el("div");
      scale.appendChild(el("div", null, panel.measure + ": deviation from target"));
      var bar = el("div", "to-scale");
      bar.style.background = "linear-gradient(to right," + [-1, -0.5, 0, 0.5, 1].map(function (s) { return devColour(s * limit, limit); }).join(",") + ")";
      scale.appendChild(bar);
      var ends = el("div");
      ends.style.display = "flex"; ends.style.justifyContent = "space-between";
      ends.appendChild(el("span", null, "-" + limit.toFixed(1) + "%"));
      ends.appendChild(el("span", null, "+" + limit.toFixed(1) + "%"));
      scale.appendChild(ends);
      scale.style.display = "none";
      layers.push({ name: "Balance: " + panel.measure, layer: devLayer, on: false, scale: scale });
    }

    // the panel: title, layer switches, legend, notes
    var box = el("div", "to-panel");
    var folder = el("details");
    folder.open = !panel.collapsed;
    folder.appendChild(el("summary", "to-title", panel.title || "Legend"));
    var switches = el("div");
    layers.forEach(function (item) {
      var row = el("label");
      var check = el("input");
      check.type = "checkbox";
      check.checked = item.on;
      row.appendChild(check);
      row.appendChild(document.createTextNode(" " + item.name));
      check.addEventListener("change", function () {
        if (check.checked) { map.addLayer(item.layer); } else { map.removeLayer(item.layer); }
        if (item.scale) { item.scale.style.display = check.checked ? "" : "none"; }
      });
      switches.appendChild(row);
      if (item.on) { item.layer.addTo(map); }
    });
    folder.appendChild(switches);
    if (scale) { folder.appendChild(scale); }
    var legend = el("div", "to-legend");
    var head = el("div", "to-legend-item to-title");
    head.appendChild(el("span", "to-grow", "Territories (" + T.length + ")"));
    if (panel.measure) { head.appendChild(el("span", "to-dev", panel.measure + " vs target")); }
    legend.appendChild(head);
    T.forEach(function (t) {
      var item = el("div", "to-legend-item");
      item.setAttribute("data-territory", t.id);
      var swatch = el("span", "to-swatch");
      swatch.style.background = t.colour;
      item.appendChild(swatch);
      item.appendChild(el("span", "to-grow", t.title));
      if (t.dev !== null && t.dev !== undefined) {
        item.appendChild(el("span", "to-dev", (t.dev >= 0 ? "+" : "") + t.dev.toFixed(1) + "%"));
      }
      legend.appendChild(item);
    });
    var below = document.querySelector('[data-legend="' + container.getAttribute("data-panel") + '"]');
    (below || folder).appendChild(legend);
    (panel.notes || []).forEach(function (note) { (below || folder).appendChild(el("div", "to-note", note)); });
    box.appendChild(folder);
    var Panel = L.Control.extend({ onAdd: function () { return box; } });
    new Panel({ position: "topright" }).addTo(map);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    L.control.scale().addTo(map);
    if (panel.bounds) { map.fitBounds(panel.bounds, { padding: [10, 10] }); } else { map.setView([0, 0], 2); }
    return map;
  }

  var maps = [];
  Array.prototype.forEach.call(document.querySelectorAll(".to-map[data-panel]"), function (container) {
    var panel = data.panels[Number(container.getAttribute("data-panel"))];
    if (!panel) { return; }
    try {
      maps.push(draw(container, panel));
      container.setAttribute("data-ready", "1");
    } catch (err) {
      container.textContent = "The map could not be drawn: " + err;
      throw err;
    }
  });
  window.territoryMaps = maps;  // for notebooks and tests: the Leaflet maps drawn
  if (data.sync && maps.length === 2 && maps[0].sync) {
    maps[0].sync(maps[1]);
    maps[1].sync(maps[0]);
  }
})();
