"""What every strategy of a solve shares: the clock and budget, the interrupt, progress, seed.

The clock is the wall clock, or in deterministic mode CP-SAT's deterministic time plus fixed
charges for the Python work (kicks, exact searches), so that the pipeline's own decisions
(time slices, when to stop moving centres, how many windows) never read the wall clock and
the same inputs and seed give the same plan.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..model.cpsat import CpSettings, Interrupt, Progress
from ..scenario import SolverSettings

#: Deterministic seconds a search's reading of its clock charges, per unit of the map: about
#: the wall time of a search step on this machine (2 ms on Georgia's 159 counties, 5-8 ms
#: on a 499-unit map of 17 seats).
SEARCH_TICK = 1.25e-5
#: In deterministic mode a search stops once it has charged this many times its share.
SEARCH_CAP = 2.0


@dataclass
class SolveContext:
    """Clock, budget, interrupt, progress and seed of one solve (mutable: the clock runs)."""

    settings: SolverSettings
    progress: Progress | None = None
    interrupt: Interrupt = field(default_factory=Interrupt)
    #: wall-clock start [s, ``time.perf_counter``]
    t0: float = field(default_factory=time.perf_counter)
    #: one report at a time (the cut model reports from its own thread, beside the search)
    report_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: deterministic time charged so far [deterministic s] (deterministic mode's clock)
    used: float = 0.0
    #: wall time kept at the end of the limit for work after the search (a bound) [s]
    reserve: float = 0.0
    #: the chosen-centres bound running beside the search (:class:`.beside.BoundBeside`)
    beside: Any = field(default=None, repr=False, compare=False)

    @property
    def deterministic(self) -> bool:
        return self.settings.deterministic

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def time_limit(self) -> float:
        """[s] (deterministic seconds in deterministic mode)."""
        return self.settings.time_limit

    @property
    def workers(self) -> int:
        return self.settings.workers or min(8, os.cpu_count() or 1)

    @property
    def deadline(self) -> float:
        """When the search must end, on :meth:`now`'s clock (the limit less the reserve)."""
        return self.t0 + self.settings.time_limit - self.reserve

    @property
    def cp(self) -> CpSettings:
        """The solver settings the model layer takes (plain values)."""
        return CpSettings(seed=self.settings.seed, deterministic=self.settings.deterministic, log=self.settings.log)

    def now(self) -> float:
        """The solve's clock: wall clock, or start + deterministic time charged."""
        return self.t0 + self.used if self.settings.deterministic else time.perf_counter()

    def left(self) -> float:
        """Time left before the deadline [s] on :meth:`now`'s clock."""
        return self.deadline - self.now()

    def charge(self, used: float) -> None:
        """Add deterministic time (a CP-SAT solve's, or a fixed charge for Python work)."""
        self.used += used

    def charge_share(self, share: float) -> None:
        """Deterministic mode only: charge a fixed share of the time limit for Python work
        that CP-SAT's clock does not see, so the number of such steps is bounded and repeatable."""
        if self.settings.deterministic:
            self.used += share * self.settings.time_limit

    def elapsed(self) -> float:
        """Wall time since the start [s] (for people; never for decisions)."""
        return time.perf_counter() - self.t0

    def report(self, stage: str, **extra: Any) -> None:
        if self.progress is not None:
            with self.report_lock:
                self.progress({"stage": stage, "elapsed": self.elapsed(), **extra})

    @property
    def stopped(self) -> bool:
        """Ctrl-C was pressed: finish with the best plan so far."""
        return self.interrupt.requested

    def search_clock(self, until: Callable[[], float], units: int) -> tuple[Callable[[], float], float]:
        """(clock, deadline) of an exact search on a map of ``units`` units: this clock and
        ``until()``.

        In deterministic mode the search stops by its counts (:meth:`search_counts`) on a
        clock that stands still, so every run stops on the same step; but each reading of
        it charges :data:`SEARCH_TICK` x ``units`` deterministic seconds (a search reads it
        once per step, and a step's work grows with the map), so its Python work counts
        against the limit, and once a search has charged :data:`SEARCH_CAP` times its
        share (``until()`` less now) the clock jumps past its deadline: the search stops
        where it is, its later phases (the relink of a budget) skipped. (A clock that never
        moved let medium maps run 29-60 s for limits of 4-10 s. A clock reading the share
        spent kept the search's own proportions but cut the shipped realignment demo's first
        search before its plan: 121.1 in 17 s against 112.7 in 7 s.)"""
        if self.settings.deterministic:
            tick = SEARCH_TICK * max(units, 1)
            allowed = SEARCH_CAP * max(0.0, float(until()) - self.now())
            spent = [0.0]

            def clock() -> float:
                self.used += tick
                spent[0] += tick
                return 0.0 if spent[0] <= allowed else 2.0

            return clock, 1.0
        return self.now, float(until())

    def search_counts(self) -> tuple[int, int]:
        """(rounds, stalled rounds) of the exact search: counts bound it in deterministic
        mode, few enough that a short time limit stays short."""
        return (12, 4) if self.settings.deterministic else (200, 25)
