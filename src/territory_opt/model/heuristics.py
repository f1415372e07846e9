"""Warm start: a fast heuristic plan handed to CP-SAT as a hint.

* With contiguity: region growing from each seat's root, always adding a unit next to a
  unit of the territory one hop closer to the root (so the plan satisfies the contiguity
  condition of :mod:`.contiguity`), the least-loaded territory growing first.
* Without: a greedy assignment of the largest units first to the nearest seat with room.

Then a local search moves single units (whole families) between territories to remove
balance and capacity violations, keeping the contiguity condition.
"""

from __future__ import annotations

import heapq
import time

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem
from .candidates import Candidates
from .contiguity import Contiguity
from .formulation import ModelSpec, targets


class _State:
    def __init__(self, problem: Problem, cand: Candidates, spec: ModelSpec, contiguity: Contiguity | None) -> None:
        self.problem = problem
        self.cand = cand
        self.contiguity = contiguity
        k = problem.n_seats
        exempt = spec.exempt if spec.exempt is not None else np.zeros(k, dtype=bool)
        target = targets(problem, spec.exempt)
        rows = []  # (measure, lo (k,), hi (k,), norm (k,))
        for rule in spec.balance:
            if not rule.hard:
                continue
            tm = target[:, rule.measure]
            lo = np.where(exempt, -np.inf, (1 - rule.tolerance) * tm)
            hi = np.where(exempt, np.inf, (1 + rule.tolerance) * tm)
            rows.append((rule.measure, lo, hi, np.maximum(tm, 1e-9)))
        for m, cap in spec.capacity:
            limit = cap * problem.seat_capacity
            rows.append((m, np.full(k, -np.inf), limit, np.maximum(limit, 1e-9)))
        self.rows = rows
        self.values = np.column_stack([problem.measures[:, m] for m, *_ in rows]) if rows else np.zeros((problem.n_units, 0))
        self.lo = np.column_stack([r[1] for r in rows]) if rows else np.zeros((k, 0))
        self.hi = np.column_stack([r[2] for r in rows]) if rows else np.zeros((k, 0))
        self.norm = np.column_stack([r[3] for r in rows]) if rows else np.ones((k, 0))
        self.primary = target[:, spec.balance[0].measure] if spec.balance else problem.seat_capacity.copy()
        self.primary_values = problem.measures[:, spec.balance[0].measure] if spec.balance else np.ones(problem.n_units)
        self.assign = np.full(problem.n_units, -1, dtype=np.int64)
        self.load = np.zeros((k, self.values.shape[1]))
        indptr, indices = problem.neighbours()
        self.nbrs = [indices[indptr[u] : indptr[u + 1]].tolist() for u in range(problem.n_units)]
        fam = problem.family if spec.families else np.full(problem.n_units, -1)
        self.group: dict[int, list[int]] = {}
        for u in np.flatnonzero(fam >= 0):
            self.group.setdefault(int(fam[u]), []).append(int(u))
        self.fam = fam
        self.locked = problem.lock >= 0 if spec.locks else np.zeros(problem.n_units, dtype=bool)
        self.cand_sets = [set(cand.seats_of(u).tolist()) for u in range(problem.n_units)]
        self.dist = {}
        for p in range(len(cand)):
            self.dist[(int(cand.unit[p]), int(cand.seat[p]))] = float(cand.distance[p])
        self.weight = spec.travel_weight if spec.travel_weight is not None else np.ones(problem.n_units)
        self.is_root = np.zeros(problem.n_units, dtype=bool)
        if contiguity is not None:
            self.is_root[contiguity.roots] = True

    def members(self, u: int) -> list[int]:
        f = int(self.fam[u])
        return self.group[f] if f >= 0 else [u]

    def put(self, units: list[int], t: int) -> None:
        for u in units:
            old = self.assign[u]
            if old >= 0:
                self.load[old] -= self.values[u]
            self.assign[u] = t
            self.load[t] += self.values[u]

    def violation(self, t: int, load: NDArray[np.float64]) -> float:
        over = np.maximum(load - self.hi[t], 0.0)
        under = np.maximum(self.lo[t] - load, 0.0)
        return float(((over + under) / self.norm[t]).sum())

    # contiguity condition checks -------------------------------------------------------
    def can_join(self, u: int, t: int) -> bool:
        if t not in self.cand_sets[u]:
            return False
        if self.contiguity is None:
            return True
        h = self.contiguity.hops[t]
        return any(self.assign[z] == t and h[z] == h[u] - 1 for z in self.nbrs[u])

    def can_leave(self, u: int) -> bool:
        if self.locked[u] or self.is_root[u]:
            return False
        if self.contiguity is None:
            return True
        s = int(self.assign[u])
        h = self.contiguity.hops[s]
        for w in self.nbrs[u]:
            if self.assign[w] == s and h[w] == h[u] + 1:
                if not any(z != u and self.assign[z] == s and h[z] == h[w] - 1 for z in self.nbrs[w]):
                    return False
        return True


