"""Re-optimise in the background: the engine runs in its own Python process (the page stays
responsive, and cancel stops it at once), reporting progress as JSON lines.

The child is started with ``python -m territory_opt.studio.reoptimise`` rather than
multiprocessing, so a script or notebook that opens the studio is never re-imported.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem
from ..scenario import Scenario


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, bool | int | str) or value is None:
            out[key] = value
        elif isinstance(value, float | np.floating):
            out[key] = float(value) if np.isfinite(value) else None
    return out


def _worker() -> None:
    """The child process: read (problem, scenario, time limit) from stdin, solve, and write
    JSON lines to stdout: ``{"progress": {...}}`` while solving, then ``{"done": {...}}`` or
    ``{"error": "..."}``."""
    from ..errors import TerritoryOptError
    from ..solve import solve

    def send(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    problem, scenario, time_limit = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our own parent process
    settings = scenario.solver.model_copy(update={"time_limit": time_limit})
    try:
        plan = solve(
            problem,
            balance=dict(scenario.balance),
            constraints=scenario.constraints,
            objective=scenario.objective,
            candidates=scenario.candidates,
            solver=settings,
            progress=lambda info: send({"progress": _jsonable(info)}),
            scenario=scenario.name,
        )
    except TerritoryOptError as exc:
        send({"error": f"{type(exc).__name__}: {exc}"})
        return
    except Exception as exc:  # noqa: BLE001 - the page shows any failure as text
        send({"error": f"{type(exc).__name__}: {exc}"})
        return
    summary = {
        "status": plan.status.value,
        "objective": plan.objective,
        "bound": plan.bound,
        "gap": plan.gap,
        "method": plan.method,
        "wall_time_s": round(plan.wall_time, 2),
        "audit_ok": all(f.ok for f in plan.findings),
        "audit": [str(f) for f in plan.findings if not f.ok],
    }
    send(
        {
            "done": {
                "seat_of": np.asarray(plan.seat_of).tolist(),
                "centres": np.asarray(plan.centres).tolist(),
                "summary": summary,
            }
        }
    )


@dataclass
class Worker:
    """A started engine process that has imported the engine and waits for its problem on
    stdin (a warm spare makes re-optimise start at once)."""

    process: subprocess.Popen[bytes]
    stderr: Any

    def close(self) -> None:
        """Stop an unused spare and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            if stream is not None:
                stream.close()


def spawn_worker() -> Worker:
    """Start ``python -m territory_opt.studio.reoptimise`` with this package on its path."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the child's lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "territory_opt.studio.reoptimise"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    return Worker(process, stderr)


class Job:
    """One re-optimise run.

    ``status()`` gives ``state`` (``running``, ``done``, ``error``, ``cancelled``), elapsed
    and limit [s], the engine's last progress report (stage, objective, bound, gap) and the
    error text.
    """

    def __init__(
        self,
        problem: Problem,
        scenario: Scenario,
        *,
        time_limit: float,
        start: tuple[NDArray[np.int64], NDArray[np.int64]],
        on_done: Callable[[Job], None],
        worker: Worker | None = None,
    ) -> None:
        self.problem = problem
        self.scenario = scenario
        self.time_limit = time_limit
        self.start_state = start
        self.on_done = on_done
        self.state = "starting"
        self.progress: dict[str, Any] = {}
        self.error: str | None = None
        self.result: dict[str, Any] | None = None
        self.started = 0.0
        self.ended: float | None = None
        self._worker = worker
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="territory-opt-reoptimise-watch")

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running")

    def start(self) -> None:
        worker = self._worker if self._worker is not None and self._worker.process.poll() is None else spawn_worker()
        self._process, self._stderr = worker.process, worker.stderr
        self.started = time.perf_counter()
        self.state = "running"
        assert self._process.stdin is not None
        self._process.stdin.write(pickle.dumps((self.problem, self.scenario, self.time_limit)))
        self._process.stdin.close()
        self._watcher.start()

    def _watch(self) -> None:
        try:
            self._read()
        finally:
            self._close()

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "progress" in message:
                self.progress = message["progress"]
                continue
            if self.state != "running":  # cancelled meanwhile
                return
            self.ended = time.perf_counter()
            if "done" in message:
                self.result = message["done"]
                self.on_done(self)  # the proposal exists before the state says done
                self.state = "done"
            else:
                self.error = str(message.get("error"))
                self.state = "error"
            return
        self._process.wait()
        if self.state == "running":
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            self.error = (
                f"the engine's process ended without a plan (exit code {self._process.returncode}): {' '.join(tail)}"
            )
            self.state = "error"
            self.ended = time.perf_counter()

    def _close(self) -> None:
        """Reap the child and close its pipes (it exits by itself after its last message)."""
        assert self._process is not None
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def cancel(self) -> None:
        """Stop the engine at once; no proposal comes from this job."""
        if not self.running:
            return
        self.state = "cancelled"
        self.ended = time.perf_counter()
        if self._process is not None:
            self._process.terminate()
        self._watcher.join(15)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (for scripts and tests); True when it did."""
        self._watcher.join(timeout)
        return not self.running

    def status(self) -> dict[str, Any]:
        end = self.ended if self.ended is not None else time.perf_counter()
        return {
            "state": self.state,
            "elapsed_s": round(end - self.started, 2) if self.started else 0.0,
            "time_limit_s": self.time_limit,
            "progress": self.progress,
            "error": self.error,
        }


if __name__ == "__main__":
    _worker()
