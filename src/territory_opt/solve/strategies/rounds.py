"""One round of the one-model strategies: candidates → warm start → exact search → CP-SAT.

A round builds the candidate pairs around the current centres (and the plan it starts
from), a warm start (:mod:`territory_opt.model.heuristics`; a tree bisection when region
growing misses a band), runs the exact contiguity search when the start misses a band or a
realignment must keep its budget, builds the contiguity condition around the roots, and
solves the restricted CP-SAT model for each priority in turn (lexicographic: keep each
within ``slack`` of its best, then the next). :func:`settle` then updates the incumbent or,
while there is none, repairs the start, proves infeasibility, or says what was tried.

The strategies (:mod:`.fixed_homes`, :mod:`.location_allocation`) decide what comes after
a round: rebuild the condition around the plan, move or kick the centres, or stop.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ... import geo, resources
from ...errors import SolverError
from ...model import (
    Contiguity,
    build,
    build_candidates,
    choose_roots,
    conditions,
    plan_distances,
    prune,
    seat_positions,
)
from ...model.candidates import Candidates
from ...model.cpsat import Callback, extract, params, run, set_objective
from ...model.cpsat import hint as cp_hint
from ...model.heuristics import bisection_partition, warm_start
from ...problem import Problem
from .._pairs import exempt_filter, fit_filter, narrowed, subset, with_distances
from ..centres import kick as kick_centres
from ..centres import medoids, reseed
from ..context import SolveContext
from ..contiguous import EPS as EXACT_EPS
from ..contiguous import SearchResult, balance_search, repair_whole
from ..incumbent import EXACT_SEARCH, WARM_START, Incumbent
from ..prepare import Prepared
from ..proof import no_plan_error, over_budget_plan, raise_if_pocket, raise_if_proved, rule_keeping
from . import exact_cuts, exact_flow, realignment


class Next(Enum):
    """What a strategy does after :func:`settle`."""

    SOLVED = "solved"  # the round gave a plan: the strategy decides
    AGAIN = "again"  # start another round at once
    STOP = "stop"  # keep the incumbent


@dataclass
class Search:
    """The state of a one-model search across rounds (mutable: owned by one solve)."""

    centres: NDArray[np.int64]
    start: NDArray[np.int64] | None
    rng: np.random.Generator
    best: Incumbent | None = None
    iteration: int = 0
    local_iter: int = 0
    kicks: int = 0
    final: bool = False
    exact_tries: int = 0
    exact_model_tried: bool = False
    cuts_tried: bool = False
    whole_tried: bool = False
    exact_log: list[SearchResult] = field(default_factory=list)
    infeasible_rounds: int = 0
    last_objective: float | None = None

    @classmethod
    def begin(cls, ctx: SolveContext, prep: Prepared) -> Search:
        return cls(centres=prep.centres, start=prep.start, rng=np.random.default_rng(ctx.seed))

    def kick(self, ctx: SolveContext, prep: Prepared) -> None:
        """New centres around the best plan (iterated local search), starting from it."""
        assert self.best is not None
        self.kicks += 1
        self.local_iter = 0
        # the Python work of a kick is not on CP-SAT's clock: charge a fixed share, so
        # deterministic runs make a bounded, repeatable number of kicks
        ctx.charge_share(0.03)
        self.centres = kick_centres(
            prep.problem, self.best.assign, self.best.centres, prep.weight, prep.exempt, self.rng
        )
        self.start = self.best.assign


@dataclass
class Round:
    """What one round built and found."""

    cand: Candidates
    pruning_exact: bool
    hint: NDArray[np.int64]
    violation: float
    contiguity: Contiguity | None
    slice: float
    roots: NDArray[np.int64] | None = None
    status: Any = cp_model.UNKNOWN
    assign: NDArray[np.int64] | None = None
    objectives: tuple[float, ...] = ()
    bound: float | None = None


def run_round(ctx: SolveContext, prep: Prepared, search: Search) -> Round:
    """Candidates, warm start, exact search when needed, contiguity condition, CP-SAT."""
    search.iteration += 1
    search.local_iter += 1
    rnd = _warm_round(ctx, prep, search)
    ctx.report("warm start", violation=rnd.violation, iteration=search.iteration)
    _exact_round(ctx, prep, search, rnd)
    roots = rnd.roots
    if roots is not None:
        dist, pred = plan_distances(prep.problem, roots, rnd.hint)
        ku, ks = prune(prep.problem, rnd.cand, roots, dist, pred)
        rnd.cand = with_distances(prep.problem, subset(prep.problem, rnd.cand, ku, ks, False), search.centres)
        rnd.contiguity = conditions(rnd.cand, roots, dist, prep.problem)
    rnd.slice = _slice(ctx, prep, search)
    _solve_stages(ctx, prep, search, rnd)
    return rnd


def _roots(prep: Prepared, centres: NDArray[np.int64], plan: NDArray[np.int64] | None) -> NDArray[np.int64]:
    roots = choose_roots(prep.problem, centres, values=prep.values, limits=prep.limits, plan=plan)
    roots[prep.exempt] = centres[prep.exempt]
    return roots


def _warm_round(ctx: SolveContext, prep: Prepared, search: Search) -> Round:
    """The round's candidate pairs, roots and warm start (a tree bisection when region
    growing leaves a band broken and it does better)."""
    problem, spec = prep.problem, prep.spec
    extra = None if search.start is None else np.column_stack([np.arange(problem.n_units), search.start])
    cand = build_candidates(
        problem, search.centres, nearest=spec.nearest, radius_km=spec.radius_km, extra=extra, need=prep.need
    )
    cand = exempt_filter(problem, cand, prep.exempt)
    pruning_exact = cand.exact
    if search.iteration == 1:
        resources.check_memory(
            resources.BYTES_PER_PAIR * len(cand),
            f"a CP-SAT model over {len(cand):,} candidate pairs",
            "lower candidates.nearest, use solver.method: lns (no contiguity), or split the run by region",
        )
    cand = fit_filter(problem, cand, prep.values, prep.limits)
    roots = None
    if spec.model.contiguity:
        # roots inside the plan we start from; a realignment starts from today's owners
        roots = _roots(
            prep,
            search.centres,
            search.start if search.start is not None else (problem.owner if spec.realign else None),
        )
    hint, violation = _heuristic(ctx, prep, cand, roots, search.start)
    if violation > 1e-9 and search.start is None and problem.has_home.any() and not spec.realign:
        # region growing / greedy left territories off balance: try a balanced connected
        # partition by tree bisection (on a nearest-neighbour graph for accounts),
        # matched to the reps by distance
        graph_problem = problem if problem.edges is not None else _knn_graph(problem)
        alt = _bisection_for_homes(graph_problem, prep.weight, prep.exempt, prep.standing, ctx.seed)
        alt_roots = None if roots is None else _roots(prep, search.centres, alt)
        alt_cand = fit_filter(
            problem,
            exempt_filter(problem, _cand_with(prep, search.centres, alt, need=False), prep.exempt),
            prep.values,
            prep.limits,
        )
        alt_hint, alt_violation = _heuristic(ctx, prep, alt_cand, alt_roots, alt)
        if alt_violation < violation:
            hint, violation, roots, cand = alt_hint, alt_violation, alt_roots, alt_cand
    return Round(cand, pruning_exact, hint, violation, None, 0.0, roots)


def _knn_graph(problem: Problem) -> Problem:
    return replace(problem, edges=geo.edges_from_points(problem.unit_xy, k=6)[:, :2])


def _cand_with(prep: Prepared, centres: NDArray[np.int64], plan: NDArray[np.int64], *, need: bool) -> Candidates:
    spec = prep.spec
    return build_candidates(
        prep.problem,
        centres,
        nearest=spec.nearest,
        radius_km=spec.radius_km,
        extra=np.column_stack([np.arange(prep.problem.n_units), plan]),
        need=prep.need if need else None,
    )


def _heuristic(
    ctx: SolveContext,
    prep: Prepared,
    cand: Candidates,
    roots: NDArray[np.int64] | None,
    start: NDArray[np.int64] | None,
) -> tuple[NDArray[np.int64], float]:
    """The warm start; deterministic mode bounds its local search by moves, never by the clock."""
    ws_limit = min(10.0, max(1.0, 0.15 * ctx.time_limit))
    return warm_start(
        prep.problem,
        cand,
        prep.spec.model,
        roots,
        time_limit=ws_limit if not ctx.deterministic else 1e9,
        start=start,
        max_moves=200_000 if ctx.deterministic else None,
        seed=ctx.seed,
    )


def _exact_round(ctx: SolveContext, prep: Prepared, search: Search, rnd: Round) -> None:
    """When the restricted start misses a band (or a realignment must keep its budget):
    search the real problem (exact contiguity, every eligible seat), on a small map with the
    exact model as a last resort; a plan found becomes the round's start (and its roots)."""
    realign_first = prep.spec.realign and search.iteration == 1
    if not (search.exact_tries < 2 and (rnd.violation > 1e-9 or realign_first) and ctx.left() > 0.1 * ctx.time_limit):
        return
    search.exact_tries += 1
    start = rnd.hint if not realign_first else prep.problem.owner
    cuts = realign_first and not search.cuts_tried and exact_cuts.fits(prep.problem, prep.spec)
    decided: exact_cuts.CutResult | None = None
    if cuts and not ctx.deterministic and ctx.workers >= 2:
        # a small map under a budget, wall clock: the search and the cut model at once
        search.cuts_tried = True
        found, decided = realignment.search_and_decide(
            ctx,
            prep.problem,
            prep.spec,
            start,
            search.centres,
            ctx.deadline,
            prep.movement,
            # a near miss: the whole-map step runs while the cut model's last solve finishes
            then=lambda found, decided, workers: (
                _whole_map(ctx, prep, search, found, decided, workers)
                if _whole_applies(ctx, prep, search, found)
                else found
            ),
        )
    else:
        found = realignment.exact_search(
            ctx, prep.problem, prep.spec, start, search.centres, ctx.deadline, search.exact_tries, prep.movement
        )
    ctx.charge_share(0.1)
    search.exact_log.append(found)
    ctx.report("exact contiguity search", violation=found.violation, iteration=search.iteration)
    raise_if_pocket(ctx, prep.problem, prep.spec.model, search.centres, prep.exempt, found)
    if found.violation > EXACT_EPS and cuts:
        # a small map under a budget the search missed: the cut model decides the budget for
        # the real problem (a plan within it, or the proof that none exists)
        search.cuts_tried = True
        if decided is None:
            decided = exact_cuts.decide(ctx, prep.problem, prep.spec, ctx.now() + 0.6 * max(0.0, ctx.left()))
        elif found.violation > WHOLE_NEAR and not ctx.stopped:
            # the search ended far outside (no whole-map step): the cut model, left undecided
            # beside it, goes on from its cuts with every worker, as it would after a search
            # run alone
            decided = exact_cuts.resume(ctx, decided, ctx.now() + 0.6 * max(0.0, ctx.left()))
        if decided.status == "infeasible":
            over = over_budget_plan(rule_keeping(search.exact_log, prep.problem, prep.spec.model))
            raise exact_cuts.budget_error(ctx, prep.problem, prep.spec, decided, over, prep.movement)
        if decided.assign is not None:
            found = replace(found, assign=decided.assign, violation=0.0)
        else:  # undecided in its time: named in "what was tried"
            search.exact_log.append(
                replace(
                    found,
                    balanced=None,
                    balanced_moved=None,
                    moved_bound=None,
                    corridor_plan=None,
                    label=f"the exact model by separator cuts ({decided.solves} solves, {len(decided.cuts):,} cuts; "
                    "the budget undecided in its time)",
                )
            )
    if _whole_applies(ctx, prep, search, found):
        found = _whole_map(ctx, prep, search, found)
    if (
        found.violation > EXACT_EPS
        and exact_flow.fits(prep.problem)
        and prep.spec.model.contiguity
        and not search.exact_model_tried
    ):
        # a small map: the exact model (contiguity by flows) decides, with a good share of
        # the time left; it proves infeasibility or finds a plan
        search.exact_model_tried = True
        until = ctx.now() + 0.4 * max(0.0, ctx.left())
        exact = exact_flow.fallback(
            ctx, prep.problem, prep.spec, search.centres, search.exact_log, until, prep.movement
        )
        if exact is not None:
            found = replace(found, assign=exact.assign, violation=0.0)
    if found.violation > EXACT_EPS:
        return
    rnd.hint, rnd.violation, search.start = found.assign, 0.0, found.assign
    if prep.free_centres:
        search.centres = medoids(prep.problem, rnd.hint, search.centres, prep.weight, prep.exempt)
    rnd.cand = _plan_cand(prep, search.centres, rnd.hint)
    rnd.pruning_exact = rnd.cand.exact
    if rnd.roots is not None:
        rnd.roots = _roots(prep, search.centres, rnd.hint)


