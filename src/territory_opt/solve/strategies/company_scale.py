"""Company scale: a transport start, a Lagrangian bound and a large-neighbourhood search.

For account-mode books of tens of thousands of accounts and hundreds of reps one CP-SAT
model over every pair is too big to improve in minutes. This path (``solver.method: lns``,
or ``auto`` when there is no contiguity and units x seats exceeds :data:`LARGE_PAIRS`):

1. **Transport start** (:mod:`.model.transport`): a min-cost flow assigns families and
   accounts to seats within the first hard balance band, with column generation over every
   eligible pair; each split group goes where most of it went.
2. **Bound**: the Lagrangian dual of that transport LP over every eligible pair: a lower
   bound on travel valid for the unrestricted problem (seats with home bases).
3. **Large-neighbourhood search**: a window of a few nearby territories is re-optimised
   by CP-SAT with every constraint family (balance on every measure, capacity, skills,
   locks, families, exclusions, disruption against the rest of the plan), the rest of the
   plan fixed. Windows with a broken band first (elastic: the least stretch), then every
   seat in turn, until a full pass improves nothing or time runs out. A window's answer
   replaces it only when the whole plan's objective does not get worse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ... import resources
from ...errors import SolverError
from ...evaluate import Bands, Evaluation, evaluate
from ...model import ModelSpec, build, build_candidates, seat_positions
from ...model.candidates import Candidates
from ...model.cpsat import CpSettings, extract, hint, params, run, set_objective
from ...model.transport import groups, transport_start
from ...problem import Problem
from .._pairs import narrowed
from ..centres import descend_centres, medoids
from ..context import SolveContext
from ..incumbent import COMPANY_SCALE, Incumbent

if TYPE_CHECKING:
    from ..prepare import Prepared
    from ..spec import SolveSpec

#: Above this many unit x seat pairs (and without contiguity) ``method: auto`` goes large.
#: Measured (bench/RESULTS.md, scale ladder): at 5,000 accounts x 50 reps the one-model path's
#: pruned model was infeasible while this path gave a plan in 0.6 s within 0.2 % of its global
#: bound; at 20,000 x 100 the one-model path ended 51 % from its own bound, this one ~1 %.
LARGE_PAIRS = 100_000
#: A window holds about this many units (fewer seats when territories are big).
WINDOW_UNITS = 2_500


def use_large(problem: Problem, spec: ModelSpec, method: str) -> bool:
    """``method`` (``auto``, ``exact`` or ``lns``) asks for this path, or ``auto`` and the
    book is large and has no contiguity."""
    if spec.contiguity or method == "exact":
        return False
    return method == "lns" or problem.n_units * problem.n_seats > LARGE_PAIRS


def solve(ctx: SolveContext, spec: SolveSpec, prep: Prepared) -> tuple[Incumbent, list[str]]:
    """The company-scale strategy: the best plan within every band (or SolverError) and
    notes on what ran. Lexicographic priorities are approximated by weights 100× apart."""
    problem, centres = prep.problem, prep.centres

    def make_candidates(c: NDArray[np.int64]) -> Candidates:
        return narrowed(
            problem,
            c,
            nearest=spec.nearest,
            radius_km=spec.radius_km,
            exempt=prep.exempt,
            values=prep.values,
            limits=prep.limits,
            need=prep.need,
        )

    resources.check_memory(
        resources.BYTES_PER_LARGE_PAIR * problem.n_units * min(problem.n_seats, 4 * spec.nearest)
        + 5 * min(problem.n_units * problem.n_seats, 80_000_000),
        f"the company-scale path over {problem.n_units:,} units and {problem.n_seats:,} seats",
        "lower candidates.nearest or split the run by region",
    )
    found, centres, moves = _allocate(ctx, spec, prep, make_candidates)
    if found.violation > 1e-9:
        msg = (
            f"no plan within every band, cap and budget found within the time limit ({ctx.time_limit:g} s); "
            f"the closest plan stretches them by {100 * found.violation:.2f} % in total: raise solver.time_limit or loosen a tolerance"
        )
        raise SolverError(msg)
    best = Incumbent(
        assign=found.assign,
        centres=centres.copy(),
        objectives=(found.objective,),
        bound=found.bound,
        status=int(cp_model.FEASIBLE),
        cand=make_candidates(centres),
        exact=False,
        iteration=1,
        method=COMPANY_SCALE,
    )
    if moves:
        found.notes.append(
            f"location-allocation: centres moved to their territory's weighted medoid {moves} time(s) "
            "(the first time followed by a search of the centres on the transport relaxation, the bands priced in), "
            "the plan re-made around them each time (the best kept)"
        )
    return best, found.notes


#: With seats whose centres the model chooses: at most this many rounds of the search, the
#: centres moved to their territory's weighted medoid between rounds (each round an equal
#: share of the time left). With the first centres kept, US counties in 50 territories
#: without contiguity ended at 279 km of population-weighted distance to the centre
#: (150 s, 2026-11-29), against 115 km for location-allocation on the one-model path.
ALLOCATION_ROUNDS = 4


def _allocate(
    ctx: SolveContext, spec: SolveSpec, prep: Prepared, make_candidates: Callable[[NDArray[np.int64]], Any]
) -> tuple[LargeResult, NDArray[np.int64], int]:
    """:func:`solve_large` around the centres; with free seats, rounds of it with the centres
    moved to their territory's medoid in between (location-allocation). Returns the best
    plan (fewest violations, then objective), its centres and how many times they moved."""
    problem, centres = prep.problem, prep.centres.copy()
    rounds = ALLOCATION_ROUNDS if prep.free_centres else 1
    best: LargeResult | None = None
    best_centres, moves = centres, 0
    for r in range(rounds):
        keep = max(0.0, ctx.left()) * (1 - 1 / (rounds - r))  # the later rounds' share
        ctx.reserve += keep
        try:
            found = solve_large(
                ctx,
                problem,
                spec.model,
                weights=spec.weighted_stages(),
                centres=centres,
                make_candidates=make_candidates,
            )
        finally:
            ctx.reserve -= keep
        if best is None or (found.violation, found.objective) < (best.violation, best.objective):
            best, best_centres = found, centres
        if r == rounds - 1 or ctx.stopped or ctx.left() <= 1.0:
            break
        # the next centres: the medoids of this round's plan when it meets every band (a
        # descent may pass through a worse plan), else of the best plan
        source, at = (found, centres) if found.violation <= 1e-9 else (best, best_centres)
        moved = medoids(problem, source.assign, at, prep.weight, prep.exempt)
        if moves == 0:
            # once: the centres searched on the transport relaxation from the medoids (the
            # bands priced in), or where that search does not apply their transport descent
            from ..prepare import searched_centres  # prepare imports this module

            searched = searched_centres(ctx, replace(prep, centres=moved))
            moved = descend_centres(ctx, prep, moved) if searched is None else searched[0]
        if np.array_equal(moved, at):
            break  # converged
        centres, moves = moved, moves + 1
    assert best is not None
    return best, best_centres, moves


@dataclass
class LargeResult:
    assign: NDArray[np.int64]
    objective: float
    bound: float | None  # valid for the unrestricted problem (travel objective, homes)
    violation: float
    windows: int
    improved: int
    notes: list[str]


def _subproblem(
    problem: Problem, units: NDArray[np.int64], seats: NDArray[np.int64], seat_pos: NDArray[np.float64]
) -> Problem:
    """The units and seats of a window; seats sit at their (home or centre) position."""
    seat_map = np.full(problem.n_seats, -1, dtype=np.int64)
    seat_map[seats] = np.arange(len(seats))

    def remap(a: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.where(a >= 0, seat_map[np.maximum(a, 0)], -1)

    ex = problem.exclusions
    keep = np.isin(ex[:, 0], units) & np.isin(ex[:, 1], seats)
    unit_map = np.full(problem.n_units, -1, dtype=np.int64)
    unit_map[units] = np.arange(len(units))
    return Problem.from_arrays(
        measures=problem.measures[units],
        measure_names=problem.measure_names,
        unit_xy=problem.unit_xy[units],
        seat_xy=seat_pos[seats],
        unit_ids=problem.unit_ids[units],
        seat_ids=problem.seat_ids[seats],
        seat_capacity=problem.seat_capacity[seats],
        unit_skills=problem.unit_skills[units],
        seat_skills=problem.seat_skills[seats],
        skill_names=problem.skill_names,
        lock=remap(problem.lock[units]),
        owner=remap(problem.owner[units]),
        family=problem.family[units],
        exclusions=np.column_stack([unit_map[ex[keep, 0]], seat_map[ex[keep, 1]]]),
    )


class _Plan:
    """The fixed parts of the window search (problem, bands, positions, weights) and the
    figures of a whole plan, from the one evaluator."""

    def __init__(
        self,
        problem: Problem,
        spec: ModelSpec,
        seat_pos: NDArray[np.float64],
        weights: dict[str, float],
    ) -> None:
        self.problem, self.spec, self.pos, self.weights = problem, spec, seat_pos, weights
        self.hard = spec.bands(problem, hard=True, capacity=True)
        self.soft = spec.bands(problem, hard=False, capacity=False)
        self.target = self.hard.target
        self.exempt = self.hard.exempt
        self.w = spec.weight(problem.n_units)
        self.value = spec.value(problem.n_units)

    def evaluate(self, assign: NDArray[np.int64]) -> Evaluation:
        return evaluate(
            self.problem,
            assign,
            None,
            self.hard,
            weight=self.w,
            disruption_measure=self.value,
            positions=self.pos,
            contiguity=False,
        )

    def seat_violation(self, ev: Evaluation) -> NDArray[np.float64]:
        """Per seat: relative stretch of hard bands and caps (0 when within)."""
        return np.asarray(self.hard.stretch(ev.load).sum(axis=1), dtype=np.float64)

    def disruption_violation(self, ev: Evaluation) -> float:
        p, spec = self.problem, self.spec
        has = p.owner >= 0
        moved = ev.moved
        total = max(float(self.value[has].sum()), 1e-12)
        out = 0.0
        if spec.disruption_max is not None:
            out += max(float(self.value[moved].sum()) - spec.disruption_max, 0.0) / total
        if spec.disruption_per_rep is not None:
            k = p.n_seats
            book = np.bincount(p.owner[has], weights=self.value[has], minlength=k)
            gone = np.bincount(p.owner[moved], weights=self.value[moved], minlength=k)
            out += float((np.maximum(gone - spec.disruption_per_rep * book, 0) / np.maximum(book, 1e-12)).sum())
        return out

    def objective(self, ev: Evaluation) -> float:
        terms = ev.objective_terms  # travel and disruption (no cut edges: contiguity is off here)
        if self.soft.tolerance:
            # soft bands: Σ weight_m · 100 · stretch beyond the band / target, seats not exempt
            weight = {self.problem.measure_names[r.measure]: r.weight for r in self.spec.balance if not r.hard}
            stretch = self.soft.stretch(ev.load)[~self.exempt]
            terms["balance"] = sum(
                weight[name] * 100.0 * float(stretch[:, i].sum()) for i, name in enumerate(self.soft.tolerance)
            )
        return sum(self.weights.get(name, 0.0) * v for name, v in terms.items())


def solve_large(
    ctx: SolveContext,
    problem: Problem,
    spec: ModelSpec,
    *,
    weights: dict[str, float],
    centres: NDArray[np.int64],
    make_candidates: Callable[[NDArray[np.int64]], Any],
) -> LargeResult:
    """Transport start, bound and window search; see the module docstring. Every decision
    runs on ``ctx``'s clock (deterministic time in deterministic mode, never the wall clock)."""
    exempt = spec.exempt_seats(problem.n_seats)
    pos = seat_positions(problem, centres)
    cand = make_candidates(centres)
    state = _Plan(problem, spec, pos, weights)
    tr, grp = _transport(ctx, problem, spec, cand, pos, state.hard, exempt)
    notes = [
        f"transport start: min-cost flow over {tr.pairs:,} group-seat pairs after {tr.rounds} pricing round(s); {tr.split} group(s) split by the flow went to their largest part"
    ]
    weight = spec.weight(problem.n_units)
    homes = bool(problem.has_home[~exempt].all())
    bound = tr.bound / max(float(weight.sum()), 1e-12) if homes and set(weights) == {"travel"} else None
    start = _polish(problem, spec, state, cand, grp, tr.assign) if set(weights) == {"travel"} else tr.assign.copy()
    current = _Current.of(state, start)
    current.report(ctx, "transport start", bound)
    current, windows, improved, size = _window_search(ctx, state, current, bound)
    notes.append(
        f"large-neighbourhood search: {windows:,} windows of {size} nearby territories re-optimised by CP-SAT, {improved:,} improved the plan"
    )
    return LargeResult(
        assign=current.assign,
        objective=current.objective,
        bound=bound,
        violation=current.total,
        windows=windows,
        improved=improved,
        notes=notes,
    )


