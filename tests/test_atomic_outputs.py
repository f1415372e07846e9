"""A run's outputs are one set (issue 13, point 4): staged next to the folder and swapped in
whole; a run killed or failing at any point leaves the previous set untouched and no
temporary files; a full disk or read-only folder is a clear error; an output folder holding
an input file, or reached through a symbolic link outside the run folder, is refused."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from territory_opt import (
    OutputError,
    Problem,
    ScenarioError,
    _staging,
    io,
    run_scenario,
    scenario_from_dict,
    solve,
    write_plan,
)
from territory_opt.scenario import Measure, SolverSettings

from .conftest import DATA, accounts_scenario


def _plan(tolerance: float = 0.2):
    problem = Problem.from_arrays(
        measures=np.ones((6, 1)),
        measure_names=["potential"],
        unit_xy=[[float(i), 0.0] for i in range(6)],
        seat_xy=[[0.0, 0.0], [5.0, 0.0]],
        seat_ids=["west", "east"],
        owner=[1, 1, 1, 0, 0, 0],
    )
    return solve(
        problem,
        balance={"potential": Measure(tolerance=tolerance)},
        solver=SolverSettings(time_limit=5, deterministic=True),
    )


@pytest.fixture(scope="module")
def plans():
    return _plan(0.2), _plan(0.5)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


# Forked children end with os._exit at a chosen point of the write: no clean-up runs, as
# with kill -9. Every point is reached deterministically (no timing, no sleeps).
CHILD = r"""
import json, os, sys
from pathlib import Path
sys.path[:0] = [sys.argv[2]]
from tests.test_atomic_outputs import _plan
from territory_opt import io, write_plan, _staging

out, scratch = Path(sys.argv[1]) / "plan", Path(sys.argv[1]) / "scratch"
old_plan, new_plan = _plan(0.2), _plan(0.5)
real_write, real_carry, real_exchange = io.write_atomic, _staging._carry_over, _staging._exchange
calls = [0]
def counting(path, writer):
    calls[0] += 1
    return real_write(path, writer)
io.write_atomic = counting
write_plan(new_plan, scratch, maps=False)
io.write_atomic = real_write
new_summary = (scratch / "summary.json").read_text()
points = [("write", k) for k in range(1, calls[0] + 1)] + [("carry", 0), ("swap", 0), ("exchanged", 0)]
for kind, k in points:
    write_plan(old_plan, out, maps=False)  # the previous set (also removes what a kill left)
    (out / "notes.txt").write_text("a planner's file")
    old_summary = (out / "summary.json").read_text()
    pid = os.fork()
    if pid == 0:
        count = [0]
        def write(path, writer):
            count[0] += 1
            if kind == "write" and count[0] == k:
                os._exit(9)
            return real_write(path, writer)
        def carry(*a):
            if kind == "carry":
                os._exit(9)
            return real_carry(*a)
        def exchange(a, b):
            if kind == "swap":
                os._exit(9)
            done = real_exchange(a, b)
            if kind == "exchanged":
                os._exit(9)
            return done
        io.write_atomic, _staging._carry_over, _staging._exchange = write, carry, exchange
        write_plan(new_plan, out, maps=False)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    summary = (out / "summary.json").read_text()
    print(json.dumps({"point": f"{kind}{k}", "exit": os.waitstatus_to_exitcode(status),
                      "files": sorted(str(p.relative_to(out)) for p in out.rglob("*")),
                      "old": summary == old_summary, "new": summary == new_summary,
                      "notes": (out / "notes.txt").read_text(),
                      "siblings": sorted(p.name for p in out.parent.iterdir() if p.name not in ("plan", "scratch"))}), flush=True)
