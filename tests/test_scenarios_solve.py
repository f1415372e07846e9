"""Every scenario in scenarios/ solves with a clean audit."""

from pathlib import Path

import numpy as np
import pytest

from territory_opt import load_scenario, solve_scenario

#: 20,000 accounts on Georgia's counties (about 25 s) runs with --run-slow, so the default
#: suite stays under 6 minutes on 2 cores
SLOW = {
    "accounts-georgia",
    "demo-one-vacancy",  # 10 s; vacancies are covered by test_workflow
    "demo",  # 8 s; the demo's plan and clean audit are covered by test_cli (the demo command) and the quickstart notebook
    "north-carolina-pmedian",  # 7 s; chosen centres are covered by test_engine (proven optima) and test_centres_bound
}
SCENARIOS = [
    pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p
    for p in sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))
]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: getattr(p, "stem", None))
def test_scenario_solves_with_clean_audit(path):
    scenario = load_scenario(path)
    # deterministic mode: the same plan on every run and machine, so the test cannot flake
    solver = scenario.solver.model_copy(
        update={"deterministic": True, "time_limit": min(scenario.solver.time_limit, 8)}
    )
    plan = solve_scenario(scenario.model_copy(update={"solver": solver}))
    bad = [str(f) for f in plan.findings if not f.ok]
    assert not bad, bad
    assert plan.status.value in {"optimal", "feasible"}
    assert np.all((plan.seat_of >= 0) & (plan.seat_of < plan.problem.n_seats))
    if plan.gap is not None:
        assert plan.bound is not None and plan.bound <= plan.objective + 1e-6
