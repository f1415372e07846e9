"""Exact contiguity search: balanced, connected territories on the real adjacency.

The CP-SAT model imposes contiguity by a *sufficient* condition built around a start plan
(every unit needs a neighbour strictly closer to its territory's root) and prunes each
unit to its nearest seats. Both are restrictions: a scenario can have plans that the
restricted model cannot express. This module searches the real problem instead:

* **Moves** send one unit across a territory boundary. A move is legal when the unit is
  not locked, may legally go to the receiving seat (skills, exclusions), the receiving
  territory touches it (so the receiver stays connected) and the giving territory stays
  connected without it (checked by a search inside that territory). Every seat is
  eligible, not only the nearest ones.
* **Violation** ``V`` sums, in shares of each seat's target, how far every hard balance
  band and capacity cap is missed, plus how far the disruption budget (total and per
  rep) is exceeded. ``V = 0`` means every hard rule of the scenario holds.
* **Transfers**: when single moves stall (the neighbours of an overloaded territory are
  full too), the loads that must shift are planned as a min-cost flow of the most
  violated measure between *adjacent* territories (an LP, GLOP: least value moved, every
  band respected), and realised by boundary moves along the planned arcs, through
  intermediate territories where the flow passes through them.
* **Descent**: boundary moves that lower ``V`` (ties broken by the squared deviation from
  target, then by travel) are taken in random order; a short tabu list stops a unit from
  moving straight back.
* **Recombination** (as GerryChain's ReCom): a territory that misses a band is merged with
  one or two neighbours, random spanning trees of the merged piece are drawn and cut where
  every part meets its band (each part is connected by construction); **swaps** across a
  border do the last fraction of a percent that single moves overshoot.
* **Clashes**: two units whose values together exceed every seat's band (Maricopa and
  Riverside at 50 territories) can never share a territory, so the search's moves,
  swaps, re-cuts and windows do not put them together, and its moves separate them first
  where the start does (a territory holding both is a trap no single move or small re-cut
  leaves: its units cannot shrink below the band). A rule of the real problem, not a
  restriction. (Corridor strips and return chains move units without this cost; the
  search then pays to part what they join.)
* **Budget**: under a disruption budget, value moved away from its owner costs the search
  a convex price: :data:`ECONOMY_LOW` of a target per target moved while the budget has
  room, :data:`ECONOMY` once the value moved passes :data:`ECONOMY_KNEE` of it. Moves that
  balance by passing load along a chain of territories stay affordable, and the budget's
  last fifth is spent only on balance.
* :func:`improve_travel` re-cuts adjacent pairs of a valid plan for the least travel that
  keeps every band and the budget.

The result is a plan, not a proof: when ``V`` does not reach 0 the caller reports "no plan
found" with what was tried, never "infeasible" (only :mod:`.bounds` and the arithmetic
pre-checks prove infeasibility for the planner's real problem).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..diagnose import Conflict
from ..evaluate import territory_pieces
from ..model.formulation import ModelSpec
from ..model.heuristics import stays_connected
from ..problem import Problem
from .band import BAND_NEAR, BAND_TRY, band_polish
from .bounds import least_transfers
from .pockets import find_pocket
from .returns import return_chains
from .windows import grow_window, window_solve

#: Deterministic mode: CP-SAT deterministic seconds for all windows of one search, and
#: at most this many windows (its other steps are bounded by counts too).
WINDOW_BUDGET = 1.0
WINDOW_COUNT = 3
#: A violation at or below this counts as zero (shares of a target).
EPS = 1e-9
#: Under a disruption budget, every unit of value moved away from its owner costs this
#: share of a target in the search's objective (below 1: fixing an imbalance still pays,
#: but moves that only smooth loads, or re-cuts that reshuffle, do not spend the budget).
ECONOMY = 0.3
#: ... and while the value moved stays below :data:`ECONOMY_KNEE` of the budget, only this
#: share (the price is convex: cheap while the budget has room, dear as it fills).
ECONOMY_LOW = 0.1
ECONOMY_KNEE = 0.8
#: Violations (shares of a target) closer than this count as equal when a relink's
#: recombination picks the cut that moves least.
VIOLATION_STEP = 0.01
#: Wall seconds a CP-SAT window of :func:`reduce_movement` gets at most. Most of what the
#: reduction gains comes from returns, chains and re-cuts, a round of them in under two
#: seconds; on the US realignment (2026-11-29, three balanced plans at 23.2-28.9 % moved, 15 %
#: budget) windows of 1.5 s reached 14.7-14.9 % in 10-32 s, windows of 5 s 14.6-17.3 % in 37-45 s.
REDUCE_WINDOW = 1.5
#: Share of a realignment search's time its corridor start may use (see .corridors).
CORRIDOR_SHARE = 0.25
#: Share of a realignment search's time (after its corridor start) that the search with
#: the budget priced in gets before the relink (:func:`_relink`). Its plan changes little
#: after that (US realignment at 15 %: 0.10-0.16 of a target outside the bands, 13.6-14.8 %
#: moved at 38 s; 0.14-0.16 and 14.6-14.9 % at 27 s), while the relink needs the time: with
#: 0.35, 2 plans in 8 runs of the solve (120 s, 2026-11-29); with 0.2, 4 in 7.
PRICED_SHARE = 0.2
#: Above this many units the search with the budget priced in runs without CP-SAT windows:
#: on the US counties (3,108) its windows took 10 of its 10 s and lowered the violation by
#: a tenth. Measured from today's plans of five rosters at 15 % and 25 % (2026-11-29, 20 s
#: each, one seed), with the convex price (ECONOMY_LOW): without windows 3 plans of 10 and
#: the rest 0.003-0.57 of a target outside; with them no plan, 0.004-0.99; the earlier
#: price with windows (the code before): no plan, 0.037-0.73.
PRICED_WINDOWS_UNITS = 1_000
#: Balancing tries of one relink at most (wall-clock mode: the whole map again from
#: another seed while time is left).
RELINK_TRIES = 6
#: Wall-clock mode: each reduction of a relinked plan (:func:`reduce_movement`) gets at
#: most this many seconds, and a balanced plan at most this many reductions (other seeds),
#: before the relink balances again from another seed. Where the way back ends depends on
#: its first choices far more than on its time: on the US realignment at 15 % (2026-11-29),
#: one balanced plan (20.8 % moved) reached 13.7-14.6 % in 10-19 s from five seeds of eight
#: and stalled at 16.1-16.6 % from three (15-30 s each); a stalled reduction restarted from
#: where it stopped gained 0.03-0.2 points.
REDUCE_TRY = 15.0
REDUCE_RESTARTS = 2
#: ... scaled down with the map below :data:`REDUCE_TRY_UNITS` units (the US counties), to
#: :data:`REDUCE_TRY_MIN` at least: on Georgia's counties (the realignment demo, 159 units,
#: 2026-12-02) a reduction that had not kept the budget after 2 s was stuck, and one try of
#: the 11 s left stalled where another seed would have found a plan.
REDUCE_TRY_UNITS = 3_100
REDUCE_TRY_MIN = 2.0
#: ... or this share of the time left when that is longer (a large map's reduction needs more).
REDUCE_SHARE = 0.25
#: Rounds without progress, with a territory still outside its band, before the search
#: asks whether the map has a plan at all (:mod:`.pockets`: a corner of the map that no
#: connected grouping balances; roster 9 on the US counties, ±5 %: Queens with Long Island
#: behind it, proved in 0.05 s after 55 s of search).
POCKET_STALL = 2
#: Seconds the pocket proofs of one search may take in all (each at most a third of the
#: search's time left). A region whose relaxation has a plan answers in milliseconds; a
#: proof needs more, mostly for its confirmation without presolve (a pocket of 26 US
#: counties in 200 territories: 0.07 s with presolve, 16 s without).
POCKET_TIME = 20.0
#: Deterministic mode: pocket proofs one search may try (its clock stands still, so the
#: seconds above never run out: a 6-seat realignment of 80 units tried 18, 17.7 s of an
#: 8 s limit).
POCKET_TRIES = 3
#: Cost, in shares of a target, that the search's moves and re-cuts charge for each pair of
#: clashing units (:func:`_clashes`) held by one territory: above any band a move of one
#: unit can fix, so a clash is broken up first and never made.
CLASH_COST = 10.0
#: Units per measure considered for clashes at most (the heaviest).
CLASH_UNITS = 400


@dataclass(frozen=True)
class SearchResult:
    """What the exact contiguity search returns.

    Attributes
    ----------
    assign : ndarray of int
        Seat of each unit.
    violation : float
        Remaining violation of the hard rules, in shares of a target (0: a valid plan).
    moves : int
        Boundary moves made.
    rounds : int
        Rounds of the search (a pass of recombinations, swaps or a transfer plan each).
    recombinations : int
        Spanning-tree recombinations of adjacent territories that improved the plan.
    detached : tuple of str
        Seats whose start territory was not connected (pieces were handed to neighbours).
    windows : int
        CP-SAT windows (a few adjacent territories re-cut with exact contiguity) that
        improved the plan.
    balanced : ndarray of int, optional
        Under a disruption budget the search could not keep: the plan found that meets
        every band and cap and moves least (it breaks the budget alone).
    balanced_moved : float, optional
        Share of today's booked value that ``balanced`` moves.
    moved_bound : float, optional
        A proved least share that any plan must move (the exact model's bound), when the
        search that made this result has one.
    label : str
        What made this result (for "what was tried").
    """

    assign: NDArray[np.int64]
    violation: float
    moves: int
    rounds: int
    recombinations: int = 0
    detached: tuple[str, ...] = ()
    windows: int = 0
    balanced: NDArray[np.int64] | None = None
    balanced_moved: float | None = None
    moved_bound: float | None = None
    label: str = "the exact contiguity search"
    corridors: int = 0
    #: share of the booked value the corridor start's plan moves (an estimate, not a bound)
    corridor_plan: float | None = None
    #: a proof that no plan exists (:mod:`.pockets`): the search stopped there
    pocket: Conflict | None = None

    def merged(self, other: SearchResult) -> SearchResult:
        """Two runs of the exact search as one: the closer plan (a pocket proof of either
        wins); without a plan, the balanced plan of either that moves least (a plan makes it
        moot); the larger proved floor, the lower corridor estimate, and the counts of both."""
        pocket = other if other.pocket is not None else self if self.pocket is not None else None
        keep = pocket or (other if other.violation < self.violation else self)
        least = None
        if keep.violation > EPS:
            least = min(
                (r for r in (self, other) if r.balanced is not None and r.balanced_moved is not None),
                key=lambda r: r.balanced_moved or 0.0,
                default=None,
            )
        floors = [r.moved_bound for r in (self, other) if r.moved_bound is not None]
        plans = [r.corridor_plan for r in (self, other) if r.corridor_plan is not None]
        return replace(
            keep,
            balanced=None if least is None else least.balanced,
            balanced_moved=None if least is None else least.balanced_moved,
            moved_bound=max(floors) if floors else None,
            corridor_plan=min(plans) if plans else None,
            moves=self.moves + other.moves,
            rounds=self.rounds + other.rounds,
            recombinations=self.recombinations + other.recombinations,
            windows=self.windows + other.windows,
            corridors=self.corridors + other.corridors,
        )


class _Search:
    """Mutable search state (owned by one call of :func:`balance_search`)."""

    def __init__(
        self, problem: Problem, spec: ModelSpec, pos: NDArray[np.float64], contiguity: bool, seed: int
    ) -> None:
        self.p = problem
        n, k = problem.n_units, problem.n_seats
        self.n, self.k = n, k
        self.contiguity = contiguity
        self.rng = np.random.default_rng(seed)
        exempt = spec.exempt if spec.exempt is not None else np.zeros(k, dtype=bool)
        self.exempt = exempt
        cols, lo, hi, norm, names = _rows(problem, spec, exempt)
        self.r = len(cols)
        self.values = np.column_stack(cols) if cols else np.zeros((n, 0))
        self.lo = np.column_stack(lo) if lo else np.zeros((k, 0))
        self.hi = np.column_stack(hi) if hi else np.zeros((k, 0))
        self.norm = np.column_stack(norm) if norm else np.ones((k, 0))
        self.measure_of_row = names
        self.mid = np.where(
            np.isfinite(self.lo) & np.isfinite(self.hi),
            (np.where(np.isfinite(self.lo), self.lo, 0) + np.where(np.isfinite(self.hi), self.hi, 0)) / 2,
            np.nan,
        )
        # python lists: per-move arithmetic on a few floats is faster than numpy calls
        self.vals = self.values.tolist()
        self.lo_l = self.lo.tolist()
        self.hi_l = self.hi.tolist()
        self.norm_l = self.norm.tolist()
        self.mid_l = self.mid.tolist()
        # disruption
        self.owner = problem.owner.tolist()
        value = spec.disruption_value
        self.dvalue = value.tolist() if value is not None else [0.0] * n
        self.budget = spec.disruption_max if (value is not None and spec.disruption_max is not None) else None
        self.rep_limit: list[float] | None = None
        if value is not None and spec.disruption_rep_limit is not None:
            self.rep_limit = spec.disruption_rep_limit.tolist()
        elif value is not None and spec.disruption_per_rep is not None:
            has = problem.owner >= 0
            book = np.bincount(problem.owner[has], weights=value[has], minlength=k)
            self.rep_limit = (spec.disruption_per_rep * book).tolist()
        has = problem.owner >= 0
        #: today's owners count (a disruption value and a current alignment): cuts that
        #: keep them are preferred even while no budget binds
        self.owners_matter = value is not None and bool(has.any())
        self.dnorm = (
            max(float(value[has].sum()) / max(int((~exempt).sum()), 1), 1e-12)
            if value is not None and has.any()
            else 1.0
        )
        # eligibility
        self.locked = (problem.lock >= 0) if spec.locks else np.zeros(n, dtype=bool)
        self.locked_l = self.locked.tolist()
        self.uskill = problem.unit_skills.tolist()
        self.sskill = problem.seat_skills.tolist()
        self.excluded = {(int(a), int(b)) for a, b in problem.exclusions} if len(problem.exclusions) else set()
        self.illegal = 0  # units on a seat they may not take (see reset)
        family = problem.family if spec.families else np.full(n, -1)
        self.in_family = (family >= 0).tolist()
        #: the families the search moves whole (no member locked): id -> members. Their
        #: units never move one by one (``eligible`` is False for them), only together.
        self.families: dict[int, list[int]] = {}
        for u in np.flatnonzero(family >= 0).tolist():
            self.families.setdefault(int(family[u]), []).append(u)
        for f in [f for f, members in self.families.items() if any(self.locked_l[u] for u in members)]:
            del self.families[f]
        self.closed = exempt.tolist()  # no unit joins a seat standing alone (its cut-offs are locked to it)
        # graph
        indptr, indices = problem.neighbours()
        self.nbrs = [indices[indptr[u] : indptr[u + 1]].tolist() for u in range(n)]
        # travel
        weight = spec.travel_weight if spec.travel_weight is not None else np.ones(n)
        self.weight = weight.tolist()
        self.uxy = problem.unit_xy
        self.pos = pos
        self.wnorm = max(float(weight.sum()), 1e-12)
        self.assign: list[int] = []
        self.load: list[list[float]] = []
        self.size: list[int] = []
        self.moved = 0.0
        self.out_moved = [0.0] * k
        self.tabu: dict[int, int] = {}
        self.clock = 0
        self.economy = ECONOMY
        self.failed_windows: dict[tuple[int, ...], int] = {}
        #: what the windows of one search may still use in deterministic mode: CP-SAT
        #: deterministic seconds and windows (see WINDOW_BUDGET)
        self.window_budget = WINDOW_BUDGET
        self.window_count = WINDOW_COUNT
        self.anchor = [-1] * k
        #: a proof that the map has no plan (:mod:`.pockets`), and the regions tried in vain
        self.pocket: Conflict | None = None
        self.pocket_tried: set[tuple[int, ...]] = set()
        self.pocket_time = POCKET_TIME
        #: pairs of units that no seat's band can hold together (see _clashes), and the
        #: clashing units each territory holds
        self.clash = _clashes(self, problem)
        self.lumps: list[set[int]] = [set() for _ in range(k)]

    # -- state ---------------------------------------------------------------------------
    def reset(self, assign: NDArray[np.int64]) -> None:
        self.assign = [int(a) for a in assign]
        load = np.zeros((self.k, self.r))
        for j in range(self.r):
            load[:, j] = np.bincount(assign, weights=self.values[:, j], minlength=self.k)
        self.load = load.tolist()
        self.size = np.bincount(assign, minlength=self.k).tolist()
        self.lumps = [set() for _ in range(self.k)]
        for u in self.clash:
            self.lumps[self.assign[u]].add(u)
        self.moved = 0.0
        self.out_moved = [0.0] * self.k
        # units on a seat they may not take (today's owner lacking a required skill, or
        # excluded): each counts a whole target in the violation until it leaves
        self.illegal = sum(not self.legal(u, a) for u, a in enumerate(self.assign) if a >= 0)
        for u, a in enumerate(self.assign):
            o = self.owner[u]
            if o >= 0 and a != o:
                self.moved += self.dvalue[u]
                self.out_moved[o] += self.dvalue[u]

    def eligible(self, u: int, t: int) -> bool:
        if self.closed[t] or self.locked_l[u] or self.in_family[u]:
            return False
        return self.legal(u, t)

    def family_takes(self, members: list[int], t: int) -> bool:
        """Whether a family (``members``) may move whole to seat ``t``."""
        return not self.closed[t] and all(self.legal(u, t) for u in members)

    def held_anchor(self, t: int) -> int:
        """Seat t's anchor while it is on t (a window or a re-cut may have moved it), else -1."""
        anchor = self.anchor[t]
        return anchor if anchor >= 0 and self.assign[anchor] == t else -1

    def family_move_keeps(self, members: list[int], b: int) -> bool:
        """Whether moving the whole family (``members``, all on one seat) to ``b`` leaves
        its seat non-empty, with its anchor, and (with contiguity) both territories in one
        piece."""
        a = self.assign[members[0]]
        if self.size[a] <= len(members) or self.anchor[a] in members:
            return False
        if not self.contiguity:
            return True
        going = set(members)
        anchor = self.held_anchor(a)  # an anchor re-cuts moved away is no start
        rest = (
            anchor
            if anchor >= 0
            else next((z for m in members for z in self.nbrs[m] if self.assign[z] == a and z not in going), -1)
        )
        if rest < 0:
            return False  # nothing of its territory touches the family: in pieces already
        if _reach_count(self.nbrs, rest, lambda z: self.assign[z] == a and z not in going) != self.size[a] - len(
            members
        ):
            return False
        return _reach_count(self.nbrs, members[0], lambda z: self.assign[z] == b or z in going) == self.size[b] + len(
            members
        )

    def legal(self, u: int, t: int) -> bool:
        """Whether unit ``u`` may sit on seat ``t`` at all (skills, exclusions)."""
        if self.uskill[u] & ~self.sskill[t]:
            return False
        return not (self.excluded and (u, t) in self.excluded)

    def clash_cost(self, units: list[int], b: int, leaving: int = -1) -> float:
        """Change of the clash cost if ``units`` (all in one territory) move to b (and
        ``leaving``, a unit of b, leaves it at once: a swap)."""
        if not self.clash:
            return 0.0
        a = self.assign[units[0]]
        here = self.lumps[b]
        there = self.lumps[a]
        moving = set(units)
        cost = 0
        for u in units:
            c = self.clash.get(u)
            if c is None:
                continue
            cost += len(c & here) - (leaving in c) - len(c & (there - moving))
        if leaving >= 0 and leaving in self.clash:
            cost += len(self.clash[leaving] & (there - moving)) - len(self.clash[leaving] & (here - {leaving}))
        return CLASH_COST * cost

    def clash_count(self, t: int) -> int:
        """Clashing pairs territory t holds."""
        held = self.lumps[t]
        return sum(len(self.clash[u] & held) for u in held) // 2 if len(held) > 1 else 0

    def seat_violation(self, t: int, load: list[float]) -> float:
        v = 0.0
        lo, hi, norm = self.lo_l[t], self.hi_l[t], self.norm_l[t]
        for j in range(self.r):
            x = load[j]
            if x > hi[j]:
                v += (x - hi[j]) / norm[j]
            elif x < lo[j]:
                v += (lo[j] - x) / norm[j]
        return v

    def smooth(self, t: int, load: list[float]) -> float:
        s = 0.0
        mid, norm = self.mid_l[t], self.norm_l[t]
        for j in range(self.r):
            m = mid[j]
            if m == m:  # not NaN
                d = (load[j] - m) / norm[j]
                s += d * d
        return s

    def budget_violation(self, moved: float, out_moved: list[float] | None = None) -> float:
        v = 0.0
        if self.budget is not None and moved > self.budget:
            v += (moved - self.budget) / self.dnorm
        if self.rep_limit is not None:
            om = self.out_moved if out_moved is None else out_moved
            for t in range(self.k):
                if om[t] > self.rep_limit[t] + 1e-9:
                    v += (om[t] - self.rep_limit[t]) / self.dnorm
        return v

    def violation(self) -> float:
        return (
            sum(self.seat_violation(t, self.load[t]) for t in range(self.k))
            + self.budget_violation(self.moved)
            + float(self.illegal)
        )

    def price(self, moved: float) -> float:
        """The search's price, in targets, of ``moved`` value away from today's owners
        under a budget: :data:`ECONOMY_LOW` per target up to :data:`ECONOMY_KNEE` of the
        budget, ``economy`` beyond it (without a budget, ``economy`` throughout)."""
        return self._price(moved, max)

    def price_of(self, moved: NDArray[np.float64]) -> NDArray[np.float64]:
        """:meth:`price` of each value in ``moved``."""
        return self._price(moved, np.maximum)

    def _price(self, moved: Any, maximum: Callable[[Any, float], Any]) -> Any:
        if self.budget is None:
            return self.economy * moved / self.dnorm
        low = min(self.economy, ECONOMY_LOW)
        return (low * moved + (self.economy - low) * maximum(moved - ECONOMY_KNEE * self.budget, 0.0)) / self.dnorm

    def rate(self) -> float:
        """The price's rate where the value moved stands now (targets per target)."""
        if self.budget is not None and self.moved < ECONOMY_KNEE * self.budget:
            return min(self.economy, ECONOMY_LOW)
        return self.economy

    def travel_delta(self, u: int, a: int, b: int) -> float:
        xy = self.uxy[u]
        da = float(np.hypot(*(xy - self.pos[a])))
        db = float(np.hypot(*(xy - self.pos[b])))
        return self.weight[u] * (db - da) / self.wnorm

    def can_leave(self, u: int) -> bool:
        if self.size[self.assign[u]] <= 1:
            return False
        return not self.contiguity or stays_connected(u, self.assign, self.nbrs)

    def piece(self, u: int) -> list[int] | None:
        """Units that must leave with u so that u's territory stays connected: u and every
        piece of the territory cut off by u's removal except the one holding the
        territory's anchor (else its heaviest). None when a locked unit or the anchor
        would have to go, or when nothing would be left."""
        a = self.assign[u]
        if self.locked_l[u] or self.in_family[u] or u == self.anchor[a]:
            return None
        if not self.contiguity:
            return [u]
        assign, nbrs = self.assign, self.nbrs
        inside = [z for z in nbrs[u] if assign[z] == a]
        if len(inside) <= 1:
            return [u] if self.size[a] > 1 else None
        comps: list[list[int]] = []
        seen = {u}
        for z0 in inside:
            if z0 in seen:
                continue
            comp = [z0]
            seen.add(z0)
            stack = [z0]
            while stack:
                z = stack.pop()
                for y in nbrs[z]:
                    if y not in seen and assign[y] == a:
                        seen.add(y)
                        comp.append(y)
                        stack.append(y)
            comps.append(comp)
        if len(comps) == 1:
            return [u]
        anchor = self.anchor[a]
        keep = next((i for i, c in enumerate(comps) if anchor in c), None) if anchor >= 0 else None
        if keep is None:
            keep = int(np.argmax([sum(self.vals[z][0] for z in c) if self.r else len(c) for c in comps]))
        out = [u]
        for i, c in enumerate(comps):
            if i != keep:
                out.extend(c)
        if any(self.locked_l[z] or self.in_family[z] for z in out):
            return None
        return out

    def delta_many(self, units: list[int], b: int) -> float:
        """Change of V if every unit of ``units`` (all in one territory) moves to b."""
        a = self.assign[units[0]]
        la, lb = self.load[a], self.load[b]
        na, nb = list(la), list(lb)
        change = 0.0
        by_owner: dict[int, float] = {}
        for u in units:
            val = self.vals[u]
            for j in range(self.r):
                na[j] -= val[j]
                nb[j] += val[j]
            o = self.owner[u]
            if o >= 0:
                c = (self.dvalue[u] if a == o else 0.0) - (self.dvalue[u] if b == o else 0.0)
                change += c
                if c:
                    by_owner[o] = by_owner.get(o, 0.0) + c
        dv = (
            self.seat_violation(a, na)
            + self.seat_violation(b, nb)
            - self.seat_violation(a, la)
            - self.seat_violation(b, lb)
        )
        if change and (self.budget is not None or self.rep_limit is not None):
            out_moved = None
            if self.rep_limit is not None:  # each owner's own limit moves with its accounts
                out_moved = list(self.out_moved)
                for o, c in by_owner.items():
                    out_moved[o] += c
            dv += (
                self.budget_violation(self.moved + change, out_moved)
                - self.budget_violation(self.moved)
                + self.price(self.moved + change)
                - self.price(self.moved)
            )
        if self.clash and any(u in self.clash for u in units):
            dv += self.clash_cost(units, b)
        return dv

    def delta(self, u: int, b: int) -> tuple[float, float]:
        """(change of V, change of the smooth deviation) if u moves to b."""
        a = self.assign[u]
        val = self.vals[u]
        la, lb = self.load[a], self.load[b]
        na = [la[j] - val[j] for j in range(self.r)]
        nb = [lb[j] + val[j] for j in range(self.r)]
        dv = (
            self.seat_violation(a, na)
            + self.seat_violation(b, nb)
            - self.seat_violation(a, la)
            - self.seat_violation(b, lb)
        )
        ds = self.smooth(a, na) + self.smooth(b, nb) - self.smooth(a, la) - self.smooth(b, lb)
        o = self.owner[u]
        if o >= 0 and (self.budget is not None or self.rep_limit is not None):
            change = (self.dvalue[u] if a == o else 0.0) - (self.dvalue[u] if b == o else 0.0)
            if change:
                before = self.budget_violation(self.moved)
                if self.rep_limit is not None:
                    om = list(self.out_moved)
                    om[o] += change
                    after = self.budget_violation(self.moved + change, om)
                else:
                    after = self.budget_violation(self.moved + change)
                dv += after - before + self.price(self.moved + change) - self.price(self.moved)
        if self.clash and u in self.clash:
            dv += self.clash_cost([u], b)
        return dv, ds

    def move(self, u: int, b: int) -> None:
        a = self.assign[u]
        val = self.vals[u]
        la, lb = self.load[a], self.load[b]
        for j in range(self.r):
            la[j] -= val[j]
            lb[j] += val[j]
        self.size[a] -= 1
        self.size[b] += 1
        self.assign[u] = b
        self.illegal += int(not self.legal(u, b)) - int(a >= 0 and not self.legal(u, a))
        if u in self.clash:
            self.lumps[a].discard(u)
            self.lumps[b].add(u)
        o = self.owner[u]
        if o >= 0:
            if a == o:
                self.moved += self.dvalue[u]
                self.out_moved[o] += self.dvalue[u]
            if b == o:
                self.moved -= self.dvalue[u]
                self.out_moved[o] -= self.dvalue[u]
        self.clock += 1
        self.tabu[u] = self.clock + 7 + int(self.rng.integers(0, 7))

    def move_quiet(self, u: int, b: int) -> None:
        """A move that sets no tabu (window re-assignments)."""
        keep = self.tabu.get(u)
        self.move(u, b)
        if keep is None:
            self.tabu.pop(u, None)
        else:
            self.tabu[u] = keep

    def seat_graph(self) -> dict[int, set[int]]:
        e = self.p.edges
        nb: dict[int, set[int]] = {t: set() for t in range(self.k)}
        if e is None:
            return nb
        a = np.asarray(self.assign)
        ta, tb = a[e[:, 0]], a[e[:, 1]]
        cut = ta != tb
        for x, y in zip(ta[cut].tolist(), tb[cut].tolist(), strict=True):
            nb[x].add(y)
            nb[y].add(x)
        return nb

    def boundary(self) -> NDArray[np.int64]:
        e = self.p.edges
        if e is None or not self.contiguity:
            return np.arange(self.n)
        a = np.asarray(self.assign)
        cut = a[e[:, 0]] != a[e[:, 1]]
        return np.unique(e[cut].ravel())

    def hot(self) -> NDArray[np.bool_]:
        """Territories worth moving units out of: those missing a band or the budget, those
        whose load lies in the outer fifth of a band, and their neighbours."""
        load = np.array(self.load).reshape(self.k, self.r)
        with np.errstate(invalid="ignore"):
            width = np.where(np.isfinite(self.hi) & np.isfinite(self.lo), self.hi - self.lo, np.inf)
            edge = (load > self.hi - 0.2 * width) | (load < self.lo + 0.2 * width)
        hot: NDArray[np.bool_] = np.asarray(edge.any(axis=1), dtype=bool) if self.r else np.zeros(self.k, dtype=bool)
        if self.budget is not None or self.rep_limit is not None:
            hot[:] = True  # every move may return a unit home
        e = self.p.edges
        if e is not None and self.contiguity and hot.any() and not hot.all():
            a = np.asarray(self.assign)
            ta, tb = a[e[:, 0]], a[e[:, 1]]
            near = np.zeros(self.k, dtype=bool)
            near[tb[hot[ta]]] = True
            near[ta[hot[tb]]] = True
            hot |= near
        return hot

    def destinations(self, u: int) -> set[int]:
        a = self.assign[u]
        if self.contiguity:
            return {self.assign[z] for z in self.nbrs[u]} - {a}
        return {t for t in range(self.k) if t != a}


def _reach_count(nbrs: list[list[int]], start: int, inside: Callable[[int], bool]) -> int:
    """Units reached from ``start`` through units for which ``inside`` holds."""
    seen = {start}
    stack = [start]
    while stack:
        z = stack.pop()
        for y in nbrs[z]:
            if y not in seen and inside(y):
                seen.add(y)
                stack.append(y)
    return len(seen)


def _family_pass(s: _Search) -> int:
    """Move whole families (a family's units never move one by one) to an adjacent seat
    that may take every member, where that lowers V; returns the families moved. A family
    kept whole by a start that could not join it (no seat takes it all) stays."""
    if not s.families:
        return 0
    hot = s.hot()
    moved = 0
    for members in s.families.values():
        a = s.assign[members[0]]
        if a < 0 or not hot[a] or any(s.assign[u] != a for u in members):
            continue
        if s.contiguity:
            seats = {s.assign[z] for u in members for z in s.nbrs[u]} - {a, -1}
        else:
            seats = {t for t in range(s.k) if t != a and hot[t]}
        options = sorted(
            (dv, b) for b in seats if s.family_takes(members, b) and (dv := s.delta_many(members, b)) < -1e-12
        )
        for _, b in options:
            if s.family_move_keeps(members, b):
                for u in members:
                    s.move(u, b)
                moved += 1
                break
    return moved


def _clashes(s: _Search, problem: Problem) -> dict[int, set[int]]:
    """Pairs of units that no plan can put in one territory: on some hard row (a band or a
    cap, on a measure with no negative value) their values together exceed the highest
    limit of every seat open to them. Units locked to a seat standing alone are left out
    (they never move). The heaviest :data:`CLASH_UNITS` units per row are checked."""
    out: dict[int, set[int]] = {}
    open_ = [t for t in range(s.k) if not s.closed[t]]
    if not open_ or s.r == 0:
        return out
    lock = problem.lock
    free = np.flatnonzero(~((lock >= 0) & np.asarray(s.closed, dtype=bool)[np.maximum(lock, 0)]))
    if len(free) < 2:
        return out
    for j in range(s.r):
        col = s.values[:, j]
        top = s.hi[open_, j]
        if (col < 0).any() or not np.isfinite(top).all():
            continue
        cap = float(top.max())
        heavy = free[np.argsort(-col[free], kind="stable")[:CLASH_UNITS]]
        vals = col[heavy]
        pairs = np.argwhere(np.triu(vals[:, None] + vals[None, :] > cap * (1 + 1e-9) + 1e-9, 1))
        for x, y in pairs.tolist():
            u, w = int(heavy[x]), int(heavy[y])
            out.setdefault(u, set()).add(w)
            out.setdefault(w, set()).add(u)
    return out


def _rows(
    problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]
) -> tuple[
    list[NDArray[np.float64]],
    list[NDArray[np.float64]],
    list[NDArray[np.float64]],
    list[NDArray[np.float64]],
    list[int],
]:
    """The rules a search keeps, one row each: every hard balance band (for a seat
    standing alone: no more than its locked units) and every capacity cap. Returns per row
    the unit values, the seats' lower and upper limits, a norm (a mean target or cap) and
    the measure."""
    k = problem.n_seats
    # the bands and caps of the one evaluator; the norm here is the mean target (or cap) of
    # the seats not exempt, so a share of violation weighs the same in every territory
    rows = replace(spec, exempt=exempt).bands(problem).rows()
    cols = [problem.measures[:, row.measure] for row in rows]
    lo = [row.low for row in rows]
    hi = [row.high.copy() for row in rows]
    # a seat standing alone may hold its locked units only (the oversized unit and the
    # pieces cut off behind it): anything more is a violation, so a realignment that starts
    # from today's books moves the rest of its rep's book out where it helps most
    held = np.flatnonzero(exempt)
    mine = problem.lock[:, None] == held[None, :]
    for row, top in zip(rows, hi, strict=True):
        if row.kind == "band" and len(held):
            top[held] = (problem.measures[:, row.measure] @ mine) * (1 + 1e-9) + 1e-9
    names = [row.measure for row in rows]
    open_ = ~exempt if (~exempt).any() else np.ones(k, dtype=bool)
    norm = [np.full(k, max(float(row.norm[open_].mean()), 1e-12)) for row in rows]
    return cols, lo, hi, norm, names


