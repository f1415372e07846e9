"""Finalise a solve: restrictions and status told honestly, bounds, the audit, the Plan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from .._version import __version__
from ..evaluate import evaluate
from ..metrics import territory_frame
from ..model import seat_positions
from ..plan import Plan, Status
from .beside import (
    CENTRES_BOUND_MAX_UNITS,
    CENTRES_BOUND_SHARE,
    STEP_SECONDS,
    plan_travel,
    travel_only,
    wanted_seconds,
)
from .bounds import (
    CENTRES_MIP_MAX_PAIRS,
    centres_mip_bound,
    centres_mip_size,
    chosen_centres_bound,
    lp_travel_bound,
    standing_travel,
    travel_mip_bound,
)
from .context import SolveContext
from .incumbent import EXACT_SEARCH, Incumbent
from .prepare import Prepared
from .spec import LEXICOGRAPHIC_BASE
from .strategies.exact_flow import exact_objective

#: Subgradient steps of the chosen-centres bound in deterministic mode (a count, so the
#: figure repeats): as many as its share of the limit pays for at :data:`STEP_SECONDS` x n²
#: a step (:func:`centres_bound_steps`), between the two counts; otherwise it runs for the
#: reserved share of the time limit. (A fixed 300 steps took 27 s after a 4 s solve of
#: 2,100 units.)
CENTRES_BOUND_ITERATIONS = 300
CENTRES_BOUND_MIN_ITERATIONS = 30
#: GLOP iterations of the travel LP bound in deterministic mode.
LP_BOUND_ITERATIONS = 200_000
#: Above this many pairs the travel LP bound is not attempted (lp_travel_bound's default).
LP_BOUND_MAX_PAIRS = 600_000
#: Up to this many (unit, seat) pairs the travel bound with home bases is also solved with
#: whole units (:func:`~.bounds.travel_mip_bound`, on the time left); in deterministic mode,
#: where its root has no clock, up to the smaller count (the demo's 1,272 pairs: 3 s here).
TRAVEL_MIP_MAX_PAIRS = 5_000
TRAVEL_MIP_DETERMINISTIC_PAIRS = 1_500
#: On a small map the chosen-centres MIP (:func:`~.bounds.centres_mip_bound`) gets up to this
#: share of the time left for the bound (the Lagrangian bound the rest, unless the MIP
#: closes). In deterministic mode either MIP stops after MIP_NODES branch-and-bound nodes,
#: and the chosen-centres one is built only up to the smaller count of triples (its root has
#: no clock: North Carolina's 10,000 took 5 s there, longer than the solve's own 4 s in the
#: tests).
CENTRES_MIP_SHARE = 0.85
MIP_NODES = 30
CENTRES_MIP_DETERMINISTIC_PAIRS = 2_500
#: Either MIP runs for at most this share of the time limit, so a solve that found its plan
#: early still ends early when the MIP does not close.
MIP_SHARE_OF_LIMIT = 0.3


@dataclass
class Outcome:
    """What a strategy hands to :func:`finalise`: the incumbent and how it was found."""

    best: Incumbent
    iterations: int = 0
    kicks: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Proof:
    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    global_bound: float | None
    global_gap: float | None


def finalise(ctx: SolveContext, prep: Prepared, outcome: Outcome, scenario: str) -> Plan:
    """The Plan: restrictions, status, bounds and gaps, the independent audit, metrics."""
    problem, spec, best = prep.problem, prep.spec, outcome.best
    notes = [*prep.notes, *outcome.notes]
    if best.exact_model:
        notes.append("solved by the exact model (every legal seat for every unit, contiguity by flows): no restriction")
    restrictions = _restrictions(prep, outcome)
    # the plan's table and objective terms from the one evaluator (the audit below keeps
    # its own path from the raw arrays)
    bands = replace(spec.model, exempt=prep.exempt, targets=None).bands(problem, hard=None, capacity=False)
    ev = evaluate(
        problem,
        best.assign,
        None,
        bands,
        weight=prep.weight,
        disruption_measure=spec.model.value(problem.n_units),
        positions=seat_positions(problem, best.centres),
    )
    table = territory_frame(problem, bands, ev)
    terms = ev.objective_terms
    evaluated = float(sum(terms.get(k, 0.0) * w for k, w in spec.stages[-1].items()))
    proof = _proof(ctx, prep, best, restrictions, evaluated)
    if best.status == cp_model.OPTIMAL and restrictions:
        notes.append("CP-SAT proved this plan optimal for the restricted model (see restrictions)")
    findings = prep.findings(best.assign)
    status = proof.status if all(f.ok for f in findings) else Status.UNKNOWN
    # a plan no solver produced (the last exact search's) is announced here, with its
    # evaluated objective: the first plan a progress callback sees
    shown = proof.objective if proof.objective is not None else evaluated
    ctx.report("done", objective=shown, bound=proof.bound, gap=proof.gap)
    return Plan(
        status=status,
        problem=problem,
        seat_of=_ro(best.assign),
        objective=float(proof.objective) if proof.objective is not None else evaluated,
        objective_terms=terms,
        bound=proof.bound,
        gap=proof.gap,
        bound_scope=_bound_scope(prep, restrictions),
        restrictions=tuple(restrictions),
        wall_time=time.perf_counter() - ctx.t0,
        method=_method(prep, best),
        seed=ctx.seed,
        deterministic=ctx.deterministic,
        settings=ctx.settings.model_dump(),
        findings=findings,
        _territories=table,
        centres=_ro(best.centres),
        exempt=_ro(prep.exempt),
        scenario=scenario,
        notes=(*notes, f"candidate pairs: {len(best.cand):,} kept, {best.cand.pruned:,} pruned"),
        versions={"territory_opt": __version__, "ortools": version("ortools")},
        global_bound=proof.global_bound,
        global_gap=proof.global_gap,
    )


def _restrictions(prep: Prepared, outcome: Outcome) -> list[str]:
    """What narrows the model as solved, in the planner's words."""
    problem, spec, best = prep.problem, prep.spec, outcome.best
    out = []
    if not best.exact and not best.exact_model:
        out.append(
            f"candidate pruning: each unit may go to its {spec.nearest} nearest seats (plus owner and lock); {best.cand.pruned:,} of {problem.n_units * problem.n_seats:,} pairs pruned"
        )
    if prep.large:
        out.append(
            "large-neighbourhood search: the plan is improved a few nearby territories at a time; the bound is the transport relaxation's (Lagrangian), not CP-SAT's"
        )
    if spec.model.contiguity and not best.exact_model:
        out.append(
            "contiguity by the descending-distance neighbour condition around each root (sufficient, not necessary)"
        )
    if prep.free_centres and not (best.exact_model and exact_objective(spec, free_centres=True) == "cut_edges"):
        kicks = f", {outcome.kicks} kick(s) of iterated local search" if outcome.kicks else ""
        out.append(
            f"centres of seats without a home chosen by location-allocation ({outcome.iterations} iteration(s){kicks}); the bound holds for the plan's centres"
        )
    if len(spec.stages) > 1 and prep.large:
        # the company-scale search solves one weighted sum: say so, not "slack"
        out.append(
            f"lexicographic priorities {list(spec.priorities)} approximated by one weighted sum, each priority weighted "
            f"{LEXICOGRAPHIC_BASE:g}× the next (the company-scale search has no staged solve, so no slack)"
        )
    elif len(spec.stages) > 1:
        out.append(
            f"lexicographic priorities {list(spec.priorities)} with {100 * spec.slack:g}% slack; bound and gap are those of the last priority"
        )
    return out


