"""Faults: a run killed while it writes leaves every earlier output whole; scenarios cannot
write outside the output folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from territory_opt import ScenarioError, scenario_from_dict

from .conftest import accounts_scenario

OUTPUTS = ("assignments.csv", "territories.csv", "summary.json", "map.html", "report.html")


def _scenario(tmp_path: Path, seed: int) -> Path:
    raw = accounts_scenario(solver={"time_limit": 5, "seed": seed, "deterministic": True})
    path = tmp_path / f"seed{seed}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(scenario: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "territory_opt", "solve", str(scenario), "--out", str(out), "--no-tiles"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _whole(name: str, data: bytes, reference: bytes) -> bool:
    """A complete output of the second scenario (timings inside may differ from the reference)."""
    if name.endswith(".csv"):
        return data == reference  # deterministic mode: the same plan, byte for byte
    if name.endswith(".json"):
        return json.loads(data).keys() == json.loads(reference).keys()
    return data.rstrip().endswith(b"</html>") and abs(len(data) - len(reference)) < 0.05 * len(reference)


def test_a_run_killed_mid_write_leaves_every_output_whole(tmp_path):
    first, second = _scenario(tmp_path, 1), _scenario(tmp_path, 2)
    before_dir, after_dir, out = tmp_path / "before", tmp_path / "after", tmp_path / "out"
    assert _run(first, before_dir).wait(timeout=300) == 0
    t0 = time.perf_counter()
    assert _run(second, after_dir).wait(timeout=300) == 0
    duration = time.perf_counter() - t0
    before, after = _snapshot(before_dir), _snapshot(after_dir)
    assert set(OUTPUTS) <= set(before)
    assert before["summary.json"] != after["summary.json"]  # the two runs are distinguishable
    killed_while_running = 0
    for share in (0.6, 0.75, 0.85, 0.9, 0.95, 0.98):
        out.mkdir(exist_ok=True)
        for p in out.iterdir():
            p.unlink()
        for name, data in before.items():
            (out / name).write_bytes(data)
        proc = _run(second, out)
        time.sleep(share * duration)
        if proc.poll() is None:
            killed_while_running += 1
        proc.kill()  # SIGKILL: no clean-up handler runs (a no-op once the run has ended)
        proc.wait(timeout=60)
        now = _snapshot(out)
        visible = {name for name in now if not name.startswith(".")}
        assert visible == set(before), (
            f"killed at {share:.0%}: files {sorted(visible ^ set(before))} appeared or vanished"
        )
        for name in before:
            assert now[name] == before[name] or _whole(name, now[name], after[name]), (
                f"killed at {share:.0%}: {name} is neither the old nor a whole new file"
            )
    assert killed_while_running >= 3  # the kills really landed during the run


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
