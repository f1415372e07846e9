"""Warm start: a fast heuristic plan handed to CP-SAT as a hint.

* With contiguity: region growing from each seat's root (the least-loaded territory grows
  first, by its nearest frontier unit), so every territory is connected.
* Without: a greedy assignment of the largest units first to the nearest seat with room.

Then a local search moves single units (whole families) between territories to remove
balance and capacity violations, keeping every territory connected.
"""

from __future__ import annotations

import heapq
import time

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem
from .candidates import Candidates
from .formulation import ModelSpec


class _State:
    def __init__(self, problem: Problem, cand: Candidates, spec: ModelSpec, roots: NDArray[np.int64] | None) -> None:
        self.problem = problem
        self.cand = cand
        self.contiguity = roots
        k = problem.n_seats
        # the hard bands and the caps, from the one evaluator; the moves below update the
        # loads per move (a whole-plan evaluation per move would be quadratic)
        bands = spec.bands(problem, hard=True, capacity=True)
        rows = bands.rows()
        target = bands.target
        self.rows = rows
        self.values = (
            np.column_stack([problem.measures[:, r.measure] for r in rows]) if rows else np.zeros((problem.n_units, 0))
        )
        self.lo = np.column_stack([r.low for r in rows]) if rows else np.zeros((k, 0))
        self.hi = np.column_stack([r.high for r in rows]) if rows else np.zeros((k, 0))
        self.norm = np.column_stack([r.norm for r in rows]) if rows else np.ones((k, 0))
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
        self.dist = dict(
            zip(zip(cand.unit.tolist(), cand.seat.tolist(), strict=True), cand.distance.tolist(), strict=True)
        )
        self.weight = spec.weight(problem.n_units)
        self.is_root = np.zeros(problem.n_units, dtype=bool)
        if roots is not None:
            self.is_root[roots] = True

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

    def total_violation(self) -> float:
        """The whole plan's stretch outside its bands and caps (:meth:`Row.stretch` summed)."""
        return float(sum(row.stretch(self.load[:, i]).sum() for i, row in enumerate(self.rows)))

    def violation(self, t: int, load: NDArray[np.float64]) -> float:
        # per seat and per move (Row.stretch on one seat's loads, without building rows again)
        over = np.maximum(load - self.hi[t], 0.0)
        under = np.maximum(self.lo[t] - load, 0.0)
        return float(((over + under) / self.norm[t]).sum())

    # contiguity checks: territories stay connected (the model's condition is then built
    # around this plan, see contiguity.plan_distances) ------------------------------------
    def can_join(self, u: int, t: int) -> bool:
        if t not in self.cand_sets[u]:
            return False
        if self.contiguity is None:
            return True
        return any(self.assign[z] == t for z in self.nbrs[u])

    def can_leave(self, u: int) -> bool:
        if self.locked[u] or self.is_root[u]:
            return False
        if self.contiguity is None:
            return True
        return stays_connected(u, self.assign, self.nbrs)


def stays_connected(u: int, assign: NDArray[np.int64] | list[int], nbrs: list[list[int]]) -> bool:
    """Whether u's territory is still one piece without u: a search from one of u's
    neighbours in it, stopped as soon as all the others are seen."""
    s = int(assign[u])
    inside = [z for z in nbrs[u] if assign[z] == s]
    if len(inside) <= 1:
        return True
    left = set(inside[1:])
    seen = {u, inside[0]}
    stack = [inside[0]]
    while stack and left:
        z = stack.pop()
        for y in nbrs[z]:
            if y not in seen and assign[y] == s:
                seen.add(y)
                left.discard(y)
                stack.append(y)
    return not left


def _grow(state: _State) -> None:
    problem, roots = state.problem, state.contiguity
    assert roots is not None
    k = problem.n_seats
    for u in np.flatnonzero(state.locked):
        state.put([int(u)], int(problem.lock[u]))
    for t, r in enumerate(roots):
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


