"""Contiguity by a descending-distance neighbour condition (linear, sufficient).

Each seat t has a root unit r_t (the unit at its home base, or its chosen centre) that it
always holds, and a distance d_t(u) ≥ 0 with d_t(u) = 0 only at the root. Then

    x[u,t] <= sum of x[v,t] over neighbours v of u with d_t(v) < d_t(u)      (u != r_t)

so every unit of territory t has a neighbour in t strictly closer to r_t, hence a
descending path to r_t inside t: every territory is connected. Any such d_t works. With
d_t = hop distance from r_t this is the shortest-path condition of the literature; we
build d_t around a connected warm-start plan instead (hops inside the plan's territory t,
and ``n`` per step outside it), so the warm start always satisfies the condition and the
model may move units anywhere along t's boundary. The condition is sufficient, not
necessary. A pair with no possible predecessor is pruned; pruning never leaves a unit
without an option (its path back to a root is added).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..problem import Problem
from .candidates import Candidates, seat_positions


@dataclass(frozen=True)
class Contiguity:
    """Roots, hop distances and the predecessor lists of the condition.

    Attributes
    ----------
    roots : (k,) int
        Root unit of each seat.
    hops : (k, n) float
        Hop distance from each root (inf when unreachable).
    pair : (R,) int, pred : (R,) int
        Rows of the condition: candidate pair ``pair[i]`` is supported by ``pred[i]``.
    """

    roots: NDArray[np.int64]
    hops: NDArray[np.float64]
    pair: NDArray[np.int64]
    pred: NDArray[np.int64]


def choose_roots(
    problem: Problem,
    centres: NDArray[np.int64],
    *,
    values: NDArray[np.float64] | None = None,
    limits: NDArray[np.float64] | None = None,
    plan: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """Root unit per seat: the chosen centre, or the unit nearest the home base (within
    the seat's territory in ``plan`` when a plan is given).

    Two seats never share a root: a later seat takes its next-nearest free unit. Units
    locked to another seat, that the seat lacks the skills for, or whose activity
    (``values``, (n, H)) alone exceeds the seat's upper limits (``limits``, (k, H)) are
    not roots: a part-time rep living in the largest county roots in a smaller one.
    """
    pos = seat_positions(problem, centres)
    roots = np.full(problem.n_seats, -1, dtype=np.int64)
    taken: set[int] = set()
    order = np.argsort(~problem.has_home, kind="stable")  # free centres are already units
    for t in order:

        def fits(u: int, t: int = int(t)) -> bool:
            return values is None or limits is None or bool(np.all(values[u] <= limits[t]))

        if (
            not problem.has_home[t]
            and int(centres[t]) not in taken
            and _can_root(problem, int(centres[t]), t)
            and fits(int(centres[t]))
        ):
            roots[t] = centres[t]
            taken.add(int(centres[t]))
            continue
        d = np.linalg.norm(problem.unit_xy - pos[t], axis=1)
        order_u = np.argsort(d, kind="stable")
        if plan is not None and (plan == t).any():
            order_u = np.concatenate([order_u[plan[order_u] == t], order_u[plan[order_u] != t]])
        for u in order_u:
            if int(u) not in taken and _can_root(problem, int(u), int(t)) and fits(int(u)):
                roots[t] = u
                taken.add(int(u))
                break
    return roots


def _can_root(problem: Problem, unit: int, seat: int) -> bool:
    lock = problem.lock[unit]
    ok = lock in (-1, seat)
    ok &= bool(problem.eligible(np.array([unit]), np.array([seat]))[0])
    ok &= not bool(problem.excluded(np.array([unit]), np.array([seat]))[0])
    return bool(ok)


def graph(problem: Problem) -> csr_matrix:
    n = problem.n_units
    edges = problem.edges if problem.edges is not None else np.zeros((0, 2), dtype=np.int64)
    data = np.ones(2 * len(edges))
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    return csr_matrix((data, (rows, cols)), shape=(n, n))


def plan_distances(
    problem: Problem, roots: NDArray[np.int64], assign: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """d_t for every seat, shape (k, n), and the shortest-path predecessors.

    Without a plan: hop distance from each root. With a plan: steps inside t's territory
    cost 1, steps elsewhere cost n, so d_t orders t's own units by hops from the root
    inside the territory, then the rest of the map by how far it lies from t.
    """
    g = graph(problem)
    if assign is None:
        dist, pred = dijkstra(g, unweighted=True, indices=roots, return_predecessors=True)
        return np.atleast_2d(dist), np.atleast_2d(pred).astype(np.int64)
    n = problem.n_units
    coo = g.tocoo()
    k = len(roots)
    dist = np.empty((k, n))
    pred = np.empty((k, n), dtype=np.int64)
    for t in range(k):
        inside = (assign[coo.row] == t) & (assign[coo.col] == t)
        weights = np.where(inside, 1.0, float(n))
        gt = csr_matrix((weights, (coo.row, coo.col)), shape=(n, n))
        d, p_ = dijkstra(gt, indices=int(roots[t]), return_predecessors=True)
        dist[t], pred[t] = d, p_
    return dist, pred


def prune(
    problem: Problem, cand: Candidates, roots: NDArray[np.int64], dist: NDArray[np.float64], pred: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs that can satisfy the condition; option-less units get their path back.

    A pair (u, t) is kept when u is t's root, or some neighbour v with d_t(v) < d_t(u)
    has a kept pair (v, t) (a fixed point, computed level by level).
    """
    indptr, indices = problem.neighbours()
    u, s = cand.unit, cand.seat
    k = cand.n_seats
    alive = np.isfinite(dist[s, u])
    root_of = np.full(problem.n_units, -1)
    root_of[roots] = np.arange(len(roots))
    alive &= (root_of[u] == -1) | (root_of[u] == s)
    keys = u * k + s
    deg = indptr[u + 1] - indptr[u]
    rep = np.repeat(np.arange(len(u)), deg)
    starts = np.repeat(indptr[u], deg)
    offsets = np.arange(len(rep)) - np.repeat(np.cumsum(deg) - deg, deg)
    nbr = indices[starts + offsets]
    want = nbr * k + s[rep]
    pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    exists = (keys[pos] == want) & (dist[s[rep], nbr] < dist[s[rep], u[rep]])
    rep, pos = rep[exists], pos[exists]
    support = alive & (root_of[u] == s)
    while True:
        ok = support[pos] & alive[rep]
        new = support.copy()
        new[rep[ok]] = True
        if np.array_equal(new, support):
            break
        support = new
    ku, ks = u[support], s[support]
    lonely = np.flatnonzero(np.bincount(ku, minlength=problem.n_units) == 0)
    if len(lonely):
        add_u, add_s = [ku], [ks]
        for unit in lonely:
            options = cand.seats_of(int(unit))
            if len(options) == 0:
                continue
            t = options[np.argmin(dist[options, unit])]
            path = [int(unit)]
            while path[-1] != roots[t] and pred[t, path[-1]] >= 0:
                path.append(int(pred[t, path[-1]]))
            add_u.append(np.array(path, dtype=np.int64))
            add_s.append(np.full(len(path), t, dtype=np.int64))
        ku, ks = np.concatenate(add_u), np.concatenate(add_s)
        keys2 = np.unique(ku * k + ks)
        ku, ks = keys2 // k, keys2 % k
    return ku, ks


def conditions(cand: Candidates, roots: NDArray[np.int64], hops: NDArray[np.float64], problem: Problem) -> Contiguity:
    """Predecessor rows ``(pair, pred)`` of the condition for the final candidate set."""
    indptr, indices = problem.neighbours()
    u, s = cand.unit, cand.seat
    deg = indptr[u + 1] - indptr[u]
    rep_pair = np.repeat(np.arange(len(u)), deg)
    starts = np.repeat(indptr[u], deg)
    offsets = np.arange(len(rep_pair)) - np.repeat(np.cumsum(deg) - deg, deg)
    nbr = indices[starts + offsets]
    q = cand.index(nbr, s[rep_pair])
    ok = (q >= 0) & (hops[s[rep_pair], nbr] < hops[s[rep_pair], u[rep_pair]])
    return Contiguity(roots=roots, hops=hops, pair=rep_pair[ok], pred=q[ok])


__all__ = ["Contiguity", "choose_roots", "conditions", "plan_distances", "prune", "seat_positions"]
