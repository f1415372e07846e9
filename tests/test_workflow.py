"""A planner's realignment end to end (issue 14): owners by id or name, roster edits that
flow through every output (a leaver's accounts moved, no quota for a removed seat, open seats
with their skills, FTE and chosen location), Excel in and out, ``--set`` on every command,
``write_plan`` writing what ``solve`` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from territory_opt import (
    DataError,
    ScenarioError,
    load_inputs,
    problem_from_scenario,
    quotas_for_plan,
    run_scenario,
    scenario_from_dict,
    solve_scenario,
    write_plan,
)
from territory_opt.cli import app
from territory_opt.whatif import parse_rep

REPS = pd.DataFrame(
    {
        "Rep ID": ["R1", "R2", "R3", "R4"],
        "Rep Name": ["Ada Atlanta", "Sam Savannah", "Mae Macon", "Col Columbus"],
        "Latitude": [33.75, 32.08, 32.84, 32.46],
        "Longitude": [-84.39, -81.09, -83.63, -84.99],
        "Skills": ["", "Healthcare", "", ""],
    }
)


def crm_book(folder: Path, n: int = 48, seed: int = 4) -> tuple[Path, Path]:
    """A small CRM export around the four reps: owners by name (as CRMs export them, in any
    case and with stray spaces), a few healthcare accounts, last year's sales."""
    rng = np.random.default_rng(seed)
    home = rng.integers(0, 4, n)
    lat = REPS["Latitude"].to_numpy()[home] + rng.normal(0, 0.25, n)
    lon = REPS["Longitude"].to_numpy()[home] + rng.normal(0, 0.25, n)
    names = REPS["Rep Name"].to_numpy()[home]
    owner = [f"  {x.upper()} " if i % 5 == 0 else x for i, x in enumerate(names)]
    accounts = pd.DataFrame(
        {
            "Account ID": [f"A{i:03d}" for i in range(n)],
            "Account Name": [f"Account {i}" for i in range(n)],
            "Latitude": lat.round(4),
            "Longitude": lon.round(4),
            "Potential": rng.integers(50, 150, n) * 1000,
            "Sales LY": rng.integers(30, 90, n) * 1000,
            "Owner": owner,
            "Skills": ["HEALTHCARE" if i % 9 == 0 else "" for i in range(n)],
        }
    )
    accounts.loc[0, "Account Name"] = '=HYPERLINK("http://example.com","Acme")'
    a, r = folder / "accounts.csv", folder / "reps.csv"
    accounts.to_csv(a, index=False)
    REPS.to_csv(r, index=False)
    return a, r


def crm_scenario(folder: Path, **extra: object) -> dict:
    a, r = crm_book(folder)
    raw: dict = {
        "name": "crm",
        "data": {
            "accounts": {
                "path": str(a),
                "columns": {
                    "id": "Account ID",
                    "name": "Account Name",
                    "lat": "Latitude",
                    "lon": "Longitude",
                    "potential": "Potential",
                    "history": "Sales LY",
                    "owner": "Owner",
                    "skills": "Skills",
                },
            },
            "reps": {
                "path": str(r),
                "columns": {
                    "id": "Rep ID",
                    "name": "Rep Name",
                    "lat": "Latitude",
                    "lon": "Longitude",
                    "skills": "Skills",
                },
            },
        },
        "balance": {"potential": {"tolerance": 0.25}},
        "solver": {"time_limit": 2, "seed": 1, "deterministic": True},
        "quotas": {"target": 3_000_000, "alpha": 0.5, "unit": 1000},
    }
    raw.update(extra)
    return raw


# --------------------------------------------------------------------- owners by id or name


def test_owners_match_rep_names_in_any_case(tmp_path):
    inputs = load_inputs(scenario_from_dict(crm_scenario(tmp_path)))
    assert set(inputs.units["owner"]) == {"R1", "R2", "R3", "R4"}
    # skills match ignoring case: HEALTHCARE accounts, a Healthcare rep
    problem, _ = problem_from_scenario(scenario_from_dict(crm_scenario(tmp_path)))
    assert problem.skill_names == ("healthcare",)
    assert problem.eligible(np.array([0]), np.array([1]))[0]  # A000 needs healthcare, R2 has it


