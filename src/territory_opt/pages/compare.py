"""``compare.html``: two plans side by side, in the report's style.

A sentence on what changes, the headline figures (formatted, with the change), the two maps
(synchronised, one palette, units that change territory highlighted), the change list and
the per-territory figures.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import cell, e, number, page, percent, short_money, table

if TYPE_CHECKING:
    from ..maps import MapPage

#: How each headline figure reads: label, and a formatter of its value.
FIGURES: dict[str, tuple[str, Any]] = {
    "status": ("status", str),
    "audit_ok": ("audit passed", lambda v: "yes" if v else "no"),
    "territories": ("territories", lambda v: number(v)),
    "objective": ("objective", lambda v: number(v, 2)),
    "gap": ("gap (model as solved)", lambda v: percent(v, 2)),
    "global_gap": ("gap to a bound for the real problem", lambda v: percent(v, 2)),
    "travel_km": ("mean travel [km]", lambda v: number(v, 1)),
    "moved_pct": ("moved from the current alignment", lambda v: f"{number(v, 1)}%"),
    "units_moved": ("units moved from the current alignment", lambda v: number(v)),
    "quota_cv": ("spread of quota ÷ potential", lambda v: percent(v, 2)),
}


def _present(value: Any) -> bool:
    if value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _figure(key: str, value: Any) -> str:
    if not _present(value):
        return "n/a"
    if key in FIGURES:
        return str(FIGURES[key][1](value))
    if key.endswith("_spread_pct"):
        return f"{number(value, 1)}%"
    return cell(value)


def _label(key: str) -> str:
    if key in FIGURES:
        return FIGURES[key][0]
    if key.endswith("_spread_pct"):
        return f"worst {key[: -len('_spread_pct')]} deviation from target"
    return key.replace("_", " ")


def _change(key: str, value: Any) -> str:
    if not _present(value) or isinstance(value, bool):
        return ""
    v = float(value)
    if key in ("gap", "global_gap", "quota_cv"):
        return f"{100 * v:+.2f} pts"
    if key.endswith("_pct"):
        return f"{v:+.1f} pts"
    if key == "travel_km":
        return f"{v:+,.1f} km"
    return f"{v:+,.0f}" if abs(v) >= 10 or v == round(v) else f"{v:+,.2f}"


def headline_table(head: pd.DataFrame, names: tuple[str, str]) -> str:
    """The headline figures of two plans, labelled and formatted."""
    rows = []
    for rec in head.to_dict("records"):
        key = str(rec["figure"])
        rows.append(
            [
                e(_label(key)),
                e(_figure(key, rec[names[0]])),
                e(_figure(key, rec[names[1]])),
                e(_change(key, rec.get("change"))),
            ]
        )
    return table(["figure", names[0], names[1], "change"], rows, numeric=[False, True, True, True])


def _numeric(column: pd.Series) -> pd.Series | None:
    values = pd.to_numeric(column, errors="coerce")
    present = column.astype(str).str.strip().ne("") & column.notna()
    return values if values[present].notna().all() and present.any() else None


def territory_table(deltas: pd.DataFrame, names: tuple[str, str], *, currency: str = "$") -> str:
    """Per territory, one column per figure: ``before → after`` and the change below it
    (targets and flags are left to territory_changes.csv)."""
    a, b = names
    bases = [
        c[: -len(" change")]
        for c in deltas.columns
        if c.endswith(" change") and not any(s in c for s in ("_target", "contiguous", "stands_alone"))
    ]
    header = ["territory"]
    columns = []
    for base in bases:
        va, vb, dv = (_numeric(deltas[f"{base} {n}"]) for n in (a, b, "change"))
        if va is None or vb is None or dv is None:
            continue
        columns.append((base, va, vb, dv))
        header.append(base.replace("_dev_pct", " vs target").replace("travel_km", "mean travel [km]"))
    rows = []
    for i in range(len(deltas)):
        cells = [e(deltas["territory_id"].iloc[i])]
        for base, va, vb, dv in columns:
            x, y, d = va.iloc[i], vb.iloc[i], dv.iloc[i]
            if base.endswith("_dev_pct"):
                fx, fy = (f"{v:+.1f}%" if _present(v) else "n/a" for v in (x, y))
                fd = f"{d:+.1f} pts" if _present(d) else ""
            elif base in ("potential", "history", "revenue", "sales", "quota"):
                fx, fy = (short_money(v, currency) if _present(v) else "n/a" for v in (x, y))
                fd = (("+" if d >= 0 else "") + short_money(d, currency)) if _present(d) else ""
            else:
                digits = 1 if base == "travel_km" else 0
                fx, fy = (number(v, digits) if _present(v) else "n/a" for v in (x, y))
                fd = f"{d:+,.{digits}f}" if _present(d) else ""
            cells.append(f"{e(fx)} → {e(fy)}<br><small>{e(fd)}</small>")
        rows.append(cells)
    return table(header, rows, numeric=[False] + [True] * len(columns))


def compare_page(
    names: tuple[str, str],
    head: pd.DataFrame,
    deltas: pd.DataFrame,
    moved: pd.DataFrame,
    *,
    map_page: MapPage | None = None,
    max_moved_rows: int = 500,
    unit_noun: str = "units",
    currency: str = "$",
) -> str:
    """The comparison page of two plans (all text escaped; the maps carry their data as JSON)."""
    a, b = names
    n_moved = len(moved)
    lead = f"{n_moved:,} {unit_noun} change territory between {a} and {b}."
    figures = {str(r["figure"]): r for r in head.to_dict("records")}
    travel = figures.get("travel_km")
    if travel is not None and _present(travel.get(a)) and _present(travel.get(b)):
        lead += f" Mean travel goes from {number(travel[a], 1)} km to {number(travel[b], 1)} km."
    spreads = [k for k in figures if k.endswith("_spread_pct")]
    for k in spreads[:2]:
        r = figures[k]
        if _present(r.get(a)) and _present(r.get(b)):
            lead += f" Worst {k[: -len('_spread_pct')]} deviation: {number(r[a], 1)}% → {number(r[b], 1)}%."
    moved_rows = [[e(v) for v in rec.values()] for rec in moved.head(max_moved_rows).to_dict("records")]
    moved_table = (
        table([unit_noun.rstrip("s"), f"territory in {a}", f"territory in {b}"], moved_rows)
        if len(moved.columns) == 3
        else table([str(c) for c in moved.columns], moved_rows)
    )
    more = (
        f'<p class="sub">First {max_moved_rows:,} of {n_moved:,} shown; all of them are in moved_units.csv.</p>'
        if n_moved > max_moved_rows
        else ""
    )
    maps = (
        '<h2>Maps</h2><p class="sub">No maps: a folder has no map.html made by this version '
        "(solve it again, or keep maps on).</p>"
    )
    if map_page is not None:
        maps = (
            f'<h2>Maps</h2><p class="sub">Left: {e(a)}. Right: {e(b)}. They pan and zoom together; a territory has the '
            "same colour on both; units that change territory are circled in black.</p>"
            + map_page.embed(height="560px")
        )
    body = f"""<main>
<h1>{e(a)} vs {e(b)}</h1>
<p class="lead">{e(lead)}</p>
<h2>Headline figures</h2>{headline_table(head, names)}
{maps}
<h2>{e(unit_noun.capitalize())} that change territory ({n_moved:,})</h2><div style="max-height:420px;overflow:auto">{moved_table}</div>{more}
<h2>Per territory</h2>{territory_table(deltas, names, currency=currency)}
</main>"""
    return page(f"{a} vs {b}", body)