def _proof(ctx: SolveContext, prep: Prepared, best: Incumbent, restrictions: list[str], evaluated: float) -> _Proof:
    """Status, objective, bound and gap for the model as solved, and the bound and gap
    valid for the real problem when one is known. ``evaluated``: the plan's objective from
    the evaluator, which the bounds for the real problem use when no solver produced the
    plan (the exact contiguity search's plans: they have no restricted model's proof, but
    a bound for the real problem holds for them all the same)."""
    objective, bound = (best.objective, best.bound) if best.solved else (None, None)
    scored = objective if objective is not None else evaluated
    status = Status.OPTIMAL if best.status == cp_model.OPTIMAL and not restrictions else Status.FEASIBLE
    gap = None
    if objective is not None and bound is not None:
        gap = max(0.0, (objective - bound) / abs(objective)) if objective else 0.0
    global_bound = global_gap = None
    only_travel = travel_only(prep)
    if prep.large and prep.free_centres and only_travel:
        # company scale with chosen centres: the transport bound needs home bases
        global_bound, global_gap = _chosen_centres_global(ctx, prep, best, scored)
    elif prep.large or (best.exact_model and exact_objective(prep.spec, free_centres=prep.free_centres) is not None):
        global_bound, global_gap = bound, gap
        if best.exact_model and only_travel and best.status != cp_model.OPTIMAL and objective is not None:
            # the exact model's own bound is often weak before it closes: the LP over every
            # pair may hold more (the larger of the two holds)
            lp_bound = _global_travel_bound(ctx, prep, float(objective))[0]
            global_bound, global_gap = _larger(global_bound, lp_bound, objective=objective)
    elif only_travel and (restrictions or not best.solved) and not prep.free_centres:
        # the LP's bound, or the exact model's from the small-map polish when it holds more
        lp_bound = _global_travel_bound(ctx, prep, scored)[0]
        global_bound, global_gap = _larger(lp_bound, best.real_bound, objective=scored)
    elif only_travel and prep.free_centres:
        global_bound, global_gap = _chosen_centres_global(ctx, prep, best, scored)
    elif not restrictions and bound is not None:  # the model solved is the real problem
        global_bound, global_gap = bound, gap
    return _Proof(status, objective, bound, gap, global_bound, global_gap)


