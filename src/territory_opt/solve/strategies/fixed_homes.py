"""Fixed homes, one model: every seat sits at its home base.

Rounds of :mod:`.rounds` (candidates, warm start, exact search when needed, CP-SAT). With
contiguity the condition is built around the plan the round starts from, so after a plan
is found it is rebuilt around that plan and solved again (a large-neighbourhood step),
while the objective still improves by more than 0.1 % and there is time for it.
"""

from __future__ import annotations

from ..context import SolveContext
from ..incumbent import Incumbent
from ..prepare import Prepared
from .rounds import Next, Search, run_round, settle


def solve(ctx: SolveContext, prep: Prepared) -> tuple[Incumbent | None, Search]:
    """The best plan found (None when none) and the search that found it."""
    search = Search.begin(ctx, prep)
    recentre = prep.spec.model.contiguity
    while True:
        rnd = run_round(ctx, prep, search)
        step = settle(ctx, prep, search, rnd)
        if step is Next.AGAIN:
            continue
        if step is Next.STOP:
            break
        if recentre and not search.final and not ctx.stopped and search.best is not None:
            # the condition is rebuilt around the new plan and solved again while it pays
            last, now = search.last_objective, search.best.objective
            gain = (last - now) / abs(last) if last and now is not None else 1.0
            search.last_objective = now
            if gain > 1e-3 or search.iteration == 1:
                ctx.report("contiguity condition rebuilt around the plan", iteration=search.iteration)
                continue
        break
    return search.best, search