def _transport(
    ctx: SolveContext,
    problem: Problem,
    spec: ModelSpec,
    cand: Candidates,
    pos: NDArray[np.float64],
    hard: Bands,
    exempt: NDArray[np.bool_],
) -> tuple[Any, Any]:
    """The transport start within the first hard band (or unbounded), and its groups; no
    unit but their own goes to the ``exempt`` seats (standing alone)."""
    weight = spec.weight(problem.n_units)
    bands = [row for row in hard.rows() if row.kind == "band"]
    if bands:
        value = problem.measures[:, bands[0].measure]
        lo, hi = np.maximum(bands[0].low, 0.0), bands[0].high
    else:
        value, lo, hi = weight, np.zeros(problem.n_seats), np.full(problem.n_seats, np.inf)
    grp = groups(problem, value, families=spec.families)
    # deterministic mode: the transport stops by its pricing rounds, not by the clock
    until = None if ctx.deterministic else time.perf_counter() + 0.35 * ctx.left()
    return transport_start(problem, cand, grp, weight, pos, lo, hi, deadline=until, exempt=exempt), grp


@dataclass
class _Current:
    """The plan of the window search: per-seat stretch, total stretch, objective."""

    assign: NDArray[np.int64]
    viol: NDArray[np.float64]
    total: float
    objective: float

    @classmethod
    def of(cls, state: _Plan, assign: NDArray[np.int64]) -> _Current:
        ev = state.evaluate(assign)
        viol = state.seat_violation(ev)
        return cls(assign, viol, float(viol.sum()) + state.disruption_violation(ev), state.objective(ev))

    def better(self, trial: _Current) -> bool:
        """Less stretch, or as little and a lower objective."""
        return trial.total < self.total - 1e-9 or (
            trial.total <= self.total + 1e-12
            and trial.objective < self.objective - 1e-9 * max(abs(self.objective), 1.0)
        )

    def report(self, ctx: SolveContext, stage: str, bound: float | None) -> None:
        if ctx.progress is None:
            return
        ok = self.total <= 1e-9
        gap = (
            max(0.0, (self.objective - bound) / abs(self.objective))
            if bound is not None and self.objective and ok
            else None
        )
        ctx.progress(
            {
                "stage": stage,
                "elapsed": ctx.elapsed(),
                "objective": self.objective if ok else None,
                "bound": bound,
                "gap": gap,
                "violation": self.total,
            }
        )


