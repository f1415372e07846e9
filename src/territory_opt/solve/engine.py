"""The solve pipeline: pre-checks → centres → candidates → warm start → CP-SAT → Plan.

1. **Pre-checks** (:mod:`.diagnose`): a unit larger than any seat's balance band is
   treated up front (``standalone``: it becomes its own territory, exempt from balance and
   reported; ``fail``: the scenario is refused with the figures), then arithmetic conflicts.
2. **Centres** for seats without a home base: population-weighted k-means++ seeding and
   Lloyd steps, snapped to units.
3. **Candidates** (:mod:`.model.candidates`), pruned further by the contiguity condition.
4. **Warm start** (:mod:`.model.heuristics`): region growing / greedy, then local search.
5. **CP-SAT** with the warm start as a hint and a time limit; objective terms weighted or
   lexicographic (solve, keep the first within ``slack``, re-solve).
6. For seats without a home: **location-allocation**: move each centre to the weighted
   medoid of its territory and re-solve, until the centres stop moving (p-median style).
7. **Plan** with metrics and the independent audit.

Determinism: with ``solver.deterministic`` CP-SAT runs one worker with the fixed seed
and a deterministic time limit (``max_deterministic_time``) instead of a wall clock, and
the local search stops by a move count, not a clock, so the same inputs and seed give
the same plan (OR-Tools issues #1145, #4195, #2159 explain why multi-worker or
wall-clock-limited runs are not repeatable).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from .. import geo, resources
from .._version import __version__
from ..audit import Rules, audit
from ..diagnose import Conflict, Explanation, oversized_units, prechecks, prove_infeasible
from ..errors import InfeasibleError, SolverError
from ..metrics import territory_table
from ..model import (
    BalanceRule,
    ModelSpec,
    build,
    build_candidates,
    choose_roots,
    conditions,
    plan_distances,
    prune,
    seat_positions,
    targets,
)
from ..model.candidates import Candidates
from ..model.cpsat import ACTIVE, Callback, Interrupt, Progress, extract, params, run, set_objective
from ..model.cpsat import hint as cp_hint
from ..model.heuristics import bisection_partition, warm_start
from ..model.transport import groups, transport_start
from ..plan import Plan, Status
from ..problem import Problem
from ..scenario import Candidates as CandidateSettings
from ..scenario import Constraints, Measure, Objective, SolverSettings
from .bounds import MovementBound, lp_travel_bound, required_movement
from .contiguous import EPS as EXACT_EPS
from .contiguous import SearchResult, balance_search, improve_travel
from .strategies import exact_flow
from .strategies.company_scale import LargeResult, solve_large, use_large


def _spec(problem: Problem, balance: dict[str, Measure], constraints: Constraints, objective: Objective) -> ModelSpec:
    names = problem.measure_names
    rules = []
    for name, m in balance.items():
        rules.append(BalanceRule(names.index(name), m.tolerance, m.mode == "hard", m.weight))
    capacity = tuple((names.index(name), cap) for name, cap in constraints.capacity.items())
    disruption = constraints.disruption
    value = None
    dmax = dper = None
    if disruption is not None:
        value = problem.measure(disruption.measure)
        total = float(value[problem.owner >= 0].sum())
        dmax = disruption.max_share * total if disruption.max_share < 1 else None
        dper = disruption.per_rep_share
    elif "disruption" in objective.priorities:
        value = problem.measure(names[0]) if names else np.ones(problem.n_units)
    weight_name = next(iter(balance), None)
    weight = problem.measure(weight_name) if weight_name else np.ones(problem.n_units)
    contiguity = constraints.contiguity is not None and constraints.contiguity.enabled
    return ModelSpec(
        balance=tuple(rules),
        capacity=capacity,
        disruption_value=value,
        disruption_max=dmax,
        disruption_per_rep=dper,
        contiguity=contiguity,
        locks=constraints.locks,
        families=constraints.families,
        travel_weight=weight,
    )


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


def _kick(
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


def _exempt_filter(problem: Problem, cand: Candidates, exempt: NDArray[np.bool_]) -> Candidates:
    """An exempt seat holds only its standing unit, and nothing else goes there."""
    if not exempt.any():
        return cand
    keep = ~exempt[cand.seat] | (problem.lock[cand.unit] == cand.seat)
    return _subset(problem, cand, cand.unit[keep], cand.seat[keep], cand.exact)


def _subset(problem: Problem, cand: Candidates, u: NDArray[np.int64], s: NDArray[np.int64], exact: bool) -> Candidates:
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


def _bisection_for_homes(
    problem: Problem, weight: NDArray[np.float64], exempt: NDArray[np.bool_], standing: NDArray[np.bool_], seed: int
) -> NDArray[np.int64]:
    """A balanced connected partition (tree bisection) whose parts are matched to seats of
    equal FTE by the distance from each home base to each part's weighted centre."""
    from scipy.optimize import linear_sum_assignment

    seats = np.flatnonzero(~exempt)
    # bisect seats in geographic order so halves of the seat list are halves of the map
    pos = problem.seat_xy[seats]
    order = np.lexsort((pos[:, 1], pos[:, 0])) if problem.has_home[seats].all() else np.arange(len(seats))
    parts = bisection_partition(problem, weight, seats[order], np.flatnonzero(~standing), seed=seed)
    out = parts.copy()
    xy, w = problem.unit_xy, np.maximum(weight, 1e-12)
    for fte in np.unique(problem.seat_capacity[seats]):
        group = seats[(problem.seat_capacity[seats] == fte) & problem.has_home[seats]]
        if len(group) < 2:
            continue
        centre = np.array(
            [
                (xy[parts == t] * w[parts == t, None]).sum(axis=0) / w[parts == t].sum()
                if (parts == t).any()
                else problem.seat_xy[t]
                for t in group
            ]
        )
        cost = np.linalg.norm(problem.seat_xy[group][:, None, :] - centre[None, :, :], axis=2)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            out[parts == group[c]] = group[r]
    out[standing] = problem.lock[standing]
    return out


def _elastic_repair(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    contiguity: Any,
    hint: NDArray[np.int64],
    settings: SolverSettings,
    time_limit: float,
    workers: int,
    progress: Progress | None,
    t0: float,
    iteration: int,
) -> tuple[NDArray[np.int64] | None, float]:
    """The plan closest to balance (least stretch of bands, caps, budgets) from ``hint``."""
    elastic = build(problem, cand, spec, contiguity, objective_terms={"travel"}, elastic=True)
    scale, offset = set_objective(elastic, {"elastic": 1000.0, "travel": 1.0})
    cp_hint(elastic, cand, hint)
    cp = params(settings, time_limit, workers)
    status = run(
        cp, elastic.model, Callback(progress, f"CP-SAT balance repair (iteration {iteration})", scale, offset, t0)
    )
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return extract(cp, elastic, cand, problem.n_units), cp.deterministic_time
    return None, cp.deterministic_time


