"""The border band: one CP-SAT model over the borders of every territory at once, for a
plan that meets every band but moves a little more than the disruption budget allows.

Units at least ``hops`` steps inside their territory of today, and still in it, are fixed
(each territory's *core*); every other unit may take its seat in the plan, its owner's, or
any seat found within ``hops`` steps. Bands, caps, clashes, skills, locks and families are
hard; the objective is the value moved away from today's owners, plus what breaks the
per-rep limits. Contiguity is imposed by *ordered parents*: each territory has a root (its
deepest unit of today) and every other member needs a neighbour of the same territory
closer to the root, by distances measured inside the plan. That is a restriction (a plan of
the real problem may need other orders), so the model only ever serves as a neighbourhood
of the plan it starts from: it never declares anything infeasible. A fixed core unit that
ends up cut off from its root gets a cut (its ring of neighbours must hold one member of
the territory) and CP-SAT solves again; a plan is returned only after the search's own
check (every band, the budget, every territory connected).

Measured on US counties, 50 reps, 15 % budget, a roster the bench never used (seed 6, one
solo run, 2026-11-29): the relink's best plan within the bands moved 15.04 %; the band model
(2 hops, 20 s) moved 14.09 %, a plan. From plans further over the budget it gains about a
point in 20-60 s (16.39 to 16.04-16.15 %, 13.71 to 12.48 %), so the relink tries it only near
the budget (:data:`BAND_NEAR`).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ..geo import components

if TYPE_CHECKING:
    from .contiguous import _Search

#: Hops inside today's borders that stay free (measured: 2 and 3 did as well as 6, in less time).
BAND_HOPS = 2
#: The relink tries the band when its best plan within the bands moves at most this share of
#: the booked value beyond the budget.
BAND_NEAR = 0.015
#: Seconds at most for one band model (wall-clock).
BAND_TRY = 20.0
#: Integer scale of each band row (a share of its target) in the model.
_SCALE = 1_000_000


#: The model's (unit, seat) variables; a fixed unit's own pair is the constant 1.
Pairs = dict[tuple[int, int], "cp_model.IntVar | int"]


def band_polish(
    s: _Search,
    *,
    deadline: float,
    now: Callable[[], float],
    workers: int,
    seed: int,
    hops: int = BAND_HOPS,
) -> NDArray[np.int64] | None:
    """From the plan in ``s`` (every band met, every territory connected), a plan that
    moves less, or None. ``s`` is left on the plan it started from."""
    start = np.asarray(s.assign, dtype=np.int64)
    before = s.violation()
    owner = np.asarray(s.owner, dtype=np.int64)
    today = np.where(owner >= 0, owner, start)
    depth = _depth(s, today)
    fixed, options = _freedom(s, start, today, depth, hops)
    model = cp_model.CpModel()
    x: Pairs = {}
    for u in range(s.n):
        for t in options[u]:
            x[u, t] = 1 if fixed[u] else model.new_bool_var("")
        if not fixed[u]:
            model.add_exactly_one([x[u, t] for t in options[u]])
    roots = _parents(s, start, today, depth, x, model)
    if roots is None:
        return None
    for u, partners in s.clash.items():  # two units no band can hold together
        for w in partners:
            if u < w:
                for t in options[u] & options[w]:
                    if not (fixed[u] and fixed[w]):
                        model.add(x[u, t] + x[w, t] <= 1)
    _bands(s, model, x)
    _objective(s, model, x, start, owner, fixed)
    best = _solve(s, model, x, roots, start, before, deadline=deadline, now=now, workers=workers, seed=seed)
    s.reset(start)
    return best


def _depth(s: _Search, today: NDArray[np.int64]) -> NDArray[np.int64]:
    """Hops of each unit from its territory's border today (0 on the border)."""
    nb = s.nbrs
    border = np.array([any(today[z] != today[u] for z in nb[u]) for u in range(s.n)], dtype=bool)
    depth = np.full(s.n, s.n + 1)
    depth[border] = 0
    queue: deque[int] = deque(np.flatnonzero(border).tolist())
    while queue:
        u = queue.popleft()
        for z in nb[u]:
            if depth[z] > depth[u] + 1 and today[z] == today[u]:
                depth[z] = depth[u] + 1
                queue.append(z)
    return depth


