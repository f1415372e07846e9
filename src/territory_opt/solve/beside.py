"""The chosen-centres bound beside the search: the Lagrangian runs in a thread while
location-allocation goes on, instead of in a share of the time kept at the end.

The Lagrangian bound of the capacitated p-median with balance
(:func:`~.bounds.chosen_centres_bound`) climbs slowly on a large map (US counties, 49
territories, alone from a plan of 100.44: 94.4 after 40 s, 95.6 after 120 s, 95.7 after
280 s), while location-allocation has mostly settled well before the end of a long limit
(within 0.1 % of its final plan by half of 300 s). Kept to its share at the end (15 % of
the limit, 45 s of 300), the bound was 5.76 % below the plan in a run by hand and 6.66 % in
the bench's; started in a thread at the first plan after a quarter of the limit and run
beside CP-SAT to the end, 5.33 % by hand (a plan of 100.42 against 100.41 without the
thread) and 5.67 % and 5.48 % in two bench runs (2026-12-01; started after 40 % instead,
from a better plan with less time, 5.89 %); with the screened full passes
(:func:`~.bounds._screened_pass`) 4.87 %, 4.76 % and 4.93 % in three bench runs and 4.91 %
by hand (a plan of 100.50-100.62, bounds 95.65-95.71); handing over to whole-unit steps at
half the time, 4.60 % and 4.67 % (plans of 100.36 and 100.44, bounds 95.74 and 95.75). While it runs, a pure-Python loop beside it
ran at about 60-65 % of its speed alone (a review's measurement), so the thread costs the
search some of its speed: it runs only where its steps need more time than their share
(:func:`wanted_seconds`), not on small maps, where the bound converges within its share
and the thread only slowed the search (Georgia in 8 territories, 60 s: a plan of 42.556
with the thread twice, 42.511 without, the same bound).

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
from .strategies.exact_flow import Stop

#: The chosen-centres bound's share of the time limit when it runs after the search.
CENTRES_BOUND_SHARE = 0.15
#: What a full subgradient step of the chosen-centres bound costs per unit squared [s]
#: (about 0.2 s at 3,108 counties here).
STEP_SECONDS = 2e-8
#: Steps the bound is given time for (:func:`wanted_seconds`).
WANTED_STEPS = 400
#: The bound starts beside the search at the first plan after this share of the limit
#: (earlier, it takes CPU from the rounds that still improve the plan most).
BESIDE_AFTER = 0.25
#: ... and only with at least this much of the limit left [s].
BESIDE_MIN_LEFT = 10.0
#: Wall time kept at the end once the bound runs beside [s]: the thread's steps stop this
#: long before the limit (its set-up included), and the search too.
BESIDE_RESERVE = 1.0
#: Above this many units the bound's distance matrix would not fit: no bound.
CENTRES_BOUND_MAX_UNITS = 6_000


def wanted_seconds(n_units: int) -> float:
    """The time :data:`WANTED_STEPS` full steps of the chosen-centres bound take on a map of
    ``n_units`` [s] (about 77 s on the US counties, 0.2 s on Georgia's)."""
    return WANTED_STEPS * n_units * n_units * STEP_SECONDS


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
    """The chosen-centres Lagrangian is this solve's bound valid for the real problem, its
    steps need more than its share of the limit, and the clock allows it to run beside the
    search."""
    n = prep.problem.n_units
    return (
        not ctx.deterministic
        and prep.free_centres
        and not prep.large
        and travel_only(prep)
        and n <= CENTRES_BOUND_MAX_UNITS
        and wanted_seconds(n) > CENTRES_BOUND_SHARE * ctx.time_limit
        and centres_mip_size(prep.problem, prep.spec.model, prep.exempt) > CENTRES_MIP_MAX_PAIRS
    )


@dataclass
class BoundBeside:
    """The Lagrangian bound running in a thread (see the module docstring); :meth:`result`
    waits for it."""

    stop: Stop = field(default_factory=Stop)
    box: dict[str, object] = field(default_factory=dict)
    thread: threading.Thread | None = None

    def result(self, ctx: SolveContext) -> float | None:
        """The bound without the standing territories' travel (None: no seat can be filled),
        once the thread ends: at the limit, or about a second after Ctrl-C. The thread's
        error, if any, is raised here (as the bound's own error was when it ran after the
        search)."""
        if self.thread is not None:
            self.stop.wait(self.thread, lambda: ctx.stopped)
        if "error" in self.box:
            raise self.box["error"]  # type: ignore[misc]
        found = self.box.get("bound")
        return None if found is None else float(found)  # type: ignore[arg-type]

    def close(self) -> None:
        """Stop the thread and wait for it (a few seconds at most)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5.0)


def maybe_start(ctx: SolveContext, prep: Prepared, best: Incumbent | None) -> None:
    """Start the bound beside the search from ``best`` (its travel per unit as the first
    multipliers, its travel outside the standing territories as the steps' target, as
    :func:`~.finalise._chosen_centres_global` does) when :func:`wanted`, once
    :data:`BESIDE_AFTER` of the limit has passed; at most once per solve. The search then
    keeps only :data:`BESIDE_RESERVE` at the end (``ctx.reserve``)."""
    if best is None or ctx.beside is not None or ctx.stopped:
        return
    if ctx.elapsed() < BESIDE_AFTER * ctx.time_limit or not wanted(ctx, prep):
        return
    until = ctx.t0 + ctx.time_limit - BESIDE_RESERVE
    if until - time.perf_counter() < BESIDE_MIN_LEFT:
        return
    start = plan_travel(prep, best)
    upper = float(start[~prep.standing].sum())
    beside = BoundBeside()

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