#: A small map's search result at most this far outside (shares of a target, bands and
#: budget) is a near miss that CP-SAT over the whole map may close (:func:`_whole_map`);
#: farther out, the time goes to the exact model as before.
WHOLE_NEAR = 0.05
#: Share of the time left that the whole-map windows get.
WHOLE_SHARE = 0.6


def _whole_applies(ctx: SolveContext, prep: Prepared, search: Search, found: SearchResult) -> bool:
    """``found`` is a small map's near miss that the whole-map step has not yet tried."""
    return (
        EXACT_EPS < found.violation <= WHOLE_NEAR
        and exact_flow.fits(prep.problem)
        and prep.spec.model.contiguity
        and not search.whole_tried
        and not ctx.stopped
    )


def _whole_map(
    ctx: SolveContext,
    prep: Prepared,
    search: Search,
    found: SearchResult,
    decided: threading.Event | None = None,
    workers: int | None = None,
) -> SearchResult:
    """A small map the searches left just outside a band or the budget: CP-SAT windows over
    the whole map (:func:`~territory_opt.solve.contiguous.repair_whole`) from ``found``, on
    :data:`WHOLE_SHARE` of the time left, before the exact model (beside the cut model, on
    ``workers``, until ``decided`` is set). Returns ``found`` with the plan when every rule
    holds; otherwise the attempt is logged for "what was tried" (its plan, when it misses
    less, is the exact model's hint)."""
    search.whole_tried = True
    ctx.report("CP-SAT over the whole map", violation=found.violation)
    repaired = repair_whole(
        prep.problem,
        prep.spec.model,
        found.assign,
        pos=seat_positions(prep.problem, search.centres),
        deadline=ctx.now() + WHOLE_SHARE * max(0.0, ctx.left()),
        # Ctrl-C, or the cut model beside has decided: no further solve
        now=lambda: ctx.now() + (1e9 if ctx.stopped or (decided is not None and decided.is_set()) else 0.0),
        charge=ctx.charge,
        seed=ctx.seed,
        workers=workers or ctx.workers,
        deterministic=ctx.deterministic,
        anchors=search.centres,
    )
    ctx.report("CP-SAT over the whole map done", violation=repaired.violation, windows=repaired.windows)
    if repaired.violation <= EXACT_EPS:
        return replace(found, assign=repaired.assign, violation=0.0)
    search.exact_log.append(repaired)
    return found