def _window_search(
    ctx: SolveContext, state: _Plan, current: _Current, bound: float | None
) -> tuple[_Current, int, int, int]:
    """Re-optimise windows of nearby territories (broken bands first, then every seat in
    turn) until a full pass improves nothing or time runs out. Returns the best plan, the
    windows solved, how many improved it, and the window size [seats]."""
    problem, active = state.problem, np.flatnonzero(~state.exempt)
    per_seat = problem.n_units / max(len(active), 1)
    size = min(int(np.clip(round(WINDOW_UNITS / max(per_seat, 1.0)), 3, 8)), len(active))
    apos = state.pos[active]
    windows = improved = 0
    order = list(active[np.argsort(-current.viol[active], kind="stable")])
    quiet = 0  # windows in a row without improvement
    step = 1.0 if ctx.deterministic else min(3.0, max(0.5, 0.02 * ctx.time_limit))
    while order and ctx.now() < ctx.deadline - 0.5 and quiet < len(active) and not ctx.stopped:
        seed_seat = int(order.pop(0))
        if not order:
            by_stretch = active[np.argsort(-current.viol[active], kind="stable")]
            order = list(by_stretch) if current.total > 1e-9 else list(active)
        near = active[np.argsort(np.linalg.norm(apos - state.pos[seed_seat], axis=1), kind="stable")[:size]]
        seats_w = np.sort(near)
        units_w = np.flatnonzero(np.isin(current.assign, seats_w))
        elastic = float(current.viol[seats_w].sum()) > 1e-9 or current.total > 1e-9
        limit = min(step, max(0.5, ctx.left()))
        new, used = _window(state, current.assign, units_w, seats_w, elastic, ctx.cp, limit, ctx.workers)
        ctx.charge(used)
        windows += 1
        trial = None
        if new is not None:
            assign = current.assign.copy()
            assign[units_w] = new
            trial = _Current.of(state, assign)
        if trial is None or not current.better(trial):
            quiet += 1
            continue
        gained = (current.objective - trial.objective) > 1e-5 * max(abs(current.objective), 1.0)
        quiet = 0 if gained or trial.total < current.total - 1e-9 else quiet + 1
        current = trial
        improved += 1
        current.report(ctx, f"window search ({windows} windows)", bound)
    return current, windows, improved, size


