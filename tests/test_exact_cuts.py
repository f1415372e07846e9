"""The cut model (contiguity as separator and small-set cuts) decides a disruption budget for
the real problem: it must agree with the flow model where that one proves its optimum, and
the pipeline must answer a budget only contiguity breaks with a proof and the least share."""

import importlib
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from ortools.sat.python import cp_model

from territory_opt import InfeasibleError, Problem, solve
from territory_opt.scenario import Constraints, Disruption, Measure, SolverSettings
from territory_opt.solve.context import SolveContext
from territory_opt.solve.spec import resolve

from .conftest import territory_connected
from .test_realign import line

exact_cuts = importlib.import_module("territory_opt.solve.strategies.exact_cuts")
exact_flow = importlib.import_module("territory_opt.solve.strategies.exact_flow")
realignment = importlib.import_module("territory_opt.solve.strategies.realignment")


def _grid(side, seats, seed):
    """A side × side grid, random potential, today's owners in vertical stripes (so the
    stripes are out of balance and value must move across them)."""
    rng = np.random.default_rng(seed)
    xy = np.array([[float(c), float(r)] for r in range(side) for c in range(side)])
    edges = [[side * r + c, side * r + c + 1] for r in range(side) for c in range(side - 1)]
    edges += [[side * r + c, side * (r + 1) + c] for r in range(side - 1) for c in range(side)]
    p = Problem.from_arrays(
        measures=rng.uniform(1, 6, side * side),
        measure_names=["potential"],
        unit_xy=xy,
        seat_xy=[[side * (t + 0.5) / seats, side / 2] for t in range(seats)],
        edges=edges,
    )
    owner = np.minimum((xy[:, 0] * seats / side).astype(int), seats - 1)
    return replace(p, owner=owner)


