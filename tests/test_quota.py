"""Quotas: sums exact after rounding, bounds honoured, closed form, precise infeasibility."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territory_opt import InfeasibleError
from territory_opt.quota import fairness, gini, round_to_unit, set_quotas_arrays, split_periods

P = np.array([100.0, 200.0, 300.0])
H = np.array([50.0, 100.0, 250.0])


def test_three_territories_match_closed_form():
    rounded, exact, binding = set_quotas_arrays(target=1200.0, potential=P, history=H, alpha=0.5, unit=0)
    # q = T · [α P/ΣP + (1-α) H/ΣH] = 1200 · (0.5·[1/6, 1/3, 1/2] + 0.5·[1/8, 1/4, 5/8])
    assert exact == pytest.approx([175.0, 350.0, 675.0])
    assert rounded == pytest.approx([175.0, 350.0, 675.0])
    assert binding == ()


def test_bounds_are_honoured_and_reported():
    _rounded, exact, binding = set_quotas_arrays(
        target=1200.0, potential=P, history=H, alpha=0.5, cap=600.0, unit=0, ids=np.array(["A", "B", "C"], dtype=object)
    )
    assert exact.sum() == pytest.approx(1200.0)
    assert exact.max() <= 600.0 + 1e-6
    assert exact[2] == pytest.approx(600.0)  # the ideal 675 is capped
    assert np.all(exact[:2] >= 0)
    assert any(b.startswith("C: held down at its upper bound 600 (ideal 675") for b in binding)


def test_floors_and_growth_min():
    _, exact, binding = set_quotas_arrays(
        target=1000.0,
        potential=P,
        history=H,
        alpha=1.0,
        growth_min=0.0,
        floor=200.0,
        unit=0,
        ids=np.array(["A", "B", "C"], dtype=object),
    )
    assert np.all(exact >= np.maximum(H, 200.0) - 1e-6)
    assert exact.sum() == pytest.approx(1000.0)
    assert any(b.startswith("A: held up at its lower bound 200") for b in binding)


def test_unreachable_target_gives_figures():
    with pytest.raises(
        InfeasibleError,
        match=r"the caps and maximum growth add up to 480, below the target 1,200 by 720; raise g_max or the caps, or lower the target",
    ):
        set_quotas_arrays(target=1200.0, potential=P, history=H, growth_max=0.2, unit=0)
    with pytest.raises(
        InfeasibleError, match=r"the floors and minimum growth already add up to 1,300, above the target 1,000 by 300"
    ):
        set_quotas_arrays(target=1000.0, potential=P, history=np.array([300.0, 400.0, 600.0]), growth_min=0.0, unit=0)


def test_rounding_keeps_sum_exact():
    values = np.array([1234.5, 2345.6, 3456.7, 999.2])
    total = float(values.sum())
    out = round_to_unit(values, total, 1000.0)
    assert out.sum() == pytest.approx(total, abs=1e-6)
    assert np.all(np.abs(out - values) < 1000.0 + 1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e7), min_size=1, max_size=30), st.sampled_from([1.0, 100.0, 1000.0]))
def test_rounding_property(values, unit):
    arr = np.array(values)
    total = float(np.round(arr.sum(), 2))
    out = round_to_unit(arr, total, unit)
    assert out.sum() == pytest.approx(total, abs=1e-6 * max(total, 1))


def test_seasonality_rows_and_columns_exact():
    quotas = np.array([6_751_000.0, 8_160_000.0, 7_945_000.0, 9_043_000.0])
    profile = np.array([0.22, 0.24, 0.25, 0.29])
    periods = split_periods(quotas, profile, 1000.0)
    assert periods.sum(axis=1) == pytest.approx(quotas)
    col = periods.sum(axis=0)
    assert col == pytest.approx(round_to_unit(profile * quotas.sum(), quotas.sum(), 1000.0))
    assert np.all(np.mod(periods, 1000.0) == 0)


def test_bottom_up_reconciles_to_target():
    _, exact, _ = set_quotas_arrays(
        target=500.0, potential=P, history=H, method="bottom_up", growth=0.1, attrition=0.02, unit=0
    )
    assert exact.sum() == pytest.approx(500.0)
    assert exact / exact.sum() == pytest.approx(H / H.sum())  # same growth for all: proportional


def test_ramp_lowers_new_seat():
    _, exact, _ = set_quotas_arrays(
        target=600.0,
        potential=np.array([100.0, 100.0]),
        history=np.array([100.0, 100.0]),
        ramp=np.array([1.0, 0.5]),
        unit=0,
    )
    assert exact[1] == pytest.approx(exact[0] / 2)


def test_fairness_figures():
    f = fairness(np.array([10.0, 20.0, 30.0]), np.array([100.0, 200.0, 300.0]))
    assert f["quota_per_potential_cv"] == pytest.approx(0.0)
    assert f["expected_attainment_spread"] == pytest.approx(0.0)
    assert gini(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert gini(np.array([0.0, 0.0, 3.0])) == pytest.approx(2 / 3)


def test_plan_quotas_from_demo_scenario():
    from territory_opt import load_scenario, set_quotas, solve_scenario

    scenario = load_scenario("scenarios/demo.yaml")
    # any plan will do (the quotas are what is checked); the warm start has one in under 1 s
    plan = solve_scenario(scenario, time_limit=3)
    result = set_quotas(plan, scenario.quotas)
    table = result.table
    assert table["quota"].sum() == pytest.approx(64_000_000)
    assert (table[["p1", "p2", "p3", "p4"]].sum(axis=1) == table["quota"]).all()
    assert set(table["territory_id"]) == set(plan.problem.seat_ids)
    assert result.fairness["quota_per_potential_max_min"] < 1.5


def test_products_each_get_their_target():
    from types import SimpleNamespace

    from territory_opt import Problem, set_quotas
    from territory_opt.scenario import Quotas

    p = Problem.from_arrays(
        measures=[[100, 30, 10, 5], [200, 50, 20, 10], [300, 90, 30, 20]],
        measure_names=["potential", "history", "services", "services_history"],
        unit_xy=[[0, 0], [1, 0], [2, 0]],
        seat_xy=[[0, 0], [1, 0], [2, 0]],
    )
    settings = Quotas.model_validate(
        {
            "target": 330,
            "unit": 1,
            "products": {
                "licences": {"target": 300},
                "services": {"target": 30, "potential": "services", "history": "services_history"},
            },
        }
    )
    result = set_quotas(SimpleNamespace(problem=p, seat_of=np.array([0, 1, 2])), settings)
    table = result.table
    assert table["quota_licences"].sum() == 300
    assert table["quota_services"].sum() == 30
    assert (table["quota"] == table["quota_licences"] + table["quota_services"]).all()


def test_product_targets_must_add_up():
    from territory_opt.scenario import Quotas

    with pytest.raises(ValueError, match="product targets add up to 310, not the target 330"):
        Quotas.model_validate({"target": 330, "products": {"a": {"target": 300}, "b": {"target": 10}}})