def _polish(
    problem: Problem, spec: ModelSpec, state: _Plan, cand: Any, grp: Any, assign: NDArray[np.int64], passes: int = 10
) -> NDArray[np.int64]:
    """Single moves of whole groups to a cheaper candidate seat while every band, cap and
    budget holds (the transport aimed inside the bands; this spends the room it left)."""
    k = problem.n_seats
    assign = assign.copy()
    g_of = grp.of_unit
    # group-level values against the hard bands and caps (value per group, lo, hi); the
    # moves below update the loads per move, as a whole-plan evaluation each would be quadratic
    rows: list[tuple[NDArray[Any], NDArray[Any], NDArray[Any]]] = [
        (np.bincount(g_of, weights=problem.measures[:, r.measure], minlength=grp.n), r.low, r.high)
        for r in state.hard.rows()
    ]
    has = problem.owner >= 0
    if (spec.disruption_max is not None or spec.disruption_per_rep is not None) and has.any():
        return assign  # moves against budgets are left to the windows
    seat_of_group = np.zeros(grp.n, dtype=np.int64)
    seat_of_group[g_of] = assign
    # group-level candidate pairs and costs
    gk = g_of[cand.unit] * k + cand.seat
    keys, inverse = np.unique(gk, return_inverse=True)
    cost = np.bincount(
        inverse,
        weights=state.w[cand.unit] * np.linalg.norm(problem.unit_xy[cand.unit] - state.pos[cand.seat], axis=1),
        minlength=len(keys),
    )
    count = np.bincount(inverse, minlength=len(keys))
    members = np.bincount(g_of, minlength=grp.n)
    gu, gs = keys // k, keys % k
    ok = (count == members[gu]) & ((grp.lock[gu] < 0) | (grp.lock[gu] == gs))
    gu, gs, cost = gu[ok], gs[ok], cost[ok]
    loads = [np.bincount(seat_of_group, weights=v, minlength=k) for v, _, _ in rows]
    _repair(rows, loads, seat_of_group, gu, gs, cost)
    for _ in range(passes):
        cur = np.full(grp.n, np.nan)
        here = gs == seat_of_group[gu]
        cur[gu[here]] = cost[here]
        gain = cur[gu] - cost
        moves = np.flatnonzero(gain > 1e-12)
        moves = moves[np.argsort(-gain[moves], kind="stable")]
        done = 0
        moved_group = np.zeros(grp.n, dtype=bool)
        for p in moves.tolist():
            g, dest = int(gu[p]), int(gs[p])
            if moved_group[g]:
                continue
            origin = int(seat_of_group[g])
            fits = True
            for (v, lo, hi), load in zip(rows, loads, strict=True):
                if load[origin] - v[g] < lo[origin] - 1e-9 or load[dest] + v[g] > hi[dest] + 1e-9:
                    fits = False
                    break
            if not fits:
                continue
            for (v, _, _), load in zip(rows, loads, strict=True):
                load[origin] -= v[g]
                load[dest] += v[g]
            seat_of_group[g] = dest
            moved_group[g] = True
            done += 1
        if done == 0:
            break
    return seat_of_group[g_of]