def _larger(*bounds: float | None, objective: float) -> tuple[float | None, float | None]:
    """(bound, gap) for the largest of bounds valid for the real problem (None: unknown),
    never above the plan's objective."""
    found = [x for x in bounds if x is not None]
    if not found:
        return None, None
    bound = min(max(found), float(objective))
    return bound, (max(0.0, (objective - bound) / abs(objective)) if objective else 0.0)


def _global_travel_bound(ctx: SolveContext, prep: Prepared, objective: float) -> tuple[float | None, float | None]:
    """(bound, gap) on travel valid for the real problem: the transport relaxation's
    Lagrangian bound (from the start) and, when time allows, the LP relaxation over every
    pair; the larger holds."""
    transport_bound = prep.transport_bound
    found = [transport_bound] if transport_bound is not None else []
    if ctx.deterministic:
        lp_time = min(30.0, max(5.0, ctx.time_limit / 2)) if transport_bound is None else min(30.0, ctx.left())
    else:  # what is left of the limit (the search kept it: reserve_for_bound), 2 s at least
        left = ctx.t0 + ctx.time_limit - time.perf_counter()
        lp_time = min(30.0, max(2.0, left)) if transport_bound is None else min(30.0, left)
    if lp_time >= 2.0:
        lp_bound = lp_travel_bound(
            prep.problem,
            prep.spec.model,
            prep.exempt,
            # deterministic mode: GLOP's iteration count, never the clock, so the figure repeats
            time_limit=None if ctx.deterministic else lp_time,
            max_iterations=LP_BOUND_ITERATIONS if ctx.deterministic else None,
            max_pairs=LP_BOUND_MAX_PAIRS,
        )
        if lp_bound is not None:
            found.append(lp_bound)
    pairs = prep.problem.n_units * prep.problem.n_seats
    left = ctx.t0 + ctx.time_limit - time.perf_counter()
    limit = TRAVEL_MIP_DETERMINISTIC_PAIRS if ctx.deterministic else TRAVEL_MIP_MAX_PAIRS
    if pairs <= limit and (ctx.deterministic or left >= 1.0):
        # a small map: whole units (HiGHS's MIP), never below the LP (the larger holds)
        mip_bound = travel_mip_bound(
            prep.problem,
            prep.spec.model,
            prep.exempt,
            time_limit=None if ctx.deterministic else min(left, max(1.0, MIP_SHARE_OF_LIMIT * ctx.time_limit)),
            node_limit=MIP_NODES if ctx.deterministic else None,
            max_pairs=limit,
        )
        if mip_bound is not None:
            found.append(mip_bound)
    return _larger(*found, objective=objective)


def reserve_for_bound(ctx: SolveContext, prep: Prepared) -> float:
    """Wall time to keep at the end of the limit for the bound valid for the real problem
    [s], so that the solve ends at its limit: with home bases and no transport bound, the
    travel LP over every pair (about 4e-5 s per pair here, 10 % of the limit at most); with
    chosen centres the Lagrangian bound (15 % of the limit at most, a minute at most). None
    in deterministic mode, where the bounds stop on counts."""
    if ctx.deterministic or (prep.large and not prep.free_centres) or not travel_only(prep):
        return 0.0
    if not prep.free_centres:
        pairs = prep.problem.n_units * prep.problem.n_seats
        restricted = prep.spec.model.contiguity or prep.spec.nearest < prep.problem.n_seats
        if prep.transport_bound is not None or pairs > LP_BOUND_MAX_PAIRS or not restricted:
            return 0.0
        return min(30.0, 0.1 * ctx.time_limit, max(1.0, pairs * 4e-5))
    n = prep.problem.n_units
    if n > CENTRES_BOUND_MAX_UNITS:
        return 0.0
    triples = centres_mip_size(prep.problem, prep.spec.model, prep.exempt)
    if triples <= CENTRES_MIP_MAX_PAIRS:  # the MIP: about 5 s for 10,000 triples here
        return min(60.0, 2 * CENTRES_BOUND_SHARE * ctx.time_limit, max(1.0, triples * 6e-4))
    # keep room for a few hundred steps, never more than the share (small maps need a second)
    return min(60.0, CENTRES_BOUND_SHARE * ctx.time_limit, max(1.0, wanted_seconds(n)))


