r"""Transport relaxation: a min-cost-flow start and a Lagrangian lower bound for large cases.

Relaxation
----------
Groups g (a family, or a unit on its own) carry a[g] of the first hard-balanced measure and
cost C[g,t] = Σ_{u∈g} w[u]·d[u,t] when given to seat t. Allowing a group to be split:

    min Σ_{g,t} c[g,t]·f[g,t]     c[g,t] = C[g,t] / a[g]
    Σ_t f[g,t] = a[g]             ∀g
    lo[t] ≤ Σ_g f[g,t] ≤ hi[t]    ∀t     (the hard band of the measure)
    f[g,t] = 0 unless t is eligible for g (skills, locks)

Every territory plan is a feasible point of this LP (other measures, capacities, families
across groups, exclusions and disruption only cut it down), so its optimum is a lower
bound on the travel of any plan when w = a.

Start
-----
The LP over the candidate pairs is a transportation problem, solved as an integer min-cost
flow (OR-Tools ``SimpleMinCostFlow``). Bands enter as three parallel arcs from each seat to
a sink (the first ``lo`` units earn a large reward, the band is free, overflow is charged),
so the network is always feasible and the start is as balanced as the pairs allow. A basic
optimal flow splits at most about one group per seat; each split group goes to the seat
that holds most of it.

Bound
-----
With seat prices γ the Lagrangian dual

    L(γ) = Σ_g min_{t eligible} (C[g,t] - a[g]·γ[t]) + Σ_t (lo[t]·γ⁺[t] - hi[t]·γ⁻[t])

is a lower bound for *any* γ (weak duality), evaluated here over **every** eligible pair,
not only the candidates, so the bound holds for the unrestricted problem. The γ used are
the flow's optimal seat potentials (shortest paths in its residual network): when no pruned
pair would pay, L(γ) equals the LP optimum.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

from ..problem import Problem
from .candidates import Candidates

#: Integer flow units per total of the balanced measure.
FLOW_SCALE = 1e6
#: Integer cost units per km of (per unit of measure) distance.
COST_SCALE = 100.0


@dataclass(frozen=True)
class Groups:
    """Units grouped so that a family moves as one (a unit without a family is its own group)."""

    of_unit: NDArray[np.int64]  # (n,) group index of each unit
    size: NDArray[np.float64]  # (G,) a[g]
    lock: NDArray[np.int64]  # (G,) seat the group is locked to, -1 when free
    skills: NDArray[np.int64]  # (G,) union of the members' required skills

    @property
    def n(self) -> int:
        return len(self.size)


def groups(problem: Problem, value: NDArray[np.float64], *, families: bool = True) -> Groups:
    n = problem.n_units
    key = np.where((problem.family >= 0) & families, problem.family, -1 - np.arange(n))
    _, of_unit = np.unique(key, return_inverse=True)
    g = int(of_unit.max()) + 1 if n else 0
    size = np.bincount(of_unit, weights=value, minlength=g).astype(np.float64)
    lock = np.full(g, -1, dtype=np.int64)
    locked = problem.lock >= 0
    lock[of_unit[locked]] = problem.lock[locked]
    skills = np.zeros(g, dtype=np.int64)
    np.bitwise_or.at(skills, of_unit, problem.unit_skills)
    return Groups(of_unit=of_unit.astype(np.int64), size=size, lock=lock, skills=skills)


@dataclass(frozen=True)
class Transport:
    assign: NDArray[np.int64]  # (n,) seat of each unit
    gamma: NDArray[np.float64]  # (k,) seat prices [cost per unit of measure]
    bound: float  # L(gamma) over every eligible pair: a lower bound on Σ w·d
    split: int  # groups the flow split between seats (rounded to their largest part)
    rounds: int  # pricing rounds (pairs added where they would pay)
    pairs: int  # group-seat pairs in the last flow


def _pair_costs(
    problem: Problem, cand: Candidates, grp: Groups, weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Group-level candidate pairs (g, t) and C[g,t] summed over the members' pairs."""
    k = problem.n_seats
    g = grp.of_unit[cand.unit]
    keys, inverse = np.unique(g * k + cand.seat, return_inverse=True)
    cost = np.bincount(inverse, weights=weight[cand.unit] * cand.distance, minlength=len(keys))
    # a family's pair exists only if every member has it (the candidate sets are shared)
    count = np.bincount(inverse, minlength=len(keys))
    members = np.bincount(grp.of_unit, minlength=grp.n)
    full = count == members[keys // k]
    return (keys // k)[full], (keys % k)[full], cost[full]


class _Costs:
    """C[g,t] for every group and seat, computed in chunks; kept (float32) when it fits. A
    pair is eligible when the seat has the group's skills, no member is excluded from the
    seat, and the seat is not ``exempt`` (standing alone: only its locked units), or the
    group is locked to it."""

    def __init__(
        self,
        problem: Problem,
        grp: Groups,
        weight: NDArray[np.float64],
        seat_pos: NDArray[np.float64],
        *,
        exempt: NDArray[np.bool_] | None = None,
        chunk: int = 2000,
        keep_max: int = 80_000_000,
    ) -> None:
        self.problem, self.grp, self.weight, self.seat_pos, self.chunk = problem, grp, weight, seat_pos, chunk
        self.exempt = exempt
        ex = problem.exclusions
        self.banned = (grp.of_unit[ex[:, 0]], ex[:, 1]) if len(ex) else None
        self.order = np.argsort(grp.of_unit, kind="stable")
        self.bounds = np.searchsorted(grp.of_unit[self.order], np.arange(grp.n + 1))
        self.cache: list[tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.bool_]]] | None = (
            [] if grp.n * problem.n_seats <= keep_max else None
        )

    def _compute(self, g0: int, g1: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        problem, grp = self.problem, self.grp
        units = self.order[self.bounds[g0] : self.bounds[g1]]
        d = (
            np.linalg.norm(problem.unit_xy[units][:, None, :] - self.seat_pos[None, :, :], axis=2)
            * self.weight[units][:, None]
        )
        cost = np.add.reduceat(d, self.bounds[g0:g1] - self.bounds[g0], axis=0)
        gs = np.arange(g0, g1)
        ok = (grp.skills[gs][:, None] & ~problem.seat_skills[None, :]) == 0
        if self.exempt is not None:
            ok &= ~self.exempt[None, :]
        if self.banned is not None:
            bg, bt = self.banned
            inside = (bg >= g0) & (bg < g1)
            ok[bg[inside] - g0, bt[inside]] = False
        locked = grp.lock[gs] >= 0
        ok[locked] = np.arange(problem.n_seats)[None, :] == grp.lock[gs][locked][:, None]
        return gs, cost, ok

    def chunks(self) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]]:
        if self.cache:
            for gs, kept, ok in self.cache:
                yield gs, np.asarray(kept, dtype=np.float64), ok
            return
        for g0 in range(0, self.grp.n, self.chunk):
            gs, cost, ok = self._compute(g0, min(self.grp.n, g0 + self.chunk))
            if self.cache is not None:
                self.cache.append((gs, cost.astype(np.float32), ok))
            yield gs, cost, ok

    def reduced(
        self, gamma: NDArray[np.float64]
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]]:
        """Per chunk: group indices, C[g,t], and C - a·γ (inf where the pair is ineligible)."""
        for gs, cost, ok in self.chunks():
            yield gs, cost, np.where(ok, cost - self.grp.size[gs][:, None] * gamma[None, :], np.inf)