def _spec(p, tolerance, budget):
    return resolve(
        p,
        {"potential": Measure(tolerance=tolerance)},
        Constraints(contiguity=True, disruption=Disruption(measure="potential", max_share=budget)),
        None,
        None,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_cut_model_agrees_with_the_flow_model_on_the_least_share(seed):
    p = _grid(6, 3, seed)
    spec = _spec(p, 0.05, 0.5)
    booked = float(p.measures[:, 0].sum())
    flow = exact_flow.solve_exact(
        p, spec.model, pos=p.seat_xy, hint=None, time_limit=20, seed=1, workers=2, minimise="moved"
    )
    if flow.status != cp_model.OPTIMAL or flow.assign is None:
        pytest.skip("the flow model did not prove its optimum in time on this machine")
    least = float(p.measures[flow.assign != p.owner, 0].sum())
    ctx = SolveContext(SolverSettings(time_limit=20, seed=1, workers=2))
    cut = exact_cuts.least_share(ctx, p, spec, ctx.now() + 20, [])
    assert cut.status == "plan" and cut.optimal and cut.assign is not None
    assert all(territory_connected(cut.assign, p.edges, t) for t in range(3))
    # the same least value moved (both exact; the cut model's plan is a real plan)
    assert float(p.measures[cut.assign != p.owner, 0].sum()) == pytest.approx(least, rel=1e-6)
    assert cut.bound is not None and cut.bound <= least + 1e-9
    # the budget just below it is proved too small; just above it, a contiguous plan keeps it
    below = exact_cuts.decide(ctx, p, _spec(p, 0.05, 0.999 * least / booked), ctx.now() + 20)
    assert below.status == "infeasible"
    above = exact_cuts.decide(ctx, p, _spec(p, 0.05, 1.001 * least / booked), ctx.now() + 20)
    assert above.status == "plan" and above.assign is not None
    assert all(territory_connected(above.assign, p.edges, t) for t in range(3))
    assert float(p.measures[above.assign != p.owner, 0].sum()) <= 1.001 * least + 1e-9


def test_a_budget_only_contiguity_breaks_is_proved_with_the_least_share():
    # three territories in a row, 4 | 3 | 2 units of 1: the first must give 1 and the last
    # receive 1. Without contiguity 1 unit moves (the pre-check's bound, 11.1 %, below the
    # 15 % budget); a contiguous plan moves the value through the middle territory: 2 units
    p = line([1] * 9, owner=[0, 0, 0, 0, 1, 1, 1, 2, 2], seats=3)
    with pytest.raises(InfeasibleError) as err:
        solve(
            p,
            balance={"potential": Measure(tolerance=0.05)},
            constraints=Constraints(contiguity=True, disruption=Disruption(measure="potential", max_share=0.15)),
            solver=SolverSettings(time_limit=10, seed=1, workers=2),
        )
    (conflict,) = err.value.explanation.conflicts
    assert conflict.family == "disruption"
    assert "separator cuts" in conflict.message and "proved optimal" in conflict.message
    assert conflict.relax_to == pytest.approx(2 / 9)
    # the error carries that plan: contiguous, balanced, moving exactly that share
    least = np.asarray(err.value.over_budget)
    assert all(territory_connected(least, p.edges, t) for t in range(3))
    # and which seats it has standing alone (none here), for the pipeline's over-budget folder
    assert err.value.exempt is not None and not np.asarray(err.value.exempt).any()
    assert np.bincount(least, minlength=3).tolist() == [3, 3, 3] and int((least != p.owner).sum()) == 2
    # at that share the same scenario has a plan
    plan = solve(
        p,
        balance={"potential": Measure(tolerance=0.05)},
        constraints=Constraints(contiguity=True, disruption=Disruption(measure="potential", max_share=2 / 9 + 1e-6)),
        solver=SolverSettings(time_limit=10, seed=1, workers=2),
    )
    assert plan.ok and all(territory_connected(plan.seat_of, p.edges, t) for t in range(3))
    assert np.bincount(plan.seat_of, minlength=3).tolist() == [3, 3, 3]


def test_a_split_territorys_small_piece_gets_a_cut_that_every_contiguous_plan_keeps():
    # a 1 × 6 line, band of 3 units per territory: a plan giving seat 0 the units
    # {0, 4, 5} must be cut (both pieces are below the band), and no cut may exclude a
    # contiguous plan
    p = line([1] * 6, owner=[0, 0, 0, 1, 1, 1])
    spec = _spec(p, 0.05, 1.0)
    graph = exact_cuts._Graph(p)
    m = exact_cuts._Model(p, spec, graph, budget=True, minimise=False, cuts=[])
    split = np.array([0, 1, 1, 1, 0, 0])
    assert m.cut(split) == 1  # seat 0 is split; seat 1 holds {1, 2, 3}
    for left, right, t, allowance in m.cuts:
        for plan in (np.array([0, 0, 0, 1, 1, 1]), np.array([1, 1, 1, 0, 0, 0])):
            lhs = sum(plan[a] == t for a in left)
            rhs = sum(plan[c] == t for c in right)
            assert lhs <= allowance + rhs
    # and the split plan breaks at least one of them
    assert any(
        sum(split[a] == t for a in left) > allowance + sum(split[c] == t for c in right)
        for left, right, t, allowance in m.cuts
    )


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_next_hint_mends_a_split_plan_into_connected_territories(seed):
    # a relaxation's plan with split territories: the hint keeps each territory's piece of
    # most value where it is and hands the other pieces to adjacent territories, so every
    # territory of the hint is connected
    p = _grid(6, 3, seed)
    spec = _spec(p, 0.05, 0.5)
    m = exact_cuts._Model(p, spec, exact_cuts._Graph(p), budget=True, minimise=False, cuts=[])
    rng = np.random.default_rng(seed)
    split = rng.integers(0, 3, p.n_units)
    pieces = m.graph.pieces(split)
    assert pieces  # the random plan is split
    mended = m.mended(split)
    value = p.measures[:, 0]
    for t in range(3):
        assert territory_connected(mended, p.edges, t)
        parts = pieces.get(t)
        kept = np.flatnonzero(split == t) if parts is None else max(parts, key=lambda q: value[q].sum())
        assert (mended[kept] == t).all()  # the kept piece stays
    assert (mended >= 0).all()


def test_an_undecided_cut_model_goes_on_from_its_cuts():
    # stopped after one solve, the model resumes with its cuts and its last plan, and
    # reaches the same answer as a run that was never stopped
    p = _grid(6, 3, 2)
    booked = float(p.measures[:, 0].sum())
    ctx = SolveContext(SolverSettings(time_limit=60, seed=1, workers=2))
    whole = exact_cuts.least_share(ctx, p, _spec(p, 0.05, 0.5), ctx.now() + 30, [])
    if not whole.optimal or whole.assign is None:
        pytest.skip("the least share was not proved in time on this machine")
    least = float(p.measures[whole.assign != p.owner, 0].sum())
    for share, answer in ((1.001 * least / booked, "plan"), (0.999 * least / booked, "infeasible")):
        spec = _spec(p, 0.05, share)
        m = exact_cuts._Model(p, spec, exact_cuts._Graph(p), budget=True, minimise=False, cuts=[])
        first = exact_cuts._loop(ctx, m, ctx.now() + 30, p.owner, budget=True, stop=_AfterOne())
        assert first.status == "unknown" and first.model is m and first.solves <= 1
        out = exact_cuts.resume(ctx, first, ctx.now() + 30)
        assert out.status == answer and out.solves > first.solves
        assert len(out.cuts) >= len(first.cuts)
        if answer == "plan":
            assert out.assign is not None
            assert all(territory_connected(out.assign, p.edges, t) for t in range(3))
            assert float(p.measures[out.assign != p.owner, 0].sum()) <= share * booked * (1 + 1e-9)
        # a decided result is returned as it is
        assert exact_cuts.resume(ctx, out, ctx.now() + 30) is out


class _AfterOne(exact_flow.Stop):
    """Set once one solve has been watched: the loop stops after its first solve."""

    def watch(self, solver):
        if getattr(self, "_watched", False):
            self.set()
        self._watched = True
        super().watch(solver)


def test_the_cut_models_proof_repeats_in_deterministic_mode():
    # the pre-check proves 2.9 %; a contiguous plan moves at least 4.73 %: a 4 % budget is
    # the cut model's to prove, and the same inputs and seed give the same answer
    p = _grid(6, 3, 2)
    spec_args = {
        "balance": {"potential": Measure(tolerance=0.05)},
        "constraints": Constraints(contiguity=True, disruption=Disruption(measure="potential", max_share=0.04)),
        "solver": SolverSettings(time_limit=8, seed=3, deterministic=True),
    }
    answers = []
    for _ in range(2):
        with pytest.raises(InfeasibleError) as err:
            solve(p, **spec_args)
        answers.append(str(err.value))
    # the least share, rounded up: a budget set to it works
    assert "separator cuts" in answers[0] and "4.8%" in answers[0]
    assert answers[0] == answers[1]


def test_a_plan_within_the_audits_slack_of_a_band_is_never_cut_off():
    # today's plan is 5e-7 of a target below its band, inside the audit's slack (1e-6) and
    # moving nothing: a small-set cut must not call its territory "below the band"
    values = np.array([89.99995, 60.0, 50.00005])  # target 100, band 90 to 110
    p = line(values, owner=[0, 1, 1])
    spec = resolve(
        p,
        {"potential": Measure(tolerance=0.10)},
        Constraints(contiguity=True, disruption=Disruption(measure="potential", max_share=0.0)),
        None,
        None,
    )
    ctx = SolveContext(SolverSettings(time_limit=10, seed=1, workers=1))
    decided = exact_cuts.decide(ctx, p, spec, ctx.now() + 10)
    assert decided.status == "plan" and decided.assign.tolist() == [0, 1, 1]


def test_a_per_rep_limit_that_blocks_every_plan_is_named_not_contiguity():
    # the 4 | 3 | 2 line: every contiguous balanced plan takes a unit from the first rep
    # and one from the second (a third of its book); a 30 % per-rep limit forbids that
    p = line([1] * 9, owner=[0, 0, 0, 0, 1, 1, 1, 2, 2], seats=3)
    with pytest.raises(InfeasibleError) as err:
        solve(
            p,
            balance={"potential": Measure(tolerance=0.05)},
            constraints=Constraints(
                contiguity=True,
                disruption=Disruption(measure="potential", max_share=0.15, per_rep_share=0.3),
            ),
            solver=SolverSettings(time_limit=10, seed=1, workers=2),
        )
    assert err.value.explanation.families == ("disruption",)
    assert "per_rep_share" in str(err.value) and "even without the overall budget" in str(err.value)


def _random_map(seed):
    """A small random map: a grid with some diagonals and some edges missing, 2-4 seats,
    one or two balanced measures, owners in stripes or at random, some units unowned."""
    rng = np.random.default_rng(seed)
    side, k = int(rng.integers(4, 7)), int(rng.integers(2, 5))
    xy = np.array([[float(c), float(r)] for r in range(side) for c in range(side)])
    edges = [[side * r + c, side * r + c + 1] for r in range(side) for c in range(side - 1)]
    edges += [[side * r + c, side * (r + 1) + c] for r in range(side - 1) for c in range(side)]
    edges += [
        [side * r + c, side * (r + 1) + c + 1] for r in range(side - 1) for c in range(side - 1) if rng.random() < 0.3
    ]
    edges = [e for e in edges if rng.random() > 0.15]
    n = side * side
    p = Problem.from_arrays(
        measures=np.column_stack([rng.lognormal(0, 0.8, n), rng.uniform(1, 2, n)]),
        measure_names=["potential", "workload"],
        unit_xy=xy,
        seat_xy=xy[rng.choice(n, k, replace=False)],
        edges=edges,
    )
    stripes = np.minimum((xy[:, 0] * k / side).astype(int), k - 1)
    owner = rng.integers(0, k, n) if rng.random() < 0.3 else stripes
    if rng.random() < 0.2:
        owner[rng.random(n) < 0.2] = -1
    balance = {"potential": Measure(tolerance=float(rng.choice([0.05, 0.1, 0.2])))}
    if rng.random() < 0.4:
        balance["workload"] = Measure(tolerance=0.2)
    spec = resolve(
        replace(p, owner=owner),
        balance,
        Constraints(contiguity=True, disruption=Disruption(measure="potential", max_share=0.9)),
        None,
        None,
    )
    return replace(p, owner=owner), spec


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(60))
def test_the_two_exact_models_agree_on_random_small_maps(seed):
    p, spec = _random_map(seed)
    value = p.measures[:, 0]
    flow = exact_flow.solve_exact(
        p, spec.model, pos=p.seat_xy, hint=None, time_limit=10, seed=1, workers=2, minimise="moved"
    )
    ctx = SolveContext(SolverSettings(time_limit=10, seed=1, workers=2))
    cut = exact_cuts.least_share(ctx, p, spec, ctx.now() + 10, [])
    if flow.status == cp_model.INFEASIBLE:
        assert cut.status == "infeasible"
    if cut.status == "infeasible":
        assert flow.assign is None
    if flow.assign is not None and cut.bound is not None:
        # the cut model's bound never passes a real plan
        assert cut.bound <= float(value[p.reassigned(flow.assign)].sum()) + 1e-6
    if flow.status == cp_model.OPTIMAL and cut.optimal:
        assert float(value[p.reassigned(cut.assign)].sum()) == pytest.approx(
            float(value[p.reassigned(flow.assign)].sum()), rel=1e-6, abs=1e-9
        )


