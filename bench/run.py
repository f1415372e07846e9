"""Regenerate bench/RESULTS.md: ``python bench/run.py`` (all sections, about 90 minutes on 2 cores).

Sections (each can be run alone: ``python bench/run.py peers ladder``):

* ``peers``: our engine beside PySAL spopt, GerryChain and a plain CP-SAT model on the same
  instances with the same time limit, scored by one function (:mod:`score`);
* ``ladder``: the scale ladder, geo mode (one state → the whole US, 8 → 200 territories)
  and account mode (1k → 100k accounts, 10 → 500 reps), with the growth of time fitted;
* ``published``: every published instance our model can take (Validi-Buchanan county
  graphs, SJC), against the proven optimum;
* ``targets``: the engine targets of issue 3 (:mod:`run_targets`);
* ``realign``: issue 16: contiguous national plans, realignment within budgets (:mod:`realign`);
* ``quotas``: quota allocation at scale.

Every section scores its plans alike, from the raw assignment (unit → territory), with the
shared scoring function (:mod:`score`: balance, contiguity, objective, gap to the bound the
engine states); the engine's own figures are only its answer, its first-plan time and that
bound. The assignments are kept in ``bench/results/assignments/<section>/``.

Each engine run is its own process (killed at the time limit plus a grace period), so peak
memory is per run and one engine's failure cannot take the others with it. Raw results are
kept in ``bench/results/*.json`` (committed); RESULTS.md is rendered from them plus the
hand-written ``bench/COMMENTARY.md``, so a section that was not re-run keeps its last
figures and its own date.

Needs the benchmark extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

# (instance loader, args, time limit [s]); one limit per instance, the same for every engine
PEER_INSTANCES: list[tuple[str, tuple, float]] = [
    ("counties", (["GA"], 8), 30.0),
    ("counties", (["TX"], 16), 30.0),
    ("counties", (None, 50), 120.0),
    ("validi", ("WV",), 30.0),
    ("validi", ("LA",), 30.0),
    ("validi", ("AL",), 30.0),
    ("dtdp", ("planar500_G0",), 60.0),
    ("dtdp", ("planar700_G0",), 60.0),
    ("sjc", ("SJC1",), 30.0),
    ("sjc", ("SJC2",), 30.0),
    ("sjc", ("SJC4b",), 30.0),
]
GEO_LADDER: list[tuple[list[str] | None, int, float]] = [
    (["GA"], 8, 60.0),
    (["TX"], 16, 60.0),
    (["GA", "FL", "AL", "SC", "NC", "TN"], 30, 60.0),
    (None, 50, 120.0),
    (None, 100, 120.0),
    (None, 200, 120.0),
]
ACCOUNT_LADDER: list[tuple[int, int, float]] = [
    (1_000, 10, 60.0),
    (5_000, 50, 60.0),
    (20_000, 100, 60.0),
    (50_000, 250, 120.0),
    (100_000, 500, 300.0),
]
GRACE = 60.0


# ------------------------------------------------------------------------ child processes
def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)


def _peer_child(loader: str, args: tuple, engine: str, limit: float, out: mp.Queue) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import instances
    import peers
    from score import score, store_labels

    inst = getattr(instances, loader)(*args)
    table = peers.PMEDIAN if inst.family == "sjc" else peers.DISTRICTING
    peers.preload(engine)  # imports are not timed
    t0 = time.perf_counter()
    try:
        labels, info = table[engine](inst, limit, 1)
        row = {"time_s": round(time.perf_counter() - t0, 1), **score(inst, labels), **info}
        row["assignment"] = store_labels(RESULTS / "assignments" / "peers", f"{inst.name} {engine}", labels)
    except peers.NotApplicableError as exc:
        row = {"time_s": round(time.perf_counter() - t0, 1), "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a peer's failure is a result
        row = {"time_s": round(time.perf_counter() - t0, 1), "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"}
        traceback.print_exc(limit=2)
    row["peak_mb"] = _peak_mb()
    out.put(row)


def _ladder_child(kind: str, args: tuple, limit: float, name: str, out: mp.Queue) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import score

    from territory_opt import TerritoryOptError, load_scenario, problem_from_scenario, solve
    from territory_opt.edits import with_values

    t0 = time.perf_counter()
    first: list[float] = []

    def progress(event: dict) -> None:
        if event.get("objective") is not None and not first:
            first.append(time.perf_counter() - t0)

    if kind == "geo":
        states, k = args
        values: dict[str, Any] = {"seats.count": k}
        if states:
            values["data.states"] = states
        scenario = with_values(load_scenario(HERE / "scenarios" / "us-50-pmedian.yaml"), values)
    else:
        accounts, reps = args
        base = load_scenario(HERE / "scenarios" / "accounts-100k.yaml")
        scenario = with_values(base, {"data.synthetic.accounts": accounts, "data.synthetic.reps": reps})
    problem, _ = problem_from_scenario(scenario)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        plan = solve(problem, balance=dict(scenario.balance), constraints=scenario.constraints, objective=scenario.objective, candidates=scenario.candidates, solver=scenario.solver.model_copy(update={"time_limit": limit}), progress=progress)
    except TerritoryOptError as exc:  # no plan: the engine's own explanation is the result
        out.put({"units": problem.n_units, "seats": problem.n_seats, "wall_s": round(time.perf_counter() - t0, 1), "error": f"{type(exc).__name__}: " + " ".join(str(exc).split())[:300], "peak_mb": _peak_mb()})
        return
    wall_s = round(time.perf_counter() - t0, 1)
    gap = plan.global_gap if plan.global_gap is not None else plan.gap
    out.put(
        {
            "units": problem.n_units,
            "seats": problem.n_seats,
            "load_s": round(load_s, 1),
            "wall_s": wall_s,
            "first_feasible_s": round(first[0], 1) if first else None,
            "status": plan.status.value,
            "method": plan.method,
            # the engine's own statements, shown beside the recomputed figures
            "engine_gap_pct": None if gap is None else round(100 * gap, 2),
            "gap_scope": "global" if plan.global_gap is not None else plan.bound_scope,
            "exempt": int(plan.exempt.sum()),
            "audit_ok": plan.ok,
            **score.graded(plan, scenario, RESULTS / "assignments" / "ladder", name),
            "peak_mb": _peak_mb(),
        }
    )


def _in_child(target: Any, args: tuple, limit: float) -> dict:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    t0 = time.perf_counter()
    proc.start()
    row: dict = {}
    while not row:
        try:
            row = out.get(timeout=1.0)
        except queue_mod.Empty:
            if not proc.is_alive():
                row = {"time_s": round(time.perf_counter() - t0, 1), "error": f"the process died (exit code {proc.exitcode}) without a result"}
            elif time.perf_counter() - t0 > limit + GRACE:
                proc.kill()
                row = {"time_s": round(time.perf_counter() - t0, 1), "error": f"no answer in {limit + GRACE:.0f} s (time limit {limit:.0f} s + {GRACE:.0f} s grace): killed"}
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
    return row


# -------------------------------------------------------------------------------- sections
ONLY: list[str] = []  # --only: keep instances / engines / rungs whose name contains one of these


def _kept(*names: str) -> bool:
    return not ONLY or any(o.lower() in n.lower() for o in ONLY for n in names)


def peers_section() -> dict:
    import instances
    import peers

    rows = []
    for loader, args, limit in PEER_INSTANCES:
        inst = getattr(instances, loader)(*args)
        engines = peers.PMEDIAN if inst.family == "sjc" else peers.DISTRICTING
        for engine in engines:
            if not _kept(inst.name, engine):
                continue
            row = _in_child(_peer_child, (loader, args, engine, limit), limit)
            row.update(instance=inst.name, family=inst.family, engine=engine, limit_s=limit, n=inst.n, k=inst.k, tolerance_pct=[round(100 * t, 2) for t in inst.tolerance], minimise=inst.minimise, known=inst.known, known_kind=inst.known_kind, known_metric=inst.known_metric)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"rows": rows}


def ladder_section() -> dict:
    rows = []
    rungs = [("geo", (states, k), f"{'US' if not states else '+'.join(states)} counties, {k} territories", limit, 120.0) for states, k, limit in GEO_LADDER]
    rungs += [("accounts", (a, r), f"{a:,} accounts, {r} reps", limit, 300.0) for a, r, limit in ACCOUNT_LADDER]
    for mode, args, rung, limit, loading in rungs:  # loading: time allowed for reading the data
        if not _kept(rung):
            continue
        row = _in_child(_ladder_child, (mode, args, limit, rung), limit + loading)
        row.update(mode=mode, rung=rung, limit_s=limit)
        rows.append(row)
        print(json.dumps(row), flush=True)
    fits = {}
    for mode in ("geo", "accounts"):
        pts = [(r["units"] * r["seats"], r["first_feasible_s"]) for r in rows if r.get("mode") == mode and r.get("first_feasible_s")]
        if len(pts) >= 3:
            x, y = np.log([p[0] for p in pts]), np.log([max(p[1], 0.05) for p in pts])
            fits[mode] = round(float(np.polyfit(x, y, 1)[0]), 2)
    return {"rows": rows, "growth_exponent": fits}


def published_section() -> dict:
    import published

    # --only sjc / --only validi re-runs one family
    sjc = published.sjc(30.0) if _kept("sjc", "SJC capacitated p-median") else []
    validi = published.validi(30.0) if _kept("validi", "Validi-Buchanan min cut edges") else []
    return {"rows": sjc + validi}


def targets_section() -> dict:
    import run_targets

    return run_targets.run([name for name in run_targets.TARGETS if _kept(name)])


def realign_section() -> dict:
    import realign

    return realign.run(lambda name: _kept(name))


def quotas_section() -> dict:
    import quota_bench

    return quota_bench.measure()


SECTIONS = {"peers": peers_section, "ladder": ladder_section, "published": published_section, "targets": targets_section, "realign": realign_section, "quotas": quotas_section}


# -------------------------------------------------------------------------------- machine
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) / 1024**2 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), 0.0)
    versions = {}
    for pkg in ("territory_opt", "ortools", "numpy", "scipy", "geopandas", "shapely", "spopt", "gerrychain", "libpysal", "pulp", "networkx"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem, 1), "python": platform.python_version(), "versions": versions}


def _merge(old: dict, new: dict) -> dict:
    """A partial re-run (--only) replaces its own rows and keeps the others."""

    def key(row: dict) -> tuple:
        return (row.get("instance"), row.get("engine"), row.get("rung"), row.get("mode"))

    rerun = {"date": new["machine"]["date"], "only": list(ONLY)}
    if "results" in new:  # targets: a mapping by name
        rerun["rows"] = len(new["results"])
        return {**old, "results": {**old.get("results", {}), **new["results"]}, "reruns": [*old.get("reruns", []), rerun]}
    fresh = {key(r): r for r in new["rows"]}
    rows = [fresh.pop(key(r), r) for r in old["rows"]] + list(fresh.values())
    rerun["rows"] = len(new["rows"])
    return {**old, **{k: v for k, v in new.items() if k != "machine"}, "rows": rows, "reruns": [*old.get("reruns", []), rerun]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"sections to re-run: {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--only", action="append", default=[], help="keep only instances, engines or rungs whose name contains this (repeatable); the results file is then partial")
    parser.add_argument("--render-only", action="store_true", help="rebuild RESULTS.md from bench/results/*.json")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    ONLY.extend(args.only)
    RESULTS.mkdir(exist_ok=True)
    if not args.render_only:
        for name in args.sections or list(SECTIONS):
            print(f"== {name}", flush=True)
            result = {"machine": machine(), **SECTIONS[name]()}
            if ONLY and (RESULTS / f"{name}.json").exists() and ("rows" in result or "results" in result):
                result = _merge(json.loads((RESULTS / f"{name}.json").read_text()), result)
            tmp = RESULTS / f".{name}.json.tmp"
            tmp.write_text(json.dumps(result, indent=1, default=str))
            tmp.replace(RESULTS / f"{name}.json")
    import render

    render.write(RESULTS, HERE / "RESULTS.md", HERE / "COMMENTARY.md")
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