write_plan(new_plan, out, maps=False)
print(json.dumps({"point": "after", "siblings": sorted(p.name for p in out.parent.iterdir() if p.name not in ("plan", "scratch"))}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_run_killed_at_any_point_leaves_one_whole_set(tmp_path):
    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    killed, after = results[:-1], results[-1]
    assert len(killed) >= 8  # every file write, the carry-over, just before and just after the swap
    whole_set = {
        "assignments.csv",
        "changes.csv",
        "notes.txt",
        "plan.xlsx",
        "roster.csv",
        "summary.json",
        "territories.csv",
    }
    for result in killed:
        assert result["exit"] == 9, result  # really killed, at that point
        assert set(result["files"]) == whole_set, result  # no temporary file inside, nothing missing
        assert result["notes"] == "a planner's file"
        # killed before the swap: the old set; just after it: the whole new set
        assert (result["old"], result["new"]) == (
            (False, True) if result["point"] == "exchanged0" else (True, False)
        ), result
        assert all(s.startswith(".plan.staging-") for s in result["siblings"]), result
    assert after == {"point": "after", "siblings": []}  # the next run removes what kills left


def test_a_failing_run_leaves_the_previous_set_and_no_staging(tmp_path, plans, monkeypatch):
    out = tmp_path / "plan"
    write_plan(plans[0], out, maps=False)
    before = _files(out)
    calls = [0]
    real = io.write_atomic

    def failing(path, writer):
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("boom")
        return real(path, writer)

    monkeypatch.setattr(io, "write_atomic", failing)
    with pytest.raises(RuntimeError, match="boom"):
        write_plan(plans[1], out, maps=False)
    assert _files(out) == before
    assert _siblings(out) == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            errno.ENOSPC,
            "the disk is full (or over quota) while writing the outputs; free space and run again. The previous outputs are untouched",
        ),
        (errno.EROFS, "cannot write there (Read-only file system); choose a folder you can write to with --out"),
        (errno.EACCES, "cannot write there (Permission denied)"),
        (errno.EIO, "cannot write the outputs (Input/output error); the previous outputs are untouched"),
    ],
)
def test_full_disk_or_read_only_is_a_clear_error(tmp_path, plans, monkeypatch, code, message):
    out = tmp_path / "plan"
    write_plan(plans[0], out, maps=False)
    before = _files(out)
    real = io.write_atomic
    calls = [0]

    def full(path, writer):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, writer)

    monkeypatch.setattr(io, "write_atomic", full)
    with pytest.raises(OutputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_plan(plans[1], out, maps=False)
    assert _files(out) == before
    assert _siblings(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder_for_real(tmp_path, plans):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write there"):
            write_plan(plans[0], parent / "plan", maps=False)
    finally:
        parent.chmod(0o755)


def test_a_rerun_replaces_the_whole_set_and_keeps_other_files(tmp_path, plans):
    out = tmp_path / "plan"
    write_plan(plans[0], out, maps=False)
    (out / "quotas.csv").write_text("territory_id,quota\nwest,1\n")  # an output this run will not write
    (out / "compare").mkdir()
    (out / "compare" / "compare.csv").write_text("figure\n")
    (out / "notes.txt").write_text("mine")
    written = write_plan(plans[1], out, maps=False)
    assert set(written.values()) <= set(out.iterdir())
    assert not (out / "quotas.csv").exists()  # never a folder mixing two runs
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "compare" / "compare.csv").read_text() == "figure\n"
    assert _siblings(out) == []


def test_swap_without_renameat2(tmp_path, plans, monkeypatch):
    monkeypatch.setattr(_staging, "_exchange", lambda a, b: False)
    out = tmp_path / "plan"
    write_plan(plans[0], out, maps=False)
    write_plan(plans[1], out, maps=False)
    assert json.loads((out / "summary.json").read_text())["objective"] == pytest.approx(plans[1].objective)
    assert _siblings(out) == []


def test_leftovers_of_a_dead_run_are_removed_and_an_interrupted_swap_recovered(tmp_path, plans):
    out = tmp_path / "plan"
    dead = tmp_path / ".plan.staging-999999999-abcd"
    dead.mkdir()
    (dead / "assignments.csv").write_text("half")
    write_plan(plans[0], out, maps=False)
    assert _siblings(out) == []
    # a two-rename swap killed between its renames: the folder is put back first
    out.rename(tmp_path / ".plan.old-1-abcd")
    write_plan(plans[1], out, maps=False)
    assert _siblings(out) == []


def _copy_inputs(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("accounts.csv", "reps.csv"):
        (folder / name).write_bytes((DATA / name).read_bytes())
    raw = accounts_scenario(solver={"time_limit": 5})
    raw["data"]["accounts"]["path"] = str(folder / "accounts.csv")
    raw["data"]["reps"]["path"] = str(folder / "reps.csv")
    return raw


@pytest.mark.parametrize("inside", ["", "sub"])
def test_an_output_folder_holding_an_input_file_is_refused(tmp_path, inside):
    out = tmp_path / "out"
    raw = _copy_inputs(out / inside if inside else out)
    before = _files(out)
    with pytest.raises(OutputError, match="the output folder holds an input file of this run"):
        run_scenario(scenario_from_dict(raw), out, maps=False)
    assert _files(out) == before


def test_an_input_named_like_an_output_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "assignments.csv").write_bytes((DATA / "accounts.csv").read_bytes())
    raw = accounts_scenario(solver={"time_limit": 5})
    raw["data"]["accounts"]["path"] = str(out / "assignments.csv")
    with pytest.raises(OutputError, match=r"holds an input file of this run \(.*assignments.csv\)"):
        run_scenario(scenario_from_dict(raw), out, maps=False)
    assert (out / "assignments.csv").read_bytes() == (DATA / "accounts.csv").read_bytes()


def test_output_folder_through_a_symlink_is_checked_where_it_lands(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (run / "runs").symlink_to(tmp_path / "elsewhere")
    (run / "inside").mkdir()
    (run / "ok").symlink_to(run / "inside")
    monkeypatch.chdir(run)
    outside = scenario_from_dict({**accounts_scenario(), "output": {"dir": "runs/q3"}})
    with pytest.raises(
        ScenarioError,
        match=r"output.dir 'runs/q3' leads to .*elsewhere/q3 \(through a symbolic link\), outside the run folder",
    ):
        outside.output_dir()
    assert scenario_from_dict({**accounts_scenario(), "output": {"dir": "ok/q3"}}).output_dir() == Path("ok/q3")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("x"), "is a file, not a folder"),
        (lambda p: None, None),
    ],
)
def test_out_that_is_a_file_or_below_a_file(tmp_path, plans, make, message):
    target = tmp_path / "target"
    make(target)
    if message is None:  # below a file
        (tmp_path / "file").write_text("x")
        target = tmp_path / "file" / "sub"
        message = "cannot be created, .* is a file"
    with pytest.raises(OutputError, match=message):
        write_plan(plans[0], target, maps=False)


