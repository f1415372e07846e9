"""Pre-checks (each named check on a crafted problem, with its figures) and explanations."""

from dataclasses import replace

import numpy as np
import pytest

from territory_opt import InfeasibleError, Problem, solve
from territory_opt.diagnose import (
    capacity_shortfall,
    explain,
    family_conflicts,
    forced_moves,
    locked_above_band,
    locked_above_cap,
    overloaded_books,
    prechecks,
    skill_shortfall,
    unreachable_parts,
    unservable_units,
)
from territory_opt.model import BalanceRule, ModelSpec, build_candidates
from territory_opt.scenario import Constraints, Contiguity, Measure, SolverSettings

SPANISH = MED = 1  # skills are bits: skill_names[b] is bit b


def line(values, seats=2, **extra) -> Problem:
    """Units on a line 1 km apart (a path graph), seats spread along it."""
    n = len(values)
    return Problem.from_arrays(
        measures=np.asarray(values, dtype=float),
        measure_names=["potential"],
        unit_xy=np.column_stack([np.arange(n, dtype=float), np.zeros(n)]),
        seat_xy=np.column_stack([np.linspace(0, n - 1, seats), np.zeros(seats)]),
        edges=[[i, i + 1] for i in range(n - 1)],
        seat_ids=[f"R{i + 1}" for i in range(seats)],
        **extra,
    )


def band(tolerance=0.1, **extra) -> ModelSpec:
    return ModelSpec(balance=(BalanceRule(0, tolerance, True),), **extra)


def only(conflicts):
    assert len(conflicts) == 1, conflicts
    return conflicts[0]


def test_a_unit_no_rep_can_take_is_named():
    p = line([1, 1, 1, 1], unit_skills=[0, SPANISH, 0, 0], seat_skills=[0, 0], skill_names=("spanish",))
    c = only(unservable_units(p, band()))
    assert (c.family, c.message) == (
        "skills",
        "unit 'U1' can go to no rep: its lock or required skills rule out every seat",
    )


def test_locks_above_the_band_give_the_load_and_the_band():
    p = replace(line([1, 1, 1, 1, 1, 1]), lock=np.array([0, 0, 0, 0, -1, -1]))
    c = only(locked_above_band(p, band(0.1)))
    assert c.message == "units locked to R1 carry 4.00 of potential; the balance band allows at most 3.30 (±10%)"
    assert c.relax_to == pytest.approx(4 / 3 - 1)


def test_locks_above_a_cap_give_the_load_and_the_cap():
    p = replace(line([2, 2, 1, 1]), lock=np.array([0, 0, -1, -1]))
    c = only(locked_above_cap(p, ModelSpec(capacity=((0, 3.0),))))
    assert c.message == "units locked to R1 carry 4.00 of potential; R1's cap is 3.00"
    assert c.relax_to == pytest.approx(4.0)


def test_capacity_below_the_book_and_below_the_band():
    p = line([3, 3, 3, 3])  # 12 in all, 6 per seat
    team, seat, _ = capacity_shortfall(p, band(0.1, capacity=((0, 5.0),)))
    assert team.message == (
        "total potential is 12.00 but the team's capacity is 10.00 (5.00 per FTE × 2 FTE); add seats or raise the cap to 6.00 per FTE"
    )
    assert team.relax_to == pytest.approx(6.0)
    assert seat.message == "balance asks R1 for at least 5.40 of potential but its cap is 5.00"


def test_skill_supply_below_demand():
    # 3 of 4 units need the skill; the one rep holding it can take at most 2 x 1.1
    p = line([1, 1, 1, 1], unit_skills=[MED, MED, MED, 0], seat_skills=[MED, 0], skill_names=("med",))
    c = only(skill_shortfall(p, band(0.1)))
    assert (
        c.message
        == "units needing skill 'med' carry 3.00 of potential, but the 1 rep(s) with that skill can hold at most 2.20 within ±10%"
    )


