"""Corridors: a realignment's start that moves value between territories that do not touch.

Balancing only across today's borders moves value again at every border it crosses: when
the territory short of potential lies three territories away from the one above its band,
the same amount changes hands three times. On the bench's US realignment (50 reps, ±5 %)
that costs about 20 % of the book, against 5.5 % proved necessary.

A **corridor** from ``C`` to ``A`` through ``B`` is a strip of ``B``'s units, from a unit
touching ``C`` to a unit touching ``A``, that joins ``C``: afterwards ``C`` touches ``A``
and takes value from it directly. ``B`` keeps its anchor (the rep's home) and stays one
piece: what the strip cuts off from the anchor's piece joins ``C`` too, and counts in the
corridor's cost (the value of every unit it moves). The strip is a shortest path weighted
by value (Dijkstra), along ``B``'s borders with other territories or anywhere inside it
(along the edge of the map, say), whichever costs less with what it cuts off.

:func:`corridor_start` plans before it moves:

1. **Plan**: a small mixed-integer model (SCIP, in shares of a target) over the territory
   graph: a flow on every arc between territories that touch (cost: the
   value carried) and on every candidate corridor (cost: the value carried plus the
   corridor's own, paid once when it is used) that brings every territory inside its band
   on the disruption measure (aiming 15 % inside, slack where it cannot).
2. **Build** the corridors that carry flow, recomputed on the current plan (skipped when
   their cost grew by half); their units are protected until the start is done, so a later
   corridor or transfer cannot cut them. Plan and build again (new borders make new
   corridors possible), up to :data:`ROUNDS` times; a plan that moves no less than the
   transfers across the borders that touch builds nothing.
3. **Realise** the transfers between territories that now touch (a least-value flow,
   :func:`~territory_opt.solve.bounds.least_transfers`, with no cap on an arc: a corridor
   touches its source at a unit or two and the border grows as units cross) by boundary
   moves that keep every territory connected, re-planned after each pass while moves
   happen; a border where no value crossed (every unit on it holds the giver together) is
   left out of the next plan.

The result is a start for the exact contiguity search, never a claim: the search then
balances every measure and keeps the budget, and only :mod:`.bounds` proves anything.

Measured on the bench's US realignment (seed 3 roster, 120 s, 2026-11-29): the plan of
transfers moves 15.3 % with corridors against 19.7 % across today's borders; at a 15 %
budget the search from this start found a plan in one bench run of seven (15.0 %) and in
one of four by hand (14.7 %), best plans within the bands of 15.5-21.4 % otherwise
(17.4-21.5 % without corridors); at 10 %, 13.5 % within the bands in the last run.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .bounds import least_transfers

if TYPE_CHECKING:
    from .contiguous import _Search

#: Plan-and-build rounds (each adds corridors that the previous ones made possible).
ROUNDS = 3
#: A corridor costs at most this share of a target (dearer ones never pay).
MAX_COST = 0.3
#: A built corridor carries at least this share of a target (else its transfer is left to
#: the borders that touch).
MIN_FLOW = 0.02
#: A flow carries at most this many targets.
TOP = 4.0
#: Branch-and-bound nodes of a plan's solve (bounds its time, deterministically).
NODES = 2000
#: The plan aims this share of each band inside it (whole units seldom land exactly).
INNER = 0.15
#: Planning passes of the realisation.
PASSES = 10


@dataclass(frozen=True)
class Corridor:
    """A strip of ``via``'s units that joins ``to`` so that it touches ``source``."""

    source: int
    via: int
    to: int
    cost: float  # value of every unit it moves
    units: tuple[int, ...]


def _strip(s: _Search, members: list[int], to: int, end: int, prev: dict[int, int]) -> list[int] | None:
    """The path ending at ``end`` plus what it cuts off from the anchor's piece of ``via``
    (None when a unit of it may not join ``to``)."""
    path: list[int] = []
    u = end
    while u != -1:
        path.append(u)
        u = prev[u]
    taken = set(path)
    assign, nbrs = s.assign, s.nbrs
    via = assign[end]
    rest = [z for z in members if z not in taken]
    seen: set[int] = set()
    pieces: list[list[int]] = []
    for z0 in rest:
        if z0 in seen:
            continue
        piece, stack = [z0], [z0]
        seen.add(z0)
        while stack:
            z = stack.pop()
            for y in nbrs[z]:
                if y not in seen and y not in taken and assign[y] == via:
                    seen.add(y)
                    piece.append(y)
                    stack.append(y)
        pieces.append(piece)
    if not pieces:
        return None  # nothing of via would be left
    if len(pieces) > 1:
        anchor = s.anchor[via]
        keep = max(pieces, key=lambda p: (anchor in p, sum(s.dvalue[z] for z in p)))
        for p in pieces:
            if p is not keep:
                path.extend(p)
    if any(not s.eligible(z, to) or z == s.anchor[via] for z in path):
        return None
    return path


