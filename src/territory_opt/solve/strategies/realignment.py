"""Realignment: a disruption budget against today's territories.

A budget on how much may move is checked before any search: an LP over the reps' books
(:func:`~territory_opt.solve.bounds.required_movement`) proves the least share any plan must
move; a budget below it is refused with that figure and with what the best plan found
without the budget moves. Within the budget the exact contiguity search
(:mod:`~territory_opt.solve.contiguous`) starts from today's owners, so the plan it returns
already keeps the budget, and the restricted CP-SAT model then improves it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

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
    return _search(
        ctx,
        problem,
        spec,
        start,
        centres,
        until,
        clock,
        attempt,
        ctx.workers,
        attempt == 1 and needs_corridors(spec, movement),
    )


def _search(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    start: NDArray[np.int64],
    centres: NDArray[np.int64],
    until: float,
    clock: Callable[[], float],
    attempt: int,
    workers: int,
    corridors: bool,
    budget_missed: threading.Event | None = None,
) -> SearchResult:
    """The exact contiguity search from ``start`` until ``until`` on ``clock``
    (``budget_missed``: set once a realignment's search has balanced the map with the
    budget set aside and missed the budget on its way back)."""
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
        workers=workers,
        deterministic=ctx.deterministic,
        corridors=corridors,
        budget_missed=budget_missed,
    )


#: Wall-clock mode, a small map under a budget (where the cut model applies): the share of
#: the time left that the exact search and the cut model get together, running at once.
TOGETHER_SHARE = 0.7
#: ... and the share by which the cut model's solve in flight at the end of that window may
#: finish, beside the step that follows the search (:func:`search_and_decide`'s ``then``).
FINISH_SHARE = 0.9


def search_and_decide(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    start: NDArray[np.int64],
    centres: NDArray[np.int64],
    deadline: float,
    movement: MovementBound | None = None,
    then: Callable[[SearchResult, threading.Event, int], SearchResult] | None = None,
) -> tuple[SearchResult, exact_cuts.CutResult]:
    """Wall-clock mode on a small map under a budget: the exact search from ``start`` and
    the cut model (:func:`.exact_cuts.decide`) at once, half the workers each, on
    :data:`TOGETHER_SHARE` of the time left before ``deadline``. The first to decide stops
    the other: a plan of the search stops the cut model, a plan or a proof of the cut model
    stops the search.

    Run one after the other, each had only its share of the time: on Tennessee's counties
    (8 reps, 10 %, a roster the bench never used) the search needs about 23 s for its plan,
    while on Ohio (the bench's row) the cut model needs about 10 s for its proof, both
    within 30 s.

    A search without a plan hands its result to ``then(found, decided, workers)`` (the
    caller's next step, on the search's workers, ending early once ``decided`` is set),
    while the cut model's solve in flight finishes, by :data:`FINISH_SHARE` of the time
    left at most: cut off at the end of the window, that solve was lost, and most often it
    was the one that decided. On Ohio (the bench's row, 8 reps, 10 %) the proof's last solve
    takes about 8 s of the 25 s the cut model needs on one worker (2.9 s to prove the
    relaxation infeasible, 5.5 s more to confirm it without presolve); the window ends at
    21 s, so on a slower day the proof was cut off and the step after the search, which
    cannot prove, had the rest (3 runs of 3 by hand without a proof, 2026-12-02; 4 of 4
    proved with the solve finishing)."""
    left = max(0.0, deadline - ctx.now())
    until = ctx.now() + TOGETHER_SHARE * left
    finish_by = ctx.now() + FINISH_SHARE * left
    cut_workers = max(1, ctx.workers // 2)
    search_workers = max(1, ctx.workers - cut_workers)
    stop = exact_flow.Stop()
    decided = threading.Event()
    box: dict[str, Any] = {}

    def decide() -> None:
        try:
            out = exact_cuts.decide(ctx, problem, spec, until, stop=stop, workers=cut_workers, finish_by=finish_by)
            box["cut"] = out
            if out.status != "unknown":
                decided.set()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
            decided.set()

    thread = threading.Thread(target=decide, name="cut-model", daemon=True)
    thread.start()
    try:
        found = _restarted(
            ctx,
            lambda attempt, clock, missed: _search(
                ctx,
                problem,
                spec,
                start,
                centres,
                until,
                clock,
                attempt,
                search_workers,
                needs_corridors(spec, movement),
                missed,
            ),
            until,
            decided,
        )
        if then is not None and not _settled(found, ctx) and not decided.is_set():
            found = then(found, decided, search_workers)
        if _settled(found, ctx):
            stop.set()  # a plan, or a proof of the search's own: the cut model's answer is moot
        stop.wait(thread, lambda: ctx.stopped)
    except BaseException:
        stop.set()
        stop.wait(thread)
        raise
    if "error" in box:
        raise box["error"]
    return found, box.get("cut", exact_cuts.CutResult("unknown"))


def _settled(found: SearchResult, ctx: SolveContext) -> bool:
    """The search has a plan, or a proof of its own, or the solve was stopped."""
    return found.violation <= EXACT_EPS or found.pocket is not None or ctx.stopped


#: Beside the cut model, a search without a plan after its share of the window starts again
#: from the same start with another seed, at most this many times; each try but the last
#: gets :data:`RESTART_SHARE` of the window left, and none starts with less than
#: :data:`RESTART_MIN` seconds.
RESTARTS = 2
RESTART_SHARE = 0.5
RESTART_MIN = 1.0


def _restarted(
    ctx: SolveContext,
    search: Callable[[int, Callable[[], float], threading.Event], SearchResult],
    until: float,
    decided: threading.Event,
) -> SearchResult:
    """``search(attempt, clock, budget_missed)`` from the same start with fresh seeds until it
    finds a plan (or a pocket proof), the cut model decides, or ``until``; the runs merged.

    Each run's deadline is ``until`` on ``clock``, which jumps past it when the cut model
    decides, or when the run has balanced the map with the budget set aside and missed the
    budget on its way back (the search sets ``budget_missed``) and its share of the window
    (:data:`RESTART_SHARE` of what is left) is spent: that way back is most often stuck,
    not slow. On the realignment demo (Georgia, 8 reps, a 45 % budget and 80 % of any one
    rep's book) 24 of 30 seeds of the search found a plan within 1.7 s (one in 4.3 s), and
    the other six were still outside after 6 s, and after 14 s in the engine (2026-12-02).
    A run that has not balanced the map keeps the whole window: that balancing is slow, not
    stuck (Florida's counties, 16 reps, a 10 % budget: from the same start six seeds of ten
    balanced in 3-11 s, four not in 12 s). Measured there (solver seeds 0-7, 30 s,
    2026-12-02): runs cut at half the window whatever their miss ended 3 solves of 8 with a
    plan that meets every band (moving 11.2, 28.1 and 31.1 %), this rule 3 (11.1, 11.3 and
    18.0 %), one long run 4 and a plan within the budget in 1 of 8; the demo keeps its plan
    on every seed (24 of 24, 7.0 s on average; 36 of 40 with no restarts, 37 of 40 with one
    at 70 % of the window)."""
    found: SearchResult | None = None
    for k in range(RESTARTS + 1):
        left = until - ctx.now()
        last = k == RESTARTS or left * (1 - RESTART_SHARE) < RESTART_MIN
        cut = ctx.now() + RESTART_SHARE * left
        missed = threading.Event()

        def clock(cut: float = cut, missed: threading.Event = missed, last: bool = last) -> float:
            if decided.is_set() or ctx.stopped:
                return until + 1e9
            t = ctx.now()
            return until + 1e9 if not last and missed.is_set() and t >= cut else t

        run = search(1 + 100 * k, clock, missed)
        found = run if found is None else found.merged(run)
        if last or found.violation <= EXACT_EPS or found.pocket is not None or ctx.stopped or decided.is_set():
            break
        if ctx.now() >= until:
            break  # a run that had not balanced the map kept the whole window
        ctx.report("exact contiguity search, restarted", violation=found.violation, attempt=k + 1)
    assert found is not None
    return found


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
