"""The chosen-centres bound beside the search: the Lagrangian runs in a thread while
location-allocation goes on, instead of in a share of the time kept at the end.

The Lagrangian bound of the capacitated p-median with balance
(:func:`~.bounds.chosen_centres_bound`) climbs slowly (US counties, 49 territories, alone
from a plan of 100.44: 94.4 after 40 s, 95.6 after 120 s, 95.7 after 280 s), while
location-allocation has mostly settled by a third of a long limit (within 0.1 % of its
final plan by 150 s of 300). Kept to its share at the end (15 % of the limit), the bound
said 5.76 % below the plan (one 300 s run, 2026-12-01); started in a thread at the first
plan after a quarter of the limit, it runs beside CP-SAT to the end: 5.33 % (a plan of
100.42, a bound of 95.07; started after 40 % instead, from a better plan but with less
time, 5.89 %). The plan did not suffer (100.41 without the thread). Its numpy work
releases the interpreter for most of its time.

Wall-clock mode only: in deterministic mode the bound runs after the search on counts, so
the figure repeats. Only where the Lagrangian is the bound (maps too big for the
chosen-centres MIP, small enough for its distance matrix).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..model import seat_positions
from .bounds import CENTRES_MIP_MAX_PAIRS, centres_mip_size, chosen_centres_bound
from .context import SolveContext
from .incumbent import Incumbent
from .prepare import Prepared

#: The bound starts beside the search at the first plan after this share of the limit
#: (earlier, it takes CPU from the rounds that still improve the plan most).
BESIDE_AFTER = 0.25
#: ... and only with at least this much of the limit left [s].
BESIDE_MIN_LEFT = 10.0
#: Wall time kept at the end once the bound runs beside [s]: it ends this long before the
#: limit, and the search that long before too, so the solve still ends at its limit.
BESIDE_RESERVE = 1.0
#: Above this many units the bound's distance matrix would not fit: no bound.
CENTRES_BOUND_MAX_UNITS = 6_000


def travel_only(prep: Prepared) -> bool:
    """The objective is travel alone (the bounds valid for the real problem bound travel)."""
    return [set(stage) for stage in prep.spec.stages] == [{"travel"}]


def plan_travel(prep: Prepared, best: Incumbent) -> NDArray[np.float64]:
    """Each unit's travel in ``best`` (to its seat's centre or home), in the objective's
    units: the bound's first multipliers."""
    problem = prep.problem
    pos = seat_positions(problem, best.centres)
    distance = np.linalg.norm(problem.unit_xy - pos[best.assign], axis=1)
    return prep.weight * distance / max(float(prep.weight.sum()), 1e-12)


def wanted(ctx: SolveContext, prep: Prepared) -> bool:
    """The chosen-centres Lagrangian is this solve's bound valid for the real problem, and
    the clock allows it to run beside the search."""
    return (
        not ctx.deterministic
        and prep.free_centres
        and not prep.large
        and travel_only(prep)
        and prep.problem.n_units <= CENTRES_BOUND_MAX_UNITS
        and centres_mip_size(prep.problem, prep.spec.model, prep.exempt) > CENTRES_MIP_MAX_PAIRS
    )


@dataclass
class BoundBeside:
    """The Lagrangian bound running in a thread (see the module docstring); :meth:`result`
    waits for it."""

    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)
    box: dict[str, object] = field(default_factory=dict)

    def result(self, ctx: SolveContext) -> float | None:
        """The bound without the standing territories' travel (None: no seat can be filled),
        once the thread ends: at the limit, or at once after Ctrl-C. The thread's error, if
        any, is raised here."""
        while self.thread.is_alive():
            if ctx.stopped:
                self.stop.set()
            self.thread.join(0.05)
        if "error" in self.box:
            raise self.box["error"]  # type: ignore[misc]
        found = self.box.get("bound")
        return None if found is None else float(found)  # type: ignore[arg-type]


def maybe_start(ctx: SolveContext, prep: Prepared, best: Incumbent | None) -> None:
    """Start the bound beside the search from ``best`` (its travel per unit as the first
    multipliers, its objective as the steps' target) when :func:`wanted`, once a quarter of
    the limit has passed; at most once per solve. The search then keeps only
    :data:`BESIDE_RESERVE` at the end (``ctx.reserve``)."""
    if best is None or ctx.beside is not None or ctx.stopped:
        return
    if ctx.elapsed() < BESIDE_AFTER * ctx.time_limit or not wanted(ctx, prep):
        return
    until = ctx.t0 + ctx.time_limit - BESIDE_RESERVE
    if until - time.perf_counter() < BESIDE_MIN_LEFT:
        return
    start = plan_travel(prep, best)
    standing = np.isin(prep.problem.lock, np.flatnonzero(prep.exempt))
    upper = float(start[~standing].sum())
    beside = BoundBeside(threading.Thread(target=lambda: None))

    def run() -> None:
        try:
            beside.box["bound"] = chosen_centres_bound(
                prep.problem,
                prep.spec.model,
                prep.exempt,
                start=start,
                upper=upper,
                iterations=100_000,
                time_limit=max(1.0, until - time.perf_counter()),
                max_units=CENTRES_BOUND_MAX_UNITS,
                stop=lambda: beside.stop.is_set() or ctx.stopped,
            )
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread (result)
            beside.box["error"] = exc

    beside.thread = threading.Thread(target=run, name="centres-bound", daemon=True)
    ctx.beside = beside
    ctx.reserve = BESIDE_RESERVE
    ctx.report("bound started beside the search")
    beside.thread.start()
