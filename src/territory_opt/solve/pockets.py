"""Pockets: a proof, from one corner of the map, that no contiguous plan meets the bands.

When the exact contiguity search stalls with a territory just outside its band, the
reason can be the map itself: a few large units in a corner (New York City, and Long
Island behind it) that no connected grouping brings within a band. Such a scenario has no
plan at all; saying "no plan found" would hide it, and more time would not help.

The proof looks only at a *region* R: the units of a territory that misses its band and
every unit within ``h`` steps of it (units standing alone with an oversized unit are
walls: no other territory may hold them). In any plan of the real problem, each territory
meets R in one or more connected pieces, and

* a piece with no unit on R's boundary (no neighbour outside R) is a whole territory, so
  its sum lies within the band of some seat;
* any other piece is part of a territory, so its sum is at most that seat's upper band.

Partitioning R into connected pieces under these two rules is a *relaxation* of the real
problem (every other constraint dropped: locks, skills, families, budgets, which seat
holds which piece). If CP-SAT proves it infeasible (with and without its presolve, see
:func:`~territory_opt.diagnose.confirmed_infeasible`), the scenario has no plan.

Model (CP-SAT, values in integer steps of 1/:data:`SCALE` of a mean target, rounded down;
a lower band is lowered by one step per unit of R so rounding never cuts off a plan):
each unit is a root or picks a parent among its neighbours in R (a spanning forest, one
tree per piece); ``cnt[u]`` and ``g[u,j]`` are the unit count and sums of u's subtree
(counts rise towards the root, so there is no cycle); ``b[u]`` may be 1 only when u or a
unit below it lies on R's boundary; a root picks one seat class, whose upper bands bind
its piece, and whose lower bands bind it too when ``b`` is 0.

The *elastic* version widens every band of one measure by ``σ`` of the seat's target and
minimises σ: its proved lower bound says how far the tolerance must widen for this region
(a lower bound for the whole map too).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model

from ..diagnose import Conflict, confirmed_infeasible
from ..diagnose import _solve_quick as solve_quick
from .windows import _worst_row_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from .contiguous import _Search

#: A mean target is this many integer steps.
SCALE = 1_000_000
#: Steps of the elastic widening: σ in units of 1/ELASTIC of a seat's target.
ELASTIC = 10_000
#: Largest region (units) the proof is tried on.
MAX_UNITS = 260
#: Steps around the territory that misses its band, tried in turn.
HOPS = (1, 2, 3)
#: Above this many distinct seat bands, the model uses one band enclosing them all.
MAX_CLASSES = 8
#: Largest sum of the region's values in steps (CP-SAT's integers, with room for big-M terms).
LARGEST = 2**50
#: A territory outside its band by less than this share of a target is not a pocket.
MISS = 1e-6
#: Deterministic mode: regions one call solves at most (the regions tried in vain are
#: skipped by the next call, so a search's tries still reach the others). Each region costs
#: up to two CP-SAT solves that the deterministic clock does not see: an 80-unit
#: realignment of 6 territories spent 13.9 s of its 39 s (8 s limit) in 12 calls.
DETERMINISTIC_REGIONS = 3


@dataclass(frozen=True)
class Pocket:
    """A proof that no plan exists: the region, the territory that led to it, the figures."""

    units: tuple[int, ...]
    core: tuple[int, ...]
    hops: int
    row: int
    widen: float | None  # proved least widening of the row's tolerance (share of a target)
    tolerance: float | None  # the row's tolerance today

    def conflict(self, s: _Search) -> Conflict:
        """The proof in business words (a :class:`~territory_opt.diagnose.Conflict`)."""
        p = s.p
        names = p.unit_names if p.unit_names is not None else p.unit_ids
        measure = p.measure_names[s.measure_of_row[self.row]]
        core = sorted(self.core, key=lambda u: -s.vals[u][self.row])
        shown = ", ".join(str(names[u]) for u in core[:5]) + (f" and {len(core) - 5} more" if len(core) > 5 else "")
        step = "step" if self.hops == 1 else "steps"
        msg = (
            f"no contiguous plan meets the {measure} bands: around {shown}, the {len(self.units)} units "
            f"within {self.hops} {step} cannot be cut into connected territories that each meet a band "
            "(a territory inside this area must meet its band; one reaching beyond it may hold at most "
            "its upper band). Proved by CP-SAT on this corner of the map with every other rule dropped "
            "(locks, skills, any disruption budget), so no plan exists, whatever the budget, and more time "
            "would not help"
        )
        relax_to = None
        if self.widen is not None and self.tolerance is not None and self.widen > 0:
            relax_to = self.tolerance + self.widen
            msg += (
                f"; here the {measure} tolerance would have to widen from ±{100 * self.tolerance:.1f}% to at least "
                f"±{100 * relax_to:.1f}% (on today's targets)"
            )
        msg += "; finer units there (ZIP areas, or accounts) or another number of reps may also give a plan"
        return Conflict("contiguity", msg, relax_to)


def find_pocket(
    s: _Search,
    *,
    deadline: float,
    now: Callable[[], float] = time.perf_counter,
    seed: int = 0,
    deterministic: bool = False,
    tried: set[tuple[int, ...]] | None = None,
) -> Pocket | None:
    """A proof that the search's map has no plan, from the territories of ``s.assign`` that
    miss a band (worst first, regions of 1, 2 and 3 steps), or None.

    ``tried``: the regions already tried in vain (skipped, and added to)."""
    if not s.contiguity or not s.r:
        return None
    tried = set() if tried is None else tried
    walls, beyond = _walls(s)
    order = sorted(
        (t for t in range(s.k) if not s.closed[t] and s.seat_violation(t, s.load[t]) > MISS),
        key=lambda t: -s.seat_violation(t, s.load[t]),
    )
    assign = np.asarray(s.assign)
    solved = 0
    for t in order[:3]:
        core = np.flatnonzero(assign == t).tolist()
        for hops in HOPS:
            left = deadline - now()
            if left <= 0.2 or (deterministic and solved >= DETERMINISTIC_REGIONS):
                return None
            region = _region(s, core, hops, walls | beyond)
            if region is None:
                break
            key = tuple(region)
            if key in tried:
                continue
            tried.add(key)
            limit = min(5.0, max(0.5, left / 4))
            try:
                model = _Model(s, region, walls, widen_row=None)
            except OverflowError:
                continue
            solved += 1
            # the confirmation without presolve may take most of the time left
            confirm = max(limit, 0.8 * left - limit)
            if not confirmed_infeasible(model.model, limit, seed, deterministic=deterministic, confirm_limit=confirm):
                continue
            row = _worst_row_of(s, t)
            widen, tolerance = _widening(
                s, region, walls, row, min(limit, max(0.5, deadline - now())), seed, deterministic
            )
            return Pocket(tuple(region), tuple(core), hops, row, widen, tolerance)
    return None


def _walls(s: _Search) -> tuple[set[int], set[int]]:
    """Units no open territory may hold (walls: those locked to a seat standing alone while
    locks are kept; with locks off, only those above every open seat's upper band), and the
    other units locked to such a seat (locks off): they may stay with it or leave, so they
    are left out of every region and count as beyond it."""
    lock = s.p.lock
    held = [u for u in np.flatnonzero(lock >= 0).tolist() if s.closed[int(lock[u])]]
    if not held:
        return set(), set()
    open_ = [t for t in range(s.k) if not s.closed[t]]
    tops = [max((s.hi_l[t][j] for t in open_), default=np.inf) for j in range(s.r)]
    walls = {u for u in held if s.locked_l[u] or any(s.vals[u][j] > tops[j] for j in range(s.r))}
    return walls, set(held) - walls


def _region(s: _Search, core: list[int], hops: int, walls: set[int]) -> list[int] | None:
    """``core`` and every unit within ``hops`` steps (``walls``, and any other unit given
    there, left out), or None when larger than :data:`MAX_UNITS`."""
    seen = {u: 0 for u in core if u not in walls}
    queue = deque(seen)
    while queue:
        u = queue.popleft()
        if seen[u] >= hops:
            continue
        for z in s.nbrs[u]:
            if z not in seen and z not in walls:
                seen[z] = seen[u] + 1
                if len(seen) > MAX_UNITS:
                    return None
                queue.append(z)
    return sorted(seen)


class _Model:
    """The relaxation of one region (see the module docstring), in linear constraints only
    (big-M, no enforcement literals): CP-SAT then proves a pocket as fast without its
    presolve as with it (a pocket of 26 US counties: 0.2 s both ways, against 16 s
    without presolve for the same model with enforcement literals)."""

    def __init__(self, s: _Search, region: list[int], walls: set[int], widen_row: int | None) -> None:
        self.model = m = cp_model.CpModel()
        inside = set(region)
        n, r = len(region), s.r
        # seat classes: the distinct bands of the open seats, and how many seats have each
        classes: dict[tuple[float, ...], int] = {}
        for t in range(s.k):
            if not s.closed[t]:
                key = (*s.lo_l[t], *s.hi_l[t])
                classes[key] = classes.get(key, 0) + 1
        # each class's target per row (the middle of its band): a step of the widening
        mids = {key: [(key[j] + key[r + j]) / 2 for j in range(r)] for key in classes}
        if len(classes) > MAX_CLASSES:
            # many different bands (reps of many FTEs): one envelope holding them all (a
            # weaker relaxation, still valid); its widening steps by the largest target, so
            # the widening it proves is one every seat's band needs at least
            los = np.min([key[:r] for key in classes], axis=0)
            his = np.max([key[r:] for key in classes], axis=0)
            top = np.max([mids[key] for key in classes], axis=0)
            classes = {(*los.tolist(), *his.tolist()): sum(classes.values())}
            mids = {key: top.tolist() for key in classes}
        scale = [SCALE / s.norm_l[0][j] for j in range(r)]
        # each value one step below its floor: a float product just below an integer can
        # round up to it, so floor alone could overstate a value (and cut off a plan on the
        # upper band); every scaled value is then below the true one, by less than 2 steps
        # (values are never negative: the problem's validation refuses them)
        vals = {u: [max(0, int(np.floor(s.vals[u][j] * scale[j])) - 1) for j in range(r)] for u in region}
        if sum(abs(v) for u in region for v in vals[u]) > LARGEST:
            raise OverflowError("the region's sums do not fit CP-SAT's integers")
        self.sigma = m.new_int_var(0, ELASTIC, "") if widen_row is not None else None
        # per class and row: the band in steps, and a step of the widening (0: none)
        lows: dict[tuple[float, ...], list[int | None]] = {}
        highs: dict[tuple[float, ...], list[int | None]] = {}
        widen: dict[tuple[float, ...], list[int]] = {}
        for key in classes:
            los, his = key[:r], key[r:]
            # the lower band lowered by 2 steps per unit and one for its own rounding, the
            # upper raised by one for its own rounding (a plan exactly on it stays in)
            lows[key] = [int(np.ceil(los[j] * scale[j])) - 2 * n - 1 if np.isfinite(los[j]) else None for j in range(r)]
            highs[key] = [int(np.floor(his[j] * scale[j])) + 1 if np.isfinite(his[j]) else None for j in range(r)]
            widen[key] = [
                int(np.ceil(mids[key][j] * scale[j] / ELASTIC))
                if self.sigma is not None and j == widen_row and np.isfinite(los[j]) and np.isfinite(his[j])
                else 0
                for j in range(r)
            ]
        # the sums' domains: no value is negative, so a subtree holds at most its piece, so
        # at most the largest upper band (widened to the full)
        cap = [sum(vals[u][j] for u in region) for j in range(r)]
        for j in range(r):
            tops = [(highs[key][j], widen[key][j]) for key in classes]
            if all(top is not None for top, _ in tops):
                cap[j] = min(cap[j], max(int(top or 0) + step * ELASTIC for top, step in tops))
        boundary = {u for u in region if any(z not in inside and z not in walls for z in s.nbrs[u])}
        # counts make the forest acyclic when no row is positive on every unit
        positive = any(all(vals[u][j] > 0 for u in region) for j in range(r))
        root = {u: m.new_bool_var("") for u in region}
        g = {(u, j): m.new_int_var(0, cap[j], "") for u in region for j in range(r)}
        cnt = {u: m.new_int_var(1, n, "") for u in region} if not positive else {}
        b = {u: m.new_bool_var("") for u in region}
        below: dict[tuple[int, int], list[cp_model.IntVar]] = {(u, j): [] for u in region for j in range(r + 1)}
        below_b: dict[int, list[cp_model.IntVar]] = {u: [] for u in region}
        for u in region:
            parents = []
            for v in s.nbrs[u]:
                if v not in inside:
                    continue
                p = m.new_bool_var("")  # v is u's parent: u's subtree feeds v's
                parents.append(p)
                sums = [(g[u, j], cap[j], j) for j in range(r)]
                if cnt:
                    sums.append((cnt[u], n, r))
                for var, top, j in sums:
                    h = m.new_int_var(0, top, "")
                    # h = var when p, else 0 (big-M on the domain [0, top] of var)
                    m.add(h <= top * p)
                    m.add(h <= var)
                    m.add(h >= var - top * (1 - p))
                    below[v, j].append(h)
                hb = m.new_bool_var("")
                m.add(hb <= p)
                m.add(hb <= b[u])
                below_b[v].append(hb)
            m.add(root[u] + sum(parents) == 1)
        for u in region:
            for j in range(r):
                m.add(g[u, j] == vals[u][j] + sum(below[u, j]))
            if cnt:
                m.add(cnt[u] == 1 + sum(below[u, r]))
            if u not in boundary:
                m.add(b[u] <= sum(below_b[u]))
        # the classes: a root picks one; its upper bands always bind, its lower bands when
        # the piece stays inside the region (b = 0)
        wholes: dict[tuple[float, ...], list[cp_model.IntVar]] = {key: [] for key in classes}
        for u in region:
            chosen = []
            for key in classes:
                c = m.new_bool_var("")
                chosen.append(c)
                whole = m.new_bool_var("")  # a whole territory of this class
                m.add(whole >= c - b[u])
                wholes[key].append(whole)
                for j in range(r):
                    step = widen[key][j]
                    stretch = step * self.sigma if step and self.sigma is not None else 0
                    top, floor_ = highs[key][j], lows[key][j]
                    if top is not None and top < cap[j]:
                        m.add(g[u, j] - stretch <= top + (cap[j] - top) * (1 - c))
                    if floor_ is not None and floor_ > 0:
                        m.add(g[u, j] + stretch >= floor_ * (c - b[u]))
            m.add(sum(chosen) == root[u])
        for key, members in wholes.items():
            m.add(sum(members) <= classes[key])  # whole territories of a class: one seat each
        if self.sigma is not None:
            m.minimize(self.sigma)


def _widening(
    s: _Search, region: list[int], walls: set[int], row: int, limit: float, seed: int, deterministic: bool
) -> tuple[float | None, float | None]:
    """The proved least widening of ``row``'s tolerance for the region (CP-SAT's bound on
    the elastic model, one step below it for the rounding), and the row's tolerance."""
    tolerance = None
    for t in range(s.k):
        lo, hi = s.lo_l[t][row], s.hi_l[t][row]
        if not s.closed[t] and np.isfinite(lo) and np.isfinite(hi) and hi + lo > 0:
            tolerance = (hi - lo) / (hi + lo)
            break
    if tolerance is None:
        return None, None
    try:
        model = _Model(s, region, walls, widen_row=row)
    except OverflowError:
        return None, tolerance
    solver, status = solve_quick(model.model, limit, seed, deterministic=deterministic)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, tolerance
    steps = int(np.floor(solver.best_objective_bound + 1e-9)) - 1
    return (max(0, steps) / ELASTIC, tolerance)
