"""Centres of seats without a home base: seeding, medoids, kicks and re-seeds.

Seats with a home base sit at it (their centre is the unit nearest it); the others get a
centre unit chosen by weighted k-means++ and Lloyd steps, then moved by location-allocation
(:mod:`.strategies.location_allocation`) to the weighted medoid of their territory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem

if TYPE_CHECKING:
    from .context import SolveContext
    from .prepare import Prepared


def initial_centres(
    problem: Problem, weight: NDArray[np.float64], seed: int, *, exclude: NDArray[np.bool_] | None = None
) -> NDArray[np.int64]:
    """Centre unit per seat: seats with a home get the unit nearest it; the others are
    seeded by weighted k-means++ and a few Lloyd steps, then snapped to distinct units."""
    rng = np.random.default_rng(seed)
    xy = problem.unit_xy
    k = problem.n_seats
    centres = np.full(k, -1, dtype=np.int64)
    home = problem.has_home
    taken = set()
    for t in np.flatnonzero(home):
        centres[t] = int(np.argmin(np.linalg.norm(xy - problem.seat_xy[t], axis=1)))
    free = np.flatnonzero(~home)
    if len(free) == 0:
        return centres
    w = np.maximum(weight, 0) + 1e-12
    if exclude is not None:
        w = np.where(exclude, 1e-12, w)
    chosen: list[NDArray[np.float64]] = [problem.seat_xy[t] for t in np.flatnonzero(home)]
    pts: list[NDArray[np.float64]] = []
    for _ in free:
        if not chosen:
            i = int(rng.choice(len(xy), p=w / w.sum()))
        else:
            d2 = np.min(np.stack([((xy - c) ** 2).sum(axis=1) for c in chosen]), axis=0)
            p = w * d2
            i = int(rng.choice(len(xy), p=p / p.sum())) if p.sum() > 0 else int(rng.integers(len(xy)))
        chosen.append(xy[i])
        pts.append(xy[i])
    cent = np.array(pts)
    fixed = problem.seat_xy[home]
    for _ in range(10):  # Lloyd steps on the free centres, fixed homes attract too
        allc = np.vstack([fixed, cent]) if len(fixed) else cent
        lab = np.argmin(((xy[:, None, :] - allc[None, :, :]) ** 2).sum(axis=2), axis=1) - len(fixed)
        for j in range(len(cent)):
            mine = lab == j
            if mine.any():
                cent[j] = (xy[mine] * w[mine, None]).sum(axis=0) / w[mine].sum()
    for j, t in enumerate(free):
        d = np.linalg.norm(xy - cent[j], axis=1)
        for u in np.argsort(d, kind="stable"):
            if int(u) not in taken and (exclude is None or not exclude[u]):
                centres[t] = u
                taken.add(int(u))
                break
    return centres


def medoids(
    problem: Problem,
    assign: NDArray[np.int64],
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    exempt: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """Move each free seat's centre to the weighted medoid of its territory."""
    new = centres.copy()
    for t in np.flatnonzero(~problem.has_home & ~exempt):
        units = np.flatnonzero(assign == t)
        if len(units) == 0:
            continue
        units_c = units[np.argsort(-weight[units], kind="stable")[:2000]] if len(units) > 2000 else units
        new[t] = best_centre(problem, units, weight, units_c)[0]
    return new


def best_centre(
    problem: Problem, members: NDArray[np.int64], weight: NDArray[np.float64], candidates: NDArray[np.int64]
) -> tuple[int, float]:
    """The candidate unit with the least weighted distance from ``members`` (the first of
    ties), and that sum; candidates in blocks of 512, so members x 512 distances at a time."""
    xy = problem.unit_xy
    w = weight[members]
    best, cost = -1, np.inf
    for start in range(0, len(candidates), 512):
        block = candidates[start : start + 512]
        sums = (w[:, None] * np.linalg.norm(xy[members][:, None, :] - xy[block][None, :, :], axis=2)).sum(axis=0)
        i = int(np.argmin(sums))
        if sums[i] < cost:
            best, cost = int(block[i]), float(sums[i])
    return best, cost


