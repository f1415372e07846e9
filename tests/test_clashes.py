"""Clashes: two units whose values together exceed every seat's band can never share a
territory. The exact contiguity search never puts them together and separates them first
where its start does (the trap of roster 2 on the US counties at 50 territories: Maricopa,
La Paz and Riverside in one territory, 0.9 % above its band, that no move or re-cut left
in two minutes)."""

import importlib
import itertools

import numpy as np
import pytest

from territory_opt import Problem
from territory_opt.model.formulation import BalanceRule, ModelSpec

contiguous = importlib.import_module("territory_opt.solve.contiguous")
windows = importlib.import_module("territory_opt.solve.windows")


def grid(rows, cols, values, k, fte=None):
    xy = [[float(c), float(r)] for r in range(rows) for c in range(cols)]
    edges = [[r * cols + c, r * cols + c + 1] for r in range(rows) for c in range(cols - 1)]
    edges += [[r * cols + c, (r + 1) * cols + c] for r in range(rows - 1) for c in range(cols)]
    return Problem.from_arrays(
        measures=np.asarray(values, dtype=float)[:, None],
        measure_names=["potential"],
        unit_xy=xy,
        seat_xy=[[0.0, 0.0]] * k,
        seat_capacity=fte,
        edges=edges,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clashes_are_the_pairs_no_seat_can_hold(seed):
    """Every clash exceeds every open seat's upper band (so no plan holds it: the rule
    never removes a plan), and every pair above the highest band is a clash."""
    rng = np.random.default_rng(seed)
    values = rng.pareto(1.5, 48) + 0.05
    fte = rng.choice([0.8, 1.0, 1.2], 6)
    p = grid(6, 8, values, 6, fte=fte)
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    s = contiguous._Search(p, spec, p.seat_xy, True, 0)
    hi = s.hi[:, 0]
    pairs = {(u, w) for u in s.clash for w in s.clash[u] if u < w}
    for u, w in pairs:
        assert values[u] + values[w] > hi.max()
    for u, w in itertools.combinations(range(48), 2):
        if values[u] + values[w] > hi.max() * (1 + 1e-6):
            assert (u, w) in pairs
    assert all(u in s.clash[w] for u, w in pairs)


def _trap():
    """A 4 x 6 grid, three territories of target 1.0 (±5 %): the start's territory 0 holds
    two heavy units (0.65 and 0.42: together above 1.05) and a light bridge between them,
    1.10 in all. A plan exists (0.65 and four light units, 0.42 with the bridge and six,
    eleven light units), each light unit 0.0905."""
    values = np.full(24, 0.0)
    heavy_a, bridge, heavy_b = 7, 8, 9
    values[heavy_a], values[bridge], values[heavy_b] = 0.65, 0.03, 0.42
    light = [u for u in range(24) if u not in (heavy_a, bridge, heavy_b)]
    values[light] = (3.0 - values.sum()) / len(light)
    start = np.array([1] * 6 + [1, 0, 0, 0, 2, 2] + [1] * 3 + [2] * 3 + [1] * 3 + [2] * 3)
    start[[heavy_a, bridge, heavy_b]] = 0
    return grid(4, 6, values, 3), start, (heavy_a, heavy_b)


def test_the_search_separates_a_clashing_pair_it_starts_with():
    p, start, (a, b) = _trap()
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    s = contiguous._Search(p, spec, p.seat_xy, True, 0)
    assert b in s.clash.get(a, set())  # 0.65 + 0.42 > 1.05
    s.reset(start)
    assert s.clash_count(0) == 1
    result = contiguous.balance_search(p, spec, start, deadline=10.0, now=_counter(), seed=0, deterministic=True)
    plan = result.assign
    assert result.violation <= contiguous.EPS
    assert plan[a] != plan[b]
    load = np.bincount(plan, weights=p.measures[:, 0], minlength=3)
    assert np.all(np.abs(load - 1.0) <= 0.05 + 1e-9)
    indptr, indices = p.neighbours()
    for t in range(3):
        members = set(np.flatnonzero(plan == t).tolist())
        seen, stack = {min(members)}, [min(members)]
        while stack:
            for z in indices[indptr[stack[-1]] : indptr[stack.pop() + 1]].tolist():
                if z in members and z not in seen:
                    seen.add(z)
                    stack.append(z)
        assert seen == members


def test_moves_and_windows_never_make_a_clash():
    """A move into a territory holding the other unit of a clash costs more than any band
    it could fix; a CP-SAT window returns no territory holding both."""
    p, start, (a, b) = _trap()
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    s = contiguous._Search(p, spec, p.seat_xy, True, 0)
    apart = start.copy()
    apart[b] = 2  # the 0.42 unit in territory 2, beside territory 0
    s.reset(apart)
    dv, _ = s.delta(b, 0)
    assert dv >= contiguous.CLASH_COST - 1.0
    assert s.delta_many([b], 0) >= contiguous.CLASH_COST - 1.0
    s.reset(start)
    windows.window_solve(s, [0, 1, 2], time_limit=5.0, workers=1, deterministic=True)
    assert s.assign[a] != s.assign[b]


def _counter():
    """A deterministic clock: each call advances a thousandth of a second."""
    tick = [0.0]

    def now():
        tick[0] += 1e-3
        return tick[0]

    return now
