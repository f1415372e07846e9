"""The pipeline, end to end: scenario -> inputs -> problem -> solve -> plan -> quotas -> files.

* :func:`problem_from_scenario` reads and validates a scenario's data and builds the arrays;
* :func:`solve_scenario` solves it; :func:`run_scenario` is everything ``territory-opt
  solve`` does (solve, quotas, and the plan folder);
* :func:`write_plan` writes a plan's folder as one set (:mod:`territory_opt._staging`);
* :func:`quotas_for_plan` sets quotas for a plan already made.

When a disruption budget is missed or proved too small, the solve's error carries the best
plan it found that meets every band; :func:`run_scenario` writes that plan, audited and
marked as over the budget, to a folder of its own beside the output folder
(``<out>-over-budget``), never into the output folder itself.

Only orchestration lives here: reading and writing files is :mod:`territory_opt.io`, the
pages are :mod:`territory_opt.maps` and :mod:`territory_opt.report`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DataError, InfeasibleError, ScenarioError, SolverError
from .io import Inputs, load_inputs
from .plan import Plan
from .problem import Problem
from .quota import QuotaResult, set_quotas
from .scenario import Scenario, load_scenario
from .solve import Progress, solve


def problem_from_scenario(scenario: Scenario) -> tuple[Problem, Inputs]:
    """Read, validate and build the problem a scenario describes."""
    inputs = load_inputs(scenario)
    return problem_from_inputs(scenario, inputs), inputs


def problem_from_inputs(scenario: Scenario, inputs: Inputs, *, seats: set[str] | None = None) -> Problem:
    """The problem of ``inputs`` under the scenario's constraints (``seats``: the rep ids
    kept, for a part of the roster; exclusions of other reps are left out)."""
    c = scenario.constraints
    return Problem.from_inputs(
        inputs,
        exclusions=[(e.unit, e.seat) for e in c.exclusions if seats is None or e.seat in seats],
        skills=c.skills,
        locks=c.locks,
        families=c.families,
        bind_regions=c.bind_regions,
    )


def solve_problem(
    scenario: Scenario,
    problem: Problem,
    *,
    solver: Any = None,
    progress: Progress | None = None,
    name: str | None = None,
) -> Plan:
    """Solve ``problem`` with the scenario's balance, constraints, objective and candidates
    (``solver``: settings in place of the scenario's; ``name``: the plan's scenario name)."""
    return solve(
        problem,
        balance=dict(scenario.balance),
        constraints=scenario.constraints,
        objective=scenario.objective,
        candidates=scenario.candidates,
        solver=scenario.solver if solver is None else solver,
        progress=progress,
        scenario=scenario.name if name is None else name,
    )


def _solve_loaded(
    scenario: Scenario | str | Path, time_limit: float | None, progress: Progress | None, *, over_budget: bool = False
) -> tuple[Scenario, Plan, Inputs]:
    """Load, solve and annotate; with ``over_budget``, a solve error that carries a plan over
    the budget gets it as ``over_budget_plan`` (:func:`over_budget_plan`), for
    :func:`run_scenario` to write."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if time_limit is not None:
        from .scenario import with_time_limit

        scenario = scenario.model_copy(update={"solver": with_time_limit(scenario.solver, time_limit)})
    problem, inputs = problem_from_scenario(scenario)
    try:
        plan = solve_problem(scenario, problem, progress=progress)
    except (SolverError, InfeasibleError) as exc:
        if not over_budget:
            raise
        try:
            exc.over_budget_plan = over_budget_plan(scenario, problem, inputs, exc)
        except Exception as err:  # noqa: BLE001 - never hide the solve's own answer
            exc.over_budget_plan = f"{type(err).__name__}: {err}"
        raise
    from dataclasses import replace

    plan = replace(
        plan,
        notes=plan.notes + inputs.notes,
        geometry=inputs.geometry,
        land=inputs.land,
        record=plan_record(scenario, inputs),
    )
    return scenario, plan, inputs


