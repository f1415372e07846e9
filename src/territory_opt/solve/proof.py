"""When the restricted model has no plan: a proof on a relaxation of the real problem, or
an honest "no plan found" that says what was tried (never a claim of infeasibility)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..audit import keeps_contiguity, keeps_unit_rules
from ..diagnose import Explanation, prove_infeasible
from ..errors import InfeasibleError, SolverError
from ..model import ModelSpec, build_candidates
from ..problem import Problem
from ._pairs import exempt_filter
from .bounds import MovementBound, books_moved, pct_up
from .context import SolveContext
from .contiguous import SearchResult

#: Past the time limit, the relaxation proof is tried only on this many unit-seat pairs or fewer.
SMALL_PROOF_PAIRS = 20_000

RELAXATION = "proved on a relaxation of your scenario: every legal seat for every unit, contiguity dropped"


def relaxation_proof(
    ctx: SolveContext, problem: Problem, spec: ModelSpec, centres: NDArray[np.int64], exempt: NDArray[np.bool_]
) -> Explanation | None:
    """:func:`~territory_opt.diagnose.prove_infeasible` over every legal pair (small cases)."""
    if problem.n_units * problem.n_seats > 2_000_000:
        return None
    full = build_candidates(problem, centres, nearest=problem.n_seats, radius_km=None)
    if not full.exact:
        return None
    full = exempt_filter(problem, full, exempt)
    # what is left of the limit, a quarter of it and 20 s at most; past the limit only a
    # small model is tried, for a second (building a large one alone takes seconds:
    # 4 s for the US counties at 50 reps)
    limit = min(20.0, max(2.0, ctx.time_limit / 4), ctx.left())
    if limit < 1.0:
        if problem.n_units * problem.n_seats > SMALL_PROOF_PAIRS:
            return None
        limit = 1.0
    return prove_infeasible(problem, spec, full, time_limit=limit, seed=ctx.seed, deterministic=ctx.deterministic)


def raise_if_proved(
    ctx: SolveContext,
    problem: Problem,
    spec: ModelSpec,
    centres: NDArray[np.int64],
    exempt: NDArray[np.bool_],
    *,
    relaxed: bool = True,
) -> None:
    """Raise :class:`InfeasibleError` when the relaxation is proved infeasible."""
    proof = relaxation_proof(ctx, problem, spec, centres, exempt)
    if proof is None:
        return
    where = f" ({RELAXATION})" if relaxed else ""
    msg = f"the scenario is infeasible{where}:\n{proof}"
    raise InfeasibleError(msg, proof)


def raise_if_pocket(
    ctx: SolveContext,
    problem: Problem,
    spec: ModelSpec,
    centres: NDArray[np.int64],
    exempt: NDArray[np.bool_],
    result: SearchResult,
) -> None:
    """Raise :class:`InfeasibleError` when the search proved that no plan exists (a corner
    of the map no connected grouping balances, :mod:`.pockets`).

    On a small map (at most :data:`SMALL_PROOF_PAIRS` unit-seat pairs) the relaxation
    without contiguity is tried first: when the bands fail even without it, that proof
    names the family at fault (balance, not contiguity) and says how far to relax."""
    if result.pocket is None:
        return
    if problem.n_units * problem.n_seats <= SMALL_PROOF_PAIRS:
        raise_if_proved(ctx, problem, spec, centres, exempt)
    explanation = Explanation((result.pocket,))
    raise InfeasibleError(f"the scenario is infeasible:\n{explanation}", explanation)


def no_plan_message(
    ctx: SolveContext,
    exact_log: list[SearchResult],
    repairs: int,
    movement: MovementBound | None = None,
    budget_share: float | None = None,
) -> str:
    """ "No plan found" with what was tried: never a claim that the scenario is infeasible.

    Under a disruption budget the searches missed, it also says how much must move at
    least (proved: the pre-check's bound or the exact model's) and how much the best plan
    found that meets every band moves, so the planner knows which budget works."""
    tried = ["the restricted CP-SAT model (nearest seats, contiguity by the neighbour condition)"]
    if repairs:
        tried.append(f"{repairs} elastic repair(s) of its start")
    for r in exact_log:
        if r.label != SearchResult.label:
            entry = (
                r.label
                if r.balanced_moved is None
                else f"{r.label} (its best plan meets every band and moves {100 * r.balanced_moved:.1f}%)"
            )
            if entry not in tried:  # a model given a second try is named once
                tried.append(entry)
            continue
        tried.append(
            f"{r.label} ({r.moves:,} boundary moves, {r.rounds} transfer round(s)"
            + (f", {r.corridors} corridor(s) through territories between" if r.corridors else "")
            + "), "
            f"closest plan {100 * r.violation:.2f} % of a target outside its rules (bands, budget, per-rep limits)"
        )
    budget = _budget_answer(exact_log, movement, budget_share)
    return (
        f"no plan found within the time limit ({ctx.time_limit:g} s); {budget}tried: " + "; ".join(tried) + ". "
        "This is not a proof that the scenario is infeasible (the pre-checks found no conflict): "
        "raise solver.time_limit, loosen a tolerance or raise candidates.nearest"
    )


def no_plan_error(
    ctx: SolveContext,
    exact_log: list[SearchResult],
    repairs: int,
    movement: MovementBound | None,
    budget_share: float | None,
    *,
    problem: Problem | None = None,
    model: ModelSpec | None = None,
) -> SolverError:
    """The "no plan found" error: :func:`no_plan_message`, carrying the best plan that meets
    every band but breaks the budget (:func:`over_budget_plan`); with ``problem`` and
    ``model``, the message also says when that plan breaks the per-rep limit too
    (:func:`rep_limit_note`), so that the advice it gives is complete."""
    if problem is not None and model is not None:
        exact_log = rule_keeping(exact_log, problem, model)
    over = over_budget_plan(exact_log)
    msg = no_plan_message(ctx, exact_log, repairs, movement, budget_share)
    note = (
        rep_limit_note(problem, model, over) if over is not None and problem is not None and model is not None else ""
    )
    if note:
        msg = f"{msg.rstrip('.')}.{note}"
    return SolverError(msg, over)


def rep_limit_note(problem: Problem, model: ModelSpec, assign: NDArray[np.int64]) -> str:
    """A sentence when ``assign`` moves more of some rep's book than the per-rep limit
    allows (the limit as a share, ``disruption_per_rep``, or given per seat,
    ``disruption_rep_limit``); empty otherwise."""
    value = model.disruption_value
    if value is None or (model.disruption_per_rep is None and model.disruption_rep_limit is None):
        return ""
    book, out = books_moved(problem, value, assign)
    if model.disruption_rep_limit is not None:
        limit = np.asarray(model.disruption_rep_limit, dtype=float)
    else:
        limit = float(model.disruption_per_rep or 0.0) * book
    over = out > limit * (1 + 1e-9) + 1e-9
    if not over.any():
        return ""
    share = np.divide(out, book, out=np.zeros_like(out), where=book > 0)
    worst = float(share[over].max())
    fix = (
        f" (raise constraints.disruption.per_rep_share to {pct_up(worst)} as well for a plan like it)"
        if model.disruption_rep_limit is None
        else ""
    )
    return (
        f" That plan breaks the per-rep limit for {int(over.sum())} rep(s), moving up to {100 * worst:.1f}% "
        f"of one rep's book{fix}."
    )


def keeps_all_but_budget(problem: Problem, model: ModelSpec, assign: NDArray[np.int64]) -> bool:
    """Whether a plan keeps the rules that a search from today's owners can inherit broken:
    locks, skills, exclusions and families, and contiguity when it is on (a start whose
    pieces no path could join; bands and the budget are the search's own figures); the
    audit's checks (:func:`~territory_opt.audit.keeps_unit_rules`,
    :func:`~territory_opt.audit.keeps_contiguity`)."""
    if not keeps_unit_rules(problem, assign, locks=model.locks, families=model.families):
        return False
    return not model.contiguity or keeps_contiguity(problem, assign)


def rule_keeping(exact_log: list[SearchResult], problem: Problem, model: ModelSpec) -> list[SearchResult]:
    """``exact_log`` with the balanced plans that break a lock, skill, exclusion or family
    dropped (a search from today's owners keeps what today's alignment breaks: such a plan
    is neither offered with an error nor quoted in its message)."""
    from dataclasses import replace

    return [
        r
        if r.balanced is None or keeps_all_but_budget(problem, model, r.balanced)
        else replace(r, balanced=None, balanced_moved=None)
        for r in exact_log
    ]


def over_budget_plan(exact_log: list[SearchResult]) -> NDArray[np.int64] | None:
    """The best plan the searches found that meets every band but breaks the budget (the
    one :func:`no_plan_message` names), or None. Callers pass the log through
    :func:`rule_keeping` first."""
    found = [r for r in exact_log if r.balanced is not None and r.balanced_moved is not None]
    if not found:
        return None
    best = min(found, key=lambda r: r.balanced_moved or 0.0).balanced
    return None if best is None else best.copy()


def _budget_answer(exact_log: list[SearchResult], movement: MovementBound | None, budget_share: float | None) -> str:
    """What a missed budget needs: the proved least share and the best plan's share."""
    found = [r.balanced_moved for r in exact_log if r.balanced_moved is not None]
    if budget_share is None or not found:
        return ""
    bounds = [(r.moved_bound, "") for r in exact_log if r.moved_bound is not None]
    if movement is not None:
        bounds.append((movement.share, f"{movement}, proved for any plan; "))
    least = ""
    floor = 0.0
    if bounds:
        floor, text = max(bounds, key=lambda b: b[0])
        least = (
            text
            or f"at least {100 * floor:.1f}% must move (proved for any plan by the exact model's bound, contiguity by flows); "
        )
    best = min(found)
    borders = f"{movement.borders_text(floor)}; " if movement is not None and movement.borders_text(floor) else ""
    planned = [r.corridor_plan for r in exact_log if r.corridor_plan is not None]
    if borders and planned:
        borders += (
            "with corridors (a territory reaching past its neighbour through a strip of the neighbour's "
            f"cheap units) about {100 * min(planned):.1f}% (the search's plan of transfers: an estimate too, not a bound); "
        )
    advice = (
        # within the budget: it breaks another rule (the per-rep limit, said after)
        "within the budget, but it breaks another rule of the scenario"
        if best <= budget_share * (1 + 1e-9)
        else f"raise constraints.disruption.max_share to {pct_up(best)} for a plan like it, or give the search more time"
    )
    return (
        f"no plan within the {100 * budget_share:g}% budget was found; {least}{borders}"
        f"the best plan found that meets every band moves {100 * best:.1f}% ({advice}); "
    )