@pytest.mark.parametrize("where", [".", "..", "HOME"])
def test_the_current_folder_or_above_is_never_an_output_folder(tmp_path, plans, monkeypatch, where):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("keep")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    target = tmp_path / "home" if where == "HOME" else Path(where)
    with pytest.raises(OutputError, match="is the current folder, one above it or the home folder"):
        write_plan(plans[0], target, maps=False)
    assert sorted(p.name for p in work.iterdir()) == ["mine.txt"]


def test_an_output_folder_in_a_symlink_loop(tmp_path, plans):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OutputError, match="not a usable output folder"):
        write_plan(plans[0], tmp_path / "a" / "plan", maps=False)


def test_a_mount_point_is_updated_file_by_file(tmp_path, plans, monkeypatch):
    out = tmp_path / "volume"
    write_plan(plans[0], out, maps=False)
    (out / "quotas.csv").write_text("old\n")  # an earlier run's output, not written now
    (out / "notes.txt").write_text("mine")
    real_ismount = os.path.ismount
    monkeypatch.setattr(_staging.os.path, "ismount", lambda p: Path(p) == out.resolve() or real_ismount(p))
    inode = out.stat().st_ino
    write_plan(plans[1], out, maps=False)
    assert out.stat().st_ino == inode  # the folder itself was not renamed
    assert json.loads((out / "summary.json").read_text())["objective"] == pytest.approx(plans[1].objective)
    assert not (out / "quotas.csv").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert _siblings(out) == []


def test_a_rerun_into_its_baseline_folder_is_refused(tmp_path):
    from territory_opt.whatif import rerun

    baseline = tmp_path / "plan"
    baseline.mkdir()
    (baseline / "assignments.csv").write_text("unit_id,territory_id\nA1,R1\n")
    with pytest.raises(OutputError, match=r"holds an input file of this run \(.*plan/assignments\.csv\)"):
        rerun(scenario_from_dict(accounts_scenario()), baseline, territories=["R1"], out_dir=baseline)
    assert (baseline / "assignments.csv").read_text() == "unit_id,territory_id\nA1,R1\n"