def kick(
    problem: Problem,
    assign: NDArray[np.int64],
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    exempt: NDArray[np.bool_],
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Iterated local search for chosen centres: move one to a few free centres, each either
    to a random member of its own territory (the nearer half: a small shift) or, as a swap,
    to a unit drawn in proportion to how badly it is served now; the location-allocation
    loop then descends again from there."""
    new = centres.copy()
    free = np.flatnonzero(~problem.has_home & ~exempt)
    if len(free) == 0:
        return new
    size = int(rng.integers(1, max(1, len(free) // 8) + 1))
    taken = set(new.tolist())
    served = np.linalg.norm(problem.unit_xy - problem.unit_xy[new[assign]], axis=1) * weight
    served[list(taken)] = 0.0
    for t in rng.choice(free, size=min(size, len(free)), replace=False):
        if rng.random() < 0.5 and served.sum() > 0:
            # a swap: close this centre and open one where units are served worst
            # (drawn in proportion to weight x distance, as k-means++ seeds)
            options = [int(rng.choice(problem.n_units, p=served / served.sum()))]
        else:
            members = np.flatnonzero(assign == t)
            d = np.linalg.norm(problem.unit_xy[members] - problem.unit_xy[new[t]], axis=1)
            options = [int(u) for u in members[np.argsort(d, kind="stable")][1 : max(2, (len(members) + 1) // 2)]]
        options = [u for u in options if u not in taken]
        if options:
            taken.discard(int(new[t]))
            new[t] = options[int(rng.integers(len(options)))]
            taken.add(int(new[t]))
    return new


def reseed(
    problem: Problem,
    assign: NDArray[np.int64],
    centres: NDArray[np.int64],
    values: NDArray[np.float64],
    limits: NDArray[np.float64],
    exempt: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """Move the centre of each under-filled free seat into the most over-filled territory
    (its unit farthest from that territory's centre), as k-means does with empty clusters."""
    if values.shape[1] == 0:
        return centres
    k = problem.n_seats
    load = np.stack([np.bincount(assign, weights=values[:, j], minlength=k) for j in range(values.shape[1])], axis=1)
    fill = (load / np.maximum(limits, 1e-12)).max(axis=1)
    fill[exempt] = 1.0
    centres = centres.copy()
    taken = set(centres.tolist())
    for t in np.argsort(fill, kind="stable"):
        if problem.has_home[t] or exempt[t] or fill[t] > 0.8:
            continue
        donor = int(np.argmax(fill))
        if fill[donor] <= 1.0:
            break
        units = np.flatnonzero(assign == donor)
        d = np.linalg.norm(problem.unit_xy[units] - problem.unit_xy[centres[donor]], axis=1)
        for u in units[np.argsort(-d, kind="stable")]:
            if int(u) not in taken and problem.lock[u] < 0:
                taken.discard(int(centres[t]))
                centres[t] = u
                taken.add(int(u))
                fill[donor] = 1.0  # one re-seed per donor per round
                break
    return centres


#: Transport descent: the nearest seats each unit may ship to, the units around a centre it
#: may move to, and the integer steps of the flow and of the cost.
DESCENT_NEAR = 10
DESCENT_SHIFTS = 15
#: The transport descent of the centres (:func:`descend_centres`): its share of the time
#: limit at most (a third of the time left at most), and its evaluations in deterministic
#: mode (each a min-cost flow: 0.02 s on the US counties in 50 territories). Used by the
#: company-scale path between its first two allocation rounds: on the US counties in 50
#: territories without contiguity (150 s, 2026-11-29) 104.3 km against 106.2 km without it.
#: Tried and left out elsewhere: before location-allocation with contiguity (US, 50, 300 s:
#: 102.37 km both ways; its medoid steps pull the centres back) and at its first local
#: optimum (Texas 16 and Pennsylvania 10, 60 s: the same plans).
DESCENT_SHARE = 0.15
DESCENT_EVALS = 300
#: Above this many unit-seat pairs the descent is skipped (its distance matrix and flows:
#: 0.02 s and a few MB per try at 155,000 pairs; 5 million would be about 0.7 s and 300 MB).
DESCENT_MAX_PAIRS = 5_000_000
#: Seconds a try takes per unit-seat pair (0.02 s at 155,000 pairs here): in deterministic
#: mode the tries are counted, at most as many as 5 % of the time limit would pay for.
DESCENT_PAIR_SECONDS = 1.3e-7
#: And the fixed cost of a flow on top (building it in Python: 3-8 ms at 20,000 pairs, where
#: the pairs alone would say 2.6 ms; a review found deterministic searches 10x over budget).
FLOW_SECONDS = 0.005
_FLOW_STEPS = 1_000_000_000
_COST_STEPS = 100_000_000  # 1e9 flow steps x 1e8 cost steps stays within int64


def transport_flows(
    problem: Problem,
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    values: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    units: NDArray[np.int64],
    seats: NDArray[np.int64],
    near: int = DESCENT_NEAR,
) -> tuple[float, NDArray[np.int64], NDArray[np.float64]]:
    """The least travel of the transport relaxation with these centres: each unit's
    ``values`` shipped (split if need be) to its ``near`` nearest seats, every seat's intake
    within [low, high], each shipped share carrying the unit's weight times its distance to
    the seat's position (home base, else centre). An OR-Tools min-cost flow in integer steps.

    Returns the value (inf when the bands cannot be met this way), and per unit its
    ``near`` seats (positions in ``seats``) with the share of its value shipped to each
    (rows of a unit of no value: all to its nearest seat)."""
    from ortools.graph.python import min_cost_flow

    from ..model import seat_positions

    xy = problem.unit_xy[units]
    pos = seat_positions(problem, centres)[seats]
    n, m = len(units), len(seats)
    k = min(near, m)
    a = np.maximum(values[units], 0.0)
    total = float(a.sum())
    none = np.zeros((n, max(k, 0)), dtype=np.int64), np.zeros((n, max(k, 0)))
    if n == 0 or m == 0 or total <= 0:
        return np.inf, *none
    d = np.linalg.norm(xy[:, None, :] - pos[None, :, :], axis=2)
    nearest = np.argpartition(d, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (n, 1))
    dist = np.take_along_axis(d, nearest, axis=1)
    w = np.maximum(weight[units], 0.0)
    unit = _FLOW_STEPS / total
    supply = np.floor(a * unit).astype(np.int64)
    # units of no value (or too little for one flow step) ship nothing: each goes to its
    # nearest seat at its weight's cost (its cost per value would otherwise set the scale)
    shipped = supply > 0
    share = np.zeros((n, k))
    share[~shipped, np.argmin(dist[~shipped], axis=1)] = 1.0
    fixed = float((w[~shipped] * dist[~shipped].min(axis=1)).sum()) if (~shipped).any() else 0.0
    per = np.where(shipped, w / np.where(shipped, a, 1.0), 0.0)[:, None] * dist  # cost per value shipped
    lo = np.ceil(np.maximum(low[seats], 0.0) * unit).astype(np.int64)
    hi = np.floor(np.minimum(high[seats], 2 * total) * unit).astype(np.int64)
    if lo.sum() > supply.sum() or hi.sum() < supply.sum() or (hi < lo).any():
        return np.inf, nearest, share
    top = float(per[shipped].max()) if shipped.any() else 0.0
    scale = _COST_STEPS / top if top > 0 else 1.0
    flow = min_cost_flow.SimpleMinCostFlow()
    rows = np.flatnonzero(shipped)
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        np.repeat(rows, k),
        n + nearest[rows].ravel(),
        np.repeat(supply[rows], k),
        np.round(per[rows] * scale).astype(np.int64).ravel(),
    )
    sink = n + m
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(n, n + m), np.full(m, sink), hi - lo, np.zeros(m, dtype=np.int64)
    )
    flow.set_nodes_supplies(np.arange(n + m + 1), np.concatenate([supply, -lo, [-(int(supply.sum()) - int(lo.sum()))]]))
    if flow.solve() != flow.OPTIMAL:
        return np.inf, nearest, share
    share[rows] = flow.flows(arcs).reshape(len(rows), k) / np.maximum(supply[rows], 1)[:, None]
    return float(flow.optimal_cost()) / scale / unit + fixed, nearest, share


