"""``report.html``: a plan explained for the business, then proved.

The first screen says in plain words what the plan does (territories and reps, balance
achieved, accounts and potential moved, travel, quota fairness); the proof of quality follows
(objective, a bound valid for the real problem and the gap to it, then the restricted model's
own bound), then the map, the territory table, balance charts, quotas, the audit and notes.
Every string from the user's data is escaped (:func:`territory_opt.pages.e`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .pages import e, finite, money, number, page, percent, short_money, table
from .plan import Plan, Status

if TYPE_CHECKING:
    from .maps import MapPage

MONEY_MEASURES = ("potential", "history", "revenue", "sales")


def _measure(name: str, value: Any, currency: str) -> str:
    return money(value, currency) if name in MONEY_MEASURES else number(value)


def balance_chart(plan: Plan, measure: str, tolerance: float | None) -> str:
    """Inline SVG: each territory's deviation from target [%] against the tolerance band."""
    frame = plan.territories
    dev = frame[f"{measure}_dev_pct"].to_numpy(float)
    ids = frame["territory_id"].astype(str).tolist()
    k = len(dev)
    limit = max(float(np.nanmax(np.abs(dev), initial=0.0)), 100 * (tolerance or 0.0), 1.0) * 1.15
    width, row_h, left = 640, 16, 120
    height = row_h * k + 30
    mid = left + (width - left) / 2
    scale = (width - left) / 2 / limit
    parts = [
        f'<svg class="balance" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{e(measure)}: deviation of each territory from its target">'
    ]
    if tolerance:
        band = 100 * tolerance * scale
        parts.append(f'<rect x="{mid - band:.1f}" y="0" width="{2 * band:.1f}" height="{row_h * k}" fill="#e8f3e8"/>')
    parts.append(f'<line x1="{mid}" y1="0" x2="{mid}" y2="{row_h * k}" stroke="#555"/>')
    for i, (tid, d) in enumerate(zip(ids, dev, strict=True)):
        y = i * row_h
        d = 0.0 if not np.isfinite(d) else float(d)
        x0 = mid if d >= 0 else mid + d * scale
        colour = "#B2182B" if tolerance and abs(d) > 100 * tolerance + 1e-6 else "#2166AC"
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="11">{e(tid)}</text>')
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{abs(d) * scale:.1f}" height="{row_h - 6}" fill="{colour}">'
            f"<title>{e(tid)}: {d:+.1f}%</title></rect>"
        )
    axis = f"{-limit / 1.15:+.0f}% … {limit / 1.15:+.0f}%"
    caption = f"shaded: the ±{100 * tolerance:g}% tolerance band · " if tolerance else ""
    parts.append(
        f'<text x="{mid}" y="{row_h * k + 20}" text-anchor="middle" font-size="11">{e(caption)}axis {e(axis)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------------------- figures


def _moved(plan: Plan) -> tuple[np.ndarray, bool]:
    """Which units change owner, and whether there is a current alignment at all."""
    assignment = plan.assignment
    moved = assignment["moved"].to_numpy(bool)
    has_owner = bool((assignment["previous_territory_id"].astype(str) != "").any())
    return moved, has_owner


def _value_measure(plan: Plan, quotas: Any | None) -> str | None:
    """The measure that is money to the business (potential), for 'potential moved'."""
    names = plan.problem.measure_names
    for name in ("potential", *MONEY_MEASURES):
        if name in names:
            return name
    return names[0] if names else None


def summary_sentences(
    plan: Plan,
    *,
    quotas: Any | None = None,
    tolerances: dict[str, float] | None = None,
    currency: str = "$",
    unit_noun: str = "accounts",
) -> list[str]:
    """What the plan does, in plain words (plain text; escape before HTML)."""
    tolerances = tolerances or {}
    problem = plan.problem
    frame = plan.territories
    k, n = problem.n_seats, problem.n_units
    homes = problem.has_home
    out = []
    if homes.all():
        who = f"{k} reps"
    elif not homes.any():
        who = f"{k} territories, each centred where the optimiser found it best"
    else:
        open_seats = int((~homes).sum())
        who = f"{k} territories: {k - open_seats} reps and {open_seats} open seat{'s' if open_seats != 1 else ''} placed by the optimiser"
    out.append(f"This plan divides {n:,} {unit_noun} among {who}.")
    exempt = np.asarray(plan.exempt)
    for name in problem.measure_names:
        column = f"{name}_dev_pct"
        if column not in frame or name not in tolerances:
            continue
        dev = np.abs(frame[column].to_numpy(float))[~exempt]
        if not len(dev):
            continue
        tol = 100 * tolerances[name]
        outside = int((dev > tol + 1e-6).sum())
        if outside:
            out.append(
                f"{outside} of {len(dev)} territories are outside the ±{tol:g}% band on {name} (worst {dev.max():.1f}%)."
            )
        else:
            out.append(f"Every territory's {name} is within {dev.max():.1f}% of its target (allowed: ±{tol:g}%).")
    moved, has_owner = _moved(plan)
    if has_owner:
        value = _value_measure(plan, quotas)
        text = f"{int(moved.sum()):,} of {n:,} {unit_noun} change owner ({100 * moved.mean():.0f}%)"
        if value is not None:
            v = problem.measure(value)
            total = float(v.sum())
            share = float(v[moved].sum()) / total if total > 0 else 0.0
            fmt = short_money if value in MONEY_MEASURES else (lambda x, _c: number(x))
            text += f", carrying {fmt(float(v[moved].sum()), currency)} of {fmt(total, currency)} {value} ({100 * share:.0f}%)"
        out.append(text + ".")
    else:
        out.append("There is no current alignment in the data, so nothing is counted as moved.")
    if "travel_km" in frame and len(frame):
        travel = plan.objective_terms.get("travel")
        worst = frame.iloc[int(np.argmax(frame["travel_km"].to_numpy(float)))]
        lead = (
            f"Average distance from a rep's base to their accounts: {number(travel, 1)} km (weighted by activity); "
            if travel is not None
            else ""
        )
        out.append(f"{lead}the longest is {number(worst['travel_km'], 1)} km, in {worst['territory_id']}.")
    if quotas is not None:
        total = float(quotas.table["quota"].sum())
        f = quotas.fairness
        cv = f.get("quota_per_potential_cv")
        ratio = f.get("quota_per_potential_max_min")
        text = f"Quotas split {money(total, currency)}"
        if cv is not None:
            text += f"; quota per unit of potential varies by {percent(cv)} across territories"
            if ratio is not None:
                text += f" (highest ÷ lowest {ratio:.2f})"
        out.append(text + ".")
    return out


def _cards(plan: Plan, quotas: Any | None, tolerances: dict[str, float], currency: str, unit_noun: str) -> str:
    problem = plan.problem
    frame = plan.territories
    cards = []
    homes = problem.has_home
    detail = f"{int(homes.sum())} with a home base" + (f", {int((~homes).sum())} open" if (~homes).any() else "")
    cards.append(("Territories", f"{problem.n_seats}", f"{problem.n_units:,} {unit_noun}; {detail}"))
    first = problem.measure_names[0] if problem.measure_names else None
    if first and f"{first}_dev_pct" in frame:
        dev = np.abs(frame[f"{first}_dev_pct"].to_numpy(float))[~np.asarray(plan.exempt)]
        tol = tolerances.get(first)
        cards.append(
            (
                f"Balance ({first})",
                f"±{dev.max():.1f}%" if len(dev) else "n/a",
                "worst territory vs target" + (f"; allowed ±{100 * tol:g}%" if tol else ""),
            )
        )
    moved, has_owner = _moved(plan)
    if has_owner:
        value = _value_measure(plan, quotas)
        extra = ""
        if value is not None and value in MONEY_MEASURES:
            extra = f"; {short_money(float(problem.measure(value)[moved].sum()), currency)} of {value}"
        cards.append(("Moved", f"{int(moved.sum()):,}", f"{unit_noun} change owner ({100 * moved.mean():.0f}%){extra}"))
    travel = plan.objective_terms.get("travel")
    if travel is not None:
        cards.append(("Travel", f"{number(travel, 1)} km", "mean distance to accounts, weighted"))
    if quotas is not None:
        cv = quotas.fairness.get("quota_per_potential_cv")
        cards.append(
            (
                "Quota fairness",
                percent(cv) if cv is not None else "n/a",
                f"spread of quota ÷ potential; total {short_money(float(quotas.table['quota'].sum()), currency)}",
            )
        )
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{e(k)}</div><div class="v">{e(v)}</div><div class="d">{e(d)}</div></div>'
            for k, v, d in cards
        )
        + "</div>"
    )