def _freedom(
    s: _Search, start: NDArray[np.int64], today: NDArray[np.int64], depth: NDArray[np.int64], hops: int
) -> tuple[NDArray[np.bool_], list[set[int]]]:
    """Which units stay (each territory's core, locks, families, standing seats) and the
    seats each other unit may take: its own, its owner's, and those found within ``hops``."""
    nb = s.nbrs
    core = (depth >= hops) & (start == today)
    for t in range(s.k):  # every open seat keeps one unit: its deepest still at home
        if s.closed[t]:
            continue
        mine = np.flatnonzero(start == t)
        if len(mine) and not core[mine].any():
            home = mine[today[mine] == t]
            pick = home if len(home) else mine
            core[pick[np.argmax(depth[pick])]] = True
    closed = np.asarray(s.closed, dtype=bool)
    fixed = core | np.asarray(s.locked_l, dtype=bool) | np.asarray(s.in_family, dtype=bool) | closed[start]
    options: list[set[int]] = []
    for u in range(s.n):
        if fixed[u]:
            options.append({int(start[u])})
            continue
        seen, frontier = {u}, [u]
        near = {int(today[u]), int(start[u])}
        for _ in range(hops):
            nxt = []
            for a in frontier:
                for z in nb[a]:
                    if z not in seen:
                        seen.add(z)
                        nxt.append(z)
                        near.add(int(start[z]))
                        near.add(int(today[z]))
            frontier = nxt
        options.append({t for t in near if t == start[u] or s.eligible(u, t)})
    return fixed, options


def _bands(s: _Search, model: cp_model.CpModel, x: Pairs) -> None:
    """Every band and cap of every open seat, hard, each tightened by what rounding the
    units' values to the model's integers can shift it."""
    by_seat: list[list[tuple[int, cp_model.IntVar | int]]] = [[] for _ in range(s.k)]
    for (u, t), var in x.items():
        by_seat[t].append((u, var))
    for t in range(s.k):
        if s.closed[t]:
            continue
        for j in range(s.r):
            norm = max(float(s.norm[t, j]), 1e-12)
            load = sum(int(np.rint(s.values[u, j] / norm * _SCALE)) * var for u, var in by_seat[t])
            slack = len(by_seat[t]) // 2 + 1  # rounding of each unit by half a step at most
            if np.isfinite(s.lo[t, j]):
                model.add(load >= int(np.ceil(s.lo[t, j] / norm * _SCALE)) + slack)
            if np.isfinite(s.hi[t, j]):
                model.add(load <= int(np.floor(s.hi[t, j] / norm * _SCALE)) - slack)


def _objective(
    s: _Search,
    model: cp_model.CpModel,
    x: Pairs,
    start: NDArray[np.int64],
    owner: NDArray[np.int64],
    fixed: NDArray[np.bool_],
) -> None:
    """The value moved away from today's owners, plus a hundred times what breaks a per-rep
    limit."""
    value = np.asarray(s.dvalue, dtype=float)
    unit = max(float(s.dnorm), 1e-12)
    moved = []
    for u in np.flatnonzero(owner >= 0).tolist():
        o = int(owner[u])
        if (u, o) in x and not isinstance(x[u, o], int):
            moved.append((u, o, int(np.rint(value[u] / unit * _SCALE))))
    cost = [c * (1 - x[u, o]) for u, o, c in moved]
    if s.rep_limit is not None:
        for o in range(s.k):
            # rounded up, so the model never takes a rep's book for less than it is
            book = [(int(np.ceil(value[u] / unit * _SCALE)), x[u, oo]) for u, oo, _ in moved if oo == o]
            if not book:
                continue
            # what leaves o whatever the model does: fixed elsewhere, or o not among its seats
            gone = (owner == o) & (start != o) & fixed
            gone |= (owner == o) & np.array([(u, o) not in x for u in range(s.n)])
            excess = model.new_int_var(0, 100 * _SCALE, "")
            limit = int(np.floor((s.rep_limit[o] - float(value[gone].sum())) / unit * _SCALE))
            model.add(sum(c * (1 - var) for c, var in book) - excess <= limit)
            cost.append(100 * excess)
    model.minimize(sum(cost))


def _hint(model: cp_model.CpModel, x: Pairs, plan: NDArray[np.int64]) -> None:
    model.clear_hints()
    for (u, t), var in x.items():
        if not isinstance(var, int):
            model.add_hint(var, int(plan[u] == t))