def _repair(
    rows: list[tuple[NDArray[Any], NDArray[Any], NDArray[Any]]],
    loads: list[NDArray[Any]],
    seat_of_group: NDArray[np.int64],
    gu: NDArray[np.int64],
    gs: NDArray[np.int64],
    cost: NDArray[np.float64],
    max_moves: int = 100_000,
) -> None:
    """Bring seats back inside their bands by the cheapest single moves (in place): groups
    leave a seat above a band for a candidate seat with room, or join a seat below a band
    from a candidate seat that can spare them; no move breaks another band."""
    if not rows:
        return
    here = np.zeros(len(gu), dtype=bool)
    for _ in range(max_moves):
        here[:] = gs == seat_of_group[gu]
        cur = np.full(seat_of_group.shape[0], np.inf)
        cur[gu[here]] = cost[here]
        src = seat_of_group[gu]
        excess = np.zeros(len(gu))  # how much the move reduces the total stretch
        breaks = np.zeros(len(gu), dtype=bool)
        for (v, lo, hi), load in zip(rows, loads, strict=True):
            vg = v[gu]
            s_before = np.maximum(lo[src] - load[src], 0) + np.maximum(load[src] - hi[src], 0)
            s_after = np.maximum(lo[src] - (load[src] - vg), 0) + np.maximum(load[src] - vg - hi[src], 0)
            t_before = np.maximum(lo[gs] - load[gs], 0) + np.maximum(load[gs] - hi[gs], 0)
            t_after = np.maximum(lo[gs] - (load[gs] + vg), 0) + np.maximum(load[gs] + vg - hi[gs], 0)
            scale = np.maximum(np.where(np.isfinite(hi[gs]), np.abs(hi[gs]), 1.0), 1e-12)
            excess += (s_before - s_after + t_before - t_after) / scale
            # a move may not break a band that holds
            breaks |= ((s_before <= 1e-9) & (s_after > 1e-9)) | ((t_before <= 1e-9) & (t_after > 1e-9))
        useful = (~here) & (~breaks) & (excess > 1e-12)
        if not useful.any():
            return
        extra = cost - cur[gu]
        idx = np.flatnonzero(useful)
        p = int(idx[np.lexsort((extra[idx], -np.round(excess[idx], 9)))[0]])
        g, t = int(gu[p]), int(gs[p])
        s_ = int(seat_of_group[g])
        for (v, _, _), load in zip(rows, loads, strict=True):
            load[s_] -= v[g]
            load[t] += v[g]
        seat_of_group[g] = t