def _proof(plan: Plan) -> str:
    status = {
        Status.OPTIMAL: "Proven optimal: no plan meeting the same rules has a lower objective.",
        Status.FEASIBLE: "A valid plan: every rule is met; its distance from the best possible plan is bounded below.",
        Status.INFEASIBLE: "No plan can meet every rule: see the notes for the reason.",
        Status.UNKNOWN: "No plan meeting every rule was found in the time allowed.",
    }[plan.status]
    items = [f"<p><b>{e(plan.status.value.capitalize())}.</b> {e(status)}</p>"]
    if plan.global_gap is not None and plan.global_bound is not None:
        items.append(
            f'<p class="lead">Within <b>{e(percent(plan.global_gap, 1))}</b> of the best possible plan for the real '
            f"problem: no plan can have an objective below {e(number(plan.global_bound, 2))} "
            f"(a bound valid for the real problem, from a relaxation of it without pruning or restrictions: LP, or Lagrangian when seats choose their centres); "
            f"this plan's objective is {e(number(plan.objective, 2))}.</p>"
        )
        if plan.gap is not None:
            items.append(
                f'<p class="sub">Secondary, the restricted model\'s own proof: bound {e(number(plan.bound, 2))}, '
                f"gap {e(percent(plan.gap, 2))}; valid for {e(plan.bound_scope)}.</p>"
            )
    elif plan.gap is not None:
        items.append(
            f'<p class="lead">Gap <b>{e(percent(plan.gap, 2))}</b>: objective {e(number(plan.objective, 2))}, '
            f"bound {e(number(plan.bound, 2))}, valid for {e(plan.bound_scope)}. No bound for the unrestricted problem was computed.</p>"
        )
    else:
        items.append(f"<p>Objective {e(number(plan.objective, 2))}; no bound was proved.</p>")
    restrictions = "".join(f"<li>{e(r)}</li>" for r in plan.restrictions) or "<li>none: the model is exact</li>"
    items.append(f'<h3>Where the model is narrower than the problem</h3><ul class="plain">{restrictions}</ul>')
    return "".join(items)