def _reseed(
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


def _limits(problem: Problem, spec: ModelSpec) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit values (n, H) and each seat's upper limits (k, H) for hard balance and caps."""
    target = targets(problem, spec.exempt)
    exempt = spec.exempt if spec.exempt is not None else np.zeros(problem.n_seats, dtype=bool)
    cols, lims = [], []
    for rule in spec.balance:
        if rule.hard:
            cols.append(problem.measures[:, rule.measure])
            lims.append(np.where(exempt, np.inf, (1 + rule.tolerance) * target[:, rule.measure]))
    for m, cap in spec.capacity:
        cols.append(problem.measures[:, m])
        lims.append(cap * problem.seat_capacity)
    if not cols:
        return np.zeros((problem.n_units, 0)), np.zeros((problem.n_seats, 0))
    return np.column_stack(cols), np.column_stack(lims)


def _fit_filter(
    problem: Problem, cand: Candidates, values: NDArray[np.float64], limits: NDArray[np.float64]
) -> Candidates:
    """Drop pairs whose unit alone exceeds the seat's upper limit (they are infeasible)."""
    if values.shape[1] == 0:
        return cand
    keep = np.all(values[cand.unit] <= limits[cand.seat] * (1 + 1e-9), axis=1)
    keep |= problem.lock[cand.unit] == cand.seat
    if keep.all():
        return cand
    return _subset(problem, cand, cand.unit[keep], cand.seat[keep], cand.exact)


def _fmt_value(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _join_cut_off(problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]) -> tuple[Problem, list[str]]:
    """Lock to a standing unit's seat every piece of the map that touches the rest only
    through standing units and is smaller than the lowest band (it could not be a
    territory of its own, and no other territory can reach it)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if problem.edges is None or not exempt.any():
        return problem, []
    n = problem.n_units
    lock = problem.lock.copy()
    standing = (lock >= 0) & exempt[np.maximum(lock, 0)]
    e = problem.edges
    free = ~standing
    keep = free[e[:, 0]] & free[e[:, 1]]
    graph = coo_matrix((np.ones(int(keep.sum())), (e[keep, 0], e[keep, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    hard = [r for r in spec.balance if r.hard]
    if not hard:
        return problem, []
    m = hard[0].measure
    lo = float(((1 - hard[0].tolerance) * targets(problem, exempt)[~exempt, m]).min())
    totals = np.bincount(label[free], weights=problem.measures[free, m], minlength=label.max() + 1)
    cross = standing[e[:, 0]] ^ standing[e[:, 1]]
    notes = []
    for c in np.unique(label[free]):
        if totals[c] >= lo:
            continue
        members = np.flatnonzero(free & (label == c))
        if (lock[members] >= 0).any():
            continue
        inside = np.isin(e[:, 0], members) | np.isin(e[:, 1], members)
        touch = e[cross & inside].ravel()
        touch = touch[standing[touch]]
        if len(touch) == 0:
            continue  # an island on its own: the islands setting handles it
        unit = int(np.bincount(touch).argmax())
        lock[members] = lock[unit]
        names = ", ".join(str(x) for x in problem.unit_names[members[:4]]) + (
            f" and {len(members) - 4} more" if len(members) > 4 else ""
        )
        notes.append(
            f"{len(members)} unit(s) ({names}) reach the rest of the map only through {problem.unit_names[unit]}, which stands alone, "
            f"and hold too little to be a territory: they join {problem.seat_ids[lock[unit]]}'s territory (exempt from balance)"
        )
    return replace(problem, lock=lock), notes


def _transport_contiguous_start(
    problem: Problem,
    spec: ModelSpec,
    centres: NDArray[np.int64],
    need: NDArray[np.float64] | None,
    values: NDArray[np.float64],
    limits: NDArray[np.float64],
    exempt: NDArray[np.bool_],
    settings: SolverSettings,
    deadline: float,
    now: Any,
) -> tuple[NDArray[np.int64] | None, float | None]:
    """A start from the least-travel transport plan, made connected and balanced by the
    exact search (None when it does not meet every band in time), and the transport
    relaxation's Lagrangian bound on travel (valid for the real problem: every eligible
    pair is priced, contiguity and the other measures are dropped)."""
    hard = [r for r in spec.balance if r.hard]
    if not hard:
        return None, None
    target = targets(problem, exempt)
    m = hard[0].measure
    lo = np.where(exempt, 0.0, (1 - hard[0].tolerance) * target[:, m])
    hi = np.where(exempt, np.inf, (1 + hard[0].tolerance) * target[:, m])
    weight = spec.travel_weight if spec.travel_weight is not None else np.ones(problem.n_units)
    cand = _fit_filter(
        problem,
        _exempt_filter(problem, build_candidates(problem, centres, nearest=8, need=need), exempt),
        values,
        limits,
    )
    budget = min(10.0, 0.1 * settings.time_limit)
    clock_deadline = None if settings.deterministic else time.perf_counter() + budget
    tr = transport_start(
        problem,
        cand,
        groups(problem, problem.measures[:, m], families=spec.families),
        weight,
        seat_positions(problem, centres),
        lo,
        hi,
        deadline=clock_deadline,
    )
    clock, until = _search_clock(
        settings, now, lambda: min(deadline - 0.3 * settings.time_limit, now() + 0.45 * settings.time_limit)
    )
    rounds, stall = _search_counts(settings)
    found = balance_search(
        problem,
        spec,
        tr.assign,
        pos=seat_positions(problem, centres),
        deadline=until,
        now=clock,
        seed=settings.seed,
        anchors=centres,
        max_rounds=rounds,
        max_stall=stall,
    )
    bound = tr.bound / max(float(weight.sum()), 1e-12) if problem.has_home[~exempt].all() else None
    if found.violation > EXACT_EPS:
        return None, bound
    # the repair traded travel for balance: recombine adjacent pairs for travel, in band
    _, until = _search_clock(
        settings, now, lambda: min(deadline - 0.3 * settings.time_limit, now() + 0.15 * settings.time_limit)
    )
    polished = improve_travel(
        problem,
        spec,
        found.assign,
        pos=seat_positions(problem, centres),
        deadline=until,
        now=clock,
        seed=settings.seed,
        max_passes=3 if settings.deterministic else 30,
    )
    return polished, bound


def _global_travel_bound(
    problem: Problem,
    spec: ModelSpec,
    exempt: NDArray[np.bool_],
    objective: float,
    transport_bound: float | None,
    settings: SolverSettings,
    time_left: float,
) -> tuple[float | None, float | None]:
    """(bound, gap) on travel valid for the real problem: the transport relaxation's
    Lagrangian bound (from the start) and, when time allows, the LP relaxation over every
    pair; the larger holds."""
    found = [transport_bound] if transport_bound is not None else []
    lp_time = min(30.0, max(5.0, settings.time_limit / 2)) if transport_bound is None else min(30.0, time_left)
    if lp_time >= 2.0:
        lp_bound = lp_travel_bound(problem, spec, exempt, time_limit=lp_time)
        if lp_bound is not None:
            found.append(lp_bound)
    if not found:
        return None, None
    bound = min(max(found), objective)
    return bound, (max(0.0, (objective - bound) / abs(objective)) if objective else 0.0)


def _audit_rules(
    problem: Problem, spec: ModelSpec, constraints: Constraints, exempt: NDArray[np.bool_], target: NDArray[np.float64]
) -> Rules:
    """The scenario's rules as the independent audit checks them."""
    disruption = constraints.disruption
    return Rules(
        tolerance={problem.measure_names[r.measure]: r.tolerance for r in spec.balance if r.hard},
        targets=target,
        exempt=exempt,
        capacity={problem.measure_names[m]: cap for m, cap in spec.capacity},
        disruption_measure=disruption.measure if disruption else None,
        disruption_max_share=disruption.max_share if disruption and disruption.max_share < 1 else None,
        disruption_per_rep_share=disruption.per_rep_share if disruption else None,
        contiguity=spec.contiguity,
        locks=spec.locks,
        skills=constraints.skills,
        families=spec.families,
    )


