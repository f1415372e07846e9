"""Plans side by side: headline figures, per-territory deltas, moved units (the CRM change
list) and synchronised maps; and today's alignment as a plan, to compare a realignment against.

* :func:`compare_folders` compares two plan folders and writes the comparison's files
  (``compare.html`` is drawn by :mod:`territory_opt.pages.compare`);
* :func:`compare_plans` compares two :class:`~territory_opt.plan.Plan` objects;
* :func:`current_plan` is today's alignment (current owners) as a plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError, ScenarioError
from .errors import Problem as Finding
from .scenario import Scenario


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


def current_plan(scenario: Scenario) -> Any:
    """Today's alignment (every unit with its current owner) as a
    :class:`~territory_opt.plan.Plan`, to compare a realignment against: the same figures and
    independent audit as a solved plan (balance against the scenario's bands, travel,
    contiguity), no solver proof (``bound`` and ``gap`` are None; status ``unknown`` when the
    audit finds today's territories outside the scenario's rules). Give the scenario without
    roster edits: every unit needs a current owner on the roster."""
    from .pipeline import plan_record, problem_from_scenario
    from .plan import evaluated_plan, middle_units

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
    return evaluated_plan(
        problem,
        assign,
        scenario,
        centres=middle_units(problem, assign, weight),  # an open seat's centre: its book's middle
        method="today's alignment (current owners)",
        bound_scope="none: today's alignment, not a solve",
        name=f"{scenario.name} (today)",
        notes=inputs.notes,
        geometry=inputs.geometry,
        record=plan_record(scenario, inputs),
    )