def _window(
    state: _Plan,
    assign: NDArray[np.int64],
    units_w: NDArray[np.int64],
    seats_w: NDArray[np.int64],
    elastic: bool,
    settings: CpSettings,
    limit: float,
    workers: int,
) -> tuple[NDArray[np.int64] | None, float]:
    """Re-optimise one window with CP-SAT; returns the seats of ``units_w`` (global
    indices) and the deterministic time used."""
    problem, spec, pos, target, weights = state.problem, state.spec, state.pos, state.target, state.weights
    sub = _subproblem(problem, units_w, seats_w, pos)
    inside = np.zeros(problem.n_units, dtype=bool)
    inside[units_w] = True
    value = state.value
    has = problem.owner >= 0
    moved = problem.reassigned(assign)
    # moves the window cannot undo: units outside it, and units whose owner is outside it
    fixed = moved & (~inside | ~np.isin(problem.owner, seats_w))
    sub_spec = replace(
        spec,
        travel_weight=state.w[units_w],
        disruption_value=value[units_w],
        exempt=np.zeros(len(seats_w), dtype=bool),
        targets=target[seats_w],
    )
    if spec.disruption_max is not None:
        sub_spec = replace(sub_spec, disruption_max=spec.disruption_max - float(value[fixed].sum()))
    if spec.disruption_per_rep is not None:
        k = problem.n_seats
        book = np.bincount(problem.owner[has], weights=value[has], minlength=k)
        gone_outside = np.bincount(problem.owner[moved & ~inside], weights=value[moved & ~inside], minlength=k)
        rep_limit = np.asarray(spec.disruption_per_rep * book - gone_outside, dtype=np.float64)[seats_w]
        sub_spec = replace(sub_spec, disruption_rep_limit=rep_limit)
    cand = build_candidates(sub, np.zeros(len(seats_w), dtype=np.int64), nearest=len(seats_w))
    terms = set(weights)
    built = build(sub, cand, sub_spec, None, objective_terms=terms, elastic=elastic)
    set_objective(built, {**weights, "elastic": 1000.0} if elastic else weights)
    local = np.searchsorted(seats_w, assign[units_w])
    hint(built, cand, local, deterministic=settings.deterministic)
    solver = params(settings, limit, workers)
    status = run(solver, built.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, solver.deterministic_time
    return seats_w[extract(solver, built, cand, len(units_w))], solver.deterministic_time
