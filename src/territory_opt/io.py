"""Data in and files out: the only module that touches the file system.

:func:`load_inputs` reads what a scenario names (built-in data, a synthetic book, or the
user's CSV / Parquet / GeoPackage / GeoJSON / Shapefile files), validates it all at once
(:mod:`territory_opt._validate`) and returns :class:`Inputs`, plain frames with our column
names. Inputs are never modified. What is done to the frames once read lives in its own
module: what-if edits in :mod:`territory_opt.edits`, accounts into geographic units in
:mod:`territory_opt.aggregate`. :func:`write_atomic` writes outputs through a temporary
file and an atomic rename, so a killed run never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _validate as v
from . import geo
from ._cells import neutralise_formulas, restore_formulas
from .aggregate import accounts_into_units, place_accounts
from .datasets import SYNTHETIC_NOTE, ZIP_NOTE, generate_book, us_counties, us_zips, zip_points
from .edits import apply_edits
from .errors import DataError, Problem, ScenarioError

if TYPE_CHECKING:
    from .scenario import FileSource, Scenario

GEO_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".fgb"}
TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".parquet", ".pq", ".xlsx", ".xlsm"}


@dataclass(frozen=True)
class Inputs:
    """Validated inputs with our column names.

    Attributes
    ----------
    units : DataFrame
        One row per unit to assign: ``id``, ``name``, ``lon``, ``lat`` [degrees], one
        column per measure, ``owner``, ``lock``, ``family`` (strings, ``""`` when none),
        ``skills`` (frozenset of required skills).
    reps : DataFrame
        One row per seat: ``id``, ``name``, ``lon``, ``lat`` (NaN: no home base, the centre
        is chosen), ``skills`` (frozenset), ``capacity`` [FTE].
    edges : ndarray of int, shape (E, 3) or None
        Adjacency between units (row indices), third column 1 for added island links.
    geometry : GeoSeries or None
        Unit polygons (EPSG:4326) when the units are geographic.
    measures : tuple of str
        Measure columns in ``units``.
    unit_kind : str
        ``accounts`` or ``geography``.
    accounts : DataFrame or None
        The account book behind geographic units (with a ``unit`` column), when there is one.
    notes : tuple of str
        Facts a planner should see (synthetic data, islands linked, ...).
    land : GeoSeries or None
        Polygons of the geography behind an account plan (EPSG:4326), used by the map to
        clip territory areas to land; None when there is none.
    """

    units: pd.DataFrame
    reps: pd.DataFrame
    edges: np.ndarray | None
    geometry: gpd.GeoSeries | None
    measures: tuple[str, ...]
    unit_kind: str
    accounts: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Reps removed by what-if edits (roster rows), when any.
    removed: pd.DataFrame | None = None
    land: gpd.GeoSeries | None = None


# ----------------------------------------------------------------------------- readers


def read_table(path: str | Path, *, layer: str | None = None, sheet: str | int | None = None) -> pd.DataFrame:
    """Read CSV, Excel (``.xlsx``; ``sheet``: name or 0-based position, default the first),
    Parquet (Geo or plain), GeoPackage, GeoJSON or Shapefile.

    CSV and Excel cells are read as text (so validation can report the exact cell), with a
    UTF-8 byte-order mark tolerated, Windows-1252 as the fallback encoding and ``;`` or tab
    detected as the delimiter. Rows keep the numbers a spreadsheet shows (header: row 1).

    Raises
    ------
    DataError
        The file is missing, empty or unreadable.
    """
    path = Path(path)
    source = path.name
    if not path.exists():
        raise DataError([Problem(str(path), "file not found; check the path in the scenario")])
    refuse_special_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            return _read_csv(path)
        if suffix in (".xlsx", ".xlsm"):
            return _read_excel(path, sheet)
        if suffix in (".parquet", ".pq"):
            try:
                return gpd.read_parquet(path)
            except (ValueError, KeyError):
                return pd.read_parquet(path)
        if suffix in GEO_SUFFIXES:
            return gpd.read_file(path, layer=layer, engine="pyogrio")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError([Problem(source, f"cannot read the file: {first}")]) from None
    kinds = ", ".join(sorted(TABLE_SUFFIXES | GEO_SUFFIXES))
    raise DataError([Problem(source, f"unknown file type {suffix!r}; use one of {kinds}")])


def _read_excel(path: Path, sheet: str | int | None) -> pd.DataFrame:
    """An Excel sheet as text cells (openpyxl through pandas); blank rows dropped, row labels
    kept so row numbers stay those Excel shows."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError([Problem(path.name, f"cannot read the Excel file: {first}; save it as .xlsx")]) from None
    names = list(book.sheetnames)
    if sheet is None:
        sheet = 0
    chosen = names[sheet] if isinstance(sheet, int) and 0 <= sheet < len(names) else sheet if sheet in names else None
    header: list[str] = []
    if chosen is not None:  # pandas renames a repeated header silently ("X", "X.1"): check it first
        top: tuple[Any, ...] = next(book[chosen].iter_rows(max_row=1, values_only=True), ())
        header = ["" if c is None else str(c).strip() for c in top]
    book.close()
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise DataError([Problem(path.name, f"there is no sheet number {sheet} (0-based); its sheets are: {names}")])
    if isinstance(sheet, str) and sheet not in names:
        raise DataError(
            [Problem(path.name, f"no sheet named {sheet!r}; its sheets are: {names}. Set the scenario's sheet: key")]
        )
    _check_header(header, path.name)
    frame = pd.read_excel(path, sheet_name=sheet, dtype=str, engine="openpyxl", keep_default_na=False)
    if frame.empty and len(frame.columns) == 0:
        raise DataError(
            [
                Problem(
                    path.name,
                    f"sheet {names[sheet] if isinstance(sheet, int) else sheet!r} is empty; it needs a header row and data rows",
                )
            ]
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.fillna("")
    blank = frame.apply(lambda col: col.astype(str).str.strip() == "").all(axis=1)
    return frame[~blank]


def refuse_special_file(path: Path) -> None:
    """Refuse a folder, FIFO, socket or device given as an input file (reading a FIFO would
    block forever, ``/dev/zero`` never ends)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise DataError([Problem(str(path), f"cannot read the file: {exc.strerror or exc}")]) from None
    if stat.S_ISDIR(mode):
        if path.suffix.lower() == ".gdb":  # a File Geodatabase is a folder
            return
        raise DataError([Problem(str(path), "is a folder, not a file; give the path of the file inside it")])
    if not stat.S_ISREG(mode):
        kind = "FIFO (named pipe)" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
        msg = f"is a {kind}, not a regular file; save the data to a file and give its path"
        raise DataError([Problem(str(path), msg)])


def _decode(raw: bytes, source: str) -> str:
    """Text of a CSV file: UTF-16 (by its byte-order mark), UTF-8, or Windows-1252.

    A file that is mostly UTF-8 but holds a few bytes that are not (an edit in another
    program) is refused with the row and byte: reading it all as Windows-1252 would garble
    every accented UTF-8 name, and guessing row by row could garble ids silently."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text"
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        raw[:first_bad].decode("utf-8")
        utf8_before = any(b >= 0x80 for b in raw[:first_bad])
    except UnicodeDecodeError:
        utf8_before = False
    rest = raw[first_bad:]
    if utf8_before or _has_utf8_sequence(rest):
        line = raw.count(b"\n", 0, first_bad) + 1
        column = first_bad - (raw.rfind(b"\n", 0, first_bad) + 1) + 1
        msg = (
            f"mixed text encodings: byte 0x{raw[first_bad]:02X} (byte {column} of the row) is not UTF-8, while "
            "the rest of the file is UTF-8; re-save the file as UTF-8 (in Excel: CSV UTF-8), or fix that cell"
        )
        raise DataError([Problem(source, msg, line)])
    return raw.decode("cp1252", errors="replace")


def _has_utf8_sequence(data: bytes) -> bool:
    """Whether ``data`` holds at least one well-formed multi-byte UTF-8 character."""
    for match in re.finditer(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}", data):
        try:
            match.group().decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def _read_csv(path: Path) -> pd.DataFrame:
    import csv
    import warnings
    from io import StringIO

    raw = path.read_bytes()
    if not raw.strip():
        raise DataError([Problem(path.name, "the file is empty; it needs a header row and data rows")])
    text = _decode(raw, path.name)
    if "\x00" in text:
        raise DataError([Problem(path.name, "the file is binary, not text; export it as CSV (UTF-8)")])
    header = text.splitlines()[0] if text else ""
    sep = max([",", ";", "\t"], key=header.count)
    records = csv.reader(StringIO(text), delimiter=sep)
    names = [name.strip() for name in next(records, [])]
    _check_header(names, path.name)
    first = next(records, None)
    if first is not None and len(first) > len(names):  # pandas would take the first column as an index
        raise DataError([Problem(path.name, _too_many_fields(len(first), len(names), sep), 2)])
    # blank lines are kept while reading so row numbers stay those a spreadsheet shows,
    # then rows with no value at all are dropped (the index keeps the numbering)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # surplus empty cells at the end of a row are dropped
            frame = pd.read_csv(
                StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False, index_col=False
            )
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found is None:
            raise
        expected, line, saw = (int(x) for x in found.groups())
        raise DataError([Problem(path.name, _too_many_fields(saw, expected, sep), line)]) from None
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    blank = frame.apply(lambda col: col.fillna("").astype(str).str.strip() == "").all(axis=1)
    frame = frame[~blank]
    _refuse_repeated_header(frame, path.name)
    frame.attrs["delimiter"] = sep
    return frame


def _refuse_repeated_header(frame: pd.DataFrame, source: str) -> None:
    """A data row that repeats the header (two exports joined into one file)."""
    named = [c for c in frame.columns if c and not str(c).startswith("Unnamed:")]
    if len(named) < 2 or frame.empty:
        return
    same = np.ones(len(frame), dtype=bool)
    for column in named:
        same &= (frame[column].fillna("").astype(str).str.strip() == column).to_numpy()
    rows = [v.row_number(label) for label in frame.index[same]]
    if rows:
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        msg = f"row(s) {shown} repeat the header (two exports joined into one file?); delete them"
        raise DataError([Problem(source, msg, rows[0])])


def _too_many_fields(saw: int, expected: int, sep: str) -> str:
    shown = {"\t": "tab", ",": "','", ";": "';'"}[sep]
    return (
        f"{saw} values but the header has {expected} columns: a value holds an unquoted {shown} "
        f'(quote it, e.g. "Acme{sep if sep != chr(9) else ","} Inc"), or the header lacks a column'
    )


def _check_header(names: list[str], source: str) -> None:
    """Refuse a header that names a column twice (also after trimming spaces): which of the
    two would be used is a guess."""
    seen: dict[str, int] = {}
    problems = []
    for position, name in enumerate(names, start=1):
        if not name:
            continue
        if name in seen:
            msg = (
                f"columns {seen[name]} and {position} are both named {name!r} (after trimming spaces); "
                "rename or delete one, so it is clear which one to use"
            )
            problems.append(Problem(source, msg, None, name))
        else:
            seen[name] = position
    if problems:
        raise DataError(problems)


# ------------------------------------------------------------------------------ writers


def write_atomic(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Write a file via ``writer(tmp_path)`` then rename it over ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
    return path


def remove_file(path: str | Path) -> None:
    """Remove a file this tool wrote, if it is there."""
    Path(path).unlink(missing_ok=True)


def copy_file(source: str | Path, target: str | Path) -> Path:
    """Copy a file (with its times and mode), e.g. an earlier output into a staging folder."""
    import shutil

    return Path(shutil.copy2(source, target))


def write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as UTF-8 CSV, text cells neutralised against spreadsheet formulas
    (:mod:`territory_opt._cells`: ``=cmd`` is written ``'=cmd``; numbers stay numbers)."""
    safe = neutralise_formulas(frame)
    return write_atomic(path, lambda p: safe.to_csv(p, index=False, lineterminator="\n"))


def read_output_csv(path: str | Path) -> pd.DataFrame:
    """A CSV this tool wrote, read back as text with the formula neutralisation undone."""
    return restore_formulas(read_table(path))


#: Excel number formats: money, counts and measures, percentages (values already in %).
_MONEY = '"$"#,##0'
_NUMBER = "#,##0.0"
_PCT = '0.0"%"'
_MONEY_WORDS = ("quota", "potential", "revenue", "sales", "history", "target_value", "amount", "value")


def _excel_format(column: str, money: set[str]) -> str | None:
    name = column.removesuffix("_target")
    if column.endswith("_pct"):
        return _PCT
    if column in ("lat", "lon"):
        return "0.00000"
    if "_per_" in column or column.endswith(("_cv", "_gini", "_share", "_ratio")):
        return "0.000"
    if name in money or any(word in name.lower() for word in _MONEY_WORDS):
        return _MONEY
    return None


def write_plan_xlsx(
    path: str | Path, sheets: dict[str, pd.DataFrame], *, money: set[str] | None = None, update: bool = False
) -> Path:
    """Write ``plan.xlsx``: one sheet per table (e.g. assignments, territories, quotas,
    changes), headers frozen and filtered, money columns in a currency format, other numbers
    with thousands separators. Text cells pass :func:`territory_opt._cells.neutralise_formulas`
    (a CRM name never becomes a live formula). ``update``: replace these sheets of an existing
    workbook and keep the others (quotas set after the plan)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    from ._cells import neutralise_formulas

    money = money or set()
    path = Path(path)

    def fill(book: Any) -> None:
        for name, frame in sheets.items():
            if name in book.sheetnames:
                index = book.sheetnames.index(name)
                book.remove(book[name])
                sheet = book.create_sheet(name, index)
            else:
                sheet = book.create_sheet(name)
            safe = neutralise_formulas(frame.reset_index(drop=True))
            sheet.append([str(c) for c in safe.columns])
            for row in safe.itertuples(index=False):
                sheet.append([_excel_value(v) for v in row])
            sheet.freeze_panes = "A2"
            if len(safe.columns):
                sheet.auto_filter.ref = f"A1:{get_column_letter(len(safe.columns))}{len(safe) + 1}"
            for j, column in enumerate(safe.columns, start=1):
                letter = get_column_letter(j)
                series = frame.iloc[:, j - 1]
                numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
                fmt = _excel_format(str(column), money) if numeric else None
                if numeric and fmt is None:
                    integral = bool(np.all(np.mod(series.dropna().to_numpy(dtype=float), 1) == 0))
                    fmt = "#,##0" if integral else _NUMBER
                if fmt is not None:
                    for cell in sheet[letter][1:]:
                        cell.number_format = fmt
                width = max(
                    [len(str(column))]
                    + [len(f"{v:,.0f}" if numeric and pd.notna(v) else str(v)) for v in series.head(200)]
                )
                sheet.column_dimensions[letter].width = min(max(width + 2, 8), 48)
                sheet.cell(row=1, column=j).font = openpyxl.styles.Font(bold=True)

    def writer(tmp: Path) -> None:
        if update and path.exists():
            book = openpyxl.load_workbook(path)
        else:
            book = openpyxl.Workbook()
            book.remove(book.active)
        fill(book)
        book.save(tmp)

    return write_atomic(path, writer)


def _excel_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def read_scenario_text(path: Path) -> str:
    """The text of a scenario's YAML file (UTF-8, a byte-order mark allowed).

    Raises
    ------
    ScenarioError
        The file is missing, not a regular file, or unreadable.
    """
    if path.exists() and not path.is_file():  # a folder, or a FIFO that would block the read
        msg = f"{path}: not a regular file; give the scenario's YAML file"
        raise ScenarioError(msg)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        msg = f"{path}: scenario file not found"
        raise ScenarioError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read the scenario file ({exc})"
        raise ScenarioError(msg) from None


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda p: p.write_bytes(data))


def read_text(path: str | Path) -> str:
    return Path(path).read_text(encoding="utf-8")


def json_text(value: Any) -> str:
    """Strict JSON (RFC 8259) for an output file: NaN and infinities become ``null`` (Python's
    ``json`` would write ``NaN``, which other readers refuse); other objects as text."""
    import json
    import math

    def clean(item: Any) -> Any:
        if isinstance(item, dict):
            return {str(k): clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        if isinstance(item, np.generic):
            item = item.item()
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, np.ndarray):
            return clean(item.tolist())
        return item

    return json.dumps(clean(value), indent=2, default=str, allow_nan=False) + "\n"


def read_json(path: str | Path) -> Any:
    import json

    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_assignment(folder: str | Path) -> pd.DataFrame:
    """A plan's ``assignments.csv`` (unit_id, territory_id, ...), as written by ``solve``."""
    path = Path(folder) / "assignments.csv"
    frame = read_output_csv(path)
    missing = {"unit_id", "territory_id"} - set(frame.columns)
    if missing:
        raise DataError(
            [Problem(path.name, f"missing column(s) {sorted(missing)}; is this a territory-opt plan folder?")]
        )
    return frame


# --------------------------------------------------------------------------- assembling


def _measure_names(scenario: Scenario) -> list[str]:
    names: list[str] = list(scenario.balance)
    names += [m for m in scenario.constraints.capacity if m not in names]
    disruption = scenario.constraints.disruption
    if disruption is not None and disruption.measure not in names:
        names.append(disruption.measure)
    if scenario.quotas is not None:
        names += [m for m in scenario.quotas.measures() if m not in names]
    return names


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notes: list[str] = []  # facts found while reading (e.g. rows placed by ZIP code)
        self.raised = False

    def add(self, problems: list[Problem]) -> None:
        self.problems.extend(problems)

    def raise_if_any(self) -> None:
        if self.problems:
            self.raised = True
            raise DataError(self.problems)


@contextlib.contextmanager
def _collecting() -> Iterator[_Collector]:
    collector = _Collector()
    try:
        yield collector
    except DataError as exc:
        if collector.raised:
            raise
        collector.problems.extend(exc.problems)
    collector.raise_if_any()


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].astype("string").fillna("").str.strip().astype(object)


def _points_of(
    frame: pd.DataFrame, source: str, spec: FileSource | None, out: _Collector
) -> tuple[np.ndarray, np.ndarray]:
    lat_col = spec.column("lat") if spec else "lat"
    lon_col = spec.column("lon") if spec else "lon"
    zip_col = spec.column("zip") if spec else "zip"
    if zip_col in frame.columns and not isinstance(frame, gpd.GeoDataFrame):
        return _points_from_zip(frame, source, zip_col, (lat_col, lon_col), out)
    if lat_col in frame.columns and lon_col in frame.columns:
        lat, lon, problems = v.coordinates(frame[lat_col], frame[lon_col], source, lat_col, lon_col)
        out.add(problems)
        return lon, lat
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        if frame.crs is None:
            out.add([Problem(source, "the geometry has no CRS; save the file with one (e.g. EPSG:4326)")])
            return np.zeros(len(frame)), np.zeros(len(frame))
        pts = frame.geometry.to_crs("EPSG:4326")
        empty = pts.is_empty.to_numpy() | pts.isna().to_numpy()
        for i in np.flatnonzero(empty):
            out.add([Problem(source, "missing geometry; give a point or a polygon", v.row_number(int(i)))])
        reps = pts.where(~empty, None).representative_point()
        return reps.x.fillna(0).to_numpy(), reps.y.fillna(0).to_numpy()
    out.add(
        [
            Problem(
                source,
                f"no location: expected columns {lat_col!r} and {lon_col!r} (decimal degrees), a "
                f"{zip_col!r} column (US ZIP codes) or a geometry; map them in the scenario under "
                "columns.lat / columns.lon / columns.zip",
            )
        ]
    )
    return np.zeros(len(frame)), np.zeros(len(frame))


def _points_from_zip(
    frame: pd.DataFrame, source: str, zip_col: str, latlon: tuple[str, str], out: _Collector
) -> tuple[np.ndarray, np.ndarray]:
    """Rows without coordinates placed at their ZIP's 2020 ZCTA internal point (offline table).

    Rows that give both coordinates keep them; unknown ZIP codes are listed once per value
    with their rows.
    """
    lat_col, lon_col = latlon
    codes, problems = v.zip_codes(frame[zip_col], source, zip_col)
    out.add(problems)
    lat = np.full(len(frame), np.nan)
    lon = np.full(len(frame), np.nan)
    has = np.zeros(len(frame), dtype=bool)
    if lat_col in frame.columns and lon_col in frame.columns:
        given = (_text(frame, lat_col) != "") | (_text(frame, lon_col) != "")
        has = given.to_numpy()
        if has.any():
            given_rows = frame[has]
            lat[has], lon[has], problems = v.coordinates(
                given_rows[lat_col], given_rows[lon_col], source, lat_col, lon_col
            )
            out.add(problems)
    table = zip_points().set_index("zip")
    need = ~has
    found = codes.isin(table.index).to_numpy()
    use = need & found
    lat[use] = codes[use].map(table["lat"]).to_numpy(dtype=float)
    lon[use] = codes[use].map(table["lon"]).to_numpy(dtype=float)
    if use.any():
        out.notes.append(
            f"{source}: {int(use.sum())} row(s) without coordinates placed at their ZIP code's 2020 ZCTA "
            "internal point (offline Census table)"
        )
    text = _text(frame, zip_col)
    for i in np.flatnonzero(need & (codes == "").to_numpy() & (text == "").to_numpy()):
        out.add(
            [
                Problem(
                    source,
                    f"no location: give {lat_col!r}/{lon_col!r} or a ZIP code",
                    v.row_number(frame.index[int(i)]),
                    zip_col,
                )
            ]
        )
    unknown = need & ~found & (codes != "").to_numpy()
    for code, rows in pd.Series(frame.index[unknown]).groupby(codes[unknown].to_numpy(), sort=True):
        numbers = [v.row_number(r) for r in rows]
        shown = ", ".join(map(str, numbers[:5])) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
        out.add(
            [
                Problem(
                    source,
                    f"ZIP code {code!r} ({len(numbers)} row{'s' if len(numbers) > 1 else ''}: {shown}) is not a "
                    "2020 ZIP Code Tabulation Area, so it has no location (PO-box-only and retired ZIPs have "
                    "none); give lat/lon for these rows or correct the ZIP",
                    numbers[0],
                    zip_col,
                )
            ]
        )
    return lon, lat  # NaN where no location was found (reported above)


def _units_from_frame(
    frame: pd.DataFrame, source: str, spec: FileSource | None, measures: list[str], out: _Collector
) -> pd.DataFrame:
    """Our unit columns from a user's (or generated) frame, every problem collected."""
    col = spec.column if spec else (lambda name: name)
    out.add(v.empty_file(frame, source, "row"))
    id_col = col("id")
    needed = {"id": id_col} | {m: col(m) for m in measures if m != "units"}
    missing = v.missing_columns(frame, source, needed, key_hint="data.accounts")
    out.add(missing)
    out.add(v.mapped_columns(frame, source, spec, skip=set(needed.values())))
    out.add(v.half_location(frame, source, col("lat"), col("lon")))
    if id_col in frame.columns:
        out.add(v.duplicate_ids(frame[id_col], source, id_col))
    lon, lat = _points_of(frame, source, spec, out)
    units = pd.DataFrame(
        {
            "id": _text(frame, id_col),
            "name": _text(frame, col("name")) if col("name") in frame.columns else _text(frame, id_col),
            "lon": lon,
            "lat": lat,
        }
    )
    for measure in measures:
        if measure == "units":
            units["units"] = (
                v.to_number(frame[col("units")])[0].fillna(1.0).to_numpy() if col("units") in frame.columns else 1.0
            )
            continue
        if col(measure) in frame.columns:
            values, problems = v.measure_values(
                frame[col(measure)], source, col(measure), **_number_format(frame, spec)
            )
            out.add(problems)
            units[measure] = values
    for name in ("owner", "lock", "family"):
        units[name] = _text(frame, col(name))
    # a family is named by its parent's id: a parent that others name joins its own family
    parents = set(units["family"]) - {""}
    is_parent = (units["family"] == "") & units["id"].isin(parents)
    units.loc[is_parent, "family"] = units.loc[is_parent, "id"]
    units["skills"] = pd.Series(v.split_skills(_text(frame, col("skills"))), index=units.index, dtype=object)
    if col("region") in frame.columns:
        units["region"] = _text(frame, col("region"))
    elif "state" in frame.columns:
        units["region"] = _text(frame, "state")
    return units


def _check_locations(
    scenario: Scenario, accounts: pd.DataFrame | None, reps: pd.DataFrame, notes: list[str], out: _Collector
) -> None:
    """Implausible locations in the user's accounts and roster (see
    :func:`_validate.implausible_locations`); notes instead of errors with ``allow_outliers``."""
    spec = scenario.data
    groups = []
    for table, source in ((accounts, spec.accounts), (reps, spec.reps)):
        if table is None or source is None or not len(table) or table["lat"].isna().all():
            continue
        rows = np.array([v.row_number(label) for label in table.index])
        groups.append(
            (
                Path(source.path).name,
                table["lat"].to_numpy(float),
                table["lon"].to_numpy(float),
                rows,
                source.column("lat"),
            )
        )
    found = v.implausible_locations(groups)
    if not found:
        return
    if not spec.allow_outliers:
        out.add(found)
        return
    accepted = [str(p).split(" Check the row")[0].split(", or accept it knowingly")[0] for p in found]
    shown = "; ".join(accepted[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    notes.append(f"{len(found)} implausible location(s) accepted knowingly (allow_outliers): {shown}")


def _number_format(frame: pd.DataFrame, spec: FileSource | None) -> dict[str, Any]:
    """Decimal mark settings for :func:`_validate.measure_values`: the scenario's ``decimal``,
    else detection per column; in a ``,``-separated CSV an unquoted decimal comma is
    impossible, so ``1,234`` is a thousands separator there, while in a ``;`` or tab file a
    column that could be read either way is refused."""
    separator = frame.attrs.get("delimiter")
    return {"decimal": spec.decimal if spec else None, "default_decimal": None if separator in (";", "\t") else "."}


def _reps_from_frame(frame: pd.DataFrame, source: str, spec: FileSource | None, out: _Collector) -> pd.DataFrame:
    col = spec.column if spec else (lambda name: name)
    out.add(v.empty_file(frame, source, "rep"))
    id_col = col("id")
    out.add(v.missing_columns(frame, source, {"id": id_col}, key_hint="data.reps"))
    out.add(v.mapped_columns(frame, source, spec, skip={id_col}))
    out.add(v.half_location(frame, source, col("lat"), col("lon")))
    if id_col in frame.columns:
        out.add(v.duplicate_ids(frame[id_col], source, id_col))
    has_home = (
        (col("lat") in frame.columns and col("lon") in frame.columns)
        or col("zip") in frame.columns
        or isinstance(frame, gpd.GeoDataFrame)
    )
    if has_home:
        lon, lat = _points_of(frame, source, spec, out)
    else:
        lon = lat = np.full(len(frame), np.nan)
    capacity = np.ones(len(frame))
    if col("capacity") in frame.columns:
        fte = frame[col("capacity")]
        capacity, problems = v.measure_values(
            fte, source, col("capacity"), required=False, **_number_format(frame, spec)
        )
        out.add(problems)
        out.add(v.zero_capacity(fte, capacity, source, col("capacity")))
        blank = v.to_number(fte)[0].isna().to_numpy() & ~v.to_number(fte)[1].to_numpy()
        capacity = np.where(blank, 1.0, capacity)  # an empty FTE cell is a full-time rep
    return pd.DataFrame(
        {
            "id": _text(frame, id_col),
            "name": _text(frame, col("name")) if col("name") in frame.columns else _text(frame, id_col),
            "lon": lon,
            "lat": lat,
            "skills": v.split_skills(_text(frame, col("skills"))),
            "capacity": capacity,
            # hierarchy: territory -> area -> region (optional columns)
            "area": _text(frame, col("area")) if col("area") in frame.columns else "",
            "region": _text(frame, col("region")) if col("region") in frame.columns else "",
        }
    )


def _add_vacancies(reps: pd.DataFrame, scenario: Scenario, notes: list[str]) -> pd.DataFrame:
    seats = scenario.seats
    extra = seats.vacancies
    if len(reps) == 0 and seats.count:
        extra += seats.count
    if extra == 0 and seats.use_home_bases:
        return reps
    if not seats.use_home_bases:
        reps = reps.assign(lon=np.nan, lat=np.nan)
    all_skills = frozenset().union(*reps["skills"]) if len(reps) else frozenset()
    if seats.vacancy_skills is not None:
        all_skills = frozenset(x.strip().casefold() for x in seats.vacancy_skills if x.strip())
    elif all_skills and seats.vacancies:
        notes.append(
            f"the {seats.vacancies} open seat(s) of seats.vacancies hold every skill of the roster "
            f"({', '.join(sorted(all_skills))}); set seats.vacancy_skills to choose"
        )
    label = "Seat" if len(reps) == 0 else "Vacancy"
    vacancies = pd.DataFrame(
        {
            "id": [f"{label[0]}{i + 1:03d}" if label == "Seat" else f"V{i + 1:03d}" for i in range(extra)],
            "name": [f"{label} {i + 1}" for i in range(extra)],
            "lon": np.nan,
            "lat": np.nan,
            "skills": [all_skills] * extra,
            "capacity": 1.0,
            "area": "",
            "region": "",
        }
    )
    return pd.concat([reps, vacancies], ignore_index=True) if len(reps) else vacancies


def _edges_from_ids(
    ids: np.ndarray, a: pd.Series, b: pd.Series, source: str, cols: tuple[str, str], out: _Collector
) -> np.ndarray:
    index = {u: i for i, u in enumerate(ids)}
    rows = []
    for r, (x, y) in enumerate(zip(a.astype(str).str.strip(), b.astype(str).str.strip(), strict=True)):
        bad = [(c, val) for c, val in zip(cols, (x, y), strict=True) if val not in index]
        for column, value in bad:
            out.add(
                [
                    Problem(
                        source, f"unit {value!r} is not among the units; fix the id", v.row_number(a.index[r]), column
                    )
                ]
            )
        if not bad and x != y:
            rows.append(sorted((index[x], index[y])))
    if not rows:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.unique(np.array(rows, dtype=np.int64), axis=0)
    return np.column_stack([pairs, np.zeros(len(pairs), dtype=np.int64)])


def _builtin_geography(
    name: str, states: list[str] | None, measures: list[str], strict: bool, out: _Collector, notes: list[str]
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, np.ndarray]:
    """A built-in dataset's units (ids in ``id``; the frame keeps ``fips``, polygons) and edges."""
    source = f"builtin:{name}"
    try:
        if name == "us-zips":
            frame, adjacency = us_zips(states)
            frame = frame.rename(columns={"zip": "fips"})  # the key generate_book places accounts by
            adjacency = adjacency.rename(columns={"zip_a": "fips_a", "zip_b": "fips_b"})
        else:
            frame, adjacency = us_counties(states)
    except ValueError as exc:
        out.add([Problem("scenario data.states", str(exc))])
        out.raise_if_any()
        raise  # unreachable: raise_if_any raised
    table = pd.DataFrame(frame.drop(columns="geometry")).rename(columns={"fips": "id"})
    geo_units = _units_from_frame(table, source, None, [m for m in measures if m in table.columns or m == "units"], out)
    geo_units["state"] = frame["state"].to_numpy()
    for m in measures:
        if m not in geo_units.columns and strict:
            out.add(
                [
                    Problem(
                        source,
                        f"measure {m!r} is not in this dataset; it has: population. To balance your own "
                        "measures, give your accounts (data.accounts): they are summed into its units",
                    )
                ]
            )
    index = pd.Series(np.arange(len(geo_units)), index=geo_units["id"].to_numpy())
    edges = np.column_stack(
        [
            index[adjacency["fips_a"]].to_numpy(),
            index[adjacency["fips_b"]].to_numpy(),
            (adjacency["kind"] == "link").to_numpy(dtype=np.int64),
        ]
    ).astype(np.int64)
    if name == "us-zips":
        notes.append(f"US ZIPs: {ZIP_NOTE}; 2019 county population apportioned to ZIPs")
    else:
        notes.append("US counties: Census cartographic boundaries 2016 and 2019 population estimates")
    return frame, geo_units, edges


@dataclass
class _Reading:
    """What :func:`load_inputs` has read so far (its steps fill it in, in order)."""

    measures: list[str]
    notes: list[str] = field(default_factory=list)
    counties: gpd.GeoDataFrame | None = None  # a built-in dataset's frame (the synthetic book's places)
    geo_units: pd.DataFrame | None = None
    geometry: gpd.GeoSeries | None = None
    edges: np.ndarray | None = None
    accounts: pd.DataFrame | None = None
    reps: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["id", "name", "lon", "lat", "skills", "capacity"])
    )
    removed: pd.DataFrame | None = None
    references_checked: bool = False
    units: pd.DataFrame | None = None
    unit_kind: str = "accounts"
    land: gpd.GeoSeries | None = None


def load_inputs(scenario: Scenario) -> Inputs:
    """Read and validate everything a scenario names.

    The steps, in order: the geography (a built-in dataset or the user's polygons), the book
    (a synthetic book, or the accounts and reps files), owners matched to reps and the
    what-if edits applied (:func:`territory_opt.edits.apply_edits`), open seats added, the
    units to assign (accounts, or geographic units carrying the accounts inside them), the
    scenario's references checked, and the adjacency when contiguity is asked for.

    Raises
    ------
    DataError
        Listing every problem found (file, row, column, what was found, what to do).
    """
    reading = _Reading(measures=_measure_names(scenario))
    with _collecting() as out:
        _read_geography(scenario, reading, out)
        _read_book(scenario, reading, out)
        _owners_and_edits(scenario, reading, out)
        _units_to_assign(scenario, reading, out)
        _check_scenario_references(scenario, reading, out)
        _contiguity_edges(scenario, reading, out)
    return _inputs(reading, out)


def _read_geography(scenario: Scenario, reading: _Reading, out: _Collector) -> None:
    """A built-in dataset's units and edges, or the user's polygons (``data.geography``)."""
    spec = scenario.data
    measures = reading.measures
    if spec.dataset is not None or spec.synthetic is not None:
        reading.counties, reading.geo_units, reading.edges = _builtin_geography(
            spec.dataset or "us-counties",
            spec.states,
            measures,
            spec.synthetic is None and spec.accounts is None,
            out,
            reading.notes,
        )
        reading.geometry = reading.counties.geometry.reset_index(drop=True)
    if spec.geography is None:
        return
    source = Path(spec.geography.path).name
    frame = read_table(scenario.resolve(spec.geography.path), layer=spec.geography.layer)
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = "no geometry column; geography must be polygons (GeoPackage, GeoJSON, Shapefile, GeoParquet)"
        out.add([Problem(source, msg)])
        out.raise_if_any()
    assert isinstance(frame, gpd.GeoDataFrame)
    if frame.crs is None:
        out.add([Problem(source, "the geometry has no CRS; save the file with one (e.g. EPSG:4326)")])
        out.raise_if_any()
    geo_measures = [m for m in measures if m in frame.columns or m == "units" or spec.accounts is None]
    reading.geo_units = _units_from_frame(frame, source, spec.geography, geo_measures, out)
    reading.geometry = frame.geometry.to_crs("EPSG:4326").reset_index(drop=True)


def _read_book(scenario: Scenario, reading: _Reading, out: _Collector) -> None:
    """The accounts and the roster: a synthetic book, or the accounts and reps files. A file
    that cannot be read does not stop the other being checked; both are then reported."""
    spec = scenario.data
    if spec.synthetic is not None:
        assert reading.counties is not None
        book = spec.synthetic
        acc, reps = generate_book(
            reading.counties,
            accounts=book.accounts,
            reps=book.reps,
            seed=book.seed,
            skill_share=book.skill_share,
            family_share=book.family_share,
            lock_share=book.lock_share,
        )
        reading.accounts = _units_from_frame(acc, "builtin:synthetic-book", None, reading.measures, out)
        reading.accounts["unit"] = acc["county"].to_numpy()
        reading.reps = _reps_from_frame(reps, "builtin:synthetic-book", None, out)
        reading.notes.append(f"the book is {SYNTHETIC_NOTE}")
    unreadable = False
    if spec.accounts is not None:
        frame = _read_source(scenario, spec.accounts, out)
        if frame is None:
            unreadable = True
        else:
            reading.accounts = _units_from_frame(
                frame, Path(spec.accounts.path).name, spec.accounts, reading.measures, out
            )
            unit_col = spec.accounts.column("unit")
            if unit_col in frame.columns:
                reading.accounts["unit"] = _text(frame, unit_col)
    if spec.reps is not None:
        frame = _read_source(scenario, spec.reps, out)
        if frame is None:
            out.raise_if_any()
        assert frame is not None
        reading.reps = _reps_from_frame(frame, Path(spec.reps.path).name, spec.reps, out)
    if unreadable:
        out.raise_if_any()


def _read_source(scenario: Scenario, spec: FileSource, out: _Collector) -> pd.DataFrame | None:
    """A data file the scenario names, or None when it cannot be read (its problems collected)."""
    try:
        return read_table(scenario.resolve(spec.path), layer=spec.layer, sheet=spec.sheet)
    except DataError as exc:
        out.add(exc.problems)
        return None


def _owners_and_edits(scenario: Scenario, reading: _Reading, out: _Collector) -> None:
    """Locations checked, owners and locks matched to rep ids, the what-if edits applied and
    the open seats added; stops here on any problem so far."""
    _check_locations(scenario, reading.accounts, reading.reps, reading.notes, out)
    if len(reading.reps):
        reading.accounts, reading.geo_units = _match_owners(
            scenario, reading.reps, reading.accounts, reading.geo_units, out, reading.notes
        )
    if scenario.edits.any:
        edited = apply_edits(
            scenario, reading.reps, reading.accounts, reading.geo_units, file_locks=_lock_file(scenario, out)
        )
        out.add(edited.problems)
        reading.notes.append(edited.note)
        reading.reps, reading.accounts, reading.geo_units = edited.reps, edited.accounts, edited.geo_units
        reading.removed = edited.removed if len(edited.removed) else None
    if out.problems and reading.accounts is not None and len(reading.reps):
        # report bad references with the other problems of the same files
        _check_references(reading.accounts, reading.reps, scenario, out)
        reading.references_checked = True
    out.raise_if_any()
    reading.reps = _add_vacancies(reading.reps, scenario, reading.notes)
    if len(reading.reps) == 0:
        out.add([Problem("scenario seats", "there are no seats: give a reps file, a synthetic book, or seats.count")])
        out.raise_if_any()


def _units_to_assign(scenario: Scenario, reading: _Reading, out: _Collector) -> None:
    """The units: the accounts themselves (the geography, if any, only clips the map), or
    the geographic units carrying the accounts inside them (placed by point in polygon when
    the accounts name no unit)."""
    spec = scenario.data
    accounts, geo_units = reading.accounts, reading.geo_units
    reading.unit_kind = spec.units or ("accounts" if accounts is not None else "geography")
    if reading.unit_kind == "accounts":
        if accounts is None:
            out.add([Problem("scenario data.units", "units: accounts needs an accounts file or a synthetic book")])
            out.raise_if_any()
        reading.units = accounts
        reading.land, reading.geometry, reading.edges = reading.geometry, None, None
        return
    if geo_units is None:
        out.add([Problem("scenario data.units", "units: geography needs a geography file or a built-in dataset")])
        out.raise_if_any()
    assert geo_units is not None
    if accounts is None:
        reading.units = geo_units
        return
    acc_source = Path(spec.accounts.path).name if spec.accounts is not None else "accounts"
    if "unit" not in accounts.columns:
        others = None
        if spec.dataset == "us-counties" and spec.states:
            every, _ = us_counties(None)
            others = every[~every["state"].isin(spec.states)]
        unit_of, problems, note = place_accounts(
            accounts,
            reading.geometry,
            geo_units,
            snap_km=spec.snap_km,
            source=acc_source,
            spec=spec.accounts,
            others=others,
        )
        accounts = reading.accounts = accounts.assign(unit=unit_of)
        out.add(problems)
        if note:
            reading.notes.append(note)
    else:
        column = spec.accounts.column("unit") if spec.accounts is not None else "unit"
        out.add(_unknown_units(accounts, set(geo_units["id"]), acc_source, column))
    out.raise_if_any()
    reading.units = accounts_into_units(accounts, "unit", geo_units, reading.measures)


def _unknown_units(accounts: pd.DataFrame, known: set[str], source: str, column: str) -> list[Problem]:
    """Accounts naming a geographic unit that is not there (the first 50)."""
    unknown = np.flatnonzero((~accounts["unit"].isin(known)).to_numpy())[:50]
    return [
        Problem(
            source,
            f"account {accounts['id'].iloc[i]!r} names no geographic unit ({accounts['unit'].iloc[i]!r}); fix the unit id",
            v.row_number(accounts.index[int(i)]),
            column,
        )
        for i in unknown
    ]


def _check_scenario_references(scenario: Scenario, reading: _Reading, out: _Collector) -> None:
    """Owners, locks and skills against the roster (unless reported already), and the
    scenario's exclusions against the units and reps."""
    units = reading.units
    assert units is not None
    if not reading.references_checked:
        _check_references(reading.accounts if reading.accounts is not None else units, reading.reps, scenario, out)
    seat_ids = set(reading.reps["id"])
    unit_ids = set(units["id"])
    for k, exclusion in enumerate(scenario.constraints.exclusions):
        if exclusion.unit not in unit_ids:
            out.add([Problem("scenario", f"constraints.exclusions.{k}.unit: {exclusion.unit!r} is not a unit id")])
        if exclusion.seat not in seat_ids:
            out.add([Problem("scenario", f"constraints.exclusions.{k}.seat: {exclusion.seat!r} is not a rep id")])


def _contiguity_edges(scenario: Scenario, reading: _Reading, out: _Collector) -> None:
    """With contiguity on: the adjacency (``data.adjacency``, the built-in one, or queen
    contiguity of the polygons), islands linked to their nearest neighbour or reported."""
    contiguity = scenario.constraints.contiguity
    if contiguity is None or not contiguity.enabled:
        return
    spec = scenario.data
    units, geometry = reading.units, reading.geometry
    assert units is not None
    if reading.unit_kind != "geography":
        out.add(
            [Problem("scenario constraints.contiguity", "contiguity needs geographic units (data.units: geography)")]
        )
        out.raise_if_any()
    if spec.adjacency is not None:
        source = Path(spec.adjacency.path).name
        frame = read_table(scenario.resolve(spec.adjacency.path))
        a_col, b_col = spec.adjacency.column("source"), spec.adjacency.column("target")
        out.add(v.missing_columns(frame, source, {"source": a_col, "target": b_col}, key_hint="data.adjacency"))
        out.raise_if_any()
        reading.edges = _edges_from_ids(units["id"].to_numpy(), frame[a_col], frame[b_col], source, (a_col, b_col), out)
    elif reading.edges is None:
        if geometry is None:
            out.add([Problem("scenario data.adjacency", "contiguity needs polygons or an adjacency edge list")])
            out.raise_if_any()
        assert geometry is not None
        projected = geometry.to_crs(geo.choose_metric_crs(units["lon"].to_numpy(), units["lat"].to_numpy()))
        reading.edges = geo.queen_edges(projected.to_numpy())
    edges = reading.edges
    assert edges is not None
    degree = np.bincount(edges[:, :2].ravel(), minlength=len(units))
    if contiguity.islands == "link" and geometry is not None:
        projected = geometry.to_crs(geo.choose_metric_crs(units["lon"].to_numpy(), units["lat"].to_numpy()))
        reading.edges = geo.connect_components(projected.to_numpy(), edges)
        if len(reading.edges) > len(edges):
            reading.notes.append(
                f"{len(reading.edges) - len(edges)} island link(s) added to connect the adjacency graph"
            )
    elif contiguity.islands == "error":
        src_adj = (
            Path(spec.adjacency.path).name
            if spec.adjacency
            else (Path(spec.geography.path).name if spec.geography else "units")
        )
        out.add(v.isolated_units(units["id"].to_numpy(), degree, src_adj))


def _inputs(reading: _Reading, out: _Collector) -> Inputs:
    """The validated :class:`Inputs` (hierarchy columns filled in)."""
    units, reps = reading.units, reading.reps
    assert units is not None
    if "region" not in units.columns:
        units["region"] = units["state"] if "state" in units.columns else ""
    for level in ("area", "region"):
        if level not in reps.columns:
            reps[level] = ""
    return Inputs(
        units=units.reset_index(drop=True),
        reps=reps.reset_index(drop=True),
        edges=reading.edges,
        geometry=reading.geometry,
        measures=tuple(reading.measures),
        unit_kind=reading.unit_kind,
        accounts=reading.accounts if reading.unit_kind == "geography" else None,
        notes=(*reading.notes, *out.notes),
        removed=reading.removed,
        land=reading.land,
    )


def _lock_file(scenario: Scenario, out: _Collector) -> dict[str, str]:
    """The locks of ``edits.lock_file`` (columns ``id``, ``rep``), checked; empty without one."""
    if scenario.edits.lock_file is None:
        return {}
    source = Path(scenario.edits.lock_file).name
    frame = read_table(scenario.resolve(scenario.edits.lock_file))
    out.add(v.missing_columns(frame, source, {"id": "id", "rep": "rep"}, key_hint="edits.lock_file"))
    if not {"id", "rep"} <= set(frame.columns):
        return {}
    out.add(v.duplicate_ids(frame["id"], source, "id"))
    return dict(zip(_text(frame, "id"), _text(frame, "rep"), strict=True))


def _match_owners(
    scenario: Scenario,
    reps: pd.DataFrame,
    accounts: pd.DataFrame | None,
    geo_units: pd.DataFrame | None,
    out: _Collector,
    notes: list[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Owners and locks named by rep id or by rep name become rep ids (see
    :func:`territory_opt._validate.match_reps`)."""
    spec = scenario.data
    tables: list[pd.DataFrame | None] = []
    for table, file in ((accounts, spec.accounts), (geo_units, spec.geography)):
        if table is None:
            tables.append(None)
            continue
        src = Path(file.path).name if file is not None else "builtin:synthetic-book"
        table = table.copy()
        for name, what in (("owner", "current owner"), ("lock", "lock target")):
            column = file.column(name) if file is not None else name
            before = table[name].astype(str).str.strip()
            table[name], problems = v.match_reps(table[name], reps["id"], reps["name"], src, column, what=what)
            out.add(problems)
            by_name = int((before != table[name].astype(str)).sum())
            if by_name:
                notes.append(f"{by_name} row(s) of {src} give their {what} by name (matched to rep ids)")
        tables.append(table)
    return tables[0], tables[1]


def _check_references(units: pd.DataFrame, reps: pd.DataFrame, scenario: Scenario, out: _Collector) -> None:
    spec = scenario.data
    src = "units"
    if spec.accounts is not None:
        src = Path(spec.accounts.path).name
    elif spec.geography is not None:
        src = Path(spec.geography.path).name
    elif spec.synthetic is not None:
        src = "builtin:synthetic-book"
    file = spec.accounts if spec.accounts is not None else spec.geography
    column = file.column if file is not None else (lambda name: name)
    known = set(reps["id"])
    out.add(v.references(units["owner"], known, src, column("owner"), what="current owner"))
    if scenario.constraints.locks:
        out.add(v.references(units["lock"], known, src, column("lock"), what="lock target"))
    if scenario.constraints.skills:
        out.add(v.skill_coverage(list(units["skills"]), list(reps["skills"]), src, "skills"))
