"""Per-territory metrics of an assignment, computed from the raw problem arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .problem import Problem


def territory_connected(problem: Problem, assign: NDArray[np.int64]) -> NDArray[np.bool_] | None:
    """Whether each seat's units form one connected piece of the adjacency graph.

    None when the problem has no adjacency. An empty territory counts as connected.
    """
    if problem.edges is None:
        return None
    edges = problem.edges
    same = assign[edges[:, 0]] == assign[edges[:, 1]]
    e = edges[same]
    n = problem.n_units
    graph = csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    pieces = np.zeros(problem.n_seats, dtype=np.int64)
    for t in range(problem.n_seats):
        pieces[t] = len(np.unique(labels[assign == t]))
    return pieces <= 1


def cut_edges(problem: Problem, assign: NDArray[np.int64]) -> int:
    """Adjacency edges whose two units are in different territories."""
    if problem.edges is None:
        return 0
    return int((assign[problem.edges[:, 0]] != assign[problem.edges[:, 1]]).sum())


def travel(
    problem: Problem, assign: NDArray[np.int64], seat_pos: NDArray[np.float64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float]:
    """Distance of each unit to its seat's home or centre [km], and the weighted mean [km]."""
    d = np.linalg.norm(problem.unit_xy - seat_pos[assign], axis=1)
    return d, float((weight * d).sum() / max(weight.sum(), 1e-12))


def territory_table(
    problem: Problem,
    assign: NDArray[np.int64],
    *,
    target: NDArray[np.float64],
    tolerance: dict[str, float],
    seat_pos: NDArray[np.float64],
    weight: NDArray[np.float64],
    exempt: NDArray[np.bool_],
) -> pd.DataFrame:
    """One row per territory: units, each measure with target and deviation [%], travel [km],
    contiguity, whether it stands alone (exempt from balance)."""
    k = problem.n_seats
    dist, _ = travel(problem, assign, seat_pos, weight)
    rows: dict[str, object] = {
        "territory_id": problem.seat_ids,
        "name": problem.seat_names,
        "units": np.bincount(assign, minlength=k),
    }
    for j, name in enumerate(problem.measure_names):
        load = np.bincount(assign, weights=problem.measures[:, j], minlength=k)
        rows[name] = load
        rows[f"{name}_target"] = target[:, j]
        safe = np.where(target[:, j] > 0, target[:, j], 1.0)
        rows[f"{name}_dev_pct"] = np.where(target[:, j] > 0, 100 * (load / safe - 1), 0.0)
    wsum = np.bincount(assign, weights=weight, minlength=k)
    wd = np.bincount(assign, weights=weight * dist, minlength=k)
    rows["travel_km"] = np.where(wsum > 0, wd / np.maximum(wsum, 1e-12), 0.0)
    farthest = np.zeros(k)
    np.maximum.at(farthest, assign, dist)
    rows["max_distance_km"] = farthest
    connected = territory_connected(problem, assign)
    rows["contiguous"] = connected if connected is not None else [None] * k
    rows["stands_alone"] = exempt
    frame = pd.DataFrame(rows)
    for name, tol in tolerance.items():
        if f"{name}_dev_pct" in frame:
            frame[f"{name}_within_tolerance"] = exempt | (frame[f"{name}_dev_pct"].abs() <= 100 * tol + 1e-6)
    return frame
