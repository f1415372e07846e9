"""Centres of seats without a home base: seeding, medoids, kicks and re-seeds.

Seats with a home base sit at it (their centre is the unit nearest it); the others get a
centre unit chosen by weighted k-means++ and Lloyd steps, then moved by location-allocation
(:mod:`.strategies.location_allocation`) to the weighted medoid of their territory.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem


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
        xy = problem.unit_xy
        cost = np.array([(weight[units] * np.linalg.norm(xy[units] - xy[c], axis=1)).sum() for c in units_c])
        new[t] = units_c[int(np.argmin(cost))]
    return new


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