def centres_bound_steps(n_units: int, time_limit: float) -> int:
    """The chosen-centres bound's subgradient steps in deterministic mode: what its share of
    the limit pays for (``CENTRES_BOUND_SHARE`` x ``time_limit`` at ``STEP_SECONDS`` x n² a
    step), within ``CENTRES_BOUND_MIN_ITERATIONS`` .. ``CENTRES_BOUND_ITERATIONS``."""
    paid = CENTRES_BOUND_SHARE * time_limit / max(STEP_SECONDS * n_units * n_units, 1e-9)
    return int(min(max(paid, CENTRES_BOUND_MIN_ITERATIONS), CENTRES_BOUND_ITERATIONS))


def _chosen_centres_global(
    ctx: SolveContext, prep: Prepared, best: Incumbent, objective: float
) -> tuple[float | None, float | None]:
    """(bound, gap) on travel valid for the real problem when seats choose their centres:
    the Lagrangian bound of the capacitated p-median with balance, its multipliers started
    at each unit's travel in the plan."""
    problem = prep.problem
    t0 = time.perf_counter()
    # the standing territories' travel is fixed (their units are locked): the bounds below
    # cover the other units, and this is added to them
    fixed = standing_travel(problem, prep.spec.model, prep.exempt)
    if ctx.beside is not None:  # the Lagrangian ran beside the search: its figure (it ends now)
        beside_bound = ctx.beside.result(ctx)
        ctx.report("bound", seconds=time.perf_counter() - t0)
        if beside_bound is not None:
            return _larger(beside_bound + fixed, objective=objective)
    start = plan_travel(prep, best)

    def left() -> float:
        return ctx.t0 + ctx.time_limit - time.perf_counter()

    # a small map: the MIP without contiguity, which cannot split a unit (often closes)
    mip = (
        None
        if not ctx.deterministic and left() < 1.0
        else centres_mip_bound(
            problem,
            prep.spec.model,
            prep.exempt,
            time_limit=None
            if ctx.deterministic
            else max(1.0, min(CENTRES_MIP_SHARE * left(), MIP_SHARE_OF_LIMIT * ctx.time_limit)),
            node_limit=MIP_NODES if ctx.deterministic else None,
            max_pairs=CENTRES_MIP_DETERMINISTIC_PAIRS if ctx.deterministic else CENTRES_MIP_MAX_PAIRS,
        )
    )
    if mip is not None:
        mip += fixed
    if mip is not None and mip >= objective * (1 - 1e-4):
        ctx.report("bound", seconds=time.perf_counter() - t0)
        return _larger(mip, objective=objective)
    found = chosen_centres_bound(
        problem,
        prep.spec.model,
        prep.exempt,
        start=start,
        upper=objective - fixed,
        iterations=centres_bound_steps(problem.n_units, ctx.time_limit) if ctx.deterministic else 100_000,
        time_limit=None if ctx.deterministic else max(2.0, left()),
        max_units=CENTRES_BOUND_MAX_UNITS,
    )
    ctx.report("bound", seconds=time.perf_counter() - t0)
    return _larger(None if found is None else found + fixed, mip, objective=objective)


def _bound_scope(prep: Prepared, restrictions: list[str]) -> str:
    if prep.large:
        return "the unrestricted problem (Lagrangian bound of the transport relaxation)"
    return "the model as solved (with the restrictions listed)" if restrictions else "the exact problem"


def _method(prep: Prepared, best: Incumbent) -> str:
    if not best.solved and best.method == EXACT_SEARCH:
        return "exact contiguity search, on the time left after the restricted model found no plan"
    if not best.solved:
        return "warm start only (CP-SAT found nothing better in time)"
    if prep.large:
        return "transport (min-cost flow) start + CP-SAT large-neighbourhood search"
    exact = " + exact model (contiguity by flows)" if best.exact_model else ""
    return "warm start + CP-SAT" + (" + location-allocation" if prep.free_centres else "") + exact


def _ro(array: NDArray[Any]) -> NDArray[Any]:
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out
