"""Candidate pairs narrowed for a solve: exempt seats, units that cannot fit, subsets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ..model import ModelSpec, build_candidates, seat_positions
from ..model.candidates import Candidates, legal_pairs
from ..problem import Problem


def exempt_filter(problem: Problem, cand: Candidates, exempt: NDArray[np.bool_]) -> Candidates:
    """An exempt seat holds only its standing unit, and nothing else goes there."""
    if not exempt.any():
        return cand
    keep = ~exempt[cand.seat] | (problem.lock[cand.unit] == cand.seat)
    return subset(problem, cand, cand.unit[keep], cand.seat[keep], cand.exact)


def subset(problem: Problem, cand: Candidates, u: NDArray[np.int64], s: NDArray[np.int64], exact: bool) -> Candidates:
    """The pairs ``(u, s)`` of ``cand`` (distances kept; NaN for a pair ``cand`` lacks)."""
    k = cand.n_seats
    order = np.argsort(u * k + s, kind="stable")
    u, s = u[order], s[order]
    keys = cand.unit * k + cand.seat
    pos = np.searchsorted(keys, u * k + s)
    dist = np.where(pos < len(keys), cand.distance[np.minimum(pos, len(keys) - 1)], 0.0)
    fix = (pos >= len(keys)) | (keys[np.minimum(pos, len(keys) - 1)] != u * k + s)
    if fix.any():
        dist = dist.copy()
        dist[fix] = np.nan
    indptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=problem.n_units))]).astype(np.int64)
    return Candidates(
        unit=u,
        seat=s,
        distance=dist,
        indptr=indptr,
        n_seats=k,
        pruned=problem.n_units * k - len(u),
        exact=exact and len(u) == len(cand.unit),
    )


def limits(problem: Problem, spec: ModelSpec) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit values (n, H) and each seat's upper limits (k, H) for hard balance and caps."""
    rows = spec.bands(problem, hard=True, capacity=True).rows()
    if not rows:
        return np.zeros((problem.n_units, 0)), np.zeros((problem.n_seats, 0))
    return np.column_stack([problem.measures[:, r.measure] for r in rows]), np.column_stack([r.high for r in rows])


def fit_filter(
    problem: Problem,
    cand: Candidates,
    values: NDArray[np.float64],
    limits: NDArray[np.float64],
    exempt: NDArray[np.bool_] | None = None,
    pos: NDArray[np.float64] | None = None,
) -> Candidates:
    """Drop pairs whose unit alone exceeds the seat's upper limit (they are infeasible). With
    ``exempt`` and ``pos`` (seat positions) given, a unit left with no pair (too large for
    its nearest seats, not for a larger one: seats of unequal FTE) gets every legal seat it
    fits outside the exempt ones, at its distance to ``pos`` (it failed as "no way to give
    every unit an allowed seat: check skills, locks and exclusions")."""
    if values.shape[1] == 0:
        return cand
    fits = np.all(values[cand.unit] <= limits[cand.seat] * (1 + 1e-9), axis=1)
    keep = fits | (problem.lock[cand.unit] == cand.seat)
    if keep.all():
        return cand
    u, s = cand.unit[keep], cand.seat[keep]
    lost = np.setdiff1d(np.unique(cand.unit), u)
    if exempt is None or pos is None or len(lost) == 0:
        return subset(problem, cand, u, s, cand.exact)
    room = np.all(values[lost][:, None, :] <= limits[None, :, :] * (1 + 1e-9), axis=2)
    room &= ~np.asarray(exempt, dtype=bool)[None, :]
    lu, ls = np.nonzero(room)
    lu, ls = legal_pairs(problem, lost[lu], ls)
    out = subset(problem, cand, np.concatenate([u, lu]), np.concatenate([s, ls]), cand.exact)
    missing = np.isnan(out.distance)
    dist = out.distance.copy()
    dist[missing] = np.linalg.norm(problem.unit_xy[out.unit[missing]] - pos[out.seat[missing]], axis=1)
    return replace(out, distance=dist)


def with_distances(problem: Problem, cand: Candidates, centres: NDArray[np.int64]) -> Candidates:
    """``cand`` with each pair's distance to the seat's position (home or centre) [km]."""
    pos = seat_positions(problem, centres)
    dist = np.linalg.norm(problem.unit_xy[cand.unit] - pos[cand.seat], axis=1)
    return replace(cand, distance=dist)


def narrowed(
    problem: Problem,
    centres: NDArray[np.int64],
    *,
    nearest: int,
    radius_km: float | None,
    exempt: NDArray[np.bool_],
    values: NDArray[np.float64],
    limits: NDArray[np.float64],
    plan: NDArray[np.int64] | None = None,
    need: NDArray[np.float64] | None = None,
) -> Candidates:
    """Candidate pairs around ``centres`` (plus each unit's seat in ``plan``), without
    exempt seats' pairs and pairs whose unit cannot fit."""
    extra = None if plan is None else np.column_stack([np.arange(problem.n_units), plan])
    cand = build_candidates(problem, centres, nearest=nearest, radius_km=radius_km, extra=extra, need=need)
    return fit_filter(problem, exempt_filter(problem, cand, exempt), values, limits)
