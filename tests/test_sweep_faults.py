"""Sweeps survive a dead worker (issue 13, point 5): the variant whose worker process died
becomes a failed row with the reason, the other variants are kept; a sweep whose every
variant failed exits non-zero."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from territory_opt import scenario_from_dict
from territory_opt import sweep as sweeps
from territory_opt.cli import app

from .conftest import accounts_scenario


def _dying_call(args: tuple[Any, ...]) -> dict[str, Any]:
    """Runs in the spawned worker: the variant with tolerance 0.5 kills its own process, as
    the kernel's out-of-memory killer would."""
    if args[2].get("balance.potential.tolerance") == 0.5:
        os.kill(os.getpid(), 9)
    return sweeps.run_variant(*args)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_dead_worker_fails_only_its_variant(tmp_path, monkeypatch):
    monkeypatch.setattr(sweeps, "_call", _dying_call)  # pickled by name: the workers import it too
    scenario = scenario_from_dict(accounts_scenario(solver={"time_limit": 5, "deterministic": True}))
    frame = sweeps.sweep(scenario, {"balance.potential.tolerance": [0.3, 0.5]}, tmp_path, workers=2)
    rows = frame.set_index("set:balance.potential.tolerance")
    assert rows.loc[0.3, "status"] in ("optimal", "feasible")
    assert rows.loc[0.5, "status"] == "error"
    assert "the worker solving this variant died (SIGKILL: killed, e.g. out of memory)" in rows.loc[0.5, "error"]
    assert (tmp_path / "results.csv").exists()
    assert (tmp_path / rows.loc[0.3, "variant"] / "assignments.csv").exists()


def test_a_sweep_whose_every_variant_failed_exits_non_zero(tmp_path):
    raw = accounts_scenario(solver={"time_limit": 5})
    raw["data"]["accounts"]["path"] = str(tmp_path / "missing.csv")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            str(path),
            "--set",
            "balance.potential.tolerance=0.2,0.3",
            "--out",
            str(tmp_path / "o"),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "every variant failed (2)" in output
    assert "missing.csv: file not found" in output
    assert Path(tmp_path / "o" / "results.csv").exists()
