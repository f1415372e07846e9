"""Property-based tests over random small instances: whatever the data, a returned plan
assigns every unit exactly once, keeps locks and skills, stays within every hard band when it
says feasible, and agrees with the independent audit; random scenario edits validate or fail
with a message naming the key, never a traceback.

The examples are derandomized so that CI is repeatable; ``HYPOTHESIS_EXPLORE=1 pytest
tests/test_properties.py`` explores new ones (a failure found that way becomes a regression
test, as ``test_unnamed_skills_shortage_is_explained_not_a_crash`` did)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territory_opt import InfeasibleError, Problem, ScenarioError, SolverError, Status, scenario_from_dict, solve
from territory_opt.audit import Rules, audit
from territory_opt.model import targets
from territory_opt.scenario import Candidates, Measure, SolverSettings

EXPLORE = os.environ.get("HYPOTHESIS_EXPLORE")
FAST = SolverSettings(time_limit=3, seed=0, workers=1)


@st.composite
def instances(draw: st.DrawFn) -> tuple[Problem, float, str]:
    n = draw(st.integers(4, 24))
    k = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    potential = rng.lognormal(0, draw(st.sampled_from([0.1, 0.5, 1.0])), size=n)
    lock = np.full(n, -1)
    n_locked = draw(st.integers(0, 2))
    lock[:n_locked] = rng.integers(0, k, size=n_locked)
    skills = np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.3])), 1, 0)
    skills[:n_locked] = 0
    seat_skills = np.zeros(k, dtype=int)
    seat_skills[rng.integers(0, k)] = 1
    problem = Problem.from_arrays(
        measures=np.column_stack([potential, rng.uniform(1, 2, size=n)]),
        measure_names=["potential", "workload"],
        unit_xy=rng.uniform(0, 50, (n, 2)),
        seat_xy=rng.uniform(0, 50, (k, 2)),
        lock=lock,
        unit_skills=skills,
        seat_skills=seat_skills,
    )
    tolerance = draw(st.sampled_from([0.05, 0.2, 0.5]))
    method = draw(st.sampled_from(["auto", "lns"]))
    return problem, tolerance, method


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=EXPLORE is None)
@given(instances())
def test_every_returned_plan_keeps_the_invariants(case: tuple[Problem, float, str]) -> None:
    problem, tolerance, method = case
    balance = {"potential": Measure(tolerance=tolerance)}
    try:
        plan = solve(
            problem,
            balance=balance,
            candidates=Candidates(nearest=2),
            solver=FAST.model_copy(update={"method": method}),
        )
    except (InfeasibleError, SolverError) as exc:
        assert str(exc)  # noqa: PT017 - explained, not a bare failure
        return
    seat = plan.seat_of
    assert seat.shape == (problem.n_units,) and ((seat >= 0) & (seat < problem.n_seats)).all()  # once each
    locked = problem.lock >= 0
    assert (seat[locked] == problem.lock[locked]).all()
    assert problem.eligible(np.arange(problem.n_units), seat).all()
    if plan.status in (Status.FEASIBLE, Status.OPTIMAL):
        exempt = plan.exempt
        load = np.bincount(seat, weights=problem.measures[:, 0], minlength=problem.n_seats)
        target = targets(plan.problem, exempt)[:, 0]
        inside = np.abs(load - target) <= tolerance * target * (1 + 1e-6) + 1e-9
        assert (inside | exempt).all()
    # the audit recomputed here from raw inputs agrees with the plan's own findings
    rules = Rules(
        tolerance={"potential": tolerance}, targets=targets(plan.problem, plan.exempt), exempt=plan.exempt, capacity={}
    )
    mine = {f.check: f.ok for f in audit(plan.problem, seat, rules)}
    theirs = {f.check: f.ok for f in plan.findings}
    for check, ok in mine.items():
        assert theirs.get(check, ok) == ok
    if plan.bound is not None and plan.objective is not None:
        assert plan.bound <= plan.objective + 1e-6


KEYS = st.sampled_from(
    [
        ("balance", {"potential": {"tolerance": 0.05}}),
        ("balance", {"potential": {"tolerance": -1}}),
        ("balance", {"potential": {"tolerance": "x"}}),
        ("balance", {"potential": {"mode": "sometimes"}}),
        ("solver", {"time_limit": 0}),
        ("solver", {"time_limit": 10, "method": "lns"}),
        ("solver", {"method": "magic"}),
        ("candidates", {"nearest": 0}),
        ("candidates", {"nearest": 4}),
        ("objective", {"priorities": ["travel", "cut_edges"]}),
        ("objective", {"priorities": []}),
        ("constraints", {"disruption": {"max_share": 2}}),
        ("constraints", {"contiguity": True}),
        ("seats", {"count": -3}),
        ("output", {"dir": "../up"}),
        ("name", "a b/c"),
        ("name", "plan-2027"),
        ("unknown_section", {"x": 1}),
        ("quotas", {"target": -5}),
        ("quotas", {"target": 1_000_000, "alpha": 0.5}),
    ]
)


@settings(max_examples=60, deadline=None, derandomize=EXPLORE is None)
@given(st.lists(KEYS, min_size=1, max_size=4))
def test_random_scenario_edits_validate_or_name_the_key(edits: list[tuple[str, object]]) -> None:
    raw: dict = {"name": "base", "data": {"dataset": "us-counties", "states": ["GA"]}}
    for key, value in edits:
        raw[key] = value
    try:
        scenario_from_dict(raw)
    except ScenarioError as exc:
        text = str(exc)
        assert "Traceback" not in text
        assert any(key in text for key, _ in edits), text  # names the key at fault
    except Exception as exc:  # noqa: BLE001 - anything else is a bug
        pytest.fail(f"{type(exc).__name__} escaped: {exc}")
