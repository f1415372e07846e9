"""Chosen centres: location-allocation with iterated local search (p-median style).

Seats without a home base get centres (:mod:`..centres`). Each round (:mod:`.rounds`)
assigns units to the current centres; each centre then moves to the weighted medoid of its
territory and the model is solved again, until the centres stop moving. At such a local
optimum, with time to spare, the best plan's centres are kicked (a few moved or swapped)
and the descent starts again; the best plan is kept (objectives compared
lexicographically). The last solve gets the rest of the time on the best plan's centres.

On large maps whose start meets every band (:attr:`~..prepare.Prepared.searchable`), the
first round only finds a first plan; the centres are then searched on the transport
relaxation (:func:`~..prepare.searched_start`) and the rounds go on from there.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from ortools.sat.python import cp_model

from .. import beside
from ..centres import medoids
from ..context import SolveContext
from ..incumbent import Incumbent
from ..prepare import Prepared, searched_start
from .rounds import Next, Round, Search, run_round, settle

#: Location-allocation steps before a kick (or the last solve).
MAX_STEPS = 12
#: The centres are searched after the first plan only while this share of the limit is left.
SEARCH_LEFT = 0.5


def solve(ctx: SolveContext, prep: Prepared) -> tuple[Incumbent | None, Search]:
    """The best plan found (None when none) and the search that found it."""
    search = Search.begin(ctx, prep)
    pending = prep.searchable
    while True:
        rnd = run_round(ctx, prep, search)
        step = settle(ctx, prep, search, rnd)
        beside.maybe_start(ctx, prep, search.best)  # the bound beside the rounds left
        if step is Next.AGAIN:
            continue
        if step is Next.STOP or search.final or ctx.stopped:
            break
        if pending and search.best is not None:
            # a first plan is in hand: centres searched on the transport relaxation, and
            # location-allocation goes on from a start shipped to them (the first plan is
            # kept until a better one comes); not when the plan came late, and once only
            pending = False
            early = ctx.left() >= SEARCH_LEFT * ctx.time_limit
            searched = searched_start(ctx, replace(prep, centres=search.centres)) if early else None
            if searched is not None:
                search.centres, search.start, search.local_iter = searched.centres, searched.start, 0
                continue
        if not _move_centres(ctx, prep, search, rnd):
            break
    return search.best, search


def _move_centres(ctx: SolveContext, prep: Prepared, search: Search, rnd: Round) -> bool:
    """Move each centre to its territory's medoid, or kick the best plan at a local
    optimum; False when the search is done."""
    assert search.start is not None
    assert search.best is not None
    new_centres = medoids(prep.problem, search.start, search.centres, prep.weight, prep.exempt)
    converged = np.array_equal(new_centres, search.centres)
    spare = ctx.left() > 0.3 * ctx.time_limit
    if (converged or search.local_iter >= MAX_STEPS) and spare:
        # a local optimum of location-allocation with time to spare: kick the best plan's
        # centres and descend again (iterated local search); the best plan is kept
        search.kick(ctx, prep)
        ctx.report("centres kicked", iteration=search.iteration)
        return True
    if (
        converged
        and rnd.status == cp_model.OPTIMAL
        and (search.kicks == 0 or np.array_equal(search.centres, search.best.centres))
    ):
        return False
    if converged or search.local_iter >= MAX_STEPS or ctx.left() < 0.25 * ctx.time_limit:
        search.final = True
        if search.kicks:
            new_centres, search.start = search.best.centres, search.best.assign  # the last, long solve on the best plan
    search.centres = new_centres
    ctx.report("centres moved", iteration=search.iteration)
    return True
