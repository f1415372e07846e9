"""Candidate pairs: which (unit, seat) assignments the model may use.

Pruning is what makes 100,000 accounts x 500 reps tractable. A unit keeps its ``nearest``
seats among those with the skills it requires (or all within ``radius_km``), plus its
current owner and its lock; pairs that break skills or an exclusion are dropped. No unit is ever left without an option: a unit whose
near seats are all ineligible gets its nearest eligible seats. A family shares one set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ..evaluate import seat_positions
from ..problem import Problem


@dataclass(frozen=True)
class Candidates:
    """Candidate (unit, seat) pairs sorted by unit then seat.

    Attributes
    ----------
    unit, seat : (P,) int
    distance : (P,) float
        Unit to the seat's home or chosen centre [km].
    indptr : (n+1,) int
        Pairs of unit u are ``indptr[u]:indptr[u+1]``.
    n_seats : int
    pruned : int
        Pairs removed from the full n x k set (skills and exclusions included).
    exact : bool
        True when only infeasible pairs (skills, exclusions, locks) were removed, so the
        pruning cannot cut off an optimal plan.
    """

    unit: NDArray[np.int64]
    seat: NDArray[np.int64]
    distance: NDArray[np.float64]
    indptr: NDArray[np.int64]
    n_seats: int
    pruned: int
    exact: bool

    def __len__(self) -> int:
        return len(self.unit)

    def index(self, unit: NDArray[np.int64] | int, seat: NDArray[np.int64] | int) -> NDArray[np.int64]:
        """Pair index of each (unit, seat), -1 where not a candidate."""
        keys = self.unit * self.n_seats + self.seat
        want = np.asarray(unit, dtype=np.int64) * self.n_seats + np.asarray(seat, dtype=np.int64)
        pos = np.searchsorted(keys, want)
        pos = np.minimum(pos, len(keys) - 1)
        return np.where(keys[pos] == want, pos, -1)

    def seats_of(self, unit: int) -> NDArray[np.int64]:
        return self.seat[self.indptr[unit] : self.indptr[unit + 1]]


def build_candidates(
    problem: Problem,
    centres: NDArray[np.int64],
    *,
    nearest: int = 8,
    radius_km: float | None = None,
    extra: NDArray[np.int64] | None = None,
    need: NDArray[np.float64] | None = None,
) -> Candidates:
    """Prune the (unit, seat) pairs; see the module docstring.

    Parameters
    ----------
    centres : (k,) int
        Centre unit of each seat without a home (ignored for seats with one).
    extra : (Q, 2) int, optional
        Pairs to keep whatever their distance (e.g. a warm start's assignment).
    need : (k,) float, optional
        Activity (of the first balanced measure) each seat must be able to reach: a seat
        whose candidate units hold less than twice that gets its nearest eligible units
        added until they do (an isolated rep is never starved by the pruning).
    """
    n, k = problem.n_units, problem.n_seats
    pos = seat_positions(problem, centres)
    units, seats = [], []
    # the nearest seats *able to take the unit*: one search per distinct skill requirement
    masks, mask_of = np.unique(problem.unit_skills, return_inverse=True)
    for i, mask in enumerate(masks):
        able = np.flatnonzero((mask & ~problem.seat_skills) == 0)
        mine = np.flatnonzero(mask_of == i)
        if len(able) == 0:
            continue  # reported by the pre-checks
        kk = min(nearest, len(able))
        _, near = cKDTree(pos[able]).query(problem.unit_xy[mine], k=kk)
        units.append(np.repeat(mine, kk))
        seats.append(able[np.asarray(near, dtype=np.int64).reshape(len(mine), kk)].ravel())
    tree = cKDTree(pos)
    if radius_km is not None:
        within = tree.query_ball_point(problem.unit_xy, r=radius_km)
        lens = np.fromiter((len(w) for w in within), dtype=np.int64, count=n)
        units.append(np.repeat(np.arange(n), lens))
        seats.append(np.fromiter((s for w in within for s in w), dtype=np.int64, count=int(lens.sum())))
    has_owner = problem.owner >= 0
    units.append(np.flatnonzero(has_owner))
    seats.append(problem.owner[has_owner])
    if extra is not None and len(extra):
        units.append(extra[:, 0])
        seats.append(extra[:, 1])
    u = np.concatenate(units)
    s = np.concatenate(seats)

    # Families share one candidate set: the union of their members' sets.
    fam = problem.family
    if (fam >= 0).any():
        members = np.flatnonzero(fam >= 0)
        fam_u = u[fam[u] >= 0]
        fam_s = s[fam[u] >= 0]
        fam_pairs = np.unique(np.column_stack([fam[fam_u], fam_s]), axis=0)
        order = np.argsort(fam[members], kind="stable")
        members = members[order]
        bounds = np.searchsorted(fam[members], np.arange(fam.max() + 2))
        add_u, add_s = [], []
        for f, t in fam_pairs:
            group = members[bounds[f] : bounds[f + 1]]
            add_u.append(group)
            add_s.append(np.full(len(group), t))
        u = np.concatenate([u, *add_u])
        s = np.concatenate([s, *add_s])

    keys = np.unique(u * k + s)
    u, s = keys // k, keys % k
    u, s = legal_pairs(problem, u, s)
    u, s = _rescue(problem, u, s, pos)
    if need is not None:
        u, s = _feed_seats(problem, u, s, pos, need)
    keys = u * k + s
    order = np.argsort(keys, kind="stable")
    u, s = u[order], s[order]
    dist = np.linalg.norm(problem.unit_xy[u] - pos[s], axis=1)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=n))]).astype(np.int64)
    n_infeasible = _count_feasible_pairs(problem)
    return Candidates(
        unit=u.astype(np.int64),
        seat=s.astype(np.int64),
        distance=dist,
        indptr=indptr,
        n_seats=k,
        pruned=n * k - len(u),
        exact=len(u) == n_infeasible,
    )


def legal_pairs(
    problem: Problem, u: NDArray[np.int64], s: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The pairs ``(u, s)`` a plan may use: skills, locks and exclusions (in order)."""
    keep = problem.eligible(u, s)
    locked = problem.lock[u] >= 0
    keep &= ~locked | (problem.lock[u] == s)
    keep &= ~problem.excluded(u, s)
    return u[keep], s[keep]


def allowed_seats(problem: Problem, unit: int) -> NDArray[np.int64]:
    """Every seat a unit may legally take (skills, lock, exclusions, its family's too)."""
    k = problem.n_seats
    seats = np.arange(k)
    group = np.flatnonzero(problem.family == problem.family[unit]) if problem.family[unit] >= 0 else np.array([unit])
    ok = np.ones(k, dtype=bool)
    for member in group:
        ok &= problem.eligible(np.full(k, member), seats)
        if problem.lock[member] >= 0:
            ok &= seats == problem.lock[member]
        if len(problem.exclusions):
            ok[problem.exclusions[problem.exclusions[:, 0] == member, 1]] = False
    return seats[ok]


def _rescue(
    problem: Problem, u: NDArray[np.int64], s: NDArray[np.int64], pos: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Never prune the only feasible option: give option-less units their nearest legal seats."""
    count = np.bincount(u, minlength=problem.n_units)
    lonely = np.flatnonzero(count == 0)
    if len(lonely) == 0:
        return u, s
    add_u, add_s = [u], [s]
    for unit in lonely:
        allowed = allowed_seats(problem, int(unit))
        if len(allowed) == 0:
            continue  # reported by the pre-checks: nothing can hold this unit
        d = np.linalg.norm(pos[allowed] - problem.unit_xy[unit], axis=1)
        pick = allowed[np.argsort(d, kind="stable")[:3]]
        add_u.append(np.full(len(pick), unit))
        add_s.append(pick)
    return np.concatenate(add_u), np.concatenate(add_s)


def _feed_seats(
    problem: Problem, u: NDArray[np.int64], s: NDArray[np.int64], pos: NDArray[np.float64], need: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    k = problem.n_seats
    value = problem.measures[:, 0] if problem.measures.shape[1] else np.ones(problem.n_units)
    have = np.bincount(s, weights=value[u], minlength=k)
    short = np.flatnonzero(have < 2.0 * need)
    if len(short) == 0:
        return u, s
    tree = cKDTree(problem.unit_xy)
    add_u, add_s = [u], [s]
    for t in short:
        count = 64
        while True:
            count = min(count, problem.n_units)
            _, idx = tree.query(pos[t], k=count)
            idx = np.atleast_1d(idx)
            picked, _ = legal_pairs(problem, idx, np.full(len(idx), t))  # skills, locks, exclusions
            cum = np.cumsum(value[picked])
            if (len(cum) and cum[-1] >= 2.0 * need[t]) or count >= problem.n_units:
                stop = int(np.searchsorted(cum, 2.0 * need[t])) + 1 if len(cum) else 0
                add_u.append(picked[:stop])
                add_s.append(np.full(min(stop, len(picked)), t))
                break
            count *= 4
    u, s = np.concatenate(add_u), np.concatenate(add_s)
    keys = np.unique(u * k + s)
    return keys // k, keys % k


def _count_feasible_pairs(problem: Problem) -> int:
    """How many (unit, seat) pairs are legal at all (skills, locks, exclusions)."""
    k = problem.n_seats
    if problem.n_units * k > 5_000_000:
        return -1  # not counted at this size; pruning is then reported as heuristic
    u = np.repeat(np.arange(problem.n_units), k)
    s = np.tile(np.arange(k), problem.n_units)
    fu, _ = legal_pairs(problem, u, s)
    return len(fu)