def _search_clock(settings: SolverSettings, now: Any, until: Any) -> tuple[Any, float]:
    """(clock, deadline) of an exact search: the caller's clock and ``until()``, or in
    deterministic mode a clock that never moves (the search stops by its counts, repeatable)."""
    if settings.deterministic:
        return (lambda: 0.0), 1.0
    return now, float(until())


def _search_counts(settings: SolverSettings) -> tuple[int, int]:
    """(rounds, stalled rounds) of the exact search. Deterministic mode bounds it by counts,
    never by a clock: few enough that a short time limit stays short."""
    return (12, 4) if settings.deterministic else (200, 25)


def _exact_search(
    problem: Problem,
    spec: ModelSpec,
    start: NDArray[np.int64],
    centres: NDArray[np.int64],
    settings: SolverSettings,
    deadline: float,
    now: Any,
    attempt: int,
) -> SearchResult:
    """The exact contiguity search (:mod:`.contiguous`) on up to half the time left."""
    share = 0.5 if attempt == 1 else 0.6
    clock, until = _search_clock(settings, now, lambda: now() + share * max(0.0, deadline - now()))
    rounds, stall = _search_counts(settings)
    return balance_search(
        problem,
        spec,
        start,
        pos=seat_positions(problem, centres),
        deadline=until,
        now=clock,
        seed=settings.seed + attempt,
        anchors=centres,
        max_rounds=rounds,
        max_stall=stall,
    )


def _exact_fallback(
    problem: Problem,
    spec: ModelSpec,
    centres: NDArray[np.int64],
    exact_log: list[SearchResult],
    settings: SolverSettings,
    deadline: float,
    now: Any,
    workers: int,
    disruption: Any,
    movement: MovementBound | None,
) -> dict[str, Any] | None:
    """On a small map, the exact model (:mod:`.strategies.exact_flow`) with the time left:
    a plan (as the engine's best), None when it found none in time, or InfeasibleError
    when it proves there is none, with the least budget that works when a budget binds."""
    if not exact_flow.fits(problem) or not spec.contiguity:
        return None
    left = max(3.0, deadline - now())
    hint = min(exact_log, key=lambda r: r.violation).assign if exact_log else None
    pos = seat_positions(problem, centres)
    found = exact_flow.solve_exact(
        problem,
        spec,
        pos=pos,
        hint=hint,
        time_limit=left,
        seed=settings.seed,
        workers=workers,
        deterministic=settings.deterministic,
    )
    if found.assign is not None:
        return {
            "assign": found.assign,
            "centres": centres.copy(),
            "objective": found.objective,
            "bound": found.bound,
            "status": found.status,
            "cand": build_candidates(problem, centres, nearest=problem.n_seats),
            "exact": True,
            "exact_model": True,
            "iteration": 0,
        }
    if found.status != cp_model.INFEASIBLE:
        return None
    exempt = spec.exempt if spec.exempt is not None else np.zeros(problem.n_seats, dtype=bool)
    proof = _relaxation_proof(problem, spec, centres, exempt, settings)
    if proof is not None:  # infeasible even without contiguity: that explanation has the figures
        msg = f"the scenario is infeasible (proved on a relaxation of your scenario: every legal seat for every unit, contiguity dropped):\n{proof}"
        raise InfeasibleError(msg, proof)
    lines = [
        "no plan keeps every territory contiguous within the bands, caps and budget: proved by the exact model (every legal seat for every unit, contiguity by flows)"
    ]
    relax = None
    if spec.disruption_max is not None and disruption is not None and spec.disruption_value is not None:
        free = exact_flow.solve_exact(
            problem,
            replace(spec, disruption_max=None),
            pos=pos,
            hint=None,
            time_limit=max(3.0, 0.5 * left),
            seed=settings.seed,
            workers=workers,
            minimise="moved",
            deterministic=settings.deterministic,
        )
        booked = float(spec.disruption_value[problem.owner >= 0].sum())
        if free.objective is not None and booked > 0:
            least = free.bound if free.status == cp_model.OPTIMAL else (movement.must_move if movement else free.bound)
            relax = free.objective / booked
            exact_word = (
                "exactly"
                if free.status == cp_model.OPTIMAL
                else f"at least {100 * (least or 0) / booked:.1f}% and at most"
            )
            lines.append(
                f"the least share of {disruption.measure} that any contiguous plan within the bands must move is {exact_word} {100 * free.objective / booked:.1f}% "
                f"(the budget is {100 * disruption.max_share:g}%): raise constraints.disruption.max_share to {100 * free.objective / booked:.1f}%"
            )
    conflict = Conflict("disruption" if relax is not None else "contiguity", "; ".join(lines), relax)
    explanation = Explanation((conflict,))
    raise InfeasibleError(f"the scenario is infeasible:\n{explanation}", explanation)


