"""CP-SAT plumbing shared by the solve pipeline and the large-neighbourhood search."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from .candidates import Candidates
from .formulation import Built

Progress = Callable[[dict[str, Any]], None]

STATUS = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
    cp_model.UNKNOWN: "UNKNOWN",
}


class Callback(cp_model.CpSolverSolutionCallback):
    def __init__(self, progress: Progress | None, stage: str, scale: float, offset: float, t0: float) -> None:
        super().__init__()
        self.progress, self.stage, self.scale, self.offset, self.t0 = progress, stage, scale, offset, t0

    def on_solution_callback(self) -> None:
        if self.progress is None:
            return
        obj = self.objective_value / self.scale + self.offset
        bound = self.best_objective_bound / self.scale + self.offset
        gap = (obj - bound) / abs(obj) if obj else 0.0
        self.progress(
            {
                "stage": self.stage,
                "elapsed": time.perf_counter() - self.t0,
                "objective": obj,
                "bound": bound,
                "gap": max(gap, 0.0),
            }
        )


def set_objective(built: Built, terms: dict[str, float]) -> tuple[float, float]:
    """Weighted sum of the named terms; returns (scale, constant offset) of the integer objective."""
    coef_of: dict[int, float] = {}
    var_of: dict[int, cp_model.IntVar] = {}
    offset = 0.0
    for name, weight in terms.items():
        if name not in built.terms or weight == 0:
            continue
        vars_, coefs, const = built.terms[name]
        offset += weight * const
        for var, c in zip(vars_, coefs, strict=True):
            key = var.index
            var_of[key] = var
            coef_of[key] = coef_of.get(key, 0.0) + weight * c
    if not coef_of:
        built.model.minimize(0)
        return 1.0, offset
    biggest = max(abs(c) for c in coef_of.values())
    scale = 1e7 / biggest if biggest > 0 else 1.0
    keys = list(coef_of)
    ints = [round(coef_of[k] * scale) for k in keys]
    built.model.minimize(cp_model.LinearExpr.weighted_sum([var_of[k] for k in keys], ints))
    return scale, offset


@dataclass(frozen=True)
class CpSettings:
    """What a CP-SAT solve takes from the scenario (plain values: the model layer does not
    read the scenario's settings classes). ``deterministic``: one worker and a deterministic
    time limit, so the same model and seed give the same answer."""

    seed: int = 0
    deterministic: bool = False
    log: bool = False


def params(settings: CpSettings, time_limit: float, workers: int, *, feasible_hint: bool = False) -> cp_model.CpSolver:
    """A CP-SAT solver for ``time_limit`` [s] (deterministic seconds in deterministic mode)."""
    solver = cp_model.CpSolver()
    solver.parameters.catch_sigint_signal = False  # Ctrl-C is ours (see Interrupt)
    p = solver.parameters
    p.random_seed = settings.seed
    p.log_search_progress = settings.log
    if feasible_hint:
        # CP-SAT's presolve can turn a complete, feasible hint infeasible, after which no
        # solution may be found at all (OR-Tools issues #4373, #4693; seen with 9.15 on
        # the contiguity model): a plan we already hold must stay the first solution
        p.cp_model_presolve = False

    if settings.deterministic:
        p.num_workers = 1
        p.max_deterministic_time = max(time_limit, 0.5)
    else:
        p.num_workers = workers
        p.max_time_in_seconds = max(time_limit, 0.5)
    return solver


def hint(built: Built, cand: Candidates, assign: NDArray[np.int64], *, deterministic: bool = False) -> bool:
    """Hint the assignment and, when it fits the model, every other variable too.

    CP-SAT uses a hint far better when it is complete: the values of the slack, cut-edge
    and other auxiliary variables are found by solving a copy of the model with the
    assignment fixed (instant), then all of them are hinted. The completion is limited by
    deterministic time in deterministic mode (never by the wall clock).
    """
    chosen = np.zeros(len(cand), dtype=bool)
    idx = cand.index(np.arange(len(assign)), assign)
    chosen[idx[idx >= 0]] = True
    fixed = built.model.clone()
    fixed.clear_hints()
    fixed.clear_objective()
    for p, var in enumerate(built.x):
        fixed.add(fixed.get_bool_var_from_proto_index(var.index) == int(chosen[p]))
    completion = cp_model.CpSolver()
    completion.parameters.catch_sigint_signal = False
    if deterministic:
        completion.parameters.max_deterministic_time = 5.0
    else:
        completion.parameters.max_time_in_seconds = 5.0
    completion.parameters.num_workers = 1
    status = completion.solve(fixed)
    built.model.clear_hints()
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        values = completion.response_proto.solution
        for i in range(len(built.model.proto.variables)):
            built.model.add_hint(built.model.get_int_var_from_proto_index(i), int(values[i]))
        return True
    for p, var in enumerate(built.x):
        built.model.add_hint(var, bool(chosen[p]))
    return False


def extract(solver: cp_model.CpSolver, built: Built, cand: Candidates, n: int) -> NDArray[np.int64]:
    values = np.array([solver.boolean_value(v) for v in built.x], dtype=bool)
    assign = np.full(n, -1, dtype=np.int64)
    assign[cand.unit[values]] = cand.seat[values]
    return assign


class Interrupt:
    """Ctrl-C during a solve: the first one stops the running CP-SAT search and lets the
    pipeline finish with the best plan found so far; a second one aborts.

    CP-SAT runs in a worker thread while the main thread waits in Python, so the signal
    handler runs at once (a handler cannot run while the main thread is inside C++).
    """

    def __init__(self) -> None:
        self.requested = False
        self.at: float | None = None
        self.current: cp_model.CpSolver | None = None
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> Interrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.at = time.perf_counter()
        if self.current is not None:
            self.current.stop_search()


#: The interrupt watcher of the solve in progress (None outside :func:`territory_opt.solve`).
ACTIVE: list[Interrupt] = []


def run(
    solver: cp_model.CpSolver, model: cp_model.CpModel, callback: cp_model.CpSolverSolutionCallback | None = None
) -> Any:
    """``solver.solve(model, callback)``, interruptible by Ctrl-C (see :class:`Interrupt`)."""
    import threading

    watcher = ACTIVE[-1] if ACTIVE else None
    if watcher is None or threading.current_thread() is not threading.main_thread():
        return solver.solve(model, callback)
    if watcher.requested:
        solver.parameters.max_time_in_seconds = 0.0
    solver.parameters.catch_sigint_signal = False
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["status"] = solver.solve(model, callback)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="cp-sat", daemon=True)
    watcher.current = solver
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.05)
    finally:
        watcher.current = None
    if "error" in box:
        raise box["error"]
    return box["status"]
