"""One scoring function for every engine: recomputed from the instance and the labels alone.

* ``territories``: distinct labels used (the instance asks for ``k``);
* ``spread_pct``: for each measure, the largest deviation of a territory's total from the
  mean (total / k), in % of the mean; a missing territory counts as -100 %. The worst
  measure is reported, and ``balanced`` says whether every measure is within its tolerance;
* ``contiguous``: territories that form one connected piece of the adjacency graph / k;
* ``dispersion``: weighted mean distance from each unit to its territory's best centre
  (the member unit minimising that sum: the p-median centre), weights = first measure;
* ``sum_distance``: the same, unweighted and summed (the SJC objective);
* ``radius``: the largest distance from a territory's best p-centre to its members (the
  DTDP dispersion);
* ``cut_edges``: adjacent pairs in different territories;
* ``capacity_ok``: every territory's first measure within the capacity (capacitated cases).
"""

from __future__ import annotations

import numpy as np
from instances import Instance
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _connected(members: np.ndarray, edges: np.ndarray, n: int) -> bool:
    if len(members) <= 1:
        return True
    inside = np.zeros(n, dtype=bool)
    inside[members] = True
    keep = inside[edges[:, 0]] & inside[edges[:, 1]]
    local = np.full(n, -1)
    local[members] = np.arange(len(members))
    e = local[edges[keep]]
    m = len(members)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(m, m)) if len(e) else coo_matrix((m, m))
    return connected_components(graph, directed=False)[0] == 1


def _components_without(big: np.ndarray, edges: np.ndarray, n: int) -> np.ndarray:
    """Component label of each unit in the adjacency graph with the oversized units removed."""
    keep = ~big[edges[:, 0]] & ~big[edges[:, 1]] if len(edges) else np.zeros(0, dtype=bool)
    e = edges[keep] if len(edges) else np.zeros((0, 2), dtype=np.int64)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def oversized(inst: Instance) -> np.ndarray:
    """Units too large for any balanced territory (first measure above the band's upper end,
    the band recomputed without them until none is left): the same rule for every engine. A
    territory made of one such unit alone is exempt from balance; the others are measured
    against the mean of the rest."""
    big = np.zeros(inst.n, dtype=bool)
    if not inst.tolerance:
        return big
    w = inst.weights[:, 0]
    while True:
        mean = w[~big].sum() / (inst.k - big.sum())
        more = ~big & (w > (1 + inst.tolerance[0]) * mean)
        if not more.any() or big.sum() + more.sum() >= inst.k:
            return big
        big |= more


def score(inst: Instance, labels: np.ndarray) -> dict:
    labels = np.asarray(labels)
    n = inst.n
    if labels.shape != (n,):
        raise ValueError(f"{len(labels)} labels for {n} units")
    groups = [np.flatnonzero(labels == t) for t in np.unique(labels)]
    big = oversized(inst)
    # a territory holding an oversized unit stands alone (exempt); units that reach the
    # rest of the map only through oversized units may be with it (nothing else can reach
    # them), so it is measured out, not judged
    comp = _components_without(big, inst.edges, n)
    alone = [bool(big[g].any()) and all(np.isin(np.flatnonzero(comp == comp[u]), g).all() for u in g[~big[g]]) for g in groups]
    rest = [g for g, a in zip(groups, alone, strict=True) if not a]
    totals = np.array([inst.weights[g].sum(axis=0) for g in rest]).reshape(len(rest), -1)
    standing = np.zeros(inst.n, dtype=bool)
    for g, a in zip(groups, alone, strict=True):
        standing[g] = a
    mean = inst.weights[~standing].sum(axis=0) / max(inst.k - int(sum(alone)), 1)
    fte = inst.extra.get("fte")
    if fte is not None:
        # seats of unequal FTE (labels are seat indices): each target in proportion to FTE
        seats = [int(labels[g[0]]) for g, a in zip(groups, alone, strict=True) if not a]
        free = np.ones(len(fte), dtype=bool)
        free[[int(labels[g[0]]) for g, a in zip(groups, alone, strict=True) if a]] = False
        share = np.asarray(fte, float)[seats] / float(np.asarray(fte, float)[free].sum())
        mean = np.outer(share, inst.weights[~standing].sum(axis=0)).reshape(len(seats), -1)
    dev = np.abs(totals - mean) / mean * 100.0
    if len(groups) < inst.k:
        dev = np.vstack([dev, np.full((1, dev.shape[1]), 100.0)])
    spread_by = dev.max(axis=0)
    balanced = bool(inst.tolerance) and all(spread_by[i] <= 100 * inst.tolerance[i] + 1e-6 for i in range(len(inst.tolerance)))
    w = inst.weights[:, 0]
    weighted = unweighted = radius = 0.0
    for g in groups:
        d = np.linalg.norm(inst.xy[g][:, None, :] - inst.xy[g][None, :, :], axis=2)
        weighted += float((d * w[g][:, None]).sum(axis=0).min())
        unweighted += float(d.sum(axis=0).min())
        radius = max(radius, float(d.max(axis=0).min()))
    out = {
        "territories": len(groups),
        "standalone": int(sum(alone)),
        "spread_pct": round(float(spread_by.max()), 2),
        "balanced": balanced if inst.tolerance else None,
        "dispersion": round(weighted / float(w.sum()), 3),
        "sum_distance": round(unweighted, 2),
        "radius": round(radius, 3),
    }
    if len(inst.edges):
        out["contiguous"] = f"{sum(_connected(g, inst.edges, n) for g in groups)}/{inst.k}"
        out["all_contiguous"] = len(groups) == inst.k and all(_connected(g, inst.edges, n) for g in groups)
        out["cut_edges"] = int((labels[inst.edges[:, 0]] != labels[inst.edges[:, 1]]).sum())
    if inst.capacity is not None:
        out["capacity_ok"] = bool(max(inst.weights[g, 0].sum() for g in groups) <= inst.capacity + 1e-6)
    return out


def moved_and_travel(labels: np.ndarray, owner: np.ndarray, value: np.ndarray, home_xy: np.ndarray | None, unit_xy: np.ndarray) -> dict:
    """Realignment figures from the labels alone: the share of today's booked value whose
    unit changed hands (units without an owner today do not count), and the value-weighted
    mean distance from each unit to its territory's home base (when seats have homes)."""
    labels = np.asarray(labels)
    has = owner >= 0
    out: dict = {}
    if has.any():
        out["moved_pct"] = round(float(100 * value[has & (labels != owner)].sum() / value[has].sum()), 2)
    if home_xy is not None:
        d = np.linalg.norm(unit_xy - home_xy[labels], axis=1)
        out["travel"] = round(float((value * d).sum() / value.sum()), 2)
    return out
