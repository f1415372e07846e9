"""Sweeps: the grid of what-if variants solved in parallel, each into its own folder.

A finished variant is reused on a re-run. Variants run on a local process pool or on a Dask
cluster (``scheduler="local"`` starts a ``LocalCluster``; an address connects to one). A
failed variant is a row with its error (a worker that dies takes only its own variant with
it); the others are kept.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .edits import with_values
from .errors import ScenarioError, TerritoryOptError
from .io import json_text, read_json, remove_file, write_csv, write_text
from .scenario import Scenario, scenario_from_dict


def variant_name(values: dict[str, Any]) -> str:
    """A folder name for a variant: readable, and unique by a short hash."""
    text = "_".join(f"{'.'.join(k.split('.')[-2:])}-{v}" for k, v in values.items()) or "base"
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:80]
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{text}_{digest}"


def headline(plan: Any, quotas: Any = None) -> dict[str, Any]:
    """The figures a planner compares plans by."""
    frame = plan.territories
    row: dict[str, Any] = {
        "status": plan.status.value,
        "audit_ok": all(f.ok for f in plan.findings),
        "territories": plan.problem.n_seats,
        "objective": plan.objective,
        "bound": plan.bound,
        "gap": plan.gap,
        "travel_km": plan.objective_terms.get("travel"),
        "moved_pct": plan.objective_terms.get("disruption"),
        "units_moved": int(plan.problem.moved(plan.seat_of).sum()),
        "wall_time_s": round(plan.wall_time, 3),
    }
    for column in frame.columns:
        if column.endswith("_dev_pct"):
            row[f"{column[: -len('_dev_pct')]}_spread_pct"] = float(frame[column].abs().max())
    problem = plan.problem
    active = ~np.asarray(plan.exempt)
    for name in problem.measure_names:  # per FTE, as capacities are given
        load = frame[name].to_numpy(dtype=float)  # the territory table's loads (the evaluator's)
        per = (load / np.maximum(problem.seat_capacity, 1e-12))[active]
        if len(per):
            row[f"{name}_per_seat_max"] = float(per.max())
            row[f"{name}_per_seat_mean"] = float(per.mean())
    if quotas is not None:
        fairness = quotas.summary().get("fairness", {})
        row["quota_cv"] = fairness.get("quota_per_potential_cv")
    return row


def run_variant(
    raw: dict[str, Any], base_dir: str, values: dict[str, Any], out_dir: str, time_limit: float | None
) -> dict[str, Any]:
    """Solve one variant into ``out_dir`` (outputs, plus ``variant.json`` with its row).

    Never raises: an error becomes the row (so a sweep keeps the other variants).
    """
    from .pipeline import run_scenario

    row: dict[str, Any] = {"variant": Path(out_dir).name, **{f"set:{k}": v for k, v in values.items()}}
    try:
        scenario = with_values(scenario_from_dict(raw, base_dir=base_dir), values)
        plan, quotas, _ = run_scenario(scenario, out_dir, time_limit=time_limit, tiles=False)
        row.update(headline(plan, quotas))
    except TerritoryOptError as exc:
        row.update({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    except Exception as exc:  # noqa: BLE001 - a sweep reports every failure and goes on
        row.update({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    write_text(Path(out_dir) / "variant.json", json_text({"values": values, "row": row}))
    return row


# ----------------------------------------------------------------------------- sweeps


def sweep(
    scenario: Scenario,
    grid: dict[str, list[Any]],
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    time_limit: float | None = None,
    reuse: bool = True,
) -> pd.DataFrame:
    """Solve every combination of ``grid`` values; one row per variant (also ``results.csv``).

    Parameters
    ----------
    scheduler : str, optional
        None: a local process pool. ``"local"``: a Dask ``LocalCluster`` started here.
        Otherwise the address of a Dask scheduler (``tcp://host:8786``).
    reuse : bool
        A variant whose folder already holds a finished result is not solved again.
    """

    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]
    for values in combos:  # refuse a bad key before starting anything
        with_values(scenario, values)
    out = Path(out_dir)
    raw = scenario.model_dump(mode="json", exclude={"base_dir"}, exclude_none=True)
    jobs: list[tuple[dict[str, Any], str]] = []
    rows: dict[str, dict[str, Any]] = {}
    for values in combos:
        folder = out / variant_name(values)
        done = folder / "variant.json"
        if reuse and done.exists():
            saved = read_json(done)
            if (
                saved.get("values") == json.loads(json.dumps(values, default=str))
                and saved["row"].get("status") != "error"
            ):
                rows[folder.name] = {**saved["row"], "reused": True}
                continue
        jobs.append((values, str(folder)))
    n_parallel = max(1, min(len(jobs), workers or max(1, (os.cpu_count() or 1))))
    if jobs:
        # each variant gets its share of the cores
        per = max(1, (os.cpu_count() or 1) // n_parallel)
        solver = {**raw.get("solver", {})}
        solver.setdefault("workers", per)
        if not solver.get("workers"):
            solver["workers"] = per
        raw = {**raw, "solver": solver}
        args = [(raw, scenario.base_dir, values, folder, time_limit) for values, folder in jobs]
        for row in _map(args, scheduler, n_parallel):
            rows[row["variant"]] = {**row, "reused": False}
    frame = pd.DataFrame([rows[variant_name(v)] for v in combos])
    write_csv(out / "results.csv", frame)
    return frame


def _call(args: tuple[Any, ...]) -> dict[str, Any]:
    return run_variant(*args)


def _died(args: tuple[Any, ...], why: str) -> dict[str, Any]:
    """The row of a variant whose worker process died (killed, out of memory, a crash)."""

    _raw, _base, values, out_dir, _limit = args
    row = {
        "variant": Path(out_dir).name,
        **{f"set:{k}": v for k, v in values.items()},
        "status": "error",
        "error": f"the worker solving this variant died ({why}); the other variants are kept",
    }
    write_text(Path(out_dir) / "variant.json", json_text({"values": values, "row": row}))
    return row


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{name}: killed, e.g. out of memory" if name == "SIGKILL" else name
    return f"exit code {code}"


def _isolated(args: list[tuple[Any, ...]], n_parallel: int) -> list[dict[str, Any]]:
    """Each variant in its own process (at most ``n_parallel`` at once), so a worker that
    dies takes only its own variant with it. The row comes back through ``variant.json``."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    context = mp.get_context("spawn")
    rows: dict[int, dict[str, Any]] = {}
    queue = list(enumerate(args))
    running: dict[Any, tuple[int, Any]] = {}
    while queue or running:
        while queue and len(running) < n_parallel:
            k, a = queue.pop(0)
            remove_file(Path(a[3]) / "variant.json")
            process = context.Process(target=_call, args=(a,), daemon=True)
            process.start()
            running[process.sentinel] = (k, process)
        for sentinel in wait(list(running)):
            k, process = running.pop(sentinel)
            process.join()
            done = Path(args[k][3]) / "variant.json"
            row = read_json(done)["row"] if process.exitcode == 0 and done.exists() else None
            rows[k] = row if row is not None else _died(args[k], _exit_reason(process.exitcode))
    return [rows[k] for k in range(len(args))]


def _map(args: list[tuple[Any, ...]], scheduler: str | None, n_parallel: int) -> list[dict[str, Any]]:
    if scheduler is None:
        if n_parallel == 1:
            return [_call(a) for a in args]
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        rows: dict[int, dict[str, Any]] = {}
        with ProcessPoolExecutor(max_workers=n_parallel, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_call, a) for a in args]
            for k, future in enumerate(futures):
                try:
                    rows[k] = future.result()
                except BrokenProcessPool:
                    continue  # a worker died: every unfinished variant is re-run in isolation
        unfinished = [k for k in range(len(args)) if k not in rows]
        if unfinished:
            for k, row in zip(unfinished, _isolated([args[k] for k in unfinished], n_parallel), strict=True):
                rows[k] = row
        return [rows[k] for k in range(len(args))]
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        msg = "a Dask scheduler was asked for, but dask.distributed is not installed: pip install 'territory-opt[dask]'"
        raise ScenarioError(msg) from exc
    if scheduler == "local":
        with (
            LocalCluster(n_workers=n_parallel, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            return _gather(client, args)
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        msg = f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address, or leave out --scheduler for a local pool"
        raise ScenarioError(msg) from None
    with client:
        return _gather(client, args)


def _gather(client: Any, args: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Each variant's row; a variant whose worker died (Dask gives up after retries on other
    workers: ``KilledWorker``) becomes a failed row, the others are kept."""
    rows = []
    for a, future in zip(args, client.map(_call, args, pure=False), strict=True):
        try:
            rows.append(future.result())
        except Exception as exc:  # noqa: BLE001 - KilledWorker, CommClosedError, ...
            rows.append(_died(a, f"{type(exc).__name__}: {exc}"))
    return rows
