"""One scoring function for every engine: recomputed from the instance and the labels alone.

* ``territories``: distinct labels used (the instance asks for ``k``);
* ``spread_pct``: for each measure, the largest deviation of a territory's total from the
  mean (total / k), in % of the mean; a missing territory counts as -100 %. The worst
  measure is reported, and ``balanced`` says whether every measure is within its tolerance.
  A territory that stands alone is measured out (``standalone``): one holding an oversized
  unit (above the band of the rest) or a stranded one (every connected group of units
  holding it misses that band, checked by enumeration), with what reaches the rest of the
  map only through it;
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
    """Component label of each unit in the adjacency graph with the standing units removed."""
    keep = ~big[edges[:, 0]] & ~big[edges[:, 1]] if len(edges) else np.zeros(0, dtype=bool)
    e = edges[keep] if len(edges) else np.zeros((0, 2), dtype=np.int64)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def oversized(inst: Instance) -> np.ndarray:
    """Units too large for any balanced territory (first measure above the largest seat's
    band, the band recomputed without them until none is left): the same rule for every
    engine. A territory made of one such unit alone is exempt from balance; the others are
    measured against the mean of the rest. With seats of unequal FTE the largest band is the
    largest seat's, the standing units taking the smallest seats (so a unit that fits the
    largest seat is never called oversized: Mecklenburg, 1.046 of a full seat's target
    at ±5 %, was, against the mean over seats, on North Carolina with a 0.8 seat)."""
    big = np.zeros(inst.n, dtype=bool)
    if not inst.tolerance:
        return big
    w = inst.weights[:, 0]
    given = inst.extra.get("fte")
    fte = np.sort(np.asarray(np.ones(inst.k) if given is None else given, dtype=float))
    while True:
        rest = fte[int(big.sum()) :]
        top = w[~big].sum() * rest.max() / rest.sum()
        more = ~big & (w > (1 + inst.tolerance[0]) * top)
        if not more.any() or big.sum() + more.sum() >= inst.k:
            return big
        big |= more


def _stranded(u: int, w: np.ndarray, nbrs: list[list[int]], blocked: np.ndarray, lo: float, hi: float) -> bool:
    """Whether every connected set of units holding ``u`` (not through ``blocked``) totals
    outside [lo, hi]: each set is reached once (grow by a border unit, or rule it out for
    good); False, proving nothing, after 200,000 steps."""
    stack = [(frozenset([u]), frozenset(), float(w[u]))]
    steps = 0
    while stack:
        steps += 1
        if steps > 200_000:
            return False
        members, ruled_out, total = stack.pop()
        if lo <= total <= hi:
            return False
        if total > hi:
            continue
        border = sorted({c for a in members for c in nbrs[a] if c not in members and c not in ruled_out and not blocked[c]})
        if border:
            c = border[0]
            stack.append((members | {c}, ruled_out, total + float(w[c])))
            stack.append((members, ruled_out | {c}, total))
    return True


def _alone(groups: list[np.ndarray], anchors: np.ndarray, edges: np.ndarray, n: int) -> list[bool]:
    """Territories that stand alone: holding an anchor, every other member in a piece of the
    map (without the anchors) that lies wholly inside the territory (cut off behind it)."""
    comp = _components_without(anchors, edges, n)
    return [
        bool(anchors[g].any()) and all(np.isin(np.flatnonzero(comp == comp[u]), g).all() for u in g[~anchors[g]])
        for g in groups
    ]


def score(inst: Instance, labels: np.ndarray) -> dict:
    labels = np.asarray(labels)
    n = inst.n
    if labels.shape != (n,):
        raise ValueError(f"{len(labels)} labels for {n} units")
    groups = [np.flatnonzero(labels == t) for t in np.unique(labels)]
    # a territory holding an oversized unit stands alone (exempt); units that reach the
    # rest of the map only through oversized units may be with it (nothing else can reach
    # them), so it is measured out, not judged
    anchors = oversized(inst)
    alone = _alone(groups, anchors, inst.edges, n)
    big_alone = all(a for g, a in zip(groups, alone, strict=True) if anchors[g].any())
    fte = inst.extra.get("fte")
    if inst.tolerance and len(inst.edges) and big_alone:
        # so does a territory around a stranded unit: every connected group holding it
        # (not through standing units) misses the band of the rest (checked here by
        # enumeration, one territory at a time, the band recomputed after each); only when
        # every oversized unit stands alone, so that the band is the rest's
        w = inst.weights[:, 0]
        nbrs: list[list[int]] = [[] for _ in range(n)]
        for a, b in inst.edges.tolist():
            nbrs[a].append(b)
            nbrs[b].append(a)
        changed = True
        while changed:
            changed = False
            standing = np.zeros(n, dtype=bool)
            for g, a in zip(groups, alone, strict=True):
                standing[g] = a
            rest = w[~standing].sum()
            free = np.ones(inst.k, dtype=bool)
            free[[int(labels[g[0]]) for g, a in zip(groups, alone, strict=True) if a]] = False
            # each free seat's target (by FTE when seats differ); a stranded unit misses
            # every seat's band
            share = np.where(free, 1.0 if fte is None else np.asarray(fte, float), 0.0)
            target = rest * share / max(float(share.sum()), 1e-12)
            tol = inst.tolerance[0]
            lo, hi = (1 - tol) * float(target[free].min()), (1 + tol) * float(target[free].max())
            for g, a in zip(groups, alone, strict=True):
                t = int(labels[g[0]])
                if a or (1 - tol) * target[t] <= w[g].sum() <= (1 + tol) * target[t]:
                    continue
                for u in g[np.argsort(-w[g])]:
                    trial = anchors.copy()
                    trial[u] = True
                    blocked = standing | anchors
                    if _alone([g], trial, inst.edges, n)[0] and _stranded(int(u), w, nbrs, blocked, lo, hi):
                        anchors = trial
                        changed = True
                        break
                if changed:
                    alone = _alone(groups, anchors, inst.edges, n)
                    break
    rest = [g for g, a in zip(groups, alone, strict=True) if not a]
    totals = np.array([inst.weights[g].sum(axis=0) for g in rest]).reshape(len(rest), -1)
    standing = np.zeros(inst.n, dtype=bool)
    for g, a in zip(groups, alone, strict=True):
        standing[g] = a
    mean = inst.weights[~standing].sum(axis=0) / max(inst.k - int(sum(alone)), 1)
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


def travel(labels: np.ndarray, weight: np.ndarray, unit_xy: np.ndarray, home_xy: np.ndarray | None = None, has_home: np.ndarray | None = None) -> float:
    """The travel objective from the labels alone: the weighted mean distance of each unit to
    its territory's home base, or, for a territory without one, to its best centre (the
    member minimising the weighted sum: the p-median centre). [the coordinates' unit]"""
    labels = np.asarray(labels)
    total = 0.0
    for t in np.unique(labels):
        g = np.flatnonzero(labels == t)
        if home_xy is not None and has_home is not None and bool(has_home[t]):
            total += float((weight[g] * np.linalg.norm(unit_xy[g] - home_xy[t], axis=1)).sum())
        else:
            d = np.linalg.norm(unit_xy[g][:, None, :] - unit_xy[g][None, :, :], axis=2)
            total += float((d * weight[g][:, None]).sum(axis=0).min())
    return total / max(float(weight.sum()), 1e-300)


def instance_of(problem, tolerances: dict[str, float], name: str = "plan", family: str = "plan") -> Instance:
    """A territory_opt problem as a bench :class:`Instance`: the balanced measures (in the
    scenario's order) with their tolerances, the units' planar coordinates [km], the
    adjacency, and the seats' FTE (targets in proportion)."""
    names = list(tolerances) or list(problem.measure_names[:1])
    edges = problem.edges if problem.edges is not None else np.zeros((0, 2), dtype=np.int64)
    return Instance(
        name=name,
        family=family,
        weights=np.column_stack([problem.measures[:, problem.measure_names.index(m)] for m in names]) if names else np.ones((problem.n_units, 1)),
        measure_names=tuple(names),
        xy=problem.unit_xy,
        edges=np.asarray(edges)[:, :2],
        k=problem.n_seats,
        tolerance=tuple(float(tolerances[m]) for m in names if m in tolerances),
        minimise="dispersion",
        extra={"fte": problem.seat_capacity},
    )


def labels_of(plan) -> np.ndarray:
    """Seat index of each unit, read from the plan's raw assignment table (unit → territory id)."""
    index = {str(s): i for i, s in enumerate(plan.problem.seat_ids)}
    return plan.assignment["territory_id"].astype(str).map(index).to_numpy(dtype=np.int64)


def grade(problem, tolerances: dict[str, float], labels: np.ndarray, *, terms: list[str], bound: float | None = None, bound_scope: str = "") -> dict:
    """Every figure a bench table shows, recomputed from the raw assignment: balance and
    contiguity (:func:`score`), moved value and travel (:func:`moved_and_travel`,
    :func:`travel`), the objective when it is one term (``travel`` [km], ``cut_edges``,
    ``disruption`` [% moved]) and its gap to the bound the engine stated (``bound``, valid
    for ``bound_scope``), in % of the objective. A weighted sum of terms has no single
    recomputed objective: its objective and gap are None."""
    labels = np.asarray(labels, dtype=np.int64)
    inst = instance_of(problem, tolerances)
    out = score(inst, labels)
    weight = inst.weights[:, 0] if tolerances else np.ones(problem.n_units)
    out["travel_km"] = round(travel(labels, weight, problem.unit_xy, problem.seat_xy, problem.has_home), 3)
    moved = moved_and_travel(labels, problem.owner, weight, None, problem.unit_xy)
    if "moved_pct" in moved:
        out["moved_pct"] = moved["moved_pct"]
    single = {"travel": out["travel_km"], "cut_edges": out.get("cut_edges"), "disruption": out.get("moved_pct")}
    objective = single.get(terms[0]) if len(terms) == 1 else None
    out["objective"] = objective
    out["objective_term"] = terms[0] if len(terms) == 1 else "+".join(terms)
    out["stated_bound"] = bound
    out["bound_scope"] = bound_scope
    out["gap_to_stated_bound_pct"] = round(100 * (objective - bound) / objective, 2) + 0.0 if objective and bound is not None else None
    return out


def graded(plan, scenario, folder, name: str) -> dict:
    """A territory_opt plan's figures recomputed from its raw assignment (:func:`grade`, with
    the scenario's tolerances and priorities, against the bound the plan states: the global
    one when it gives one, else its restricted model's), and that assignment kept in
    ``folder`` (:func:`store_labels`)."""
    labels = labels_of(plan)
    tolerances = {m: spec.tolerance for m, spec in scenario.balance.items()}
    bound, scope = (plan.global_bound, "global") if plan.global_bound is not None else (plan.bound, "restricted model")
    row = grade(plan.problem, tolerances, labels, terms=list(scenario.objective.priorities), bound=bound, bound_scope=scope)
    row["assignment"] = store_labels(folder, name, labels)
    row["scored"] = "raw assignment"
    return row


def store_labels(folder, name: str, labels: np.ndarray) -> str:
    """Keep a plan's raw assignment (one seat index per unit, in the problem's unit order) as
    ``<folder>/<name>.txt.gz``, so its figures can be recomputed later; returns the file's
    path from the results folder (``assignments/<section>/<name>.txt.gz``)."""
    import gzip
    import re
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    path = folder / f"{slug}.txt.gz"
    text = "\n".join(str(int(x)) for x in np.asarray(labels)) + "\n"
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as handle:
        handle.write(text.encode())  # no time stamp: the same plan gives the same bytes
    return f"{folder.parent.name}/{folder.name}/{path.name}"


def load_labels(path) -> np.ndarray:
    """A raw assignment kept by :func:`store_labels`."""
    import gzip

    with gzip.open(path, "rt") as handle:
        return np.array([int(x) for x in handle.read().split()], dtype=np.int64)
