"""A self-contained HTML report of a plan: proof, territories, balance chart, quotas,
audit and the map. Every string from the user's data is HTML-escaped."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .plan import Plan


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], *, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def balance_chart(plan: Plan, measure: str, tolerance: float | None) -> str:
    """Inline SVG: each territory's deviation from target [%] against the tolerance band."""
    frame = plan.territories
    dev = frame[f"{measure}_dev_pct"].to_numpy(float)
    ids = frame["territory_id"].astype(str).tolist()
    k = len(dev)
    limit = max(float(np.abs(dev).max(initial=0.0)), 100 * (tolerance or 0.0), 1.0) * 1.15
    width, row_h, left = 640, 16, 120
    height = row_h * k + 30
    mid = left + (width - left) / 2
    scale = (width - left) / 2 / limit
    parts = [f'<svg class="balance" width="{width}" height="{height}" role="img" aria-label="{_e(measure)} deviation">']
    if tolerance:
        band = 100 * tolerance * scale
        parts.append(f'<rect x="{mid - band:.1f}" y="0" width="{2 * band:.1f}" height="{row_h * k}" fill="#e8f3e8"/>')
    parts.append(f'<line x1="{mid}" y1="0" x2="{mid}" y2="{row_h * k}" stroke="#555"/>')
    for i, (tid, d) in enumerate(zip(ids, dev, strict=True)):
        y = i * row_h
        x0 = mid if d >= 0 else mid + d * scale
        colour = "#B2182B" if tolerance and abs(d) > 100 * tolerance + 1e-6 else "#2166AC"
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="11">{_e(tid)}</text>')
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{abs(d) * scale:.1f}" height="{row_h - 6}" fill="{colour}"><title>{_e(tid)}: {d:+.2f}%</title></rect>'
        )
    if tolerance:
        parts.append(
            f'<text x="{mid}" y="{row_h * k + 20}" text-anchor="middle" font-size="11">shaded: ±{100 * tolerance:g}% tolerance band</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def plan_report(
    plan: Plan,
    *,
    map_html: str | None = None,
    quotas: Any | None = None,
    description: str = "",
    tolerances: dict[str, float] | None = None,
) -> str:
    """The report as one HTML string."""
    tolerances = tolerances or {}
    gap = "n/a" if plan.gap is None else f"{100 * plan.gap:.2f}%"
    bound = "n/a" if plan.bound is None else f"{plan.bound:,.4g}"
    proof = _table(
        ["figure", "value"],
        [
            ["status", f"<b>{_e(plan.status.value)}</b>"],
            ["objective", f"{plan.objective:,.4g}"],
            ["bound", _e(bound)],
            ["gap", _e(gap)],
            ["bound valid for", _e(plan.bound_scope)],
            [
                "bound for the unrestricted problem (LP relaxation)",
                "n/a"
                if plan.global_bound is None
                else f"{plan.global_bound:,.4g} (gap {100 * (plan.global_gap or 0):.2f}%)",
            ],
            ["method", _e(plan.method)],
            ["wall time", f"{plan.wall_time:.1f} s"],
            ["seed / deterministic", f"{plan.seed} / {plan.deterministic}"],
            ["versions", _e(", ".join(f"{k} {v}" for k, v in plan.versions.items()))],
        ]
        + [["objective term: " + _e(k), f"{v:,.4g}"] for k, v in plan.objective_terms.items()],
    )
    restrictions = "".join(f"<li>{_e(r)}</li>" for r in plan.restrictions) or "<li>none: the model is exact</li>"
    frame = plan.territories
    cols = (
        ["territory_id", "name", "units"]
        + [c for c in frame.columns if c in plan.problem.measure_names or c.endswith(("_target", "_dev_pct"))]
        + ["travel_km", "contiguous", "stands_alone"]
    )
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if c.endswith("_dev_pct"):
                cells.append(f"{v:+.2f}")
            elif isinstance(v, float | np.floating):
                cells.append(f"{v:,.1f}")
            else:
                cells.append(_e(v))
        rows.append(cells)
    territories = _table(cols, rows, cls="num")
    charts = "".join(
        f"<h3>{_e(m)}</h3>" + balance_chart(plan, m, tolerances.get(m))
        for m in plan.problem.measure_names
        if f"{m}_dev_pct" in frame
    )
    audit = "".join(
        f'<li class="{"ok" if f.ok else "fail"}">{"✔" if f.ok else "✘"} <b>{_e(f.check)}</b>: {_e(f.detail)}</li>'
        for f in plan.findings
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in plan.notes)
    quota_html = ""
    if quotas is not None:
        q = quotas.table
        qcols = [c for c in q.columns if c != "rep_id"]
        qrows = [
            [
                _e(r[c])
                if isinstance(r[c], str)
                else (f"{r[c]:,.3f}" if c == "quota_per_potential" else f"{r[c]:,.0f}")
                for c in qcols
            ]
            for _, r in q.iterrows()
        ]
        fair = "".join(f"<li>{_e(k)}: {v:.3f}</li>" for k, v in quotas.fairness.items())
        binding = "".join(f"<li>{_e(b)}</li>" for b in quotas.binding) or "<li>no bound is binding</li>"
        quota_html = f"<h2>Quotas</h2>{_table(qcols, qrows, cls='num')}<h3>Fairness</h3><ul>{fair}</ul><h3>Binding bounds</h3><ul>{binding}</ul>"
    map_block = ""
    if map_html is not None:
        map_block = f'<h2>Map</h2><iframe class="map" title="territory map" srcdoc="{html.escape(map_html, quote=True)}"></iframe>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(plan.scenario)} · territory plan</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}}
table{{border-collapse:collapse;margin:8px 0}} td,th{{border:1px solid #ccc;padding:3px 6px}}
th{{background:#f2f2f2}} table.num td{{text-align:right}} li.fail{{color:#B2182B}} li.ok{{color:#1b7837}}
iframe.map{{width:100%;height:640px;border:1px solid #999}}
</style></head><body>
<h1>Territory plan: {_e(plan.scenario)}</h1>
<p>{_e(description)}</p>
<h2>Proof of quality</h2>{proof}
<h3>Where the model is narrower than the problem</h3><ul>{restrictions}</ul>
<h2>Territories ({plan.problem.n_seats})</h2>{territories}
<h2>Balance</h2>{charts}
{quota_html}
<h2>Audit (recomputed from the raw inputs)</h2><ul>{audit}</ul>
<h2>Notes</h2><ul>{notes}</ul>
{map_block}
</body></html>
"""
