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
    from .io import load_inputs, read_assignment, write_csv, write_text
    from .pipeline import input_files
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
        from ._staging import staged_folder
        from .io import json_text, read_json
        from .pipeline import write_plan_files

        with staged_folder(out_dir, inputs=inputs_read) as stage:  # one set, swapped in at the end
            written = write_plan_files(plan, stage, quotas=None, maps=False, tiles=False)
            write_csv(stage / "assignments.csv", full)
            summary = read_json(written["summary"])
            summary["partial"] = {
                "territories": sorted(chosen),
                "removed": sorted(dropped),
                "units_rerun": int(mask.sum()),
                "units_unchanged": int((~mask).sum()),
                "baseline": str(baseline),
            }
            write_text(written["summary"], json_text(summary))
    return plan, full
