"""Rebuild the sample CRM export in ``scenarios/data/midwest-*.csv`` (seeded, synthetic).

A sales team covering Ohio, Indiana and Michigan as a planner would export it from a CRM:
accounts with their owner **by name** (in the CRM's own spelling and case), last year's
sales, a required certification on healthcare accounts, and a rep roster with ids, names,
home bases and certifications. Every account and rep is **synthetic**: placed at random in
real US counties (US Census geography shipped with the package) in proportion to population,
with made-up names labelled "(synthetic)". One rep of the roster is the leaver and another
is the new hire of ``scenarios/midwest-realignment.yaml``.

    python scripts/make_sample_crm.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from territory_opt.datasets import us_counties

OUT = Path(__file__).parents[1] / "scenarios" / "data"
SEED = 14
N_ACCOUNTS = 360

# Home bases in real cities; names are invented. U1006 leaves; U1009 is hired (not in the CRM yet).
REPS = [
    ("U1001", "Dana Whitfield", 39.9612, -82.9988, "Healthcare"),  # Columbus OH
    ("U1002", "Ray Okafor", 41.4993, -81.6944, ""),  # Cleveland OH
    ("U1003", "Priya Natarajan", 39.1031, -84.5120, ""),  # Cincinnati OH
    ("U1004", "Tom Brandt", 39.7684, -86.1581, "Healthcare"),  # Indianapolis IN
    ("U1005", "Lena Kowalski", 41.0793, -85.1394, ""),  # Fort Wayne IN
    ("U1006", "Marcus Lee", 42.7325, -84.5555, ""),  # Lansing MI: leaves
    ("U1007", "Sofia Reyes", 42.3314, -83.0458, ""),  # Detroit MI
    ("U1008", "Gary Lindqvist", 42.9634, -85.6681, ""),  # Grand Rapids MI
]
FIRST = ["Maple", "Lakeside", "Summit", "Riverbend", "Oak Hollow", "Harbor", "Prairie", "Cedar", "Northgate", "Union"]
SECOND = ["Foods", "Manufacturing", "Logistics", "Dental", "Clinic", "Supply", "Tooling", "Farms", "Printing", "Labs"]
HEALTH = {"Dental", "Clinic", "Labs"}
# Three accounts a few km out on the lakes (a pier, a marina): outside every county polygon,
# they are snapped to the nearest county (data.snap_km).
OFFSHORE = [(41.535, -81.690), (43.060, -86.262), (41.705, -83.420)]


def points_in(polygon: shapely.Geometry, count: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """``count`` uniform points inside ``polygon`` (rejection sampling), as (lat, lon)."""
    west, south, east, north = polygon.bounds
    found: list[tuple[float, float]] = []
    while len(found) < count:
        lon = rng.uniform(west, east, 4 * count)
        lat = rng.uniform(south, north, 4 * count)
        inside = shapely.contains_xy(polygon, lon, lat)
        found += list(zip(lat[inside], lon[inside], strict=True))
    return found[:count]


def main() -> None:
    rng = np.random.default_rng(SEED)
    counties, _ = us_counties(["OH", "IN", "MI"])
    weight = counties["population"].to_numpy(float) ** 0.8
    county = rng.choice(len(counties), size=N_ACCOUNTS - len(OFFSHORE), p=weight / weight.sum())
    where: list[tuple[float, float]] = []
    for c in np.unique(county):
        where += points_in(counties.geometry.iloc[c], int((county == c).sum()), rng)
    where += OFFSHORE
    lat = np.round([w[0] for w in where], 5)
    lon = np.round([w[1] for w in where], 5)
    n = len(lat)
    kind = rng.choice(SECOND, n)
    name = [f"{rng.choice(FIRST)} {k} {i + 1:03d} (synthetic)" for i, k in enumerate(kind)]
    healthcare = np.isin(kind, list(HEALTH)) & (rng.random(n) < 0.3)
    potential = np.round(rng.lognormal(11.3, 0.55, n), -2)
    history = np.round(potential * rng.uniform(0.35, 0.75, n), -2)
    workload = np.round(20 + potential / 2500 * rng.uniform(0.8, 1.2, n), 1)
    # today's owner: mostly the nearest rep (by degrees, good enough here), some history left
    # over; healthcare accounts with a certified rep
    home = np.array([[r[2], r[3]] for r in REPS])
    certified = np.array([r[4] == "Healthcare" for r in REPS])
    dist = np.hypot(lat[:, None] - home[None, :, 0], (lon[:, None] - home[None, :, 1]) * 0.75)
    dist = np.where(healthcare[:, None] & ~certified[None, :], np.inf, dist)
    owner = np.argmin(dist + rng.exponential(0.4, dist.shape), axis=1)
    spelled = []
    for i, o in enumerate(owner):
        rep_name = REPS[o][1]
        if i % 17 == 0:
            rep_name = rep_name.upper()  # CRMs are not consistent about case ...
        elif i % 23 == 0:
            rep_name = f" {rep_name} "  # ... nor about stray spaces
        spelled.append(rep_name)
    accounts = pd.DataFrame(
        {
            "Account ID": [f"0015{i + 1:06d}" for i in range(n)],
            "Account Name": name,
            "Latitude": lat,
            "Longitude": lon,
            "Annual Potential": potential,
            "Sales Last Year": history,
            "Workload Hours": workload,
            "Account Owner": spelled,
            "Certification Required": np.where(healthcare, np.where(rng.random(n) < 0.5, "Healthcare", "HEALTHCARE"), ""),
        }
    )
    reps = pd.DataFrame(
        {
            "Rep ID": [r[0] for r in REPS],
            "Rep Name": [f"{r[1]}" for r in REPS],
            "Home Latitude": [r[2] for r in REPS],
            "Home Longitude": [r[3] for r in REPS],
            "Certifications": [r[4] for r in REPS],
            "FTE": 1.0,
        }
    )
    OUT.mkdir(parents=True, exist_ok=True)
    accounts.to_csv(OUT / "midwest-accounts.csv", index=False)
    reps.to_csv(OUT / "midwest-reps.csv", index=False)
    print(f"{n} accounts, {len(reps)} reps -> {OUT}")


if __name__ == "__main__":
    main()
