"""Chains of returns: bring accounts back to today's owners around cycles of territories.

Once a realignment plan meets every band, the value it moves away from today's owners is
brought down by :func:`~territory_opt.solve.contiguous.reduce_movement`. Its single returns
need slack in both bands, and its pair re-cuts and windows of two or three territories
need the territories to hold each other's accounts. A plan where ``t`` holds accounts of
``o``, ``o`` of ``p`` and ``p`` of ``t`` has none of that: any one return breaks two bands,
while returning around the whole cycle keeps every load. This step plans the returns over
all territories at once and carries them out a chain at a time.

**Plan** (a linear program, GLOP, in shares of each measure's target):

Sets: territories ``T``; pairs ``(t, o)`` where ``t`` holds units owned by ``o`` in a piece
that touches ``o`` (the *returnable* units ``R[t, o]``: owned by ``o``, connected to ``o``'s
territory through units of ``t`` owned by ``o``), each with its value per measure
``R_j[t, o]`` and its disruption value ``D[t, o]``.

Variables: ``λ[t, o] ∈ [0, 1]``, the share of ``R[t, o]`` returned.

Constraints: every territory's load on every measure after the returns,
``load[t, j] − Σ_o λ[t, o] R_j[t, o] + Σ_q λ[q, t] R_j[q, t]``, lies in its band shrunk by
:data:`INNER` of its width (or where the load is today, when that lies in the margin:
returning nothing is always feasible).

Objective: maximise ``Σ λ[t, o] D[t, o]``, the value returned.

**Realise**: the planned amounts are split into chains (cycles, or paths from a territory
with room to one with room), largest first. A chain's returns are boundary moves of
returnable units (each keeps its territory connected and touches its owner's), up to each
arc's amount; the chain is kept only when every territory on it is still in its bands,
else its moves are undone. Then plan again from the new borders while chains are kept.

Every move returns a unit to its owner, so every kept chain lowers the value moved; the
bands and connectivity hold after each chain, so the plan stays valid throughout.
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


def _returnable(s: _Search) -> dict[tuple[int, int], list[int]]:
    """Units of each territory ``t`` owned by another rep ``o`` and connected to ``o``'s
    territory through units of ``t`` owned by ``o`` (what ``t`` could hand back to ``o``
    by boundary moves), by ``(t, o)``."""
    assign, owner, nbrs = s.assign, s.owner, s.nbrs
    out: dict[tuple[int, int], list[int]] = {}
    seen: set[int] = set()
    for u in range(s.n):
        t, o = assign[u], owner[u]
        if u in seen or o < 0 or o == t or s.closed[o] or s.closed[t] or s.dvalue[u] <= 0:
            continue
        if not any(assign[z] == o for z in nbrs[u]):
            continue
        # grow over units of t owned by o, starting from those that touch o
        group = [u]
        seen.add(u)
        stack = [u]
        while stack:
            x = stack.pop()
            for z in nbrs[x]:
                if z not in seen and assign[z] == t and owner[z] == o and s.dvalue[z] > 0:
                    seen.add(z)
                    group.append(z)
                    stack.append(z)
        out.setdefault((t, o), []).extend(group)
    return out


def _plan(s: _Search, groups: dict[tuple[int, int], list[int]]) -> dict[tuple[int, int], float]:
    """Disruption value to return along each pair (the module's linear program)."""
    pairs = sorted(groups)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    lam = {key: solver.NumVar(0.0, 1.0, "") for key in pairs}
    value = {key: np.sum([s.vals[u] for u in groups[key]], axis=0) for key in pairs}
    dvalue = {key: float(sum(s.dvalue[u] for u in groups[key])) for key in pairs}
    touched = sorted({t for key in pairs for t in key})
    for t in touched:
        for j in range(s.r):
            lo, hi, norm = s.lo_l[t][j], s.hi_l[t][j], s.norm_l[t][j]
            load = s.load[t][j] / norm
            expr = sum(-lam[key] * (value[key][j] / norm) for key in pairs if key[0] == t) + sum(
                lam[key] * (value[key][j] / norm) for key in pairs if key[1] == t
            )
            finite_lo, finite_hi = np.isfinite(lo), np.isfinite(hi)
            margin = INNER * (hi - lo) / norm if finite_lo and finite_hi else 0.0
            if finite_hi:
                solver.Add(expr <= max(hi / norm - margin, load) - load)
            if finite_lo:
                solver.Add(expr >= min(lo / norm + margin, load) - load)
    solver.Maximize(sum(lam[key] * (dvalue[key] / s.dnorm) for key in pairs))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return {}
    return {key: lam[key].solution_value() * dvalue[key] for key in pairs if lam[key].solution_value() > 1e-6}


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
        fits = [m for m in _moves(s, t, o) if all(given[j] + m[1][j] <= high[j] + tol[j] for j in range(s.r))]
        within = [m for m in fits if taken + m[2] <= amount * 1.25]
        if within or short:
            best = max(within or fits, key=lambda m: (m[2], -m[0][0]), default=None)
        else:  # whole units: an arc that has given nothing gives its smallest
            best = min(fits, key=lambda m: (m[2], m[0][0]), default=None) if not taken else None
        if best is None:
            return not short
        group, value, dvalue = best
        for j in range(s.r):
            given[j] += value[j]
        taken += dvalue
        for u in group:
            s.move_quiet(u, o)
            done.append((u, t))


def _undo(s: _Search, done: list[tuple[int, int]]) -> None:
    for u, t in reversed(done):
        s.move_quiet(u, t)


def _moves(s: _Search, t: int, o: int) -> list[tuple[list[int], list[float], float]]:
    """Returns from ``t`` to ``o`` that keep ``t`` connected: a unit owned by ``o`` that
    touches ``o``, with the piece of ``t`` it would cut off when that piece is ``o``'s too;
    as (units, value per measure, disruption value)."""
    assign, owner = s.assign, s.owner
    out = []
    for u in range(s.n):
        if assign[u] != t or owner[u] != o or u == s.anchor[t] or not s.eligible(u, o):
            continue
        if not any(assign[z] == o for z in s.nbrs[u]):
            continue
        group = [u] if s.can_leave(u) else s.piece(u)
        if group is None or len(group) >= s.size[t]:
            continue
        if any(owner[z] != o or not s.eligible(z, o) for z in group):
            continue
        value = [sum(s.vals[z][j] for z in group) for j in range(s.r)]
        out.append((group, value, float(sum(s.dvalue[z] for z in group))))
    return out


def return_chains(s: _Search, deadline: float, now: Callable[[], float]) -> int:
    """Plan and carry out chains of returns on ``s`` in place (module doc), from a plan
    whose territories all meet their bands; returns the number of units returned."""
    returned = 0
    for _ in range(PASSES):
        if now() > deadline:
            break
        groups = _returnable(s)
        if not groups:
            break
        kept = 0
        for chain in _chains(_plan(s, groups), MIN_CHAIN * s.dnorm):
            if now() > deadline:
                break
            seats = {t for t, _, _ in chain} | {o for _, o, _ in chain}
            done = _realise_chain(s, chain)
            if not done:
                continue
            if all(s.seat_violation(t, s.load[t]) <= 1e-9 for t in seats):
                kept += 1
                returned += len(done)
            else:
                _undo(s, done)
        if not kept:
            break
    return returned
