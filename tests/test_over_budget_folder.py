"""A missed disruption budget: the best plan found over it is written beside the output
folder, audited and marked, and never into the output folder itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from territory_opt import load_scenario, problem_from_scenario
from territory_opt.errors import InfeasibleError, SolverError
from territory_opt.pipeline import (
    OVER_BUDGET_METHOD,
    _drop_stale_over_budget,
    _over_budget_note,
    over_budget_folder,
    run_scenario,
)

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo-realignment.yaml"


@pytest.fixture(scope="module")
def demo():
    scenario = load_scenario(SCENARIO)
    problem, _ = problem_from_scenario(scenario)
    return scenario, problem


def _moved_plan(problem, share):
    """Today's owners with whole books handed to the next seat until ``share`` of potential moved."""
    assign = np.asarray(problem.owner, dtype=np.int64).copy()
    assign[assign < 0] = 0  # a plan places every unit (the demo has units without an owner)
    value = problem.measure("potential")
    booked = float(value[problem.owner >= 0].sum())
    moved = 0.0
    for t in range(problem.n_seats):
        if moved >= share * booked:
            break
        mine = np.flatnonzero(problem.owner == t)
        assign[mine] = (t + 1) % problem.n_seats
        moved += float(value[mine].sum())
    return assign, moved / booked


@pytest.mark.parametrize("kind", [SolverError, InfeasibleError])
def test_the_plan_over_the_budget_is_written_beside_the_output_folder(demo, tmp_path, monkeypatch, kind):
    scenario, problem = demo
    assign, share = _moved_plan(problem, 0.6)
    assert share > scenario.constraints.disruption.max_share  # over the scenario's 45 %

    def fail(*args, **kwargs):
        if kind is SolverError:
            raise SolverError("no plan found within the time limit (budget missed)", over_budget=assign)
        raise InfeasibleError("the scenario is infeasible: budget too small", None, assign)

    monkeypatch.setattr("territory_opt.pipeline.solve_problem", fail)
    out = tmp_path / "plan"
    out.mkdir()
    (out / "assignments.csv").write_text("kept from an earlier run\n")
    with pytest.raises(kind) as err:
        run_scenario(scenario, out, maps=False, tiles=False)
    side = over_budget_folder(out)
    assert side == tmp_path / "plan-over-budget"
    message = str(err.value)
    assert str(side) in message and f"{100 * share:.1f}%" in message
    assert err.value.over_budget is assign  # the array is still handed back
    # the output folder is untouched
    assert (out / "assignments.csv").read_text() == "kept from an earlier run\n"
    assert sorted(p.name for p in out.iterdir()) == ["assignments.csv"]
    # the side folder holds that plan: every unit once, on the seat the error gave
    table = pd.read_csv(side / "assignments.csv", dtype=str, keep_default_na=False)
    assert len(table) == problem.n_units and table.iloc[:, 0].is_unique
    seat_index = {str(s): i for i, s in enumerate(problem.seat_ids)}
    ids = table.set_index(table.columns[0])["territory_id"].map(seat_index)
    expected = pd.Series(assign, index=[str(u) for u in problem.unit_ids])
    assert (ids.reindex(expected.index).to_numpy() == expected.to_numpy()).all()
    # marked as over the budget: status, method, first note, and the audit's failing budget
    summary = json.loads((side / "summary.json").read_text())
    assert summary["status"] == "unknown"
    assert summary["method"].startswith(OVER_BUDGET_METHOD)
    assert summary["notes"][0].startswith("OVER BUDGET") and f"{100 * share:.1f}%" in summary["notes"][0]
    failing = [a for a in summary["audit"] if not a["ok"]]
    assert any("disruption" in a["check"] or "budget" in a["detail"] for a in failing)


def test_the_map_of_a_plan_over_the_budget_says_so(demo, tmp_path, monkeypatch):
    scenario, problem = demo
    assign, share = _moved_plan(problem, 0.6)
    # a measure name is the scenario's text: it is escaped where the note lands in HTML
    monkeypatch.setattr(
        "territory_opt.pipeline._over_budget_note", lambda *a: f"it moves {100 * share:.1f}% of <b>potential</b>"
    )

    def fail(*args, **kwargs):
        raise SolverError("no plan found", over_budget=assign)

    monkeypatch.setattr("territory_opt.pipeline.solve_problem", fail)
    with pytest.raises(SolverError):
        run_scenario(scenario, tmp_path / "plan", maps=True, tiles=False)
    page = (over_budget_folder(tmp_path / "plan") / "map.html").read_text()
    caption = page[page.index('id="to-data-caption"') :]
    caption = caption[: caption.index("</div>")]
    assert "OVER BUDGET" in caption and f"{100 * share:.1f}%" in caption
    assert "&lt;b&gt;potential&lt;/b&gt;" in caption and "<b>potential" not in caption


