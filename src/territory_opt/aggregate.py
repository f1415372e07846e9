"""Accounts into geographic units: each account placed in the unit it lies in (point in
polygon, snapping to a near coastline), and the units carrying the accounts inside them
(measures summed, the owner holding most of the unit's value). Frames in, frames out: the
files are read by :mod:`territory_opt.io`, which calls these."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _validate as v
from . import geo
from .errors import Problem

if TYPE_CHECKING:
    from .scenario import FileSource


def accounts_into_units(
    accounts: pd.DataFrame, unit_col: str, units: pd.DataFrame, measures: list[str]
) -> pd.DataFrame:
    """Geographic units carrying the accounts inside them (sums; majority owner)."""
    by = accounts.groupby(unit_col, sort=False)
    agg = units[["id", "name", "lon", "lat"]].copy()
    for measure in measures:
        if measure in units.columns and measure not in accounts.columns:
            agg[measure] = units[measure].to_numpy()
        elif measure == "units":
            agg["units"] = agg["id"].map(by.size()).fillna(0).to_numpy(dtype=float)
        else:
            agg[measure] = agg["id"].map(by[measure].sum()).fillna(0.0).to_numpy(dtype=float)
    weight = "potential" if "potential" in accounts.columns else None
    owners = accounts[accounts["owner"] != ""]
    if weight:
        owner_of = owners.groupby([unit_col, "owner"])[weight].sum().reset_index()
        owner_of = owner_of.sort_values([unit_col, weight], ascending=[True, False])
    else:
        owner_of = owners.groupby([unit_col, "owner"]).size().reset_index(name="n")
        owner_of = owner_of.sort_values([unit_col, "n"], ascending=[True, False])
    agg["owner"] = (
        agg["id"].map(owner_of.drop_duplicates(unit_col).set_index(unit_col)["owner"]).astype(object).fillna("")
    )
    if "previous_owner" in accounts.columns:  # what-if edits removed reps: the leaver stays the previous owner
        prev = accounts[accounts["previous_owner"] != ""]
        grouped = prev.groupby([unit_col, "previous_owner"])
        sizes = grouped[weight].sum() if weight else grouped.size()
        prev_of: pd.DataFrame = sizes.reset_index(name="w").sort_values([unit_col, "w"], ascending=[True, False])
        first = prev_of.drop_duplicates(subset=[unit_col]).set_index(unit_col)["previous_owner"]
        agg["previous_owner"] = agg["id"].map(first).astype(object).fillna("")
    locks = (
        accounts[accounts["lock"] != ""]
        .groupby(unit_col)["lock"]
        .agg(lambda s: s.iloc[0] if (s == s.iloc[0]).all() else "")
    )
    agg["lock"] = agg["id"].map(locks).astype(object).fillna("")
    agg["family"] = ""
    skills = {key: frozenset().union(*group) for key, group in by["skills"]}
    agg["skills"] = pd.Series([skills.get(u, frozenset()) for u in agg["id"]], index=agg.index, dtype=object)
    return agg


def place_accounts(
    accounts: pd.DataFrame,
    geometry: gpd.GeoSeries | None,
    geo_units: pd.DataFrame,
    *,
    snap_km: float,
    source: str,
    spec: FileSource | None,
    others: gpd.GeoDataFrame | None = None,
) -> tuple[np.ndarray, list[Problem], str]:
    """The geographic unit each account lies in (point in polygon). An account just outside
    every polygon (a coastline, a simplified boundary) joins the nearest unit within
    ``snap_km`` [km]; the others are problems naming their row and distance. An account
    inside one of ``others`` (counties of states not chosen) is a problem naming that county:
    it is on land elsewhere, not just off the coast."""
    assert geometry is not None
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(accounts["lon"], accounts["lat"]), crs="EPSG:4326")
    polygons = gpd.GeoDataFrame({"unit": geo_units["id"].to_numpy()}, geometry=geometry.to_numpy(), crs="EPSG:4326")
    joined = gpd.sjoin(points, polygons, how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    unit = joined["unit"].astype(object).fillna("").to_numpy(dtype=object).copy()
    outside = np.flatnonzero(unit == "")
    if len(outside) == 0:
        return unit, [], ""
    crs = geo.choose_metric_crs(geo_units["lon"].to_numpy(float), geo_units["lat"].to_numpy(float))
    near = gpd.sjoin_nearest(
        points.iloc[outside].to_crs(crs), polygons.to_crs(crs), how="left", distance_col="distance_m"
    )
    near = near[~near.index.duplicated()]
    names = dict(zip(geo_units["id"], geo_units["name"], strict=True))
    problems = []
    snapped = []
    lat_col = spec.column("lat") if spec is not None else "lat"
    elsewhere: dict[int, str] = {}
    if others is not None and len(others):
        hit = gpd.sjoin(points.iloc[outside], others[["name", "state", "geometry"]], how="inner", predicate="within")
        hit = hit[~hit.index.duplicated()]
        elsewhere = {int(i): f"{n} ({st})" for i, n, st in zip(hit.index, hit["name"], hit["state"], strict=True)}
    for i, nearest, metres in zip(outside, near["unit"].to_numpy(), near["distance_m"].to_numpy(), strict=True):
        km = float(metres) / 1000
        if int(i) in elsewhere:
            problems.append(
                Problem(
                    source,
                    f"account {accounts['id'].iloc[i]!r} lies in {elsewhere[int(i)]}, a county outside data.states; "
                    "add its state to data.states, or check its coordinates",
                    v.row_number(accounts.index[int(i)]),
                    lat_col,
                )
            )
            continue
        if km <= snap_km:
            unit[i] = nearest
            snapped.append(km)
            continue
        lat, lon = float(accounts["lat"].iloc[i]), float(accounts["lon"].iloc[i])
        problems.append(
            Problem(
                source,
                f"account {accounts['id'].iloc[i]!r} at ({lat:.4f}, {lon:.4f}) lies in no unit and is {km:,.0f} km from "
                f"the nearest ({names.get(nearest, nearest)}), beyond data.snap_km = {snap_km:g} km; check its "
                "coordinates (or add its state to data.states, or raise data.snap_km)",
                v.row_number(accounts.index[int(i)]),
                lat_col,
            )
        )
    note = (
        f"{len(snapped)} account(s) just outside the unit polygons (coastline, simplified boundaries) joined the "
        f"nearest unit (at most {max(snapped):.1f} km away; data.snap_km = {snap_km:g})"
        if snapped
        else ""
    )
    return unit, problems, note
