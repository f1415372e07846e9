"""Boundary validation: every check appends :class:`~territory_opt.errors.Problem` items.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is
row 2 (for a CSV file that is also its line number).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .errors import Problem

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def row_number(index: Any) -> int:
    """Spreadsheet row of the 0-based data row ``index`` (the header is row 1).

    Pass the frame's index label, not the position: blank rows dropped after reading keep
    the labels of the rows a spreadsheet shows."""
    return int(index) + 2


#: Largest magnitude accepted for a measure: sums of a few million such values stay exact
#: enough in floating point, and the solver's integer scaling cannot overflow.
MAX_VALUE = 1e15

_AMBIGUOUS_DOT = re.compile(r"[+-]?[1-9]\d{0,2}\.\d{3}")  # 120.000: 120 or 120000?
_AMBIGUOUS_COMMA = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")  # 1,234: 1234 or 1.234?
_EN_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")  # 1,234,567 / 1,234.5
_DE_GROUPED = re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d*)?")  # 1.234.567 / 1.234,5
_DOT_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")  # 12.5, 0.500, 1.5e3
_COMMA_DECIMAL = re.compile(r"[+-]?(\d+,\d*|,\d+)")  # 12,5


_SPACED_GROUPS = re.compile(r"[+-]?\d{1,3}([ \u00a0\u202f']\d{3})+([.,]\d*)?")  # 1 234,5 / 1'234.5


def _clean(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().fillna("")
    # a currency sign in front or behind: $ € £ ¥
    text = text.str.replace(r"^[$\u20ac\u00a3\u00a5]\s*|\s*[$\u20ac\u00a3\u00a5]$", "", regex=True)
    # thousands grouped by a space, a no-break space or an apostrophe (French, Swiss)
    spaced = text.str.fullmatch(_SPACED_GROUPS).fillna(False).astype(bool)
    return text.where(~spaced, text.str.replace(r"[ \u00a0\u202f']", "", regex=True))


def decimal_evidence(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Masks of the cells that prove a ``.`` decimal mark, prove a ``,`` decimal mark, or
    could be read either way (``1,234``, ``120.000``)."""
    text = _clean(values)
    ambiguous = text.str.fullmatch(_AMBIGUOUS_DOT) | text.str.fullmatch(_AMBIGUOUS_COMMA)
    dot = ~ambiguous & (text.str.fullmatch(_DOT_DECIMAL) | text.str.fullmatch(_EN_GROUPED))
    comma = ~ambiguous & (text.str.fullmatch(_COMMA_DECIMAL) | text.str.fullmatch(_DE_GROUPED))
    return dot.fillna(False).astype(bool), comma.fillna(False).astype(bool), ambiguous.fillna(False).astype(bool)