def _from_plan(state: _State, start: NDArray[np.int64]) -> None:
    """Start from a given plan; a unit whose seat there is not allowed (skills, lock,
    pruning) goes to its nearest allowed seat, and families follow their first member."""
    problem = state.problem
    for u in range(problem.n_units):
        seat = int(problem.lock[u]) if state.locked[u] else int(start[u])
        if seat < 0 or seat not in state.cand_sets[u]:
            seat = min(state.cand_sets[u], key=lambda t: state.dist[(u, t)])
        state.put([u], seat)
    for members in state.group.values():
        head_seat = int(state.assign[members[0]])
        locked = [m for m in members if state.locked[m]]
        if locked:
            head_seat = int(problem.lock[locked[0]])
        if all(head_seat in state.cand_sets[m] for m in members):
            state.put(members, head_seat)


def _from_owners(state: _State) -> None:
    """Start from the current alignment (units without a usable owner go to the nearest
    candidate), then, with contiguity, give every detached piece of a territory to the
    neighbouring territory it shares most edges with."""
    problem = state.problem
    for u in range(problem.n_units):
        seat = int(problem.lock[u]) if state.locked[u] else int(problem.owner[u])
        if seat < 0 or seat not in state.cand_sets[u]:
            seat = min(state.cand_sets[u], key=lambda t: state.dist[(u, t)])
        state.put([u], seat)
    roots = state.contiguity
    if roots is None:
        return
    for t, r in enumerate(roots):
        state.put([int(r)], t)
    for _ in range(50):
        moved = False
        for t, r in enumerate(roots):
            members = set(np.flatnonzero(state.assign == t).tolist())
            seen = {int(r)}
            stack = [int(r)]
            while stack:
                z = stack.pop()
                for y in state.nbrs[z]:
                    if y in members and y not in seen:
                        seen.add(y)
                        stack.append(y)
            for u in members - seen:
                if state.locked[u]:
                    continue
                counts: dict[int, int] = {}
                for y in state.nbrs[u]:
                    a = int(state.assign[y])
                    if a != t and a in state.cand_sets[u]:
                        counts[a] = counts.get(a, 0) + 1
                if counts:
                    state.put([u], max(counts, key=lambda a: (counts[a], -a)))
                    moved = True
        if not moved:
            return


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


def _improve(state: _State, deadline: float, max_moves: int | None, rng: np.random.Generator) -> None:
    """Local search on boundary moves (families whole).

    The search minimises the sum of squared relative deviations from target, which spreads
    load along chains of territories (a plain "violation" objective stalls when the
    neighbours of an overloaded territory are full too), and stops as soon as every
    territory sits inside its band.
    """
    problem = state.problem
    if state.values.shape[1] == 0:
        return
    tgt = state.norm
    both = np.isfinite(state.lo) & np.isfinite(state.hi)
    mid = np.where(both, (np.where(both, state.lo, 0.0) + np.where(both, state.hi, 0.0)) / 2, np.minimum(state.hi, tgt))
    finite = np.isfinite(state.hi) & np.isfinite(state.lo)
    cap_only = ~np.isfinite(state.lo) & np.isfinite(state.hi)

    def cost(t: int, load: NDArray[np.float64]) -> float:
        dev = np.where(finite[t], (load - mid[t]) / tgt[t], 0.0)
        over = np.where(cap_only[t], np.maximum(load - state.hi[t], 0.0) / tgt[t], 0.0)
        return float((dev * dev).sum() + 10.0 * (over * over).sum())

    moves = 0
    units = np.arange(problem.n_units)
    while time.perf_counter() < deadline and (max_moves is None or moves < max_moves):
        if state.total_violation() <= 1e-12:
            return
        improved = False
        rng.shuffle(units)
        for u in units.tolist():
            src = int(state.assign[u])
            if state.contiguity is not None:
                dests = {int(state.assign[z]) for z in state.nbrs[u]} - {src}
            else:
                dests = set(state.cand_sets[u]) - {src}
            if not dests:
                continue
            group = state.members(u)
            if not all(state.can_leave(g) for g in group):
                continue
            delta = state.values[group].sum(axis=0)
            base_src = cost(src, state.load[src])
            new_src = cost(src, state.load[src] - delta)
            best, best_gain = -1, 1e-12
            for dst in dests:
                if not all(state.can_join(g, dst) for g in group):
                    continue
                gain = base_src + cost(dst, state.load[dst]) - new_src - cost(dst, state.load[dst] + delta)
                if gain > best_gain:
                    best, best_gain = dst, gain
            if best >= 0:
                state.put(group, best)
                moves += 1
                improved = True
                if time.perf_counter() > deadline or (max_moves is not None and moves >= max_moves):
                    return
        if not improved:
            return


