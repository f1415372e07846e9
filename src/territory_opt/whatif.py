"""What-if planning: inline edits, sweeps (a local process pool or Dask), sales-force sizing,
comparison of plans, and partial re-runs that leave every other assignment untouched.

* :func:`with_values` applies dotted-key edits to a scenario (``balance.potential.tolerance``)
  and validates the result, so a wrong key is named like a wrong key in a file.
* :func:`sweep` solves the grid of variants in parallel, each into its own folder (a
  finished variant is reused on a re-run), on a local process pool or on a Dask cluster
  (``scheduler="local"`` starts a ``LocalCluster``; an address connects to one). A failed
  variant is a row with its error; the others are kept.
* :func:`size` is a sweep over headcounts with a recommendation and a PNG curve.
* :func:`compare_folders` / :func:`compare_plans` put two plans side by side.
* :func:`rerun` re-optimises chosen territories (or one region) of an earlier plan.
* :func:`current_plan` is today's alignment as a plan, to compare a realignment against.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .errors import DataError, ScenarioError, TerritoryOptError
from .errors import Problem as Finding
from .scenario import Scenario, scenario_from_dict, with_time_limit

# ----------------------------------------------------------------------------- edits


def parse_value(text: str) -> Any:
    """A value from the command line, read as YAML (``0.03`` → float, ``true`` → bool)."""
    if not text.strip():
        return ""
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "nested too deeply"
        msg = f"{text!r} is not a value (read as YAML: {first}); quote text, e.g. --set 'name=\"a, b\"'"
        raise ScenarioError(msg) from None


def parse_sets(items: Iterable[str], *, grid: bool = False) -> dict[str, Any]:
    """``key=value`` (or, with ``grid``, ``key=v1,v2,...``) pairs from the command line."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            msg = f"--set {item!r}: write key=value (e.g. balance.potential.tolerance=0.03)"
            raise ScenarioError(msg)
        key, _, value = item.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[^.\s]+)*", key):
            msg = f"--set {item!r}: {key!r} is not a scenario key; write key=value with a dotted key (e.g. balance.potential.tolerance=0.03)"
            raise ScenarioError(msg)
        out[key] = [parse_value(v) for v in value.split(",")] if grid else parse_value(value)
    return out


