"""Partial re-runs: re-optimise chosen territories (or one region) of an earlier plan, leaving
every other assignment exactly as it is."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError, ScenarioError
from .errors import Problem as Finding
from .scenario import Scenario, with_time_limit


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

    from ._staging import check_output_folder
    from .io import load_inputs
    from .pipeline import input_files, problem_from_inputs, solve_problem

    inputs_read = [*input_files(scenario), Path(baseline) / "assignments.csv"]
    if out_dir is not None:
        check_output_folder(out_dir, inputs_read)  # before the solve, not after it
    inputs = load_inputs(scenario)
    ids = inputs.units["id"].astype(str)
    base_of = _baseline(baseline, ids)
    reps = inputs.reps.assign(id=inputs.reps["id"].astype(str))
    chosen, dropped = _chosen(reps, territories, region, remove)
    keep = chosen - dropped
    mask = ids.map(base_of).isin(chosen).to_numpy()
    problem = problem_from_inputs(scenario, _part(inputs, reps, mask, base_of, keep, dropped), seats=keep)
    plan = solve_problem(
        scenario,
        problem,
        solver=with_time_limit(scenario.solver, time_limit),
        progress=progress,
        name=f"{scenario.name} (re-run of {len(chosen)} territories)",
    )
    new_of = dict(zip(problem.unit_ids.astype(str), problem.seat_ids[plan.seat_of].astype(str), strict=True))
    full = pd.DataFrame(
        {
            "unit_id": ids.to_numpy(),
            "territory_id": [new_of.get(u, base_of[u]) for u in ids],
            "previous_territory_id": [base_of[u] for u in ids],
        }
    )
    full["moved"] = full["territory_id"] != full["previous_territory_id"]
    note = (
        f"partial re-run: {int(mask.sum()):,} units of {sorted(chosen)} re-divided among {sorted(keep)}; "
        f"the other {int((~mask).sum()):,} units keep their territory"
    )
    plan = replace(plan, notes=(*plan.notes, note))
    if out_dir is not None:
        partial = {
            "territories": sorted(chosen),
            "removed": sorted(dropped),
            "units_rerun": int(mask.sum()),
            "units_unchanged": int((~mask).sum()),
            "baseline": str(baseline),
        }
        _write_partial(plan, full, partial, out_dir, inputs_read)
    return plan, full


def _baseline(baseline: str | Path, ids: pd.Series) -> dict[str, str]:
    """Each unit's territory in the baseline plan; every unit of the scenario must be there."""
    from .io import read_assignment

    base = read_assignment(baseline)
    base_of = dict(zip(base["unit_id"].astype(str), base["territory_id"].astype(str), strict=True))
    missing = [u for u in ids if u not in base_of]
    if missing:
        msg = (
            f"{len(missing)} unit(s) of the scenario are not in the baseline plan (e.g. {missing[0]!r}); "
            "solve the whole scenario first"
        )
        raise DataError([Finding(str(Path(baseline) / "assignments.csv"), msg)])
    return base_of


def _chosen(
    reps: pd.DataFrame, territories: Iterable[str], region: str | None, remove: Iterable[str]
) -> tuple[set[str], set[str]]:
    """The territories re-run (named, or every rep of ``region``) and the reps removed
    among them; at least one rep must remain."""
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
    if not chosen - dropped:
        raise ScenarioError("rerun: at least one rep must remain")
    return chosen, dropped


def _part(
    inputs: Any, reps: pd.DataFrame, mask: np.ndarray, base_of: dict[str, str], keep: set[str], dropped: set[str]
) -> Any:
    """The inputs of the part re-run: its units (owners: the baseline's), the reps kept,
    the adjacency among its units, the removed reps' roster rows."""
    from dataclasses import replace

    ids = inputs.units["id"].astype(str)
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
    return replace(
        inputs,
        units=units.reset_index(drop=True),
        reps=reps[reps["id"].isin(keep)].reset_index(drop=True),
        edges=edges,
        geometry=None if inputs.geometry is None else inputs.geometry[mask].reset_index(drop=True),
        accounts=None,
        removed=reps[reps["id"].isin(dropped)][["id", "name"]].reset_index(drop=True),
    )


def _write_partial(
    plan: Any, full: pd.DataFrame, partial: dict[str, Any], out_dir: str | Path, inputs_read: list[Path]
) -> None:
    """The part's outputs with the full ``assignments.csv`` and ``summary.json``'s
    ``partial`` record, as one set swapped in at the end."""
    from ._staging import staged_folder
    from .io import json_text, read_json, write_csv, write_text
    from .pipeline import write_plan_files

    with staged_folder(out_dir, inputs=inputs_read) as stage:
        written = write_plan_files(plan, stage, quotas=None, maps=False, tiles=False)
        write_csv(stage / "assignments.csv", full)
        summary = read_json(written["summary"])
        summary["partial"] = partial
        write_text(written["summary"], json_text(summary))