def _plan_cand(prep: Prepared, centres: NDArray[np.int64], plan: NDArray[np.int64]) -> Candidates:
    """The candidate pairs around a plan the exact search found (its own pairs kept)."""
    return narrowed(
        prep.problem,
        centres,
        nearest=prep.spec.nearest,
        radius_km=prep.spec.radius_km,
        exempt=prep.exempt,
        values=prep.values,
        limits=prep.limits,
        plan=plan,
        need=prep.need,
    )


def _slice(ctx: SolveContext, prep: Prepared, search: Search) -> float:
    """The round's CP-SAT time: all that is left for a last (or the only) solve, 45 % of it
    while the contiguity condition is rebuilt around the plan, a share of the limit while
    centres move."""
    recentre = prep.spec.model.contiguity and not prep.free_centres
    remaining = ctx.left()
    if recentre and not search.final and remaining < 0.35 * ctx.time_limit:
        search.final = True
    if search.final or (not prep.free_centres and not recentre):
        return max(1.0, remaining)
    if recentre:
        return max(1.0, 0.45 * remaining)
    if prep.searchable and search.best is None and search.iteration == 1:
        # the first round, for a first plan only: the centres are searched next
        # (location_allocation); a later round without a plan gets the usual share
        return max(1.0, min(FIRST_PLAN_SHARE * ctx.time_limit, remaining * 0.5))
    return max(1.0, min((0.25 if search.best is None else 0.12) * ctx.time_limit, remaining * 0.5))


