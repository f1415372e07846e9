"""Published instances with proven optima, read in place from ../shared/bench-data.

* SJC capacitated p-median (Lorena & Senne): units = demand points, p seats without home
  base, capacity on demand, minimise the sum of distances (our travel with unit weights).
* Validi-Buchanan min-cut-edges districting: county graphs, k connected districts with
  population within ±0.5 %, minimise cut edges.

Run: ``python bench/published.py [--time-limit S]``; writes bench/out/published.json and
prints Markdown rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from territory_opt import InfeasibleError, Problem, SolverError, solve
from territory_opt.scenario import Candidates, Constraints, Measure, Objective, SolverSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data"


def sjc(time_limit: float) -> list[dict]:
    rows = []
    known = {r["instance"]: float(r["optimal_objective"]) for r in csv.DictReader((DATA / "sjc-lorena-senne" / "optimal.csv").read_text().splitlines())}
    for name in ["SJC1", "SJC2", "SJC3a", "SJC3b", "SJC4a", "SJC4b"]:
        lines = (DATA / "sjc-lorena-senne" / f"{name}.dat").read_text().split("\n")
        n, p = map(int, lines[0].split())
        data = np.array([list(map(float, line.split())) for line in lines[1 : n + 1]])
        xy, cap, demand = data[:, :2] / 1000.0, data[0, 2], data[:, 3]
        problem = Problem.from_arrays(measures=demand[:, None], measure_names=["demand"], unit_xy=xy, n_seats=p)
        t0 = time.perf_counter()
        try:
            plan = solve(problem, constraints=Constraints(capacity={"demand": cap}), solver=SolverSettings(time_limit=time_limit, seed=1), candidates=Candidates(nearest=12))
            value = plan.objective_terms["travel"] * n * 1000.0  # mean km -> total metres
            rows.append({"family": "SJC capacitated p-median", "instance": f"{name} (n={n}, p={p})", "ours": round(value, 2), "known": known[name], "gap_to_known_pct": round(100 * (value - known[name]) / known[name], 2), "time_s": round(time.perf_counter() - t0, 1), "status": plan.status.value, "audit_ok": plan.ok})
        except (InfeasibleError, SolverError) as exc:
            rows.append({"family": "SJC capacitated p-median", "instance": name, "ours": None, "known": known[name], "error": str(exc).splitlines()[0], "time_s": round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
    return rows


def validi(time_limit: float, limit_n: int = 70) -> list[dict]:
    rows = []
    table = list(csv.DictReader((DATA / "validi-buchanan-cut-edges" / "optimal_cut_edges.csv").read_text().splitlines()))
    for row in table:
        if row["level"] != "county" or int(row["n"]) > limit_n:
            continue
        graph = json.loads((DATA / "validi-buchanan-cut-edges" / row["file"]).read_text())
        nodes = graph["nodes"]
        pop = np.array([float(v["TOTPOP"]) for v in nodes])
        lon = np.array([float(v["C_X"]) for v in nodes])
        lat = np.array([float(v["C_Y"]) for v in nodes])
        xy = np.column_stack([lon * 111.0 * np.cos(np.radians(lat.mean())), lat * 111.0])
        edges = sorted({tuple(sorted((i, nb["id"]))) for i, adj in enumerate(graph["adjacency"]) for nb in adj if nb["id"] != i})
        k, lo, hi = int(row["k"]), float(row["L"]), float(row["U"])
        target = pop.sum() / k
        tol = min((hi - target) / target, (target - lo) / target)
        problem = Problem.from_arrays(measures=pop[:, None], measure_names=["population"], unit_xy=xy, n_seats=k, edges=edges)
        t0 = time.perf_counter()
        try:
            plan = solve(problem, balance={"population": Measure(tolerance=tol)}, constraints=Constraints(contiguity=True), objective=Objective(priorities=["cut_edges"]), solver=SolverSettings(time_limit=time_limit, seed=1))
            cut = plan.objective_terms["cut_edges"]
            best = float(row["best_UB"])
            rows.append({"family": "Validi-Buchanan min cut edges (±0.5 %)", "instance": f"{row['state']} county (n={row['n']}, k={k})", "ours": cut, "known": best, "gap_to_known_pct": round(100 * (cut - best) / best, 1), "time_s": round(time.perf_counter() - t0, 1), "status": plan.status.value, "audit_ok": plan.ok})
        except (InfeasibleError, SolverError) as exc:
            rows.append({"family": "Validi-Buchanan min cut edges (±0.5 %)", "instance": f"{row['state']} county (n={row['n']}, k={k})", "ours": None, "known": float(row["best_UB"]), "error": str(exc).splitlines()[-1][:160], "time_s": round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    rows = sjc(args.time_limit) + validi(args.time_limit)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "published.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