def _technical(plan: Plan) -> str:
    rows = [
        ["status", e(plan.status.value)],
        ["objective", e(number(plan.objective, 3))],
        ["bound (model as solved)", e(number(plan.bound, 3))],
        ["gap (model as solved)", e(percent(plan.gap, 2))],
        ["bound valid for", e(plan.bound_scope)],
        ["bound for the unrestricted problem", e(number(plan.global_bound, 3))],
        ["gap to that bound", e(percent(plan.global_gap, 2))],
        ["method", e(plan.method)],
        ["wall time", e(f"{plan.wall_time:.1f} s")],
        ["seed / deterministic", e(f"{plan.seed} / {'yes' if plan.deterministic else 'no'}")],
        ["versions", e(", ".join(f"{k} {v}" for k, v in plan.versions.items()))],
    ] + [[e(f"objective term: {k}"), e(number(v, 3))] for k, v in plan.objective_terms.items()]
    return table(["figure", "value"], rows)


def _territory_table(plan: Plan, quotas: Any | None, currency: str, unit_noun: str) -> str:
    problem = plan.problem
    frame = plan.territories
    measures = [m for m in problem.measure_names if f"{m}_dev_pct" in frame]
    quota = None
    if quotas is not None:
        quota = dict(zip(quotas.table["territory_id"].astype(str), quotas.table["quota"], strict=True))
    header = ["territory", "rep", unit_noun, *measures, "mean travel"] + (["quota"] if quota is not None else [])
    numeric = [False, False, True] + [True] * len(measures) + [True] + ([True] if quota is not None else [])
    seats = {str(s): t for t, s in enumerate(problem.seat_ids)}
    rows = []
    for row in frame.to_dict("records"):
        tid = str(row["territory_id"])
        t = seats.get(tid)
        rep = e(row["name"])
        if t is not None and not problem.has_home[t]:
            lat, lon = finite(row.get("lat")), finite(row.get("lon"))
            where = f", placed at {lat:.3f}, {lon:.3f}" if lat is not None and lon is not None else ""
            rep += f" <small>(open seat{e(where)})</small>"
        if t is not None and plan.exempt[t]:
            rep += " <small>(stands alone)</small>"
        cells = [e(tid), rep, e(number(row["units"]))]
        for m in measures:
            dev = float(row[f"{m}_dev_pct"])
            cells.append(
                f"{e(_measure(m, row[m], currency))}<br><small>{dev:+.1f}% vs {e(_measure(m, row[f'{m}_target'], currency))}</small>"
            )
        cells.append(e(f"{number(row.get('travel_km'), 1)} km"))
        if quota is not None:
            cells.append(e(money(quota.get(tid), currency)))
        rows.append(cells)
    return table(header, rows, numeric=numeric)