def transport_value(
    problem: Problem,
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    values: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    units: NDArray[np.int64],
    seats: NDArray[np.int64],
    near: int = DESCENT_NEAR,
) -> float:
    """The value of :func:`transport_flows` alone."""
    return transport_flows(problem, centres, weight, values, low, high, units, seats, near)[0]


def transport_descent(
    problem: Problem,
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    values: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    exempt: NDArray[np.bool_],
    *,
    deadline: float,
    now: Callable[[], float],
    rng: np.random.Generator,
    exclude: NDArray[np.bool_] | None = None,
    max_evals: int | None = None,
) -> tuple[NDArray[np.int64], float, float]:
    """Move free centres one at a time to one of the :data:`DESCENT_SHIFTS` units nearest
    them whenever that lowers :func:`transport_value` (first improvement, seats in random
    order, passes until none helps, ``deadline`` or ``max_evals`` evaluations). Location-allocation moves a centre to
    its territory's medoid, which the balance bands may keep far from the best place; this
    descent prices each move with the bands in.

    Returns the centres and the relaxation's value before and after (inf when the bands
    cannot be met by shipping to the nearest seats; the centres are then returned as given).
    """
    skip = np.zeros(problem.n_units, dtype=bool) if exclude is None else exclude
    units = np.flatnonzero(~skip)
    seats = np.flatnonzero(~exempt)
    free = np.flatnonzero(~problem.has_home & ~exempt)
    current = np.asarray(centres, dtype=np.int64).copy()
    start = best = transport_value(problem, current, weight, values, low, high, units, seats)
    if not np.isfinite(best) or len(free) == 0:
        return current, start, best
    xy = problem.unit_xy
    improved, evals = True, 0
    budget = np.inf if max_evals is None else max_evals
    while improved and now() < deadline and evals < budget:
        improved = False
        for t in rng.permutation(free).tolist():
            if now() >= deadline or evals >= budget:
                break
            taken = set(current.tolist())
            d = np.linalg.norm(xy[units] - xy[current[t]], axis=1)
            for u in units[np.argsort(d, kind="stable")[1 : DESCENT_SHIFTS + 1]].tolist():
                if u in taken:
                    continue
                trial = current.copy()
                trial[t] = u
                evals += 1
                value = transport_value(problem, trial, weight, values, low, high, units, seats)
                if value < best * (1 - 1e-9):
                    best, current, improved = value, trial, True
                    break
    return current, start, best