def to_number(values: pd.Series, *, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """Parse a column to float, with ``decimal`` as the decimal mark (the other of ``.`` and
    ``,`` is then a thousands separator: ``1,234.5`` or ``1.234,5``), tolerating a currency
    sign in front and blanks.

    Returns the parsed floats (NaN where empty or unparsable) and a mask of the cells that
    were non-empty but not numbers.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        return numbers, pd.Series(False, index=values.index)
    text = _clean(values)
    if decimal == ",":
        grouped = text.str.fullmatch(_DE_GROUPED).fillna(False).astype(bool)
        text = text.where(~grouped, text.str.replace(".", "", regex=False))
        text = text.where(text.str.contains(".", regex=False), text.str.replace(",", ".", regex=False))
    else:
        grouped = text.str.fullmatch(_EN_GROUPED).fillna(False).astype(bool)
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = (text != "") & numbers.isna()
    return numbers, bad


def decimal_mark(
    values: pd.Series, source: str, column: str, *, decimal: str | None = None, default: str | None = None
) -> tuple[str, list[Problem]]:
    """The decimal mark of one column, detected from its cells.

    ``decimal`` (the scenario's ``decimal`` key) decides outright. Otherwise cells such as
    ``12,5`` or ``1.234,5`` prove a decimal comma and ``12.5`` or ``1,234.5`` a decimal
    point; a column with both is refused (inconsistent), and a column whose only evidence
    is ambiguous (``120.000``: 120 or 120,000?) is read with ``default`` (a ``,``-separated
    file cannot use a decimal comma unquoted) or else refused.
    """
    if decimal is not None or pd.api.types.is_numeric_dtype(values):
        return decimal or ".", []
    dot, comma, ambiguous = decimal_evidence(values)
    raw = values.astype("string")
    fix = "set decimal: '.' or ',' for this file in the scenario's data section"
    if dot.any() and comma.any():
        i, j = int(np.flatnonzero(dot.to_numpy())[0]), int(np.flatnonzero(comma.to_numpy())[0])
        msg = (
            f"numbers use both decimal marks: {raw.iloc[i]!r} (row {row_number(values.index[i])}) has a decimal point, "
            f"{raw.iloc[j]!r} a decimal comma; make the column consistent, or {fix}"
        )
        return ".", [Problem(source, msg, row_number(values.index[j]), column)]
    if dot.any():
        return ".", []
    if comma.any():
        return ",", []
    if ambiguous.any() and default is None:
        first = int(np.flatnonzero(ambiguous.to_numpy())[0])
        cell = str(raw.iloc[first]).strip()
        mark = "." if "." in cell else ","
        as_decimal = cell.replace(",", ".")
        as_grouped = cell.replace(mark, "")
        msg = (
            f"{cell!r} could be {as_decimal} or {as_grouped} (is {mark!r} a decimal mark or a thousands "
            f"separator?), and no cell of the column tells ({int(ambiguous.sum())} such cells); {fix}"
        )
        return ".", [Problem(source, msg, row_number(values.index[first]), column)]
    return default or ".", []


def missing_columns(frame: pd.DataFrame, source: str, wanted: dict[str, str], *, key_hint: str) -> list[Problem]:
    """Columns we need (our name -> file's name) that the file lacks."""
    problems = []
    have = ", ".join(map(str, frame.columns[:15])) + (" ..." if len(frame.columns) > 15 else "")
    for ours, theirs in wanted.items():
        if theirs not in frame.columns:
            problems.append(
                Problem(
                    source,
                    f"missing column {theirs!r} (needed as {ours!r}); the file has: {have}. "
                    f"Add it, or map it in the scenario under {key_hint}.columns.{ours}",
                )
            )
    return problems


def mapped_columns(frame: pd.DataFrame, source: str, spec: Any, *, skip: set[str]) -> list[Problem]:
    """Columns the scenario maps (``columns: {lon: Lng}``) that the file lacks: a misnamed
    mapping would otherwise drop the data silently (reps losing their home bases)."""
    if spec is None:
        return []
    if getattr(frame, "_geometry_column_name", None) in frame.columns:  # a geometry gives the location
        skip = skip | {spec.column("lat"), spec.column("lon")}
    problems = []
    have = ", ".join(map(str, frame.columns[:15])) + (" ..." if len(frame.columns) > 15 else "")
    for ours, theirs in spec.columns.items():
        if theirs not in frame.columns and theirs not in skip:
            msg = f"column {theirs!r} is mapped as {ours!r} in the scenario, but the file has no such column; the file has: {have}"
            problems.append(Problem(source, msg))
    return problems


def half_location(frame: pd.DataFrame, source: str, lat_col: str, lon_col: str) -> list[Problem]:
    """A file with a latitude column but no longitude column (or the reverse)."""
    has_lat, has_lon = lat_col in frame.columns, lon_col in frame.columns
    if has_lat == has_lon or getattr(frame, "_geometry_column_name", None) in frame.columns:
        return []
    there, absent, key = (lat_col, lon_col, "lon") if has_lat else (lon_col, lat_col, "lat")
    msg = f"has column {there!r} but no {absent!r}: give both, or map the other one in the scenario under columns.{key}"
    return [Problem(source, msg)]


def zero_capacity(values: pd.Series, capacity: np.ndarray, source: str, column: str) -> list[Problem]:
    """A rep with 0 FTE: refused (as by the API), rather than read as full time or given an
    empty territory."""
    numbers, bad = to_number(values)
    problems = []
    for i in np.flatnonzero(((numbers == 0) & ~bad).to_numpy()):
        msg = "FTE 0; every rep needs a positive FTE (0.5 for half time); to leave the seat out, remove the rep (edits.remove_reps)"
        problems.append(Problem(source, msg, row_number(values.index[int(i)]), column))
    return problems


def empty_file(frame: pd.DataFrame, source: str, what: str) -> list[Problem]:
    if len(frame) == 0:
        return [Problem(source, f"the file has no data rows; it must list at least one {what}")]
    return []


def duplicate_ids(ids: pd.Series, source: str, column: str) -> list[Problem]:
    text = ids.astype("string").str.strip()
    problems = []
    blank = text.isna() | (text == "")
    for i in np.flatnonzero(blank.to_numpy()).tolist():
        problems.append(Problem(source, "empty id; every row needs a unique id", row_number(ids.index[int(i)]), column))
    first_row: dict[str, int] = {}
    for i, value in enumerate(text.to_numpy().tolist()):
        if value is pd.NA or value == "":
            continue
        if value in first_row:
            problems.append(
                Problem(
                    source,
                    f"duplicate id {value!r} (first seen in row {row_number(ids.index[first_row[value]])}); "
                    "ids must be unique: remove or rename the duplicate",
                    row_number(ids.index[int(i)]),
                    column,
                )
            )
        else:
            first_row[value] = i
    return problems


def measure_values(
    values: pd.Series,
    source: str,
    column: str,
    *,
    required: bool = True,
    decimal: str | None = None,
    default_decimal: str | None = ".",
) -> tuple[np.ndarray, list[Problem]]:
    """A non-negative numeric measure below :data:`MAX_VALUE`; empty cells are errors when
    ``required``. ``decimal`` / ``default_decimal``: see :func:`decimal_mark`."""
    mark, problems = decimal_mark(values, source, column, decimal=decimal, default=default_decimal)
    numbers, bad = to_number(values, decimal=mark)
    if problems:  # the column's format is in question: its well-formed numbers are not errors too
        dot, comma, ambiguous = decimal_evidence(values)
        bad = bad & ~(dot | comma | ambiguous)
    raw = values.astype("string")
    for i in np.flatnonzero(bad.to_numpy()):
        problems.append(
            Problem(
                source,
                f"not a number: {raw.iloc[i]!r}; write a plain number such as 1234.5",
                row_number(values.index[int(i)]),
                column,
            )
        )
    empty = numbers.isna() & (_clean(values) == "") if not pd.api.types.is_numeric_dtype(values) else numbers.isna()
    if required:
        for i in np.flatnonzero(empty.to_numpy()):
            problems.append(
                Problem(source, "empty value; enter 0 if there is none", row_number(values.index[int(i)]), column)
            )
    negative = numbers < 0
    for i in np.flatnonzero(negative.to_numpy()):
        problems.append(
            Problem(
                source,
                f"negative value {numbers.iloc[i]:g}; measures must be >= 0",
                row_number(values.index[int(i)]),
                column,
            )
        )
    infinite = np.isinf(numbers.to_numpy())
    for i in np.flatnonzero(infinite):
        problems.append(
            Problem(source, "infinite value; enter a finite number", row_number(values.index[int(i)]), column)
        )
    huge = np.isfinite(numbers.to_numpy()) & (numbers.abs().to_numpy() > MAX_VALUE)
    for i in np.flatnonzero(huge):
        msg = f"value {numbers.iloc[i]:g} is implausibly large (above {MAX_VALUE:g}); check the cell and its unit"
        problems.append(Problem(source, msg, row_number(values.index[int(i)]), column))
    return numbers.fillna(0.0).to_numpy(dtype=float), problems


def coordinates(
    lat: pd.Series, lon: pd.Series, source: str, lat_col: str, lon_col: str
) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Latitude in [-90, 90], longitude in [-180, 180], both present."""
    problems: list[Problem] = []
    out = []
    for values, column, limit in ((lat, lat_col, 90.0), (lon, lon_col, 180.0)):
        # a degree value is below 1,000, so a single ',' can only be a decimal comma
        text = _clean(values)
        numbers, bad = to_number(
            text.where(text.str.contains(".", regex=False), text.str.replace(",", ".", regex=False))
        )
        for i in np.flatnonzero(bad.to_numpy() | numbers.isna().to_numpy()):
            found = values.astype("string").iloc[i]
            found_text = "empty" if found is pd.NA or str(found).strip() == "" else repr(found)
            problems.append(
                Problem(
                    source,
                    f"coordinate is {found_text}; give decimal degrees (WGS 84) for every row",
                    row_number(values.index[int(i)]),
                    column,
                )
            )
        arr = numbers.to_numpy(dtype=float)
        outside = np.abs(arr) > limit
        for i in np.flatnonzero(outside):
            hint = " (latitude and longitude swapped?)" if column == lat_col else ""
            problems.append(
                Problem(
                    source,
                    f"coordinate {arr[i]:g} is outside [-{limit:g}, {limit:g}]{hint}",
                    row_number(values.index[int(i)]),
                    column,
                )
            )
        out.append(arr)
    return out[0], out[1], problems


def references(values: pd.Series, known: set[str], source: str, column: str, *, what: str) -> list[Problem]:
    """Every non-empty cell names a known rep (owner, lock): one problem per distinct unknown
    value, with its row count and first row (a CRM export repeats an owner on many rows)."""
    text = values.astype("string").str.strip().fillna("")
    bad = (text != "") & ~text.isin(known)
    problems = []
    positions = np.flatnonzero(bad.to_numpy())
    first: dict[str, list[int]] = {}
    for i in positions.tolist():
        first.setdefault(str(text.iloc[i]), []).append(i)
    leaver = (
        " (a rep who has left: keep them in the roster and remove them with --remove-rep or edits.remove_reps, "
        "so their accounts move)"
        if what == "current owner"
        else ""
    )
    for value, rows in first.items():
        count = f"{len(rows)} rows, the first here" if len(rows) > 1 else "1 row"
        problems.append(
            Problem(
                source,
                f"{what} {value!r} is not a rep in the roster ({count}); reps match by id, then by name: "
                f"fix the id or name, or add the rep{leaver}",
                row_number(values.index[rows[0]]),
                column,
            )
        )
    return problems


def match_reps(
    values: pd.Series, rep_ids: pd.Series, rep_names: pd.Series, source: str, column: str, *, what: str
) -> tuple[pd.Series, list[Problem]]:
    """Rep ids for the cells of an owner or lock column that name reps by id or by name.

    A cell matches a rep id exactly first, then a rep name trimmed and ignoring case (a CRM
    exports owners by name). A name two reps share is an error naming both; cells that match
    nothing stay as they are (reported later against the final roster, see :func:`references`).
    """
    text = values.astype("string").str.strip().fillna("").astype(object)
    ids = [str(x) for x in rep_ids]
    by_name: dict[str, list[str]] = {}
    for rep_id, name in zip(ids, rep_names.astype(str), strict=True):
        key = name.strip().casefold()
        if key and rep_id not in by_name.get(key, []):
            by_name.setdefault(key, []).append(rep_id)
    known = set(ids)
    names = dict(zip(ids, rep_names.astype(str), strict=True))
    problems = []
    mapping: dict[str, str] = {}
    for value in pd.unique(text[(text != "") & ~text.isin(known)]):
        found = by_name.get(str(value).casefold(), [])
        if len(found) == 1:
            mapping[value] = found[0]
        elif len(found) > 1:
            rows = np.flatnonzero((text == value).to_numpy())
            reps = " and ".join(f"{r} ({names[r]})" for r in found)
            problems.append(
                Problem(
                    source,
                    f"{what} {value!r} ({len(rows)} row(s)) matches {len(found)} reps by name: {reps}; "
                    "give the rep id in this column, or make the roster's names unique",
                    row_number(values.index[rows[0]]),
                    column,
                )
            )
    return text.map(lambda x: mapping.get(x, x)), problems


def split_skills(values: pd.Series) -> list[frozenset[str]]:
    """Skills of each cell, split on ``;`` or ``|``; matched ignoring case (kept in lower case)."""
    text = values.astype("string").fillna("")
    return [frozenset(s.strip().casefold() for s in re.split(r"[;|]", str(v)) if s.strip()) for v in text]


def skill_coverage(
    required: list[frozenset[str]], offered: Iterable[frozenset[str]], source: str, column: str
) -> list[Problem]:
    """A skill some account requires must be offered by at least one rep."""
    have = set().union(*offered) if offered else set()
    problems = []
    reported: set[str] = set()
    for i, skills in enumerate(required):
        for skill in sorted(skills - have):
            if skill in reported:
                continue
            reported.add(skill)
            count = sum(skill in s for s in required)
            problems.append(
                Problem(
                    source,
                    f"skill {skill!r} is required by {count} row(s) but no rep has it; "
                    "add it to a rep's skills or remove the requirement",
                    row_number(i),
                    column,
                )
            )
    return problems


def isolated_units(ids: np.ndarray, degree: np.ndarray, source: str) -> list[Problem]:
    problems = []
    for i in np.flatnonzero(degree == 0):
        problems.append(
            Problem(
                source,
                f"unit {ids[i]!r} has no neighbour, so no contiguous territory can hold it with "
                "others; add an edge for it, or set constraints.contiguity.islands: link",
                row_number(int(i)),
            )
        )
    return problems


_ZIP = re.compile(r"^(\d{5})(?:[-\s]?\d{4})?$")  # 43215, 43215-1234, 432151234, 43215 1234


def zip_codes(values: pd.Series, source: str, column: str) -> tuple[pd.Series, list[Problem]]:
    """US ZIP codes normalised to 5 characters (``""`` where the cell is empty).

    Tolerated, because spreadsheets and CRMs produce them: ZIP+4 (``43215-1234``,
    ``432151234``), leading zeros lost when the column was read as numbers (``2134`` ->
    ``02134``, ``21341234`` -> ``02134``), and ``2134.0`` from a float column.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        whole = numbers.notna() & (numbers == numbers.round()) & (numbers >= 0)
        text = pd.Series("", index=values.index, dtype=object)
        text[whole] = numbers[whole].astype(np.int64).astype(str)
        text[numbers.notna() & ~whole] = numbers[numbers.notna() & ~whole].astype(str)
    else:
        text = values.astype("string").str.strip().fillna("").astype(object)
        text = text.str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    digits = text.str.fullmatch(r"\d{1,9}")
    short = digits & (text.str.len() <= 4)
    long_ = digits & text.str.len().between(6, 8)  # ZIP+4 without its leading zeros
    text = text.where(~short, text.str.zfill(5)).where(~long_, text.str.zfill(9))
    codes = text.str.extract(_ZIP, expand=False).fillna("")
    problems = [
        Problem(
            source, f"ZIP code {text[i]!r} is not a US ZIP code; give 5 digits (ZIP+4 is fine)", row_number(i), column
        )
        for i in text.index[(text != "") & (codes == "")]
    ]
    return codes.astype(object), problems


#: A location farther than this from every other account and rep is implausible [km]
#: (unless the data are that sparse: the limit grows with the data's own spacing).
OUTLIER_KM = 1000.0
_EARTH_KM = 6371.0088


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _km(chord: np.ndarray) -> np.ndarray:
    return 2 * _EARTH_KM * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2, 0, 1))


def implausible_locations(groups: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, str]]) -> list[Problem]:
    """Locations that would give a silently wrong plan: ``0, 0`` ("null island": a missing
    location exported as zeros), points far from every other account and rep (a typo, a
    wrong sign, Antarctica), and a whole file whose points lie far from the other file's
    (latitude and longitude swapped in one file). When swapping latitude and longitude
    would put a point (or a file) among the others, the message says so.

    ``groups``: ``(source, lat, lon, row numbers, latitude column)`` per file.
    """
    from scipy.spatial import cKDTree

    problems: list[Problem] = []
    lat = np.concatenate([np.asarray(g[1], dtype=float) for g in groups]) if groups else np.zeros(0)
    lon = np.concatenate([np.asarray(g[2], dtype=float) for g in groups]) if groups else np.zeros(0)
    group = np.concatenate([np.full(len(g[1]), k) for k, g in enumerate(groups)]) if groups else np.zeros(0, int)
    rows = np.concatenate([np.asarray(g[3]) for g in groups]) if groups else np.zeros(0, int)
    valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    null = valid & (lat == 0) & (lon == 0)
    accept = "or accept it knowingly with --allow-outliers (data.allow_outliers: true)"
    for i in np.flatnonzero(null):
        source, column = groups[group[i]][0], groups[group[i]][4]
        msg = f"location 0, 0 ('null island', in the Gulf of Guinea): a missing location exported as zeros? Fix the row, {accept}"
        problems.append(Problem(source, msg, int(rows[i]), column))
    keep = np.flatnonzero(valid & ~null)
    if len(keep) < 3:
        return problems
    xyz = _xyz(lat[keep], lon[keep])
    tree = cKDTree(xyz)
    nearest = _km(tree.query(xyz, k=2)[0][:, 1])
    spacing = float(np.median(nearest))  # robust: the outliers themselves do not move it
    limit = max(OUTLIER_KM, 25 * spacing)
    # a whole file far from the others (its points close to each other): swapped columns?
    flagged_groups = set()
    for k, (source, *_rest, column) in enumerate(groups):
        mine, others = keep[group[keep] == k], keep[group[keep] != k]
        if len(mine) < 2 or len(others) == 0 or len(others) < len(mine):
            continue  # the smaller file is the one reported (the larger one is the reference)
        other_tree = cKDTree(_xyz(lat[others], lon[others]))
        apart = float(np.median(_km(other_tree.query(_xyz(lat[mine], lon[mine]), k=1)[0])))
        if apart <= limit:
            continue
        flagged_groups.add(k)
        swappable = np.all(np.abs(lon[mine]) <= 90)
        swapped = float(np.median(_km(other_tree.query(_xyz(lon[mine], lat[mine]), k=1)[0]))) if swappable else np.inf
        others_named = ", ".join(sorted({groups[j][0] for j in set(group[others].tolist())}))
        hint = (
            f"latitude and longitude swapped in this file (or in the other)? Swapped, they lie {swapped:,.0f} km from them"
            if swapped <= limit
            else "check the columns used as latitude and longitude"
        )
        msg = f"its locations lie about {apart:,.0f} km from those of {others_named}: {hint}; {accept}"
        problems.append(Problem(source, msg, None, column))
    for position in np.flatnonzero(nearest > limit):
        i = keep[position]
        if group[i] in flagged_groups:
            continue
        source, column = groups[group[i]][0], groups[group[i]][4]
        hint = ""
        if abs(lon[i]) <= 90:
            distance, index = tree.query(_xyz(np.array([lon[i]]), np.array([lat[i]])), k=2)
            other = distance[0][1] if index[0][0] == position else distance[0][0]
            if _km(np.array([other]))[0] <= limit:
                hint = " Latitude and longitude swapped?"
        msg = (
            f"location {lat[i]:g}, {lon[i]:g} lies {nearest[position]:,.0f} km from the nearest other account or rep "
            f"(half lie within {spacing:,.0f} km of another).{hint} Check the row, {accept}"
        )
        problems.append(Problem(source, msg, int(rows[i]), column))
    return problems


