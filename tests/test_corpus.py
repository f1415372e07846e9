"""A hostile-CRM corpus: each case is a mutation of the valid export in tests/data, with the
pinned message (file, row, column, fix) or the documented tolerant reading."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from territory_opt import DataError, ScenarioError, load_inputs, scenario_from_dict

from .conftest import DATA, accounts_scenario

VALID = (DATA / "accounts.csv").read_text(encoding="utf-8")
HEADER, *ROWS = VALID.strip("\n").split("\n")


def _text(header: str = HEADER, rows: list[str] | None = None) -> str:
    return "\n".join([header, *(ROWS if rows is None else rows)]) + "\n"


def _row(i: int, column: int, value: str) -> str:
    """The export with one cell replaced (row i of the data, 0-based; column index)."""
    rows = [r.split(",") for r in ROWS]
    rows[i][column] = value
    return _text(rows=[",".join(r) for r in rows])


# (id, file bytes, expected: ("error", message) or ("ok", check on the loaded inputs))
Check = Callable[[object], bool]
CASES: list[tuple[str, bytes, tuple[str, object]]] = [
    ("utf8-bom", ("\ufeff" + VALID).encode("utf-8"), ("ok", lambda i: i.units["id"].iloc[0] == "A1")),
    ("utf16", VALID.encode("utf-16"), ("ok", lambda i: len(i.units) == 6)),
    (
        "cp1252-accents",
        _row(0, 1, "Caf\u00e9 M\u00fcller").encode("cp1252"),
        ("ok", lambda i: i.units["name"][0] == "Caf\u00e9 M\u00fcller"),
    ),
    ("tab-delimited", VALID.replace(",", "\t").encode(), ("ok", lambda i: len(i.units) == 6)),
    ("semicolon-delimited", VALID.replace(",", ";").encode(), ("ok", lambda i: len(i.units) == 6)),
    ("crlf-line-endings", VALID.replace("\n", "\r\n").encode(), ("ok", lambda i: len(i.units) == 6)),
    (
        "blank-rows",
        (_text(rows=[ROWS[0], "", ROWS[1], ",,,,,,,,,", *ROWS[2:]])).encode(),
        ("ok", lambda i: len(i.units) == 6),
    ),
    ("quoted-thousands", _row(0, 4, '"1,200,000"').encode(), ("ok", lambda i: i.units["potential"][0] == 1_200_000)),
    ("currency-symbol", _row(0, 4, "$120000").encode(), ("ok", lambda i: i.units["potential"][0] == 120_000)),
    ("scientific-notation", _row(0, 4, "1.2e5").encode(), ("ok", lambda i: i.units["potential"][0] == 120_000)),
    ("spaces-around-values", _row(0, 4, " 120000 ").encode(), ("ok", lambda i: i.units["potential"][0] == 120_000)),
    (
        "spaces-in-header",
        _text(header=HEADER.replace("Account ID", " Account ID ")).encode(),
        ("ok", lambda i: len(i.units) == 6),
    ),
    (
        "emoji-and-rtl-names",
        _row(1, 1, "\U0001f680 \u05e9\u05dc\u05d5\u05dd").encode(),
        ("ok", lambda i: "\U0001f680" in i.units["name"][1]),
    ),
    ("very-long-name", _row(1, 1, "x" * 10_000).encode(), ("ok", lambda i: len(i.units["name"][1]) == 10_000)),
    ("one-row", _text(rows=ROWS[:1]).encode(), ("ok", lambda i: len(i.units) == 1)),
    (
        "extra-unnamed-columns",
        _text(header=HEADER + ",,", rows=[r + ",," for r in ROWS]).encode(),
        ("ok", lambda i: len(i.units) == 6),
    ),
    (
        "blank-row-then-error",
        _text(rows=[ROWS[0], "", ROWS[1], ROWS[2].replace("95000", "lots"), *ROWS[3:]]).encode(),
        ("error", "row 5, column 'Annual Potential': not a number: 'lots'"),  # the row a spreadsheet shows
    ),
    ("n/a-in-measure", _row(2, 4, "N/A").encode(), ("error", "row 4, column 'Annual Potential': not a number: 'N/A'")),
    ("infinite-measure", _row(2, 4, "inf").encode(), ("error", "row 4, column 'Annual Potential'")),
    ("dms-coordinate", _row(0, 2, "33\u00b045'N").encode(), ("error", "row 2, column 'Latitude'")),
    (
        "longitude-out-of-range",
        _row(3, 3, "-284.16").encode(),
        ("error", "row 5, column 'Longitude': coordinate -284.16 is outside [-180, 180]"),
    ),
    ("duplicate-id-with-spaces", _row(2, 0, " A2 ").encode(), ("error", "duplicate id 'A2'")),
    ("empty-id", _row(2, 0, "").encode(), ("error", "row 4, column 'Account ID'")),
    ("only-whitespace", b"   \n  \n", ("error", "the file is empty")),
    ("binary-garbage", bytes(range(256)) * 4, ("error", "corpus.csv")),
]


@pytest.mark.parametrize(("case", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_corpus_case(tmp_path: Path, case: str, data: bytes, expected: tuple[str, object]) -> None:
    check_accounts_case(tmp_path, case, data, expected)


def check_accounts_case(tmp_path: Path, case: str, data: bytes, expected: tuple[str, object]) -> None:
    """Load ``data`` as the accounts file: ("ok", check) passes the check on the inputs (the
    file untouched), ("error", text) raises a DataError whose message holds the text."""
    path = tmp_path / "corpus.csv"
    path.write_bytes(data)
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(path)
    kind, what = expected
    if kind == "ok":
        inputs = load_inputs(scenario_from_dict(raw))
        assert what(inputs), case  # type: ignore[operator]
        assert path.read_bytes() == data  # never modified
        return
    with pytest.raises(DataError) as info:
        load_inputs(scenario_from_dict(raw))
    message = str(info.value)
    assert "corpus.csv" in message
    assert str(what) in message, message
    assert "Traceback" not in message


REPS = (DATA / "reps.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("case", "reps", "message"),
    [
        ("rep-duplicate-id", REPS.strip("\n") + "\n" + REPS.strip("\n").split("\n")[1] + "\n", "duplicate id"),
        ("rep-negative-fte", REPS.replace(",1.0\n", ",-1.0\n", 1), "FTE"),
        ("rep-file-empty", "", "the file is empty"),
    ],
)
def test_roster_corpus(tmp_path: Path, case: str, reps: str, message: str) -> None:
    path = tmp_path / "reps.csv"
    path.write_text(reps, encoding="utf-8")
    raw = accounts_scenario()
    raw["data"]["reps"]["path"] = str(path)
    with pytest.raises(DataError, match=re.escape(message)):
        load_inputs(scenario_from_dict(raw))


@pytest.mark.parametrize(
    ("case", "raw", "message"),
    [
        ("unknown-key", {"balanse": {}}, "balanse"),
        ("tolerance-as-text", {"balance": {"potential": {"tolerance": "five"}}}, "balance.potential.tolerance"),
        ("negative-time-limit", {"solver": {"time_limit": -1}}, "solver.time_limit"),
        ("unknown-objective", {"objective": {"priorities": ["profit"]}}, "objective.priorities"),
    ],
)
def test_scenario_corpus(case: str, raw: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario_from_dict({**accounts_scenario(), **raw})
