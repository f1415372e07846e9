"""The solve: resolve → prepare → strategy → finalise.

1. **Resolve** (:mod:`.spec`): the scenario's settings become plain values, once.
2. **Prepare** (:mod:`.prepare`): oversized units stand alone, pre-checks (with a
   disruption budget proved against the least movement, :mod:`.strategies.realignment`),
   centres, and a start (tree bisection, or the connected transport plan).
3. **A strategy** (:mod:`.strategies`), each a small module that receives the context and
   the prepared problem and returns an :class:`~.incumbent.Incumbent`:

   * :mod:`~.strategies.fixed_homes`: every seat at its home; one restricted CP-SAT model
     (candidates, contiguity by the neighbour condition, warm start as a hint; objective
     terms weighted or lexicographic: solve, keep the first within ``slack``, re-solve),
     rebuilt around the plan while it pays;
   * :mod:`~.strategies.location_allocation`: seats without a home; the same model with
     centres moved to their territory's medoid and kicked (iterated local search);
   * :mod:`~.strategies.company_scale`: very large books; transport start, Lagrangian
     bound, windows re-optimised by CP-SAT;
   * the exact contiguity search (:mod:`.contiguous`) and, on small maps, the exact model
     (:mod:`~.strategies.exact_flow`) take over whenever the restricted model misses a band;
     on small maps the exact model also gets the time the restricted model left, hinted
     with its plan (:func:`~.strategies.exact_flow.polish`).
4. **Finalise** (:mod:`.finalise`): restrictions, status, bounds, the independent audit,
   metrics, the Plan.

Determinism: with ``solver.deterministic`` CP-SAT runs one worker with the fixed seed
and a deterministic time limit (``max_deterministic_time``) instead of a wall clock, and
every decision of the pipeline (time slices, local search, exact search, transport,
windows, hint completion) runs on deterministic time or counts (:class:`.context.SolveContext`),
so the same inputs and seed give the same plan (OR-Tools issues #1145, #4195, #2159
explain why multi-worker or wall-clock-limited runs are not repeatable).
"""

from __future__ import annotations

from ..errors import InfeasibleError, SolverError
from ..model.cpsat import ACTIVE, Interrupt, Progress
from ..plan import Plan
from ..problem import Problem
from ..scenario import Candidates as CandidateSettings
from ..scenario import Constraints, Measure, Objective, SolverSettings
from .centres import initial_centres, medoids
from .context import SolveContext
from .finalise import Outcome, finalise, reserve_for_bound
from .prepare import Prepared, prepare, with_setting
from .proof import no_plan_error
from .spec import resolve
from .strategies import company_scale, exact_flow, fixed_homes, location_allocation
from .strategies.rounds import last_search

__all__ = ["Progress", "initial_centres", "medoids", "solve"]


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
    ctx: SolveContext | None = None
    try:
        with watcher:
            ctx = SolveContext(solver or SolverSettings(), progress, watcher)
            spec = resolve(problem, balance, constraints, objective, candidates)
            prep = prepare(ctx, problem, spec)
            ctx.reserve = reserve_for_bound(ctx, prep)
            try:
                outcome = _run(ctx, prep)
            except (SolverError, InfeasibleError) as exc:
                err = with_setting(exc, prep.notes)
                err.exempt = prep.exempt.copy()  # for the over-budget plan, when there is one
                raise err from None
            return finalise(ctx, prep, outcome, scenario)
    finally:
        if ctx is not None and ctx.beside is not None:
            ctx.beside.close()  # a solve that ends by an error leaves no bound running
        ACTIVE.remove(watcher)


def _run(ctx: SolveContext, prep: Prepared) -> Outcome:
    """The strategy the prepared problem calls for, and the last resorts when it found no plan."""
    if prep.large:
        # company scale: transport start, Lagrangian bound, windows re-optimised by CP-SAT
        best, notes = company_scale.solve(ctx, prep.spec, prep)
        return Outcome(best, notes=[*notes, *_interrupted(ctx, found=True)])
    strategy = location_allocation if prep.free_centres else fixed_homes
    found, search = strategy.solve(ctx, prep)
    notes = _interrupted(ctx, found=found is not None)
    if found is None and not ctx.stopped:
        found = exact_flow.fallback(
            ctx, prep.problem, prep.spec, search.centres, search.exact_log, ctx.deadline, prep.movement
        )
    if found is None and not ctx.stopped:
        found = last_search(ctx, prep, search)
    if found is None:
        raise no_plan_error(
            ctx,
            search.exact_log,
            0,
            prep.movement,
            prep.spec.disruption_share,
            problem=prep.problem,
            model=prep.spec.model,
        )
    # a small map's restricted model may stop early with its own optimum: the exact model
    # gets the time left
    found = exact_flow.polish(ctx, prep, found)
    return Outcome(found, iterations=search.iteration, kicks=search.kicks, notes=notes)


def _interrupted(ctx: SolveContext, *, found: bool) -> list[str]:
    """The note on a Ctrl-C, or SolverError when it came before any plan."""
    if not ctx.stopped:
        return []
    if not found:
        msg = "interrupted (Ctrl-C) before any plan was found"
        raise SolverError(msg)
    at = ctx.interrupt.at - ctx.t0 if ctx.interrupt.at else 0.0
    return [f"interrupted (Ctrl-C) at {at:.1f} s: this is the best plan found until then"]
