"""Faults: Ctrl-C returns the best plan so far; scenarios cannot write outside the output
folder; memory. (A run killed while it writes: tests/test_atomic_outputs.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from territory_opt import ScenarioError, scenario_from_dict


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "../escape"}, "is not a usable name"),
        ({"name": "a/b"}, "is not a usable name"),
        ({"output": {"dir": "/etc"}}, "leaves the output folder"),
        ({"output": {"dir": "../../elsewhere"}}, "leaves the output folder"),
        ({"output": {"dir": "runs/../../x"}}, "leaves the output folder"),
        ({"output": {"dir": "C:\\\\Windows"}}, "leaves the output folder"),
    ],
)
def test_a_scenario_cannot_write_outside_the_output_folder(raw, message):
    base = {"name": "ok", "data": {"dataset": "us-counties", "states": ["GA"]}}
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict({**base, **raw})


def test_relative_output_folders_stay_allowed():
    sc = scenario_from_dict({"name": "ok", "data": {"dataset": "us-counties"}, "output": {"dir": "runs/2027"}})
    assert sc.output_dir() == Path("runs/2027")


CHILD = """
import json, numpy as np
from territory_opt import Problem, solve
from territory_opt.scenario import Candidates, Measure, SolverSettings
rng = np.random.default_rng(0)
p = Problem.from_arrays(measures=rng.lognormal(0, 0.6, size=(500, 1)), unit_xy=rng.uniform(0, 300, (500, 2)), seat_xy=rng.uniform(50, 250, (10, 2)))
said = []
def progress(event):  # tells the parent once CP-SAT holds a plan (no sleeping to guess when)
    if not said and str(event.get("stage", "")).startswith("CP-SAT") and event.get("objective") is not None:
        said.append(1)
        print("incumbent", flush=True)
print("solving", flush=True)
plan = solve(p, balance={"m0": Measure(tolerance=0.01)}, candidates=Candidates(nearest=10), solver=SolverSettings(time_limit=90, workers=2), progress=progress)
print(json.dumps({"status": plan.status.value, "wall": plan.wall_time, "notes": list(plan.notes), "ok": plan.ok}), flush=True)
"""


def test_ctrl_c_returns_the_best_plan_so_far():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "solving"
    assert proc.stdout.readline().strip() == "incumbent"  # CP-SAT is searching, with a plan in hand
    assert proc.poll() is None, "the solve ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "feasible" and result["ok"]
    assert result["wall"] < 45  # stopped, not run to the 90 s limit
    assert any(note.startswith("interrupted (Ctrl-C)") for note in result["notes"])


def test_out_of_memory_prone_runs_are_refused_up_front(monkeypatch, line6):
    from territory_opt import SolverError, resources, solve
    from territory_opt.scenario import Measure, SolverSettings

    monkeypatch.setattr(resources, "available_memory", lambda: 40_000)  # 40 kB left
    with pytest.raises(SolverError, match=r"needs about 0\.0 GB of memory \(a CP-SAT model over 12 candidate pairs\)"):
        solve(line6, balance={"potential": Measure(tolerance=0.01)}, solver=SolverSettings(time_limit=5))
    monkeypatch.setattr(resources, "available_memory", lambda: 8_000_000_000)
    assert solve(line6, balance={"potential": Measure(tolerance=0.01)}, solver=SolverSettings(time_limit=5)).ok


def _cgroup_tree(tmp_path, monkeypatch, membership: str, files: dict[str, str]) -> None:
    from territory_opt import resources

    for name, text in files.items():
        path = tmp_path / "cg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "self_cgroup").write_text(membership)
    monkeypatch.setattr(resources, "CGROUP_ROOT", tmp_path / "cg")
    monkeypatch.setattr(resources, "PROC_CGROUP", tmp_path / "self_cgroup")


@pytest.mark.parametrize(
    ("membership", "files", "room"),
    [
        # cgroup v2, limit on the process's own group
        ("0::/job\n", {"job/memory.max": "3000000000\n", "job/memory.current": "1000000000\n"}, 2_000_000_000),
        # v2, a tighter limit on a parent group; "max" means none
        (
            "0::/a/b\n",
            {"a/b/memory.max": "max\n", "a/memory.max": "1500000000\n", "a/memory.current": "500000000\n"},
            1_000_000_000,
        ),
        # v2 inside a container: the group is the mount's root
        ("0::/\n", {"memory.max": "3221225472\n", "memory.current": "221225472\n"}, 3_000_000_000),
        # cgroup v1 (memory controller), "no limit" is a huge number at the root
        (
            "4:memory:/process_api/x\n0::/\n",
            {
                "memory/process_api/x/memory.limit_in_bytes": "2000000000\n",
                "memory/process_api/x/memory.usage_in_bytes": "500000000\n",
                "memory/memory.limit_in_bytes": "9223372036854771712\n",
            },
            1_500_000_000,
        ),
        ("0::/\n", {"memory.max": "max\n"}, None),
    ],
)
def test_memory_check_reads_the_cgroup_limit(tmp_path, monkeypatch, membership, files, room):
    from territory_opt import resources

    _cgroup_tree(tmp_path, monkeypatch, membership, files)
    monkeypatch.setattr(resources, "_host_available", lambda: 64_000_000_000)  # a big host
    assert resources.cgroup_room() == room
    assert resources.available_memory() == (room if room is not None else 64_000_000_000)


def test_a_run_too_big_for_its_container_is_refused_with_a_message(tmp_path, monkeypatch):
    from territory_opt import SolverError, resources

    _cgroup_tree(tmp_path, monkeypatch, "0::/\n", {"memory.max": "3000000000\n", "memory.current": "0\n"})
    monkeypatch.setattr(resources, "_host_available", lambda: 64_000_000_000)
    with pytest.raises(
        SolverError,
        match=r"needs about 4\.0 GB of memory \(x\), but only 3\.0 GB are available \(under this container's memory limit\): y",
    ):
        resources.check_memory(4e9, "x", "y")
    resources.check_memory(2e9, "x", "y")  # fits
