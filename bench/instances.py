"""Benchmark instances, read in place (built-in counties, ../shared/bench-data).

Every districting instance is the same plain record (:class:`Instance`): unit measures, planar
coordinates [km or the instance's own unit], an undirected adjacency, the number of
territories, a balance tolerance per measure and what the instance minimises. Each engine
(ours and the peers) receives that record and returns one label per unit; one scoring
function (:mod:`score`) then judges them all alike.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data"


@dataclass(frozen=True)
class Instance:
    name: str
    family: str
    weights: np.ndarray  # (n, m)
    measure_names: tuple[str, ...]
    xy: np.ndarray  # (n, 2)
    edges: np.ndarray  # (E, 2), i < j
    k: int
    tolerance: tuple[float, ...]  # per measure, as a fraction of the mean
    minimise: str  # "dispersion" (weighted distance to the territory centre) or "cut_edges"
    known: float | None = None  # proven optimum or best known, in the instance's own objective
    known_kind: str = ""
    known_metric: str = ""  # the score field that `known` is compared with
    capacity: float | None = None  # capacitated p-median: cap on the first measure per territory
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.xy)


def counties(states: list[str] | None, k: int, tolerance: float = 0.05) -> Instance:
    """Counties of the given states (all of the contiguous US by default), population balanced."""
    from territory_opt.datasets import us_counties
    from territory_opt.geo import choose_metric_crs, project_km

    gdf, adj = us_counties(states)
    lon, lat = gdf["lon"].to_numpy(float), gdf["lat"].to_numpy(float)
    xy = project_km(lon, lat, choose_metric_crs(lon, lat))
    index = {f: i for i, f in enumerate(gdf["fips"])}
    edges = np.array(sorted({tuple(sorted((index[a], index[b]))) for a, b in zip(adj["fips_a"], adj["fips_b"], strict=True)}), dtype=np.int64)
    label = "US" if not states else "+".join(states)
    return Instance(
        name=f"{label} counties, k={k}",
        family="counties",
        weights=gdf["population"].to_numpy(float)[:, None],
        measure_names=("population",),
        xy=xy,
        edges=edges,
        k=k,
        tolerance=(tolerance,),
        minimise="dispersion",
    )


def validi(state: str) -> Instance:
    """Validi-Buchanan county graph: ±0.5 % population, minimise cut edges (proven optima)."""
    folder = DATA / "validi-buchanan-cut-edges"
    row = next(r for r in csv.DictReader((folder / "optimal_cut_edges.csv").read_text().splitlines()) if r["state"] == state and r["level"] == "county")
    graph = json.loads((folder / row["file"]).read_text())
    nodes = graph["nodes"]
    pop = np.array([float(v["TOTPOP"]) for v in nodes])
    lon = np.array([float(v["C_X"]) for v in nodes])
    lat = np.array([float(v["C_Y"]) for v in nodes])
    xy = np.column_stack([lon * 111.0 * np.cos(np.radians(lat.mean())), lat * 111.0])
    edges = np.array(sorted({tuple(sorted((i, nb["id"]))) for i, adj in enumerate(graph["adjacency"]) for nb in adj if nb["id"] != i}), dtype=np.int64)
    k, lo, hi = int(row["k"]), float(row["L"]), float(row["U"])
    target = pop.sum() / k
    tol = min((hi - target) / target, (target - lo) / target)
    proven = row["proven_optimal"] == "True"
    return Instance(
        name=f"Validi-Buchanan {state} county (n={len(nodes)}, k={k})",
        family="validi",
        weights=pop[:, None],
        measure_names=("population",),
        xy=xy,
        edges=edges,
        k=k,
        tolerance=(tol,),
        minimise="cut_edges",
        known=float(row["best_UB"]),
        known_kind="proven optimum" if proven else "best known (open)",
        known_metric="cut_edges",
        extra={"lo": lo, "hi": hi},
    )


def dtdp(name: str) -> Instance:
    """Aly-Gabor-Sleptchenko territory design graph: 3 activity measures ±5 %, 10 territories,
    contiguous. Best-known values are heuristic and their objective scale is uncertain
    (see SOURCE.md), so they are shown as indicative only."""
    folder = DATA / "dtdp-aly-gabor-sleptchenko"
    path = next(folder.rglob(f"{name}.graphml"))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(path).getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.findall("g:key", ns)}
    ids: dict[str, int] = {}
    rows: list[dict[str, float]] = []
    for node in root.iter("{http://graphml.graphdrawing.org/xmlns}node"):
        ids[node.get("id")] = len(rows)
        rows.append({keys[d.get("key")]: float(d.text) for d in node.findall("g:data", ns)})
    edges = np.array(sorted({tuple(sorted((ids[e.get("source")], ids[e.get("target")]))) for e in root.iter("{http://graphml.graphdrawing.org/xmlns}edge")}), dtype=np.int64)
    measures = ("n_customers", "demand", "workload")
    best = {r["instance"]: float(r["best_known_overall"]) for r in csv.DictReader((folder / "best_known.csv").read_text().splitlines())}
    return Instance(
        name=f"DTDP {name} (n={len(rows)}, k=10)",
        family="dtdp",
        weights=np.array([[r[m] for m in measures] for r in rows]),
        measure_names=measures,
        xy=np.array([[r["x"], r["y"]] for r in rows]),
        edges=edges,
        k=10,
        tolerance=(0.05, 0.05, 0.05),
        minimise="dispersion",
        known=best.get(name),
        known_kind="published best known (heuristic), shown only: its dispersion is not defined as our radius, not compared",
        known_metric="",
    )


def sjc(name: str) -> Instance:
    """SJC capacitated p-median (Lorena & Senne): units are demand points, p centres chosen
    among them, capacity on demand, minimise the sum of distances (proven optima)."""
    folder = DATA / "sjc-lorena-senne"
    lines = (folder / f"{name}.dat").read_text().split("\n")
    n, p = map(int, lines[0].split())
    data = np.array([list(map(float, line.split())) for line in lines[1 : n + 1]])
    known = {r["instance"]: float(r["optimal_objective"]) for r in csv.DictReader((folder / "optimal.csv").read_text().splitlines())}
    return Instance(
        name=f"SJC {name} (n={n}, p={p})",
        family="sjc",
        weights=data[:, 3:4],
        measure_names=("demand",),
        xy=data[:, :2],
        edges=np.zeros((0, 2), dtype=np.int64),
        k=p,
        tolerance=(),
        minimise="sum_distance",
        known=known[name],
        known_kind="proven optimum",
        known_metric="sum_distance",
        capacity=float(data[0, 2]),
    )