def with_values(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """The scenario with dotted keys set (``{"balance.potential.tolerance": 0.03}``), validated."""
    if not values:
        return scenario
    raw = scenario.model_dump(mode="json", exclude={"base_dir"}, exclude_none=True)
    for key, value in values.items():
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    edits = ", ".join(f"{k}={v}" for k, v in values.items())
    return scenario_from_dict(raw, source=f"{scenario.name} with {edits}", base_dir=scenario.base_dir)


def with_edits(
    scenario: Scenario,
    *,
    add_reps: Iterable[dict[str, Any]] = (),
    remove_reps: Iterable[str] = (),
    move_reps: Iterable[dict[str, Any]] = (),
    lock: dict[str, str] | None = None,
    lock_file: str | Path | None = None,
) -> Scenario:
    """The scenario with what-if edits added to its ``edits`` (see
    :class:`~territory_opt.scenario.Edits`): ``add_reps=[{"id": "R51", "lat": 30.3,
    "lon": -97.7}]`` (no lat/lon: an open seat), ``remove_reps=["R07"]``, ``move_reps=[{"id":
    "R03", "lat": ..., "lon": ...}]``, ``lock={"A123": "R07"}`` (``""`` unlocks) or a
    ``lock_file`` CSV (columns ``id``, ``rep``). Input files are never changed."""
    edits = scenario.edits.model_dump(mode="json")
    edits["add_reps"] += [dict(r) for r in add_reps]
    edits["remove_reps"] += [str(r) for r in remove_reps]
    edits["move_reps"] += [dict(r) for r in move_reps]
    edits["lock"].update({str(k): str(v) for k, v in (lock or {}).items()})
    if lock_file is not None:
        edits["lock_file"] = str(Path(lock_file).resolve())
    return with_values(scenario, {"edits": edits})


def parse_rep(text: str, *, home_required: bool = False) -> dict[str, Any]:
    """A command-line rep edit: ``ID@LAT,LON[,FTE][,skills=A|B]``, or for an open seat (centre
    chosen) ``ID[,FTE][,skills=A|B]``; e.g. ``R51@30.27,-97.74,0.5,skills=healthcare|gov``."""
    name, at, where = text.partition("@")
    parts = [p.strip() for p in (where if at else name).split(",")]
    if not at:
        name, parts = parts[0], parts[1:]
    rep: dict[str, Any] = {"id": name.strip()}
    example = "write ID@LAT,LON[,FTE][,skills=A|B] or, for an open seat, ID[,FTE][,skills=A|B], e.g. R51@30.27,-97.74,1,skills=healthcare"
    numbers = []
    try:
        for part in parts:
            key, eq, value = part.partition("=")
            if eq and key.strip().lower() == "skills":
                rep["skills"] = [s.strip() for s in value.replace(";", "|").split("|") if s.strip()]
            elif eq or "skills" in rep:
                raise ValueError
            else:
                numbers.append(float(part))
        if at and len(numbers) not in (2, 3):
            raise ValueError
        if not at and len(numbers) > 1:
            raise ValueError
        if at:
            rep["lat"], rep["lon"] = numbers[0], numbers[1]
        if len(numbers) in (1, 3):
            rep["capacity"] = numbers[-1]
    except (ValueError, IndexError):
        msg = f"{text!r}: {example}"
        raise ScenarioError(msg) from None
    if not rep["id"] or (home_required and "lat" not in rep):
        msg = f"{text!r}: write ID@LAT,LON, e.g. R03@33.75,-84.39"
        raise ScenarioError(msg)
    if home_required and ("skills" in rep or "capacity" in rep):
        msg = f"{text!r}: a move takes only the new home, ID@LAT,LON"
        raise ScenarioError(msg)
    return rep


def parse_locks(items: Iterable[str]) -> dict[str, str]:
    """``ACCOUNT=REP`` pairs (command-line ``--lock``); ``ACCOUNT=`` unlocks."""
    locks = {}
    for item in items:
        unit, sep, rep = item.partition("=")
        if not sep or not unit.strip():
            msg = f"--lock {item!r}: write ACCOUNT=REP, e.g. A00042=R07 (ACCOUNT= unlocks)"
            raise ScenarioError(msg)
        locks[unit.strip()] = rep.strip()
    return locks


def variant_name(values: dict[str, Any]) -> str:
    """A folder name for a variant: readable, and unique by a short hash."""
    text = "_".join(f"{'.'.join(k.split('.')[-2:])}-{v}" for k, v in values.items()) or "base"
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:80]
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{text}_{digest}"


