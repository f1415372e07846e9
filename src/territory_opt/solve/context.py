"""What every strategy of a solve shares: the clock and budget, the interrupt, progress, seed.

The clock is the wall clock, or in deterministic mode CP-SAT's deterministic time plus fixed
charges for the Python work (kicks, exact searches), so that the pipeline's own decisions
(time slices, when to stop moving centres, how many windows) never read the wall clock and
the same inputs and seed give the same plan.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..model.cpsat import CpSettings, Interrupt, Progress
from ..scenario import SolverSettings


@dataclass
class SolveContext:
    """Clock, budget, interrupt, progress and seed of one solve (mutable: the clock runs)."""

    settings: SolverSettings
    progress: Progress | None = None
    interrupt: Interrupt = field(default_factory=Interrupt)
    #: wall-clock start [s, ``time.perf_counter``]
    t0: float = field(default_factory=time.perf_counter)
    #: deterministic time charged so far [deterministic s] (deterministic mode's clock)
    used: float = 0.0
    #: wall time kept at the end of the limit for work after the search (a bound) [s]
    reserve: float = 0.0

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
            self.progress({"stage": stage, "elapsed": self.elapsed(), **extra})

    @property
    def stopped(self) -> bool:
        """Ctrl-C was pressed: finish with the best plan so far."""
        return self.interrupt.requested

    def search_clock(self, until: Callable[[], float]) -> tuple[Callable[[], float], float]:
        """(clock, deadline) of an exact search: this clock and ``until()``, or in
        deterministic mode a clock that never moves (the search stops by its counts)."""
        if self.settings.deterministic:
            return (lambda: 0.0), 1.0
        return self.now, float(until())

    def search_counts(self) -> tuple[int, int]:
        """(rounds, stalled rounds) of the exact search: counts bound it in deterministic
        mode, few enough that a short time limit stays short."""
        return (12, 4) if self.settings.deterministic else (200, 25)