def warm_start(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    roots: NDArray[np.int64] | None,
    *,
    time_limit: float = 10.0,
    start: NDArray[np.int64] | None = None,
    max_moves: int | None = None,
    seed: int = 0,
) -> tuple[NDArray[np.int64], float]:
    """A heuristic assignment and its remaining violation (0 when balance and capacity hold).

    ``start``: an assignment to repair instead of building one (e.g. the last plan).
    ``max_moves``: stop the local search by a move count (deterministic mode).
    """
    deadline = time.perf_counter() + time_limit
    state = _State(problem, cand, spec, roots)
    if start is not None:
        _from_plan(state, start)
        if roots is not None:  # roots belong to their seats (a moved centre may sit elsewhere)
            for t, r in enumerate(roots):
                state.put([int(r)], t)
    elif spec.disruption_max is not None or spec.disruption_per_rep is not None:
        _from_owners(state)  # a realignment starts from today's territories
    elif roots is not None:
        _grow(state)
    else:
        _greedy(state)
    _improve(state, deadline, max_moves, np.random.default_rng(seed))
    return state.assign.copy(), state.total_violation()


def bisection_partition(
    problem: Problem,
    weight: NDArray[np.float64],
    seats: NDArray[np.int64],
    units: NDArray[np.int64],
    *,
    seed: int = 0,
    trees: int = 24,
    tolerance: float | None = None,
) -> NDArray[np.int64]:
    """Balanced connected partition by recursive spanning-tree bisection.

    The units are split into two connected parts by cutting one edge of a random
    spanning tree, choosing the cut whose weight share best matches the seats' FTE share
    (as GerryChain's ``bipartition_tree`` does), then each part recursively. Returns the
    seat of each unit in ``units`` (-1 elsewhere).

    With ``tolerance`` (the band of ``weight``, a share of a seat's target), a cut may
    split the seats at any count, not only in halves: it is taken when its side's total is
    within ``0.4 * tolerance`` seat targets of the side's target (the count nearest the
    half first), as GerryChain's ``recursive_tree_part`` splits one district off at a time;
    up to eight times as many trees are drawn before the closest cut is taken instead.
    Neither rule is better everywhere (US counties in 100 territories: the flexible rule
    started closer to balance on two seeds of three; 20 random 14 x 14 grids with heavy-tailed
    weights: halves were within ±5 % on 6, the flexible rule on 3), so the engine draws
    both (:func:`~territory_opt.solve.prepare._bisection_start`).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    rng = np.random.default_rng(seed)
    n = problem.n_units
    out = np.full(n, -1, dtype=np.int64)
    edges = problem.edges if problem.edges is not None else np.zeros((0, 2), dtype=np.int64)
    fte = problem.seat_capacity

    def cut_at(sub: NDArray[np.float64], total: float, group_seats: NDArray[np.int64]) -> tuple[int, int, float]:
        """The best cut of one tree: (node, seats on its side, error in the measure)."""
        k = len(group_seats)
        half = k // 2
        if tolerance is None:
            share = fte[group_seats[:half]].sum() / fte[group_seats].sum()
            err = np.abs(sub / total - share)
            err[0] = np.inf
            v = int(np.argmin(err))
            return v, half, float(err[v] * total)
        per = total / fte[group_seats].sum()
        side = np.cumsum(fte[group_seats])[:-1] * per  # the target of the first j seats, j = 1..k-1
        slack = 0.4 * tolerance * per * float(fte[group_seats].min())
        i = np.searchsorted(side, sub)
        lo_i, hi_i = np.clip(i - 1, 0, k - 2), np.clip(i, 0, k - 2)
        pick = np.where(np.abs(sub - side[lo_i]) <= np.abs(sub - side[hi_i]), lo_i, hi_i)
        err = np.abs(sub - side[pick])
        nearest = pick + 1
        err[0] = np.inf
        ok = np.flatnonzero(err <= slack)
        if len(ok):  # within the slack: the count nearest the half
            v = int(ok[np.argmin(np.abs(nearest[ok] - half))])
            return v, int(nearest[v]), 0.0
        v = int(np.argmin(err))
        return v, int(nearest[v]), float(err[v])

    def split(group: NDArray[np.int64], group_seats: NDArray[np.int64]) -> None:
        if len(group_seats) == 1 or len(group) <= 1:
            out[group] = group_seats[0]
            return
        local = np.full(n, -1, dtype=np.int64)
        local[group] = np.arange(len(group))
        inside = (local[edges[:, 0]] >= 0) & (local[edges[:, 1]] >= 0)
        e = local[edges[inside]]
        m = len(group)
        xy = problem.unit_xy[group]
        # join components by their nearest units so a spanning tree exists
        comp = _components(m, e)
        extra = []
        if comp.max() > 0:
            for c in range(1, comp.max() + 1):
                a = np.flatnonzero(comp == c)
                b = np.flatnonzero(comp < c)
                d = np.linalg.norm(xy[a][:, None, :] - xy[b][None, :, :], axis=2) if len(a) * len(b) < 4e6 else None
                if d is None:
                    extra.append((a[0], b[0]))
                else:
                    i, j = np.unravel_index(np.argmin(d), d.shape)
                    extra.append((a[i], b[j]))
        if extra:
            e = np.vstack([e, np.array(extra)]) if len(e) else np.array(extra)
        w = weight[group]
        total = w.sum()
        best_err, best_side, best_count = np.inf, None, len(group_seats) // 2
        draws = trees if m <= 5000 else max(2, trees // 6)
        for _ in range(draws if tolerance is None else 8 * draws):
            rnd = rng.random(len(e)) + 1e-9
            tree = minimum_spanning_tree(coo_matrix((rnd, (e[:, 0], e[:, 1])), shape=(m, m)).tocsr())
            order, parent = breadth_first_order(tree, 0, directed=False, return_predecessors=True)
            sub = w.copy()
            for v in order[::-1][:-1]:
                sub[parent[v]] += sub[v]
            v, count, err = cut_at(sub, total, group_seats)
            if err < best_err:
                mask = np.zeros(m, dtype=bool)
                # the subtree below v: walk the BFS order, marking children of marked nodes
                mask[v] = True
                for x in order:
                    if x != v and parent[x] >= 0 and mask[parent[x]]:
                        mask[x] = True
                best_err, best_side, best_count = err, mask, count
            if (tolerance is None and best_err < 0.002 * total) or (tolerance is not None and best_err == 0.0):
                break
        assert best_side is not None
        split(group[best_side], group_seats[:best_count])
        split(group[~best_side], group_seats[best_count:])

    # order seats along the main axis of the units so halves are geographic
    split(np.asarray(units, dtype=np.int64), np.asarray(seats, dtype=np.int64))
    return out


def _components(m: int, e: NDArray[np.int64]) -> NDArray[np.int64]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(e) == 0:
        return np.arange(m)
    _, labels = connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(m, m)), directed=False)
    return labels