def test_the_flow_model_lets_a_territory_be_empty_when_its_band_allows_it():
    # three seats, two units, ±100 %: every band starts at 0, so a plan leaves one territory
    # empty; the flow model needed a root in every territory and called this infeasible
    p = line([1, 1], owner=[0, 1], seats=3)
    spec = resolve(p, {"potential": Measure(tolerance=1.0)}, Constraints(contiguity=True), None, None)
    flow = exact_flow.solve_exact(p, spec.model, pos=p.seat_xy, hint=None, time_limit=10, seed=1, workers=1)
    assert flow.status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and flow.assign is not None
    assert len(np.unique(flow.assign)) < 3 and exact_flow.keeps_rules(p, spec.model, flow.assign, budget=True)
    # a band above zero still needs every territory: ±50 % of 2/3 cannot be empty
    spec = resolve(p, {"potential": Measure(tolerance=0.5)}, Constraints(contiguity=True), None, None)
    flow = exact_flow.solve_exact(p, spec.model, pos=p.seat_xy, hint=None, time_limit=10, seed=1, workers=1)
    assert flow.status == cp_model.INFEASIBLE


def test_a_stop_from_another_thread_ends_the_solve_in_flight(monkeypatch):
    """The cut model runs beside the search; once the search has a plan it stops the cut
    model's CP-SAT solve at once, not at the end of its time."""
    # a market split problem (Cornuéjols & Dawande): 4 equations over 40 binaries, far
    # beyond 60 s of CP-SAT
    rng = np.random.default_rng(0)
    a = rng.integers(0, 100, (4, 40))
    model = cp_model.CpModel()
    x = [model.new_bool_var("") for _ in range(40)]
    for row in a.tolist():
        model.add(sum(c * v for c, v in zip(row, x, strict=True)) == sum(row) // 2)
    stop = exact_flow.Stop()
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(out=exact_flow._solve(model, 60.0, 1, 1, False, stop=stop)), daemon=True
    )
    t0 = time.perf_counter()
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()
    stop.set()
    thread.join(20)
    assert not thread.is_alive() and time.perf_counter() - t0 < 20
    assert box["out"][1] == cp_model.UNKNOWN
    # a stop set after the solver was watched but before its solve began (stop_search does
    # nothing then) is repeated by wait() until the solve ends (found by a review: the
    # solve ran its whole limit)
    real = cp_model.CpSolver.solve

    def late_start(self, *args, **kw):
        time.sleep(0.3)  # the few microseconds between watch() and the solve's internals
        return real(self, *args, **kw)

    monkeypatch.setattr(cp_model.CpSolver, "solve", late_start)
    stop = exact_flow.Stop()
    thread = threading.Thread(target=lambda: exact_flow._solve(model, 60.0, 1, 1, False, stop=stop), daemon=True)
    t0 = time.perf_counter()
    thread.start()
    time.sleep(0.1)
    stop.set()
    stop.wait(thread)
    assert time.perf_counter() - t0 < 20
    monkeypatch.undo()
    # a loop stopped before it starts solves nothing
    p = _grid(6, 3, 2)
    ctx = SolveContext(SolverSettings(time_limit=20, seed=1, workers=2))
    assert exact_cuts.decide(ctx, p, _spec(p, 0.05, 0.3), ctx.now() + 20, stop=stop).solves == 0