#: Units of a seat's intake tried as its new centre in :func:`transport_relocate` (the
#: heaviest shares): a medoid over every unit of a US-scale territory costs more than it moves.
RELOCATE_CANDIDATES = 300
#: Rounds of :func:`transport_relocate` at most (it settles in 5-10 on the US counties).
RELOCATE_ROUNDS = 60
#: A round of :func:`transport_relocate` counted as this many flows in deterministic mode
#: (its medoids cost about three flows: 78 % of a round's time, profiled by a review).
RELOCATE_ROUND_EVALS = 4
#: :func:`transport_search`: the share of its budget for fresh starts, then for kicks of the
#: best centres; the rest goes to :func:`transport_descent`; at most this many fresh starts.
SEARCH_STARTS_SHARE = 0.25
SEARCH_KICKS_SHARE = 0.65
SEARCH_MAX_STARTS = 40


class _Budget:
    """Time (or, in deterministic mode, flows counted) of a search, spent in phases."""

    def __init__(self, deadline: float, now: Callable[[], float], max_evals: int | None) -> None:
        self.now, self.t0, self.deadline, self.max_evals, self.evals = now, now(), deadline, max_evals, 0

    def spent(self) -> float:
        """The share of the budget used (time or counted flows, whichever is further)."""
        by_time = (self.now() - self.t0) / max(self.deadline - self.t0, 1e-9)
        return max(by_time, self.evals / self.max_evals if self.max_evals else 0.0)

    def left_evals(self) -> int | None:
        return None if self.max_evals is None else max(self.max_evals - self.evals, 0)


