"""The one evaluator on hand-checkable cases, and its agreement with a solved plan's own table."""

from dataclasses import replace

import numpy as np
import pytest

from territory_opt import Problem, solve
from territory_opt.evaluate import Bands, evaluate, targets
from territory_opt.scenario import Measure, SolverSettings


def test_line_split_in_half(line6):
    bands = Bands.from_problem(line6, {"potential": 0.1})
    result = evaluate(line6, [0, 0, 0, 1, 1, 1], None, bands)
    assert bands.target[:, 0].tolist() == [3.0, 3.0]
    assert bands.low[:, 0].tolist() == pytest.approx([2.7, 2.7])
    assert bands.high[:, 0].tolist() == pytest.approx([3.3, 3.3])
    assert result.units.tolist() == [3, 3]
    assert result.deviation_pct[:, 0].tolist() == [0.0, 0.0]
    assert result.within.all()
    assert result.distance.tolist() == [0, 1, 2, 2, 1, 0]
    assert result.travel.tolist() == [1.0, 1.0]  # (0+1+2)/3 each side
    assert result.travel_mean == pytest.approx(1.0)
    assert result.max_distance.tolist() == [2.0, 2.0]
    assert result.pieces.tolist() == [1, 1]
    assert not result.detached.any()
    assert result.cut_edges == 1
    assert result.disruption_pct is None  # nobody has a current owner
    assert not result.moved.any()


def test_unbalanced_and_broken_territories(line6):
    bands = Bands.from_problem(line6, {"potential": 0.1})
    # west {0, 1, 3}: pieces {0, 1} and {3}; east {2, 4, 5}: pieces {2} and {4, 5}
    result = evaluate(line6, [0, 0, 1, 0, 1, 1], None, bands)
    assert result.pieces.tolist() == [2, 2]
    assert result.contiguous.tolist() == [False, False]
    assert np.flatnonzero(result.detached).tolist() == [2, 3]  # the smaller piece of each
    assert result.cut_edges == 3
    four = evaluate(line6, [0, 0, 0, 0, 1, 1], None, bands)
    assert four.deviation_pct[:, 0].tolist() == pytest.approx([100 / 3, -100 / 3])
    assert four.within[:, 0].tolist() == [False, False]
    assert four.balanced.tolist() == [False, False]
    # weighted travel: unit 3 sits 3 km from the west home
    assert four.travel.tolist() == pytest.approx([1.5, 0.5])


def test_moved_against_the_current_owner(line6):
    owned = replace(line6, owner=np.array([0, 0, 0, 1, 1, -1]))
    bands = Bands.from_problem(owned, {"potential": 0.5})
    result = evaluate(owned, [0, 0, 1, 1, 1, 1], None, bands)
    assert result.moved.tolist() == [False, False, True, False, False, False]  # unit 5 had no owner
    assert result.moved_in.tolist() == [0, 1]
    assert result.moved_out.tolist() == [1, 0]
    assert result.disruption_pct == pytest.approx(20.0)  # 1 of the 5 owned units


def test_weights_and_disruption_value(line6):
    values = np.column_stack([np.ones(6), [1, 1, 1, 1, 1, 5.0]])
    p = replace(line6, measures=values, measure_names=("potential", "sales"), owner=np.array([0, 0, 0, 1, 1, 1]))
    bands = Bands.from_problem(p, {"sales": 0.2})
    result = evaluate(p, [0, 0, 0, 1, 1, 0], None, bands, disruption_measure="sales")
    assert result.disruption_pct == pytest.approx(50.0)  # 5 of 10
    # travel weighted by sales (the first balanced measure): west 0+1+2+5*5 over 1+1+1+5
    assert result.travel[0] == pytest.approx(28 / 8)
    unweighted = evaluate(p, [0, 0, 0, 1, 1, 0], None, bands, weight="potential")
    assert unweighted.travel[0] == pytest.approx(8 / 4)
    # only the balanced measure has a band
    assert np.isinf(bands.high[:, 0]).all() and unweighted.within[:, 0].all()


def test_exempt_seat_and_its_standing_unit():
    p = Problem.from_arrays(
        measures=[1.0, 1, 1, 1, 10],
        unit_xy=[[0, 0], [1, 0], [2, 0], [3, 0], [9, 0]],
        seat_xy=[[0, 0], [3, 0], [9, 0]],
        lock=[-1, -1, -1, -1, 2],
        measure_names=["potential"],
    )
    exempt = np.array([False, False, True])
    assert targets(p, exempt)[:, 0].tolist() == [2.0, 2.0, 0.0]  # the standing unit's 10 is left out
    bands = Bands.from_problem(p, {"potential": 0.01}, exempt=exempt)
    result = evaluate(p, [0, 0, 1, 1, 2], None, bands)
    assert result.within.all()
    assert result.deviation_pct[2, 0] == 0.0


def test_centres_of_seats_without_a_home(grid3):
    bands = Bands.from_problem(grid3, {"potential": 0.0})
    rows = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    result = evaluate(grid3, rows, [1, 4, 7], bands)
    assert result.travel.tolist() == pytest.approx([2 / 3] * 3)
    assert result.within.all()
    with pytest.raises(ValueError, match="centre"):
        evaluate(grid3, rows, None, bands)


def test_bad_inputs(line6):
    bands = Bands.from_problem(line6, {"potential": 0.1})
    with pytest.raises(ValueError, match="seat index"):
        evaluate(line6, [0, 0, 0, 1, 1, 2], None, bands)
    with pytest.raises(ValueError, match="seat index"):
        evaluate(line6, [0, 0, 0], None, bands)
    with pytest.raises(KeyError, match="unknown measure"):
        Bands.from_problem(line6, {"revenue": 0.1})


def test_agrees_with_the_plans_own_table(grid3):
    """A solved plan (chosen centres, contiguity) evaluated again gives its territory table."""
    from territory_opt.scenario import Constraints

    plan = solve(
        grid3,
        balance={"potential": Measure(tolerance=0.01)},
        constraints=Constraints(contiguity=True),
        solver=SolverSettings(time_limit=1, seed=1),
    )
    bands = Bands.from_problem(grid3, {"potential": 0.01}, exempt=plan.exempt)
    result = evaluate(grid3, plan.seat_of, plan.centres, bands)
    table = plan.territories
    assert result.units.tolist() == table["units"].tolist()
    assert result.load[:, 0] == pytest.approx(table["potential"].to_numpy())
    assert bands.target[:, 0] == pytest.approx(table["potential_target"].to_numpy())
    assert result.deviation_pct[:, 0] == pytest.approx(table["potential_dev_pct"].to_numpy())
    assert result.travel == pytest.approx(table["travel_km"].to_numpy())
    assert result.max_distance == pytest.approx(table["max_distance_km"].to_numpy())
    assert result.contiguous.tolist() == table["contiguous"].tolist()
    assert result.within[:, 0].tolist() == table["potential_within_tolerance"].tolist()
    assert result.travel_mean == pytest.approx(plan.objective_terms["travel"])
    assert result.cut_edges == plan.objective_terms["cut_edges"]
