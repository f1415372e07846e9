"""Hostile CRM data II (issue 13): each case is a small mutation of the valid export in
tests/data with its pinned message (file, row, column, fix), or the documented reading.
Classes: row structure, headers, encodings, number formats, magnitudes, implausible
locations, mapped columns, the roster, special files; then the command line and the
Python API (Problem.from_arrays) with the same promise: a message, never a traceback."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from territory_opt import DataError, Problem, ScenarioError, load_inputs, scenario_from_dict
from territory_opt.cli import app

from .conftest import DATA, accounts_scenario
from .test_corpus import check_accounts_case

VALID = (DATA / "accounts.csv").read_text(encoding="utf-8")
HEADER, *ROWS = VALID.strip("\n").split("\n")
REPS = (DATA / "reps.csv").read_text(encoding="utf-8")


def _text(header: str = HEADER, rows: list[str] | None = None, sep: str = ",") -> str:
    lines = [header, *(ROWS if rows is None else rows)]
    return "\n".join(line.replace(",", sep) if sep != "," else line for line in lines) + "\n"


def _cell(i: int, column: int, value: str, text: str = VALID, sep: str = ",") -> str:
    """``text`` with one cell replaced (data row i, 0-based; column index)."""
    head, *rows = text.strip("\n").split("\n")
    cells = [r.split(sep) for r in rows]
    cells[i][column] = value
    return "\n".join([head, *(sep.join(r) for r in cells)]) + "\n"


def _column(column: int, values: list[str], text: str = VALID, sep: str = ",") -> str:
    for i, value in enumerate(values):
        text = _cell(i, column, value, text, sep)
    return text


SEMI = VALID.replace(",", ";")
POTENTIAL, LAT, LON = 4, 2, 3

# (id, accounts file bytes, expected): ("error", message) or ("ok", check(inputs))
CASES: list[tuple[str, bytes, tuple[str, object]]] = [
    # --- row structure
    (
        "unquoted-comma-first-row",
        _cell(0, 1, "Acme, Corp").encode(),
        (
            "error",
            "corpus.csv, row 2: 11 values but the header has 10 columns: a value holds an unquoted ',' (quote it, e.g. \"Acme, Inc\")",
        ),
    ),
    (
        "unquoted-comma-later-row",
        _cell(3, 1, "Delta, Co").encode(),
        ("error", "corpus.csv, row 5: 11 values but the header has 10 columns"),
    ),
    (
        "trailing-separator-first-row",
        (_text(rows=[ROWS[0] + ",", *ROWS[1:]])).encode(),
        ("error", "corpus.csv, row 2: 11 values"),
    ),
    (
        "unquoted-semicolon",
        _cell(1, 1, "Beta;LLC", SEMI, ";").encode(),
        ("error", "row 3: 11 values but the header has 10 columns: a value holds an unquoted ';'"),
    ),
    (
        "quoted-comma-is-fine",
        _cell(0, 1, '"Acme, Corp"').encode(),
        ("ok", lambda i: i.units["name"][0] == "Acme, Corp"),
    ),
    ("unterminated-quote", _cell(2, 1, '"Gamma Inc').encode(), ("error", "corpus.csv: cannot read the file")),
    # --- headers
    (
        "header-repeated",
        _text(header=HEADER.replace("Workload Hours", "Annual Potential")).encode(),
        (
            "error",
            "corpus.csv, column 'Annual Potential': columns 5 and 6 are both named 'Annual Potential' (after trimming spaces); rename or delete one",
        ),
    ),
    (
        "header-repeated-after-stripping",
        _text(header=HEADER.replace("Workload Hours", " Annual Potential ")).encode(),
        ("error", "columns 5 and 6 are both named 'Annual Potential' (after trimming spaces)"),
    ),
    (
        "header-repeated-unused-column",
        _text(header=HEADER.replace("Skills", "Parent")).encode(),
        ("error", "columns 9 and 10 are both named 'Parent'"),
    ),
    (
        "two-exports-joined",
        _text(rows=[*ROWS[:3], HEADER, *ROWS[3:]]).encode(),
        ("error", "corpus.csv, row 5: row(s) 5 repeat the header (two exports joined into one file?); delete them"),
    ),
    # --- encodings
    (
        "mixed-utf8-and-cp1252",
        _cell(0, 1, "Caf\u00e9 M\u00fcller").encode("utf-8").replace(b"Beta LLC", "B\u00e9ta LLC".encode("cp1252")),
        (
            "error",
            "corpus.csv, row 3: mixed text encodings: byte 0xE9 (byte 5 of the row) is not UTF-8, while the rest of the file is UTF-8; re-save the file as UTF-8",
        ),
    ),
    (
        "utf8-accents",
        _cell(0, 1, "Caf\u00e9 M\u00fcller").encode("utf-8"),
        ("ok", lambda i: i.units["name"][0] == "Caf\u00e9 M\u00fcller"),
    ),
    ("utf16-le-bom", b"\xff\xfe" + VALID.encode("utf-16-le"), ("ok", lambda i: len(i.units) == 6)),
    # --- number formats (per column)
    (
        "german-thousands-ambiguous",
        _column(POTENTIAL, ["120.000", "80.000", "95.000", "60.000", "70.000", "100.000"], SEMI, ";").encode(),
        (
            "error",
            "row 2, column 'Annual Potential': '120.000' could be 120.000 or 120000 (is '.' a decimal mark or a thousands separator?), and no cell of the column tells (6 such cells); set decimal: '.' or ','",
        ),
    ),
    (
        "german-thousands-told-by-another-cell",
        _column(POTENTIAL, ["120.000", "80.000", "95.000", "60.000", "70.000", "1.000,5"], SEMI, ";").encode(),
        ("ok", lambda i: list(i.units["potential"]) == [120000, 80000, 95000, 60000, 70000, 1000.5]),
    ),
    (
        "decimal-comma",
        _cell(0, POTENTIAL, "1200,5", SEMI, ";").encode(),
        ("ok", lambda i: i.units["potential"][0] == 1200.5),
    ),
    (
        "decimal-comma-in-coordinates",
        _cell(0, LAT, "33,749", SEMI, ";").encode(),
        ("ok", lambda i: i.units["lat"][0] == 33.749),
    ),
    (
        "both-decimal-marks-in-one-column",
        _column(POTENTIAL, ["1.234,5", "1,234.5"], SEMI, ";").encode(),
        (
            "error",
            "1 problem in the input data:\n  - corpus.csv, row 2, column 'Annual Potential': numbers use both decimal marks: '1,234.5' (row 3) has a decimal point, '1.234,5' a decimal comma; make the column consistent",
        ),
    ),
    (
        "french-spaced-thousands",
        _cell(0, POTENTIAL, "120\u00a0000,5", SEMI, ";").encode(),
        ("ok", lambda i: i.units["potential"][0] == 120_000.5),
    ),
    (
        "swiss-apostrophe-thousands",
        _cell(0, POTENTIAL, "1'200'000").encode(),
        ("ok", lambda i: i.units["potential"][0] == 1_200_000),
    ),
    (
        "currency-sign-behind",
        _cell(0, POTENTIAL, "120000 \u20ac").encode(),
        ("ok", lambda i: i.units["potential"][0] == 120_000),
    ),
    (
        "digits-split-by-a-space",
        _cell(0, POTENTIAL, "12 5").encode(),
        ("error", "row 2, column 'Annual Potential': not a number: '12 5'"),
    ),
    (
        "english-thousands-quoted",
        _cell(0, POTENTIAL, '"120,000"').encode(),
        ("ok", lambda i: i.units["potential"][0] == 120_000),
    ),
    (
        "english-decimals-three-places",
        _cell(0, POTENTIAL, "120.500").encode(),
        ("ok", lambda i: i.units["potential"][0] == 120.5),
    ),
    # --- magnitudes
    (
        "1e308",
        _cell(0, POTENTIAL, "1e308").encode(),
        (
            "error",
            "row 2, column 'Annual Potential': value 1e+308 is implausibly large (above 1e+15); check the cell and its unit",
        ),
    ),
    (
        "1e16",
        _cell(1, POTENTIAL, "1e16").encode(),
        ("error", "row 3, column 'Annual Potential': value 1e+16 is implausibly large"),
    ),
    (
        "1e400-overflows-to-infinity",
        _cell(1, POTENTIAL, "1e400").encode(),
        ("error", "row 3, column 'Annual Potential': infinite value"),
    ),
    ("negative-zero", _cell(1, POTENTIAL, "-0").encode(), ("ok", lambda i: i.units["potential"][1] == 0)),
    # --- implausible locations
    (
        "null-island",
        _cell(2, LON, "0", _cell(2, LAT, "0")).encode(),
        (
            "error",
            "row 4, column 'Latitude': location 0, 0 ('null island', in the Gulf of Guinea): a missing location exported as zeros? Fix the row, or accept it knowingly with --allow-outliers",
        ),
    ),
    (
        "latitude-longitude-swapped-row",
        _cell(2, LON, "32.08", _cell(2, LAT, "-81.09")).encode(),
        ("error", "row 4, column 'Latitude': location -81.09, 32.08 lies"),
    ),
    (
        "swapped-row-says-so",
        _cell(2, LON, "32.08", _cell(2, LAT, "-81.09")).encode(),
        ("error", "Latitude and longitude swapped? Check the row"),
    ),
    (
        "antarctica",
        _cell(3, LON, "166.67", _cell(3, LAT, "-77.85")).encode(),
        ("error", "row 5, column 'Latitude': location -77.85, 166.67 lies"),
    ),
    (
        "wrong-sign-longitude",
        _cell(3, LON, "84.16").encode(),
        ("error", "row 5, column 'Latitude': location 31.58, 84.16 lies"),
    ),
    ("near-neighbour-is-fine", _cell(3, LON, "-86.16").encode(), ("ok", lambda i: i.units["lon"][3] == -86.16)),
    # --- mapped columns
    (
        "mapped-column-misnamed",
        _text(header=HEADER.replace("Skills", "Skill")).encode(),
        (
            "error",
            "corpus.csv: column 'Skills' is mapped as 'skills' in the scenario, but the file has no such column; the file has: Account ID",
        ),
    ),
    (
        "mapped-lock-column-missing",
        _text(header=HEADER.replace("Lock", "Locked")).encode(),
        ("error", "column 'Lock' is mapped as 'lock' in the scenario"),
    ),
]


@pytest.mark.parametrize(("case", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_accounts(tmp_path: Path, case: str, data: bytes, expected: tuple[str, object]) -> None:
    check_accounts_case(tmp_path, case, data, expected)


def test_decimal_key_reads_an_ambiguous_column(tmp_path):
    path = tmp_path / "de.csv"
    path.write_text(_column(POTENTIAL, ["120.000", "80.000", "95.000", "60.000", "70.000", "100.000"], SEMI, ";"))
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(path)
    raw["data"]["accounts"]["decimal"] = ","
    assert load_inputs(scenario_from_dict(raw)).units["potential"].sum() == 525_000


def test_outliers_accepted_knowingly_become_a_note(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(_cell(2, LON, "0", _cell(2, LAT, "0")))
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(path)
    raw["data"]["allow_outliers"] = True
    notes = load_inputs(scenario_from_dict(raw)).notes
    assert any(
        n.startswith("1 implausible location(s) accepted knowingly (allow_outliers): x.csv, row 4") for n in notes
    )


# --- the roster: (id, reps file text, expected message or None for a valid reading)
def _rep(column: int, value: str, row: int = 0) -> str:
    return _cell(row, column, value, REPS)


ROSTER = [
    (
        "rep-zero-fte",
        _rep(5, "0"),
        "reps.csv, row 2, column 'FTE': FTE 0; every rep needs a positive FTE (0.5 for half time)",
    ),
    ("rep-negative-fte", _rep(5, "-0.5"), "reps.csv, row 2, column 'FTE': negative value -0.5"),
    ("rep-fte-text", _rep(5, "full"), "reps.csv, row 2, column 'FTE': not a number: 'full'"),
    ("rep-fte-blank-is-full-time", _rep(5, ""), None),
    (
        "rep-longitude-misnamed",
        REPS.replace("Longitude", "Lng", 1),
        "reps.csv: column 'Longitude' is mapped as 'lon' in the scenario, but the file has no such column",
    ),
    (
        "rep-file-swapped",
        "Rep ID,Rep Name,Latitude,Longitude,Skills,FTE\nR1,Ada,-84.388,33.749,,1.0\nR2,Sam,-81.09,32.08,healthcare,1.0\n",
        "reps.csv, column 'Latitude': its locations lie about",
    ),
    ("rep-duplicate-after-trim", REPS.strip("\n") + "\n R1 ,Other,33.7,-84.3,,1.0\n", "duplicate id 'R1'"),
    (
        "rep-home-null-island",
        _cell(1, 3, "0", _cell(1, 2, "0", REPS)),
        "reps.csv, row 3, column 'Latitude': location 0, 0",
    ),
]


@pytest.mark.parametrize(("case", "reps", "message"), ROSTER, ids=[c[0] for c in ROSTER])
def test_hostile_roster(tmp_path: Path, case: str, reps: str, message: str | None) -> None:
    path = tmp_path / "reps.csv"
    path.write_text(reps, encoding="utf-8")
    raw = accounts_scenario()
    raw["data"]["reps"]["path"] = str(path)
    if message is None:
        inputs = load_inputs(scenario_from_dict(raw))
        assert list(inputs.reps["capacity"]) == [1.0, 1.0]
        return
    with pytest.raises(DataError, match=re.escape(message)):
        load_inputs(scenario_from_dict(raw))


def test_roster_with_latitude_but_no_longitude(tmp_path):
    (tmp_path / "reps.csv").write_text("id,lat\nR1,33.7\nR2,32.1\n")
    raw = accounts_scenario()
    raw["data"]["reps"] = {"path": str(tmp_path / "reps.csv")}
    with pytest.raises(
        DataError,
        match=re.escape(
            "reps.csv: has column 'lat' but no 'lon': give both, or map the other one in the scenario under columns.lon"
        ),
    ):
        load_inputs(scenario_from_dict(raw))


# --- special files
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "accounts.csv"
    os.mkfifo(fifo)
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(fifo)
    with pytest.raises(
        DataError,
        match=re.escape("is a FIFO (named pipe), not a regular file; save the data to a file and give its path"),
    ):
        load_inputs(scenario_from_dict(raw))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/null", "is a device, not a regular file"),
        ("/dev/zero", "is a device, not a regular file"),
        ("FOLDER", "is a folder, not a file"),
    ],
)
def test_devices_and_folders_are_refused(tmp_path, path, message):
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(tmp_path) if path == "FOLDER" else path
    if path != "FOLDER" and not Path(path).exists():
        pytest.skip(f"{path} absent")
    with pytest.raises(DataError, match=re.escape(message)):
        load_inputs(scenario_from_dict(raw))


# --- the command line: a message and an exit code, never a traceback
def _scenario_file(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(accounts_scenario(solver={"time_limit": 5}, **extra)))
    return path


def _cli(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, terminal_width=400)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, " ".join(result.output.split())


CLI = [
    (
        "time-limit-zero",
        ["solve", "S", "--time-limit", "0"],
        2,
        "--time-limit: the time limit must be a positive, finite number of seconds, got 0.0",
    ),
    ("time-limit-negative", ["solve", "S", "--time-limit", "-5"], 2, "got -5.0"),
    ("time-limit-nan", ["solve", "S", "--time-limit", "nan"], 2, "got nan"),
    ("time-limit-inf", ["solve", "S", "--time-limit", "inf"], 2, "got inf"),
    (
        "set-unparsable-value",
        ["solve", "S", "--set", "balance.potential.tolerance=[1,"],
        2,
        "'[1,' is not a value (read as YAML",
    ),
    ("set-empty-key", ["solve", "S", "--set", "=3"], 2, "'=3': '' is not a scenario key"),
    (
        "set-double-dot",
        ["solve", "S", "--set", "balance..tolerance=0.1"],
        2,
        "'balance..tolerance' is not a scenario key",
    ),
    ("set-no-equals", ["solve", "S", "--set", "balance.potential.tolerance"], 2, "write key=value"),
    ("set-unknown-key", ["solve", "S", "--set", "balanse.x=1"], 2, "balanse: unknown key"),
    ("set-time-limit-nan", ["solve", "S", "--set", "solver.time_limit=.nan"], 2, "solver.time_limit"),
    (
        "size-reversed-range",
        ["size", "S", "--reps", "5..2"],
        2,
        "--reps '5..2': write FROM..TO, FROM..TO:STEP (FROM <= TO, STEP >= 1)",
    ),
    ("size-zero-headcount", ["size", "S", "--reps", "0..3"], 2, "every headcount must be at least 1"),
    ("size-zero-step", ["size", "S", "--reps", "2..4:0"], 2, "--reps '2..4:0': write FROM..TO"),
    ("size-words", ["size", "S", "--reps", "a..b"], 2, "--reps 'a..b': write FROM..TO"),
    ("size-huge-range", ["size", "S", "--reps", "1..100000"], 2, "is too many for one sizing run"),
    (
        "out-is-a-file",
        ["solve", "S", "--out", "FILE"],
        7,
        "is a file, not a folder; give a folder for the outputs with --out",
    ),
    ("out-below-a-file", ["solve", "S", "--out", "FILE/sub"], 7, "cannot be created"),
    ("out-holds-the-input", ["solve", "S", "--out", "DATA"], 7, "the output folder holds an input file of this run"),
    ("validate-missing-scenario", ["validate", "NOPE"], 2, "scenario file not found"),
]


@pytest.mark.parametrize(("case", "args", "code", "message"), CLI, ids=[c[0] for c in CLI])
def test_bad_command_lines(tmp_path, case, args, code, message):
    (tmp_path / "data").mkdir()
    for name in ("accounts.csv", "reps.csv"):
        (tmp_path / "data" / name).write_bytes((DATA / name).read_bytes())
    raw = accounts_scenario(solver={"time_limit": 5})
    raw["data"]["accounts"]["path"] = str(tmp_path / "data" / "accounts.csv")
    raw["data"]["reps"]["path"] = str(tmp_path / "data" / "reps.csv")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "file").write_text("x")
    swap = {
        "S": str(tmp_path / "s.yaml"),
        "FILE": str(tmp_path / "file"),
        "DATA": str(tmp_path / "data"),
        "NOPE": str(tmp_path / "nope.yaml"),
    }
    argv = [swap.get(a, a.replace("FILE", str(tmp_path / "file"))) for a in args]
    exit_code, output = _cli(argv)
    assert exit_code == code, output
    assert message in output, output
    assert (tmp_path / "data" / "accounts.csv").read_bytes() == (DATA / "accounts.csv").read_bytes()


def test_deeply_nested_yaml(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\ndata: " + "[" * 5000 + "]" * 5000 + "\n")
    exit_code, output = _cli(["validate", str(path)])
    assert exit_code == 2
    assert "the YAML is nested too deeply to be a scenario" in output


def test_odd_characters_in_rep_ids_reach_every_output(tmp_path):
    """Rich markup, slashes, quotes and formula characters in ids: solved, printed and written."""
    ids = {"R1": "[/]", "R2": 'R/2 [bold]"x"'}
    reps = REPS
    accounts = VALID
    for old, new in ids.items():
        quoted = '"' + new.replace('"', '""') + '"'
        reps = reps.replace(f"\n{old},", f"\n{quoted},")
        while f",{old}," in accounts:
            accounts = accounts.replace(f",{old},", f",{quoted},")
    (tmp_path / "reps.csv").write_text(reps)
    (tmp_path / "accounts.csv").write_text(accounts)
    raw = accounts_scenario(solver={"time_limit": 5})
    raw["data"]["accounts"]["path"] = str(tmp_path / "accounts.csv")
    raw["data"]["reps"]["path"] = str(tmp_path / "reps.csv")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    exit_code, output = _cli(["solve", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--no-tiles"])
    assert exit_code == 0, output
    assert "[/]" in output and 'R/2 [bold]"x"' in output
    frame = pd.read_csv(tmp_path / "out" / "territories.csv", dtype=str)
    assert set(frame["territory_id"]) == set(ids.values())
    summary = (tmp_path / "out" / "summary.json").read_text()
    json.loads(summary, parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))  # strict JSON


# --- the Python API: Problem.from_arrays validates with the package's errors
GOOD = {"measures": [1.0, 2.0, 3.0], "unit_xy": [[0, 0], [1, 0], [2, 0]], "seat_xy": [[0, 0], [2, 0]]}
ARRAYS = [
    (
        "nan-measure",
        {"measures": [1.0, np.nan, 3.0]},
        "column 'measures': NaN (missing value) at index (1, 0); measures must be finite numbers in [0, 1e+15]",
    ),
    ("inf-measure", {"measures": [1.0, np.inf, 3.0]}, "'measures': infinite value at index (1, 0)"),
    ("negative-measure", {"measures": [1.0, -2.0, 3.0]}, "'measures': negative value at index (1, 0)"),
    ("huge-measure", {"measures": [1e300, 2.0, 3.0]}, "'measures': value above 1e+15 at index (0, 0)"),
    ("text-measure", {"measures": ["a", 2.0, 3.0]}, "'measures': cannot be read as an array of float64"),
    (
        "owner-out-of-range",
        {"owner": [0, 2, -1]},
        "'owner': index out of range at index 1: must be in [-1, 1] (-1: none)",
    ),
    ("lock-negative", {"lock": [-3, 0, 0]}, "'lock': index out of range at index 0"),
    (
        "edge-out-of-range",
        {"edges": [[0, 1], [1, 3]]},
        "'edges': unit index out of range at index (1, 1): must be in [0, 2]",
    ),
    ("edges-wrong-shape", {"edges": [[0, 1, 2, 3]]}, "'edges': must have shape (E, 2)"),
    ("unit-xy-wrong-shape", {"unit_xy": [[0, 0], [1, 0]]}, "'unit_xy': must have shape (3, 2) [km], got (2, 2)"),
    ("unit-xy-nan", {"unit_xy": [[0, 0], [np.nan, 0], [2, 0]]}, "'unit_xy': not a finite position at index (1, 0)"),
    ("seat-xy-half-nan", {"seat_xy": [[0, np.nan], [2, 0]]}, "'seat_xy': not a finite position at index (0, 0)"),
    ("zero-fte", {"seat_capacity": [1.0, 0.0]}, "'seat_capacity': not a positive finite FTE at index 1"),
    ("duplicate-unit-ids", {"unit_ids": ["a", "b", "a"]}, "'unit_ids': ids must be unique"),
    ("seat-ids-count", {"seat_ids": ["x"]}, "'seat_ids': has 1 entries for 2 seats"),
    ("measure-names-count", {"measure_names": ["a", "b"]}, "'measure_names': 2 names for 1 measure columns"),
    ("exclusion-out-of-range", {"exclusions": [[0, 5]]}, "'exclusions': (unit, seat) index out of range"),
    ("no-seats", {"seat_xy": None, "n_seats": 0}, "needs at least one seat"),
    ("no-seat-information", {"seat_xy": None}, "give seat_xy (home bases) or n_seats (centres chosen)"),
]


@pytest.mark.parametrize(("case", "change", "message"), ARRAYS, ids=[c[0] for c in ARRAYS])
def test_from_arrays_validates(case, change, message):
    with pytest.raises(DataError, match=re.escape(message)):
        Problem.from_arrays(**{**GOOD, **change})


def test_from_arrays_accepts_the_good_arrays():
    problem = Problem.from_arrays(**GOOD, edges=[[0, 1], [1, 2]], owner=[0, 1, -1])
    assert problem.n_units == 3 and problem.n_seats == 2


def test_json_outputs_are_strict():
    from territory_opt.io import json_text

    text = json_text({"gap": float("nan"), "bound": np.float64("-inf"), "rows": [1.5, float("inf")], "n": np.int64(3)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "gap": None,
        "bound": None,
        "rows": [1.5, None],
        "n": 3,
    }


def test_scenario_time_limit_must_be_finite():
    for value in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(ScenarioError, match=r"solver\.time_limit"):
            scenario_from_dict(accounts_scenario(solver={"time_limit": value}))


def test_validate_lists_problems_of_both_files_at_once(tmp_path):
    (tmp_path / "accounts.csv").write_text(_cell(0, 1, "Acme, Corp"))
    (tmp_path / "reps.csv").write_text(_rep(5, "0"))
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(tmp_path / "accounts.csv")
    raw["data"]["reps"]["path"] = str(tmp_path / "reps.csv")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    exit_code, output = _cli(["validate", str(tmp_path / "s.yaml")])
    assert exit_code == 3
    assert "2 problems in the input data:" in output
    assert "accounts.csv, row 2: 11 values but the header has 10 columns" in output
    assert "reps.csv, row 2, column 'FTE': FTE 0" in output


def test_excel_header_repeated_after_trimming(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Account ID", "Annual Potential", " Annual Potential "])
    sheet.append(["A1", 1, 2])
    book.save(tmp_path / "crm.xlsx")
    raw = accounts_scenario()
    raw["data"]["accounts"] = {
        "path": str(tmp_path / "crm.xlsx"),
        "columns": {"id": "Account ID", "potential": "Annual Potential"},
    }
    with pytest.raises(
        DataError,
        match=re.escape(
            "crm.xlsx, column 'Annual Potential': columns 2 and 3 are both named 'Annual Potential' (after trimming spaces)"
        ),
    ):
        load_inputs(scenario_from_dict(raw))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_scenario_that_is_not_a_regular_file(tmp_path, kind):
    path = tmp_path / "s.yaml"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    exit_code, output = _cli(["validate", str(path)])
    assert exit_code == 2
    assert "s.yaml: not a regular file; give the scenario's YAML file" in output


@pytest.mark.parametrize(
    ("lat", "lon", "flagged", "swapped"),
    [
        (32.78, -96.80, True, False),  # Dallas in a Georgia book: 1,100 km from every other account
        (61.22, -149.90, True, False),  # Anchorage
        (-84.39, 33.75, True, True),  # Atlanta with latitude and longitude swapped (Antarctica)
        (33.52, -86.80, False, False),  # Birmingham, AL: a neighbour of the book
    ],
)
def test_locations_far_from_a_realistic_book(lat, lon, flagged, swapped):
    from territory_opt import _validate

    rng = np.random.default_rng(0)
    book_lat, book_lon = rng.uniform(31.0, 34.9, 300), rng.uniform(-85.5, -81.0, 300)  # Georgia
    found = _validate.implausible_locations(
        [("book.csv", np.append(book_lat, lat), np.append(book_lon, lon), np.arange(2, 303), "lat")]
    )
    assert [p.row for p in found] == ([302] if flagged else [])
    assert all(("Latitude and longitude swapped?" in p.message) == swapped for p in found)