def transport_relocate(
    problem: Problem,
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    values: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    units: NDArray[np.int64],
    seats: NDArray[np.int64],
    free: NDArray[np.bool_],
    budget: _Budget | None = None,
) -> tuple[NDArray[np.int64], float]:
    """Location-allocation on the transport relaxation: ship at the centres
    (:func:`transport_flows`), move each ``free`` seat's centre to the weighted medoid of
    what it receives (each unit weighted by its weight times its share), and again until the
    centres stop moving; a centre another seat holds stays where it was. A round is one flow
    and one medoid per seat (0.02 s on the US counties in 50 territories), so unlike
    location-allocation with whole units and contiguity it settles in a fraction of a second.
    Returns the best centres met and their value (inf when no centres met every band)."""
    current = np.asarray(centres, dtype=np.int64).copy()
    best, best_value = current.copy(), np.inf
    for _ in range(RELOCATE_ROUNDS):
        value, nearest, share = transport_flows(problem, current, weight, values, low, high, units, seats)
        wide = np.inf
        if not np.isfinite(value):  # a seat may need units beyond its nearest ones to move
            wide, nearest, share = transport_flows(
                problem, current, weight, values, low, high, units, seats, near=4 * DESCENT_NEAR
            )
        if budget is not None:
            budget.evals += RELOCATE_ROUND_EVALS
        if not np.isfinite(value) and not np.isfinite(wide):
            break
        if np.isfinite(value):
            # sets are ranked by the nearest seats' flow only, the value every other step
            # (the descent, the start) prices them by
            if value >= best_value * (1 - 1e-9):
                break
            best, best_value = current.copy(), value
        moved = current.copy()
        taken = set(current.tolist())
        received = np.zeros(problem.n_units)
        for j, t in enumerate(seats.tolist()):
            if not free[t]:
                continue
            r, c = np.nonzero((nearest == j) & (share > 0))
            if len(r) == 0:
                continue
            members = units[r]
            received[members] = weight[members] * share[r, c]
            order = np.argsort(-received[members], kind="stable")[:RELOCATE_CANDIDATES]
            u = best_centre(problem, members, received, members[order])[0]
            received[members] = 0.0
            if u != current[t] and u not in taken:
                taken.discard(int(current[t]))
                moved[t] = u
                taken.add(u)
        if np.array_equal(moved, current) or (budget is not None and budget.spent() >= 1.0):
            break
        current = moved
    return best, best_value


def transport_search(
    problem: Problem,
    centres: NDArray[np.int64],
    weight: NDArray[np.float64],
    values: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    exempt: NDArray[np.bool_],
    *,
    deadline: float,
    now: Callable[[], float],
    seed: int,
    exclude: NDArray[np.bool_] | None = None,
    max_evals: int | None = None,
) -> tuple[NDArray[np.int64], float, float, list[NDArray[np.int64]]]:
    """Centres for the free seats chosen on the transport relaxation (:func:`transport_flows`:
    units split, the bands in, contiguity out), a multi-start iterated local search:

    1. fresh starts (the given centres, then weighted k-means++ seeds), each settled by
       :func:`transport_relocate`, on :data:`SEARCH_STARTS_SHARE` of the budget;
    2. kicks of the best centres (one to three moved to units drawn in proportion to weight
       times distance to their nearest centre, as k-means++ seeds), each settled again, the
       best kept, until :data:`SEARCH_KICKS_SHARE`;
    3. :func:`transport_descent` (each centre tried at its nearest units) in the rest.

    The budget is ``deadline`` on ``now``, or ``max_evals`` flows (deterministic mode).
    Returns the centres, the relaxation's value at the given centres and at the chosen
    ones (the given centres when nothing met the bands), and the runners-up: the best
    centres of the other fresh starts, best first (a whole-unit start may fail at the
    chosen centres and succeed at another set)."""
    skip = np.zeros(problem.n_units, dtype=bool) if exclude is None else exclude
    units = np.flatnonzero(~skip)
    seats = np.flatnonzero(~exempt)
    free = ~problem.has_home & ~exempt
    given = np.asarray(centres, dtype=np.int64).copy()
    budget = _Budget(deadline, now, max_evals)
    rng = np.random.default_rng(seed)
    start = transport_value(problem, given, weight, values, low, high, units, seats)
    if not free.any():
        return given, start, start, []

    def settle(c: NDArray[np.int64]) -> tuple[NDArray[np.int64], float]:
        return transport_relocate(problem, c, weight, values, low, high, units, seats, free, budget)

    best, best_value = settle(given)
    if not np.isfinite(best_value):
        best, best_value = given, start
    settled = [(best_value, 0, best)]
    for draw in range(1, SEARCH_MAX_STARTS):
        if budget.spent() >= SEARCH_STARTS_SHARE:
            break
        fresh = initial_centres(problem, weight, seed + draw, exclude=skip)
        fresh[~free] = given[~free]
        if len(set(fresh.tolist())) < len(fresh):
            continue
        c, v = settle(fresh)
        if np.isfinite(v):
            settled.append((v, draw, c))
        if v < best_value:
            best, best_value = c, v
    settled.sort(key=lambda item: (item[0], item[1]))
    runners_up = [c for v, _, c in settled[1:] if np.isfinite(v)]
    xy = problem.unit_xy
    free_seats = np.flatnonzero(free)
    while budget.spent() < SEARCH_KICKS_SHARE and np.isfinite(best_value):
        kicked = best.copy()
        for t in rng.choice(free_seats, size=min(int(rng.integers(1, 4)), len(free_seats)), replace=False):
            far = np.full(problem.n_units, np.inf)
            for c in kicked:  # distance to the nearest centre, seat by seat (n x k at most)
                far = np.minimum(far, np.linalg.norm(xy - xy[c], axis=1))
            pull = np.where(skip, 0.0, np.maximum(weight, 0.0) * far)
            pull[kicked] = 0.0
            if pull.sum() <= 0:
                break
            kicked[t] = int(rng.choice(problem.n_units, p=pull / pull.sum()))
        c, v = settle(kicked)
        if v < best_value * (1 - 1e-9):
            best, best_value = c, v
    if np.isfinite(best_value):
        left = budget.left_evals()
        best, _, best_value = transport_descent(
            problem,
            best,
            weight,
            values,
            low,
            high,
            exempt,
            deadline=deadline,
            now=now,
            rng=rng,
            exclude=exclude,
            max_evals=left,
        )
    return best, start, best_value, runners_up


