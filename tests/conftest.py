"""Small hand-checkable instances (six accounts on a line, a 3x3 grid) and shared helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from territory_opt import Problem

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run large cases")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="large case: use --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


#: mypy over the package (about 25 s, one core, with no cache as on CI) starts in the
#: background as soon as the tests are collected, on the core the suite mostly leaves idle;
#: test_quality.test_mypy_clean waits for its result
_BACKGROUND: dict[str, tuple[subprocess.Popen, Path]] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.name == "test_mypy_clean" for item in session.items):
        fd, path = tempfile.mkstemp(prefix="mypy-", suffix=".txt")
        with os.fdopen(fd, "w") as out:  # a file, not a pipe: a long report never blocks mypy
            proc = subprocess.Popen([sys.executable, "-m", "mypy"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _BACKGROUND["mypy"] = (proc, Path(path))


def background_result(name: str) -> tuple[int, str] | None:
    """(return code, output) of a check started at collection, or None if none was started."""
    if name not in _BACKGROUND:
        return None
    proc, path = _BACKGROUND.pop(name)
    code = proc.wait()
    text = path.read_text()
    path.unlink()
    return code, text


def pytest_sessionfinish(session: pytest.Session) -> None:
    for proc, path in _BACKGROUND.values():  # a run stopped early (-x, Ctrl-C): no stray mypy
        proc.kill()
        proc.wait()
        path.unlink(missing_ok=True)
    _BACKGROUND.clear()


@pytest.fixture
def line6() -> Problem:
    """Six unit accounts at x = 0..5 km on a line (a path graph), reps at x = 0 and x = 5."""
    return Problem.from_arrays(
        measures=np.ones((6, 1)),
        measure_names=["potential"],
        unit_xy=[[float(i), 0.0] for i in range(6)],
        seat_xy=[[0.0, 0.0], [5.0, 0.0]],
        edges=[[i, i + 1] for i in range(5)],
        seat_ids=["west", "east"],
    )


@pytest.fixture
def grid3() -> Problem:
    """A 3x3 grid of units 1 km apart (rook adjacency), potential 1 each; 3 seats, no homes."""
    xy = [[float(c), float(r)] for r in range(3) for c in range(3)]
    edges = []
    for r in range(3):
        for c in range(3):
            i = 3 * r + c
            if c < 2:
                edges.append([i, i + 1])
            if r < 2:
                edges.append([i, i + 3])
    return Problem.from_arrays(
        measures=np.ones((9, 1)), measure_names=["potential"], unit_xy=xy, n_seats=3, edges=edges
    )


#: Proven optima (sum of distances) of :func:`capacitated_pmedian`, by seed: computed by an
#: exact CP-SAT model over every unit-centre pair (x[i, j], y[j] = x[j, j]), OPTIMAL status.
CAPACITATED_OPTIMA = [(0, 438.04), (1, 388.69), (2, 385.56), (3, 410.90)]


def capacitated_pmedian(seed: int, n: int = 24, p: int = 4) -> tuple[Problem, float]:
    """A capacitated p-median case: ``n`` units with demand 1-19 scattered on 100 x 100 km,
    ``p`` seats without homes; returns the problem and the cap (15 % above the mean load)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    w = rng.integers(1, 20, n).astype(float)
    cap = float(np.ceil(w.sum() / p * 1.15))
    return Problem.from_arrays(measures=w[:, None], measure_names=["demand"], unit_xy=xy, n_seats=p), cap


def accounts_scenario(accounts: str = "accounts.csv", **extra: object) -> dict:
    """A scenario mapping tests/data CRM-style files (their own column names)."""
    raw = {
        "name": "test",
        "data": {
            "accounts": {
                "path": str(DATA / accounts),
                "columns": {
                    "id": "Account ID",
                    "name": "Account Name",
                    "lat": "Latitude",
                    "lon": "Longitude",
                    "potential": "Annual Potential",
                    "workload": "Workload Hours",
                    "owner": "Owner",
                    "lock": "Lock",
                    "skills": "Skills",
                    "family": "Parent",
                },
            },
            "reps": {
                "path": str(DATA / "reps.csv"),
                "columns": {
                    "id": "Rep ID",
                    "name": "Rep Name",
                    "lat": "Latitude",
                    "lon": "Longitude",
                    "skills": "Skills",
                    "capacity": "FTE",
                },
            },
        },
        "balance": {"potential": {"tolerance": 0.3}},
    }
    raw.update(extra)
    return raw


@pytest.fixture(scope="session")
def studio_workspace(tmp_path_factory):
    """A workspace folder with the demo scenario and its solved plan in ``out/demo`` (for the
    plan studio's tests): returns (workspace, plan)."""
    import shutil

    from territory_opt import load_scenario, run_scenario

    workspace = tmp_path_factory.mktemp("studio")
    (workspace / "scenarios").mkdir()
    shutil.copy(ROOT / "src" / "territory_opt" / "scenarios" / "demo.yaml", workspace / "scenarios" / "demo.yaml")
    scenario = load_scenario(workspace / "scenarios" / "demo.yaml")
    plan, _, _ = run_scenario(scenario, workspace / "out" / "demo", time_limit=3, tiles=False)
    return workspace, plan


def territory_connected(assign, edges, t) -> bool:
    """Whether territory ``t`` of ``assign`` is one connected piece of the graph ``edges``
    (False when it is empty)."""
    members = set(np.flatnonzero(assign == t).tolist())
    if not members:
        return False
    seen, stack = {min(members)}, [min(members)]
    while stack:
        u = stack.pop()
        for a, b in edges:
            for x, y in ((a, b), (b, a)):
                if x == u and y in members and y not in seen:
                    seen.add(y)
                    stack.append(y)
    return seen == members
