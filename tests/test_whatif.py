"""What-if planning: edits, sweeps (process pool and Dask give the same plans), sizing,
comparison, partial re-runs that leave the rest untouched, regions bound to geography."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from territory_opt import ScenarioError, load_scenario, run_scenario, scenario_from_dict
from territory_opt.cli import app
from territory_opt.io import read_assignment
from territory_opt.whatif import compare_folders, parse_sets, rerun, rollup, size, sweep, with_values

ROOT = Path(__file__).parents[1]


def small(**extra: object):
    """Georgia counties, a synthetic book, deterministic and quick."""
    raw = {
        "name": "ga-small",
        "data": {
            "dataset": "us-counties",
            "states": ["GA"],
            "synthetic": {"accounts": 600, "reps": 5, "seed": 2, "skill_share": 0.0},
            "units": "geography",
        },
        "balance": {"potential": {"tolerance": 0.10}},
        "constraints": {"contiguity": True},
        "solver": {"time_limit": 3, "seed": 1, "deterministic": True},
    }
    raw.update(extra)
    return scenario_from_dict(raw)


def test_edits_are_validated_and_named():
    sc = with_values(small(), parse_sets(["balance.potential.tolerance=0.03", "solver.time_limit=7"]))
    assert sc.balance["potential"].tolerance == 0.03 and sc.solver.time_limit == 7
    with pytest.raises(ScenarioError, match=r"balance\.potential\.tolerance"):
        with_values(small(), {"balance.potential.tolerance": "tight"})
    with pytest.raises(ScenarioError, match="key=value"):
        parse_sets(["balance.potential.tolerance"])


@pytest.mark.slow  # 45 s on 2 cores: the default suite keeps under 6 minutes (run with --run-slow)
def test_sweep_of_12_variants_gives_the_same_plans_on_dask_as_on_the_local_pool(tmp_path):
    grid = {
        "balance.potential.tolerance": [0.08, 0.10, 0.15],
        "data.synthetic.reps": [4, 5],
        "objective.priorities": [["travel"], ["cut_edges"]],
    }
    local = sweep(small(), grid, tmp_path / "local", workers=2)
    dask = sweep(small(), grid, tmp_path / "dask", scheduler="local", workers=2)
    assert len(local) == len(dask) == 12
    assert (local["status"] != "error").all(), local.get("error")
    for variant in local["variant"]:
        a = (tmp_path / "local" / variant / "assignments.csv").read_bytes()
        b = (tmp_path / "dask" / variant / "assignments.csv").read_bytes()
        assert a == b, variant
    table = pd.read_csv(tmp_path / "local" / "results.csv")
    assert len(table) == 12 and {"travel_km", "potential_spread_pct", "gap"} <= set(table.columns)
    assert (table["potential_spread_pct"] <= table["set:balance.potential.tolerance"] * 100 + 1e-6).all()


def test_a_failed_variant_is_reported_and_a_rerun_reuses_finished_ones(tmp_path):
    grid = {"data.synthetic.reps": [5, 400]}  # 400 reps for 159 counties cannot be contiguous and balanced
    first = sweep(small(), grid, tmp_path, workers=1)
    ok = first[first["status"] != "error"]
    bad = first[first["status"] == "error"]
    assert len(ok) == 1 and len(bad) == 1
    assert bad["error"].iloc[0]  # the reason, in words
    again = sweep(small(), grid, tmp_path, workers=1)
    assert again.set_index("variant").loc[ok["variant"].iloc[0], "reused"]
    assert not again.set_index("variant").loc[bad["variant"].iloc[0], "reused"]  # errors are retried


def test_sizing_recommends_the_smallest_headcount_within_capacity(tmp_path):
    sc = small(
        constraints={"contiguity": True, "capacity": {"workload": 4000}}, balance={"potential": {"tolerance": 0.2}}
    )
    frame, best = size(sc, [3, 4, 5, 6], tmp_path, workers=2)
    assert list(frame["headcount"]) == [3, 4, 5, 6]
    within = frame[frame["within_capacity"]]
    assert best == within["headcount"].min()
    assert (within["workload_per_seat_max"] <= 4000 + 1e-6).all()
    assert (frame.loc[~frame["within_capacity"] & (frame["status"] != "error"), "workload_per_seat_max"] > 4000).all()
    png = (tmp_path / "sizing.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"recommended headcount: {best} reps" in (tmp_path / "sizing.html").read_text().lower()


def test_compare_two_plans_lists_every_moved_unit(tmp_path):
    a, b = tmp_path / "base", tmp_path / "tight"
    run_scenario(small(), a, tiles=False)
    run_scenario(with_values(small(), {"balance.potential.tolerance": 0.03}), b, tiles=False)
    result = compare_folders(a, b, tmp_path / "cmp", tiles=False)
    left, right = read_assignment(a), read_assignment(b)
    both = left.merge(right, on="unit_id", suffixes=("_a", "_b"))
    changed = set(
        both.loc[both["territory_id_a"].astype(str) != both["territory_id_b"].astype(str), "unit_id"].astype(str)
    )
    assert set(result["moved"]["unit_id"]) == changed
    head = result["headline"].set_index("figure")
    assert head.loc["potential_spread_pct", "tight"] <= 3.0 + 1e-6
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert html.count("<table") >= 3 and "Maps" in html  # tables and the synchronised maps (geo mode)


def test_a_partial_rerun_leaves_every_other_assignment_untouched(tmp_path):
    base = tmp_path / "base"
    run_scenario(small(), base, tiles=False)
    before = read_assignment(base).astype(str)
    chosen = sorted(before["territory_id"].unique())[:3]
    plan, full = rerun(small(), base, territories=chosen, remove=[chosen[-1]], out_dir=tmp_path / "rerun")
    assert plan.ok and plan.problem.n_seats == 2
    merged = full.astype(str).merge(before, on="unit_id", suffixes=("", "_before"))
    others = ~merged["territory_id_before"].isin(chosen)
    assert others.sum() > 0
    assert (merged.loc[others, "territory_id"] == merged.loc[others, "territory_id_before"]).all()
    assert not merged["territory_id"].eq(chosen[-1]).any()  # the removed rep holds nothing
    written = read_assignment(tmp_path / "rerun").astype(str)
    assert len(written) == len(before)  # the CRM file covers every unit
    summary = json.loads((tmp_path / "rerun" / "summary.json").read_text())
    assert summary["partial"]["units_unchanged"] == int(others.sum())


def test_regions_bound_to_states_and_rolled_up(tmp_path):
    raw = {
        "name": "two-states",
        "data": {
            "dataset": "us-counties",
            "states": ["GA", "AL"],
            "synthetic": {"accounts": 800, "reps": 8, "seed": 4, "skill_share": 0.0},
            "units": "accounts",
        },
        "balance": {"potential": {"tolerance": 0.5}},
        "constraints": {"bind_regions": True},
        "solver": {"time_limit": 5, "deterministic": True},
    }
    plan, _, written = run_scenario(scenario_from_dict(raw), tmp_path, tiles=False)
    p = plan.problem
    assert plan.ok
    assert (p.unit_region == p.seat_region[plan.seat_of]).all()  # GA accounts with GA reps
    table = rollup(plan, "region")
    assert set(table["region"]) <= {"GA", "AL"} and table["territories"].sum() == p.n_seats
    assert np.isclose(table["potential"].sum(), p.measures[:, 0].sum())
    assert "rollup_region" in written


def test_cli_what_if_commands(tmp_path):
    runner = CliRunner()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: cli-small\ndata: {dataset: us-counties, states: [GA], synthetic: {accounts: 400, reps: 4, seed: 3, skill_share: 0.0}, units: geography}\n"
        "balance: {potential: {tolerance: 0.1}}\nconstraints: {contiguity: true}\nsolver: {time_limit: 1, deterministic: true}\n"
    )
    a, b = tmp_path / "a", tmp_path / "b"
    assert runner.invoke(app, ["solve", str(scenario), "--out", str(a), "--no-tiles"]).exit_code == 0
    res = runner.invoke(
        app, ["solve", str(scenario), "--out", str(b), "--no-tiles", "--set", "balance.potential.tolerance=0.04"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((b / "summary.json").read_text())["audit_ok"]
    res = runner.invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "cmp"), "--no-tiles"])
    assert res.exit_code == 0 and (tmp_path / "cmp" / "moved_units.csv").exists(), res.output
    res = runner.invoke(
        app,
        [
            "sweep",
            str(scenario),
            "--set",
            "balance.potential.tolerance=0.05,0.1",
            "--out",
            str(tmp_path / "sw"),
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0 and len(pd.read_csv(tmp_path / "sw" / "results.csv")) == 2, res.output
    res = runner.invoke(app, ["size", str(scenario), "--reps", "3..4", "--out", str(tmp_path / "sz"), "--workers", "1"])
    assert res.exit_code == 0 and "recommended headcount" in res.output, res.output
    res = runner.invoke(
        app, ["rerun", str(scenario), "--baseline", str(a), "--territories", "R001,R002", "--out", str(tmp_path / "rr")]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["solve", str(scenario), "--set", "balance.potential.tolerance=wide"])
    assert res.exit_code == 2 and "balance.potential.tolerance" in res.output


def test_the_demo_scenario_supports_sweeps():
    sc = load_scenario(ROOT / "scenarios" / "demo.yaml")
    assert with_values(sc, {"balance.potential.tolerance": 0.03}).balance["potential"].tolerance == 0.03


def accounts_small(**extra: object):
    """Account mode with locks: 400 Georgia accounts, 5 reps."""
    raw = {
        "name": "ga-accounts",
        "data": {
            "dataset": "us-counties",
            "states": ["GA"],
            "synthetic": {"accounts": 400, "reps": 5, "seed": 4, "skill_share": 0.0, "lock_share": 0.03},
            "units": "accounts",
        },
        "balance": {"potential": {"tolerance": 0.10}},
        "solver": {"time_limit": 1.5, "seed": 1, "deterministic": True},
    }
    raw.update(extra)
    return scenario_from_dict(raw)


def test_inline_rep_and_lock_edits_change_the_roster_and_are_honoured(tmp_path):
    from territory_opt.io import load_inputs
    from territory_opt.whatif import with_edits

    base = accounts_small()
    inputs = load_inputs(base)
    locked_to_r2 = inputs.units.loc[inputs.units["lock"] == "R002", "id"].tolist()
    free = inputs.units.loc[inputs.units["lock"] == "", "id"].iloc[:3].tolist()
    (tmp_path / "locks.csv").write_text("id,rep\n" + "".join(f"{a},R005\n" for a in free[1:]))
    variant = with_edits(
        base,
        add_reps=[{"id": "R_NEW", "lat": 33.75, "lon": -84.39}, {"id": "OPEN"}],
        remove_reps=["R002"],
        move_reps=[{"id": "R001", "lat": 32.08, "lon": -81.09}],
        lock={free[0]: "R_NEW", **dict.fromkeys(locked_to_r2, "")},
        lock_file=tmp_path / "locks.csv",
    )
    plan, _, _ = run_scenario(variant, tmp_path / "out", tiles=False)
    assert plan.ok
    a = read_assignment(tmp_path / "out").set_index("unit_id")["territory_id"]
    assert len(a) == len(inputs.units)  # every account assigned once
    assert set(a) <= {"R001", "R003", "R004", "R005", "R_NEW", "OPEN"} and "R002" not in set(a)
    assert a[free[0]] == "R_NEW" and (a[free[1:]] == "R005").all()
    home = plan.problem.seat_xy[list(plan.problem.seat_ids).index("R001")]
    assert not np.allclose(home, load_scenario_home(base, "R001"))
    assert load_inputs(base).units["lock"].tolist() == inputs.units["lock"].tolist()  # inputs untouched


def load_scenario_home(scenario, rep):
    from territory_opt import problem_from_scenario

    problem, _ = problem_from_scenario(scenario)
    return problem.seat_xy[list(problem.seat_ids).index(rep)]


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({"remove_reps": ["R999"]}, "remove_reps.0: 'R999' is not a rep in the roster"),
        ({"add_reps": [{"id": "R001", "lat": 33.0, "lon": -84.0}]}, "'R001' is already a rep"),
        ({"lock": {"NOPE": "R001"}}, "lock 'NOPE': no account or unit has this id"),
        ({"lock": {"A000001": "R999"}}, "'R999' is not a rep in the roster (after the edits)"),
        ({"remove_reps": ["R002"]}, "locked to removed reps"),
    ],
)
def test_bad_inline_edits_are_named(edits, message):
    from territory_opt import DataError
    from territory_opt.io import load_inputs
    from territory_opt.whatif import with_edits

    with pytest.raises(DataError) as info:
        load_inputs(with_edits(accounts_small(), **edits))
    assert message in str(info.value)


def test_cli_inline_edits_parse_and_explain(tmp_path):
    runner = CliRunner()
    path = ROOT / "scenarios" / "accounts-georgia.yaml"
    bad = runner.invoke(app, ["solve", str(path), "--move-rep", "R001"])
    assert bad.exit_code != 0 and "ID@LAT,LON" in bad.output
    bad = runner.invoke(app, ["solve", str(path), "--lock", "A000001"])
    assert bad.exit_code != 0 and "ACCOUNT=REP" in bad.output
    ok = runner.invoke(
        app,
        [
            "solve",
            str(path),
            "--out",
            str(tmp_path),
            "--time-limit",
            "3",
            "--no-tiles",
            "--add-rep",
            "R011@33.75,-84.39,0.5",
            "--lock",
            "A000001=R011",
        ],
    )
    assert ok.exit_code == 0, ok.output
    a = read_assignment(tmp_path).set_index("unit_id")["territory_id"]
    assert a["A000001"] == "R011"