def search_budget(
    ctx: SolveContext, share: float, pairs: int, max_evals: int, *, deterministic_share: float | None = None
) -> tuple[Callable[[], float], float, int | None]:
    """The clock, deadline and flow count of a search on the transport relaxation: ``share``
    of the time limit (a third of the time left at most) on the wall clock; in deterministic
    mode ``deterministic_share`` (``share`` by default) charged to the context and as many
    flows as it pays for at :data:`DESCENT_PAIR_SECONDS` per unit-seat pair, at most
    ``max_evals``, on a clock that never moves."""
    if ctx.deterministic:
        charged = share if deterministic_share is None else deterministic_share
        ctx.charge_share(charged)
        affordable = int(charged * ctx.time_limit / (DESCENT_PAIR_SECONDS * max(pairs, 1) + FLOW_SECONDS))
        return (lambda: 0.0), 1.0, max(1, min(max_evals, affordable))
    return ctx.now, ctx.now() + min(share * ctx.time_limit, ctx.left() / 3), None


def descend_centres(ctx: SolveContext, prep: Prepared, centres: NDArray[np.int64]) -> NDArray[np.int64]:
    """The free centres moved by :func:`transport_descent`
    (the transport relaxation with the first hard band, priced by the travel weight), on
    :data:`DESCENT_SHARE` of the time limit at most, or :data:`DESCENT_EVALS` evaluations in
    deterministic mode (fewer on large maps); the centres as given when no band applies or
    the map has more than :data:`DESCENT_MAX_PAIRS` unit-seat pairs."""
    problem = prep.problem
    pairs = problem.n_units * problem.n_seats
    rows = prep.spec.model.bands(problem).rows()
    if not rows or pairs > DESCENT_MAX_PAIRS:
        return centres
    row = rows[0]
    clock, deadline, evals = search_budget(ctx, DESCENT_SHARE, pairs, DESCENT_EVALS, deterministic_share=0.05)
    moved, _, _ = transport_descent(
        problem,
        centres,
        prep.weight,
        problem.measures[:, row.measure].astype(float),
        row.low,
        row.high,
        prep.exempt,
        deadline=deadline,
        now=clock,
        rng=np.random.default_rng(ctx.seed),
        exclude=prep.standing,
        max_evals=evals,
    )
    return moved
