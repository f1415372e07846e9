"""Clashes: two units whose values together exceed every seat's band can never share a
territory. The exact contiguity search does not put them together and separates them first
where its start does (the trap of roster 2 on the US counties at 50 territories: Maricopa,
La Paz and Riverside in one territory, 0.9 % above its band, that no move or re-cut left
in two minutes; that case is too large for a unit test and is measured in the bench)."""

import importlib
import itertools

import numpy as np
import pytest

from territory_opt import Problem
from territory_opt.model.formulation import BalanceRule, ModelSpec

from .test_pockets import grid

contiguous = importlib.import_module("territory_opt.solve.contiguous")
windows = importlib.import_module("territory_opt.solve.windows")


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


def _pair_together():
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


def _connected(p, plan, t):
    indptr, indices = p.neighbours()
    members = set(np.flatnonzero(plan == t).tolist())
    seen, stack = {min(members)}, [min(members)]
    while stack:
        u = stack.pop()
        for z in indices[indptr[u] : indptr[u + 1]].tolist():
            if z in members and z not in seen:
                seen.add(z)
                stack.append(z)
    return seen == members


#: A 5 x 7 grid, five territories of target 1.0 (±5 %): units 2 and 3 (0.543 and 0.555,
#: together 1.098) start in one territory, 0.05 above its band. Found by a search over 400
#: random grids for a start the search without clashes did not leave (one, at full precision;
#: rounded to these six decimals it leaves it too, so small grids do not guard the trap: the
#: US roster that showed it is measured in the bench, see bench/COMMENTARY.md). Here every
#: seed must part the pair and find a plan.
TRAP_VALUES = [
    0.112235, 0.087014, 0.543204, 0.55482, 0.126467, 0.144353, 0.080733, 0.154971, 0.161317,
    0.159183, 0.155933, 0.15466, 0.068186, 0.104904, 0.129072, 0.122902, 0.063227, 0.111901,
    0.13498, 0.096451, 0.129924, 0.093797, 0.092719, 0.141822, 0.081087, 0.059155, 0.126982,
    0.133123, 0.149471, 0.159782, 0.135283, 0.092422, 0.116807, 0.136778, 0.084337,
]  # fmt: skip
TRAP_START = [0, 0, 1, 1, 2, 3, 4] + [0, 0, 1, 2, 2, 3, 4] * 4


@pytest.mark.parametrize("seed", range(4))
def test_the_search_leaves_a_territory_holding_a_clashing_pair(seed):
    p = grid(5, 7, TRAP_VALUES, 5)
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    start = np.asarray(TRAP_START)
    assert start[2] == start[3]
    result = contiguous.balance_search(p, spec, start, deadline=20.0, now=_counter(), seed=seed, deterministic=True)
    plan = result.assign
    assert result.violation <= contiguous.EPS
    assert plan[2] != plan[3]
    load = np.bincount(plan, weights=p.measures[:, 0], minlength=5)
    assert np.all(np.abs(load - 1.0) <= 0.05 + 1e-9)
    assert all(_connected(p, plan, t) for t in range(5))


def test_the_search_separates_a_clashing_pair_it_starts_with():
    p, start, (a, b) = _pair_together()
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    s = contiguous._Search(p, spec, p.seat_xy, True, 0)
    assert b in s.clash.get(a, set())  # 0.65 + 0.42 > 1.05
    s.reset(start)
    assert s.clash_count(0) == 1
    result = contiguous.balance_search(p, spec, start, deadline=10.0, now=_counter(), seed=0, deterministic=True)
    assert result.violation <= contiguous.EPS
    assert result.assign[a] != result.assign[b]
    assert all(_connected(p, result.assign, t) for t in range(3))


def _path_without_plan():
    """Two units of 0.53 and ten of 0.094 on a path, two territories of ±5 %: no plan (the
    two heavy units clash; apart, each needs five light units beside it and only one side
    has them). The closest plan holds both heavy units (0.02 of a target outside)."""
    values = np.array([0.53, 0.53] + [0.094] * 10)
    n = len(values)
    p = Problem.from_arrays(
        measures=values[:, None],
        measure_names=["potential"],
        unit_xy=[[float(i), 0.0] for i in range(n)],
        seat_xy=[[0.0, 0.0], [float(n - 1), 0.0]],
        edges=[[i, i + 1] for i in range(n - 1)],
    )
    return p, ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)


def test_moves_and_windows_never_join_a_clashing_pair():
    """A move into a territory holding the other unit of a clash costs more than any band
    it could fix; a CP-SAT window does not join a pair that starts apart, even where that
    is the window's least violation (the map below has no plan)."""
    p, start, (_, b) = _pair_together()
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    s = contiguous._Search(p, spec, p.seat_xy, True, 0)
    apart = start.copy()
    apart[b] = 2  # the 0.42 unit in territory 2, beside territory 0
    s.reset(apart)
    dv, _ = s.delta(b, 0)
    assert dv >= contiguous.CLASH_COST - 1.0
    assert s.delta_many([b], 0) >= contiguous.CLASH_COST - 1.0
    # a swap that brings it back costs the same
    assert s.clash_cost([b], 0, leaving=8) == contiguous.CLASH_COST
    path, path_spec = _path_without_plan()
    s = contiguous._Search(path, path_spec, path.seat_xy, True, 0)
    s.reset(np.array([0] + [1] * 11))
    windows.window_solve(s, [0, 1], time_limit=5.0, workers=1, deterministic=True)
    assert s.assign[0] != s.assign[1]


def test_a_window_still_fixes_what_it_can_around_a_pair_it_cannot_part():
    """Two clashing units both locked to seat 0 (no plan exists): the window cannot part
    them, so it must not be made infeasible by the clash rule; it still balances the rest."""
    values = np.full(24, 0.0)
    values[7], values[8], values[9] = 0.6, 0.03, 0.6
    light = [u for u in range(24) if u not in (7, 8, 9)]
    values[light] = (3.0 - values.sum()) / len(light)
    base = grid(4, 6, values, 3)
    lock = np.full(24, -1)
    lock[[7, 9]] = 0
    p = Problem.from_arrays(
        measures=base.measures, measure_names=["potential"], unit_xy=base.unit_xy,
        seat_xy=base.seat_xy, edges=base.edges, lock=lock,
    )  # fmt: skip
    spec = ModelSpec(balance=(BalanceRule(0, 0.05, True),), contiguity=True)
    s = contiguous._Search(p, spec, p.seat_xy, True, 0)
    assert 9 in s.clash[7]
    s.reset(np.array([1] * 6 + [1, 0, 0, 0, 0, 2] + [1] * 4 + [2] * 2 + [1] * 4 + [2] * 2))
    before = s.violation()
    assert windows.window_solve(s, [0, 1, 2], time_limit=5.0, workers=1, deterministic=True)
    assert s.violation() < before - 0.5


def test_the_closest_plan_on_a_map_without_one_may_hold_a_clash():
    """Where no plan exists, the answer's closest plan is the closest, clash or not."""
    p, spec = _path_without_plan()
    result = contiguous.balance_search(
        p, spec, np.array([0] + [1] * 11), deadline=5.0, now=_counter(), seed=0, deterministic=True
    )
    assert result.violation == pytest.approx(0.02, abs=1e-6)


def _counter():
    """A deterministic clock: each call advances a thousandth of a second."""
    tick = [0.0]

    def now():
        tick[0] += 1e-3
        return tick[0]

    return now