def plan_record(scenario: Scenario, inputs: Inputs) -> dict[str, Any]:
    """What a plan folder keeps of its scenario: enough to set quotas for it later with the
    same roster (what-if edits) and to describe it."""
    edits = scenario.edits.model_dump(mode="json", exclude_defaults=True)
    if scenario.edits.lock_file is not None:
        edits["lock_file"] = str(scenario.resolve(scenario.edits.lock_file).resolve())
    description = " ".join(
        [scenario.description.strip(), *(n[:1].upper() + n[1:].rstrip(".") + "." for n in inputs.notes)]
    )
    return {
        "description": description.strip(),
        "unit_kind": inputs.unit_kind,
        "unit_noun": "accounts"
        if inputs.unit_kind == "accounts"
        else {"us-counties": "counties", "us-zips": "ZIP areas"}.get(str(scenario.data.dataset), "units"),
        "tolerances": {name: m.tolerance for name, m in scenario.balance.items()},
        "edits": edits,
        "quotas": None if scenario.quotas is None else scenario.quotas.model_dump(mode="json"),
    }


def solve_scenario(
    scenario: Scenario | str | Path,
    *,
    time_limit: float | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Load (if a path), validate and solve a scenario."""
    return _solve_loaded(scenario, time_limit, progress)[1]


def run_scenario(
    scenario: Scenario | str | Path,
    out_dir: str | Path | None = None,
    *,
    time_limit: float | None = None,
    progress: Progress | None = None,
    maps: bool = True,
    tiles: bool = True,
) -> tuple[Plan, QuotaResult | None, dict[str, Path]]:
    """Everything ``territory-opt solve`` does: solve, quotas (if the scenario has a quotas
    section), and write the outputs (see :func:`write_plan`)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    from ._staging import check_output_folder

    folder = scenario.output_dir(out_dir)
    real = check_output_folder(folder, input_files(scenario))  # before the solve, not after it
    side = over_budget_folder(real)
    try:
        solved, plan, _ = _solve_loaded(scenario, time_limit, progress, over_budget=True)
    except (SolverError, InfeasibleError) as exc:
        raise _with_over_budget_folder(exc, side, maps=maps, tiles=tiles, inputs=input_files(scenario)) from None
    quotas = set_quotas(plan, solved.quotas) if solved.quotas is not None else None
    written = write_plan(plan, folder, quotas=quotas, maps=maps, tiles=tiles, inputs=input_files(solved))
    _drop_stale_over_budget(side)
    return plan, quotas, written


#: The method an over-budget plan's summary names (how a later run knows the folder is ours).
OVER_BUDGET_METHOD = "the best plan the search found over the disruption budget"


def over_budget_folder(folder: Path) -> Path:
    """Where :func:`run_scenario` writes the best plan over a missed budget: beside
    ``folder``, named after it."""
    return folder.with_name(folder.name + "-over-budget")


def over_budget_plan(
    scenario: Scenario, problem: Problem, inputs: Inputs, exc: SolverError | InfeasibleError
) -> Plan | None:
    """The plan an error carries (``over_budget``: it meets every band but moves more than
    the budget), evaluated and audited on the scenario's rules, its notes saying how far
    over the budget it is; None when the error carries none."""
    import numpy as np

    from .maps import OVER_BUDGET_NOTE
    from .plan import evaluated_plan, middle_units

    assign = getattr(exc, "over_budget", None)
    if assign is None:
        return None
    a = np.asarray(assign, dtype=np.int64)
    if a.shape != (problem.n_units,) or (a < 0).any() or (a >= problem.n_seats).any():
        return None
    exempt = getattr(exc, "exempt", None)
    first = next(iter(scenario.balance), None)
    weight = problem.measure(first) if first else np.ones(problem.n_units)
    d = scenario.constraints.disruption
    note = "it breaks the disruption budget (see the audit)"
    if d is not None:
        note = _over_budget_note(problem, a, d)
    return evaluated_plan(
        problem,
        a,
        scenario,
        centres=middle_units(problem, a, weight),
        exempt=None if exempt is None else np.asarray(exempt, dtype=bool),
        method=OVER_BUDGET_METHOD + " (every band kept, not a plan within the scenario's rules)",
        bound_scope="none: over the budget, not a solution of the scenario",
        name=f"{scenario.name} (over budget)",
        notes=(f"{OVER_BUDGET_NOTE} the best plan found that meets every band; {note}", *inputs.notes),
        geometry=inputs.geometry,
        record=plan_record(scenario, inputs),
    )


def _over_budget_note(problem: Problem, assign: Any, d: Any) -> str:
    """How far ``assign`` is over the budget and the per-rep limit, and the settings that
    would admit it (rounded up: a setting rounded down would still refuse the plan)."""
    import numpy as np

    from .solve.bounds import books_moved
    from .solve.bounds import pct_up as up

    book, out = books_moved(problem, problem.measure(d.measure), assign)
    booked = float(book.sum())
    if booked <= 0:
        return "it breaks the disruption budget (see the audit)"
    share = float(out.sum()) / booked
    parts = [f"it moves {100 * share:.1f}% of {d.measure} against the budget of {100 * d.max_share:g}%"]
    raise_ = [f"constraints.disruption.max_share to {up(share)}"] if share > d.max_share else []
    if d.per_rep_share is not None:
        worst = float(np.max(np.divide(out, book, out=np.zeros_like(out), where=book > 0)))
        if worst > d.per_rep_share:
            parts.append(
                f"up to {100 * worst:.1f}% of one rep's book against the per-rep limit of {100 * d.per_rep_share:g}%"
            )
            raise_.append(f"constraints.disruption.per_rep_share to {up(worst)}")
    advice = f"; raise {' and '.join(raise_)} to solve for a plan like it" if raise_ else ""
    return ", ".join(parts) + advice


def _ours(side: Path) -> bool:
    """Whether ``side`` is an over-budget folder this tool wrote (its summary names
    :data:`OVER_BUDGET_METHOD`)."""
    import json

    try:
        method = json.loads((side / "summary.json").read_text(encoding="utf-8")).get("method", "")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(method, str) and method.startswith(OVER_BUDGET_METHOD)


def _with_over_budget_folder(
    exc: SolverError | InfeasibleError, side: Path, *, maps: bool, tiles: bool, inputs: list[Path]
) -> SolverError | InfeasibleError:
    """``exc`` with a last line saying where its over-budget plan was written (written here,
    as one set, by :func:`write_plan`); ``exc`` itself when it carries none."""
    plan = exc.over_budget_plan
    if isinstance(plan, str):  # building it failed: say so, keep the solve's answer
        line = f"The best plan found over the budget could not be written ({plan})."
    elif not isinstance(plan, Plan):
        return exc
    elif side.exists() and not (side.is_dir() and (_ours(side) or not any(side.iterdir()))):
        line = (
            f"The best plan found over the budget was not written: {side} exists and is not a folder this tool "
            "wrote; move it away to get that plan there."
        )
    else:
        from ._staging import check_output_folder

        try:
            check_output_folder(side, inputs)
            write_plan(plan, side, maps=maps, tiles=tiles, inputs=inputs)
            line = (
                f"The best plan found over the budget (every band kept) is written to {side} for inspection; "
                f"{plan.notes[0].split('; ', 1)[-1]}."
            )
        except Exception as err:  # noqa: BLE001 - never hide the solve's own answer
            line = f"The best plan found over the budget could not be written ({err})."
    out: SolverError | InfeasibleError
    if isinstance(exc, InfeasibleError):
        out = InfeasibleError(f"{exc}\n{line}", exc.explanation, exc.over_budget)
    else:
        out = SolverError(f"{exc}\n{line}", exc.over_budget)
    out.exempt, out.over_budget_plan = exc.exempt, plan
    return out


def _drop_stale_over_budget(side: Path) -> None:
    """Remove what an earlier run wrote to the over-budget folder beside the output folder,
    now that a plan within the budget is written: only in a folder whose summary names
    :data:`OVER_BUDGET_METHOD`, only the files a run writes (:data:`RUN_OUTPUTS`), and the
    folder itself only when nothing else is left in it (files of the planner's own stay)."""
    from ._staging import RUN_OUTPUTS

    if not _ours(side):
        return
    try:
        for name in RUN_OUTPUTS:
            target = side / name
            if target.is_file() and not target.is_symlink():
                target.unlink()
        if not any(side.iterdir()):
            side.rmdir()
    except OSError:
        return


def input_files(scenario: Scenario) -> list[Path]:
    """The files a scenario reads (data files and a lock file), resolved."""
    data = scenario.data
    paths = [s.path for s in (data.accounts, data.reps, data.geography, data.adjacency) if s is not None]
    if scenario.edits.lock_file is not None:
        paths.append(scenario.edits.lock_file)
    return [scenario.resolve(p).resolve() for p in paths]


def _plan_edits(plan_dir: Path) -> dict[str, Any] | None:
    """The what-if edits a plan folder was made with (``summary.json``), if it records them."""
    from .io import read_json

    path = plan_dir / "summary.json"
    if not path.exists():
        return None
    record = read_json(path).get("scenario_record") or {}
    edits = record.get("edits")
    return edits if isinstance(edits, dict) else None


def quotas_for_plan(
    scenario: Scenario | str | Path, plan_dir: str | Path, out_dir: str | Path | None = None
) -> tuple[QuotaResult, Path]:
    """Quotas for a plan already made (its ``assignments.csv``), on the roster the plan was
    made with: the what-if edits its ``summary.json`` records (reps removed get no quota,
    open seats get theirs). Writes ``quotas.csv`` and, when writing into the plan folder,
    refreshes the quota figures of ``summary.json``, ``plan.xlsx``, ``map.html`` and
    ``report.html`` (the folder changes as one set, see :func:`write_plan`)."""
    import numpy as np

    from ._staging import staged_folder
    from .errors import Problem as Finding
    from .io import copy_file, json_text, read_assignment, read_json, write_csv, write_text
    from .plan import assignment_view
    from .scenario import Edits

    if not isinstance(scenario, Scenario):
        path = scenario
        scenario = load_scenario(scenario)
    else:
        path = scenario.name
    if scenario.quotas is None:
        raise ScenarioError(f"{path}: quotas: the scenario has no quotas section")
    recorded = _plan_edits(Path(plan_dir))
    if recorded is not None:
        scenario = scenario.model_copy(update={"edits": Edits.model_validate(recorded)})
    problem, _ = problem_from_scenario(scenario)
    frame = read_assignment(plan_dir)
    seat_index = {str(s): i for i, s in enumerate(problem.seat_ids)}
    unit_index = {str(u): i for i, u in enumerate(problem.unit_ids)}
    seat_of = np.full(problem.n_units, -1, dtype=np.int64)
    unknown = 0
    for u, t in zip(frame["unit_id"].astype(str), frame["territory_id"].astype(str), strict=True):
        if u in unit_index and t in seat_index:
            seat_of[unit_index[u]] = seat_index[t]
        else:
            unknown += 1
    unassigned = int((seat_of < 0).sum())
    if unknown or unassigned:
        msg = f"the plan does not match the scenario's data ({unknown} unknown rows, {unassigned} units unassigned); solve the scenario again"
        raise DataError([Finding(str(Path(plan_dir) / "assignments.csv"), msg)])
    result = set_quotas(assignment_view(problem, seat_of), scenario.quotas)
    folder = Path(out_dir or plan_dir)
    summary_path = Path(plan_dir) / "summary.json"
    # the plan folder's files change together (quotas.csv, summary.json, plan.xlsx): staged
    with staged_folder(folder, inputs=input_files(scenario), keep=lambda name: True) as stage:
        write_csv(stage / "quotas.csv", result.table)
        if out_dir is None and summary_path.exists():
            summary = read_json(summary_path)
            summary["quotas"] = result.summary()
            write_text(stage / "summary.json", json_text(summary))
            xlsx = Path(plan_dir) / "plan.xlsx"
            if xlsx.exists():
                from .io import write_plan_xlsx

                copy_file(xlsx, stage / "plan.xlsx")
                write_plan_xlsx(
                    stage / "plan.xlsx", {"quotas": result.table}, money=_money(scenario.quotas), update=True
                )
            _refresh_pages(Path(plan_dir), stage, problem, seat_of, result, summary)
    return result, folder / "quotas.csv"


def _unit_noun(plan: Plan) -> str:
    """What the plan's units are called on its pages (accounts, counties, ZIP areas, units)."""
    noun = plan.record.get("unit_noun")
    if noun:
        return str(noun)
    return "units" if plan.record.get("unit_kind") == "geography" or plan.geometry is not None else "accounts"


def _refresh_pages(
    folder: Path, target: Path, problem: Problem, seat_of: Any, quotas: QuotaResult, summary: dict[str, Any]
) -> None:
    """After new quotas, the plan folder's ``map.html`` and ``report.html`` show them: the
    map keeps its drawing (quotas updated in its data), the report is rebuilt from
    ``summary.json`` (proof, audit) and ``territories.csv``. Read from ``folder``, written
    into ``target`` (the staging folder)."""
    from .io import read_output_csv, read_text, write_text
    from .maps import map_html, map_page_from_html
    from .plan import plan_from_outputs

    the_map = None
    if (folder / "map.html").is_file():
        the_map = map_page_from_html(read_text(folder / "map.html"), quotas=quotas)
        if the_map is not None:
            write_text(target / "map.html", map_html(the_map))
    if not (folder / "report.html").is_file() or not (folder / "territories.csv").is_file():
        return
    plan = plan_from_outputs(problem, seat_of, summary, read_output_csv(folder / "territories.csv"))
    write_text(target / "report.html", _report_page(plan, the_map, quotas))


def _report_page(plan: Plan, the_map: Any, quotas: QuotaResult | None) -> str:
    """The plan's ``report.html``, described as its record says (description, tolerances,
    what its units are called)."""
    from .report import plan_report

    record = plan.record
    return plan_report(
        plan,
        map_page=the_map,
        quotas=quotas,
        description=str(record.get("description", "")),
        tolerances=dict(record.get("tolerances") or {}),
        unit_noun=_unit_noun(plan),
    )


def _money(quotas: Any) -> set[str]:
    """Measures in currency: the quota section's potential and history (and products')."""
    return set(quotas.measures()) if quotas is not None else set()


def write_plan(
    plan: Plan,
    out_dir: str | Path,
    *,
    quotas: QuotaResult | None = None,
    maps: bool = True,
    tiles: bool = True,
    inputs: Iterable[str | Path] = (),
) -> dict[str, Path]:
    """Write a plan's folder as one set: ``assignments.csv``, ``changes.csv`` (the CRM
    change list), ``territories.csv``, ``roster.csv``, ``summary.json``, ``quotas.csv``
    (with ``quotas``), ``plan.xlsx``, rollups by area / region (when the roster has them),
    ``territories.geojson`` (geographic units) and, with ``maps``, ``map.html`` and
    ``report.html``. ``territory-opt solve`` writes exactly this set.

    The files are written into a staging folder next to ``out_dir`` that then replaces it
    in one step (:mod:`territory_opt._staging`): a run killed or failing at any point
    leaves the previous set untouched; other files in the folder are kept, outputs of an
    earlier run that this one does not write are removed. ``inputs``: the run's input
    files, refused inside ``out_dir``.

    Raises
    ------
    OutputError
        ``out_dir`` is a file, holds an input file, or cannot be written (full disk,
        read-only folder).
    """
    from ._staging import staged_folder

    final = Path(out_dir)
    with staged_folder(final, inputs=inputs) as stage:
        written = write_plan_files(plan, stage, quotas=quotas, maps=maps, tiles=tiles)
    return {key: final / path.relative_to(stage) for key, path in written.items()}


def write_plan_files(plan: Plan, out: Path, *, quotas: QuotaResult | None, maps: bool, tiles: bool) -> dict[str, Path]:
    from .io import json_text, write_csv, write_plan_xlsx, write_text

    record = plan.record
    summary: dict[str, Any] = plan.summary()
    summary["scenario_record"] = record
    changes = plan.changes
    written = {
        "assignments": write_csv(out / "assignments.csv", plan.assignment),
        "changes": write_csv(out / "changes.csv", changes),
        "territories": write_csv(out / "territories.csv", plan.territories),
        "roster": write_csv(out / "roster.csv", roster_table(plan)),
    }
    if quotas is not None:
        written["quotas"] = write_csv(out / "quotas.csv", quotas.table)
        summary["quotas"] = quotas.summary()
    sheets = {"assignments": plan.assignment, "territories": plan.territories}
    if quotas is not None:
        sheets["quotas"] = quotas.table
    sheets["changes"] = changes
    settings = record.get("quotas")
    money = {str(settings.get(k)) for k in ("potential", "history")} if isinstance(settings, dict) else set()
    written["xlsx"] = write_plan_xlsx(out / "plan.xlsx", sheets, money=money)
    for level in ("area", "region"):
        labels = getattr(plan.problem, f"seat_{level}")
        if labels is not None and any(str(x) for x in labels):
            from .rollup import rollup

            written[f"rollup_{level}"] = write_csv(out / f"rollup_{level}.csv", rollup(plan, level, quotas))
    if plan.geometry is not None:
        import geopandas as gpd

        frame = gpd.GeoDataFrame(
            {"territory_id": plan.problem.seat_ids[plan.seat_of]},
            geometry=plan.geometry.to_numpy(),
            crs="EPSG:4326",
        )
        territories = frame.dissolve(by="territory_id").reset_index()
        written["territories_geojson"] = write_text(out / "territories.geojson", territories.to_json())
    if maps:
        from .maps import map_html, plan_map

        the_map = plan_map(plan, geometry=plan.geometry, land=plan.land, quotas=quotas, tiles=tiles)
        written["map"] = write_text(out / "map.html", map_html(the_map))
        written["report"] = write_text(out / "report.html", _report_page(plan, the_map, quotas))
    written["summary"] = write_text(out / "summary.json", json_text(summary))
    return written


def roster_table(plan: Plan) -> Any:
    """The roster a plan was made with: one row per seat (``kind`` rep or open seat) and per
    rep removed by what-if edits (``kind`` removed: no territory, no quota)."""
    import numpy as np
    import pandas as pd

    p = plan.problem
    skills = [
        "|".join(
            name for b, name in enumerate(p.skill_names) if (int(mask) >> b) & 1 and not name.startswith("region:")
        )
        for mask in p.seat_skills
    ]
    lonlat = p.seat_lonlat if p.seat_lonlat is not None else np.full((p.n_seats, 2), np.nan)
    frame = pd.DataFrame(
        {
            "rep_id": p.seat_ids,
            "name": p.seat_names,
            "kind": np.where(p.has_home, "rep", "open seat"),
            "lat": lonlat[:, 1],
            "lon": lonlat[:, 0],
            "fte": p.seat_capacity,
            "skills": skills,
        }
    )
    if p.removed_seats:
        gone = pd.DataFrame(
            {
                "rep_id": [i for i, _ in p.removed_seats],
                "name": [n for _, n in p.removed_seats],
                "kind": "removed",
            }
        )
        frame = pd.concat([frame, gone], ignore_index=True)
    return frame