def _grow(state: _State) -> None:
    problem, cont = state.problem, state.contiguity
    assert cont is not None
    k = problem.n_seats
    for u in np.flatnonzero(state.locked):
        state.put([int(u)], int(problem.lock[u]))
    for t, r in enumerate(cont.roots):
        if state.assign[r] < 0:
            state.put([int(r)], t)
    heaps: list[list[tuple[float, int]]] = [[] for _ in range(k)]

    def push_frontier(u: int, t: int) -> None:
        for z in state.nbrs[u]:
            if state.assign[z] < 0 and t in state.cand_sets[z]:
                heapq.heappush(heaps[t], (state.dist[(z, t)], z))

    for u in np.flatnonzero(state.assign >= 0):
        push_frontier(int(u), int(state.assign[u]))
    ratio = np.array([state.primary_values[state.assign == t].sum() / max(state.primary[t], 1e-9) for t in range(k)])
    active = [(ratio[t], t) for t in range(k)]
    heapq.heapify(active)
    while active:
        _, t = heapq.heappop(active)
        placed = False
        while heaps[t]:
            _, z = heapq.heappop(heaps[t])
            if state.assign[z] < 0 and state.can_join(z, t):
                state.put([z], t)
                push_frontier(z, t)
                ratio[t] += state.primary_values[z] / max(state.primary[t], 1e-9)
                placed = True
                break
        if placed:
            heapq.heappush(active, (ratio[t], t))
    # units no territory could reach under the condition: any legal seat, else the nearest
    for _ in range(3):
        for u in np.flatnonzero(state.assign < 0):
            options = [t for t in state.cand_sets[u] if state.can_join(int(u), t)]
            if options:
                state.put([int(u)], min(options, key=lambda t: state.dist[(int(u), t)]))
    for u in np.flatnonzero(state.assign < 0):
        state.put([int(u)], min(state.cand_sets[u], key=lambda t: state.dist[(int(u), t)]))


def _greedy(state: _State) -> None:
    problem = state.problem
    for u in np.flatnonzero(state.locked):
        state.put(state.members(int(u)), int(problem.lock[u]))
    order = np.argsort(-state.primary_values, kind="stable")
    for u in order:
        if state.assign[u] >= 0:
            continue
        group = state.members(int(u))
        options = set.intersection(*(state.cand_sets[g] for g in group)) or state.cand_sets[int(u)]
        add = state.values[group].sum(axis=0)
        best, best_key = None, None
        for t in options:
            fits = bool(np.all(state.load[t] + add <= state.hi[t]))
            key = (not fits, sum(state.dist.get((g, t), 1e9) * state.weight[g] for g in group))
            if best_key is None or key < best_key:
                best, best_key = t, key
        assert best is not None
        state.put(group, int(best))


def _improve(state: _State, deadline: float, max_moves: int | None) -> None:
    """Move single units (families whole) to reduce the total balance/capacity violation."""
    k = state.problem.n_seats
    if state.values.shape[1] == 0:
        return
    stuck: set[int] = set()
    moves = 0
    while time.perf_counter() < deadline and (max_moves is None or moves < max_moves):
        moves += 1
        viol = np.array([state.violation(t, state.load[t]) for t in range(k)])
        viol[list(stuck)] = 0.0
        t = int(np.argmax(viol))
        if viol[t] <= 1e-12:
            return
        over = bool(np.any(state.load[t] > state.hi[t]))
        best = None
        best_gain = 1e-12
        if over:
            movers = [int(u) for u in np.flatnonzero(state.assign == t)]
        else:
            inside = np.flatnonzero(state.assign == t)
            if state.contiguity is not None:
                movers = sorted({z for u in inside for z in state.nbrs[u] if state.assign[z] != t})
            else:
                movers = [int(u) for u in np.flatnonzero(state.assign != t) if t in state.cand_sets[u]]
        for u in movers:
            group = state.members(u)
            src = int(state.assign[u])
            if not all(state.can_leave(g) for g in group):
                continue
            delta = state.values[group].sum(axis=0)
            dests = [s for s in state.cand_sets[u] if s != src] if over else [t]
            for dst in dests:
                if not all(state.can_join(g, dst) for g in group):
                    continue
                before = state.violation(src, state.load[src]) + state.violation(dst, state.load[dst])
                after = state.violation(src, state.load[src] - delta) + state.violation(dst, state.load[dst] + delta)
                gain = before - after
                if gain > best_gain:
                    best, best_gain = (group, dst), gain
        if best is None:
            stuck.add(t)
            continue
        stuck.clear()
        state.put(best[0], best[1])


def warm_start(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    contiguity: Contiguity | None,
    *,
    time_limit: float = 10.0,
    start: NDArray[np.int64] | None = None,
    max_moves: int | None = None,
) -> tuple[NDArray[np.int64], float]:
    """A heuristic assignment and its remaining violation (0 when balance and capacity hold).

    ``start``: an assignment to repair instead of building one (e.g. the last plan).
    ``max_moves``: stop the local search by a move count (deterministic mode).
    """
    deadline = time.perf_counter() + time_limit
    state = _State(problem, cand, spec, contiguity)
    if start is not None and all(int(start[u]) in state.cand_sets[u] for u in range(problem.n_units)):
        state.put(list(range(problem.n_units)), 0)
        state.load[:] = 0
        for u in range(problem.n_units):
            state.assign[u] = -1
        for u in range(problem.n_units):
            state.put([u], int(start[u]))
    elif contiguity is not None:
        _grow(state)
    else:
        _greedy(state)
    _improve(state, deadline, max_moves)
    total = sum(state.violation(t, state.load[t]) for t in range(problem.n_seats))
    return state.assign.copy(), float(total)
