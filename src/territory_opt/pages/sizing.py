"""``sizing.html`` and ``sizing.png``: workload per rep and travel by headcount, in the
report's style (integer headcount axis, formatted numbers, the recommendation in words)."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import pandas as pd

from . import cell, e, number, page, percent, table


def sizing_png(frame: pd.DataFrame, measure: str | None, limit: float | None, recommended: int | None) -> bytes:
    """The sizing curve (:func:`sizing_figure`) as PNG bytes."""
    fig = sizing_figure(frame, measure, limit, recommended)
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def sizing_figure(frame: pd.DataFrame, measure: str | None, limit: float | None, recommended: int | None) -> Any:
    """The sizing curve: the measure per rep (max and mean) against its capacity, and travel,
    by headcount (whole reps on the axis). A matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig, left = plt.subplots(figsize=(8, 4.2), dpi=110)
    heads = frame["headcount"].astype(int)
    lines = []
    if measure and f"{measure}_per_seat_max" in frame.columns:
        lines += left.plot(
            heads, frame[f"{measure}_per_seat_max"], "o-", color="#0072B2", label=f"{measure} per rep (max)"
        )
        lines += left.plot(
            heads, frame[f"{measure}_per_seat_mean"], "s--", color="#56B4E9", label=f"{measure} per rep (mean)"
        )
        if limit is not None:
            lines.append(left.axhline(limit, color="#b2182b", linestyle=":", label=f"capacity {limit:,.0f} per FTE"))
        left.set_ylabel(f"{measure} per rep (per FTE)")
        left.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    if recommended is not None:
        lines.append(
            left.axvline(recommended, color="#1b7837", linestyle="-.", label=f"recommended: {recommended} reps")
        )
    left.set_xlabel("headcount (reps)")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(heads) <= 15:
        left.set_xticks(list(heads))
    left.grid(alpha=0.25)
    if "travel_km" in frame.columns and pd.to_numeric(frame["travel_km"], errors="coerce").notna().any():
        right = left.twinx()
        lines += right.plot(heads, frame["travel_km"], "^-", color="#762a83", label="mean travel (km)")
        right.set_ylabel("mean travel [km]")
        right.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    if lines:
        left.legend(handles=lines, loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def sizing_page(
    name: str, frame: pd.DataFrame, measure: str | None, limit: float | None, recommended: int | None, png: bytes
) -> str:
    """The sizing page: recommendation, curve, and a compact table (all columns in sizing.csv)."""
    if recommended is not None:
        verdict = f"Recommended headcount: {recommended} reps, the smallest in the range whose plan is feasible"
        verdict += f" with every rep within {limit:,.0f} {measure} per FTE." if measure and limit is not None else "."
    else:
        verdict = "No headcount in the range gives a feasible plan with every rep within capacity."
    columns: list[tuple[str, str, Any]] = [
        ("headcount", "headcount", lambda v: number(v)),
        ("status", "status", str),
        ("within_capacity", "within capacity", lambda v: "yes" if v else "no"),
    ]
    if measure:
        columns += [
            (f"{measure}_per_seat_max", f"{measure} per rep, max", lambda v: number(v)),
            (f"{measure}_per_seat_mean", f"{measure} per rep, mean", lambda v: number(v)),
        ]
    columns += [("travel_km", "mean travel [km]", lambda v: number(v, 1))]
    columns += [
        (c, f"worst {c[:-11]} deviation", lambda v: f"{number(v, 1)}%")
        for c in frame.columns
        if c.endswith("_spread_pct")
    ]
    columns += [("gap", "gap", lambda v: percent(v, 2)), ("error", "error", str)]
    columns = [c for c in columns if c[0] in frame.columns]

    def fmt(value: Any, how: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        try:
            return e(how(value))
        except (TypeError, ValueError):
            return cell(value)

    rows = [[fmt(rec[c], how) for c, _, how in columns] for rec in frame.to_dict("records")]
    numeric = [c not in ("status", "within_capacity", "error") for c, _, _ in columns]
    image = base64.b64encode(png).decode()
    body = f"""<main>
<h1>Sales-force sizing: {e(name)}</h1>
<p class="lead">{e(verdict)}</p>
<img class="chart" alt="{e(measure or "workload")} per rep and travel by headcount" src="data:image/png;base64,{image}">
<h2>By headcount</h2>{table([label for _, label, _ in columns], rows, numeric=numeric)}
<p class="sub">Every figure of every headcount is in sizing.csv; each headcount's plan is in its own folder.</p>
</main>"""
    return page(f"Sizing: {name}", body)