def _corridors_from(s: _Search, members: list[int], to: int, value: list[float], limit: float) -> dict[int, Corridor]:
    """The cheapest corridor from ``to`` through the territory of ``members`` to every
    territory it may reach: a strip along its borders with other territories, or anywhere
    inside it (along the edge of the map, say), whichever costs less with what it cuts off."""
    assign, nbrs = s.assign, s.nbrs
    via = assign[members[0]]
    ok = {u for u in members if u != s.anchor[via] and s.eligible(u, to)}
    best = _strips(s, members, ok, to, value, limit)
    border = {u for u in ok if any(assign[w] != via for w in nbrs[u])}
    for source, c in _strips(s, members, border, to, value, limit).items():
        if source not in best or c.cost < best[source].cost:
            best[source] = c
    return best


def _strips(
    s: _Search, members: list[int], border: set[int], to: int, value: list[float], limit: float
) -> dict[int, Corridor]:
    """The cheapest strip of ``border`` units from ``to`` to every territory it reaches (a
    shortest path by value, and what it cuts off)."""
    assign, nbrs = s.assign, s.nbrs
    via = assign[members[0]]
    dist: dict[int, float] = {}
    prev: dict[int, int] = {}
    heap: list[tuple[float, int]] = []
    for u in border:
        if any(assign[w] == to for w in nbrs[u]):
            dist[u], prev[u] = value[u], -1
            heapq.heappush(heap, (value[u], u))
    reached: dict[int, int] = {}  # territory -> the first strip end touching it
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist.get(u, np.inf) or d > limit:
            continue
        for w in nbrs[u]:
            t = assign[w]
            if t != via and t != to and t not in reached:
                reached[t] = u
            if w in border and d + value[w] < dist.get(w, np.inf):
                dist[w], prev[w] = d + value[w], u
                heapq.heappush(heap, (d + value[w], w))
    out: dict[int, Corridor] = {}
    for source, end in reached.items():
        if s.closed[source]:
            continue
        strip = _strip(s, members, to, end, prev)
        if strip is None:
            continue
        cost = float(sum(value[z] for z in strip))
        if cost <= limit:
            out[source] = Corridor(source, via, to, cost, tuple(strip))
    return out


def _members(s: _Search) -> list[list[int]]:
    members: list[list[int]] = [[] for _ in range(s.k)]
    for u, t in enumerate(s.assign):
        members[t].append(u)
    return members


def _touching(s: _Search) -> set[tuple[int, int]]:
    """(giver, receiver) pairs of open territories where the giver has a movable unit on
    the border."""
    e = s.p.edges
    assert e is not None
    a = np.asarray(s.assign)
    free = ~np.asarray(s.locked_l, dtype=bool)
    closed = np.asarray(s.closed, dtype=bool)
    pairs: set[tuple[int, int]] = set()
    for x, y in ((e[:, 0], e[:, 1]), (e[:, 1], e[:, 0])):
        ok = (a[x] != a[y]) & free[x] & ~closed[a[x]] & ~closed[a[y]]
        pairs |= set(zip(a[x][ok].tolist(), a[y][ok].tolist(), strict=True))
    return pairs


def _candidates(s: _Search, row: int, value: list[float]) -> tuple[list[tuple[int, int]], list[Corridor]]:
    """The pairs that touch (giver, receiver) and the cheapest corridor to every pair that
    does not."""
    touching = _touching(s)
    limit = MAX_COST * float(s.norm[0, row])
    members = _members(s)
    best: dict[tuple[int, int], Corridor] = {}
    for via, to in sorted({(x, y) for x, y in touching} | {(y, x) for x, y in touching}):
        if s.closed[via] or s.closed[to] or not members[via]:
            continue
        for source, c in _corridors_from(s, members[via], to, value, limit).items():
            if (source, to) in touching:
                continue
            if c.cost < best.get((source, to), Corridor(0, 0, 0, np.inf, ())).cost:
                best[source, to] = c
    return sorted(touching), [best[key] for key in sorted(best)]