#: The first round's share of the limit when centres are searched after it
#: (:attr:`~..prepare.Prepared.searchable`): enough for CP-SAT's first plans from the start.
FIRST_PLAN_SHARE = 0.05


def _solve_stages(ctx: SolveContext, prep: Prepared, search: Search, rnd: Round) -> None:
    """CP-SAT on the restricted model, one stage per priority (each later stage keeps the
    earlier objectives within the slack); the round gets the last stage's status and plan
    and the value of every priority's objective for that plan."""
    spec = prep.spec
    built = build(prep.problem, rnd.cand, spec.model, rnd.contiguity, objective_terms=set(spec.terms))
    per_stage = rnd.slice / len(spec.stages)
    assign = rnd.hint
    kept: list[tuple[cp_model.LinearExpr, float, float]] = []  # earlier priorities' objectives
    for si, weights in enumerate(spec.stages):
        scale, offset = set_objective(built, weights)
        complete = cp_hint(built, rnd.cand, assign, deterministic=ctx.deterministic)
        cp = params(ctx.cp, per_stage, ctx.workers, feasible_hint=complete)
        cb = Callback(ctx.progress, f"CP-SAT {'/'.join(weights)} (iteration {search.iteration})", scale, offset, ctx.t0)
        rnd.status = run(cp, built.model, cb)
        ctx.charge(cp.deterministic_time)
        if rnd.status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break
        assign = extract(cp, built, rnd.cand, prep.problem.n_units)
        rnd.assign = assign
        rnd.objectives = (
            *(cp.value(expr) / s + o for expr, s, o in kept),
            cp.objective_value / scale + offset,
        )
        rnd.bound = cp.best_objective_bound / scale + offset
        if si < len(spec.stages) - 1:
            proto = built.model.proto.objective
            expr = cp_model.LinearExpr.weighted_sum(
                [built.model.get_int_var_from_proto_index(i) for i in proto.vars], list(proto.coeffs)
            )
            built.model.add(expr <= int(np.floor(cp.objective_value + abs(cp.objective_value) * spec.slack)))
            built.model.clear_hints()
            kept.append((expr, scale, offset))
        if ctx.stopped:
            break


