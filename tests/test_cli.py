"""The CLI: each command on real files, errors as one paragraph and an exit code."""

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from territory_opt.cli import app

from .conftest import DATA, ROOT

runner = CliRunner()


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_datasets_lists_source_and_size():
    result = runner.invoke(app, ["datasets"], terminal_width=200)
    assert result.exit_code == 0
    assert "us-counties" in result.stdout and "3,108" in result.stdout
    assert "Census" in result.stdout and "MB" in result.stdout


def test_validate_prints_a_data_summary():
    result = runner.invoke(app, ["validate", str(ROOT / "scenarios" / "accounts-georgia.yaml")], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    assert "units: 2,000 (accounts); seats: 10" in out
    assert "Skills coverage" in out and "potential" in out
    assert "synthetic accounts on real US Census geography" in out


def test_validate_malformed_file_gives_message_not_traceback(tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "name: bad\ndata:\n  accounts:\n    path: " + str(DATA / "bad_non_numeric.csv") + "\n"
        "    columns: {id: Account ID, lat: Latitude, lon: Longitude, potential: Annual Potential}\n"
        "  reps:\n    path: " + str(DATA / "reps.csv") + "\n    columns: {id: Rep ID, lat: Latitude, lon: Longitude}\n"
        "balance:\n  potential: {tolerance: 0.2}\n"
    )
    result = runner.invoke(app, ["validate", str(scenario)], terminal_width=200)
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert "bad_non_numeric.csv, row 3, column 'Annual Potential': not a number: 'lots'" in plain(result.output)


def test_validate_bad_scenario_key(tmp_path):
    scenario = tmp_path / "x.yaml"
    scenario.write_text("name: x\ndata: {dataset: us-counties}\nbalance:\n  population: {tolerance: 1.5}\n")
    result = runner.invoke(app, ["validate", str(scenario)], terminal_width=200)
    assert result.exit_code == 2
    assert "balance.population.tolerance: must be in (0, 1], got 1.5" in plain(result.output)


def test_solve_writes_outputs_atomically(tmp_path):
    out = tmp_path / "plan"
    result = runner.invoke(
        app, ["solve", str(ROOT / "scenarios" / "crm-export.yaml"), "--out", str(out)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assignments = pd.read_csv(out / "assignments.csv", keep_default_na=False)
    assert list(assignments.columns) == ["unit_id", "territory_id", "previous_territory_id", "moved"]
    assert assignments["unit_id"].is_unique and len(assignments) == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] in {"optimal", "feasible"} and summary["audit_ok"]
    assert {"objective", "bound", "gap", "wall_time_s", "method", "seed"} <= set(summary)
    territories = pd.read_csv(out / "territories.csv")
    assert len(territories) == 2
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_infeasible_scenario_exit_code_and_explanation(tmp_path):
    scenario = tmp_path / "tight.yaml"
    scenario.write_text(
        (ROOT / "scenarios" / "demo.yaml").read_text().replace("../src", str(ROOT / "src"))
        + "constraints:\n  capacity: {workload: 100}\n"
    )
    result = runner.invoke(app, ["solve", str(scenario), "--out", str(tmp_path / "o")], terminal_width=200)
    assert result.exit_code == 4
    assert "total workload is" in plain(result.output) and "capacity" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("time_limit", ["15"])
def test_demo_runs_and_prints_outputs(tmp_path, time_limit):
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path / "demo"), "--time-limit", time_limit], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "assignments.csv").exists()
    assert "synthetic accounts on real geography" in plain(result.output)
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["audit_ok"] and summary["territories"] == 8 and summary["units"] == 159
    # the headline is the gap against a bound for the real problem; the quota table shows
    # each territory's id and its quota (it once printed a generator object per row)
    text = plain(result.output)
    assert "within" in text and "of the best possible plan" in text and "secondary: bound" in text
    quotas = pd.read_csv(tmp_path / "demo" / "quotas.csv")
    quota_table = text[text.index("Quotas") :]
    assert "generator object" not in quota_table
    for territory, quota in zip(quotas["territory_id"], quotas["quota"], strict=True):
        assert str(territory) in quota_table and f"{quota:,.0f}" in quota_table


def test_quotas_command_on_a_plan(tmp_path):
    out = tmp_path / "demo"
    first = runner.invoke(app, ["demo", "--out", str(out), "--time-limit", "5"], terminal_width=200)
    assert first.exit_code == 0, first.output
    (out / "quotas.csv").unlink()
    scenario = ROOT / "scenarios" / "demo.yaml"
    result = runner.invoke(app, ["quotas", str(scenario), "--plan", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    quotas = pd.read_csv(out / "quotas.csv")
    assert quotas["quota"].sum() == 64_000_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quotas"]["total"] == 64_000_000
    assert "fairness" in summary["quotas"]


def test_quotas_command_without_quota_section(tmp_path):
    result = runner.invoke(
        app, ["quotas", str(ROOT / "scenarios" / "crm-export.yaml"), "--plan", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 2
    assert "quotas: the scenario has no quotas section" in plain(result.output)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_validate_passes_on_every_scenario(path):
    result = runner.invoke(app, ["validate", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