def test_the_search_and_the_cut_model_each_stop_the_other():
    """Wall clock, a small map under a budget: the exact search and the cut model run at
    once, and whichever decides first ends the other long before their share of the time."""
    ctx = SolveContext(SolverSettings(time_limit=60, seed=1, workers=2))
    # a budget only contiguity breaks (see above): the cut model's proof ends the search
    p = line([1] * 9, owner=[0, 0, 0, 0, 1, 1, 1, 2, 2], seats=3)
    spec = _spec(p, 0.05, 0.15)
    t0 = time.perf_counter()
    found, decided = realignment.search_and_decide(ctx, p, spec, p.owner, np.array([0, 4, 8]), ctx.now() + 60)
    assert decided.status == "infeasible" and found.violation > 0
    assert time.perf_counter() - t0 < 20
    # room in the budget: the search's plan ends the cut model
    p = _grid(6, 3, 2)
    spec = _spec(p, 0.05, 0.6)
    t0 = time.perf_counter()
    found, decided = realignment.search_and_decide(ctx, p, spec, p.owner, np.array([19, 21, 23]), ctx.now() + 60)
    assert found.violation <= 1e-9 or decided.status == "plan"
    plan = found.assign if found.violation <= 1e-9 else decided.assign
    assert all(territory_connected(plan, p.edges, t) for t in range(3))
    assert time.perf_counter() - t0 < 20
