"""Published instances with proven optima, read in place from ../shared/bench-data (by the
loaders of :mod:`instances`, the same records the peers section uses).

* SJC capacitated p-median (Lorena & Senne): units = demand points, p seats without home
  base, capacity on demand, minimise the sum of distances (our travel with unit weights).
* Validi-Buchanan min-cut-edges districting: county graphs, k connected districts with
  population within ±0.5 %, minimise cut edges.

Every figure is recomputed from the plan's raw assignment by :func:`score.score` (the sum of
distances, cut edges, balance, contiguity, capacity), never taken from the engine; the bound
the engine states is converted to the instance's units and shown with its gap. The raw
assignments are kept in ``bench/results/assignments/published``.

Run: ``python bench/published.py [--time-limit S]``; writes bench/out/published.json and
prints Markdown rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import instances
import score

from territory_opt import InfeasibleError, Problem, SolverError, solve
from territory_opt.scenario import Candidates, Constraints, Measure, Objective, SolverSettings

STORE = Path(__file__).resolve().parent / "results" / "assignments" / "published"


def _row(family: str, label: str, inst: instances.Instance, plan, labels: np.ndarray, ours: float | None, bound: float | None, t0: float) -> dict:
    scored = score.score(inst, labels)
    return {
        "family": family,
        "instance": label,
        "ours": ours,
        "known": inst.known,
        "gap_to_known_pct": None if ours is None else round(100 * (ours - inst.known) / inst.known, 2),
        "stated_bound": bound,
        "bound_scope": "global" if plan.global_bound is not None else "restricted model",
        "gap_to_stated_bound_pct": round(100 * (ours - bound) / ours, 2) + 0.0 if ours and bound is not None else None,
        "time_s": round(time.perf_counter() - t0, 1),
        "status": plan.status.value,
        "audit_ok": plan.ok,
        **{k: scored[k] for k in ("territories", "spread_pct", "balanced", "contiguous", "all_contiguous", "capacity_ok") if k in scored},
        "scored": "raw assignment",
        "assignment": score.store_labels(STORE, label, labels),
    }


def sjc(time_limit: float) -> list[dict]:
    rows = []
    family = "SJC capacitated p-median"
    for name in ["SJC1", "SJC2", "SJC3a", "SJC3b", "SJC4a", "SJC4b"]:
        inst = instances.sjc(name)
        n = inst.n
        # the engine works in km; the instance's coordinates are metres
        problem = Problem.from_arrays(measures=inst.weights, measure_names=["demand"], unit_xy=inst.xy / 1000.0, n_seats=inst.k)
        t0 = time.perf_counter()
        try:
            plan = solve(problem, constraints=Constraints(capacity={"demand": inst.capacity}), solver=SolverSettings(time_limit=time_limit, seed=1), candidates=Candidates(nearest=12))
        except (InfeasibleError, SolverError) as exc:
            rows.append({"family": family, "instance": f"{name} (n={n}, p={inst.k})", "ours": None, "known": inst.known, "error": str(exc).splitlines()[0], "time_s": round(time.perf_counter() - t0, 1)})
        else:
            labels = score.labels_of(plan)
            ours = score.score(inst, labels)["sum_distance"]
            stated = plan.global_bound if plan.global_bound is not None else plan.bound
            bound = None if stated is None else stated * n * 1000.0  # mean km -> total metres
            rows.append(_row(family, f"{name} (n={n}, p={inst.k})", inst, plan, labels, ours, bound, t0))
        print(rows[-1], flush=True)
    return rows


def validi(time_limit: float, limit_n: int = 70) -> list[dict]:
    rows = []
    family = "Validi-Buchanan min cut edges (±0.5 %)"
    table = list(csv.DictReader((instances.DATA / "validi-buchanan-cut-edges" / "optimal_cut_edges.csv").read_text().splitlines()))
    for row in table:
        if row["level"] != "county" or int(row["n"]) > limit_n:
            continue
        inst = instances.validi(row["state"])
        label = f"{row['state']} county (n={inst.n}, k={inst.k})"
        problem = Problem.from_arrays(measures=inst.weights, measure_names=["population"], unit_xy=inst.xy, n_seats=inst.k, edges=[tuple(e) for e in inst.edges.tolist()])
        t0 = time.perf_counter()
        try:
            plan = solve(problem, balance={"population": Measure(tolerance=inst.tolerance[0])}, constraints=Constraints(contiguity=True), objective=Objective(priorities=["cut_edges"]), solver=SolverSettings(time_limit=time_limit, seed=1))
        except (InfeasibleError, SolverError) as exc:
            rows.append({"family": family, "instance": label, "ours": None, "known": inst.known, "error": str(exc).splitlines()[-1][:160], "time_s": round(time.perf_counter() - t0, 1)})
        else:
            labels = score.labels_of(plan)
            ours = score.score(inst, labels)["cut_edges"]
            stated = plan.global_bound if plan.global_bound is not None else plan.bound
            rows.append(_row(family, label, inst, plan, labels, ours, stated, t0))
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
