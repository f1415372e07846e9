"""Every CSV the tool writes is inert in a spreadsheet (issue 13, point 2): hostile CRM ids
and names starting with = + - @ are written with a leading apostrophe, numbers stay numbers,
and the tool reads its own outputs back unchanged (quotas for a plan, comparisons)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from territory_opt import quotas_for_plan, run_scenario, scenario_from_dict
from territory_opt.whatif import compare_folders

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

ACCOUNTS = """id,name,lat,lon,potential,history,owner
=A1,"=HYPERLINK(""http://evil.example"",""Acme"")",33.749,-84.388,120000,100000,=R1
@A2,@SUM(1+1),33.95,-83.38,80000,70000,=R1
+A3,+cmd|' /C calc'!A0,32.08,-81.09,95000,90000,-R2
-A4,-2+3,31.58,-84.16,60000,50000,-R2
A5,Plain Name,34.26,-85.16,70000,65000,=R1
A6,"'=already quoted",32.46,-84.99,100000,90000,-R2
"""
REPS = """id,name,lat,lon,region
=R1,@Ada,33.749,-84.388,=South
-R2,+Sam,32.08,-81.09,-East
"""


def _scenario(tmp_path: Path) -> dict:
    (tmp_path / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (tmp_path / "reps.csv").write_text(REPS, encoding="utf-8")
    return {
        "name": "hostile",
        "data": {"accounts": {"path": str(tmp_path / "accounts.csv")}, "reps": {"path": str(tmp_path / "reps.csv")}},
        "balance": {"potential": {"tolerance": 0.4}},
        "quotas": {"target": 1_000_000, "unit": 1000},
        "solver": {"time_limit": 5, "deterministic": True},
    }


def _cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _live_formulas(folder: Path) -> dict[str, list[str]]:
    """Cells a spreadsheet would evaluate: starting with a trigger and not a plain number."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.csv")):
        bad = []
        for cell in _cells(path):
            if cell.startswith(TRIGGERS):
                try:
                    float(cell)
                except ValueError:
                    bad.append(cell)
        if bad:
            found[str(path.relative_to(folder))] = bad
    return found


def test_no_csv_output_holds_a_live_formula_and_plans_read_back(tmp_path):
    raw = _scenario(tmp_path)
    out = tmp_path / "out"
    _plan, quotas, _written = run_scenario(scenario_from_dict(raw), out, tiles=False, maps=True)
    assert quotas is not None
    names = {p.name for p in out.glob("*.csv")}
    assert {"assignments.csv", "territories.csv", "quotas.csv", "rollup_region.csv"} <= names
    assert _live_formulas(out) == {}
    assignments = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    assert "'=A1" in set(assignments["unit_id"])
    territories = pd.read_csv(out / "territories.csv")
    assert list(territories["name"]) == ["'@Ada", "'+Sam"]
    assert territories["potential_dev_pct"].min() < 0  # a negative number is written as a number
    assert pd.api.types.is_numeric_dtype(territories["potential"])  # numbers stay numbers
    # the tool reads its own outputs back: quotas for the plan, and a comparison
    result, _path = quotas_for_plan(scenario_from_dict(raw), out, tmp_path / "q")
    assert result.table["quota"].sum() == 1_000_000
    assert _live_formulas(tmp_path / "q") == {}
    run_scenario(
        scenario_from_dict({**raw, "balance": {"potential": {"tolerance": 0.2}}}),
        tmp_path / "b",
        tiles=False,
        maps=False,
    )
    compared = compare_folders(out, tmp_path / "b", tmp_path / "cmp", tiles=False)
    assert set(compared["moved"]["unit_id"]) <= {"=A1", "@A2", "+A3", "-A4", "A5", "A6"}
    assert _live_formulas(tmp_path / "cmp") == {}
    assert (tmp_path / "accounts.csv").read_text(encoding="utf-8") == ACCOUNTS  # inputs untouched
