"""Maps of plans a VP can read: territories as coloured areas with labels, accounts coloured
by territory, home bases and open seats, moved accounts, a legend in the same palette.

* Geographic units (counties, ZIPs): a territory's area is the dissolved outline of its units.
* Account plans: a territory's area is the union of the Voronoi cells of its accounts,
  clipped to the region the accounts cover (their convex hull with a margin) and to land
  polygons when they are given. That is the map a planner draws by hand: every place belongs
  to the territory of the nearest account.

The map is a static Leaflet page (:mod:`territory_opt.pages`): the plan's figures travel as
JSON and the page sets every label as text, so names from a CRM cannot run as code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from .datasets import SYNTHETIC_NOTE, ZIP_NOTE
from .pages import e, embed_json, map_assets, money, number, page
from .plan import Plan
from .problem import Problem

#: Colour-blind-safe qualitative colours (Okabe-Ito, then Paul Tol's muted and bright sets).
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288",
    "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#DDCC77", "#88CCEE", "#661100",
)  # fmt: skip

#: Measures shown as money (the rest as plain numbers).
MONEY_MEASURES = ("potential", "history", "revenue", "sales", "quota")


def territory_colours(
    problem: Problem, seat_of: NDArray[np.int64], *, pairs: NDArray[np.int64] | None = None
) -> list[str]:
    """One colour per territory; neighbouring territories never share one while the palette
    lasts (greedy colouring of the territory adjacency graph, most-connected first).

    Neighbours come from the units' adjacency (``problem.edges``) and from ``pairs`` of
    territories known to touch (e.g. account areas)."""
    k = problem.n_seats
    neighbours: list[set[int]] = [set() for _ in range(k)]
    found: list[tuple[int, int]] = []
    if problem.edges is not None and len(problem.edges):
        a, b = seat_of[problem.edges[:, 0]], seat_of[problem.edges[:, 1]]
        found += list(zip(a[a != b].tolist(), b[a != b].tolist(), strict=True))
    if pairs is not None and len(pairs):
        found += [(int(x), int(y)) for x, y in pairs if x != y]
    for x, y in found:
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


# ----------------------------------------------------------------------------- areas


def _transformers() -> tuple[Any, Any]:
    from pyproj import Transformer

    return (
        Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True),
        Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True),
    )


def account_areas(
    lonlat: NDArray[np.float64],
    seat_of: NDArray[np.int64],
    n_territories: int,
    *,
    land: Any | None = None,
    simplify_m: float | None = None,
) -> list[Any]:
    """Each territory's area for an account plan: the union of its accounts' Voronoi cells,
    clipped to the accounts' convex hull (with a margin) and to ``land`` when given.

    Parameters
    ----------
    lonlat : (n, 2) float
        Account locations [degrees].
    seat_of : (n,) int
        Territory of each account.
    land : shapely geometry or GeoSeries, optional
        Land (or region) polygons in EPSG:4326; areas are clipped to them.
    simplify_m : float, optional
        Outline simplification [m] (default: 1/1500 of the map's extent).

    Returns
    -------
    list
        One shapely geometry (EPSG:4326) per territory, None for a territory without accounts.
    """
    fwd, back = _transformers()
    lonlat = np.asarray(lonlat, dtype=float)
    ok = np.isfinite(lonlat).all(axis=1)
    x, y = fwd.transform(lonlat[ok, 0], lonlat[ok, 1])
    xy = np.column_stack([x, y])
    seats = np.asarray(seat_of)[ok]
    areas: list[Any] = [None] * n_territories
    if not len(xy):
        return areas
    # one cell per distinct place (10 m); accounts sharing a place share its cell
    _, first, inverse = np.unique(np.round(xy / 10.0), axis=0, return_index=True, return_inverse=True)
    pts = xy[first]
    owner = seats[first]
    span = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 2000.0))
    region = shapely.convex_hull(shapely.multipoints(pts)).buffer(max(0.03 * span, 2000.0))
    if land is not None:
        parts = shapely.transform(
            np.asarray(getattr(land, "values", land), dtype=object).ravel(),
            lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])),
        )
        # close the slivers between separately simplified polygons (county outlines)
        grow = max(0.002 * span, 500.0)
        land_metric = shapely.union_all(shapely.buffer(parts, grow, quad_segs=2)).buffer(-grow, quad_segs=2)
        clipped = region.intersection(land_metric)
        if not clipped.is_empty:
            region = clipped
    tol = simplify_m if simplify_m is not None else max(span / 1500.0, 20.0)
    try:
        cells = np.asarray(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=region, ordered=True).geoms)
        if len(cells) != len(pts):
            raise ValueError("voronoi cells do not match the points")
    except (ValueError, shapely.errors.GEOSException):  # fewer than 3 places, or all on a line
        cells = np.asarray([shapely.Point(p).buffer(span) for p in pts])
    del inverse
    for t in range(n_territories):
        mine = cells[owner == t]
        if not len(mine):
            if (seats == t).any():  # every account of t shares a place with another territory's
                areas[t] = shapely.Point(xy[seats == t][0]).buffer(tol * 5)
            else:
                continue
        else:
            try:
                merged = shapely.coverage_union_all(mine)
            except shapely.errors.GEOSException:
                merged = shapely.union_all(mine)
            areas[t] = merged.intersection(region).simplify(tol)
        areas[t] = shapely.transform(areas[t], lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))
    return areas


def unit_areas(
    geometry: gpd.GeoSeries, seat_of: NDArray[np.int64], n_territories: int, *, simplify_m: float | None = None
) -> list[Any]:
    """Each territory's area for a plan of geographic units: its units' polygons dissolved
    (slivers between separately simplified outlines closed first), EPSG:4326."""
    frame = gpd.GeoDataFrame({"t": np.asarray(seat_of)}, geometry=geometry.to_numpy(), crs="EPSG:4326")
    metric = frame.to_crs("EPSG:3857")
    b = metric.total_bounds
    span = float(max(b[2] - b[0], b[3] - b[1]))
    tol = simplify_m if simplify_m is not None else max(span / 2000.0, 50.0)
    grow = max(tol, 600.0)
    metric["geometry"] = metric.geometry.buffer(grow, quad_segs=2)
    dissolved = metric.dissolve(by="t")
    dissolved["geometry"] = dissolved.geometry.buffer(-grow, quad_segs=2).simplify(tol)
    dissolved = dissolved.to_crs("EPSG:4326")
    areas: list[Any] = [None] * n_territories
    for t, geom in zip(dissolved.index.tolist(), dissolved.geometry.to_numpy(), strict=True):
        areas[int(t)] = shapely.set_precision(geom, 1e-5)
    return areas


def _touching(areas: list[Any]) -> NDArray[np.int64]:
    """Pairs of territories whose areas touch (for the colouring)."""
    index = [t for t, a in enumerate(areas) if a is not None and not a.is_empty]
    if len(index) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    geoms = np.asarray([areas[t].buffer(1e-4) for t in index])
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    return np.column_stack([np.asarray(index)[a[keep]], np.asarray(index)[b[keep]]])


def _label_point(geom: Any) -> list[float] | None:
    if geom is None or geom.is_empty:
        return None
    parts = list(getattr(geom, "geoms", [geom]))
    biggest = max(parts, key=lambda g: g.area)
    p = biggest.point_on_surface()
    return [round(p.y, 5), round(p.x, 5)]


def _features(geoms: list[Any], props: list[dict[str, Any]]) -> dict[str, Any]:
    features = []
    for geom, prop in zip(geoms, props, strict=True):
        if geom is None or geom.is_empty:
            continue
        features.append({"type": "Feature", "properties": prop, "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def _rounded(geom: Any) -> Any:
    return shapely.set_precision(geom, 1e-5) if geom is not None else None


# ----------------------------------------------------------------------------- panels


def _fmt_measure(name: str, value: float, currency: str) -> str:
    return money(value, currency) if name in MONEY_MEASURES else number(value)


def _seat_label(problem: Problem, t: int) -> str:
    tid, name = str(problem.seat_ids[t]), str(problem.seat_names[t])
    return tid if name in ("", tid) else f"{tid} · {name}"


def map_panel(
    plan: Plan,
    *,
    geometry: gpd.GeoSeries | None = None,
    land: Any | None = None,
    quotas: Any | None = None,
    colours: list[str] | None = None,
    max_points: int = 5000,
    simplify_m: float | None = None,
    title: str | None = None,
    currency: str = "$",
) -> dict[str, Any]:
    """The JSON-ready drawing of one plan (areas, points, seats, moved units, legend).

    ``geometry``: unit polygons (EPSG:4326) in unit order for geographic units; without it
    the units are drawn as points with Voronoi areas (``land`` clips them)."""
    problem = plan.problem
    seat_of = np.asarray(plan.seat_of)
    k = problem.n_seats
    polygons = geometry is not None
    areas = _areas(problem, seat_of, geometry, land, simplify_m)
    if colours is None:
        colours = territory_colours(problem, seat_of, pairs=None if polygons else _touching(areas))
    frame = plan.territories
    first = problem.measure_names[0] if problem.measure_names else None
    dev = frame[f"{first}_dev_pct"].to_numpy(float) if first and f"{first}_dev_pct" in frame else np.full(k, np.nan)
    panel: dict[str, Any] = {
        "title": title if title is not None else (plan.scenario or "Territory plan"),
        "territories": _territory_entries(
            plan, areas, colours, dev, quotas=quotas, currency=currency, polygons=polygons
        ),
        "areas": _features([_rounded(a) for a in areas], [{"t": t} for t in range(k)]),
        "area_label": "Territories" if polygons else "Territory areas (nearest account)",
        "measure": first,
        "dev_limit": float(np.nanmax(np.abs(dev))) if np.isfinite(dev).any() and np.nanmax(np.abs(dev)) > 0 else 1.0,
        "notes": [],
    }
    if problem.unit_lonlat is not None:  # drawn for account plans; kept for comparisons of unit plans
        panel["points"] = _unit_points(problem, seat_of, polygons=polygons, max_points=max_points)
        shown, n = len(panel["points"]["id"]), problem.n_units
        if shown < n and not polygons:
            panel["notes"].append(f"{shown:,} of {n:,} accounts drawn (a seeded sample); areas use all of them.")
    panel["seats"] = _seat_markers(plan)
    n_open = sum(s["open"] for s in panel["seats"])
    panel["seat_label"] = "Home bases" + (f" and open seats ({n_open})" if n_open else "")
    if n_open:
        panel["notes"].append("Dashed white circles: open seats at the location the optimiser chose.")
    # moved units (against the current owner, leavers included when the plan says so)
    assignment = plan.assignment
    moved = np.flatnonzero(assignment["moved"].to_numpy(bool))
    panel["moved"] = _moved(problem, geometry, moved, assignment, noun="units" if polygons else "accounts", on=False)
    bounds = _bounds(problem, areas if panel["areas"]["features"] else None)
    if bounds is not None:
        panel["bounds"] = bounds
    return panel


def _areas(
    problem: Problem, seat_of: NDArray[np.int64], geometry: Any, land: Any, simplify_m: float | None
) -> list[Any]:
    """Each territory's area: its units' polygons merged, or for accounts the Voronoi cells
    of its accounts (clipped to ``land``); None for each when there are no locations."""
    k = problem.n_seats
    if geometry is not None:
        return unit_areas(geometry, seat_of, k, simplify_m=simplify_m)
    if problem.unit_lonlat is not None:
        return account_areas(problem.unit_lonlat, seat_of, k, land=land, simplify_m=simplify_m)
    return [None] * k


def _territory_entries(
    plan: Plan,
    areas: list[Any],
    colours: list[str],
    dev: NDArray[np.float64],
    *,
    quotas: Any | None,
    currency: str,
    polygons: bool,
) -> list[dict[str, Any]]:
    """One entry per territory: name, colour, label point, first measure's deviation and the
    lines of its info box (rep, units, each measure against its target, travel, quota)."""
    problem = plan.problem
    seat_of = np.asarray(plan.seat_of)
    noun = "units" if polygons else "accounts"
    quota = None
    if quotas is not None:
        quota = dict(zip(quotas.table["territory_id"].astype(str), quotas.table["quota"], strict=True))
    territories = []
    for t, row in enumerate(plan.territories.to_dict("records")):
        tid = str(problem.seat_ids[t])
        info: list[list[str]] = [["rep", str(problem.seat_names[t])], [noun, number(row["units"])]]
        for name in problem.measure_names:
            value = _fmt_measure(name, row[name], currency)
            target = _fmt_measure(name, row[f"{name}_target"], currency)
            info.append([name, f"{value} (target {target}, {row[f'{name}_dev_pct']:+.1f}%)"])
        if "travel_km" in row:
            info.append(["mean travel", f"{number(row['travel_km'], 1)} km"])
        if quota is not None and tid in quota:
            info.append(["quota", money(quota[tid], currency)])
        lonlat = problem.unit_lonlat
        label = _label_point(areas[t])
        if label is None and lonlat is not None and (seat_of == t).any():
            med = np.nanmedian(lonlat[seat_of == t], axis=0)
            label = [round(float(med[1]), 5), round(float(med[0]), 5)]
        territories.append(
            {
                "id": tid,
                "name": str(problem.seat_names[t]),
                "title": _seat_label(problem, t),
                "colour": colours[t],
                "info": info,
                "dev": float(dev[t]) if np.isfinite(dev[t]) else None,
                "label": label,
            }
        )
    return territories


def _unit_points(problem: Problem, seat_of: NDArray[np.int64], *, polygons: bool, max_points: int) -> dict[str, Any]:
    """The units as points (at most ``max_points``: a seeded sample), drawn for account plans."""
    assert problem.unit_lonlat is not None
    lonlat = problem.unit_lonlat
    n = problem.n_units
    shown = np.arange(n) if n <= max_points else np.sort(np.random.default_rng(0).choice(n, max_points, replace=False))
    return {
        "draw": not polygons,
        "label": f"Accounts ({len(shown):,} of {n:,})" if len(shown) < n else f"Accounts ({n:,})",
        "id": [str(problem.unit_ids[u]) for u in shown],
        "name": [str(problem.unit_names[u]) for u in shown],
        "lat": np.round(lonlat[shown, 1], 5).tolist(),
        "lon": np.round(lonlat[shown, 0], 5).tolist(),
        "t": seat_of[shown].tolist(),
    }


def _seat_markers(plan: Plan) -> list[dict[str, Any]]:
    """Home bases, and the location chosen for seats without one (open seats)."""
    problem = plan.problem
    seats = []
    for t in range(problem.n_seats):
        lon, lat = (np.nan, np.nan) if problem.seat_lonlat is None else problem.seat_lonlat[t]
        is_open = not np.isfinite(lon)
        if is_open:
            c = int(plan.centres[t]) if len(plan.centres) > t else -1
            if c < 0 or problem.unit_lonlat is None:
                continue
            lon, lat = problem.unit_lonlat[c]
        seats.append({"t": t, "lat": round(float(lat), 5), "lon": round(float(lon), 5), "open": is_open})
    return seats


def _bounds(problem: Problem, areas: list[Any] | None) -> list[list[float]] | None:
    """The map's extent ``[[south, west], [north, east]]``: the areas', else the units'."""
    if areas is not None:
        b = np.asarray([a.bounds for a in areas if a is not None and not a.is_empty])
        return [[float(b[:, 1].min()), float(b[:, 0].min())], [float(b[:, 3].max()), float(b[:, 2].max())]]
    if problem.unit_lonlat is not None and np.isfinite(problem.unit_lonlat).any():
        lo, hi = np.nanmin(problem.unit_lonlat, axis=0), np.nanmax(problem.unit_lonlat, axis=0)
        return [[float(lo[1]), float(lo[0])], [float(hi[1]), float(hi[0])]]
    return None


def _moved(
    problem: Problem,
    geometry: gpd.GeoSeries | None,
    moved: NDArray[np.int64],
    assignment: Any,
    *,
    noun: str,
    on: bool,
    max_drawn: int = 5000,
) -> dict[str, Any]:
    shown = moved[:max_drawn]
    names = {str(s): f"{s} · {n} (removed)" for s, n in getattr(problem, "removed_seats", ())}
    names |= {str(s): _seat_label(problem, t) for t, s in enumerate(problem.seat_ids)}
    prev = assignment["previous_territory_id"].astype(str).to_numpy()
    new = assignment["territory_id"].astype(str).to_numpy()
    out: dict[str, Any] = {
        "count": len(moved),
        "label": f"Moved {noun} ({len(moved):,})",
        "on": on,
        "name": [str(problem.unit_names[u]) for u in shown],
        "from": [names.get(prev[u], prev[u] + " (no longer a seat)") if prev[u] else "(no owner)" for u in shown],
        "to": [names.get(new[u], new[u]) for u in shown],
    }
    if geometry is not None and len(shown):
        metric = gpd.GeoSeries(geometry.iloc[shown].to_numpy(), crs="EPSG:4326").to_crs("EPSG:3857")
        b = metric.total_bounds
        tol = max(max(b[2] - b[0], b[3] - b[1]) / 2000.0, 50.0)
        geoms = metric.simplify(tol).to_crs("EPSG:4326").to_numpy()
        out["areas"] = _features([_rounded(g) for g in geoms], [{"k": k} for k in range(len(shown))])
    elif problem.unit_lonlat is not None:
        out["lat"] = np.round(problem.unit_lonlat[shown, 1], 5).tolist()
        out["lon"] = np.round(problem.unit_lonlat[shown, 0], 5).tolist()
    else:
        out["count"] = 0
    return out


# ----------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class MapPage:
    """A map ready to write: ``html`` is the self-contained page; ``embed()`` the same map for
    a section of another page. Displays itself in a notebook."""

    data: dict[str, Any]
    title: str
    #: Facts about the data shown under (or on) the map: approximate areas, synthetic book.
    notes: tuple[str, ...] = field(default_factory=tuple)

    def _caption(self, style: str) -> str:
        if not self.notes:
            return ""
        return (
            f'<div id="to-data-caption" class="to-caption" style="{style}">'
            + "<br>".join(e(n) for n in self.notes)
            + "</div>"
        )

    def embed(self, *, height: str = "560px") -> str:
        """Map containers, data and scripts, to place inside another page's body (one map per page)."""
        panels = self.data["panels"]
        if len(panels) == 1:
            wrapper = (
                f'<div class="to-map" data-panel="0" role="region" aria-label="map" style="height:{e(height)}"></div>'
            )
        else:  # side by side: each legend below its map, so the maps stay clear
            wrapper = (
                '<div class="to-maps">'
                + "".join(
                    f'<div class="to-col"><div class="to-map" data-panel="{i}" role="region" aria-label="map {i + 1}" '
                    f'style="height:{e(height)}"></div><div class="to-legend-below" data-legend="{i}"></div></div>'
                    for i in range(len(panels))
                )
                + "</div>"
            )
        caption = self._caption("font-size:12.5px;color:#5f6b7a;margin-top:4px")
        return wrapper + caption + embed_json(self.data, "to-map-data") + map_assets(sync=len(panels) > 1)

    @property
    def html(self) -> str:
        panels = self.data["panels"]
        style = "position:absolute;top:0;bottom:0;border:0;border-radius:0;height:auto;"
        width = 100 / len(panels)
        boxes = "".join(
            f'<div class="to-map" data-panel="{i}" style="{style}left:{i * width:.4f}%;width:calc({width:.4f}% - {2 if len(panels) > 1 and i == 0 else 0}px)"></div>'
            for i in range(len(panels))
        )
        caption = self._caption(
            "position:absolute;bottom:42px;left:10px;z-index:1000;background:#fff;padding:3px 6px;border:1px solid #999;"
            "border-radius:4px;max-width:45%;font:11px system-ui,sans-serif"
        )
        body = boxes + caption + embed_json(self.data, "to-map-data") + map_assets(sync=len(panels) > 1)
        return page(self.title, body, full=True)

    def _repr_html_(self) -> str:
        return f'<iframe title="{e(self.title)}" style="width:100%;height:600px;border:1px solid #ccc" srcdoc="{e(self.html)}"></iframe>'


def plan_map(
    plan: Plan,
    *,
    geometry: gpd.GeoSeries | None = None,
    land: Any | None = None,
    quotas: Any | None = None,
    tiles: bool = True,
    max_points: int = 5000,
    simplify_m: float | None = None,
    currency: str = "$",
) -> MapPage:
    """The map of a plan (``map.html``).

    Layers: territory areas in the legend's colours with labels, accounts coloured by
    territory (account plans), home bases and open seats (at their chosen location), units
    moved from the current alignment (from → to), and the balance deviation of the first
    measure; a legend and layer switches.

    Parameters
    ----------
    geometry : GeoSeries, optional
        Unit polygons in EPSG:4326, in unit order (geographic units).
    land : GeoSeries, optional
        Land or region polygons (EPSG:4326) that clip an account plan's areas.
    quotas : QuotaResult, optional
        Adds each territory's quota to the tooltips.
    tiles : bool
        OpenStreetMap base tiles (need a network connection when the map is opened).
    max_points : int
        Account points drawn at most (a seeded sample beyond that, said in the legend).
    simplify_m : float, optional
        Simplification of territory outlines [m]; by default scaled to the map's extent.
    """
    panel = map_panel(
        plan,
        geometry=geometry,
        land=land,
        quotas=quotas,
        max_points=max_points,
        simplify_m=simplify_m,
        currency=currency,
    )
    title = f"{plan.scenario or 'Territory plan'} · map"
    notes = data_notes(plan.notes)
    return MapPage({"tiles": tiles, "sync": False, "panels": [panel], "title": title, "caption": notes}, title, notes)


#: How the note of a plan over its disruption budget starts (the pipeline's side folder):
#: its map shows it, as its report and summary do.
OVER_BUDGET_NOTE = "OVER BUDGET:"


def data_notes(notes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The notes a map must show: a plan over its budget, approximate areas (ZIPs built
    from points), synthetic books."""
    return tuple(n for n in notes if n.startswith(OVER_BUDGET_NOTE) or ZIP_NOTE in n or SYNTHETIC_NOTE in n)


def compare_panels(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two panels made comparable: one palette (a territory keeps its colour on both sides,
    the first plan's colours first) and the units that changed territory highlighted on both."""
    colour = {t["id"]: t["colour"] for t in before["territories"]}
    used = set(colour.values())
    spare = [c for c in PALETTE if c not in used] or list(PALETTE)
    for t in after["territories"]:
        if t["id"] not in colour:
            colour[t["id"]] = spare[len(colour) % len(spare)]
    out = []
    for panel in (before, after):
        p = {
            **panel,
            "collapsed": True,
            "territories": [{**t, "colour": colour[t["id"]]} for t in panel["territories"]],
        }
        out.append(p)
    a, b = out
    pa, pb = a.get("points"), b.get("points")
    if pa and pb:
        ta = dict(zip(pa["id"], (a["territories"][t]["id"] for t in pa["t"]), strict=True))
        tb = dict(zip(pb["id"], (b["territories"][t]["id"] for t in pb["t"]), strict=True))
        name_a = {t["id"]: t.get("title", t["id"]) for t in a["territories"]}
        name_b = {t["id"]: t.get("title", t["id"]) for t in b["territories"]}
        for p, points in ((a, pa), (b, pb)):
            idx = [i for i, u in enumerate(points["id"]) if u in ta and u in tb and ta[u] != tb[u]]
            noun = "accounts" if points.get("draw") else "units"
            p["moved"] = {
                "count": len(idx),
                "label": f"Changed territory ({len(idx):,} {noun})",
                "on": True,
                "name": [points["name"][i] for i in idx],
                "from": [name_a.get(ta[points["id"][i]], ta[points["id"][i]]) for i in idx],
                "to": [name_b.get(tb[points["id"][i]], tb[points["id"][i]]) for i in idx],
                "lat": [points["lat"][i] for i in idx],
                "lon": [points["lon"][i] for i in idx],
            }
    return a, b


def compare_map(
    before: Plan,
    after: Plan,
    *,
    geometry: gpd.GeoSeries | None = None,
    land: Any | None = None,
    tiles: bool = True,
    max_points: int = 5000,
) -> MapPage:
    """Two plans side by side on synchronised maps (pan and zoom together), for what-ifs: one
    palette (a territory keeps its colour on both sides), a legend each, and the units that
    change territory between them highlighted."""
    a = map_panel(before, geometry=geometry, land=land, max_points=max_points)
    b = map_panel(after, geometry=geometry, land=land, max_points=max_points)
    a, b = compare_panels(a, b)
    title = f"{before.scenario or 'a'} vs {after.scenario or 'b'}"
    return MapPage({"tiles": tiles, "sync": True, "panels": [a, b]}, title, data_notes((*before.notes, *after.notes)))


def compare_map_from_pages(page_a: str, page_b: str, *, names: tuple[str, str], tiles: bool = True) -> MapPage | None:
    """The side-by-side map of two plans from their ``map.html`` pages (the data each page
    carries); None when a page holds no map data (made by an older version)."""
    from .pages import read_embedded_json

    data = [read_embedded_json(text, "to-map-data") for text in (page_a, page_b)]
    if any(d is None or not d.get("panels") for d in data):
        return None
    panels = [{**d["panels"][0], "title": name} for d, name in zip(data, names, strict=True)]  # type: ignore[index]
    a, b = compare_panels(panels[0], panels[1])
    return MapPage({"tiles": tiles, "sync": True, "panels": [a, b]}, f"{names[0]} vs {names[1]}")


def map_page_from_html(page_text: str, *, quotas: Any | None = None, currency: str = "$") -> MapPage | None:
    """The map a ``map.html`` page carries (None when it holds no map data), with each
    territory's quota replaced by ``quotas`` when given (quotas set after the plan)."""
    from .pages import read_embedded_json

    data = read_embedded_json(page_text, "to-map-data")
    if not isinstance(data, dict) or not data.get("panels"):
        return None
    if quotas is not None:
        quota = dict(zip(quotas.table["territory_id"].astype(str), quotas.table["quota"], strict=True))
        for panel in data["panels"]:
            for t in panel["territories"]:
                info = [row for row in t["info"] if row[0] != "quota"]
                if t["id"] in quota:
                    info.append(["quota", money(quota[t["id"]], currency)])
                t["info"] = info
    title = str(data.get("title") or "Territory plan · map")
    return MapPage(data, title, tuple(str(n) for n in data.get("caption") or ()))


def map_html(m: MapPage) -> str:
    """The map as one self-contained HTML page (Leaflet inlined, no CDN needed)."""
    return m.html