def _solve(
    s: _Search,
    model: cp_model.CpModel,
    x: Pairs,
    roots: dict[int, int],
    start: NDArray[np.int64],
    before: float,
    *,
    deadline: float,
    now: Callable[[], float],
    workers: int,
    seed: int,
) -> NDArray[np.int64] | None:
    """CP-SAT from ``start``, again with a cut for each piece cut off from its root, until a
    plan holds together; it counts only when the search's own check finds it better."""
    assert s.p.edges is not None
    edges = s.p.edges
    _hint(model, x, start)
    while now() < deadline - 0.5:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.5, deadline - now())
        solver.parameters.num_workers = max(1, workers)
        solver.parameters.random_seed = seed
        if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        plan = start.copy()
        for (u, t), var in x.items():
            if not isinstance(var, int) and solver.value(var):
                plan[u] = t
        if _cuts(s, model, x, roots, plan, edges) == 0:
            s.reset(plan)
            return plan if s.violation() < before - 1e-12 and _connected(s, plan, edges) else None
        _hint(model, x, plan)
    return None


def _cuts(
    s: _Search,
    model: cp_model.CpModel,
    x: Pairs,
    roots: dict[int, int],
    plan: NDArray[np.int64],
    edges: NDArray[np.int64],
) -> int:
    """For each piece of a territory cut off from its root: its members need one member of
    its ring of neighbours in the territory. Returns the cuts added."""
    label = components(s.n, edges[plan[edges[:, 0]] == plan[edges[:, 1]]])
    cuts = 0
    for t, root in roots.items():
        mine = np.flatnonzero(plan == t)
        for piece_label in set(label[mine].tolist()) - {int(label[root])}:
            piece = set(mine[label[mine] == piece_label].tolist())
            ring = {z for u in piece for z in s.nbrs[u] if z not in piece}
            members = [x[z, t] for z in ring if (z, t) in x and not isinstance(x[z, t], int)]
            for u in piece:
                member = x.get((u, t))
                if member is not None and not isinstance(member, int):
                    model.add(sum(members) >= member) if members else model.add(member == 0)
                    cuts += 1
    return cuts


def _parents(
    s: _Search,
    start: NDArray[np.int64],
    today: NDArray[np.int64],
    depth: NDArray[np.int64],
    x: Pairs,
    model: cp_model.CpModel,
) -> dict[int, int] | None:
    """Ordered parents: each territory's root (its deepest unit at home, else its deepest)
    and, for every other legal member, a neighbour of the same seat closer to the root (by
    hops inside the plan, then outwards). Returns the roots (None when a fixed unit would
    have no parent: the plan is not connected)."""
    nb = s.nbrs
    legal: list[set[int]] = [set() for _ in range(s.k)]
    for u, t in x:
        legal[t].add(u)
    root: dict[int, int] = {}
    dist: dict[tuple[int, int], int] = {}
    for t in range(s.k):
        mine = np.flatnonzero(start == t)
        if not len(mine):
            continue
        home = mine[today[mine] == t]
        pick = home if len(home) else mine
        r = int(pick[np.argmax(depth[pick])])
        root[t] = r
        d = {r: 0}
        queue: deque[int] = deque([r])
        while queue:  # inside the plan's territory first
            u = queue.popleft()
            for z in nb[u]:
                if z not in d and start[z] == t:
                    d[z] = d[u] + 1
                    queue.append(z)
        heap = [(dv, u) for u, dv in d.items()]
        heapq.heapify(heap)
        done: set[int] = set()
        while heap:  # then out to the units that may join
            dv, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            for z in nb[u]:
                if z in legal[t] and start[z] != t and (z not in d or d[z] > dv + 1):
                    d[z] = dv + 1
                    heapq.heappush(heap, (dv + 1, z))
        for u, dv in d.items():
            dist[u, t] = dv
    for (u, t), var in list(x.items()):
        if root.get(t) == u:
            continue
        if (u, t) not in dist:
            if isinstance(var, int):
                return None
            model.add(var == 0)
            continue
        parents = [x[z, t] for z in nb[u] if (z, t) in x and (z, t) in dist and dist[z, t] < dist[u, t]]
        if any(isinstance(p, int) for p in parents):
            continue  # a fixed member next to it, closer to the root
        if isinstance(var, int):  # a fixed member: one of its free neighbours stays
            if not parents:
                return None
            model.add(sum(parents) >= 1)
            continue
        if parents:
            model.add(sum(parents) >= var)
        else:
            model.add(var == 0)
    return root


def _connected(s: _Search, plan: NDArray[np.int64], edges: NDArray[np.int64]) -> bool:
    """Every territory of ``plan`` in one piece."""
    label = components(s.n, edges[plan[edges[:, 0]] == plan[edges[:, 1]]])
    return all(len(set(label[plan == t].tolist())) <= 1 for t in range(s.k))