def _quota_table(quotas: Any, currency: str) -> str:
    q = quotas.table
    columns = [
        c for c in q.columns if c != "rep_id" or not (q["rep_id"].astype(str) == q["territory_id"].astype(str)).all()
    ]
    header, numeric = [], []
    labels = {"quota_per_potential": "quota ÷ potential", "territory_id": "territory", "rep_id": "rep"}
    for c in columns:
        period = str(c)[1:] if str(c)[:1] == "p" and str(c)[1:].isdigit() else None
        header.append(labels.get(c, f"period {period}" if period else str(c)))
        numeric.append(c not in ("territory_id", "rep_id"))
    rows = []
    for r in q[columns].to_dict("records"):
        cells = []
        for c in columns:
            v = r[c]
            if c in ("territory_id", "rep_id") or isinstance(v, str):
                cells.append(e(v))
            elif c == "quota_per_potential":
                cells.append(e(number(v, 3)))
            else:
                cells.append(e(money(v, currency)))
        rows.append(cells)
    f = quotas.fairness
    names = {
        "quota_per_potential_cv": ("Spread of quota ÷ potential (coefficient of variation)", True),
        "quota_per_potential_gini": ("Gini of quota ÷ potential (0 = equal)", False),
        "quota_per_potential_max_min": ("Highest ÷ lowest quota per potential", False),
        "expected_attainment_min": ("Lowest expected attainment", True),
        "expected_attainment_max": ("Highest expected attainment", True),
        "expected_attainment_spread": ("Spread of expected attainment (highest − lowest)", True),
    }
    fair = "".join(
        f"<li>{e(names[k][0] if k in names else k)}: {e(percent(v) if names.get(k, ('', False))[1] else number(v, 3))}</li>"
        for k, v in f.items()
    )
    binding = "".join(f"<li>{e(b)}</li>" for b in quotas.binding) or "<li>no bound is binding</li>"
    return (
        table(header, rows, numeric=numeric)
        + f'<h3>Fairness</h3><ul class="plain">{fair}</ul><h3>Binding bounds</h3><ul class="plain">{binding}</ul>'
    )


def plan_report(
    plan: Plan,
    *,
    map_page: MapPage | None = None,
    quotas: Any | None = None,
    description: str = "",
    tolerances: dict[str, float] | None = None,
    currency: str = "$",
    unit_noun: str = "accounts",
) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    map_page : MapPage, optional
        The plan's map (:func:`territory_opt.maps.plan_map`), drawn inside the report.
    quotas : QuotaResult, optional
    description : str
        The scenario's description (shown under the title).
    tolerances : dict, optional
        Balance tolerance per measure (a share), for the summary and the charts.
    currency : str
        Symbol put before money amounts (potential, history, quotas).
    unit_noun : str
        What the units are called (``accounts``, ``counties``, ``units``).
    """
    tolerances = tolerances or {}
    ok = plan.ok
    audit_failed = [f for f in plan.findings if not f.ok]
    badge = (
        f'<span class="badge ok">audit passed: {len(plan.findings)} checks</span>'
        if ok
        else f'<span class="badge bad">needs attention: {e(plan.status.value)}, {len(audit_failed)} audit check(s) failed</span>'
    )
    sentences = summary_sentences(plan, quotas=quotas, tolerances=tolerances, currency=currency, unit_noun=unit_noun)
    frame = plan.territories
    charts = "".join(
        f"<h3>{e(m)}</h3>" + balance_chart(plan, m, tolerances.get(m))
        for m in plan.problem.measure_names
        if f"{m}_dev_pct" in frame
    )
    audit = "".join(
        f'<li class="{"ok" if f.ok else "bad"}">{"✔" if f.ok else "✘"} <b>{e(f.check)}</b>: {e(f.detail)}</li>'
        for f in plan.findings
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in plan.notes)
    quota_html = f"<h2>Quotas</h2>{_quota_table(quotas, currency)}" if quotas is not None else ""
    map_block = f"<h2>Map</h2>{map_page.embed(height='600px')}" if map_page is not None else ""
    body = f"""<main>
<h1>Territory plan: {e(plan.scenario)}</h1>
<p class="sub">{e(description)}</p>
<p>{badge}</p>
<section id="summary"><p class="lead">{e(sentences[0])}</p>
<ul class="plain lead">{"".join(f"<li>{e(s)}</li>" for s in sentences[1:])}</ul>
{_cards(plan, quotas, tolerances, currency, unit_noun)}</section>
<h2>Proof of quality</h2>{_proof(plan)}
{map_block}
<h2>Territories ({plan.problem.n_seats})</h2>{_territory_table(plan, quotas, currency, unit_noun)}
<h2>Balance</h2><p class="sub">Each territory's deviation from its target; bars in red are outside the tolerance.</p>{charts}
{quota_html}
<h2>Audit (recomputed from the raw inputs)</h2><ul class="plain">{audit}</ul>
<h2>Notes</h2><ul class="plain">{notes}</ul>
<details><summary>Solver details</summary>{_technical(plan)}</details>
</main>"""
    return page(f"{plan.scenario} · territory plan", body)
