"""The border band (:mod:`territory_opt.solve.band`): from a plan that meets every band but
moves more than the budget, one CP-SAT model over the borders of every territory returns a
plan that moves less, keeps every band, every territory connected and every rule, and never
claims anything when it finds nothing."""

import importlib
import time

import numpy as np
import pytest

from territory_opt.model.formulation import BalanceRule, ModelSpec

from .conftest import territory_connected
from .test_pockets import grid

contiguous = importlib.import_module("territory_opt.solve.contiguous")
band = importlib.import_module("territory_opt.solve.band")


def strips(rows: int, cols: int, k: int, vertical: bool) -> np.ndarray:
    """k strips of a rows x cols grid, vertical (by columns) or horizontal (by rows)."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    return (c * k // cols) if vertical else (r * k // rows)


def search(values, owner, budget_share, k=4, rows=6, cols=8, per_rep=None):
    p = grid(rows, cols, values, k)
    p = p.__class__(**{**p.__dict__, "owner": np.asarray(owner, dtype=np.int64)})
    value = p.measures[:, 0].astype(float)
    spec = ModelSpec(
        balance=(BalanceRule(0, 0.10, True),),
        contiguity=True,
        disruption_value=value,
        disruption_max=budget_share * value.sum(),
        disruption_per_rep=per_rep,
    )
    return p, spec, contiguous._Search(p, spec, p.seat_xy, True, 0)


@pytest.mark.parametrize(
    ("rows", "cols", "k", "budget"), [(8, 6, 4, 0.45), (8, 8, 4, 0.40), (6, 6, 3, 0.35), (9, 6, 3, 0.40)]
)
def test_the_band_moves_less_and_keeps_every_rule(rows, cols, k, budget):
    values = np.full(rows * cols, 5.0)
    owner = strips(rows, cols, k, vertical=True)
    # today's books are vertical strips; the start, horizontal strips, meets every band but
    # moves most of the book
    p, spec, s = search(values, owner, budget, k=k, rows=rows, cols=cols)
    start = strips(rows, cols, k, vertical=False)
    s.reset(start)
    assert s.violation() > 0 and s.violation() == pytest.approx(s.budget_violation(s.moved))
    before = contiguous.moved_share(p, spec, start)
    plan = band.band_polish(s, deadline=time.perf_counter() + 20, now=time.perf_counter, workers=2, seed=0)
    assert plan is not None
    assert list(s.assign) == start.tolist()  # the search is left on the plan it started from
    after = contiguous.moved_share(p, spec, plan)
    assert after < before - 1e-9
    assert len(plan) == p.n_units and set(plan.tolist()) <= set(range(k))
    s.reset(plan)
    load = np.bincount(plan, weights=values, minlength=k)
    assert ((load >= s.lo[:, 0] - 1e-9) & (load <= s.hi[:, 0] + 1e-9)).all()
    assert all(territory_connected(plan, p.edges, t) for t in range(k))
    assert s.violation() < 1e-9  # within the budget


def test_the_band_keeps_the_per_rep_limits():
    values = np.full(64, 5.0)
    owner = strips(8, 8, 4, vertical=True)
    p, _, s = search(values, owner, 0.45, k=4, rows=8, cols=8, per_rep=0.6)
    start = strips(8, 8, 4, vertical=False)
    s.reset(start)
    assert s.budget_violation(s.moved) > 0  # over the budget and over some rep's limit
    plan = band.band_polish(s, deadline=time.perf_counter() + 20, now=time.perf_counter, workers=2, seed=0)
    assert plan is not None
    s.reset(plan)
    out = np.bincount(owner[plan != owner], weights=values[plan != owner], minlength=4)
    book = np.bincount(owner, weights=values, minlength=4)
    assert (out <= 0.6 * book + 1e-9).all()
    assert s.violation() < 1e-9
    assert all(territory_connected(plan, p.edges, t) for t in range(4))


def test_the_band_finds_nothing_better_and_says_nothing():
    values = np.full(48, 5.0)
    owner = strips(6, 8, 4, vertical=True)
    *_, s = search(values, owner, 0.0)
    s.reset(owner)  # today's books: nothing moves, nothing to gain
    assert band.band_polish(s, deadline=time.perf_counter() + 5, now=time.perf_counter, workers=1, seed=0) is None