def test_families_locked_apart_or_needing_skills_no_rep_holds_together():
    p = replace(
        line([1, 1, 1, 1], unit_skills=[1, 2, 0, 0], seat_skills=[1, 2], skill_names=("a", "b")),
        family=np.array([0, 0, 1, 1]),
        lock=np.array([-1, -1, 0, 1]),
    )
    skills, apart = family_conflicts(p, band())  # family 0 (U0, U1), then family 1 (U2, U3)
    assert apart.message == "family of 'U2' has members locked to different reps (R1, R2)"
    assert skills.message == "family of 'U0' needs skills no single rep has together"


def test_books_above_the_band_against_the_per_rep_and_overall_budget():
    p = replace(line([1] * 8), owner=np.array([0] * 6 + [1] * 2))  # R1 holds 6, the band allows 4.4
    value = p.measures[:, 0]
    spec = band(0.1, disruption_value=value, disruption_per_rep=0.2)
    per_rep, overall = overloaded_books(p, spec, disruption_measure="potential", disruption_share=0.1)
    assert per_rep.message == (
        "R1 holds 6.00 of potential today but the balance band allows 4.40, so 26.7% of the book must move; the per-rep budget is 20%"
    )
    assert per_rep.relax_to == pytest.approx(1.6 / 6)
    assert overall.message == (
        "reps above their balance band hold 20.0% of potential more than the band allows, which must move; the budget is 10%"
    )


def test_forced_moves_against_the_budget():
    p = replace(line([1] * 4), owner=np.array([0, 0, 1, 1]), lock=np.array([1, -1, -1, -1]))
    spec = band(0.5, disruption_value=p.measures[:, 0])
    c = only(forced_moves(p, spec, disruption_measure="potential", disruption_share=0.1))
    assert c.message == (
        "25.0% of potential must move (locks to new reps, owners lacking a required skill, exclusions from today's owner) but the budget is 10%"
    )
    assert forced_moves(p, spec, disruption_measure="potential", disruption_share=0.3) == []
    # a unit excluded from its owner must move too: with the lock, half the book
    excluded = replace(p, exclusions=np.array([[2, 1]]))
    assert only(forced_moves(excluded, spec, disruption_measure="potential", disruption_share=0.3)).relax_to == 0.5
    from territory_opt.solve.bounds import required_movement

    assert required_movement(excluded, spec, "potential").share == pytest.approx(0.5)
    assert required_movement(p, spec, "potential").share == pytest.approx(0.25)


def test_a_unit_locked_to_a_seat_it_is_excluded_from_is_named():
    """A lock and an exclusion on the same pair leave the unit no seat: the pre-check names
    both (the warm start used to crash on the empty seat list: "min() arg is an empty
    sequence"), and so does the whole solve, with and without home bases."""
    p = replace(line([1, 3, 2], seats=2), lock=np.array([-1, -1, 1]), exclusions=np.array([[2, 1]]))
    c = only(unservable_units(p, band(locks=True)))
    assert (c.family, c.message) == (
        "exclusions",
        "unit 'U2' can go to no rep: it is locked to R2 and excluded from R2: remove the lock or the exclusion",
    )
    assert c.unit_rule
    for seat_xy in (p.seat_xy, np.full((2, 2), np.nan)):
        with pytest.raises(InfeasibleError, match="locked to R2 and excluded from R2") as info:
            solve(
                replace(p, seat_xy=seat_xy),
                balance={"potential": Measure(tolerance=0.3)},
                constraints=Constraints(contiguity=Contiguity()),
                solver=SolverSettings(time_limit=5, deterministic=True),
            )
        # without home bases U2 stands alone as well, but the conflict is its own rules':
        # no "proved with these units standing alone" (it named U2 there too)
        assert "standing alone" not in str(info.value)


