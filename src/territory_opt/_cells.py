"""Spreadsheet-safe text cells: formula neutralisation for every CSV / Excel output.

A CRM name such as ``=HYPERLINK("http://evil", "Acme")`` or ``@SUM(A1)`` written raw into a
CSV becomes a live formula when a planner opens the file in Excel, LibreOffice or Google
Sheets (OWASP "CSV injection"). Every text cell (and header) that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written with a leading apostrophe, which
spreadsheets show as text. Numbers stay numbers: numeric columns are never touched, and a
text cell that is a plain number (``-12.5``, ``+3``, ``1e5``) is left as it is because a
spreadsheet reads it as that number, not as a formula.

The rule is reversible, so the tool can read its own outputs back (:func:`restore_cell`):
a text that already starts with apostrophes followed by a trigger character gets one more
apostrophe, and reading strips exactly one.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: Characters that make a spreadsheet treat a cell as a formula (OWASP list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_QUOTED_TRIGGER = re.compile(r"'+[=+\-@\t\r]")


def _needs_quote(text: str) -> bool:
    if text.startswith(FORMULA_TRIGGERS):
        return _NUMBER.fullmatch(text) is None
    # keeps the rule reversible: "'=x" (a literal) is written "''=x", read back as "'=x"
    return _QUOTED_TRIGGER.match(text) is not None


def neutralise_cell(value: Any) -> Any:
    """``value`` made inert for a spreadsheet: text starting with a formula character gets a
    leading ``'``; numbers, missing values and other text come back unchanged.

    Examples
    --------
    >>> neutralise_cell("=1+1"), neutralise_cell("-5"), neutralise_cell(-5), neutralise_cell("Acme")
    ("'=1+1", '-5', -5, 'Acme')
    """
    if isinstance(value, str) and value and _needs_quote(value):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """Inverse of :func:`neutralise_cell`, for reading the tool's own outputs back."""
    if isinstance(value, str) and _QUOTED_TRIGGER.match(value):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, func: Any) -> pd.DataFrame:
    out = frame.copy()
    out.columns = pd.Index([func(c) if isinstance(c, str) else c for c in frame.columns])
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        out.isetitem(position, column.map(func, na_action="ignore").to_numpy(dtype=object))
    return out


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and header passed through :func:`neutralise_cell`.

    Numeric and boolean columns are left as they are; the input frame is not modified.
    """
    return _map_text(frame, neutralise_cell)


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Inverse of :func:`neutralise_formulas` (a CSV the tool wrote, read back as text)."""
    return _map_text(frame, restore_cell)