def _budget_conflict(
    problem: Problem,
    spec: ModelSpec,
    movement: MovementBound,
    share: float,
    settings: SolverSettings,
    exempt: NDArray[np.bool_],
) -> Conflict:
    """The budget cannot be met: the proved minimum, and what the best plan found without
    the budget moves (the exact search from today's territories, a quarter of the time)."""
    found = ""
    free = replace(spec, disruption_max=None)
    rounds, stall = _search_counts(settings)
    clock, deadline = _search_clock(
        settings, time.perf_counter, lambda: time.perf_counter() + 0.25 * settings.time_limit
    )
    result = balance_search(
        problem,
        free,
        problem.owner,
        deadline=deadline,
        now=clock,
        seed=settings.seed,
        contiguity=spec.contiguity,
        max_rounds=rounds,
        max_stall=stall,
    )
    if result.violation <= EXACT_EPS and spec.disruption_value is not None:
        has = problem.owner >= 0
        moved = float(spec.disruption_value[has & (result.assign != problem.owner)].sum())
        found = f"; the best plan found moves {100 * moved / movement.booked:.1f}%"
    return Conflict(
        "disruption",
        f"{movement} but the budget is {100 * share:g}%{found}: raise constraints.disruption.max_share to at least {100 * movement.share:.1f}%",
        movement.share,
    )


def _relaxation_proof(
    problem: Problem, spec: ModelSpec, centres: NDArray[np.int64], exempt: NDArray[np.bool_], settings: SolverSettings
) -> Explanation | None:
    """:func:`~territory_opt.diagnose.prove_infeasible` over every legal pair (small cases)."""
    if problem.n_units * problem.n_seats > 2_000_000:
        return None
    full = build_candidates(problem, centres, nearest=problem.n_seats, radius_km=None)
    if not full.exact:
        return None
    full = _exempt_filter(problem, full, exempt)
    return prove_infeasible(
        problem, spec, full, time_limit=min(20.0, max(2.0, settings.time_limit / 4)), seed=settings.seed
    )


def _no_plan_message(settings: SolverSettings, exact_log: list[SearchResult], repairs: int) -> str:
    """ "No plan found" with what was tried: never a claim that the scenario is infeasible."""
    tried = ["the restricted CP-SAT model (nearest seats, contiguity by the neighbour condition)"]
    if repairs:
        tried.append(f"{repairs} elastic repair(s) of its start")
    for r in exact_log:
        tried.append(
            f"the exact contiguity search ({r.moves:,} boundary moves, {r.rounds} transfer round(s)), "
            f"closest plan {100 * r.violation:.2f} % of a target outside the bands/budget"
        )
    return (
        f"no plan found within the time limit ({settings.time_limit:g} s); tried: " + "; ".join(tried) + ". "
        "This is not a proof that the scenario is infeasible (the pre-checks found no conflict): "
        "raise solver.time_limit, loosen a tolerance or raise candidates.nearest"
    )


def _with_distances(problem: Problem, cand: Candidates, centres: NDArray[np.int64]) -> Candidates:
    pos = seat_positions(problem, centres)
    dist = np.linalg.norm(problem.unit_xy[cand.unit] - pos[cand.seat], axis=1)
    return replace(cand, distance=dist)


def solve(
    problem: Problem,
    *,
    balance: dict[str, Measure] | None = None,
    constraints: Constraints | None = None,
    objective: Objective | None = None,
    candidates: CandidateSettings | None = None,
    solver: SolverSettings | None = None,
    progress: Progress | None = None,
    scenario: str = "",
) -> Plan:
    """Solve a territory alignment; returns an immutable :class:`~territory_opt.plan.Plan`.

    Parameters
    ----------
    problem : Problem
    balance : dict of str to Measure
        Measures to balance, each with its tolerance and hard/soft mode.
    constraints, objective, candidates, solver
        As in a scenario file (:mod:`territory_opt.scenario`); defaults otherwise.
    progress : callable, optional
        Called with ``{"stage", "elapsed", "objective", "bound", "gap"}`` on each
        improving solution and each stage.

    Raises
    ------
    InfeasibleError
        The scenario cannot be satisfied; ``explanation`` names the conflicting families
        and how far to relax them.

    Notes
    -----
    Ctrl-C stops the search and returns the best plan found so far (``status`` feasible,
    a note says when); a second Ctrl-C aborts.
    """
    watcher = Interrupt()
    ACTIVE.append(watcher)
    try:
        with watcher:
            return _solve(
                problem,
                balance=balance,
                constraints=constraints,
                objective=objective,
                candidates=candidates,
                solver=solver,
                progress=progress,
                scenario=scenario,
                interrupt=watcher,
            )
    finally:
        ACTIVE.remove(watcher)


