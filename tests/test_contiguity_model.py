"""The star-shaped contiguity condition and warm starts, checked on the built model."""

import numpy as np
import pytest
from ortools.sat.python import cp_model

from territory_opt import Problem
from territory_opt.model import BalanceRule, ModelSpec, build, build_candidates, conditions, plan_distances, prune
from territory_opt.model.cpsat import CpSettings, hint, params, set_objective
from territory_opt.model.heuristics import warm_start
from territory_opt.solve._pairs import subset


def path(n: int = 6) -> Problem:
    """n unit accounts on a path 0-1-...-(n-1), 1 km apart; seats A at unit 0, B at the end."""
    return Problem.from_arrays(
        measures=np.ones(n),
        measure_names=["potential"],
        unit_xy=[[float(i), 0.0] for i in range(n)],
        seat_xy=[[0.0, 0.0], [float(n - 1), 0.0]],
        edges=[[i, i + 1] for i in range(n - 1)],
        seat_ids=["A", "B"],
    )


def pairs(ku, ks) -> set[tuple[int, int]]:
    return {(int(u), int(t)) for u, t in zip(ku, ks, strict=True)}


def all_pairs(p: Problem):
    return build_candidates(p, np.zeros(p.n_seats, dtype=np.int64), nearest=p.n_seats)


def test_each_unit_needs_a_strictly_closer_neighbour_of_its_territory():
    p = path(6)
    roots = np.array([0, 5])
    dist, _ = plan_distances(p, roots)
    assert dist.tolist() == [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]]
    cand = all_pairs(p)
    cont = conditions(cand, roots, dist, p)
    rows = {
        (int(cand.unit[a]), int(cand.seat[a])): (int(cand.unit[b]), int(cand.seat[b]))
        for a, b in zip(cont.pair, cont.pred, strict=True)
    }
    # unit 3 may join A only with unit 2 (closer to A's root), B only with unit 4
    assert rows[(3, 0)] == (2, 0)
    assert rows[(3, 1)] == (4, 1)
    # one supporting neighbour per pair on a path, none for the roots
    assert len(cont.pair) == 2 * 6 - 2
    assert (0, 0) not in rows and (5, 1) not in rows


def test_a_pair_without_a_strictly_closer_neighbour_is_forbidden():
    p = path(4)
    roots = np.array([0, 3])
    dist, pred = plan_distances(p, roots)
    full = all_pairs(p)
    # unit 1 may not go to A (say pruned by distance): unit 2 then has no way back to A's
    # root inside A, and unit 3 neither
    keep = ~((full.unit == 1) & (full.seat == 0))
    cand = subset(p, full, full.unit[keep], full.seat[keep], False)
    ku, ks = prune(p, cand, roots, dist, pred)
    # (2, A) and (3, A) are gone; a root stays with its seat, so (0, B) too
    assert pairs(ku, ks) == {(0, 0), (1, 1), (2, 1), (3, 1)}


def test_pruning_never_leaves_a_unit_without_an_option():
    p = path(4)
    roots = np.array([0, 3])
    dist, pred = plan_distances(p, roots)
    full = all_pairs(p)
    # unit 2 may only go to A and unit 1 not at all to A: its path back to A's root is added
    keep = ~(((full.unit == 1) & (full.seat == 0)) | ((full.unit == 2) & (full.seat == 1)))
    cand = subset(p, full, full.unit[keep], full.seat[keep], False)
    ku, ks = prune(p, cand, roots, dist, pred)
    assert {(0, 0), (1, 0), (2, 0)} <= pairs(ku, ks)


def test_distances_around_a_plan_follow_its_territories():
    p = path(6)
    plan = np.array([0, 0, 0, 1, 1, 1])
    dist, _ = plan_distances(p, np.array([0, 5]), plan)
    # inside A's territory a step costs 1, outside it n = 6
    assert dist[0].tolist() == [0, 1, 2, 8, 14, 20]
    assert dist[1].tolist() == [20, 14, 8, 2, 1, 0]


def fixed(p: Problem, assign, *, around=None) -> int:
    """CP-SAT's status for the model with the condition (built around ``around``) and the
    assignment fixed."""
    roots = np.array([0, p.n_units - 1])
    dist, _ = plan_distances(p, roots, None if around is None else np.asarray(around))
    cand = all_pairs(p)
    built = build(p, cand, ModelSpec(contiguity=True), conditions(cand, roots, dist, p), objective_terms=set())
    for i, (u, t) in enumerate(zip(cand.unit, cand.seat, strict=True)):
        built.model.add(built.x[i] == int(assign[u] == t))
    return cp_model.CpSolver().solve(built.model)


