"""Realignment: a disruption budget against today's territories.

A budget on how much may move is checked before any search: an LP over the reps' books
(:func:`~territory_opt.solve.bounds.required_movement`) proves the least share any plan must
move; a budget below it is refused with that figure and with what the best plan found
without the budget moves. Within the budget the exact contiguity search
(:mod:`~territory_opt.solve.contiguous`) starts from today's owners, so the plan it returns
already keeps the budget, and the restricted CP-SAT model then improves it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ...diagnose import Conflict
from ...model import seat_positions
from ...problem import Problem
from ..bounds import MovementBound, required_movement
from ..context import SolveContext
from ..contiguous import EPS as EXACT_EPS
from ..contiguous import SearchResult, balance_search
from ..spec import SolveSpec
from . import exact_cuts, exact_flow


def budget_check(
    ctx: SolveContext, problem: Problem, spec: SolveSpec, conflicts: list[Conflict]
) -> tuple[list[Conflict], MovementBound | None]:
    """The pre-checks' conflicts with the budget proved against the least movement (which
    replaces the one-sided check of reps above their band), and that least movement."""
    if spec.disruption_measure is None:
        return conflicts, None
    movement = required_movement(problem, spec.model, spec.disruption_measure)
    dmax = spec.model.disruption_max
    if movement is not None and dmax is not None and movement.must_move > dmax * (1 + 1e-9) + 1e-9:
        # proved for the real problem (an LP over the reps' books): replaces the one-sided check
        conflicts = [c for c in conflicts if not (c.family == "disruption" and "above their balance band" in c.message)]
        conflicts.append(budget_conflict(ctx, problem, spec, movement))
    return conflicts, movement


def budget_conflict(ctx: SolveContext, problem: Problem, spec: SolveSpec, movement: MovementBound) -> Conflict:
    """The budget cannot be met: the proved minimum, and what the best plan found without
    the budget moves (the exact search from today's territories, a quarter of the time)."""
    found = ""
    model = spec.model
    rounds, stall = ctx.search_counts()
    clock, deadline = ctx.search_clock(lambda: ctx.now() + 0.25 * ctx.time_limit, problem.n_units)
    result = balance_search(
        problem,
        replace(model, disruption_max=None),
        problem.owner,
        deadline=deadline,
        now=clock,
        seed=ctx.seed,
        contiguity=model.contiguity,
        max_rounds=rounds,
        max_stall=stall,
        workers=ctx.workers,
        deterministic=ctx.deterministic,
    )
    if result.violation <= EXACT_EPS and model.disruption_value is not None:
        moved = float(model.disruption_value[problem.reassigned(result.assign)].sum())
        found = f"; the best plan found moves {100 * moved / movement.booked:.1f}%"
    return Conflict(
        "disruption",
        f"{movement} but the budget is {100 * (spec.disruption_share or 0.0):g}%{found}: raise constraints.disruption.max_share to at least {100 * movement.share:.1f}%",
        movement.share,
    )


def exact_search(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    start: NDArray[np.int64],
    centres: NDArray[np.int64],
    deadline: float,
    attempt: int,
    movement: MovementBound | None = None,
) -> SearchResult:
    """The exact contiguity search (:mod:`..contiguous`) from ``start`` on up to half the
    time left before ``deadline``; a realignment's first search starts from today's owners,
    with transfers through corridors (:mod:`..corridors`) when ``movement`` estimates that
    moving value only across today's borders cannot keep the budget.

    A realignment's first search gets all the time when the map is too large for the exact
    model: it balances and then brings the value moved back within the budget
    (:func:`~territory_opt.solve.contiguous.balance_search`), and returns as soon as it has
    a plan, leaving the rest to CP-SAT; the restricted model's repairs that would follow a
    miss start far from today's books and never helped (with four fifths, a miss on the US
    counties ended 17 s before the limit). Measured on the US realignment (one run each,
    2026-11-28): all the time gave best balanced plans of 20.7 % and 20.8 % at 10 % and
    15 % (21.7 % and 25.8 % with four fifths and only the last step going on to the limit),
    travel 10.4 % and 5.8 % above the global bound at 25 % and 40 % (11.2 % and 17.8 %),
    40 % moving 29.0 % (34.3 %); the plans come later (95 s against 80 s at 25 %)."""
    share = 0.5 if attempt == 1 else 0.6
    if attempt == 1 and spec.realign and not exact_flow.fits(problem):
        share = 1.0
    elif attempt == 1 and exact_cuts.fits(problem, spec):
        # a small map under a budget: a miss goes to the cut model, which decides the budget
        share = 0.25
    clock, until = ctx.search_clock(lambda: ctx.now() + share * max(0.0, deadline - ctx.now()), problem.n_units)
    rounds, stall = ctx.search_counts()
    return balance_search(
        problem,
        spec.model,
        start,
        pos=seat_positions(problem, centres),
        deadline=until,
        now=clock,
        seed=ctx.seed + attempt,
        anchors=centres,
        max_rounds=rounds,
        max_stall=stall,
        workers=ctx.workers,
        deterministic=ctx.deterministic,
        corridors=attempt == 1 and needs_corridors(spec, movement),
    )


def needs_corridors(spec: SolveSpec, movement: MovementBound | None) -> bool:
    """Whether value moved only between territories that touch today would exceed the budget
    (the estimate of :func:`~territory_opt.solve.bounds.border_transfers`).

    Measured on the bench's US realignment (2026-11-29, one run with corridors at every
    budget): at 25 % the first plan came at 57 s (113 s without), but at 40 % no plan came
    (a plan moving 28.8 % without); so corridors start only where today's borders cannot
    keep the budget (there, at 15 %, one bench run of seven found a plan, none before)."""
    dmax = spec.model.disruption_max
    if movement is None or movement.across_borders is None or dmax is None:
        return False
    return movement.across_borders > dmax