def _solve(
    problem: Problem,
    *,
    balance: dict[str, Measure] | None,
    constraints: Constraints | None,
    objective: Objective | None,
    candidates: CandidateSettings | None,
    solver: SolverSettings | None,
    progress: Progress | None,
    scenario: str,
    interrupt: Interrupt,
) -> Plan:
    t0 = time.perf_counter()
    # In deterministic mode the pipeline's own decisions (time slices, when to stop moving
    # centres) run on CP-SAT's deterministic time, never on the wall clock.
    det_used = [0.0]

    def now() -> float:
        return t0 + det_used[0] if (solver is not None and solver.deterministic) else time.perf_counter()

    balance = balance or {}
    constraints = constraints or Constraints()
    objective = objective or Objective()
    cand_set = candidates or CandidateSettings()
    settings = solver or SolverSettings()
    import os

    workers = settings.workers or min(8, os.cpu_count() or 1)
    deadline = t0 + settings.time_limit
    notes: list[str] = []
    restrictions: list[str] = []

    def report(stage: str, **extra: Any) -> None:
        if progress is not None:
            progress({"stage": stage, "elapsed": time.perf_counter() - t0, **extra})

    spec = _spec(problem, balance, constraints, objective)
    # 1. oversized units
    exempt, oversized = oversized_units(problem, spec)
    if oversized:
        lines = [
            f"{problem.unit_ids[u]} ({problem.unit_names[u]}) has {v:,.0f} of {problem.measure_names[m]}, above the largest balance band {hi:,.0f}"
            for u, m, v, hi, _ in oversized
        ]
        if constraints.oversized == "fail" or any(seat < 0 for *_, seat in oversized):
            msg = (
                "a unit is larger than any territory's balance band, so no plan can balance it: "
                + "; ".join(lines)
                + ". Treatments: constraints.oversized: standalone (the unit becomes its own territory, exempt from balance), split the unit into its accounts (data.units: accounts), or change the number of seats."
            )
            raise InfeasibleError(msg, Explanation(()))
        lock = problem.lock.copy()
        for u, *_, seat in oversized:
            lock[u] = seat
        problem = replace(problem, lock=lock)
        spec = replace(spec, exempt=exempt)
        notes += [f"stands alone (exempt from balance): {line}" for line in lines]
        if spec.contiguity:
            # units that only reach the rest of the map through a standing unit (Long
            # Island behind New York City) and are too small to be a territory join it
            problem, joined = _join_cut_off(problem, spec, exempt)
            notes += joined
        hard_rules = [r for r in spec.balance if r.hard]
        if hard_rules:
            rest_target = targets(problem, exempt)[~exempt]
            r0 = hard_rules[0]
            notes.append(
                f"the other {int((~exempt).sum())} territories balance {problem.measure_names[r0.measure]} around "
                f"{_fmt_value(float(rest_target[:, r0.measure].mean()))} (±{100 * r0.tolerance:g}%), the standing units left out"
            )
    else:
        spec = replace(spec, exempt=exempt)

    disruption = constraints.disruption
    conflicts = prechecks(
        problem,
        spec,
        disruption_measure=disruption.measure if disruption else None,
        disruption_share=disruption.max_share if disruption and disruption.max_share < 1 else None,
    )
    movement = required_movement(problem, spec, disruption.measure) if disruption is not None else None
    if (
        disruption is not None
        and movement is not None
        and spec.disruption_max is not None
        and movement.must_move > spec.disruption_max * (1 + 1e-9) + 1e-9
    ):
        # proved for the real problem (an LP over the reps' books): replaces the one-sided check
        conflicts = [c for c in conflicts if not (c.family == "disruption" and "above their balance band" in c.message)]
        conflicts.append(_budget_conflict(problem, spec, movement, disruption.max_share, settings, exempt))
    if conflicts:
        explanation = Explanation(tuple(conflicts))
        msg = f"the scenario is infeasible:\n{explanation}"
        raise InfeasibleError(msg, explanation)
    if movement is not None and movement.must_move > 0:
        notes.append(f"realignment: {movement} (a lower bound for any plan)")
    report("pre-checks")

    weight = spec.travel_weight if spec.travel_weight is not None else np.ones(problem.n_units)
    standing = np.isin(problem.lock, np.flatnonzero(exempt)) & (problem.lock >= 0)
    centres = initial_centres(problem, weight, settings.seed, exclude=standing)
    for t in np.flatnonzero(exempt):
        centres[t] = int(np.flatnonzero(problem.lock == t)[0])
    free_centres = bool((~problem.has_home & ~exempt).any())
    terms_wanted = set(objective.priorities) | ({"balance"} if any(not r.hard for r in spec.balance) else set())
    if objective.mode == "weighted":
        stages = [{name: objective.weights.get(name, 1.0) for name in terms_wanted}]  # type: ignore[arg-type]
    else:
        stages = [{name: 1.0} for name in objective.priorities]
        if "balance" in terms_wanted and "balance" not in objective.priorities:
            stages[0]["balance"] = objective.weights.get("balance", 1.0)

    values, limits = _limits(problem, spec)
    need = None
    hard = [r for r in spec.balance if r.hard]
    if hard and hard[0].measure == 0:
        # each seat must be able to reach its lower band of the first measure
        need = np.where(exempt, 0.0, (1 - hard[0].tolerance) * targets(problem, exempt)[:, 0])
    best: dict[str, Any] | None = None  # the best plan satisfying every hard constraint
    start: NDArray[np.int64] | None = None  # a plan to start from (may violate balance)
    if free_centres and spec.contiguity and not problem.has_home.any() and problem.edges is not None:
        # seats without homes on a graph: a balanced connected start by tree bisection
        free_units = np.flatnonzero(~standing)
        start = bisection_partition(problem, weight, np.flatnonzero(~exempt), free_units, seed=settings.seed)
        start[standing] = problem.lock[standing]
        centres = medoids(problem, start, centres, weight, exempt)
        report("bisection start")
    ws_limit = min(10.0, max(1.0, 0.15 * settings.time_limit))
    transport_bound: float | None = None
    if (
        start is None
        and spec.contiguity
        and not free_centres
        and spec.disruption_max is None
        and spec.disruption_per_rep is None
        and not use_large(problem, spec, settings)
    ):
        # fixed homes with contiguity: the least-travel transport plan (min-cost flow over
        # every pair that pays), made connected and balanced by the exact search, is a far
        # better start than growing regions; kept only when it meets every band
        start, transport_bound = _transport_contiguous_start(
            problem, spec, centres, need, values, limits, exempt, settings, deadline, now
        )
        if start is not None:
            report("transport start (connected)")

    def heuristic(
        cand: Candidates, roots: NDArray[np.int64] | None, start: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.int64], float]:
        # deterministic mode bounds the local search by moves, never by the clock
        return warm_start(
            problem,
            cand,
            spec,
            roots,
            time_limit=ws_limit if not settings.deterministic else 1e9,
            start=start,
            max_moves=200_000 if settings.deterministic else None,
            seed=settings.seed,
        )

    large = use_large(problem, spec, settings)
    large_result: LargeResult | None = None
    iteration = 0
    kicks = 0
    if large:
        # company scale: transport start, Lagrangian bound, windows re-optimised by CP-SAT
        if objective.mode == "weighted":
            lns_weights = dict(stages[0])
        else:  # lexicographic, approximated by weights two orders of magnitude apart
            lns_weights = {name: 100.0 ** (len(stages) - 1 - i) for i, stage in enumerate(stages) for name in stage}

        def make_candidates(c: NDArray[np.int64]) -> Candidates:
            made = build_candidates(problem, c, nearest=cand_set.nearest, radius_km=cand_set.radius_km, need=need)
            return _fit_filter(problem, _exempt_filter(problem, made, exempt), values, limits)

        def charge(used: float) -> None:
            det_used[0] += used

        resources.check_memory(
            resources.BYTES_PER_LARGE_PAIR * problem.n_units * min(problem.n_seats, 4 * cand_set.nearest)
            + 5 * min(problem.n_units * problem.n_seats, 80_000_000),
            f"the company-scale path over {problem.n_units:,} units and {problem.n_seats:,} seats",
            "lower candidates.nearest or split the run by region",
        )
        large_result = solve_large(
            problem,
            spec,
            weights=lns_weights,
            centres=centres,
            make_candidates=make_candidates,
            settings=settings,
            workers=workers,
            deadline=deadline,
            now=now,
            charge=charge,
            interrupt=interrupt,
            progress=progress,
            t0=t0,
        )
        if large_result.violation > 1e-9:
            msg = (
                f"no plan within every band, cap and budget found within the time limit ({settings.time_limit:g} s); "
                f"the closest plan stretches them by {100 * large_result.violation:.2f} % in total: raise solver.time_limit or loosen a tolerance"
            )
            raise SolverError(msg)
        notes += large_result.notes
        best = {
            "assign": large_result.assign,
            "centres": centres.copy(),
            "objective": large_result.objective,
            "bound": large_result.bound,
            "status": cp_model.FEASIBLE,
            "cand": make_candidates(centres),
            "exact": False,
            "iteration": 1,
        }
    else:
        infeasible_rounds = 0
        max_iter = 12 if free_centres else 1
        final = False
        kick_rng = np.random.default_rng(settings.seed)
        local_iter = 0
        exact_tries = 0
        exact_model_tried = False
        exact_log: list[SearchResult] = []
        realign_run = spec.disruption_max is not None or spec.disruption_per_rep is not None
        recentre = spec.contiguity and not free_centres
        last_objective: float | None = None

        def kick(best: dict[str, Any]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
            """New centres around the best plan (iterated local search) and the plan to start from."""
            nonlocal kicks, local_iter
            kicks += 1
            local_iter = 0
            if settings.deterministic:
                # the Python work of a kick is not on CP-SAT's clock: charge a fixed share, so
                # deterministic runs make a bounded, repeatable number of kicks
                det_used[0] += 0.03 * settings.time_limit
            return _kick(problem, best["assign"], best["centres"], weight, exempt, kick_rng), best["assign"]

        while True:
            iteration += 1
            local_iter += 1
            extra = None if start is None else np.column_stack([np.arange(problem.n_units), start])
            cand = build_candidates(
                problem, centres, nearest=cand_set.nearest, radius_km=cand_set.radius_km, extra=extra, need=need
            )
            cand = _exempt_filter(problem, cand, exempt)
            pruning_exact = cand.exact
            if iteration == 1:
                resources.check_memory(
                    resources.BYTES_PER_PAIR * len(cand),
                    f"a CP-SAT model over {len(cand):,} candidate pairs",
                    "lower candidates.nearest, use solver.method: lns (no contiguity), or split the run by region",
                )
            cand = _fit_filter(problem, cand, values, limits)
            roots = None
            if spec.contiguity:
                # roots inside the plan we start from; a realignment starts from today's owners
                realign = spec.disruption_max is not None or spec.disruption_per_rep is not None
                root_plan = start if start is not None else (problem.owner if realign else None)
                roots = choose_roots(problem, centres, values=values, limits=limits, plan=root_plan)
                roots[exempt] = centres[exempt]
            hint, violation = heuristic(cand, roots, start)
            if (
                violation > 1e-9
                and start is None
                and problem.has_home.any()
                and spec.disruption_max is None
                and spec.disruption_per_rep is None
            ):
                # region growing / greedy left territories off balance: try a balanced connected
                # partition by tree bisection (on a nearest-neighbour graph for accounts),
                # matched to the reps by distance
                graph_problem = (
                    problem
                    if problem.edges is not None
                    else replace(problem, edges=geo.edges_from_points(problem.unit_xy, k=6)[:, :2])
                )
                alt = _bisection_for_homes(graph_problem, weight, exempt, standing, settings.seed)
                alt_roots = None
                if roots is not None:
                    alt_roots = choose_roots(problem, centres, values=values, limits=limits, plan=alt)
                    alt_roots[exempt] = centres[exempt]
                alt_cand = build_candidates(
                    problem,
                    centres,
                    nearest=cand_set.nearest,
                    radius_km=cand_set.radius_km,
                    extra=np.column_stack([np.arange(problem.n_units), alt]),
                )
                alt_cand = _fit_filter(problem, _exempt_filter(problem, alt_cand, exempt), values, limits)
                alt_hint, alt_violation = heuristic(alt_cand, alt_roots, alt)
                if alt_violation < violation:
                    hint, violation, roots, cand = alt_hint, alt_violation, alt_roots, alt_cand
            report("warm start", violation=violation, iteration=iteration)
            if (
                exact_tries < 2
                and (violation > 1e-9 or (realign_run and iteration == 1))
                and deadline - now() > 0.1 * settings.time_limit
            ):
                # the restricted start misses a band (or a realignment must keep its budget):
                # search the real problem (exact contiguity, every eligible seat)
                exact_tries += 1
                found = _exact_search(
                    problem,
                    spec,
                    hint if not (realign_run and iteration == 1) else problem.owner,
                    centres,
                    settings,
                    deadline,
                    now,
                    exact_tries,
                )
                if settings.deterministic:
                    det_used[0] += 0.1 * settings.time_limit
                exact_log.append(found)
                report("exact contiguity search", violation=found.violation, iteration=iteration)
                if (
                    found.violation > EXACT_EPS
                    and exact_flow.fits(problem)
                    and spec.contiguity
                    and not exact_model_tried
                ):
                    # a small map: the exact model (contiguity by flows) decides, with a
                    # good share of the time left; it proves infeasibility or finds a plan
                    exact_model_tried = True
                    exact = _exact_fallback(
                        problem,
                        spec,
                        centres,
                        exact_log,
                        settings,
                        now() + 0.4 * max(0.0, deadline - now()),
                        now,
                        workers,
                        disruption,
                        movement,
                    )
                    if exact is not None:
                        found = replace(found, assign=exact["assign"], violation=0.0)
                if found.violation <= EXACT_EPS:
                    hint, violation, start = found.assign, 0.0, found.assign
                    if free_centres:
                        centres = medoids(problem, hint, centres, weight, exempt)
                    cand = _fit_filter(
                        problem,
                        _exempt_filter(
                            problem,
                            build_candidates(
                                problem,
                                centres,
                                nearest=cand_set.nearest,
                                radius_km=cand_set.radius_km,
                                extra=np.column_stack([np.arange(problem.n_units), hint]),
                                need=need,
                            ),
                            exempt,
                        ),
                        values,
                        limits,
                    )
                    pruning_exact = cand.exact
                    if roots is not None:
                        roots = choose_roots(problem, centres, values=values, limits=limits, plan=hint)
                        roots[exempt] = centres[exempt]
            contiguity = None
            if roots is not None:
                dist, pred = plan_distances(problem, roots, hint)
                ku, ks = prune(problem, cand, roots, dist, pred)
                cand = _subset(problem, cand, ku, ks, False)
                cand = _with_distances(problem, cand, centres)
                contiguity = conditions(cand, roots, dist, problem)
            remaining = deadline - now()
            if recentre and not final and remaining < 0.35 * settings.time_limit:
                final = True
            slice_ = (
                max(1.0, remaining)
                if (final or (not free_centres and not recentre))
                else max(1.0, 0.45 * remaining)
                if recentre
                else max(1.0, min((0.25 if best is None else 0.12) * settings.time_limit, remaining * 0.5))
            )

            built = build(problem, cand, spec, contiguity, objective_terms=terms_wanted)
            per_stage = slice_ / len(stages)
            stage_assign = hint
            stage_status = cp_model.UNKNOWN
            obj = bnd = None
            for si, weights_ in enumerate(stages):
                scale, offset = set_objective(built, weights_)
                complete = cp_hint(built, cand, stage_assign)
                cp = params(settings, per_stage, workers, feasible_hint=complete)
                cb = Callback(progress, f"CP-SAT {'/'.join(weights_)} (iteration {iteration})", scale, offset, t0)
                stage_status = run(cp, built.model, cb)
                det_used[0] += cp.deterministic_time
                if stage_status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                    break
                stage_assign = extract(cp, built, cand, problem.n_units)
                obj = cp.objective_value / scale + offset
                bnd = cp.best_objective_bound / scale + offset
                if si < len(stages) - 1:
                    proto = built.model.proto.objective
                    expr = cp_model.LinearExpr.weighted_sum(
                        [built.model.get_int_var_from_proto_index(i) for i in proto.vars], list(proto.coeffs)
                    )
                    built.model.add(
                        expr <= int(np.floor(cp.objective_value + abs(cp.objective_value) * objective.slack))
                    )
                    built.model.clear_hints()
                if interrupt.requested:
                    break
            if stage_status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                if best is None or obj is None or best["objective"] is None or obj <= best["objective"] + 1e-9:
                    best = {
                        "assign": stage_assign,
                        "centres": centres.copy(),
                        "objective": obj,
                        "bound": bnd,
                        "status": stage_status,
                        "cand": cand,
                        "exact": pruning_exact,
                        "iteration": iteration,
                    }
                start = stage_assign
            elif best is None and (stage_status == cp_model.INFEASIBLE or violation > 1e-9):
                # no plan yet. The model is narrower than the problem (pruning, the contiguity
                # condition built around the warm start, chosen centres), so an infeasible or
                # empty answer may be the restriction's fault: repair the start with an elastic
                # solve (balance may stretch, the stretch is minimised) and try again.
                infeasible_rounds += 1
                restricted = (not pruning_exact) or spec.contiguity or free_centres
                if restricted and infeasible_rounds < 4 and deadline - now() > 0.3 * settings.time_limit:
                    repaired, used = _elastic_repair(
                        problem,
                        cand,
                        spec,
                        contiguity,
                        hint,
                        settings,
                        min(slice_, 0.15 * settings.time_limit),
                        workers,
                        progress,
                        t0,
                        iteration,
                    )
                    det_used[0] += used
                    if interrupt.requested:
                        break
                    start = repaired if repaired is not None else hint
                    if free_centres:
                        centres = _reseed(
                            problem, start, medoids(problem, start, centres, weight, exempt), values, limits, exempt
                        )
                        if repaired is None:
                            start = None  # regrow from the new centres
                    report("repair", iteration=iteration)
                    continue
                if stage_status == cp_model.INFEASIBLE and restricted:
                    # the restricted model's infeasibility is no fact about the scenario:
                    # prove it on a relaxation of the real problem, or say what was tried
                    proof = _relaxation_proof(problem, spec, centres, exempt, settings)
                    if proof is not None:
                        msg = f"the scenario is infeasible (proved on a relaxation of your scenario: every legal seat for every unit, contiguity dropped):\n{proof}"
                        raise InfeasibleError(msg, proof)
                    exact = _exact_fallback(
                        problem, spec, centres, exact_log, settings, deadline, now, workers, disruption, movement
                    )
                    if exact is None:
                        raise SolverError(_no_plan_message(settings, exact_log, infeasible_rounds))
                    best = exact
                    break
                if stage_status == cp_model.INFEASIBLE:
                    # the exact model (every pair, no contiguity, fixed homes) said so: claimed
                    # only when proved again, with and without CP-SAT's presolve
                    proof = _relaxation_proof(problem, spec, centres, exempt, settings)
                    if proof is not None:
                        raise InfeasibleError(f"the scenario is infeasible:\n{proof}", proof)
                    raise SolverError(_no_plan_message(settings, exact_log, infeasible_rounds))
                break
            elif free_centres and not final and best is not None and not interrupt.requested:
                # a location-allocation step or a kick whose restricted model has no plan (or
                # none within its slice): kick the best plan again, or, when time is short,
                # give the rest of it to the best plan's own model
                if deadline - now() > 0.3 * settings.time_limit:
                    centres, start = kick(best)
                else:
                    final = True
                    centres, start = best["centres"], best["assign"]
                continue
            elif stage_status == cp_model.INFEASIBLE:
                break  # a later location-allocation step: keep the best plan
            else:
                if best is None and violation <= 1e-9:
                    # the warm start satisfies balance and capacity; the audit below checks the rest
                    best = {
                        "assign": hint,
                        "centres": centres.copy(),
                        "objective": None,
                        "bound": None,
                        "status": cp_model.UNKNOWN,
                        "cand": cand,
                        "exact": pruning_exact,
                        "iteration": iteration,
                    }
                break
            if recentre and not final and not interrupt.requested and best is not None:
                # fixed homes with contiguity: the condition is rebuilt around the new plan
                # and solved again (a large-neighbourhood step), while it still pays
                gain = (
                    (last_objective - best["objective"]) / abs(last_objective)
                    if last_objective and best["objective"] is not None
                    else 1.0
                )
                last_objective = best["objective"]
                if gain > 1e-3 or iteration == 1:
                    report("contiguity condition rebuilt around the plan", iteration=iteration)
                    continue
            if not free_centres or final or interrupt.requested:
                break
            new_centres = medoids(problem, start, centres, weight, exempt)
            converged = np.array_equal(new_centres, centres)
            if (
                (converged or local_iter >= max_iter)
                and best is not None
                and deadline - now() > 0.3 * settings.time_limit
            ):
                # a local optimum of location-allocation with time to spare: kick the best
                # plan's centres and descend again (iterated local search); the best plan is kept
                centres, start = kick(best)
                report("centres kicked", iteration=iteration)
                continue
            if (
                converged
                and stage_status == cp_model.OPTIMAL
                and (kicks == 0 or np.array_equal(centres, best["centres"]))
            ):
                break
            if converged or local_iter >= max_iter or deadline - now() < 0.25 * settings.time_limit:
                final = True
                if kicks and best is not None:
                    new_centres, start = best["centres"], best["assign"]  # the last, long solve on the best plan
            centres = new_centres
            report("centres moved", iteration=iteration)

    if best is None and interrupt.requested:
        msg = "interrupted (Ctrl-C) before any plan was found"
        raise SolverError(msg)
    if interrupt.requested:
        notes.append(
            f"interrupted (Ctrl-C) at {interrupt.at - t0 if interrupt.at else 0.0:.1f} s: this is the best plan found until then"
        )
    if best is None and not large and not interrupt.requested:
        best = _exact_fallback(
            problem, spec, centres, exact_log, settings, deadline, now, workers, disruption, movement
        )
    if best is None:
        raise SolverError(_no_plan_message(settings, exact_log if not large else [], 0))
    exact_model = bool(best.get("exact_model"))
    assign = best["assign"]
    centres = best["centres"]
    best_obj, bound, last_status, last_cand, pruning_exact = (
        best["objective"],
        best["bound"],
        best["status"],
        best["cand"],
        best["exact"],
    )

    # status and honesty
    if exact_model:
        notes.append("solved by the exact model (every legal seat for every unit, contiguity by flows): no restriction")
    if not pruning_exact and not exact_model:
        restrictions.append(
            f"candidate pruning: each unit may go to its {cand_set.nearest} nearest seats (plus owner and lock); {last_cand.pruned:,} of {problem.n_units * problem.n_seats:,} pairs pruned"
        )
    if large:
        restrictions.append(
            "large-neighbourhood search: the plan is improved a few nearby territories at a time; the bound is the transport relaxation's (Lagrangian), not CP-SAT's"
        )
    if spec.contiguity and not exact_model:
        restrictions.append(
            "contiguity by the descending-distance neighbour condition around each root (sufficient, not necessary)"
        )
    if free_centres:
        restrictions.append(
            f"centres of seats without a home chosen by location-allocation ({iteration} iteration(s){f', {kicks} kick(s) of iterated local search' if kicks else ''}); the bound holds for the plan's centres"
        )
    if len(stages) > 1:
        restrictions.append(
            f"lexicographic priorities {objective.priorities} with {100 * objective.slack:g}% slack; bound and gap are those of the last priority"
        )
    solved_model = last_status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if not solved_model:
        best_obj, bound = None, None
    status = Status.OPTIMAL if last_status == cp_model.OPTIMAL and not restrictions else Status.FEASIBLE
    gap = None
    if best_obj is not None and bound is not None:
        gap = max(0.0, (best_obj - bound) / abs(best_obj)) if best_obj else 0.0
    if last_status == cp_model.OPTIMAL and restrictions:
        notes.append("CP-SAT proved this plan optimal for the restricted model (see restrictions)")
    global_bound = global_gap = None
    travel_only = [set(stage) for stage in stages] == [{"travel"}]
    if large or (exact_model and not free_centres and travel_only):
        global_bound = bound
        global_gap = gap
    elif travel_only and best_obj is not None and restrictions and not free_centres:
        global_bound, global_gap = _global_travel_bound(
            problem, spec, exempt, float(best_obj), transport_bound, settings, deadline - now()
        )
    target = targets(problem, exempt)
    findings = audit(problem, assign, _audit_rules(problem, spec, constraints, exempt, target))
    if not all(f.ok for f in findings):
        status = Status.UNKNOWN
    pos = seat_positions(problem, centres)
    table = territory_table(
        problem,
        assign,
        target=target,
        tolerance={problem.measure_names[r.measure]: r.tolerance for r in spec.balance},
        seat_pos=pos,
        weight=weight,
        exempt=exempt,
    )
    terms = _term_values(problem, assign, pos, weight, spec)
    method = "warm start + CP-SAT" + (" + location-allocation" if free_centres else "")
    if large:
        method = "transport (min-cost flow) start + CP-SAT large-neighbourhood search"
    if not solved_model:
        method = "warm start only (CP-SAT found nothing better in time)"
    report("done", objective=best_obj, bound=bound, gap=gap)
    from importlib.metadata import version

    return Plan(
        status=status,
        problem=problem,
        seat_of=_ro(assign),
        objective=float(best_obj)
        if best_obj is not None
        else float(sum(terms.get(k, 0.0) * w for k, w in stages[-1].items())),
        objective_terms=terms,
        bound=bound,
        gap=gap,
        bound_scope=(
            "the unrestricted problem (Lagrangian bound of the transport relaxation)"
            if large
            else "the model as solved (with the restrictions listed)"
            if restrictions
            else "the exact problem"
        ),
        restrictions=tuple(restrictions),
        wall_time=time.perf_counter() - t0,
        method=method,
        seed=settings.seed,
        deterministic=settings.deterministic,
        settings=settings.model_dump(),
        findings=findings,
        _territories=table,
        centres=_ro(centres),
        exempt=_ro(exempt),
        scenario=scenario,
        notes=(*notes, f"candidate pairs: {len(last_cand):,} kept, {last_cand.pruned:,} pruned"),
        versions={"territory_opt": __version__, "ortools": version("ortools")},
        global_bound=global_bound,
        global_gap=global_gap,
    )


def _ro(array: NDArray[Any]) -> NDArray[Any]:
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out


def _term_values(
    problem: Problem, assign: NDArray[np.int64], pos: NDArray[np.float64], weight: NDArray[np.float64], spec: ModelSpec
) -> dict[str, float]:
    d = np.linalg.norm(problem.unit_xy - pos[assign], axis=1)
    out = {"travel": float((weight * d).sum() / max(weight.sum(), 1e-12))}
    if problem.edges is not None:
        out["cut_edges"] = float((assign[problem.edges[:, 0]] != assign[problem.edges[:, 1]]).sum())
    has = problem.owner >= 0
    if has.any():
        value = spec.disruption_value if spec.disruption_value is not None else np.ones(problem.n_units)
        moved = has & (assign != problem.owner)
        out["disruption"] = 100.0 * float(value[moved].sum()) / max(float(value[has].sum()), 1e-12)
    return out