def test_the_model_refuses_a_split_territory_and_keeps_a_connected_one():
    p = path(6)
    assert fixed(p, [0, 0, 0, 1, 1, 1]) == cp_model.OPTIMAL
    assert fixed(p, [0, 1, 0, 1, 1, 1]) == cp_model.INFEASIBLE  # A's unit 2 cut off by unit 1
    # the condition built around a connected plan always admits that plan
    plan = [0, 0, 0, 0, 0, 1]
    assert fixed(p, plan, around=plan) == cp_model.OPTIMAL


def test_a_complete_warm_start_is_accepted_and_cp_sat_never_does_worse():
    rng = np.random.default_rng(5)
    p = Problem.from_arrays(
        measures=rng.uniform(1, 3, 40),
        measure_names=["potential"],
        unit_xy=rng.uniform(0, 50, (40, 2)),
        seat_xy=rng.uniform(10, 40, (4, 2)),
    )
    spec = ModelSpec(balance=(BalanceRule(0, 0.1, True),), travel_weight=p.measures[:, 0])
    cand = all_pairs(p)
    start, violation = warm_start(p, cand, spec, None, max_moves=10_000, seed=1)
    assert violation == 0.0
    built = build(p, cand, spec, None, objective_terms={"travel"})
    scale, offset = set_objective(built, {"travel": 1.0})
    assert hint(built, cand, start, deterministic=True)  # complete: every variable hinted
    assert len(built.model.proto.solution_hint.vars) == len(built.model.proto.variables)
    solver = params(CpSettings(seed=1, deterministic=True), 2.0, 1, feasible_hint=True)
    status = solver.solve(built.model)
    assert status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    w, pos = p.measures[:, 0], p.seat_xy
    travel = float((w * np.linalg.norm(p.unit_xy - pos[start], axis=1)).sum() / w.sum())
    assert solver.objective_value / scale + offset <= travel + 1e-6


def test_a_hint_that_breaks_a_band_is_given_as_an_assignment_only():
    p = path(6)
    cand = all_pairs(p)
    built = build(p, cand, ModelSpec(balance=(BalanceRule(0, 0.1, True),)), None, objective_terms={"travel"})
    assert not hint(built, cand, np.array([0, 0, 0, 0, 0, 1]))
    assert len(built.model.proto.solution_hint.vars) == len(cand)


@pytest.mark.parametrize("n", [5, 8])
def test_roots_are_the_units_at_the_home_bases(n):
    from territory_opt.model import choose_roots

    p = path(n)
    assert choose_roots(p, np.zeros(2, dtype=np.int64)).tolist() == [0, n - 1]


def test_whole_number_measures_meet_the_band_exactly_not_within_the_rounding(monkeypatch):
    """Rounded coefficients need the integer band widened by half a step per pair (so no
    plan on the band is cut off), which lets a plan pass the band by a hair; the bench's
    scorer counted such a plan (US realignment, 25 %) as unbalanced. Whole-number measures
    are now scaled by a power of ten, exactly, and the band is not widened. Here A's nearest
    units hold 1,050,001 against an upper band of 1,050,001 - 3e-6 (rep B's FTE set so)."""
    import importlib

    formulation = importlib.import_module("territory_opt.model.formulation")
    values = np.array([350_000, 350_000, 350_001, 340_000, 309_999, 350_001], dtype=float)
    total = values.sum()
    fte_b = 1.05 * total / (1_050_001 - 3e-6) - 1
    p = Problem.from_arrays(
        measures=values,
        measure_names=["potential"],
        unit_xy=[[float(i), 0.0] for i in range(6)],
        seat_xy=[[0.0, 0.0], [5.0, 0.0]],
        seat_capacity=[1.0, fte_b],
        seat_ids=["A", "B"],
    )
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),))
    cand = all_pairs(p)
    high = 1.05 * total / (1 + fte_b)
    assert 0 < 1_050_001 - high < 1e-5

    def load_of_a():
        built = build(p, cand, spec, None, objective_terms={"travel"})
        set_objective(built, {"travel": 1.0})
        solver = cp_model.CpSolver()
        assert solver.solve(built.model) == cp_model.OPTIMAL
        chosen = np.array([solver.boolean_value(v) for v in built.x])
        return float(values[cand.unit[chosen & (cand.seat == 0)]].sum())

    assert load_of_a() <= high  # exact: A takes 0.35 + 0.35 + 0.34 million
    # the rounded model (what non-whole measures still get) takes A's nearest units, a hair over
    monkeypatch.setattr(formulation, "_exact_step", lambda values, total: None)
    assert load_of_a() > high
