"""territory_opt: balanced, compact, contiguous sales territories and fair quotas.

The Python API, in pipeline order::

    scenario = load_scenario("scenarios/georgia.yaml")
    inputs = load_inputs(scenario)                # read + validate
    problem = Problem.from_inputs(inputs)         # arrays
    plan = solve(problem, balance=scenario.balance, ...)   # or: solve_scenario(scenario)
    run_scenario(scenario, "out/georgia")         # solve, quotas, and the plan folder

This module only re-exports: orchestration is :mod:`territory_opt.pipeline`.
"""

from ._version import __version__
from .datasets import generate_book, us_counties
from .errors import DataError, InfeasibleError, OutputError, ScenarioError, SolverError, TerritoryOptError
from .io import Inputs, load_inputs
from .pipeline import problem_from_scenario, quotas_for_plan, run_scenario, solve_scenario, write_plan
from .plan import Plan, Status
from .problem import Problem
from .quota import QuotaResult, set_quotas
from .scenario import Scenario, load_scenario, scenario_from_dict
from .solve import Progress, solve

__all__ = [
    "DataError",
    "InfeasibleError",
    "Inputs",
    "OutputError",
    "Plan",
    "Problem",
    "Progress",
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
    "quotas_for_plan",
    "run_scenario",
    "scenario_from_dict",
    "set_quotas",
    "solve",
    "solve_scenario",
    "us_counties",
    "write_plan",
]
