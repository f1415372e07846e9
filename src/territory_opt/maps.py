"""Interactive folium maps of a plan, self-contained and safe.

Every string from the user's data (account, rep and territory names and ids) is
HTML-escaped before it reaches the page. Leaflet and its marker-cluster plugin are inlined
from the vendored copies in ``_vendor/`` so a map opens offline as one file; the base map
tiles (OpenStreetMap) need a network connection and are optional.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from typing import Any

import branca
import folium
import geopandas as gpd
import numpy as np
from folium.plugins import MarkerCluster
from numpy.typing import NDArray

from .datasets import SYNTHETIC_NOTE, ZIP_NOTE
from .plan import Plan
from .problem import Problem

#: Colour-blind-safe qualitative colours (Okabe-Ito, then Paul Tol's muted and bright sets).
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288",
    "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#DDCC77", "#88CCEE", "#661100",
)  # fmt: skip


def territory_colours(problem: Problem, seat_of: NDArray[np.int64]) -> list[str]:
    """One colour per territory; neighbouring territories never share one (greedy
    colouring of the territory adjacency graph, most-connected first)."""
    k = problem.n_seats
    neighbours: list[set[int]] = [set() for _ in range(k)]
    if problem.edges is not None and len(problem.edges):
        a, b = seat_of[problem.edges[:, 0]], seat_of[problem.edges[:, 1]]
        for x, y in zip(a[a != b].tolist(), b[a != b].tolist(), strict=True):
            neighbours[x].add(y)
            neighbours[y].add(x)
    colour = [-1] * k
    count = [0] * len(PALETTE)
    for t in sorted(range(k), key=lambda t: -len(neighbours[t])):
        used = {colour[n] for n in neighbours[t]}
        free = [c for c in range(len(PALETTE)) if c not in used] or list(range(len(PALETTE)))
        # the least-used free colour: neighbours differ and the whole palette gets used
        colour[t] = min(free, key=lambda c: (count[c], c))
        count[colour[t]] += 1
    return [PALETTE[c] for c in colour]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _territory_rows(plan: Plan, quotas: Any | None) -> list[dict[str, str]]:
    table = plan.territories
    quota = None if quotas is None else quotas.table.set_index("territory_id")["quota"]
    rows = []
    for _, row in table.iterrows():
        item = {"territory": _e(row["territory_id"]), "rep": _e(row["name"]), "units": f"{int(row['units']):,}"}
        for name in plan.problem.measure_names:
            item[name] = f"{row[name]:,.0f} (target {row[name + '_target']:,.0f}, {row[name + '_dev_pct']:+.1f}%)"
        item["travel_km"] = f"{row['travel_km']:,.1f}"
        if quota is not None:
            item["quota"] = f"{quota.get(row['territory_id'], float('nan')):,.0f}"
        rows.append(item)
    return rows


def plan_map(
    plan: Plan,
    *,
    geometry: gpd.GeoSeries | None = None,
    quotas: Any | None = None,
    tiles: bool = True,
    max_points: int = 3000,
    simplify_m: float | None = None,
) -> folium.Map:
    """A folium map of a plan.

    Layers: territories (dissolved unit polygons, or account points), rep home bases,
    units moved from the current alignment (from → to), balance deviation of the first
    measure (choropleth), a legend and a layer control.

    Parameters
    ----------
    geometry : GeoSeries, optional
        Unit polygons in EPSG:4326, in unit order (geographic units).
    quotas : QuotaResult, optional
        Adds each territory's quota to the tooltips.
    tiles : bool
        OpenStreetMap base tiles (need a network connection when the map is opened).
    max_points : int
        Account points drawn at most (a seeded sample beyond that, said in the legend).
    simplify_m : float, optional
        Simplification of territory outlines [m]; by default scaled to the map's extent so
        that a 3,100-county plan stays a few MB.
    """
    colours = territory_colours(plan.problem, np.asarray(plan.seat_of))
    m = folium.Map(
        tiles="OpenStreetMap" if tiles else None, control_scale=True, prefer_canvas=True, max_zoom=18, maxZoom=18
    )  # the map needs maxZoom without tiles (marker clusters)
    bounds, dev, first = _plan_layers(
        m, plan, colours, geometry=geometry, quotas=quotas, max_points=max_points, simplify_m=simplify_m
    )
    _legend(m, plan.problem, colours, dev, first)
    _data_caption(m, plan.notes)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


def _data_caption(m: folium.Map, notes: tuple[str, ...]) -> None:
    """Say on the map when what it shows is approximate or synthetic (ZIP areas built from points)."""
    shown = [n for n in notes if ZIP_NOTE in n or SYNTHETIC_NOTE in n]
    if not shown:
        return
    caption = (
        '<div id="to-data-caption" style="position:absolute;bottom:40px;left:10px;z-index:1000;background:white;'
        'padding:4px 6px;border:1px solid #999;border-radius:4px;max-width:45%;font:11px sans-serif">'
        + "<br>".join(_e(n) for n in shown)
        + "</div>"
    )
    m.get_root().html.add_child(branca.element.Element(caption))  # type: ignore[attr-defined]


def _plan_layers(
    m: folium.Map,
    plan: Plan,
    colours: list[str],
    *,
    geometry: gpd.GeoSeries | None,
    quotas: Any | None,
    max_points: int,
    simplify_m: float | None,
    gradient: bool = True,
) -> tuple[list[list[float]] | None, NDArray[np.float64], str | None]:
    """Territory, deviation, moved-unit and home-base layers of one plan on ``m``."""
    problem = plan.problem
    seat_of = np.asarray(plan.seat_of)
    rows = _territory_rows(plan, quotas)
    fields = list(rows[0].keys()) if rows else []
    first = problem.measure_names[0] if problem.measure_names else None
    dev = plan.territories[f"{first}_dev_pct"].to_numpy(float) if first else np.zeros(problem.n_seats)
    bounds = None

    if geometry is not None:
        frame = gpd.GeoDataFrame({"t": seat_of}, geometry=geometry.to_numpy(), crs="EPSG:4326")
        metric_units = frame.to_crs("EPSG:3857")
        span = float(max(np.ptp(metric_units.total_bounds[[0, 2]]), np.ptp(metric_units.total_bounds[[1, 3]])))
        tol = simplify_m if simplify_m is not None else max(span / 2000.0, 50.0)
        # close the slivers between separately simplified unit outlines before dissolving
        grow = max(tol, 600.0)
        metric_units["geometry"] = metric_units.geometry.buffer(grow, quad_segs=2)
        metric = metric_units.dissolve(by="t").reset_index()
        metric["geometry"] = metric.geometry.buffer(-grow, quad_segs=2).simplify(tol)
        dissolved = metric.to_crs("EPSG:4326")
        dissolved["geometry"] = dissolved.geometry.set_precision(1e-4).to_numpy()
        props = []
        for t in dissolved["t"].tolist():
            props.append({**rows[t], "colour": colours[t], "dev": float(dev[t])})
        features = json.loads(dissolved[["geometry"]].to_json())["features"]
        for feature, prop in zip(features, props, strict=True):
            feature["properties"] = prop
        collection = {"type": "FeatureCollection", "features": features}
        folium.GeoJson(
            collection,
            name="Territories",
            style_function=lambda f: {
                "fillColor": f["properties"]["colour"],
                "color": "#333333",
                "weight": 1,
                "fillOpacity": 0.6,
            },
            highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.8},
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[f"{f}:" for f in fields], sticky=True),
        ).add_to(m)
        scale = branca.colormap.LinearColormap(
            ["#2166AC", "#F7F7F7", "#B2182B"],
            vmin=-max(abs(dev).max(), 1e-9),
            vmax=max(abs(dev).max(), 1e-9),
            caption=f"{first} deviation from target [%]",
        )
        folium.GeoJson(
            collection,
            name=f"Balance deviation ({first})",
            show=False,
            style_function=lambda f: {
                "fillColor": scale(f["properties"]["dev"]),
                "color": "#555555",
                "weight": 1,
                "fillOpacity": 0.75,
            },
            tooltip=folium.GeoJsonTooltip(fields=["territory", "dev"], aliases=["territory:", "deviation %:"]),
        ).add_to(m)
        if gradient:
            _gradient_legend(m, scale, f"{first} deviation from target [%]")
        moved = np.flatnonzero((problem.owner >= 0) & (problem.owner != seat_of))
        if len(moved):
            moved_frame = gpd.GeoDataFrame(
                {
                    "unit": [_e(problem.unit_names[u]) for u in moved],
                    "from": [_e(problem.seat_ids[problem.owner[u]]) for u in moved],
                    "to": [_e(problem.seat_ids[seat_of[u]]) for u in moved],
                },
                geometry=frame.geometry.iloc[moved].to_crs("EPSG:3857").simplify(tol).to_crs("EPSG:4326").to_numpy(),
                crs="EPSG:4326",
            )
            folium.GeoJson(
                moved_frame.__geo_interface__,
                name=f"Moved units ({len(moved):,})",
                show=False,
                style_function=lambda f: {"fillColor": "none", "color": "#000000", "weight": 2, "dashArray": "4"},
                tooltip=folium.GeoJsonTooltip(fields=["unit", "from", "to"], aliases=["unit:", "from:", "to:"]),
            ).add_to(m)
        b = dissolved.total_bounds
        bounds = [[b[1], b[0]], [b[3], b[2]]]
    elif problem.unit_lonlat is not None:
        lonlat = problem.unit_lonlat
        rng = np.random.default_rng(0)
        shown = (
            np.arange(problem.n_units)
            if problem.n_units <= max_points
            else np.sort(rng.choice(problem.n_units, max_points, replace=False))
        )
        cluster = MarkerCluster(name=f"Accounts ({len(shown):,} of {problem.n_units:,})").add_to(m)
        for u in shown.tolist():
            t = int(seat_of[u])
            moved_txt = ""
            if problem.owner[u] >= 0 and problem.owner[u] != t:
                moved_txt = f"<br>moved from {_e(problem.seat_ids[problem.owner[u]])}"
            folium.CircleMarker(
                location=[float(lonlat[u, 1]), float(lonlat[u, 0])],
                radius=4,
                color=colours[t],
                fill=True,
                fill_opacity=0.8,
                weight=1,
                tooltip=f"{_e(problem.unit_names[u])} → {_e(problem.seat_ids[t])}{moved_txt}",
            ).add_to(cluster)
        lo, hi = lonlat[shown].min(axis=0), lonlat[shown].max(axis=0)
        bounds = [[float(lo[1]), float(lo[0])], [float(hi[1]), float(hi[0])]]

    if problem.seat_lonlat is not None:
        homes = folium.FeatureGroup(name="Rep home bases").add_to(m)
        for t in range(problem.n_seats):
            lon, lat = problem.seat_lonlat[t]
            if np.isnan(lon):
                continue
            folium.CircleMarker(
                location=[float(lat), float(lon)],
                radius=7,
                color="#000000",
                weight=2,
                fill=True,
                fill_color=colours[t],
                fill_opacity=1.0,
                tooltip=f"home of {_e(problem.seat_names[t])} ({_e(problem.seat_ids[t])})",
            ).add_to(homes)
    return bounds, dev, first


def compare_map(
    before: Plan,
    after: Plan,
    *,
    geometry: gpd.GeoSeries | None = None,
    tiles: bool = True,
    max_points: int = 2000,
) -> folium.plugins.DualMap:
    """Two plans side by side on synchronised maps (pan and zoom together), for what-ifs.

    Both sides use the first plan's colours so a territory keeps its colour across them
    (when the seats differ, e.g. reps added, each side gets its own colouring).
    """
    from folium.plugins import DualMap

    colours = territory_colours(before.problem, np.asarray(before.seat_of))
    m = DualMap(tiles="OpenStreetMap" if tiles else None, max_zoom=18, maxZoom=18)
    bounds = None
    same_seats = list(map(str, after.problem.seat_ids)) == list(map(str, before.problem.seat_ids))
    after_colours = colours if same_seats else territory_colours(after.problem, np.asarray(after.seat_of))
    for side, plan, palette in ((m.m1, before, colours), (m.m2, after, after_colours)):
        b, _, _ = _plan_layers(
            side, plan, palette, geometry=geometry, quotas=None, max_points=max_points, simplify_m=None, gradient=False
        )
        bounds = bounds or b
    titles = (
        '<div id="to-compare" style="position:absolute;top:8px;left:0;width:100%;z-index:1000;pointer-events:none;font:13px sans-serif">'
        f'<span data-side="left" style="position:absolute;left:25%;background:white;padding:2px 6px;border:1px solid #999">{_e(before.scenario)}</span>'
        f'<span data-side="right" style="position:absolute;left:75%;background:white;padding:2px 6px;border:1px solid #999">{_e(after.scenario)}</span></div>'
    )
    m.get_root().html.add_child(branca.element.Element(titles))  # type: ignore[attr-defined]
    folium.LayerControl(collapsed=True).add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


def _gradient_legend(m: folium.Map, scale: branca.colormap.LinearColormap, caption: str) -> None:
    """A plain HTML colour bar (branca's own legend needs d3 from a CDN)."""
    stops = ", ".join(scale(scale.vmin + (scale.vmax - scale.vmin) * i / 10) for i in range(11))
    bar = (
        '<div id="to-scale" style="position:absolute;top:10px;left:60px;z-index:1000;background:white;padding:4px 8px;'
        'border:1px solid #999;border-radius:4px;font:11px sans-serif">'
        f'{_e(caption)}<div style="width:200px;height:10px;background:linear-gradient(to right, {stops})"></div>'
        f'<span>{scale.vmin:+.1f}</span><span style="float:right">{scale.vmax:+.1f}</span></div>'
    )
    m.get_root().html.add_child(branca.element.Element(bar))  # type: ignore[attr-defined]


def _legend(m: folium.Map, problem: Problem, colours: list[str], dev: NDArray[np.float64], first: str | None) -> None:
    items = "".join(
        f'<div class="to-legend-item" data-territory="{_e(problem.seat_ids[t])}"><span style="background:{colours[t]}"></span>'
        f"{_e(problem.seat_ids[t])} · {_e(problem.seat_names[t])}"
        + (f" ({dev[t]:+.1f}% {_e(first)})" if first else "")
        + "</div>"
        for t in range(problem.n_seats)
    )
    legend = (
        '<div id="to-legend" style="position:absolute;bottom:24px;right:10px;z-index:1000;background:white;'
        'padding:6px 8px;border:1px solid #999;border-radius:4px;max-height:40%;overflow:auto;font:12px sans-serif">'
        "<b>Territories</b>" + items + "</div>"
        "<style>.to-legend-item span{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}</style>"
    )
    m.get_root().html.add_child(branca.element.Element(legend))  # type: ignore[attr-defined]


def _vendor(name: str) -> str:
    return (files("territory_opt") / "_vendor" / name).read_text(encoding="utf-8")


def map_html(m: folium.Map | folium.plugins.DualMap) -> str:
    """The map as one self-contained HTML page (Leaflet inlined, no CDN needed)."""
    page = m.get_root().render()
    inline_js = {
        "leaflet.js": _vendor("leaflet.js"),
        "leaflet.markercluster.js": _vendor("leaflet.markercluster.js"),
        "L.Map.Sync.min.js": _vendor("L.Map.Sync.js"),
    }
    inline_css = {
        "leaflet.css": _vendor("leaflet.css"),
        "MarkerCluster.css": _vendor("MarkerCluster.css"),
        "MarkerCluster.Default.css": _vendor("MarkerCluster.Default.css"),
    }
    import re

    def script(match: re.Match[str]) -> str:
        url = match.group(1)
        for name, code in inline_js.items():
            if url.endswith("/" + name):
                return "<script>" + code.replace("</script", "<\\/script") + "</script>"
        return ""  # jquery, bootstrap, awesome-markers: not used by our maps

    def link(match: re.Match[str]) -> str:
        url = match.group(1)
        for name, code in inline_css.items():
            if url.endswith("/" + name):
                return "<style>" + code + "</style>"
        return ""

    page = re.sub(r'<script src="(https?://[^"]+)"></script>', script, page)
    page = re.sub(r'<link rel="stylesheet" href="(https?://[^"]+)"/>', link, page)
    return page