def test_a_family_whose_exclusions_cover_every_seat_is_named():
    """Members kept together, one excluded from each seat: the family fits nowhere."""
    p = replace(line([1, 1, 1, 1], seats=2), family=np.array([0, 0, -1, -1]), exclusions=np.array([[0, 0], [1, 1]]))
    conflicts = unservable_units(p, band(families=True))
    assert [c.family for c in conflicts] == ["exclusions", "exclusions"]
    assert conflicts[0].message == (
        "unit 'U0' can go to no rep: its exclusions and its family's rule out every seat: remove an exclusion"
    )
    # without the family each member still has a seat
    assert unservable_units(replace(p, family=np.full(4, -1)), band()) == []


def test_an_island_no_whole_number_of_territories_fits_is_named():
    p = Problem.from_arrays(
        measures=[5.0, 5.0, 1.0, 1.0, 5.0, 5.0],
        measure_names=["potential"],
        unit_xy=[[0, 0], [1, 0], [5, 0], [6, 0], [9, 0], [10, 0]],
        seat_xy=[[0, 0], [10, 0]],
        edges=[[0, 1], [2, 3], [4, 5]],
        unit_names=["A", "B", "Isle1", "Isle2", "C", "D"],
    )
    c = only(unreachable_parts(p, band(0.1, contiguity=True)))
    assert c.family == "contiguity"
    assert c.message.startswith(
        "a part of the map with 2 unit(s) (Isle1, Isle2) touches no other part and holds 9.1% of potential: "
        "no whole number of contiguous territories fits it within ±10% (3 separate parts)"
    )


def test_prechecks_runs_every_named_check_in_order():
    p = replace(
        line([1, 1, 1, 1, 1, 1], unit_skills=[0, 0, 0, 0, 0, 1], seat_skills=[0, 0], skill_names=("x",)),
        lock=np.array([0, 0, 0, 0, -1, -1]),
    )
    found = prechecks(p, band(0.1))
    assert [c.family for c in found] == ["skills", "locks", "skills"]
    assert found[0].message.startswith("unit 'U5' can go to no rep")
    assert found[1].message.startswith("units locked to R1 carry 4.00 of potential")
    assert found[2].message.startswith("units needing skill 'x' carry 1.00 of potential, but the 0 rep(s)")


def test_explain_says_how_far_balance_must_relax():
    p = line([1, 1, 1])  # two seats, three equal units: the best split is 2 vs 1
    cand = build_candidates(p, np.zeros(2, dtype=np.int64), nearest=2)
    (c,) = explain(p, cand, band(0.1), None, time_limit=5).conflicts
    assert c.family == "balance"
    assert c.message == (
        "balance of potential cannot hold ±10% with the other constraints; the best plan needs about ±33.3%"
    )
    assert c.relax_to == pytest.approx(0.334)


def test_explain_names_the_cap_to_exceed():
    p = line([1, 1, 1, 1])
    cand = build_candidates(p, np.zeros(2, dtype=np.int64), nearest=2)
    conflicts = explain(p, cand, ModelSpec(capacity=((0, 1.5),)), None, time_limit=5).conflicts
    assert sorted(c.message for c in conflicts) == [
        "R1 must exceed its potential cap by 0.50",
        "R2 must exceed its potential cap by 0.50",
    ]


def test_explain_names_the_families_in_an_infeasible_core():
    # a family split by its locks: no stretch of a band helps; the core names the family
    # constraint (locks are kept as the planner's word)
    p = replace(line([1, 1, 1, 1]), family=np.array([0, 0, -1, -1]), lock=np.array([0, 1, -1, -1]))
    cand = build_candidates(p, np.zeros(2, dtype=np.int64), nearest=2)
    (c,) = explain(p, cand, band(0.5), None, time_limit=5).conflicts
    assert (c.family, c.message) == (
        "families",
        "these constraint families conflict: families; relax or switch off one of them",
    )


def test_a_share_to_raise_to_is_never_above_everything():
    from territory_opt.solve.bounds import pct_down, pct_up

    assert pct_up(0.2901) == "29.1%"
    assert pct_up(0.29) == "29.0%"
    assert pct_up(1.0 + 1e-8) == "100.0%"  # was "100.1%", a setting max_share refuses
    assert pct_down(0.2999) == "29.9%"
