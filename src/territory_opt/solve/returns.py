"""Chains of returns: bring accounts back to today's owners around cycles of territories.

Once a realignment plan meets every band, the value it moves away from today's owners is
brought down by :func:`~territory_opt.solve.contiguous.reduce_movement`. Its single returns
need slack in both bands, and its pair re-cuts and windows of two or three territories
need the territories to hold each other's accounts. A plan where ``t`` holds accounts of
``o``, ``o`` of ``p`` and ``p`` of ``t`` has none of that: any one return breaks two bands,
while returning around the whole cycle keeps every load. Often the cycle also needs a
territory to pass on accounts that belong to a third rep (which moves nothing more). This
step plans over all territories at once and carries the plan out a chain at a time.

**Plan** (a linear program, GLOP, in shares of each measure's target):

Sets: territories ``T``; *offers* ``(t, y, tier)``, what ``t`` could hand to a neighbour
``y`` by boundary moves: tier −1, units owned by ``y`` connected to ``y``'s territory through
units of ``t`` owned by ``y`` (returns); tier 0, units that touch ``y`` owned by neither;
tier 1, ``t``'s own units that touch ``y``. Each offer has its value per measure ``V_j`` and
its disruption value ``D``.

Variables: ``λ[t, y, tier] ∈ [0, 1]``, the share of the offer handed over.

Constraints: every territory's load on every measure after the plan,
``load[t, j] − Σ λ V_j (offers of t) + Σ λ V_j (offers to t)``, lies in its band shrunk by
:data:`INNER` of its width (or where the load is today, when that lies in the margin:
handing nothing over is always feasible).

Objective: minimise ``Σ cost(tier) λ D``: −1 for a return (it lowers the value moved), 1 for
an own unit (it raises it), and :data:`PASSING` for a unit neither owns (the value moved
stays; the small cost keeps such moves to where they let returns through). A plan that
saves less than :data:`MIN_CHAIN` of a target is not carried out.

**Realise**: the planned amounts per pair of territories are split into chains (cycles, or
paths from a territory with room to one with room), largest first. A chain's moves are
boundary moves that keep every territory connected (returns first, then units neither
territory owns, then own units; each touches the receiver), up to each arc's amount and
within what the bands allow; the chain is kept only when every territory on it is in its
bands afterwards and the value moved dropped, else its moves are undone. Then plan again
from the new borders while chains are kept.

Every kept chain lowers the value moved, and the bands and connectivity hold after each
chain, so the plan stays valid throughout.

Measured on the US realignment (seed 3 roster, 15 % budget, 2026-11-29): from three plans
balanced with the budget set aside (23.8 %, 28.9 % and 23.2 % moved), the reduction with
this step (and windows of 1.5 s) reached 14.7 %, 14.9 % and 14.8 % in 32, 10 and 18 s;
with returns alone (no tier 0 or 1) the first stalled at 20.1 %.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from ortools.linear_solver import pywraplp

if TYPE_CHECKING:
    from .contiguous import _Search

#: The plan aims this share of each band's width inside it (whole units seldom land exactly).
INNER = 0.1
#: Chains carrying less than this share of a disruption target are left alone.
MIN_CHAIN = 0.01
#: Plan-and-realise passes.
PASSES = 6
#: Cost of passing a unit that neither territory owns (the value moved stays the same), in
#: shares of its value: small, so that such moves are planned only where they let returns through.
PASSING = 0.05


def _offers(s: _Search) -> dict[tuple[int, int, int], list[int]]:
    """What each territory ``t`` could hand to a neighbour ``y`` by boundary moves, by
    ``(t, y, tier)``: tier -1, units owned by ``y`` and connected to ``y``'s territory through
    units of ``t`` owned by ``y`` (returns); tier 0, units of ``t`` that touch ``y`` owned by
    neither (the value moved stays the same); tier 1, units owned by ``t`` that touch ``y``."""
    assign, owner, nbrs = s.assign, s.owner, s.nbrs
    out: dict[tuple[int, int, int], list[int]] = {}
    seen: set[int] = set()
    for u in range(s.n):
        t, o = assign[u], owner[u]
        if s.closed[t] or s.locked_l[u] or s.in_family[u] or u == s.anchor[t]:
            continue
        for y in {assign[z] for z in nbrs[u]} - {t}:
            if s.closed[y] or not s.eligible(u, y):
                continue
            if o != y:
                out.setdefault((t, y, 1 if o == t else 0), []).append(u)
            elif u not in seen and s.dvalue[u] > 0:
                # grow over units of t owned by y, starting from those that touch y
                group = [u]
                seen.add(u)
                stack = [u]
                while stack:
                    x = stack.pop()
                    for z in nbrs[x]:
                        if z not in seen and assign[z] == t and owner[z] == y and s.dvalue[z] > 0:
                            seen.add(z)
                            group.append(z)
                            stack.append(z)
                out.setdefault((t, y, -1), []).extend(group)
    return out


def _plan(s: _Search, offers: dict[tuple[int, int, int], list[int]]) -> dict[tuple[int, int], float]:
    """Disruption value to pass along each pair (the module's linear program), where the
    plan returns more than it moves away."""
    keys = sorted(offers)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    lam = {key: solver.NumVar(0.0, 1.0, "") for key in keys}
    value = {key: np.sum([s.vals[u] for u in offers[key]], axis=0) for key in keys}
    dvalue = {key: float(sum(s.dvalue[u] for u in offers[key])) for key in keys}
    flow: dict[int, list[tuple[float, tuple[int, int, int]]]] = {}
    for key in keys:
        flow.setdefault(key[0], []).append((-1.0, key))
        flow.setdefault(key[1], []).append((1.0, key))
    for t, terms in flow.items():
        for j in range(s.r):
            lo, hi, norm = s.lo_l[t][j], s.hi_l[t][j], s.norm_l[t][j]
            load = s.load[t][j] / norm
            expr = sum(sign * lam[key] * (value[key][j] / norm) for sign, key in terms)
            margin = INNER * (hi - lo) / norm if np.isfinite(lo) and np.isfinite(hi) else 0.0
            if np.isfinite(hi):
                solver.Add(expr <= max(hi / norm - margin, load) - load)
            if np.isfinite(lo):
                solver.Add(expr >= min(lo / norm + margin, load) - load)
    cost = {-1: -1.0, 0: PASSING, 1: 1.0 + PASSING}
    solver.Minimize(sum(lam[key] * (cost[key[2]] * dvalue[key] / s.dnorm) for key in keys))
    if solver.Solve() != pywraplp.Solver.OPTIMAL or solver.Objective().Value() > -MIN_CHAIN:
        return {}
    out: dict[tuple[int, int], float] = {}
    for key in keys:
        if lam[key].solution_value() > 1e-6:
            out[key[:2]] = out.get(key[:2], 0.0) + lam[key].solution_value() * dvalue[key]
    return out


def _chains(amounts: dict[tuple[int, int], float], floor: float) -> list[list[tuple[int, int, float]]]:
    """Split the planned returns into chains (cycles, or paths), largest first: from the
    largest arc left, follow the largest arc out of its head and into its tail until a
    territory repeats or none is left; the chain carries its smallest arc's amount."""
    left = {key: amount for key, amount in amounts.items() if amount > floor}
    chains = []
    while left:
        first = max(left, key=lambda key: (left[key], key))
        path = [first]
        on = {first[0], first[1]}
        while True:  # forward from the head
            head = path[-1][1]
            out = [key for key in left if key[0] == head and key not in path]
            if not out:
                break
            nxt = max(out, key=lambda key: (left[key], key))
            path.append(nxt)
            if nxt[1] in on:
                break
            on.add(nxt[1])
        if path[-1][1] != first[0]:  # not closed: extend backwards from the tail
            while True:
                tail = path[0][0]
                into = [key for key in left if key[1] == tail and key not in path and key[0] not in on]
                if not into:
                    break
                prev = max(into, key=lambda key: (left[key], key))
                path.insert(0, prev)
                on.add(prev[0])
        amount = min(left[key] for key in path)
        chains.append([(t, o, amount) for t, o in path])
        for key in path:
            left[key] -= amount
            if left[key] <= floor:
                del left[key]
    return chains


def _realise_chain(s: _Search, chain: list[tuple[int, int, float]]) -> list[tuple[int, int]] | None:
    """Return units along the chain's arcs by boundary moves; the moves made, as (unit,
    territory it left), or None (nothing moved) when some arc could not land its giver
    (or, at the chain's end, its receiver) in every band.

    Each arc gives about its planned amount, and what the bands ask: the giver's load after
    it (what it received on the previous arc included; a cycle's first giver receives on
    its last arc) and, on the last arc, the receiver's must lie in their bands on every
    measure."""
    done: list[tuple[int, int]] = []
    cycle = chain[-1][1] == chain[0][0]
    for i, (t, o, amount) in enumerate(chain):
        low, high = [-np.inf] * s.r, [np.inf] * s.r
        for j in range(s.r):
            if i > 0 or not cycle:  # a cycle's first giver is checked as the last receiver
                low[j] = s.load[t][j] - s.hi_l[t][j]
                high[j] = s.load[t][j] - s.lo_l[t][j]
            if i == len(chain) - 1:
                low[j] = max(low[j], s.lo_l[o][j] - s.load[o][j])
                high[j] = min(high[j], s.hi_l[o][j] - s.load[o][j])
        if not _give(s, t, o, amount, low, high, done):
            _undo(s, done)
            return None
    return done


def _give(
    s: _Search, t: int, o: int, amount: float, low: list[float], high: list[float], done: list[tuple[int, int]]
) -> bool:
    """Move returns from ``t`` to ``o`` (appended to ``done``) worth about ``amount`` of
    disruption value, what they carry on each measure within [``low``, ``high``], largest
    first; whether the lower limits were reached."""
    given = [0.0] * s.r
    tol = [1e-9 * s.norm_l[t][j] for j in range(s.r)]
    taken = 0.0
    while True:
        short = any(given[j] < low[j] - tol[j] for j in range(s.r))
        if taken >= amount - 1e-9 * s.dnorm and not short:
            return True
        fits = [m for m in _moves(s, t, o) if all(given[j] + m[2][j] <= high[j] + tol[j] for j in range(s.r))]
        within = [m for m in fits if taken + m[3] <= amount * 1.25]
        if within or short:  # returns first, then the largest
            best = min(within or fits, key=lambda m: (m[0], -m[3], m[1][0]), default=None)
        else:  # whole units: an arc that has given nothing gives its smallest
            best = min(fits, key=lambda m: (m[0], m[3], m[1][0]), default=None) if not taken else None
        if best is None:
            return not short
        _, group, value, dvalue = best
        for j in range(s.r):
            given[j] += value[j]
        taken += dvalue
        for u in group:
            s.move_quiet(u, o)
            done.append((u, t))


def _undo(s: _Search, done: list[tuple[int, int]]) -> None:
    for u, t in reversed(done):
        s.move_quiet(u, t)


def _moves(s: _Search, t: int, o: int) -> list[tuple[int, list[int], list[float], float]]:
    """Moves from ``t`` to ``o`` that keep ``t`` connected, as (tier, units, value per
    measure, disruption value): returns (tier -1: a unit owned by ``o`` that touches ``o``,
    with the piece of ``t`` it would cut off when that piece is ``o``'s too), units owned by
    neither (0) and ``t``'s own (1), single units that touch ``o``."""
    assign, owner = s.assign, s.owner
    out = []
    for u in range(s.n):
        if assign[u] != t or u == s.anchor[t] or not s.eligible(u, o):
            continue
        if not any(assign[z] == o for z in s.nbrs[u]):
            continue
        tier = -1 if owner[u] == o else 1 if owner[u] == t else 0
        group = [u] if s.can_leave(u) else s.piece(u) if tier < 0 else None
        if group is None or len(group) >= s.size[t]:
            continue
        if any(owner[z] != o or not s.eligible(z, o) for z in group[1:]):
            continue
        value = [sum(s.vals[z][j] for z in group) for j in range(s.r)]
        out.append((tier, group, value, float(sum(s.dvalue[z] for z in group))))
    return out


def return_chains(s: _Search, deadline: float, now: Callable[[], float]) -> int:
    """Plan and carry out chains of returns on ``s`` in place (module doc), from a plan
    whose territories all meet their bands; returns the number of units the kept chains
    moved (returns, and the passes that let them through)."""
    returned = 0
    for _ in range(PASSES):
        if now() > deadline:
            break
        offers = _offers(s)
        if not any(key[2] < 0 for key in offers):
            break
        kept = 0
        for chain in _chains(_plan(s, offers), MIN_CHAIN * s.dnorm):
            if now() > deadline:
                break
            seats = {t for t, _, _ in chain} | {o for _, o, _ in chain}
            before = s.moved
            done = _realise_chain(s, chain)
            if not done:
                continue
            if s.moved < before - 1e-9 * s.dnorm and all(s.seat_violation(t, s.load[t]) <= 1e-9 for t in seats):
                kept += 1
                returned += len(done)
            else:
                _undo(s, done)
        if not kept:
            break
    return returned
