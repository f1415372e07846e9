"""territory_opt: balanced, compact, contiguous sales territories and fair quotas.

The Python API, in pipeline order::

    scenario = load_scenario("scenarios/georgia.yaml")
    inputs = load_inputs(scenario)                # read + validate
    problem = Problem.from_inputs(inputs)         # arrays
    plan = solve(problem, balance=scenario.balance, ...)   # or: solve_scenario(scenario)
"""

__version__ = "0.1.0"

from pathlib import Path
from typing import Any

from .datasets import generate_book, us_counties
from .errors import DataError, InfeasibleError, ScenarioError, SolverError, TerritoryOptError
from .io import Inputs, load_inputs
from .plan import Plan, Status
from .problem import Problem
from .quota import QuotaResult, set_quotas
from .scenario import Scenario, load_scenario, scenario_from_dict
from .solve import Progress, solve

__all__ = [
    "DataError",
    "InfeasibleError",
    "Inputs",
    "Plan",
    "Problem",
    "QuotaResult",
    "Scenario",
    "ScenarioError",
    "SolverError",
    "Status",
    "TerritoryOptError",
    "__version__",
    "generate_book",
    "load_inputs",
    "load_scenario",
    "problem_from_scenario",
    "run_scenario",
    "scenario_from_dict",
    "set_quotas",
    "solve",
    "solve_scenario",
    "us_counties",
    "write_plan",
]


def problem_from_scenario(scenario: Scenario) -> tuple[Problem, Inputs]:
    """Read, validate and build the problem a scenario describes."""
    inputs = load_inputs(scenario)
    c = scenario.constraints
    problem = Problem.from_inputs(
        inputs,
        exclusions=[(e.unit, e.seat) for e in c.exclusions],
        skills=c.skills,
        locks=c.locks,
        families=c.families,
    )
    return problem, inputs


def _solve_loaded(
    scenario: Scenario | str | Path, time_limit: float | None, progress: Progress | None
) -> tuple[Scenario, Plan, Inputs]:
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if time_limit is not None:
        scenario = scenario.model_copy(update={"solver": scenario.solver.model_copy(update={"time_limit": time_limit})})
    problem, inputs = problem_from_scenario(scenario)
    plan = solve(
        problem,
        balance=dict(scenario.balance),
        constraints=scenario.constraints,
        objective=scenario.objective,
        candidates=scenario.candidates,
        solver=scenario.solver,
        progress=progress,
        scenario=scenario.name,
    )
    from dataclasses import replace

    return scenario, replace(plan, notes=plan.notes + inputs.notes), inputs


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
    section), and write the outputs (CSV, JSON, GeoJSON, map.html, report.html)."""
    scenario, plan, inputs = _solve_loaded(scenario, time_limit, progress)
    quotas = set_quotas(plan, scenario.quotas) if scenario.quotas is not None else None
    written = write_plan(plan, scenario.output_dir(out_dir), quotas=quotas)
    if maps:
        from .io import write_text
        from .maps import map_html, plan_map
        from .report import plan_report

        out = scenario.output_dir(out_dir)
        page = map_html(plan_map(plan, geometry=inputs.geometry, quotas=quotas, tiles=tiles))
        written["map"] = write_text(out / "map.html", page)
        description = scenario.description + (" " + " ".join(inputs.notes) if inputs.notes else "")
        tolerances = {name: m.tolerance for name, m in scenario.balance.items()}
        written["report"] = write_text(out / "report.html", plan_report(plan, map_html=page, quotas=quotas, description=description, tolerances=tolerances))
        if inputs.geometry is not None:
            import geopandas as gpd

            frame = gpd.GeoDataFrame({"territory_id": plan.problem.seat_ids[plan.seat_of]}, geometry=inputs.geometry.to_numpy(), crs="EPSG:4326")
            territories = frame.dissolve(by="territory_id").reset_index()
            written["territories_geojson"] = write_text(out / "territories.geojson", territories.to_json())
    return plan, quotas, written


def write_plan(plan: Plan, out_dir: str | Path, *, quotas: QuotaResult | None = None) -> dict[str, Path]:
    """Write ``assignments.csv``, ``territories.csv``, ``summary.json`` (and ``quotas.csv``),
    each atomically."""
    import json

    from .io import write_csv, write_text

    out = Path(out_dir)
    summary: dict[str, Any] = plan.summary()
    written = {
        "assignments": write_csv(out / "assignments.csv", plan.assignment),
        "territories": write_csv(out / "territories.csv", plan.territories),
    }
    if quotas is not None:
        written["quotas"] = write_csv(out / "quotas.csv", quotas.table)
        summary["quotas"] = {"total": float(quotas.table["quota"].sum()), "fairness": quotas.fairness, "binding": list(quotas.binding)}
    written["summary"] = write_text(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return written