def test_no_over_budget_plan_writes_no_side_folder(demo, tmp_path, monkeypatch):
    scenario, _ = demo

    def fail(*args, **kwargs):
        raise SolverError("no plan found within the time limit")

    monkeypatch.setattr("territory_opt.pipeline.solve_problem", fail)
    with pytest.raises(SolverError) as err:
        run_scenario(scenario, tmp_path / "plan", maps=False, tiles=False)
    assert "over the budget" not in str(err.value)
    assert not over_budget_folder(tmp_path / "plan").exists()


def test_a_stale_over_budget_folder_loses_only_our_files(tmp_path):
    ours = tmp_path / "a-over-budget"
    ours.mkdir()
    (ours / "summary.json").write_text(json.dumps({"method": OVER_BUDGET_METHOD + " (every band kept)"}))
    (ours / "assignments.csv").write_text("x")
    _drop_stale_over_budget(ours)
    assert not ours.exists()
    # a planner's file inside our folder stays (and so does the folder)
    ours.mkdir()
    (ours / "summary.json").write_text(json.dumps({"method": OVER_BUDGET_METHOD}))
    (ours / "my-notes.txt").write_text("mine")
    _drop_stale_over_budget(ours)
    assert sorted(p.name for p in ours.iterdir()) == ["my-notes.txt"]
    theirs = tmp_path / "b-over-budget"
    theirs.mkdir()
    (theirs / "summary.json").write_text(json.dumps({"method": "a planner's own notes"}))
    _drop_stale_over_budget(theirs)
    assert (theirs / "summary.json").exists()
    _drop_stale_over_budget(tmp_path / "missing-over-budget")  # nothing there: nothing happens


def test_a_folder_of_the_planners_own_is_never_overwritten(demo, tmp_path, monkeypatch):
    scenario, problem = demo
    assign, _ = _moved_plan(problem, 0.6)

    def fail(*args, **kwargs):
        raise SolverError("no plan found", over_budget=assign)

    monkeypatch.setattr("territory_opt.pipeline.solve_problem", fail)
    side = over_budget_folder(tmp_path / "plan")
    side.mkdir()
    (side / "summary.json").write_text(json.dumps({"method": "my own hand-edited plan"}))
    with pytest.raises(SolverError) as err:
        run_scenario(scenario, tmp_path / "plan", maps=False, tiles=False)
    assert "was not written" in str(err.value) and "move it away" in str(err.value)
    assert json.loads((side / "summary.json").read_text()) == {"method": "my own hand-edited plan"}
    assert sorted(p.name for p in side.iterdir()) == ["summary.json"]


def test_a_failure_while_writing_it_never_hides_the_solves_answer(demo, tmp_path, monkeypatch):
    scenario, problem = demo
    assign, _ = _moved_plan(problem, 0.6)

    def fail(*args, **kwargs):
        raise InfeasibleError("the scenario is infeasible: budget too small", None, assign)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("territory_opt.pipeline.solve_problem", fail)
    monkeypatch.setattr("territory_opt.pipeline.write_plan", broken)
    with pytest.raises(InfeasibleError) as err:
        run_scenario(scenario, tmp_path / "plan", maps=False, tiles=False)
    assert "budget too small" in str(err.value) and "could not be written (disk on fire)" in str(err.value)
    monkeypatch.setattr("territory_opt.pipeline.evaluated_plan", broken, raising=False)
    monkeypatch.setattr("territory_opt.plan.evaluated_plan", broken)
    with pytest.raises(InfeasibleError) as err:
        run_scenario(scenario, tmp_path / "plan2", maps=False, tiles=False)
    message = str(err.value)
    assert "budget too small" in message and "could not be written (RuntimeError: disk on fire)" in message


def test_the_note_rounds_up_and_names_the_per_rep_limit_it_breaks(demo):
    scenario, problem = demo
    d = scenario.constraints.disruption  # 45 % budget, 80 % of any one rep's book
    assign, share = _moved_plan(problem, 0.6)  # whole books handed on: 100 % of some reps' books
    note = _over_budget_note(problem, assign, d)
    import math

    assert f"max_share to {math.ceil(1000 * share - 1e-9) / 10:.1f}%" in note
    assert "per-rep limit of 80%" in note and "per_rep_share to 100.0%" in note
    # within the budget but over the per-rep limit: only the per-rep setting is named
    light, small = _moved_plan(problem, 0.01)
    assert small < d.max_share
    note = _over_budget_note(problem, light, d)
    assert "max_share" not in note and "per_rep_share to 100.0%" in note