def settle(ctx: SolveContext, prep: Prepared, search: Search, rnd: Round) -> Next:
    """Take the round's plan when it improves on the incumbent (objectives compared
    lexicographically); without a plan yet, repair, prove, or say what was tried."""
    if rnd.status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        assert rnd.assign is not None
        found = Incumbent(
            assign=rnd.assign,
            centres=search.centres.copy(),
            objectives=rnd.objectives,
            bound=rnd.bound,
            status=int(rnd.status),
            cand=rnd.cand,
            exact=rnd.pruning_exact,
            iteration=search.iteration,
        )
        if found.improves(search.best):
            search.best = found
        search.start = rnd.assign
        return Next.SOLVED
    if search.best is None and (rnd.status == cp_model.INFEASIBLE or rnd.violation > 1e-9):
        return _without_plan(ctx, prep, search, rnd)
    if prep.free_centres and not search.final and search.best is not None and not ctx.stopped:
        # a location-allocation step or a kick whose restricted model has no plan (or
        # none within its slice): kick the best plan again, or, when time is short,
        # give the rest of it to the best plan's own model
        if ctx.left() > 0.3 * ctx.time_limit:
            search.kick(ctx, prep)
        else:
            search.final = True
            search.centres, search.start = search.best.centres, search.best.assign
        return Next.AGAIN
    if (
        rnd.status != cp_model.INFEASIBLE
        and search.best is None
        and rnd.violation <= 1e-9
        and prep.keeps_every_rule(rnd.hint)
    ):
        # the warm start keeps balance and capacity, and the audit passes it (a realignment's
        # start from today's books can inherit a split family, a piece or a broken budget:
        # no plan then, and the engine's last resorts take over)
        search.best = _unsolved(rnd.hint, search, rnd.cand, WARM_START)
    return Next.STOP