def problem_arrays(arrays: dict[str, Any], n_units: int, n_seats: int) -> list[Problem]:
    """Checks of :meth:`Problem.from_arrays`'s arguments (already converted to arrays), so a
    NaN measure or an index out of range is named instead of failing deep in the solver."""
    source = "Problem.from_arrays"
    problems: list[Problem] = []

    def say(name: str, message: str) -> None:
        problems.append(Problem(source, message, None, name))

    def first(mask: np.ndarray) -> str:
        where = np.argwhere(mask)
        shown = ", ".join(str(tuple(int(x) for x in w)) if len(w) > 1 else str(int(w[0])) for w in where[:3])
        return f"at index {shown}" + (f" and {len(where) - 3} more" if len(where) > 3 else "")

    if n_units < 1:
        say("measures", "needs at least one unit (row)")
    if n_seats < 1:
        say("seat_xy", "needs at least one seat (give seat_xy or n_seats >= 1)")
    values = arrays["measures"]
    if values.ndim != 2:
        say("measures", f"must be 1-D or 2-D (units x measures), got {values.ndim}-D")
    else:
        for bad, what in (
            (np.isnan(values), "NaN (missing value)"),
            (np.isinf(values), "infinite value"),
            (values < 0, "negative value"),
            (np.isfinite(values) & (np.abs(values) > MAX_VALUE), f"value above {MAX_VALUE:g}"),
        ):
            if bad.any():
                say("measures", f"{what} {first(bad)}; measures must be finite numbers in [0, {MAX_VALUE:g}]")
        names = arrays["measure_names"]
        if len(names) != values.shape[1]:
            say("measure_names", f"{len(names)} names for {values.shape[1]} measure columns")
        elif len(set(names)) != len(names):
            say("measure_names", f"names repeat: {list(names)}")
    for name, array, rows, allow_nan in (
        ("unit_xy", arrays["unit_xy"], n_units, False),
        ("seat_xy", arrays["seat_xy"], n_seats, True),
    ):
        if array.shape != (rows, 2):
            say(name, f"must have shape ({rows}, 2) [km], got {array.shape}")
            continue
        bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
        if allow_nan:
            bad |= np.isnan(array[:, :1]) != np.isnan(array[:, 1:])
        if bad.any():
            say(
                name,
                f"not a finite position {first(bad)}"
                + ("; NaN in both x and y means 'no home base'" if allow_nan else ""),
            )
    for name, rows in (("unit_ids", n_units), ("seat_ids", n_seats), ("unit_names", n_units), ("seat_names", n_seats)):
        array = arrays[name]
        if len(array) != rows:
            say(name, f"has {len(array)} entries for {rows} {'units' if name.startswith('unit') else 'seats'}")
        elif name.endswith("ids") and len(pd.unique(pd.Series(array, dtype=object).astype(str))) != rows:
            say(name, "ids must be unique")
    capacity = arrays["seat_capacity"]
    if capacity.shape != (n_seats,):
        say("seat_capacity", f"must have one FTE per seat ({n_seats}), got shape {capacity.shape}")
    elif (bad := ~np.isfinite(capacity) | (capacity <= 0)).any():
        say("seat_capacity", f"not a positive finite FTE {first(bad)}")
    for name, rows, low, high in (
        ("lock", n_units, -1, n_seats),
        ("owner", n_units, -1, n_seats),
        ("family", n_units, -1, None),
        ("unit_skills", n_units, 0, None),
        ("seat_skills", n_seats, 0, None),
    ):
        array = arrays[name]
        if array.shape != (rows,):
            say(
                name,
                f"must have one entry per {'unit' if rows == n_units and name != 'seat_skills' else 'seat'} ({rows}), got shape {array.shape}",
            )
        elif (bad := (array < low) | ((array >= high) if high is not None else False)).any():
            limit = f"[{low}, {high - 1}]" if high is not None else f">= {low}"
            say(
                name,
                f"index out of range {first(bad)}: must be in {limit} (-1: none)" if low < 0 else f"must be {limit}",
            )
    edges = arrays["edges"]
    if edges is not None:
        if edges.ndim != 2 or edges.shape[1] not in (2, 3):
            say("edges", f"must have shape (E, 2) (pairs of unit indices), got {edges.shape}")
        elif (bad := (edges[:, :2] < 0) | (edges[:, :2] >= n_units)).any():
            say("edges", f"unit index out of range {first(bad)}: must be in [0, {n_units - 1}]")
    exclusions = arrays["exclusions"]
    if exclusions.size and (
        (
            bad := (exclusions[:, :1] < 0)
            | (exclusions[:, :1] >= n_units)
            | (exclusions[:, 1:] < 0)
            | (exclusions[:, 1:] >= n_seats)
        ).any()
    ):
        say("exclusions", f"(unit, seat) index out of range {first(bad)}")
    return problems