def connected_start(
    problem: Problem,
    start: NDArray[np.int64],
    *,
    anchors: NDArray[np.int64] | None = None,
    locked: NDArray[np.bool_] | None = None,
    closed: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], tuple[int, ...]]:
    """Make every territory of ``start`` one connected piece.

    Units without a seat (-1: e.g. the accounts of a removed rep) and the pieces of a
    territory cut off from its main piece (the piece holding its anchor unit, else its
    largest) go to the adjacent territory they share most edges with, never to a
    ``closed`` seat (one standing alone). A cut-off piece holding a ``locked`` unit (which
    may not leave) is joined to the main piece instead, by the shortest path of units
    that may join (:func:`_join_pieces`); the territories the path crosses are mended
    the same way. Returns the plan and the seats whose start territory was not connected.
    """
    n, k = problem.n_units, problem.n_seats
    assign = np.asarray(start, dtype=np.int64).copy()
    pin: NDArray[np.bool_] = np.zeros(n, dtype=bool) if locked is None else locked.copy()
    edges = problem.edges
    if edges is None or len(edges) == 0:
        return assign, ()
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    def components() -> NDArray[np.int64]:
        same = (assign[edges[:, 0]] == assign[edges[:, 1]]) & (assign[edges[:, 0]] >= 0)
        e = edges[same]
        graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        return np.asarray(connected_components(graph, directed=False)[1], dtype=np.int64)

    def main_piece(t: int, members: NDArray[np.int64], comp: NDArray[np.int64]) -> int:
        """The piece a territory keeps: its anchor's, else its first locked unit's, else its largest."""
        if anchors is not None and anchors[t] >= 0 and assign[anchors[t]] == t:
            return int(comp[anchors[t]])
        pinned = members[pin[members]]
        if len(pinned):
            return int(comp[pinned[0]])
        return int(np.argmax(np.bincount(comp[members])))

    detached: set[int] = set()
    # first the pieces holding units that may not leave, joined to their territory's main
    # piece by a path whose units are then pinned too (a later join never takes them back:
    # two joins whose paths crossed took the same unit from each other until the loop ran out)
    for _ in range(2):
        comp, joined = components(), False
        for t in range(k):
            members = np.flatnonzero(assign == t)
            if len(members) == 0 or len(np.unique(comp[members])) <= 1:
                continue
            keep = main_piece(t, members, comp)
            stuck = np.unique(comp[members[pin[members]]])
            stuck = stuck[stuck != keep]
            if len(stuck) == 0:
                continue
            path = _join_pieces(problem, assign, t, comp, keep, stuck, pin, closed, anchors)
            if len(path):
                detached.add(t)
                pin[path] = True
                comp, joined = components(), True
        if not joined:
            break
    for _ in range(100):
        comp = components()
        loose = assign < 0
        for t in range(k):
            members = np.flatnonzero(assign == t)
            if len(members) == 0 or len(np.unique(comp[members])) <= 1:
                continue
            keep = main_piece(t, members, comp)
            off = members[(comp[members] != keep) & ~pin[members]]
            if len(off):
                detached.add(t)
                loose[off] = True
        if not loose.any():
            break
        # hand loose units to the neighbouring territory sharing most edges, outside in
        assign[loose] = -1
        changed = True
        while changed and (assign < 0).any():
            changed = False
            a0, a1 = assign[edges[:, 0]], assign[edges[:, 1]]
            src = np.concatenate([edges[:, 0][(a0 < 0) & (a1 >= 0)], edges[:, 1][(a1 < 0) & (a0 >= 0)]])
            dst = np.concatenate([a1[(a0 < 0) & (a1 >= 0)], a0[(a1 < 0) & (a0 >= 0)]])
            if closed is not None:
                src, dst = src[~closed[dst]], dst[~closed[dst]]
            if len(src) == 0:
                break
            key = src * k + dst
            uniq, counts = np.unique(key, return_counts=True)
            order = np.lexsort((-counts, uniq // k))
            uu, tt = uniq[order] // k, uniq[order] % k
            first = np.unique(uu, return_index=True)[1]
            assign[uu[first]] = tt[first]
            changed = True
        rest = np.flatnonzero(assign < 0)
        if len(rest):  # no territory touches them (an island): nearest seat position
            d = np.linalg.norm(problem.unit_xy[rest][:, None, :] - problem.seat_xy[None, :, :], axis=2)
            if closed is not None and not closed.all():
                d[:, closed] = np.inf
            assign[rest] = np.argmin(d, axis=1)
    return assign, tuple(sorted(detached))


def _join_pieces(
    problem: Problem,
    assign: NDArray[np.int64],
    t: int,
    comp: NDArray[np.int64],
    keep: int,
    stuck: NDArray[np.int64],
    locked: NDArray[np.bool_],
    closed: NDArray[np.bool_] | None,
    anchors: NDArray[np.int64] | None,
) -> NDArray[np.int64]:
    """Join the pieces ``stuck`` of territory ``t`` (components in ``comp`` holding units
    that may not leave) to its main piece ``keep``: the units on the shortest path (fewest
    units) between them join ``t``. The path runs only through units that may join ``t``
    (skills, exclusions), never through a locked unit or the anchor (home) of another seat
    or a seat standing alone. Changes ``assign`` in place; returns the units of the paths
    (none when no such path exists: a fuzz map's locked unit far from its home, where the
    search kept two pieces and its plan failed the audit)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = problem.n_units
    edges = problem.edges
    assert edges is not None
    units = np.arange(n)
    seat = np.full(n, t)
    ok = ~(locked & (assign != t)) & problem.eligible(units, seat) & ~problem.excluded(units, seat)
    if anchors is not None:
        homes = np.asarray(anchors)
        homes = homes[(homes >= 0) & (np.arange(len(homes)) != t)]
        ok[homes[assign[homes] != t]] = False
    if closed is not None:
        ok &= ~((assign >= 0) & closed[np.maximum(assign, 0)])
    e = edges[ok[edges[:, 0]] & ok[edges[:, 1]]]
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    main = comp == keep
    taken: list[int] = []
    for q in stuck.tolist():
        dist, pred, _ = dijkstra(
            graph,
            directed=False,
            unweighted=True,
            indices=np.flatnonzero(main),
            return_predecessors=True,
            min_only=True,
        )
        ends = np.flatnonzero(comp == q)
        ends = ends[np.isfinite(dist[ends])]
        if len(ends) == 0:
            continue
        u = int(ends[np.argmin(dist[ends])])
        while u >= 0:
            assign[u], main[u] = t, True
            taken.append(u)
            u = int(pred[u])
        main |= comp == q
    return np.asarray(taken, dtype=np.int64)


def _transfers(s: _Search, row: int) -> list[tuple[int, int, float]]:
    """Least-value flow of one measure between adjacent territories that puts every
    territory inside its band (slack where it cannot), as (from, to, amount) arcs."""
    e = s.p.edges
    a = np.asarray(s.assign)
    if e is None or not s.contiguity:
        pairs = np.array([(i, j) for i in range(s.k) for j in range(s.k) if i != j], dtype=np.int64)
    else:
        ta, tb = a[e[:, 0]], a[e[:, 1]]
        cut = ta != tb
        pairs = np.unique(
            np.column_stack([np.concatenate([ta[cut], tb[cut]]), np.concatenate([tb[cut], ta[cut]])]), axis=0
        )
    open_ = ~np.asarray(s.closed)
    if len(pairs):
        pairs = pairs[open_[pairs[:, 0]] & open_[pairs[:, 1]]]
    if len(pairs) == 0:
        return []
    load = np.array([s.load[t][row] for t in range(s.k)])
    # an arc carries at most a few times what lies on that border now (whole pieces
    # move with an articulation unit, and the border moves inward as units cross)
    cap = np.full(len(pairs), np.inf)
    if e is not None and s.contiguity:
        vals = s.values[:, row]
        ta, tb = a[e[:, 0]], a[e[:, 1]]
        on = np.zeros((s.k, s.k))
        cut = ta != tb
        # value of units of x touching y (counted once per edge: an upper estimate)
        np.add.at(on, (ta[cut], tb[cut]), vals[e[cut, 0]])
        np.add.at(on, (tb[cut], ta[cut]), vals[e[cut, 1]])
        cap = 4.0 * on[pairs[:, 0], pairs[:, 1]] + 1e-9
    return least_transfers(pairs, cap, load, s.lo[:, row], s.hi[:, row], open_, float(s.norm[0, row]))


def _realise(
    s: _Search, arcs: list[tuple[int, int, float]], row: int, deadline: float, now: Callable[[], float]
) -> int:
    """Move units (with the pieces they would cut off) along the planned arcs, sources
    first so that a territory the flow passes through receives before it gives; returns
    the number of moves."""
    moves = 0
    for a, b, amount in _topological(arcs, s.k):
        remaining = amount
        room = (
            0.5 * (s.hi[b, row] - s.mid[b, row]) if np.isfinite(s.hi[b, row]) and np.isfinite(s.mid[b, row]) else amount
        )
        for _ in range(10_000):
            if remaining <= 1e-9 * s.norm[0, row] or now() > deadline:
                break
            options = []
            for u in _border(s, a, b):
                if s.vals[u][row] <= remaining + room:
                    # what the move adds to the value moved away from today's owners
                    cost = (s.dvalue[u] if s.owner[u] == a else 0.0) - (s.dvalue[u] if s.owner[u] == b else 0.0)
                    options.append((cost, s.travel_delta(u, a, b), u))
            options.sort()
            best: list[int] | None = None
            fallback: tuple[float, list[int]] | None = None
            for _, _, u in options[:40]:
                group = [u] if s.can_leave(u) and u != s.anchor[a] and not s.locked_l[u] else s.piece(u)
                if group is None or len(group) >= s.size[a]:
                    continue
                v = sum(s.vals[z][row] for z in group)
                if v > remaining + room or not all(s.eligible(z, b) for z in group):
                    continue
                if s.clash and any(z in s.clash for z in group) and s.clash_cost(group, b) > 0:
                    continue  # no plan holds a clashing pair
                dv = s.delta_many(group, b)
                if dv <= 1e-6:
                    best = group
                    break
                if fallback is None or dv < fallback[0]:
                    fallback = (dv, group)
            if best is None and fallback is not None:
                best = fallback[1]
            if best is None:
                break
            for z in best:
                remaining -= s.vals[z][row]
                s.move(z, b)
            moves += 1
    return moves


def _topological(arcs: list[tuple[int, int, float]], k: int) -> list[tuple[int, int, float]]:
    """Arcs ordered so that every arc into a territory comes before the arcs out of it
    (a least-cost flow has no cycle; any left over keep their order)."""
    indeg = [0] * k
    out: dict[int, list[tuple[int, int, float]]] = {}
    for arc in sorted(arcs, key=lambda x: -x[2]):
        indeg[arc[1]] += 1
        out.setdefault(arc[0], []).append(arc)
    ready = [t for t in range(k) if indeg[t] == 0 and t in out]
    order: list[tuple[int, int, float]] = []
    while ready:
        t = ready.pop(0)
        for arc in out.pop(t, []):
            order.append(arc)
            indeg[arc[1]] -= 1
            if indeg[arc[1]] == 0 and arc[1] in out:
                ready.append(arc[1])
    for rest in out.values():
        order.extend(rest)
    return order


def _border(s: _Search, a: int, b: int) -> list[int]:
    """Units of territory a that may move to b (touching b when contiguity is on)."""
    assign = s.assign
    if s.contiguity:
        cands = (
            {u for u in range(s.n) if assign[u] == a and any(assign[z] == b for z in s.nbrs[u])} if s.n < 2000 else None
        )
        if cands is None:
            e = s.p.edges
            assert e is not None
            arr = np.asarray(assign)
            m0 = (arr[e[:, 0]] == a) & (arr[e[:, 1]] == b)
            m1 = (arr[e[:, 1]] == a) & (arr[e[:, 0]] == b)
            cands = set(e[m0, 0].tolist()) | set(e[m1, 1].tolist())
    else:
        cands = {u for u in range(s.n) if assign[u] == a}
    return [u for u in cands if s.eligible(u, b)]


def _descend(s: _Search, deadline: float, now: Callable[[], float], max_moves: int | None, passes: int = 8) -> int:
    """Boundary moves that lower V (ties: smooth deviation, then travel); returns moves."""
    moves = 0
    for _ in range(passes):
        improved = False
        units = s.boundary()
        hot = s.hot()
        units = units[hot[np.asarray(s.assign)[units]]]
        s.rng.shuffle(units)
        for u in units.tolist():
            if s.locked_l[u] or s.in_family[u]:
                continue
            if s.tabu.get(u, 0) > s.clock:
                continue
            best, best_key = -1, (-1e-9, -1e-9, 0.0)
            checked = False
            a = s.assign[u]
            for b in s.destinations(u):
                if not s.eligible(u, b):
                    continue
                dv, ds = s.delta(u, b)
                if dv > 1e-12 or (dv > -1e-12 and ds > -1e-12):
                    continue
                key = (dv, ds, s.travel_delta(u, a, b))
                if dv < best_key[0] - 1e-12 or (abs(dv - best_key[0]) <= 1e-12 and ds < best_key[1]):
                    if not checked:
                        if not s.can_leave(u):
                            break
                        checked = True
                    best, best_key = b, key
            if best >= 0:
                s.move(u, best)
                moves += 1
                improved = True
                if (max_moves is not None and moves >= max_moves) or now() > deadline:
                    return moves
        if not improved or s.violation() <= EPS:
            return moves
    return moves


def _local_edges(s: _Search, units: NDArray[np.int64]) -> NDArray[np.int64]:
    m = len(units)
    e = s.p.edges
    if e is None or not s.contiguity:
        return np.column_stack([np.arange(m - 1), np.arange(1, m)])
    local = np.full(s.n, -1, dtype=np.int64)
    local[units] = np.arange(m)
    inside = (local[e[:, 0]] >= 0) & (local[e[:, 1]] >= 0)
    return local[e[inside]]


def _tree(
    s: _Search, m: int, le: NDArray[np.int64], first: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """A random spanning tree of the local graph (Kruskal over shuffled edges): its BFS
    order from node 0 and parents (-9999 at the root); None if the graph is not one piece.
    Plain Python: for the few hundred nodes of a recombination this beats building
    sparse matrices for every tree."""
    edges = le.tolist()
    link = list(range(m))

    def find(x: int) -> int:
        while link[x] != x:
            link[x] = link[link[x]]
            x = link[x]
        return x

    adj: list[list[int]] = [[] for _ in range(m)]
    count = 0
    shuffled = s.rng.permutation(len(edges))
    if first is not None:
        # edges marked first (inside one owner's book) join the tree before any other, so
        # each owner's region is one subtree and a cut can follow today's boundaries
        shuffled = shuffled[np.argsort(~first[shuffled], kind="stable")]
    for i in shuffled.tolist():
        a, b = edges[i]
        ra, rb = find(a), find(b)
        if ra != rb:
            link[ra] = rb
            adj[a].append(b)
            adj[b].append(a)
            count += 1
            if count == m - 1:
                break
    if count < m - 1:
        return None
    parent = [-9999] * m
    order = [0]
    seen = [False] * m
    seen[0] = True
    for x in order:
        for y in adj[x]:
            if not seen[y]:
                seen[y] = True
                parent[y] = x
                order.append(y)
    return np.asarray(order, dtype=np.int64), np.asarray(parent, dtype=np.int64)


def _subtree_mask(order: NDArray[np.int64], parent: NDArray[np.int64], node: int, m: int) -> NDArray[np.bool_]:
    mask = np.zeros(m, dtype=bool)
    mask[node] = True
    for x in order.tolist():
        if x != node and parent[x] >= 0 and mask[parent[x]]:
            mask[x] = True
    return mask


def _seat_columns(s: _Search, units: NDArray[np.int64], t: int) -> NDArray[np.float64]:
    """Per unit, for seat t: moved value if sent to t, "may not go to t", travel to t."""
    owner = s.p.owner[units]
    dval = np.asarray(s.dvalue)[units]
    moved = np.where((owner >= 0) & (owner != t), dval, 0.0)
    forbid = np.array(
        [not (s.assign[u] == t and not s.closed[t]) and not s.eligible(int(u), t) for u in units.tolist()], dtype=float
    )
    travel = np.asarray(s.weight)[units] * np.linalg.norm(s.uxy[units] - s.pos[t], axis=1) / s.wnorm
    return np.column_stack([moved, forbid, travel])


def _band_violation(s: _Search, t: int, load: NDArray[np.float64]) -> NDArray[np.float64]:
    v = np.zeros(load.shape[0])
    for j in range(s.r):
        v += (np.maximum(load[:, j] - s.hi[t, j], 0) + np.maximum(s.lo[t, j] - load[:, j], 0)) / s.norm[t, j]
    return v


def _local_clashes(s: _Search, units: NDArray[np.int64]) -> tuple[NDArray[np.float64], list[tuple[int, int]]]:
    """Indicator columns (one per clashing unit among ``units``) and the clashing pairs as
    column indices, for the tree cuts' sums."""
    if not s.clash:
        return np.zeros((len(units), 0)), []
    rows = [i for i, u in enumerate(units.tolist()) if u in s.clash]
    col = {int(units[i]): c for c, i in enumerate(rows)}
    pairs = [(col[u], col[w]) for u in col for w in s.clash[u] if w in col and col[u] < col[w]]
    if not pairs:
        return np.zeros((len(units), 0)), []
    lumps = np.zeros((len(units), len(rows)))
    lumps[rows, np.arange(len(rows))] = 1.0
    return lumps, pairs


def _clash_penalty(part: NDArray[np.float64], offset: int, pairs: list[tuple[int, int]]) -> NDArray[np.float64]:
    """Clash cost of each candidate part (rows of summed columns; indicators from ``offset``)."""
    held = part[:, offset:] > 0.5
    count = np.zeros(part.shape[0])
    for x, y in pairs:
        count += held[:, x] & held[:, y]
    return CLASH_COST * count


def _split_pair(
    s: _Search,
    units: NDArray[np.int64],
    a: int,
    b: int,
    trees: int,
    moved_base: float,
    *,
    economy: bool = True,
    hard: bool = False,
) -> tuple[float, float, NDArray[np.bool_], float] | None:
    """Best tree cut of ``units`` into a part for a and a part for b: (violation incl. the
    budget and per-rep limits, ``units`` being all of a's and b's territories; the
    tie-break (value moved in a realignment, else travel); mask of the units going to a;
    travel)."""
    m = len(units)
    le = _local_edges(s, units)
    if m < 2 or len(le) == 0:
        return None
    r = s.r
    lumps, clashes = _local_clashes(s, units)
    # per-rep limits: the value of a's and of b's own accounts each part holds (the value
    # moved from the other owners' books is the same whichever part holds it)
    owner = s.p.owner[units]
    dval = np.asarray(s.dvalue)[units]
    own = np.column_stack([np.where(owner == a, dval, 0.0), np.where(owner == b, dval, 0.0)])
    # per-rep limits: each seat's anchor (the unit of its home base or centre, on its rep's
    # book when the search starts from today's owners) stays with it, as in swaps and group
    # moves. A cut that hands a small territory's whole book away for a piece of its
    # neighbour elsewhere can meet every band, but its rep then keeps nothing of its book and
    # no move brings the territory back (the realignment demo, Georgia, 8 reps, 80 % per
    # rep: a book of 0.29 of a target ended 93-100 % moved on 4 solver seeds of 20)
    anchored = [s.held_anchor(t) if s.rep_limit is not None else -1 for t in (a, b)]
    pins = np.column_stack([(units == anchored[0]), (units == anchored[1])]).astype(float)
    data = np.hstack([s.values[units], _seat_columns(s, units, a), _seat_columns(s, units, b), own, lumps, pins])
    total = data.sum(axis=0)
    rep_excess = _rep_excess(s, a, b, units, owner, dval, total[r + 6 : r + 8]) if s.rep_limit is not None else None
    best = None
    best_key = np.inf
    same_owner = None
    if s.budget is not None:
        owner = s.p.owner[units]
        same_owner = (owner[le[:, 0]] == owner[le[:, 1]]) & (owner[le[:, 0]] >= 0)
    for trial in range(trees):
        # in a realignment every other tree follows today's books (see _tree)
        found = _tree(s, m, le, same_owner if same_owner is not None and trial % 2 == 0 else None)
        if found is None:
            return None
        order, parent = found
        sub = data.copy()
        for v in order[::-1][:-1].tolist():
            sub[parent[v]] += sub[v]
        sub = sub[order[1:]]
        rest = total - sub
        for flip in (False, True):
            pa, pb = (sub, rest) if not flip else (rest, sub)
            v = _band_violation(s, a, pa[:, :r]) + _band_violation(s, b, pb[:, :r])
            if clashes:
                v = v + _clash_penalty(pa, r + 8, clashes) + _clash_penalty(pb, r + 8, clashes)
            if hard:  # the bands (and clashes) only: the budgets are what a hard re-cut lowers
                v = np.where(v > EPS, np.inf, v)
            if rep_excess is not None:
                v = v + rep_excess(pa[:, r + 6], pb[:, r + 7])
            if s.budget is not None:
                v += np.maximum(moved_base + pa[:, r] + pb[:, r + 3] - s.budget, 0) / s.dnorm
                if economy:
                    v += s.price_of(moved_base + pa[:, r] + pb[:, r + 3])
            v = np.where((pa[:, r + 1] > 0.5) | (pb[:, r + 4] > 0.5), np.inf, v)
            if anchored[0] >= 0 or anchored[1] >= 0:
                v = np.where((pa[:, -2] < total[-2] - 0.5) | (pb[:, -1] < total[-1] - 0.5), np.inf, v)
            travel = pa[:, r + 2] + pb[:, r + 5]
            # with today's owners (a budget, or a relink balancing with it set aside) the cut
            # that moves least is preferred, then the shortest travel
            second = pa[:, r] + pb[:, r + 3] if s.owners_matter else travel
            # balancing with a budget set aside (a relink): cuts whose violation is within
            # a step of each other count as equal, so the one that moves least wins
            key = np.ceil(v / VIOLATION_STEP) * VIOLATION_STEP if s.owners_matter and s.budget is None else v
            i = int(np.lexsort((travel, second, key))[0])
            if np.isfinite(v[i]) and (best is None or (key[i], second[i]) < (best_key, best[1])):
                best_key = float(key[i])
                mask = _subtree_mask(order, parent, int(order[1:][i]), m)
                best = (float(v[i]), float(second[i]), mask if not flip else ~mask, float(travel[i]))
        if best is not None and best[0] <= EPS and s.budget is None:
            break
    return best


def _rep_excess(
    s: _Search,
    a: int,
    b: int,
    units: NDArray[np.int64],
    owner: NDArray[np.int64],
    dval: NDArray[np.float64],
    own_total: NDArray[np.float64],
) -> Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]:
    """The per-rep limits' part of the violation for cuts of ``units`` (all of a's and b's
    territories, with their ``owner`` and disruption value ``dval``) into a part for a and
    one for b: given the value of a's own accounts the a-part keeps and of b's own the
    b-part keeps. Every other rep's excess is a constant (which of the two holds its
    accounts changes nothing), included so the figure compares with
    :meth:`_Search.budget_violation`."""
    assert s.rep_limit is not None
    limit, out = s.rep_limit, s.out_moved
    assign = np.asarray(s.assign)[units]
    # moved from a's and b's books outside the two territories
    base_a = out[a] - float(dval[(owner == a) & (assign != a)].sum())
    base_b = out[b] - float(dval[(owner == b) & (assign != b)].sum())
    others = sum(out[o] - limit[o] for o in range(s.k) if o not in (a, b) and out[o] > limit[o] + 1e-9)

    def excess(kept_a: NDArray[np.float64], kept_b: NDArray[np.float64]) -> NDArray[np.float64]:
        out_a = base_a + float(own_total[0]) - kept_a
        out_b = base_b + float(own_total[1]) - kept_b
        over = np.where(out_a > limit[a] + 1e-9, out_a - limit[a], 0.0) + np.where(
            out_b > limit[b] + 1e-9, out_b - limit[b], 0.0
        )
        return (over + others) / s.dnorm

    return excess


def _recombine(s: _Search, seats: list[int], trees: int, *, hard: bool = False) -> bool:
    """Spanning-tree recombination (as GerryChain's ReCom) of two or three adjacent
    territories: merge them, draw random spanning trees of the merged piece and cut
    edges so that every part (connected by construction) best meets its seat's bands,
    locks, skills and the budget. Applied only when the seats' violation drops.
    ``hard`` (pairs only): only cuts that keep both territories in every band."""
    if (s.rep_limit is not None and len(seats) != 2) or any(s.closed[t] for t in seats):
        return False  # per-rep limits: pairs only (see _rep_excess); triples are left to the moves
    assign = np.asarray(s.assign)
    units = np.flatnonzero(np.isin(assign, seats))
    owner = s.p.owner[units]
    dval = np.asarray(s.dvalue)[units]
    moved_base = s.moved - float(np.where((owner >= 0) & (assign[units] != owner), dval, 0.0).sum())
    current = sum(s.seat_violation(t, s.load[t]) + CLASH_COST * s.clash_count(t) for t in seats)
    current += s.budget_violation(s.moved)
    if s.budget is not None:
        current += s.price(s.moved)
    best: tuple[float, float, dict[int, int]] | None = None
    if len(seats) == 2:
        found = _split_pair(s, units, seats[0], seats[1], trees, moved_base, hard=hard)
        if found is not None:
            best = (
                found[0],
                found[1],
                {int(u): seats[0] if found[2][i] else seats[1] for i, u in enumerate(units.tolist())},
            )
    else:
        best = _recombine_three(s, seats, units, trees, moved_base)
    if best is None or best[0] >= current - 1e-9:
        return False
    for u, t in best[2].items():
        if s.assign[u] != t:
            s.move_quiet(u, t)
    return True


def _recombine_three(
    s: _Search, seats: list[int], units: NDArray[np.int64], trees: int, moved_base: float
) -> tuple[float, float, dict[int, int]] | None:
    """The best three-way cut of ``units``: a tree cut gives one seat its part (the other
    two bands summed for the rest), then the rest is split as a pair. Not under per-rep
    limits (the pair's figure, :func:`_rep_excess`, needs two whole territories)."""
    if s.rep_limit is not None:
        return None
    best: tuple[float, float, dict[int, int]] | None = None
    m = len(units)
    le = _local_edges(s, units)
    r = s.r
    lumps, clashes = _local_clashes(s, units)
    for trial in range(max(2, trees // 4)):
        first = seats[trial % len(seats)]
        others = [t for t in seats if t != first]
        found_tree = _tree(s, m, le)
        if found_tree is None:
            return None
        order, parent = found_tree
        data = np.hstack([s.values[units], _seat_columns(s, units, first), lumps])
        total = data.sum(axis=0)
        sub = data.copy()
        for v in order[::-1][:-1].tolist():
            sub[parent[v]] += sub[v]
        sub = sub[order[1:]]
        rest = total - sub
        lo_o = s.lo[others].sum(axis=0)
        hi_o = s.hi[others].sum(axis=0)
        for flip in (False, True):
            part, remain = (sub, rest) if not flip else (rest, sub)
            v = _band_violation(s, first, part[:, :r])
            if clashes:
                v = v + _clash_penalty(part, r + 3, clashes)
            for j in range(r):
                v += (np.maximum(remain[:, j] - hi_o[j], 0) + np.maximum(lo_o[j] - remain[:, j], 0)) / s.norm[first, j]
            v = np.where(part[:, r + 1] > 0.5, np.inf, v)
            i = int(np.argmin(v))
            if not np.isfinite(v[i]):
                continue
            mask = _subtree_mask(order, parent, int(order[1:][i]), m)
            mine = mask if not flip else ~mask
            rest_units = units[~mine]
            pair = _split_pair(s, rest_units, others[0], others[1], max(4, trees // 3), moved_base + float(part[i, r]))
            if pair is None:
                continue
            total_v = (
                float(v[i])
                - float(
                    sum(
                        (max(remain[i, j] - hi_o[j], 0) + max(lo_o[j] - remain[i, j], 0)) / s.norm[first, j]
                        for j in range(r)
                    )
                )
                + pair[0]
            )
            travel = float(part[i, r + 2]) + pair[1]
            if best is None or (total_v, travel) < best[:2]:
                plan = {int(u): first for u in units[mine].tolist()}
                plan.update({int(u): others[0] if pair[2][k] else others[1] for k, u in enumerate(rest_units.tolist())})
                best = (total_v, travel, plan)
        if best is not None and best[0] <= EPS:
            break
    return best


def _swap_pass(s: _Search, deadline: float, now: Callable[[], float]) -> int:
    """Swaps across a border (u from t to z and w from z to t at once): the fine-tuning a
    single move cannot do when every unit overshoots the band. Both territories stay
    connected (checked move by move); returns the swaps made."""
    graph = s.seat_graph() if s.contiguity else {t: set(range(s.k)) - {t} for t in range(s.k)}
    made = 0
    order = sorted(range(s.k), key=lambda t: -s.seat_violation(t, s.load[t]))
    for t in order:
        if now() > deadline or s.seat_violation(t, s.load[t]) <= EPS:
            break
        if s.closed[t]:
            continue
        for z in sorted(graph[t]):
            if s.closed[z] or now() > deadline:
                continue
            out_t = [u for u in _border(s, t, z) if s.can_leave(u) and u != s.anchor[t]]
            out_z = [w for w in _border(s, z, t) if s.can_leave(w) and w != s.anchor[z]]
            if not out_t or not out_z:
                continue
            la, lb = s.load[t], s.load[z]
            base = s.seat_violation(t, la) + s.seat_violation(z, lb)
            options = []
            for u in out_t:
                vu = s.vals[u]
                for w in out_z:
                    vw = s.vals[w]
                    na = [la[j] - vu[j] + vw[j] for j in range(s.r)]
                    nb = [lb[j] + vu[j] - vw[j] for j in range(s.r)]
                    dv = s.seat_violation(t, na) + s.seat_violation(z, nb) - base
                    if s.clash and (u in s.clash or w in s.clash):
                        dv += s.clash_cost([u], z, leaving=w)
                    if dv < -1e-12:
                        options.append((dv, u, w))
            options.sort()
            for _, u, w in options[:20]:
                before = s.violation() + (s.price(s.moved) if s.budget is not None else 0.0)
                before += CLASH_COST * (s.clash_count(t) + s.clash_count(z)) if s.clash else 0.0
                s.move_quiet(u, z)
                touches = any(s.assign[y] == t for y in s.nbrs[w]) if s.contiguity else True
                if touches and s.can_leave(w):
                    s.move_quiet(w, t)
                    after = s.violation() + (s.price(s.moved) if s.budget is not None else 0.0)
                    after += CLASH_COST * (s.clash_count(t) + s.clash_count(z)) if s.clash else 0.0
                    if after < before - 1e-12:
                        made += 1
                        break
                    s.move_quiet(w, z)
                s.move_quiet(u, t)
            if s.seat_violation(t, s.load[t]) <= EPS:
                break
    return made


def _recombine_pass(s: _Search, deadline: float, now: Callable[[], float], trees: int = 24) -> int:
    """Recombine each territory missing a band (worst first) with its neighbours, the
    best-placed first; returns how many pairs improved."""
    graph = s.seat_graph() if s.contiguity else {t: set(range(s.k)) - {t} for t in range(s.k)}
    changed = 0
    order = sorted(range(s.k), key=lambda t: -s.seat_violation(t, s.load[t]))
    for t in order:
        if now() > deadline:
            break
        if s.seat_violation(t, s.load[t]) <= EPS:
            if s.budget_violation(s.moved) <= EPS:
                break
            continue
        if s.closed[t]:
            continue
        over = s.r > 0 and s.mid_l[t][0] == s.mid_l[t][0] and s.load[t][0] > s.mid_l[t][0]

        def ratio(z: int) -> float:
            mid = s.mid_l[z][0] if s.r else float("nan")
            return s.load[z][0] / mid if mid == mid and mid else 1.0

        near = sorted((z for z in graph[t] if not s.closed[z]), key=lambda z: ratio(z) if over else -ratio(z))
        done = False
        for z in near:
            if now() > deadline:
                break
            if _recombine(s, [t, z], trees):
                changed += 1
                done = True
                break
        if not done and s.seat_violation(t, s.load[t]) > EPS:
            # a pair cannot fix it: three territories (t, a neighbour, and a neighbour of either)
            tried = 0
            for z in near:
                for y in sorted((graph[t] | graph[z]) - {t, z}):
                    if tried >= 6 or now() > deadline or s.closed[y]:
                        continue
                    tried += 1
                    if _recombine(s, [t, z, y], trees):
                        changed += 1
                        done = True
                        break
                if done or tried >= 6:
                    break
    return changed


def _window_pass(
    s: _Search, deadline: float, now: Callable[[], float], *, size: int, workers: int, deterministic: bool
) -> int:
    """CP-SAT windows (:mod:`.windows`, exact contiguity by flows) around the territories
    that miss a band, worst first; returns how many improved the plan."""
    graph = s.seat_graph() if s.contiguity else {t: set(range(s.k)) - {t} for t in range(s.k)}
    order = sorted(
        (t for t in range(s.k) if not s.closed[t] and s.seat_violation(t, s.load[t]) > EPS),
        key=lambda t: -s.seat_violation(t, s.load[t]),
    )
    if not order and s.budget_violation(s.moved) > EPS:
        # the budget alone: the territories holding most value owned by another rep
        held = [0.0] * s.k
        for u, t in enumerate(s.assign):
            if s.owner[u] >= 0 and s.owner[u] != t:
                held[t] += s.dvalue[u]
        order = sorted((t for t in range(s.k) if held[t] > 0 and not s.closed[t]), key=lambda t: -held[t])
    improved = 0
    for t in order[:4]:
        left = deadline - now()
        if left <= 0:
            break
        window = grow_window(s, t, graph, size)
        key = tuple(sorted(window))
        if s.clock - s.failed_windows.get(key, -(10**9)) < 50:
            continue  # tried in vain, and little has moved since
        limit = min(0.5, s.window_budget) if deterministic else min(4.0, max(0.5, left / 4))
        if deterministic and (limit <= 0.05 or s.window_count <= 0):
            break
        if window_solve(s, window, time_limit=limit, workers=workers, deterministic=deterministic):
            improved += 1
            graph = s.seat_graph() if s.contiguity else graph
        else:
            s.failed_windows[key] = s.clock
    return improved


def _worst_row(s: _Search) -> int:
    load = np.array(s.load).reshape(s.k, s.r)
    over = np.maximum(load - s.hi, 0) + np.maximum(s.lo - load, 0)
    per_row = (over / s.norm).sum(axis=0)
    return int(np.argmax(per_row))


def balance_search(
    problem: Problem,
    spec: ModelSpec,
    start: NDArray[np.int64],
    *,
    pos: NDArray[np.float64] | None = None,
    contiguity: bool | None = None,
    deadline: float,
    now: Callable[[], float] = time.perf_counter,
    max_rounds: int = 200,
    max_stall: int = 25,
    seed: int = 0,
    anchors: NDArray[np.int64] | None = None,
    workers: int = 2,
    deterministic: bool = False,
    relink_budget: bool = True,
    economy: float = ECONOMY,
    windows: bool = True,
    corridors: bool = False,
    budget_missed: threading.Event | None = None,
) -> SearchResult:
    """Search the real problem for a plan meeting every hard band, cap and budget.

    Parameters
    ----------
    problem, spec
        As for the model; ``spec.exempt`` seats keep their locked units only.
    start : ndarray of int
        Seat of each unit to start from (-1: none yet, e.g. a removed rep's accounts).
    pos : ndarray, optional
        Seat positions [km] for travel tie-breaks (home bases by default).
    contiguity : bool, optional
        Keep every territory connected (default: ``spec.contiguity``).
    deadline : float
        Stop at this value of ``now()`` (the caller's clock: wall or deterministic).
    anchors : ndarray of int, optional
        A unit per seat whose piece is kept when a start territory is in several pieces.
    workers, deterministic
        For the CP-SAT windows (deterministic: one worker, deterministic time).
    windows : bool
        Use CP-SAT windows when the cheaper moves stall (off where a first plan is wanted
        fast: they cost the transport start 15 s on the US counties).
    economy : float
        Cost, in shares of a target, of each target's worth of value moved away from
        today's owners (under a budget).
    relink_budget : bool
        Under a disruption budget, when the search from ``start`` misses: balance first
        without the budget, then bring the value moved back within it (:func:`_relink`).
    corridors : bool
        Under a disruption budget, start with transfers through corridors across the
        territories between (:mod:`.corridors`): for budgets that today's borders cannot
        keep.
    budget_missed : threading.Event, optional
        Set once the relink has balanced the map with the budget set aside and a way back
        within the budget has missed (the miss is then on the budget alone).
    """
    contiguity = spec.contiguity if contiguity is None else contiguity
    pos = _finite_positions(problem, problem.seat_xy if pos is None else pos, start)
    s = _Search(problem, spec, pos, contiguity and problem.edges is not None, seed)
    s.economy = economy
    start, detached = _start(problem, s, start, pos, anchors)
    counts = _Counts()
    relink = (s.budget is not None or s.rep_limit is not None) and relink_budget
    final_deadline = deadline
    if corridors and relink and s.contiguity and s.violation() > EPS:
        _corridor_start(problem, s, deadline, now, deterministic, counts)
    if relink:
        # a realignment: this search from today's plan with the budget priced in gets
        # part of the time; if it misses, the plan is first balanced ignoring the budget
        # and then the value moved is brought back within it (see _relink)
        deadline = now() + PRICED_SHARE * max(0.0, deadline - now())
    # on a large map the priced search's windows take most of its short time and gain
    # least (see PRICED_WINDOWS_UNITS)
    priced_windows = windows and not (relink and s.budget is not None and s.n > PRICED_WINDOWS_UNITS)
    best_v, best_assign = _rounds(
        s, deadline, now, max_rounds, max_stall, workers, deterministic, counts, windows=priced_windows
    )
    balanced: NDArray[np.int64] | None = None
    pocket = s.pocket
    if relink and best_v > EPS and pocket is None and now() < final_deadline:
        found = _relink(
            problem,
            spec,
            np.asarray(best_assign, dtype=np.int64),
            pos=pos,
            deadline=final_deadline,
            now=now,
            seed=seed,
            anchors=anchors,
            workers=workers,
            deterministic=deterministic,
            max_rounds=max_rounds,
            max_stall=max_stall,
            budget_missed=budget_missed,
        )
        if found is not None and found.pocket is not None:
            pocket = found.pocket
        elif found is not None:
            best_v, best_assign, balanced = _take_relinked(found, best_v, best_assign, counts)
    return _searched(problem, spec, s, best_v, best_assign, counts, detached, balanced, pocket)


def _searched(
    problem: Problem,
    spec: ModelSpec,
    s: _Search,
    best_v: float,
    best_assign: list[int],
    counts: _Counts,
    detached: tuple[int, ...],
    balanced: NDArray[np.int64] | None,
    pocket: Conflict | None,
) -> SearchResult:
    """The search's answer: its best plan, with the pieces and split families it kept."""
    # the moves keep each territory in one piece and each family whole; a start whose locked
    # units no path could join keeps its pieces, a family no seat takes whole stays split:
    # each counts a whole target (never "a plan")
    final = np.asarray(best_assign, dtype=np.int64)
    best_v += _split_families(problem, final, np.asarray(s.in_family, dtype=bool))
    pieces = territory_pieces(problem, final) if s.contiguity else None
    if pieces is not None:
        best_v += int((pieces - 1).sum())
    return SearchResult(
        assign=final,
        violation=float(best_v),
        moves=counts.moves,
        rounds=counts.rounds,
        recombinations=counts.recombinations,
        detached=tuple(str(problem.seat_ids[t]) for t in detached),
        windows=counts.windows,
        balanced=balanced,
        balanced_moved=moved_share(problem, spec, balanced) if balanced is not None else None,
        corridors=counts.corridors,
        corridor_plan=counts.corridor_plan,
        pocket=pocket,
    )


def _split_families(problem: Problem, assign: NDArray[np.int64], in_family: NDArray[np.bool_]) -> int:
    """How many families (of the units in ``in_family``) ``assign`` splits."""
    if not in_family.any():
        return 0
    pairs = np.unique(np.column_stack([problem.family[in_family], assign[in_family]]), axis=0)
    return int(len(pairs) - len(np.unique(pairs[:, 0])))


def _finite_positions(
    problem: Problem, pos: NDArray[np.float64], start: NDArray[np.int64] | None
) -> NDArray[np.float64]:
    """Seat positions for the travel tie-breaks, each seat without one (a seat without a
    home base, when no centres are given: the realignment pre-check's search) at the middle
    of its units in ``start`` (of the map when it has none). NaN there crashed the CP-SAT
    windows' objective (a review's realignment of 7 units, 3 seats without homes)."""
    pos = np.asarray(pos, dtype=float)
    bad = ~np.isfinite(pos).all(axis=1)
    if not bad.any():
        return pos
    pos = pos.copy()
    middle = problem.unit_xy.mean(axis=0)
    for t in np.flatnonzero(bad).tolist():
        members = np.flatnonzero(np.asarray(start) == t) if start is not None else np.zeros(0, dtype=np.int64)
        pos[t] = problem.unit_xy[members].mean(axis=0) if len(members) else middle
    return pos


def moved_share(problem: Problem, spec: ModelSpec, assign: NDArray[np.int64]) -> float:
    """Share of today's booked disruption value that ``assign`` moves (what a budget counts)."""
    value = spec.disruption_value
    if value is None:
        return 0.0
    booked = float(value[problem.owner >= 0].sum())
    return float(value[problem.reassigned(assign)].sum()) / booked if booked > 0 else 0.0


@dataclass
class _Counts:
    """What a search did (reported in :class:`SearchResult`)."""

    moves: int = 0
    rounds: int = 0
    recombinations: int = 0
    windows: int = 0
    corridors: int = 0
    corridor_plan: float | None = None  # share of the booked value the corridor plan moves


def _corridor_start(
    problem: Problem,
    s: _Search,
    deadline: float,
    now: Callable[[], float],
    deterministic: bool,
    counts: _Counts,
) -> None:
    """A realignment's start through corridors between territories that do not touch today
    (:mod:`.corridors`), on :data:`CORRIDOR_SHARE` of the time, when a hard band is on the
    disruption measure itself."""
    from .corridors import corridor_start

    row = _value_row(s)
    if row is None:
        return
    done = corridor_start(s, row, now() + CORRIDOR_SHARE * max(0.0, deadline - now()), now, deterministic=deterministic)
    counts.moves += done.moves
    counts.corridors += done.corridors
    booked = float(np.asarray(s.dvalue)[problem.owner >= 0].sum())
    if done.planned is not None and booked > 0:
        counts.corridor_plan = done.planned / booked


def _start(
    problem: Problem,
    s: _Search,
    start: NDArray[np.int64],
    pos: NDArray[np.float64],
    anchors: NDArray[np.int64] | None,
) -> tuple[NDArray[np.int64], tuple[int, ...]]:
    """The search's state at ``start``: locks applied, every territory one piece (else
    units without a seat to the nearest), every open seat given a unit, the anchors set.
    Returns the start and the seats whose territory was not connected."""
    start = np.asarray(start, dtype=np.int64).copy()
    locked = problem.lock >= 0
    start[locked] = problem.lock[locked]
    closed = np.asarray(s.closed, dtype=bool)
    families = np.asarray(s.in_family, dtype=bool)
    frozen = locked | families
    if families.any():
        _whole_families(problem, s, start)
    detached: tuple[int, ...] = ()
    if s.contiguity:
        start, detached = connected_start(problem, start, anchors=anchors, locked=frozen, closed=closed)
    elif (start < 0).any():
        rest = np.flatnonzero(start < 0)
        d = np.linalg.norm(problem.unit_xy[rest][:, None, :] - pos[None, :, :], axis=2)
        if not closed.all():
            d[:, closed] = np.inf
        start[rest] = np.argmin(d, axis=1)
    if families.any() and _whole_families(problem, s, start) and s.contiguity:
        # a family of units without a seat today was handed out unit by unit: whole again,
        # and the territories it left or joined made one piece again
        start, more = connected_start(problem, start, anchors=anchors, locked=frozen, closed=closed)
        detached = tuple(sorted({*detached, *more}))
    start = _seed_empty(problem, s, start)
    s.reset(start)
    if anchors is not None:
        s.anchor = [int(x) if x >= 0 and start[x] == t else -1 for t, x in enumerate(np.asarray(anchors).tolist())]
    return start, detached


def _whole_families(problem: Problem, s: _Search, start: NDArray[np.int64]) -> bool:
    """Put each family that ``start`` splits (today's alignment can) on one seat, in place:
    the seat holding most of its value among those every member may take (its locked
    member's seat when it has one). The search never moves a family's units one by one,
    so a split it starts from would stay split (a realignment's start from today's books
    gave a plan the audit failed: "families: 1 split"). Members without a seat yet (-1)
    join the others' seat; a family none of whose members has a seat waits for the next
    call. Returns whether a family moved."""
    fam = np.flatnonzero(np.asarray(s.in_family, dtype=bool))
    moved = False
    ids = problem.family[fam]
    value = np.asarray(s.dvalue, dtype=float) + 1e-9
    for f in np.unique(ids).tolist():
        members = fam[ids == f]
        seats = np.unique(start[members])
        if len(seats) <= 1 and seats[0] >= 0:
            continue
        pinned = np.unique(problem.lock[members][problem.lock[members] >= 0])
        offered = pinned if len(pinned) else seats[seats >= 0]
        group = members.tolist()
        options = [int(t) for t in offered.tolist() if s.family_takes(group, int(t))]
        if options:
            held = [float(value[members[start[members] == t]].sum()) for t in options]
            start[members] = options[int(np.argmax(held))]
            moved = True
            continue
        if len(pinned) or not (start[members] >= 0).any():
            continue  # no seat takes them all: the audit says so if the plan keeps the split
        # none of the seats holding them may serve every member (skills, exclusions): the
        # seat that may, whose territory touches the family most, else the nearest
        others = [t for t in range(s.k) if s.family_takes(group, t)]
        if not others:
            continue
        around = [w for u in members.tolist() for w in s.nbrs[u]]
        touch = np.bincount(start[around][start[around] >= 0], minlength=s.k)
        middle = problem.unit_xy[members].mean(axis=0)
        best = max(others, key=lambda t: (touch[t], -float(np.linalg.norm(s.pos[t] - middle))))
        start[members] = best
        moved = True
    return moved


def _rounds(
    s: _Search,
    deadline: float,
    now: Callable[[], float],
    max_rounds: int,
    max_stall: int,
    workers: int,
    deterministic: bool,
    counts: _Counts,
    windows: bool = True,
) -> tuple[float, list[int]]:
    """Rounds of descent, recombination, swaps, CP-SAT windows and planned transfers until
    every rule holds, the deadline, ``max_rounds`` or ``max_stall`` rounds without
    progress; returns the best violation and its plan."""
    best_v, best_assign = s.violation(), list(s.assign)
    stall = 0
    while now() < deadline and best_v > EPS and counts.rounds < max_rounds:
        counts.moves += _descend(s, deadline, now, None)
        if s.families and s.violation() > EPS:
            moved = _family_pass(s)
            if moved:
                counts.moves += moved + _descend(s, deadline, now, None)
        v = s.violation()
        if v <= EPS or now() > deadline:
            break
        counts.rounds += 1
        # recombine each territory that misses a band with a neighbour (spanning-tree cuts;
        # more trees while the search stalls)
        counts.recombinations += _recombine_pass(s, deadline, now, trees=24 if stall < 3 else 64)
        if s.violation() > EPS:
            counts.moves += _swap_pass(s, deadline, now)
        if windows and s.violation() > EPS and (stall or s.violation() > 0.7 * v):
            # stalled or slow: CP-SAT windows around the worst territories (exact contiguity)
            counts.windows += _window_pass(
                s, deadline, now, size=3 + min(stall, 3), workers=workers, deterministic=deterministic
            )
        v2 = s.violation()
        if s.r and v2 > EPS and v2 > 0.7 * v:
            # little progress: plan the transfers between adjacent territories, move them
            arcs = _transfers(s, _worst_row(s))
            counts.moves += _realise(s, arcs, _worst_row(s), deadline, now)
        v = s.violation()
        if v < best_v - 1e-12:
            best_v, best_assign, stall = v, list(s.assign), 0
        else:
            stall += 1
            if stall >= POCKET_STALL and _pocket(s, deadline, now, deterministic):
                break
            if stall > max_stall:
                break
    if s.violation() < best_v:
        best_v, best_assign = s.violation(), list(s.assign)
    if best_v > EPS and s.clash and s.budget is None and s.rep_limit is None and now() < deadline:
        best_v, best_assign = _closest_with_clashes(s, best_v, best_assign, deadline, now)
    return best_v, best_assign


def _closest_with_clashes(
    s: _Search, best_v: float, best_assign: list[int], deadline: float, now: Callable[[], float]
) -> tuple[float, list[int]]:
    """No plan found: on a map with no plan at all the closest plan may hold a clashing
    pair, which the search's costs keep it from, so one last descent from its best plan
    without them; kept when it is closer (what "closest plan" then reports)."""
    clash = s.clash
    s.clash = {}
    s.reset(np.asarray(best_assign, dtype=np.int64))
    _descend(s, deadline, now, None)
    if s.violation() < best_v - 1e-12:
        best_v, best_assign = s.violation(), list(s.assign)
    s.clash = clash
    s.reset(np.asarray(s.assign, dtype=np.int64))
    return best_v, best_assign


def _pocket(s: _Search, deadline: float, now: Callable[[], float], deterministic: bool) -> bool:
    """Whether the map provably has no plan (:func:`~.pockets.find_pocket` around the
    territories outside a band; each region is tried once per search)."""
    if s.pocket is not None:
        return True
    if not s.contiguity or sum(s.seat_violation(t, s.load[t]) for t in range(s.k)) <= EPS:
        return False  # the budget alone misses: no pocket to look for
    if s.pocket_time <= 0.5:
        return False
    start = now()
    until = min(deadline, start + min(s.pocket_time, max(1.0, (deadline - start) / 3)))
    # seed 0: the proof leaves the search's own random stream alone
    found = find_pocket(s, deadline=until, now=now, seed=0, deterministic=deterministic, tried=s.pocket_tried)
    s.pocket_time -= POCKET_TIME / POCKET_TRIES if deterministic else now() - start
    if found is not None:
        s.pocket = found.conflict(s)
    return s.pocket is not None


def _take_relinked(
    found: SearchResult, best_v: float, best_assign: list[int], counts: _Counts
) -> tuple[float, list[int], NDArray[np.int64] | None]:
    """The better of the search's plan and the relinked one, and the relinked plan as the
    least the search could move when the budget is still missed (it meets every band:
    reduce_movement's violation is the budget's alone)."""
    if found.violation < best_v:
        best_v, best_assign = found.violation, found.assign.tolist()
    counts.moves += found.moves
    counts.rounds += found.rounds
    counts.windows += found.windows
    return best_v, best_assign, (found.assign if best_v > EPS else None)


def _value_row(s: _Search) -> int | None:
    """The row of the hard band on the disruption measure itself (None: no such band)."""
    value = np.asarray(s.dvalue)
    if not value.any():
        return None
    for j in range(s.r):
        if np.allclose(s.values[:, j], value):
            return j
    return None


def reduce_try(n_units: int) -> float:
    """Wall-clock seconds of one reduction try on a map of ``n_units`` (:data:`REDUCE_TRY`)."""
    return float(np.clip(REDUCE_TRY * n_units / REDUCE_TRY_UNITS, REDUCE_TRY_MIN, REDUCE_TRY))


def _relink(
    problem: Problem,
    spec: ModelSpec,
    assign: NDArray[np.int64],
    *,
    pos: NDArray[np.float64],
    deadline: float,
    now: Callable[[], float],
    seed: int,
    anchors: NDArray[np.int64] | None,
    workers: int,
    deterministic: bool,
    max_rounds: int,
    max_stall: int,
    budget_missed: threading.Event | None = None,
) -> SearchResult | None:
    """Balance ``assign`` ignoring the budget, then move value back to its owners while every
    band holds (:func:`reduce_movement`); the result that moves least, None when the plan
    could not be balanced.

    Wall-clock mode: each balanced plan gets up to :data:`REDUCE_RESTARTS` reductions of
    :func:`reduce_try` seconds at most (or :data:`REDUCE_SHARE` of the time left, when
    longer), each from another seed, then the map is balanced again from
    another seed while time is left (at most :data:`RELINK_TRIES` balancings). Deterministic
    mode: one balancing and one reduction on the time left.

    (Balancing first under a looser budget, 1.5 times it, was tried on the US realignment at
    15 %: the balancing then failed within its time, as with the economy term kept. So was
    balancing first only near the territories that miss a band, every other unit locked:
    on that case it failed in 6 of 7 traced solves, 20 s each, which the restarts use better.)"""
    free = replace(spec, disruption_max=None, disruption_per_rep=None, disruption_rep_limit=None)
    best: SearchResult | None = None
    attempt = -1
    while now() < deadline and (best is None or best.violation > EPS):
        attempt += 1
        if attempt >= (1 if deterministic else RELINK_TRIES):
            break
        # the whole map, again from another seed while time is left
        balanced = balance_search(
            problem,
            free,
            assign,
            pos=pos,
            deadline=now() + 2 / 3 * max(0.0, deadline - now()),
            now=now,
            max_rounds=max_rounds,
            max_stall=max_stall,
            seed=seed + 101 + attempt,
            anchors=anchors,
            workers=workers,
            deterministic=deterministic,
            relink_budget=False,
        )
        if balanced.pocket is not None:
            return balanced  # no plan exists: the caller says so
        if balanced.violation > EPS:
            continue
        for restart in range(1 if deterministic else REDUCE_RESTARTS):
            if now() >= deadline or (best is not None and best.violation <= EPS):
                break
            # wall-clock mode: short reductions from the same balanced plan with other
            # seeds (the way back depends on its first choices, see REDUCE_TRY)
            until = (
                deadline
                if deterministic
                else min(deadline, now() + max(reduce_try(problem.n_units), REDUCE_SHARE * (deadline - now())))
            )
            found = reduce_movement(
                problem,
                spec,
                balanced.assign,
                pos=pos,
                deadline=until,
                now=now,
                seed=seed + 202 + attempt + 1000 * restart,
                workers=workers,
                deterministic=deterministic,
                max_rounds=max_rounds,
                anchors=anchors,
            )
            if found.violation > EPS and not deterministic and deadline - now() >= 3.0:
                found = _band(problem, spec, found, pos=pos, deadline=deadline, now=now, seed=seed, workers=workers)
            if best is None or found.violation < best.violation:
                best = found
            if found.violation > EPS and budget_missed is not None:
                budget_missed.set()
    return best


def _band(
    problem: Problem,
    spec: ModelSpec,
    found: SearchResult,
    *,
    pos: NDArray[np.float64],
    deadline: float,
    now: Callable[[], float],
    seed: int,
    workers: int,
) -> SearchResult:
    """A reduction that stopped just over the budget (every band met): the border band's
    CP-SAT model (:mod:`.band`) for up to :data:`~.band.BAND_TRY` seconds; its plan when it
    moves less."""
    if spec.disruption_value is None or spec.disruption_max is None:
        return found
    booked = float(spec.disruption_value[problem.owner >= 0].sum())
    over = moved_share(problem, spec, found.assign) - spec.disruption_max / max(booked, 1e-12)
    if over > BAND_NEAR:
        return found
    s = _Search(problem, spec, pos, spec.contiguity and problem.edges is not None, seed)
    s.reset(np.asarray(found.assign, dtype=np.int64))
    if not s.contiguity or s.violation() <= EPS:
        return found
    plan = band_polish(s, deadline=min(deadline, now() + BAND_TRY), now=now, workers=workers, seed=seed)
    if plan is None:
        return found
    s.reset(plan)
    return replace(found, assign=plan, violation=float(s.violation()), windows=found.windows + 1)


def _return_home(s: _Search, deadline: float, now: Callable[[], float]) -> int:
    """Single moves of units back to their owner's territory (it touches them) that keep
    both territories in every band and connected; the most valuable first."""
    away = [u for u in range(s.n) if s.owner[u] >= 0 and s.assign[u] != s.owner[u] and s.dvalue[u] > 0]
    away.sort(key=lambda u: -s.dvalue[u])
    moves = 0
    for u in away:
        if now() > deadline:
            break
        a, o = s.assign[u], s.owner[u]
        if s.assign[u] == o or not s.eligible(u, o) or s.tabu.get(u, 0) > s.clock:
            continue
        if s.contiguity and not any(s.assign[z] == o for z in s.nbrs[u]):
            continue
        val = s.vals[u]
        na = [s.load[a][j] - val[j] for j in range(s.r)]
        nb = [s.load[o][j] + val[j] for j in range(s.r)]
        if s.seat_violation(a, na) > EPS or s.seat_violation(o, nb) > EPS:
            continue
        if u == s.anchor[a] or not s.can_leave(u):
            continue
        s.move_quiet(u, o)
        moves += 1
    return moves


def _search_from(
    problem: Problem,
    spec: ModelSpec,
    assign: NDArray[np.int64],
    pos: NDArray[np.float64] | None,
    seed: int,
    anchors: NDArray[np.int64] | None,
) -> _Search:
    """The search's state at ``assign`` (seat positions: ``pos``, home bases by default);
    under per-rep limits each seat's anchor among ``anchors`` that is on its rep's own book
    and in its territory stays there (see :func:`_split_pair`)."""
    pos = problem.seat_xy if pos is None else pos
    s = _Search(problem, spec, pos, spec.contiguity and problem.edges is not None, seed)
    s.reset(np.asarray(assign, dtype=np.int64))
    if anchors is not None and s.rep_limit is not None:
        s.anchor = [
            x if x >= 0 and s.owner[x] == t and s.assign[x] == t else -1
            for t, x in enumerate(np.asarray(anchors).tolist())
        ]
    return s


#: Wall seconds one whole-map window of :func:`repair_whole` gets at most.
WHOLE_WINDOW = 8.0
#: Whole-map windows of :func:`repair_whole` tried at most.
WHOLE_TRIES = 3


def repair_whole(
    problem: Problem,
    spec: ModelSpec,
    assign: NDArray[np.int64],
    *,
    pos: NDArray[np.float64] | None = None,
    deadline: float,
    now: Callable[[], float] = time.perf_counter,
    charge: Callable[[float], None] = lambda used: None,
    seed: int = 0,
    workers: int = 2,
    deterministic: bool = False,
    anchors: NDArray[np.int64] | None = None,
) -> SearchResult:
    """A small map's repair of a near miss: one CP-SAT window over every open territory at
    once (:mod:`.windows`: exact contiguity by flows, every band and the budget with slack,
    the plan as the hint, applied only when it is better), solved again while it improves,
    until every rule holds, :data:`WHOLE_TRIES` solves or ``deadline``. CP-SAT runs only its
    large-neighbourhood search here: from a complete plan that misses by little, that is what
    closes the gap.

    The search's own windows re-cut three to six territories for up to 4 s; when what is
    left needs every territory to give a little at once, only the whole map finds it.
    Measured on Indiana's counties (10 reps, a 10 % budget, a roster the bench never used;
    2026-12-01): the search's best plan missed by 0.011 of a target; one window of 4 s closed
    it (two with CP-SAT's default portfolio). Where the search ends far outside (0.1-0.26 of a
    target: Georgia-8, Georgia-10, Florida-16), four windows of 4 s gained nothing.

    Deterministic mode solves by deterministic time and passes what CP-SAT used to
    ``charge`` (the caller's clock). Under per-rep limits each seat's anchor stays on it,
    as in :func:`reduce_movement`."""
    s = _search_from(problem, spec, assign, pos, seed, anchors)
    seats = [t for t in range(s.k) if not s.closed[t]]
    windows = tries = 0
    while s.violation() > EPS and tries < WHOLE_TRIES:
        limit = min(WHOLE_WINDOW, deadline - now())
        if limit < 0.5:
            break
        tries += 1
        before = s.window_budget
        improved = window_solve(s, seats, time_limit=limit, workers=workers, deterministic=deterministic, lns_only=True)
        if deterministic:
            charge(max(0.0, before - s.window_budget))
        if not improved:
            break
        windows += 1
    return SearchResult(
        assign=np.asarray(s.assign, dtype=np.int64),
        violation=float(s.violation()),
        moves=0,
        rounds=tries,
        windows=windows,
        label=f"CP-SAT over the whole map (exact contiguity by flows, the bands and the budget with slack; {tries} solve(s))",
    )


def reduce_movement(
    problem: Problem,
    spec: ModelSpec,
    assign: NDArray[np.int64],
    *,
    pos: NDArray[np.float64] | None = None,
    deadline: float,
    now: Callable[[], float] = time.perf_counter,
    seed: int = 0,
    workers: int = 2,
    deterministic: bool = False,
    max_rounds: int = 200,
    anchors: NDArray[np.int64] | None = None,
) -> SearchResult:
    """From a plan meeting every band, bring the value moved from today's owners down to
    the budget while every band holds and every territory stays connected: units return
    home by single moves, chains of returns around cycles of territories that no pair could
    return alone (:mod:`.returns`), adjacent pairs that hold each other's accounts are
    re-cut along spanning trees that follow today's books, and CP-SAT windows
    (:mod:`.windows`, bands hard) re-cut the pairs and triples that hold most, each for the
    least value moved.
    The violation returned is the budget's alone.

    Under per-rep limits each seat's anchor among ``anchors`` (the unit of its home base or
    centre) that is on its rep's own book and in its territory stays there (see
    :func:`_split_pair`)."""
    s = _search_from(problem, spec, assign, pos, seed, anchors)
    moves = windows = rounds = recombinations = 0
    stall = 0
    failed: set[tuple[int, ...]] = set()
    while now() < deadline and s.violation() > EPS and rounds < max_rounds and stall < 3:
        rounds += 1
        before = s.moved
        moves += _return_home(s, deadline, now)
        if s.violation() > EPS:
            moves += return_chains(s, deadline, now)
        held: dict[tuple[int, int], float] = {}
        for u, t in enumerate(s.assign):
            o = s.owner[u]
            if o >= 0 and o != t and not s.closed[t] and not s.closed[o]:
                held[t, o] = held.get((t, o), 0.0) + s.dvalue[u]
        graph = s.seat_graph() if s.contiguity else {t: set(range(s.k)) - {t} for t in range(s.k)}
        # a rep whose book is moved beyond its own limit first, then the largest holdings
        over = [s.rep_limit is not None and s.out_moved[o] > s.rep_limit[o] + 1e-9 for o in range(s.k)]
        pairs = sorted(held, key=lambda key: (not over[key[1]], -held[key]))
        # pairs that hold each other's accounts: re-cut along trees that follow the books
        for t, o in pairs[:40]:
            if now() > deadline or s.violation() <= EPS:
                break
            if o in graph[t] and _recombine(s, [t, o], 16 + 16 * stall, hard=True):
                recombinations += 1
        # then CP-SAT windows (bands hard) around the largest holdings not yet tried
        tried = 0
        for t, o in pairs:
            if tried >= 4 or now() > deadline or s.violation() <= EPS:
                break
            common = sorted(graph[t] & graph[o])
            window = [t, o] if o in graph[t] else [t, *common[:1], o] if common else []
            if not window:
                continue
            key = tuple(sorted(window))
            if key in failed:
                continue
            tried += 1
            limit = min(0.5, s.window_budget) if deterministic else min(REDUCE_WINDOW, max(0.5, (deadline - now()) / 4))
            if deterministic and (limit <= 0.05 or s.window_count <= 0):
                break
            if window_solve(s, window, time_limit=limit, workers=workers, deterministic=deterministic, hard_bands=True):
                windows += 1
            else:
                failed.add(key)
        stall = 0 if s.moved < before - 1e-9 * s.dnorm else stall + 1
    return SearchResult(
        assign=np.asarray(s.assign, dtype=np.int64),
        violation=float(s.violation()),
        moves=moves,
        rounds=rounds,
        recombinations=recombinations,
        windows=windows,
    )


def improve_travel(
    problem: Problem,
    spec: ModelSpec,
    assign: NDArray[np.int64],
    *,
    pos: NDArray[np.float64] | None = None,
    deadline: float,
    now: Callable[[], float] = time.perf_counter,
    seed: int = 0,
    trees: int = 16,
    max_passes: int = 30,
) -> NDArray[np.int64]:
    """Lower travel of a valid plan by recombining adjacent pairs of territories: each pair
    is re-cut along random spanning trees and the least-travel cut that keeps both in
    their bands (and the budget) replaces it. Every plan it returns is as valid as the
    one given (exact contiguity holds by construction)."""
    pos = problem.seat_xy if pos is None else pos
    s = _Search(problem, spec, pos, spec.contiguity and problem.edges is not None, seed)
    s.reset(np.asarray(assign, dtype=np.int64))
    if s.violation() > EPS:
        return np.asarray(assign, dtype=np.int64).copy()
    weight = np.asarray(s.weight)
    for _ in range(max_passes):
        graph = s.seat_graph() if s.contiguity else {t: set(range(s.k)) - {t} for t in range(s.k)}
        pairs = [(a, b) for a in range(s.k) for b in graph[a] if a < b and not s.closed[a] and not s.closed[b]]
        s.rng.shuffle(pairs)
        improved = 0
        for a, b in pairs:
            if now() > deadline:
                break
            current = np.asarray(s.assign)
            units = np.flatnonzero((current == a) | (current == b))
            if len(units) < 2:
                continue
            dist = np.linalg.norm(s.uxy[units] - s.pos[current[units]], axis=1)
            before = float((weight[units] * dist).sum()) / s.wnorm
            owner = problem.owner[units]
            dval = np.asarray(s.dvalue)[units]
            moved_base = s.moved - float(np.where((owner >= 0) & (current[units] != owner), dval, 0.0).sum())
            found = _split_pair(s, units, a, b, trees, moved_base, economy=False)
            if found is None or found[0] > EPS or found[3] >= before * (1 - 1e-9) - 1e-12:
                continue
            for i, u in enumerate(units.tolist()):
                want = a if found[2][i] else b
                if s.assign[u] != want:
                    s.move_quiet(u, want)
            improved += 1
        if not improved or now() > deadline:
            break
    out = np.asarray(s.assign, dtype=np.int64)
    return out if s.violation() <= EPS else np.asarray(assign, dtype=np.int64).copy()


def _seed_empty(problem: Problem, s: _Search, assign: NDArray[np.int64]) -> NDArray[np.int64]:
    """Give every open seat without a unit one unit to grow from: the eligible unit nearest
    its home (or, without one, the heaviest movable unit of the fullest territory)."""
    assign = assign.copy()
    counts = np.bincount(assign, minlength=problem.n_seats)
    for t in np.flatnonzero((counts == 0) & ~s.exempt):
        s.reset(assign)
        order = np.argsort(np.linalg.norm(problem.unit_xy - s.pos[t], axis=1), kind="stable")
        for u in order[:2000].tolist():
            if s.eligible(u, int(t)) and s.can_leave(u):
                assign[u] = t
                break
    return assign