def _unsolved(assign: NDArray[np.int64], search: Search, cand: Candidates, method: str) -> Incumbent:
    """A plan CP-SAT did not produce (a warm start, the exact search's), as the incumbent."""
    return Incumbent(
        assign=assign,
        centres=search.centres.copy(),
        objectives=(),
        bound=None,
        status=int(cp_model.UNKNOWN),
        cand=cand,
        exact=cand.exact,
        iteration=search.iteration,
        method=method,
    )


def _without_plan(ctx: SolveContext, prep: Prepared, search: Search, rnd: Round) -> Next:
    """No plan yet. The model is narrower than the problem (pruning, the contiguity condition
    built around the warm start, chosen centres), so an infeasible or empty answer may be
    the restriction's fault: repair the start with an elastic solve (balance may stretch,
    the stretch is minimised) and try again; else prove it, or say what was tried."""
    search.infeasible_rounds += 1
    restricted = (not rnd.pruning_exact) or prep.spec.model.contiguity or prep.free_centres
    if restricted and search.infeasible_rounds < 4 and ctx.left() > 0.3 * ctx.time_limit:
        return _repair(ctx, prep, search, rnd)
    if rnd.status == cp_model.INFEASIBLE and restricted:
        # the restricted model's infeasibility is no fact about the scenario:
        # prove it on a relaxation of the real problem, or say what was tried
        raise_if_proved(ctx, prep.problem, prep.spec.model, search.centres, prep.exempt)
        exact = (
            None
            if search.exact_model_tried and ctx.left() < exact_flow.FALLBACK_AFTER
            else exact_flow.fallback(
                ctx, prep.problem, prep.spec, search.centres, search.exact_log, ctx.deadline, prep.movement
            )
        )
        if exact is None:
            exact = last_search(ctx, prep, search)
        if exact is None:
            raise _no_plan(ctx, prep, search)
        search.best = exact
        return Next.STOP
    if rnd.status == cp_model.INFEASIBLE:
        # the exact model (every pair, no contiguity, fixed homes) said so: claimed
        # only when proved again, with and without CP-SAT's presolve
        raise_if_proved(ctx, prep.problem, prep.spec.model, search.centres, prep.exempt, relaxed=False)
        raise _no_plan(ctx, prep, search)
    return Next.STOP