# ----------------------------------------------------------------------------- one variant


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
    for m, name in enumerate(problem.measure_names):  # per FTE, as capacities are given
        load = np.bincount(plan.seat_of, weights=problem.measures[:, m], minlength=problem.n_seats)
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
    from . import run_scenario
    from .io import json_text, write_text

    row: dict[str, Any] = {"variant": Path(out_dir).name, **{f"set:{k}": v for k, v in values.items()}}
    try:
        scenario = with_values(scenario_from_dict(raw, base_dir=base_dir), values)
        plan, quotas, _ = run_scenario(scenario, out_dir, time_limit=time_limit, tiles=False)
        row.update(headline(plan, quotas))
    except TerritoryOptError as exc:
        row.update({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    except Exception as exc:  # noqa: BLE001 - a sweep reports every failure and goes on
        row.update({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    Path(out_dir).mkdir(parents=True, exist_ok=True)
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
    from .io import write_csv

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
            saved = json.loads(done.read_text(encoding="utf-8"))
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
    from .io import json_text, write_text

    _raw, _base, values, out_dir, _limit = args
    row = {
        "variant": Path(out_dir).name,
        **{f"set:{k}": v for k, v in values.items()},
        "status": "error",
        "error": f"the worker solving this variant died ({why}); the other variants are kept",
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
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
            (Path(a[3]) / "variant.json").unlink(missing_ok=True)
            process = context.Process(target=_call, args=(a,), daemon=True)
            process.start()
            running[process.sentinel] = (k, process)
        for sentinel in wait(list(running)):
            k, process = running.pop(sentinel)
            process.join()
            done = Path(args[k][3]) / "variant.json"
            row = json.loads(done.read_text(encoding="utf-8"))["row"] if process.exitcode == 0 and done.exists() else None
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


# ----------------------------------------------------------------------------- sizing


def headcount_key(scenario: Scenario) -> tuple[str, int]:
    """Which key sets the number of seats, and its value now."""
    data = scenario.data
    if data.synthetic is not None and data.reps is None:
        return "data.synthetic.reps", data.synthetic.reps
    if data.reps is None:
        return "seats.count", scenario.seats.count or 1
    return "seats.vacancies", scenario.seats.vacancies


def size(
    scenario: Scenario,
    headcounts: Iterable[int],
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    time_limit: float | None = None,
    capacity: str | None = None,
) -> tuple[pd.DataFrame, int | None]:
    """Solve across headcounts; recommend the smallest one whose plan is feasible with every
    seat within capacity (``constraints.capacity``, or ``capacity``: a measure's cap per FTE
    given here). Writes ``sizing.csv``, ``sizing.png`` and ``sizing.html`` into ``out_dir``."""
    from .io import write_csv, write_text

    key, _ = headcount_key(scenario)
    counts = sorted({int(h) for h in headcounts})
    if key == "seats.vacancies":
        roster = _roster_size(scenario)
        values = [h - roster for h in counts]
        if min(values) < 0:
            msg = f"sizing a roster of {roster} reps adds open seats: ask for headcounts of at least {roster}"
            raise ScenarioError(msg)
    else:
        values = counts
    frame = sweep(scenario, {key: values}, out_dir, scheduler=scheduler, workers=workers, time_limit=time_limit)
    frame.insert(0, "headcount", counts)
    caps = dict(scenario.constraints.capacity)
    measure = capacity or next(iter(caps), None) or ("workload" if "workload_per_seat_max" in frame.columns else None)
    limit = caps.get(measure) if measure else None
    ok = frame["status"].isin(["feasible", "optimal"])
    if measure and limit is not None and f"{measure}_per_seat_max" in frame.columns:
        ok &= frame[f"{measure}_per_seat_max"] <= limit * (1 + 1e-9)
    frame["within_capacity"] = ok
    recommended = int(frame.loc[ok, "headcount"].min()) if ok.any() else None
    from .io import write_atomic
    from .pages.sizing import sizing_page, sizing_png

    out = Path(out_dir)
    write_csv(out / "sizing.csv", frame)
    png = sizing_png(frame, measure, limit, recommended)
    write_atomic(out / "sizing.png", lambda p: p.write_bytes(png))
    write_text(out / "sizing.html", sizing_page(scenario.name, frame, measure, limit, recommended, png))
    return frame, recommended


def _roster_size(scenario: Scenario) -> int:
    from .io import load_inputs

    inputs = load_inputs(scenario.model_copy(update={"seats": scenario.seats.model_copy(update={"vacancies": 0})}))
    return len(inputs.reps)


# ----------------------------------------------------------------------------- comparison


def _read_folder(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    from .io import read_assignment, read_json, read_output_csv

    folder = Path(folder)
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise DataError([Finding(str(summary_path), "not found; is this a territory-opt plan folder (made by solve)?")])
    return read_json(summary_path), read_output_csv(folder / "territories.csv"), read_assignment(folder)


def compare_frames(
    a: tuple[dict[str, Any], pd.DataFrame, pd.DataFrame],
    b: tuple[dict[str, Any], pd.DataFrame, pd.DataFrame],
    names: tuple[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(headline table, per-territory deltas, moved units) for two plans' outputs."""
    (sa, ta, aa), (sb, tb, ab) = a, b

    def figures(summary: dict[str, Any], terr: pd.DataFrame) -> dict[str, Any]:
        row = {
            "status": summary.get("status"),
            "objective": summary.get("objective"),
            "gap": summary.get("gap"),
            "global_gap": summary.get("global_gap"),
            "travel_km": (summary.get("objective_terms") or {}).get("travel"),
            "moved_pct": (summary.get("objective_terms") or {}).get("disruption"),
            "units_moved": summary.get("units_moved"),
            "territories": summary.get("territories"),
            "audit_ok": summary.get("audit_ok"),
            "quota_cv": ((summary.get("quotas") or {}).get("fairness") or {}).get("quota_per_potential_cv"),
        }
        for column in terr.columns:
            if column.endswith("_dev_pct"):
                row[f"{column[:-8]}_spread_pct"] = float(pd.to_numeric(terr[column], errors="coerce").abs().max())
        return row

    fa, fb = figures(sa, ta), figures(sb, tb)
    keys = list(dict.fromkeys([*fa, *fb]))
    head = pd.DataFrame({"figure": keys, names[0]: [fa.get(k) for k in keys], names[1]: [fb.get(k) for k in keys]})
    numeric = [
        isinstance(fa.get(k), (int, float)) and isinstance(fb.get(k), (int, float)) and not isinstance(fa.get(k), bool)
        for k in keys
    ]
    head["change"] = [fb[k] - fa[k] if ok else None for k, ok in zip(keys, numeric, strict=True)]
    ta = ta.assign(territory_id=ta["territory_id"].astype(str))
    tb = tb.assign(territory_id=tb["territory_id"].astype(str))
    numbers = [
        c
        for c in ta.columns
        if c not in ("territory_id", "name", "lat", "lon")  # where a seat sits is no figure to subtract
        and c in tb.columns
        and pd.api.types.is_numeric_dtype(pd.to_numeric(ta[c], errors="coerce"))
    ]
    merged = ta[["territory_id", *numbers]].merge(
        tb[["territory_id", *numbers]], on="territory_id", how="outer", suffixes=(f" {names[0]}", f" {names[1]}")
    )
    for c in numbers:
        after = pd.to_numeric(merged[f"{c} {names[1]}"], errors="coerce").astype(float)
        before = pd.to_numeric(merged[f"{c} {names[0]}"], errors="coerce").astype(float)
        merged[f"{c} change"] = after - before
    left = aa[["unit_id", "territory_id"]].astype(str).rename(columns={"territory_id": "from_territory"})
    right = ab[["unit_id", "territory_id"]].astype(str).rename(columns={"territory_id": "to_territory"})
    both = left.merge(right, on="unit_id", how="outer").fillna("")
    moved = both[both["from_territory"] != both["to_territory"]].reset_index(drop=True)
    return head, merged, moved


def compare_folders(
    dir_a: str | Path, dir_b: str | Path, out_dir: str | Path | None = None, *, tiles: bool = True
) -> dict[str, Any]:
    """Compare two plan folders; writes ``compare.csv`` (headline figures), ``territory_changes.csv``,
    ``moved_units.csv`` (the CRM change list) and ``compare.html`` (tables, and synchronised maps
    when both folders have ``territories.geojson``) into ``out_dir`` (default: ``dir_b/compare``)."""
    from .io import read_text, write_csv, write_text

    a, b = Path(dir_a), Path(dir_b)
    names = (a.name, b.name) if a.name != b.name else (str(a), str(b))
    head, deltas, moved = compare_frames(_read_folder(a), _read_folder(b), names)
    out = Path(out_dir) if out_dir is not None else b / "compare"
    plan_files = _refuse_plan_files_inside(out, a, b)
    from .maps import compare_map_from_pages
    from .pages.compare import compare_page

    pages = [folder / "map.html" for folder in (a, b)]
    the_map = None
    if all(p.is_file() for p in pages):
        the_map = compare_map_from_pages(*(read_text(p) for p in pages), names=names, tiles=tiles)
    noun = "units"
    if the_map is not None and (the_map.data["panels"][0].get("points") or {}).get("draw"):
        noun = "accounts"
    page = compare_page(names, head, deltas, moved, map_page=the_map, unit_noun=noun)
    from ._staging import staged_folder

    with staged_folder(out, inputs=plan_files) as stage:  # the four files are one set
        write_csv(stage / "compare.csv", head)
        write_csv(stage / "territory_changes.csv", deltas)
        write_csv(stage / "moved_units.csv", moved)
        write_text(stage / "compare.html", page)
    written = {
        "compare": out / "compare.csv",
        "territory_changes": out / "territory_changes.csv",
        "moved_units": out / "moved_units.csv",
        "html": out / "compare.html",
    }
    return {"headline": head, "territories": deltas, "moved": moved, "written": written}


def _refuse_plan_files_inside(out: Path, *plans: Path) -> list[Path]:
    """The plan files a comparison reads, refused inside its output folder (checked before
    any work)."""
    from ._staging import check_output_folder

    names = ("assignments.csv", "territories.csv", "summary.json", "territories.geojson", "map.html")
    files = [plan / name for plan in plans for name in names if (plan / name).exists()]
    check_output_folder(out, files)
    return files


def compare_plans(a: Any, b: Any, *, geometry: Any = None, tiles: bool = True) -> dict[str, Any]:
    """Two :class:`~territory_opt.plan.Plan` objects side by side: headline figures,
    per-territory deltas, moved units and a synchronised map (``compare_map``)."""
    from .maps import compare_map

    def as_outputs(plan: Any) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        return plan.summary(), plan.territories, plan.assignment

    names = (a.scenario or "a", b.scenario or "b")
    if names[0] == names[1]:
        names = (f"{names[0]} (a)", f"{names[1]} (b)")
    head, deltas, moved = compare_frames(as_outputs(a), as_outputs(b), names)
    return {
        "headline": head,
        "territories": deltas,
        "moved": moved,
        "map": compare_map(a, b, geometry=geometry, tiles=tiles),
    }


# ----------------------------------------------------------------------------- hierarchy


def rollup(plan: Any, level: str = "region", quotas: Any = None) -> pd.DataFrame:
    """Territory figures summed by ``level`` (``area`` or ``region``): territories, units,
    each measure with its target, and quotas when given."""
    problem = plan.problem
    labels = {"area": problem.seat_area, "region": problem.seat_region}.get(level)
    if labels is None:
        msg = f"rollup level {level!r}: use 'area' or 'region' (columns of the rep roster)"
        raise ScenarioError(msg)
    of_seat = dict(zip(problem.seat_ids.astype(str), labels, strict=True))
    frame = plan.territories.copy()
    frame[level] = [of_seat.get(str(t), "") for t in frame["territory_id"]]
    sums = [c for c in frame.columns if c in problem.measure_names or c.endswith("_target") or c == "units"]
    if quotas is not None:
        q = quotas.table[["territory_id", "quota"]].astype({"territory_id": str})
        frame = frame.assign(territory_id=frame["territory_id"].astype(str)).merge(q, on="territory_id", how="left")
        sums.append("quota")
    out = (
        frame.groupby(level, sort=True)
        .agg(territories=("territory_id", "count"), **{c: (c, "sum") for c in sums})
        .reset_index()
    )
    for m in problem.measure_names:
        if m in out.columns and f"{m}_target" in out.columns:
            out[f"{m}_dev_pct"] = 100.0 * (out[m] / out[f"{m}_target"].where(out[f"{m}_target"] != 0) - 1.0)
    return out


# ----------------------------------------------------------------------------- today's alignment


def current_plan(scenario: Scenario) -> Any:
    """Today's alignment (every unit with its current owner) as a
    :class:`~territory_opt.plan.Plan`, to compare a realignment against: the same figures and
    independent audit as a solved plan (balance against the scenario's bands, travel,
    contiguity), no solver proof (``bound`` and ``gap`` are None; status ``unknown`` when the
    audit finds today's territories outside the scenario's rules). Give the scenario without
    roster edits: every unit needs a current owner on the roster."""
    from . import _record, problem_from_scenario
    from .plan import evaluated_plan

    problem, inputs = problem_from_scenario(scenario)
    assign = np.asarray(problem.owner, dtype=np.int64)
    if (assign < 0).any():
        example = problem.unit_ids[int(np.flatnonzero(assign < 0)[0])]
        msg = (
            f"{scenario.name}: {int((assign < 0).sum())} unit(s) have no current owner on the roster (e.g. "
            f"{example!r}); today's alignment needs every unit owned (use the scenario without edits.remove_reps)"
        )
        raise ScenarioError(msg)
    first = next(iter(scenario.balance), None)
    weight = problem.measure(first) if first else np.ones(problem.n_units)
    centres = np.zeros(problem.n_seats, dtype=np.int64)
    for t in np.flatnonzero(~problem.has_home):  # an open seat's centre: its book's weighted middle unit
        members = np.flatnonzero(assign == t)
        if len(members):
            xy = problem.unit_xy[members]
            mean = np.average(xy, axis=0, weights=weight[members] + 1e-12)
            centres[t] = members[int(np.argmin(np.linalg.norm(xy - mean, axis=1)))]
    return evaluated_plan(
        problem,
        assign,
        scenario,
        centres=centres,
        method="today's alignment (current owners)",
        bound_scope="none: today's alignment, not a solve",
        name=f"{scenario.name} (today)",
        notes=inputs.notes,
        geometry=inputs.geometry,
        record=_record(scenario, inputs),
    )


# ----------------------------------------------------------------------------- partial re-runs


def rerun(
    scenario: Scenario,
    baseline: str | Path,
    *,
    territories: Iterable[str] = (),
    region: str | None = None,
    remove: Iterable[str] = (),
    out_dir: str | Path | None = None,
    time_limit: float | None = None,
    progress: Any = None,
) -> tuple[Any, pd.DataFrame]:
    """Re-optimise chosen territories of an earlier plan (or every territory of ``region``),
    optionally with fewer reps (``remove``: "these 5 reps become 4"), leaving every other
    assignment exactly as it is.

    The chosen territories' units are re-divided among their remaining reps (targets: their
    own totals split by FTE), with every constraint family of the scenario; the plan's
    figures and proof are those of that part. Returns ``(plan of the part, full assignment)``;
    with ``out_dir`` writes the part's outputs and the full ``assignments.csv``.
    """
    from dataclasses import replace

    from . import input_files
    from ._staging import check_output_folder
    from .io import load_inputs, read_assignment, write_csv, write_text
    from .problem import Problem
    from .solve import solve

    inputs_read = [*input_files(scenario), Path(baseline) / "assignments.csv"]
    if out_dir is not None:
        check_output_folder(out_dir, inputs_read)  # before the solve, not after it
    inputs = load_inputs(scenario)
    base = read_assignment(baseline)
    base_of = dict(zip(base["unit_id"].astype(str), base["territory_id"].astype(str), strict=True))
    ids = inputs.units["id"].astype(str)
    missing = [u for u in ids if u not in base_of]
    if missing:
        msg = f"{len(missing)} unit(s) of the scenario are not in the baseline plan (e.g. {missing[0]!r}); solve the whole scenario first"
        raise DataError([Finding(str(Path(baseline) / "assignments.csv"), msg)])
    reps = inputs.reps.assign(id=inputs.reps["id"].astype(str))
    chosen = set(map(str, territories))
    if region is not None:
        in_region = set(reps.loc[reps["region"] == region, "id"])
        if not in_region:
            known = sorted(set(reps["region"]) - {""})
            msg = f"rerun: no rep has region {region!r}; regions in the roster: {known}"
            raise ScenarioError(msg)
        chosen |= in_region
    unknown = sorted(chosen - set(reps["id"]))
    if unknown or not chosen:
        msg = (
            f"rerun: territories {unknown} are not reps of the roster"
            if unknown
            else "rerun: name territories or a region"
        )
        raise ScenarioError(msg)
    dropped = set(map(str, remove))
    if dropped - chosen:
        msg = f"rerun: removed reps {sorted(dropped - chosen)} are not among the territories re-run"
        raise ScenarioError(msg)
    keep = chosen - dropped
    if not keep:
        raise ScenarioError("rerun: at least one rep must remain")
    mask = ids.map(base_of).isin(chosen).to_numpy()
    units = inputs.units[mask].copy()
    units["owner"] = ids[mask].map(base_of).to_numpy()  # moves are counted against the baseline
    units["previous_owner"] = units["owner"]  # a removed rep stays the previous owner of its units
    stuck = units["lock"].isin(dropped)
    if stuck.any():
        msg = f"rerun: {int(stuck.sum())} unit(s) are locked to removed reps (e.g. {units.loc[stuck, 'id'].iloc[0]!r}); unlock them first"
        raise ScenarioError(msg)
    edges = None
    if inputs.edges is not None:
        index = np.full(len(mask), -1)
        index[mask] = np.arange(int(mask.sum()))
        e = inputs.edges
        both = mask[e[:, 0]] & mask[e[:, 1]]
        edges = np.column_stack([index[e[both, 0]], index[e[both, 1]], e[both, 2]])
    part = replace(
        inputs,
        units=units.reset_index(drop=True),
        reps=reps[reps["id"].isin(keep)].reset_index(drop=True),
        edges=edges,
        geometry=None if inputs.geometry is None else inputs.geometry[mask].reset_index(drop=True),
        accounts=None,
        removed=reps[reps["id"].isin(dropped)][["id", "name"]].reset_index(drop=True),
    )
    c = scenario.constraints
    problem = Problem.from_inputs(
        part,
        exclusions=[(e.unit, e.seat) for e in c.exclusions if e.seat in keep],
        skills=c.skills,
        locks=c.locks,
        families=c.families,
        bind_regions=c.bind_regions,
    )
    settings = with_time_limit(scenario.solver, time_limit)
    plan = solve(
        problem,
        balance=dict(scenario.balance),
        constraints=c,
        objective=scenario.objective,
        candidates=scenario.candidates,
        solver=settings,
        progress=progress,
        scenario=f"{scenario.name} (re-run of {len(chosen)} territories)",
    )
    new_of = dict(zip(problem.unit_ids.astype(str), problem.seat_ids[plan.seat_of].astype(str), strict=True))
    territory = [new_of.get(u, base_of[u]) for u in ids]
    full = pd.DataFrame(
        {"unit_id": ids.to_numpy(), "territory_id": territory, "previous_territory_id": [base_of[u] for u in ids]}
    )
    full["moved"] = full["territory_id"] != full["previous_territory_id"]
    plan = replace(
        plan,
        notes=(
            *plan.notes,
            f"partial re-run: {int(mask.sum()):,} units of {sorted(chosen)} re-divided among {sorted(keep)}; the other {int((~mask).sum()):,} units keep their territory",
        ),
    )
    if out_dir is not None:
        from . import _write_plan_files
        from ._staging import staged_folder
        from .io import json_text

        with staged_folder(out_dir, inputs=inputs_read) as stage:  # one set, swapped in at the end
            written = _write_plan_files(plan, stage, quotas=None, maps=False, tiles=False)
            write_csv(stage / "assignments.csv", full)
            summary = json.loads(written["summary"].read_text(encoding="utf-8"))
            summary["partial"] = {
                "territories": sorted(chosen),
                "removed": sorted(dropped),
                "units_rerun": int(mask.sum()),
                "units_unchanged": int((~mask).sum()),
                "baseline": str(baseline),
            }
            write_text(written["summary"], json_text(summary))
    return plan, full