def _plan(
    s: _Search,
    row: int,
    arcs: list[tuple[int, int]],
    corridors: list[Corridor],
    *,
    time_limit: float,
    deterministic: bool,
) -> tuple[list[tuple[Corridor, float]], float | None]:
    """The corridors the least-value flow uses, with the amount each carries, and the value
    the plan moves (None when a band cannot be met in the model).

    SCIP, in shares of a target; at most :data:`NODES` branch-and-bound nodes, and in
    deterministic mode no time limit (so the answer repeats). On the US realignment it
    solves the first plan to optimality in about 6 s (15.35 %); CP-SAT on the same model,
    scaled to integers, reached 17.8 % in 5 s and 16.0 % in 15 s."""
    from ortools.linear_solver import pywraplp

    mip = pywraplp.Solver.CreateSolver("SCIP")
    if mip is None:
        return [], None
    norm = float(s.norm[0, row])
    inf = mip.infinity()
    f = [mip.NumVar(0.0, TOP, "") for _ in arcs]
    g = [mip.NumVar(0.0, TOP, "") for _ in corridors]
    y = [mip.BoolVar("") for _ in corridors]
    cost = [c.cost / norm for c in corridors]
    net: list[list[Any]] = [[] for _ in range(s.k)]
    for i, (x, t) in enumerate(arcs):
        net[x].append(-f[i])
        net[t].append(f[i])
    for i, c in enumerate(corridors):
        mip.Add(g[i] <= TOP * y[i])
        net[c.source].append(-g[i])
        net[c.to] += [g[i], cost[i] * y[i]]
        net[c.via].append(-cost[i] * y[i])
    slack = []
    for t in range(s.k):
        if s.closed[t]:
            continue
        lo, hi = float(s.lo[t, row]), float(s.hi[t, row])
        inner = INNER * (hi - lo) if np.isfinite(lo) and np.isfinite(hi) else 0.0
        final = s.load[t][row] / norm + mip.Sum(net[t])
        over, under = mip.NumVar(0.0, inf, ""), mip.NumVar(0.0, inf, "")
        slack += [over, under]
        if np.isfinite(hi):
            mip.Add(final <= (hi - inner) / norm + over)
        if np.isfinite(lo):
            mip.Add(final >= (lo + inner) / norm - under)
    moved = mip.Sum(f) + mip.Sum(g) + mip.Sum([ci * yi for ci, yi in zip(cost, y, strict=True)])
    mip.Minimize(moved + 1000.0 * mip.Sum(slack))
    mip.SetSolverSpecificParametersAsString(f"limits/nodes = {NODES}\n")
    if not deterministic:
        mip.SetTimeLimit(int(1000 * max(0.1, time_limit)))
    if mip.Solve() not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return [], None
    used = [
        (c, g[i].solution_value() * norm)
        for i, c in enumerate(corridors)
        if y[i].solution_value() > 0.5 and g[i].solution_value() >= MIN_FLOW
    ]
    short = sum(v.solution_value() for v in slack)
    return used, (moved.solution_value() * norm if short <= 1e-6 else None)


def _build(s: _Search, c: Corridor, value: list[float], norm: float) -> bool:
    """Build ``c`` again on the current plan (its strip may have changed); protect it."""
    members = [u for u, t in enumerate(s.assign) if t == c.via]
    if not members:
        return False
    now = _corridors_from(s, members, c.to, value, 1.5 * c.cost + MIN_FLOW * norm).get(c.source)
    if now is None:
        return False
    for u in now.units:
        s.move(u, c.to)
        s.locked_l[u] = True
    return True


def _flows(s: _Search, row: int, blocked: frozenset[tuple[int, int]] = frozenset()) -> list[tuple[int, int, float]]:
    """The least-value flow between territories that touch (except the ``blocked`` pairs),
    without the search's cap on what an arc may carry (a corridor's end touches its source
    at a unit or two; the border grows as units cross)."""
    pairs = np.array(sorted(_touching(s) - blocked), dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        return []
    load = np.array([s.load[t][row] for t in range(s.k)])
    open_ = ~np.asarray(s.closed, dtype=bool)
    return least_transfers(
        pairs, np.full(len(pairs), np.inf), load, s.lo[:, row], s.hi[:, row], open_, float(s.norm[0, row])
    )


@dataclass
class CorridorStart:
    """What :func:`corridor_start` did (for the search's notes)."""

    corridors: int = 0
    moves: int = 0
    #: value the first plan moves from the start (flows and corridors; None when the model
    #: could not meet every band): an estimate, not a bound
    planned: float | None = None


def corridor_start(
    s: _Search,
    row: int,
    deadline: float,
    now: Callable[[], float],
    *,
    deterministic: bool = False,
) -> CorridorStart:
    """Plan transfers through corridors, build them and realise the rest (module doc) on
    ``s`` in place, balancing ``row`` (the disruption measure's band)."""
    from .contiguous import _realise, _topological

    done = CorridorStart()
    value = list(map(float, s.dvalue))
    protected = list(s.locked_l)
    try:
        for first in [True] + [False] * (ROUNDS - 1):
            if now() > deadline:
                break
            arcs, corridors = _candidates(s, row, value)
            if not corridors:
                break
            limit = max(0.1, min(10.0, 0.4 * (deadline - now())))
            moved_before = s.moved
            used, planned = _plan(s, row, arcs, corridors, time_limit=limit, deterministic=deterministic)
            if planned is None or planned >= sum(amount for *_, amount in _flows(s, row)):
                break  # no better than the borders that touch (or a poor answer within the limit)
            if first:
                done.planned = moved_before + planned
            built = 0
            for c, _amount in used:
                built += _build(s, c, value, float(s.norm[0, row]))
            done.corridors += built
            if not built:
                break
        blocked: set[tuple[int, int]] = set()
        for _ in range(PASSES):
            if now() > deadline:
                break
            moves, stuck = 0, 0
            for arc in _topological(_flows(s, row, frozenset(blocked)), s.k):
                before = s.load[arc[1]][row]
                moves += _realise(s, [arc], row, deadline, now)
                if s.load[arc[1]][row] <= before:
                    # no value crossed (every unit on that border holds the giver together,
                    # or only units without value could move): the next plan goes around it
                    blocked.add(arc[:2])
                    stuck += 1
            done.moves += moves
            if not moves and not stuck:
                break
    finally:
        s.locked_l = protected
    return done
