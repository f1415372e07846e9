"""Formula neutralisation of spreadsheet cells (issue 13, point 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from territory_opt._cells import neutralise_cell, neutralise_formulas, restore_cell, restore_formulas


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","Acme")', '\'=HYPERLINK("http://x","Acme")'),
        ("+33 1 23", "'+33 1 23"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # a literal apostrophe-formula stays reversible
        ("Acme", "Acme"),
        ("O'Neil", "O'Neil"),
        ("'Tis", "'Tis"),
        ("", ""),
        ("-5", "-5"),  # a number written as text is read by a spreadsheet as that number
        ("+3.25", "+3.25"),
        ("-1e5", "-1e5"),
        ("-1+2", "'-1+2"),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_neutralise_cell(value: object, expected: object) -> None:
    assert neutralise_cell(value) == expected
    assert restore_cell(neutralise_cell(value)) == value


@given(st.text(max_size=12))
def test_neutralise_is_reversible_and_inert(text: str) -> None:
    safe = neutralise_cell(text)
    assert restore_cell(safe) == text
    if safe.startswith(("=", "+", "-", "@", "\t", "\r")):
        float(safe)  # only plain numbers may start with a trigger


def test_neutralise_formulas_keeps_numbers_and_input() -> None:
    frame = pd.DataFrame(
        {"unit_id": ["=cmd", "a", "-2"], "potential": [-1.0, 2.0, np.nan], "moved": [True, False, True]}
    )
    frame["=m"] = [-3, 4, 5]
    before = frame.copy()
    safe = neutralise_formulas(frame)
    pd.testing.assert_frame_equal(frame, before)  # not modified
    assert list(safe.columns) == ["unit_id", "potential", "moved", "'=m"]
    assert safe["unit_id"].tolist() == ["'=cmd", "a", "-2"]
    assert safe["potential"].dtype == float
    assert safe["moved"].dtype == bool
    assert safe["'=m"].tolist() == [-3, 4, 5]
    pd.testing.assert_frame_equal(restore_formulas(safe), frame)


def test_neutralise_formulas_mixed_and_categorical_columns() -> None:
    frame = pd.DataFrame({"x": ["@a", 1, None], "c": pd.Categorical(["+x", "y", "+x"])})
    safe = neutralise_formulas(frame)
    assert safe["x"].tolist()[:2] == ["'@a", 1]
    assert safe["x"].isna().tolist() == [False, False, True]
    assert safe["c"].tolist() == ["'+x", "y", "'+x"]