def last_search(ctx: SolveContext, prep: Prepared, search: Search) -> Incumbent | None:
    """Before giving up: the exact contiguity search from the closest plan found so far, on
    all the time left (a search uses its whole limit: US counties in 100 territories gave up
    with 43 of 120 s left, 0.07 % of a target outside a band). Its plan (checked by the
    audit like any other), or None. The time kept for the bound goes to it (no plan, no
    bound to compute; a plan found then gets what is left for its bound, 2 s at least).

    A search that stalls (``max_stall`` rounds without progress) before the limit starts
    again from the closest plan so far with the next seed (other trees, other moves) until
    the limit: in 110 territories the search stalled at 97.7 of 120 s, 0.93 % of a target
    outside a band. The restarts count as one search in "what was tried". In deterministic
    mode the search runs once (its counts bound it)."""
    ctx.reserve = 0.0
    if ctx.stopped or ctx.left() < 1.0:
        return None
    tried = [r for r in search.exact_log if r.assign is not None]
    start = min(tried, key=lambda r: r.violation).assign if tried else search.start
    if start is None:
        return None
    rounds, stall = ctx.search_counts()
    merged: SearchResult | None = None
    for attempt in itertools.count():
        clock, until = ctx.search_clock(lambda: ctx.deadline, prep.problem.n_units)
        found = balance_search(
            prep.problem,
            prep.spec.model,
            start,
            pos=seat_positions(prep.problem, search.centres),
            deadline=until,
            now=clock,
            seed=ctx.seed + 7 + attempt,
            anchors=search.centres,
            max_rounds=rounds,
            max_stall=stall,
            workers=ctx.workers,
            deterministic=ctx.deterministic,
        )
        merged = found if merged is None else merged.merged(found)
        ctx.report("exact contiguity search (last)", violation=found.violation, attempt=attempt)
        if found.pocket is not None or merged.violation <= EXACT_EPS:
            break
        if ctx.deterministic or ctx.stopped or ctx.left() < 1.0:
            break
        start = merged.assign
    assert merged is not None
    search.exact_log.append(merged)
    raise_if_pocket(ctx, prep.problem, prep.spec.model, search.centres, prep.exempt, merged)
    if merged.violation > EXACT_EPS or not prep.keeps_every_rule(merged.assign):
        # the search keeps the bands, caps and budget; a start whose locked units lie in
        # separate pieces (or that splits a family) can leave it a plan the audit fails
        return None
    cand = _plan_cand(prep, search.centres, merged.assign)
    return _unsolved(merged.assign, search, cand, EXACT_SEARCH)


def _repair(ctx: SolveContext, prep: Prepared, search: Search, rnd: Round) -> Next:
    """An elastic repair of the round's start; with chosen centres, re-seed the centres of
    under-filled seats into over-filled territories."""
    repaired = _elastic_repair(ctx, prep, rnd, search.iteration)
    if ctx.stopped:
        return Next.STOP
    search.start = repaired if repaired is not None else rnd.hint
    if prep.free_centres:
        problem = prep.problem
        moved = medoids(problem, search.start, search.centres, prep.weight, prep.exempt)
        search.centres = reseed(problem, search.start, moved, prep.values, prep.limits, prep.exempt)
        if repaired is None:
            search.start = None  # regrow from the new centres
    ctx.report("repair", iteration=search.iteration)
    return Next.AGAIN


def _elastic_repair(ctx: SolveContext, prep: Prepared, rnd: Round, iteration: int) -> NDArray[np.int64] | None:
    """The plan closest to balance (least stretch of bands, caps, budgets) from the hint."""
    problem = prep.problem
    elastic = build(problem, rnd.cand, prep.spec.model, rnd.contiguity, objective_terms={"travel"}, elastic=True)
    scale, offset = set_objective(elastic, {"elastic": 1000.0, "travel": 1.0})
    cp_hint(elastic, rnd.cand, rnd.hint, deterministic=ctx.deterministic)
    cp = params(ctx.cp, min(rnd.slice, 0.15 * ctx.time_limit), ctx.workers)
    status = run(
        cp,
        elastic.model,
        Callback(ctx.progress, f"CP-SAT balance repair (iteration {iteration})", scale, offset, ctx.t0),
    )
    ctx.charge(cp.deterministic_time)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return extract(cp, elastic, rnd.cand, problem.n_units)
    return None


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


def _no_plan(ctx: SolveContext, prep: Prepared, search: Search) -> SolverError:
    """The "no plan found" error of these rounds (:func:`~..proof.no_plan_error`)."""
    return no_plan_error(
        ctx,
        search.exact_log,
        search.infeasible_rounds,
        prep.movement,
        prep.spec.disruption_share,
        problem=prep.problem,
        model=prep.spec.model,
    )