def _band_term(gamma: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]) -> float:
    return float((lo * np.maximum(gamma, 0)).sum() - (np.where(np.isinf(hi), 0.0, hi) * np.maximum(-gamma, 0)).sum())


def _open_bands(gamma: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
    """Seats without an upper band get γ ≥ 0 so that L(γ) stays finite."""
    return np.where(np.isinf(hi), np.maximum(gamma, 0.0), gamma)


def lagrangian_bound(
    problem: Problem,
    grp: Groups,
    weight: NDArray[np.float64],
    seat_pos: NDArray[np.float64],
    gamma: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> float:
    """L(γ) over every eligible (group, seat) pair: a lower bound on Σ w·d of any plan."""
    gamma = _open_bands(gamma, hi)
    total = sum(
        float(red.min(axis=1).sum()) for _, _, red in _Costs(problem, grp, weight, seat_pos, keep_max=0).reduced(gamma)
    )
    return total + _band_term(gamma, lo, hi)


def transport_start(
    problem: Problem,
    cand: Candidates,
    grp: Groups,
    weight: NDArray[np.float64],
    seat_pos: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    *,
    max_rounds: int = 12,
    per_group: int = 2,
    deadline: float | None = None,
    repair_rounds: int = 4,
    margin: float = 0.1,
    exempt: NDArray[np.bool_] | None = None,
) -> Transport:
    """Min-cost-flow assignment of groups to seats within [lo, hi] of the grouped measure.

    Starts from the candidate pairs and adds, round by round, the pairs (over all eligible
    ones: skills, exclusions, and no seat standing alone (``exempt``) but for its locked
    units) whose reduced cost under the flow's seat prices is negative (column generation),
    so a region short of seats can reach beyond its nearest ones, and the bound tightens.
    (Without ``exempt`` the pricing gave Orange County to the seat where Los Angeles stands
    alone, whose open band made it free: a plan the audit then failed.)
    """
    k = problem.n_seats
    gu, gs, cost = _pair_costs(problem, cand, grp, weight)
    total = float(grp.size.sum())
    unit_flow = FLOW_SCALE / total if total > 0 else 1.0
    supply = np.round(grp.size * unit_flow).astype(np.int64)
    span = np.vstack([problem.unit_xy, seat_pos])
    diameter = float(np.linalg.norm(span.max(axis=0) - span.min(axis=0))) if len(span) else 1.0
    # dearer than any chain of reassignments through all seats: bands come first
    big = int(np.ceil(diameter * COST_SCALE) + 1) * (k + 2)
    # the flow aims inside the band (by ``margin`` of its half-width) so that rounding the
    # split groups has room; the bound below uses the true band
    open_band = np.isinf(hi)
    finite_hi = np.where(open_band, lo, hi)
    mid = 0.5 * (lo + finite_hi)
    flow_lo = np.where(open_band, lo, lo + margin * (mid - lo))
    flow_hi = np.where(open_band, np.inf, finite_hi - margin * (finite_hi - mid))
    lo_i = np.ceil(np.maximum(flow_lo, 0) * unit_flow).astype(np.int64)
    hi_i = np.floor(np.minimum(flow_hi, 2 * total) * unit_flow).astype(np.int64)
    hi_i = np.maximum(hi_i, lo_i)
    rounds = 0
    bound = -np.inf
    all_costs = _Costs(problem, grp, weight, seat_pos, exempt=exempt)
    while True:
        flow, gamma = _flow(grp, k, gu, gs, cost, supply, lo_i, hi_i, big)
        gamma = _open_bands(gamma / COST_SCALE, hi)
        rounds += 1
        # price every eligible pair: add those that would pay, and evaluate L(γ) on the way
        current = np.full(grp.n, np.inf)
        np.minimum.at(current, gu, cost - grp.size[gu] * gamma[gs])
        value = _band_term(gamma, lo, hi)
        add_g, add_t, add_c = [], [], []
        for g_chunk, c_chunk, red in all_costs.reduced(gamma):
            value += float(red.min(axis=1).sum())
            if rounds >= max_rounds or (deadline is not None and time.perf_counter() > deadline):
                continue  # out of rounds: L(γ) is still a valid bound
            tol = 1e-7 * np.maximum(np.abs(current[g_chunk]), 1.0)
            gain = np.where(red < (current[g_chunk] - tol)[:, None], red, np.inf)
            best = (
                np.argpartition(gain, per_group, axis=1)[:, :per_group]
                if gain.shape[1] > per_group
                else np.argsort(gain, axis=1)
            )
            rows = np.repeat(np.arange(len(g_chunk)), best.shape[1])
            cols = best.ravel()
            keep = np.isfinite(gain[rows, cols]) & (grp.size[g_chunk][rows] > 0)
            add_g.append(g_chunk[rows[keep]])
            add_t.append(cols[keep])
            add_c.append(c_chunk[rows[keep], cols[keep]])
        bound = max(bound, value)
        new_g = np.concatenate(add_g) if add_g else np.zeros(0, dtype=np.int64)
        if len(new_g) == 0:
            break
        gu = np.concatenate([gu, new_g])
        gs = np.concatenate([gs, *add_t])
        cost = np.concatenate([cost, *add_c])
    pairs = len(gu)
    best_seat, split = _round(grp, gu, gs, cost, supply, flow, lo * unit_flow, hi * unit_flow)
    fixed_total = 0
    for _ in range(repair_rounds):
        load = np.bincount(best_seat, weights=supply, minlength=k)
        bad = (load < lo * unit_flow - 0.5) | (load > hi * unit_flow + 0.5)
        if not bad.any() or (deadline is not None and time.perf_counter() > deadline):
            break
        # the split groups keep their rounded seat; the flow re-balances around them
        was_split = np.bincount(gu[supply[gu] > 0][flow > 0], minlength=grp.n) > 1
        fixed_total += int(was_split.sum())
        keep = ~was_split[gu] | (gs == best_seat[gu])
        gu, gs, cost = gu[keep], gs[keep], cost[keep]
        flow, _ = _flow(grp, k, gu, gs, cost, supply, lo_i, hi_i, big)
        best_seat, more = _round(grp, gu, gs, cost, supply, flow, lo * unit_flow, hi * unit_flow)
        split += more
    return Transport(
        assign=best_seat[grp.of_unit], gamma=gamma, bound=float(bound), split=split, rounds=rounds, pairs=pairs
    )


def _round(
    grp: Groups,
    gu: NDArray[np.int64],
    gs: NDArray[np.int64],
    cost: NDArray[np.float64],
    supply: NDArray[np.int64],
    flow: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> tuple[NDArray[np.int64], int]:
    """Whole groups: unsplit ones where they flow; split ones, largest first, to the flow seat
    that leaves its band least broken (ties: the larger part); zero-size to the cheapest pair."""
    k = len(lo)
    on = supply[gu] > 0
    fg, fs = gu[on], gs[on]
    pos = flow > 0
    parts = np.bincount(fg[pos], minlength=grp.n)
    best_seat = np.full(grp.n, -1, dtype=np.int64)
    whole = pos & (parts[fg] == 1)
    best_seat[fg[whole]] = fs[whole]
    load = np.bincount(fs[whole], weights=supply[fg[whole]].astype(np.float64), minlength=k).astype(np.float64)
    split_groups = np.flatnonzero(parts > 1)
    # fractional parts of split groups count until the group is placed
    sp = pos & (parts[fg] > 1)
    load += np.bincount(fs[sp], weights=flow[sp].astype(np.float64), minlength=k)
    order = np.argsort(-supply[split_groups], kind="stable")
    sp_idx = np.flatnonzero(sp)
    by_group = sp_idx[np.argsort(fg[sp_idx], kind="stable")]
    starts = np.searchsorted(fg[by_group], split_groups)
    ends = np.searchsorted(fg[by_group], split_groups, side="right")
    for i in order:
        g = split_groups[i]
        arcs = by_group[starts[i] : ends[i]]
        seats, amounts = fs[arcs], flow[arcs].astype(np.float64)
        load[seats] -= amounts
        after = load[seats] + supply[g]
        broken = np.maximum(lo[seats] - after, 0) + np.maximum(after - hi[seats], 0)
        pick = int(np.lexsort((-amounts, broken))[0])
        best_seat[g] = seats[pick]
        load[seats[pick]] += supply[g]
    empty = best_seat < 0
    if empty.any():
        cheap = np.lexsort((cost, gu))
        first = np.ones(len(cheap), dtype=bool)
        first[1:] = gu[cheap][1:] != gu[cheap][:-1]
        fallback = np.full(grp.n, -1, dtype=np.int64)
        fallback[gu[cheap][first]] = gs[cheap][first]
        best_seat[empty] = fallback[empty]
    return best_seat, len(split_groups)


def _flow(
    grp: Groups,
    k: int,
    gu: NDArray[np.int64],
    gs: NDArray[np.int64],
    cost: NDArray[np.float64],
    supply: NDArray[np.int64],
    lo_i: NDArray[np.int64],
    hi_i: NDArray[np.int64],
    big: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """One min-cost flow: (flow on each pair of a group with supply, γ·COST_SCALE)."""
    per_unit = cost / np.maximum(grp.size[gu], 1e-300)
    c_int = np.round(per_unit * COST_SCALE).astype(np.int64)
    sink, spare = grp.n + k, grp.n + k + 1
    smcf = min_cost_flow.SimpleMinCostFlow()
    on = supply[gu] > 0
    pair_arcs = smcf.add_arcs_with_capacity_and_unit_cost(gu[on], grp.n + gs[on], supply[gu[on]], c_int[on])
    seats = np.arange(k)
    total_supply = int(supply.sum())
    big_cap = np.full(k, total_supply + 1, dtype=np.int64)
    # seat t demands lo[t]; a shortfall is bought from the spare node at a high price
    arc_short = smcf.add_arcs_with_capacity_and_unit_cost(np.full(k, spare), grp.n + seats, lo_i, np.full(k, big))
    arc_spare = smcf.add_arc_with_capacity_and_unit_cost(spare, sink, int(lo_i.sum()), 0)
    arc_band = smcf.add_arcs_with_capacity_and_unit_cost(
        grp.n + seats, np.full(k, sink), hi_i - lo_i, np.zeros(k, dtype=np.int64)
    )
    arc_over = smcf.add_arcs_with_capacity_and_unit_cost(grp.n + seats, np.full(k, sink), big_cap, np.full(k, big))
    smcf.set_nodes_supplies(np.arange(grp.n + k + 2), np.concatenate([supply, -lo_i, [-total_supply, int(lo_i.sum())]]))
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        from ..errors import SolverError

        msg = (
            f"the company-scale start found no way to give every unit an allowed seat (min-cost flow: {status.name}); "
            "check skills, locks and exclusions, raise candidates.nearest, or set solver.method: exact"
        )
        raise SolverError(msg)
    flow = smcf.flows(pair_arcs)
    small = [  # arcs among seats (0..k-1), the sink (k) and the spare node (k+1)
        (np.full(k, k + 1), seats, np.full(k, big), smcf.flows(arc_short), lo_i),
        (
            np.array([k + 1]),
            np.array([k]),
            np.array([0]),
            smcf.flows(np.array([arc_spare])),
            np.array([int(lo_i.sum())]),
        ),
        (seats, np.full(k, k), np.zeros(k, dtype=np.int64), smcf.flows(arc_band), hi_i - lo_i),
        (seats, np.full(k, k), np.full(k, big), smcf.flows(arc_over), big_cap),
    ]
    gamma = _seat_prices(k, gu[on], gs[on], c_int[on], flow, gu, gs, c_int, small)
    return flow, gamma


def _seat_prices(
    k: int,
    fg: NDArray[np.int64],
    fs: NDArray[np.int64],
    fc: NDArray[np.int64],
    flow: NDArray[np.int64],
    gu: NDArray[np.int64],
    gs: NDArray[np.int64],
    c_int: NDArray[np.int64],
    small: Sequence[tuple[Any, ...]],
) -> NDArray[np.float64]:
    """Optimal seat potentials γ[t] = π[t] - π[sink] by Bellman-Ford on the seat graph.

    The residual network is contracted onto seats: t1 → t2 costs min over groups g with
    flow on t1 of c[g,t2] - c[g,t1] (send back from t1 to g, on to t2); ``small`` holds the
    arcs among seats, sink and spare node as (tail, head, cost, flow, capacity). Integer
    costs of an optimal flow: no negative cycle.
    """
    inf = np.iinfo(np.int64).max // 4
    size = k + 2
    w = np.full((size, size), inf, dtype=np.int64)
    on = flow > 0
    src_g, src_t, src_c = fg[on], fs[on], fc[on]
    # join each flow arc (g, t1) with every candidate pair (g, t2) of the same group
    order = np.argsort(gu, kind="stable")
    gu_s, gs_s, c_s = gu[order], gs[order], c_int[order]
    start = np.searchsorted(gu_s, src_g, side="left")
    lens = np.searchsorted(gu_s, src_g, side="right") - start
    rep = np.repeat(np.arange(len(src_g)), lens)
    idx = start[rep] + (np.arange(len(rep)) - np.repeat(np.cumsum(lens) - lens, lens))
    t1, t2 = src_t[rep], gs_s[idx]
    val = c_s[idx] - src_c[rep]
    keep = t1 != t2
    np.minimum.at(w, (t1[keep], t2[keep]), val[keep])
    for tail, head, cost, f, cap in small:
        fwd = f < cap
        np.minimum.at(w, (tail[fwd], head[fwd]), cost[fwd])
        back = f > 0
        np.minimum.at(w, (head[back], tail[back]), -cost[back])
    pi = np.zeros(size, dtype=np.int64)  # a virtual source with 0-cost arcs to every node
    finite = w < inf
    for _ in range(size + 1):
        reach = np.where(finite, pi[:, None] + w, inf).min(axis=0)
        new = np.minimum(pi, reach)
        if np.array_equal(new, pi):
            break
        pi = new
    else:
        msg = "negative cycle in the residual network: the flow is not optimal"
        raise RuntimeError(msg)
    return (pi[:k] - pi[k]).astype(np.float64)