def test_owner_id_wins_over_a_name(tmp_path):
    raw = crm_scenario(tmp_path)
    frame = pd.read_csv(raw["data"]["accounts"]["path"])
    frame.loc[1, "Owner"] = "R3"
    frame.to_csv(raw["data"]["accounts"]["path"], index=False)
    reps = pd.concat([REPS, REPS.iloc[[0]].assign(**{"Rep ID": "R5", "Rep Name": "R3"})])  # named like R3's id
    reps.to_csv(raw["data"]["reps"]["path"], index=False)
    inputs = load_inputs(scenario_from_dict(raw))
    assert inputs.units.loc[inputs.units["id"] == "A001", "owner"].item() == "R3"


def test_a_name_two_reps_share_is_an_error_naming_both(tmp_path):
    raw = crm_scenario(tmp_path)
    reps = REPS.copy()
    reps.loc[3, "Rep Name"] = "ada atlanta "
    reps.to_csv(raw["data"]["reps"]["path"], index=False)
    frame = pd.read_csv(raw["data"]["accounts"]["path"])
    rows = int((frame["Owner"] == "Ada Atlanta").sum())
    message = (
        f"accounts.csv, row {2 + int(np.flatnonzero(frame['Owner'] == 'Ada Atlanta')[0])}, column 'Owner': "
        f"current owner 'Ada Atlanta' ({rows} row(s)) matches 2 reps by name: R1 (Ada Atlanta) and R4 (ada atlanta); "
        "give the rep id in this column, or make the roster's names unique"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        load_inputs(scenario_from_dict(raw))


def test_unknown_owners_are_summarised_once_per_value(tmp_path):
    raw = crm_scenario(tmp_path)
    frame = pd.read_csv(raw["data"]["accounts"]["path"])
    frame.loc[3:32, "Owner"] = "Jane Doe"  # 30 rows: a rep missing from the roster
    frame.loc[40, "Owner"] = "Bob"
    frame.to_csv(raw["data"]["accounts"]["path"], index=False)
    with pytest.raises(DataError) as caught:
        load_inputs(scenario_from_dict(raw))
    problems = caught.value.problems
    assert [str(p) for p in problems] == [
        "accounts.csv, row 5, column 'Owner': current owner 'Jane Doe' is not a rep in the roster "
        "(30 rows, the first here); reps match by id, then by name: fix the id or name, or add the rep (a rep who has left: keep them in the roster and remove them with --remove-rep or edits.remove_reps, so their accounts move)",
        "accounts.csv, row 42, column 'Owner': current owner 'Bob' is not a rep in the roster (1 row); "
        "reps match by id, then by name: fix the id or name, or add the rep (a rep who has left: keep them in the roster and remove them with --remove-rep or edits.remove_reps, so their accounts move)",
    ]


# ---------------------------------------------------------------- roster edits in every output


@pytest.fixture(scope="module")
def realigned(tmp_path_factory):
    """R3 leaves, V1 (an open seat, healthcare-certified, 0.5 FTE) and V2 (no skills) join."""
    folder = tmp_path_factory.mktemp("realign")
    raw = crm_scenario(
        folder,
        edits={
            "remove_reps": ["R3"],
            "add_reps": [parse_rep("V1,0.5,skills=HealthCare"), parse_rep("V2")],
        },
    )
    plan, quotas, _written = run_scenario(scenario_from_dict(raw), folder / "out", tiles=False)
    return raw, plan, quotas, folder / "out"


def test_a_leavers_accounts_are_moved_with_the_leaver_as_previous_owner(realigned):
    raw, _plan, _, out = realigned
    book = pd.read_csv(raw["data"]["accounts"]["path"])
    leaver = book.loc[book["Owner"].str.strip().str.casefold() == "mae macon", "Account ID"]
    assert len(leaver) > 5
    assignments = pd.read_csv(out / "assignments.csv", keep_default_na=False)
    mine = assignments[assignments["unit_id"].isin(leaver)]
    assert (mine["previous_territory_id"] == "R3").all()
    assert mine["moved"].all()
    assert "R3" not in set(assignments["territory_id"])
    changes = pd.read_csv(out / "changes.csv", keep_default_na=False)
    gone = changes[changes["from_territory"] == "R3"]
    assert set(gone["unit_id"]) == set(leaver)
    assert (gone["from_name"] == "Mae Macon").all()
    assert len(changes) == int(assignments["moved"].sum())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units_moved"] == len(changes)
    assert summary["scenario_record"]["edits"]["remove_reps"] == ["R3"]


def test_no_quota_for_a_removed_seat_even_when_set_later(realigned, tmp_path):
    raw, _plan, quotas, out = realigned
    assert "R3" not in set(quotas.table["territory_id"])
    # quotas for the plan folder from the scenario *without* the edits: the folder's record wins
    base = {k: v for k, v in raw.items() if k != "edits"}
    _result, path = quotas_for_plan(scenario_from_dict(base), out, tmp_path)
    table = pd.read_csv(path)
    assert set(table["territory_id"]) == {"R1", "R2", "R4", "V1", "V2"}
    assert table["quota"].sum() == 3_000_000
    roster = pd.read_csv(out / "roster.csv", keep_default_na=False)
    assert roster.set_index("rep_id").loc["R3", "kind"] == "removed"
    assert roster.set_index("rep_id").loc["V1", "kind"] == "open seat"


def test_open_seats_hold_only_their_skills_and_fte_and_show_their_location(realigned):
    _, plan, _, out = realigned
    p = plan.problem
    seat = {s: i for i, s in enumerate(p.seat_ids)}
    healthcare = 1 << p.skill_names.index("healthcare")
    assert p.seat_skills[seat["V1"]] & healthcare
    assert not p.seat_skills[seat["V2"]] & healthcare  # no skills given: none held
    assert p.seat_capacity[seat["V1"]] == 0.5
    needs = (p.unit_skills & healthcare) != 0
    assert not np.any(needs & (plan.seat_of == seat["V2"]))
    assert plan.ok
    territories = pd.read_csv(out / "territories.csv").set_index("territory_id")
    for open_seat in ("V1", "V2"):
        row = territories.loc[open_seat]
        assert row["location"] == "chosen centre"
        centre = plan.centres[seat[open_seat]]
        assert (row["lat"], row["lon"]) == pytest.approx(tuple(p.unit_lonlat[centre][::-1]))
    assert territories.loc["R1", "location"] == "home base"
    assert territories.loc["R1", "lat"] == pytest.approx(33.75)


def test_the_audit_checks_an_open_seats_skills(realigned):
    from territory_opt.audit import Rules, audit

    _, plan, _, _ = realigned
    p = plan.problem
    needs = np.flatnonzero(p.unit_skills != 0)
    v2 = list(p.seat_ids).index("V2")
    broken = plan.seat_of.copy()
    broken[needs[0]] = v2
    rules = Rules(tolerance={}, targets=np.zeros((p.n_seats, 1)), exempt=np.zeros(p.n_seats, bool), capacity={})
    skills = next(f for f in audit(p, broken, rules) if f.check == "skills")
    assert not skills.ok


@pytest.mark.parametrize(
    ("text", "rep"),
    [
        ("V1", {"id": "V1"}),
        ("V1,skills=a|B", {"id": "V1", "skills": ["a", "B"]}),
        ("V1,0.5", {"id": "V1", "capacity": 0.5}),
        ("R9@33.7,-84.4", {"id": "R9", "lat": 33.7, "lon": -84.4}),
        (
            "R9@33.7,-84.4,0.8,skills=healthcare",
            {"id": "R9", "lat": 33.7, "lon": -84.4, "capacity": 0.8, "skills": ["healthcare"]},
        ),
    ],
)
def test_add_rep_syntax(text, rep):
    assert parse_rep(text) == rep


def test_add_rep_syntax_errors_say_how():
    with pytest.raises(
        ScenarioError,
        match=re.escape("'R9@33.7': write ID@LAT,LON[,FTE][,skills=A|B] or, for an open seat, ID[,FTE][,skills=A|B]"),
    ):
        parse_rep("R9@33.7")
    with pytest.raises(ScenarioError, match="write ID@LAT,LON"):
        parse_rep("V1,fte=2")


# ------------------------------------------------------------------------------ Excel


def test_excel_accounts_with_a_chosen_sheet(tmp_path):
    raw = crm_scenario(tmp_path)
    book = pd.read_csv(raw["data"]["accounts"]["path"]).astype({"Latitude": object})
    book.loc[5, "Latitude"] = "north"
    path = tmp_path / "crm.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="Cover", index=False)
        book.to_excel(writer, sheet_name="Accounts", index=False)
    raw["data"]["accounts"] = {**raw["data"]["accounts"], "path": str(path), "sheet": "Accounts"}
    with pytest.raises(DataError, match=re.escape("crm.xlsx, row 7, column 'Latitude': coordinate is 'north'")):
        load_inputs(scenario_from_dict(raw))
    book.loc[5, "Latitude"] = 32.5
    with pd.ExcelWriter(path) as writer:
        book.to_excel(writer, sheet_name="Accounts", index=False)
    inputs = load_inputs(scenario_from_dict(raw))
    assert len(inputs.units) == len(book)
    assert inputs.units["potential"].sum() == book["Potential"].sum()
    raw["data"]["accounts"]["sheet"] = "Leads"
    with pytest.raises(DataError, match=re.escape("crm.xlsx: no sheet named 'Leads'; its sheets are: ['Accounts']")):
        load_inputs(scenario_from_dict(raw))


def test_plan_xlsx_has_a_sheet_per_table_with_formats_and_no_live_formulas(realigned):
    _, plan, _, out = realigned
    book = openpyxl.load_workbook(out / "plan.xlsx")
    assert book.sheetnames == ["assignments", "territories", "quotas", "changes"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
    quotas = book["quotas"]
    header = [c.value for c in quotas[1]]
    cell = quotas.cell(row=2, column=header.index("quota") + 1)
    assert cell.number_format == '"$"#,##0' and isinstance(cell.value, int | float)
    ratio = quotas.cell(row=2, column=header.index("quota_per_potential") + 1)
    assert ratio.number_format == "0.000"
    territories = book["territories"]
    header = [c.value for c in territories[1]]
    assert territories.cell(row=2, column=header.index("potential_dev_pct") + 1).number_format == '0.0"%"'
    assert territories.cell(row=2, column=header.index("lat") + 1).number_format == "0.00000"
    changes = book["changes"]
    header = [c.value for c in changes[1]]
    names = [changes.cell(row=r, column=header.index("unit_name") + 1).value for r in range(2, changes.max_row + 1)]
    assert all(not str(v).startswith("=") for v in names)
    assignments = pd.read_excel(out / "plan.xlsx", sheet_name="assignments", keep_default_na=False)
    assert len(assignments) == plan.problem.n_units


# ------------------------------------------------------------------- small promises kept


def test_set_on_validate_and_quotas(realigned, tmp_path):
    raw, _, _, out = realigned
    path = tmp_path / "crm.yaml"
    import yaml

    path.write_text(yaml.safe_dump({k: v for k, v in raw.items() if k != "edits"}))
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(path), "--set", "balance.potential.tolerance=0.3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(path), "--set", "balance.potential.tolerance=3"])
    assert result.exit_code == 2
    assert "crm with balance.potential.tolerance=3: balance.potential.tolerance: must be in (0, 1], got 3.0" in (
        " ".join(result.output.split())
    )
    result = runner.invoke(
        app, ["quotas", str(path), "--plan", str(out), "--out", str(tmp_path / "q"), "--set", "quotas.target=4000000"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "q" / "quotas.csv")
    assert table["quota"].sum() == 4_000_000 and "R3" not in set(table["territory_id"])


def test_write_plan_writes_what_solve_writes(realigned, tmp_path):
    _, plan, _, out = realigned  # the plan solve_scenario returns, as run_scenario made it
    written = write_plan(plan, tmp_path / "api", tiles=False)
    assert {p.name for p in written.values()} | {"quotas.csv"} == {p.name for p in out.iterdir()}


# ------------------------------------------------------- own accounts on the built-in counties

SAMPLE = Path(__file__).parents[1] / "scenarios" / "data" / "midwest-accounts.csv"


def county_scenario(accounts: Path, **extra: object) -> dict:
    raw: dict = {
        "name": "counties",
        "data": {
            "dataset": "us-counties",
            "states": ["OH", "IN", "MI"],
            "accounts": {
                "path": str(accounts),
                "columns": {
                    "id": "Account ID",
                    "lat": "Latitude",
                    "lon": "Longitude",
                    "revenue": "Annual Potential",
                    "owner": "Account Owner",
                },
            },
            "reps": {
                "path": str(SAMPLE.with_name("midwest-reps.csv")),
                "columns": {"id": "Rep ID", "name": "Rep Name", "lat": "Home Latitude", "lon": "Home Longitude"},
            },
            "units": "geography",
        },
        "balance": {"revenue": {"tolerance": 0.2}},
    }
    raw["data"].update(extra)
    return raw


def test_own_accounts_are_summed_into_the_built_in_counties(tmp_path):
    book = pd.read_csv(SAMPLE, dtype=str)
    inputs = load_inputs(scenario_from_dict(county_scenario(SAMPLE)))
    assert inputs.unit_kind == "geography" and len(inputs.units) == 263
    # the measure is named by the accounts file, not by the dataset
    assert inputs.units["revenue"].sum() == pytest.approx(book["Annual Potential"].astype(float).sum())
    assert inputs.accounts is not None and (inputs.accounts["unit"] != "").all()
    assert set(inputs.units["owner"]) - {""} <= {f"U100{i}" for i in range(1, 9)}
    note = next(n for n in inputs.notes if "just outside" in n)
    assert note.startswith("3 account(s) just outside the unit polygons") and "data.snap_km = 25" in note


def test_accounts_far_outside_are_listed_with_rows(tmp_path):
    book = pd.read_csv(SAMPLE, dtype=str).head(20)
    extra = book.iloc[:2].copy()
    extra["Account ID"] = ["CHICAGO", "LAKE"]
    extra["Latitude"] = ["41.8781", "43.0"]
    extra["Longitude"] = ["-87.6298", "-87.0"]
    path = tmp_path / "accounts.csv"
    pd.concat([book, extra]).to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        load_inputs(scenario_from_dict(county_scenario(path)))
    lines = [str(p) for p in caught.value.problems]
    assert lines[0] == (
        "accounts.csv, row 22, column 'Latitude': account 'CHICAGO' lies in Cook (IL), a county outside "
        "data.states; add its state to data.states, or check its coordinates"
    )
    assert re.fullmatch(
        r"accounts\.csv, row 23, column 'Latitude': account 'LAKE' at \(43\.0000, -87\.0000\) lies in no unit and "
        r"is \d+ km from the nearest \(\w+\), beyond data\.snap_km = 25 km; check its coordinates \(or add its "
        r"state to data\.states, or raise data\.snap_km\)",
        lines[1],
    )
    assert len(lines) == 2
    # a wider snapping distance takes the lake account too
    inputs = load_inputs(scenario_from_dict(county_scenario(path, snap_km=200, states=["OH", "IN", "MI", "IL"])))
    assert (inputs.accounts["unit"] != "").all()


def test_a_part_of_the_map_without_a_rep_is_explained(tmp_path):
    from territory_opt import InfeasibleError

    raw = {
        "name": "up",
        "data": {
            "dataset": "us-counties",
            "states": ["MI"],
            "synthetic": {"accounts": 300, "reps": 4, "seed": 5, "skill_share": 0.0},
            "units": "geography",
        },
        "balance": {"potential": {"tolerance": 0.3}},
        "constraints": {"contiguity": True},
        "solver": {"time_limit": 2, "deterministic": True},
    }
    scenario = scenario_from_dict(raw)
    # the Upper Peninsula holds about 3 % of Michigan's potential, below one territory's band
    # (4 reps at ±30 %), whatever the roster: a proved conflict, explained before solving
    with pytest.raises(InfeasibleError) as caught:
        solve_scenario(scenario)
    text = " ".join(str(caught.value).split())
    assert re.search(
        r"a part of the map with 15 unit\(s\) \(Alger, Baraga, Chippewa, Delta, Dickinson, Gogebic and 9 more\) "
        r"touches no other part and holds [0-9.]+% of potential: no whole number of contiguous territories fits it "
        r"within ±30% \(2 separate parts\): add the neighbouring area",
        text,
    ), text
    linked = scenario_from_dict({**raw, "constraints": {"contiguity": {"enabled": True, "islands": "link"}}})
    assert solve_scenario(linked).ok


def test_todays_alignment_as_a_plan(tmp_path):
    from territory_opt.whatif import compare_plans, current_plan

    raw = crm_scenario(tmp_path)
    today = current_plan(scenario_from_dict(raw))
    book = pd.read_csv(raw["data"]["accounts"]["path"])
    owners = (
        book["Owner"]
        .str.strip()
        .str.casefold()
        .map(dict(zip(REPS["Rep Name"].str.casefold(), REPS["Rep ID"], strict=True)))
    )
    assert list(today.assignment["territory_id"]) == list(owners)
    assert not today.assignment["moved"].any() and today.bound is None
    table = today.territories.set_index("territory_id")
    assert table.loc["R1", "potential"] == book.loc[owners == "R1", "Potential"].sum()
    assert {f.check for f in today.findings} >= {"assignment", "skills", "balance:potential"}
    plan = solve_scenario(scenario_from_dict(raw))
    moved = compare_plans(today, plan, tiles=False)["moved"]
    assert set(moved["unit_id"]) == set(plan.changes["unit_id"])
    with pytest.raises(ScenarioError, match=r"crm: 1\d unit\(s\) have no current owner on the roster"):
        current_plan(scenario_from_dict({**raw, "edits": {"remove_reps": ["R3"]}}))


def test_vacancies_say_which_skills_they_hold(tmp_path):
    raw = crm_scenario(tmp_path, seats={"vacancies": 1})
    inputs = load_inputs(scenario_from_dict(raw))
    assert inputs.reps.set_index("id").loc["V001", "skills"] == {"healthcare"}
    assert (
        "the 1 open seat(s) of seats.vacancies hold every skill of the roster (healthcare); set seats.vacancy_skills to choose"
        in inputs.notes
    )
    inputs = load_inputs(scenario_from_dict({**raw, "seats": {"vacancies": 1, "vacancy_skills": []}}))
    assert inputs.reps.set_index("id").loc["V001", "skills"] == frozenset()


def test_a_leaver_may_be_named_by_name(tmp_path):
    raw = crm_scenario(
        tmp_path, edits={"remove_reps": [" mae macon"], "move_reps": [{"id": "Ada Atlanta", "lat": 34.0, "lon": -84.0}]}
    )
    inputs = load_inputs(scenario_from_dict(raw))
    assert "R3" not in set(inputs.reps["id"]) and list(inputs.removed["id"]) == ["R3"]
    assert inputs.reps.set_index("id").loc["R1", "lat"] == 34.0
    assert (inputs.units["previous_owner"] == "R3").sum() > 0


def test_cli_from_an_excel_export_to_a_change_list(tmp_path):
    """One workbook, two sheets; the leaver named by name, an open seat with a skill."""
    import yaml

    raw = crm_scenario(tmp_path)
    workbook = tmp_path / "crm.xlsx"
    with pd.ExcelWriter(workbook) as writer:
        pd.read_csv(raw["data"]["accounts"]["path"]).to_excel(writer, sheet_name="Accounts", index=False)
        REPS.to_excel(writer, sheet_name="Roster", index=False)
    raw["data"]["accounts"] |= {"path": "crm.xlsx", "sheet": "Accounts"}
    raw["data"]["reps"] |= {"path": "crm.xlsx", "sheet": "Roster"}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "solve",
            str(path),
            "--out",
            str(out),
            "--no-tiles",
            "--remove-rep",
            "Mae Macon",
            "--add-rep",
            "V1,skills=healthcare",
        ],
    )
    assert result.exit_code == 0, result.output
    changes = pd.read_excel(out / "plan.xlsx", sheet_name="changes", dtype=str)
    assert (
        (changes["from_name"] == "Mae Macon").sum()
        == (pd.read_csv(out / "assignments.csv")["previous_territory_id"] == "R3").sum()
        > 0
    )
    assert "V1" in set(pd.read_excel(out / "plan.xlsx", sheet_name="quotas")["territory_id"])
