"""Contiguity by the shortest-path neighbour condition (a linear sufficient condition).

Each seat t has a root unit r_t (the unit at its home base, or its chosen centre) that it
always holds. Let h_t(u) be the hop distance from r_t to u in the adjacency graph. Then

    x[u,t] <= sum of x[v,t] over neighbours v of u with h_t(v) = h_t(u) - 1     (u != r_t)

so every unit of territory t has a neighbour in t one step closer to r_t, hence a path to
r_t inside t: every territory is connected. The condition is sufficient, not necessary
(territories are "star-shaped" around their root in hop distance), which is why it stays
compact and linear at county scale. A pair with no possible predecessor is pruned; pruning
never leaves a unit without an option (the shortest path to a root is added back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

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


def choose_roots(problem: Problem, centres: NDArray[np.int64]) -> NDArray[np.int64]:
    """Root unit per seat: the chosen centre, or the unit nearest the home base.

    Two seats never share a root: a later seat takes its next-nearest free unit. Units
    locked to another seat, or that the seat lacks the skills for, are not roots.
    """
    pos = seat_positions(problem, centres)
    roots = np.full(problem.n_seats, -1, dtype=np.int64)
    taken: set[int] = set()
    order = np.argsort(~problem.has_home, kind="stable")  # free centres are already units
    for t in order:
        if not problem.has_home[t] and int(centres[t]) not in taken and _can_root(problem, int(centres[t]), t):
            roots[t] = centres[t]
            taken.add(int(centres[t]))
            continue
        d = np.linalg.norm(problem.unit_xy - pos[t], axis=1)
        for u in np.argsort(d, kind="stable"):
            if int(u) not in taken and _can_root(problem, int(u), int(t)):
                roots[t] = u
                taken.add(int(u))
                break
    return roots


def _can_root(problem: Problem, unit: int, seat: int) -> bool:
    lock = problem.lock[unit]
    ok = lock in (-1, seat)
    ok &= bool(problem.eligible(np.array([unit]), np.array([seat]))[0])
    return bool(ok)


def graph(problem: Problem) -> csr_matrix:
    n = problem.n_units
    edges = problem.edges if problem.edges is not None else np.zeros((0, 2), dtype=np.int64)
    data = np.ones(2 * len(edges))
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    return csr_matrix((data, (rows, cols)), shape=(n, n))


def hop_distances(problem: Problem, roots: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Hop distance and BFS predecessor from every root, shapes (k, n)."""
    dist, pred = shortest_path(graph(problem), unweighted=True, indices=roots, return_predecessors=True)
    return np.atleast_2d(dist), np.atleast_2d(pred).astype(np.int64)


def prune(
    problem: Problem, cand: Candidates, roots: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Pairs that can satisfy the condition, option-less units given their path back.

    Returns the kept ``(unit, seat)`` arrays plus hop distances and BFS predecessors.
    """
    hops, preds = hop_distances(problem, roots)
    indptr, indices = problem.neighbours()
    u, s = cand.unit, cand.seat
    alive = np.isfinite(hops[s, u])
    # roots are forced to their seat: drop other seats' pairs on a root
    root_of = np.full(problem.n_units, -1)
    root_of[roots] = np.arange(len(roots))
    alive &= (root_of[u] == -1) | (root_of[u] == s)
    keys = u * cand.n_seats + s
    h = hops[s, u]
    max_h = int(np.nanmax(np.where(np.isfinite(h), h, 0))) if len(h) else 0
    support = np.zeros(len(u), dtype=bool)
    support[(h == 0)] = True
    for level in range(1, max_h + 1):
        at = np.flatnonzero(alive & (h == level))
        if len(at) == 0:
            continue
        deg = indptr[u[at] + 1] - indptr[u[at]]
        rep_pair = np.repeat(at, deg)
        nbr = indices[np.concatenate([np.arange(indptr[x], indptr[x + 1]) for x in u[at]])] if len(at) else np.zeros(0, np.int64)
        want = nbr * cand.n_seats + s[rep_pair]
        pos = np.searchsorted(keys, want)
        pos = np.minimum(pos, len(keys) - 1)
        ok = (keys[pos] == want) & support[pos] & alive[pos] & (hops[s[rep_pair], nbr] == level - 1)
        support[np.unique(rep_pair[ok])] = True
    alive &= support
    ku, ks = u[alive], s[alive]
    lonely = np.flatnonzero(np.bincount(ku, minlength=problem.n_units) == 0)
    if len(lonely):
        add_u, add_s = [ku], [ks]
        for unit in lonely:
            options = cand.seats_of(int(unit))
            if len(options) == 0:
                continue
            t = options[np.argmin(hops[options, unit])]
            path = [int(unit)]
            while path[-1] != roots[t] and preds[t, path[-1]] >= 0:
                path.append(int(preds[t, path[-1]]))
            add_u.append(np.array(path, dtype=np.int64))
            add_s.append(np.full(len(path), t, dtype=np.int64))
        ku, ks = np.concatenate(add_u), np.concatenate(add_s)
    return ku, ks, hops, preds


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
    ok = (q >= 0) & (hops[s[rep_pair], nbr] == hops[s[rep_pair], u[rep_pair]] - 1)
    return Contiguity(roots=roots, hops=hops, pair=rep_pair[ok], pred=q[ok])


__all__ = ["Contiguity", "choose_roots", "conditions", "hop_distances", "prune", "seat_positions"]
