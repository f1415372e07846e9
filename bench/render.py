"""Render bench/RESULTS.md from bench/results/*.json and the hand-written COMMENTARY.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OBJECTIVE = {
    "counties": ("dispersion", "population-weighted mean distance to the territory centre [km]"),
    "validi": ("cut_edges", "cut edges"),
    "dtdp": ("dispersion", "customer-weighted mean distance to the territory centre"),
    "sjc": ("sum_distance", "sum of distances to the centre"),
}


def _valid(row: dict[str, Any]) -> bool:
    if "error" in row:
        return False
    if row.get("family") == "sjc":
        return bool(row.get("capacity_ok")) and row.get("territories") == row.get("k")
    return bool(row.get("balanced")) and bool(row.get("all_contiguous"))


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        value += 0.0  # no "-0.00"
        return f"{value:,.{digits if abs(value) >= 1 or digits == 0 else max(digits, 2)}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _reruns(data: dict[str, Any]) -> list[str]:
    runs = data.get("reruns") or []
    return [f"Partial re-run{'s' if len(runs) > 1 else ''} merged in (same machine): " + "; ".join(f"{r['date']}: rows matching {', '.join(r['only'])} ({r['rows']} rows)" for r in runs) + ".", ""] if runs else []


def _machine(meta: dict[str, Any]) -> str:
    v = meta["versions"]
    return f"{meta['date']}, {meta['cores']} cores ({meta['cpu']}), {meta['memory_gib']} GiB, Python {meta['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items())


def peers_md(data: dict[str, Any]) -> list[str]:
    rows = data["rows"]
    out = [f"Run: {_machine(data['machine'])}.", "", *_reruns(data)]
    instances = list(dict.fromkeys(r["instance"] for r in rows))
    engines = list(dict.fromkeys(r["engine"] for r in rows))
    # summary: one line per instance, one column per engine
    out += ["### Summary: valid plan (balanced within the tolerance and contiguous; for SJC within capacity) and objective relative to ours", ""]
    out.append("| instance | " + " | ".join(engines) + " |")
    out.append("|---|" + "---|" * len(engines))
    for name in instances:
        mine = {r["engine"]: r for r in rows if r["instance"] == name}
        fam = next(iter(mine.values()))["family"]
        key = OBJECTIVE[fam][0]
        ours = mine.get("territory_opt", {})
        cells = []
        for e in engines:
            r = mine.get(e)
            if r is None:
                cells.append("n/a")
            elif "error" in r:
                cells.append("no plan")
            elif not _valid(r):
                why = f"spread {r['spread_pct']:.0f} %" if not r.get("balanced") and r.get("balanced") is not None else ("not contiguous" if r.get("all_contiguous") is False else "over capacity")
                cells.append(f"✗ {why}")
            elif e == "territory_opt" or not ours or key not in ours or not _valid(ours):
                cells.append(f"✓ {_fmt(r.get(key), 1)}")
            else:
                cells.append(f"✓ ×{r[key] / ours[key]:.3f}" if ours[key] else f"✓ {_fmt(r[key])}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "×r: the peer's objective divided by ours (above 1: worse than ours). ✗: the plan breaks the instance's rules (figure given). \"no plan\": no answer within the limit or an error (details below).", ""]
    for name in instances:
        mine = [r for r in rows if r["instance"] == name]
        first = mine[0]
        key, label = OBJECTIVE[first["family"]]
        rules = "Capacity on demand (no balance)" if first["family"] == "sjc" else "Balance " + ", ".join(f"±{t} %" for t in first["tolerance_pct"]) + " (one per measure), contiguous"
        known = ""
        if first.get("known") is not None:
            known = f"; {first['known_kind']}: **{_fmt(first['known'], 2)}**" + (f" ({first['known_metric']})" if first["known_metric"] else "")
        out += [f"### {name}", "", f"{rules}, minimise {label}; time limit {first['limit_s']:.0f} s for every engine{known}.", ""]
        ours_t = next((r.get("time_s") for r in mine if r["engine"] == "territory_opt" and "error" not in r), None)
        out.append("| engine | time [s] | time ÷ ours | territories | worst deviation [%] | contiguous | " + label + " | radius | cut edges | peak memory [MB] | notes |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in mine:
            if "error" in r:
                out.append(f"| {r['engine']} | {_fmt(r.get('time_s'))} | | | | | | | | {_fmt(r.get('peak_mb'), 0)} | {r['error']} |")
                continue
            notes = []
            if r.get("status"):
                notes.append(str(r["status"]))
            if r.get("gap_pct") is not None:
                notes.append(f"gap {r['gap_pct']} % ({'restricted model' if r['engine'] == 'territory_opt' else 'own bound'})")
            if r.get("standalone"):
                notes.append(f"{r['standalone']} territory(ies) standing alone (oversized or stranded units), exempt")
            if r.get("recom_steps") is not None:
                notes.append(f"seed plan {r['seed_plan_s']} s ({r.get('seed_tries', 1)} tries), {r['recom_steps']} ReCom steps")
            if r.get("capacity_ok") is False:
                notes.append("over capacity")
            if r.get("known") is not None and r.get("known_metric") and r.get(r["known_metric"]) is not None and _valid(r):
                notes.append(f"{100 * (r[r['known_metric']] - r['known']) / r['known']:+.1f} % vs known")
            ratio = f"{r['time_s'] / ours_t:.2f}" if ours_t else "—"
            spread = _fmt(r.get("spread_pct"), 1) + ("" if r.get("balanced") in (True, None) else " ✗")
            out.append(
                f"| {r['engine']} | {_fmt(r['time_s'])} | {ratio} | {r['territories']}/{r['k']} | {spread} | {r.get('contiguous', '—')} | {_fmt(r.get(key), 2)} | {_fmt(r.get('radius'), 1)} | {_fmt(r.get('cut_edges'))} | {_fmt(r.get('peak_mb'), 0)} | {'; '.join(notes)} |"
            )
        out.append("")
    return out


ENGINE_FIGURES = "†"  # rows stored before raw assignments were kept: the engine's own figures


def _scored_note(rows: list[dict[str, Any]]) -> list[str]:
    """The legend of rows whose figures are the engine's own (stored before the bench kept
    raw assignments); every later run recomputes them from the assignment."""
    if not any("error" not in r and "message" not in r and r.get("scored") != "raw assignment" for r in rows):
        return []
    return ["", f"{ENGINE_FIGURES} The engine's own figures: this row was stored before the bench kept raw assignments; the next run of the section recomputes it from the plan's assignment (`score.grade`)."]


def _gap(r: dict[str, Any]) -> str:
    """The gap of the recomputed objective to the bound the engine stated, with its scope."""
    if r.get("scored") != "raw assignment":
        if r.get("gap_pct") is None:
            return "—"
        scope = "restricted model" if str(r.get("gap_scope", "")).startswith("the model as solved") else r.get("gap_scope")
        return f"{_fmt(r['gap_pct'], 2)} ({scope}) {ENGINE_FIGURES}"
    if r.get("gap_to_stated_bound_pct") is None:
        return "—" if r.get("objective") is not None or r.get("stated_bound") is None else f"— (objective {r.get('objective_term')})"
    return f"{_fmt(r['gap_to_stated_bound_pct'], 2)} ({r.get('bound_scope')})"


def ladder_md(data: dict[str, Any]) -> list[str]:
    out = [f"Run: {_machine(data['machine'])}.", "", *_reruns(data)]
    out += [
        "Figures recomputed from each plan's raw assignment (`score.grade`: balance against the scenario's tolerances with FTE targets,",
        "contiguity, travel to home bases or best centres); the engine's own answer is its status, method, first-plan time and the bound it states.",
        "",
    ]
    out.append("| mode | rung | units | seats | time limit [s] | first feasible [s] | wall [s] | worst deviation [%] | balanced | contiguous | travel [km] | gap to stated bound [%] | oversized alone | peak memory [MB] | status, method |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in data["rows"]:
        if "error" in r:
            out.append(f"| {r['mode']} | {r['rung']} | {_fmt(r.get('units'))} | {_fmt(r.get('seats'))} | {_fmt(r['limit_s'], 0)} | no plan | {_fmt(r.get('wall_s', r.get('time_s')))} | | | | | | | {_fmt(r.get('peak_mb'), 0)} | {r['error']} |")
            continue
        mark = "" if r.get("scored") == "raw assignment" else f" {ENGINE_FIGURES}"
        balanced = r.get("balanced")
        out.append(
            f"| {r['mode']} | {r['rung']} | {r['units']:,} | {r['seats']} | {_fmt(r['limit_s'], 0)} | {_fmt(r['first_feasible_s'])} | {_fmt(r['wall_s'])} | "
            f"{_fmt(r['spread_pct'], 2)}{mark} | {'—' if balanced is None else balanced} | {r.get('contiguous', '—')} | {_fmt(r['travel_km'], 1)}{mark} | {_gap(r)} | "
            f"{r.get('standalone', r['exempt'])} | {_fmt(r['peak_mb'], 0)} | {r['status']}, {r['method']}{'' if r['audit_ok'] else ', AUDIT FAILED'} |"
        )
    fits = data.get("growth_exponent", {})
    if fits:
        out += ["", "Growth of the time to the first feasible plan, fitted as time ∝ (units × seats)^b: " + "; ".join(f"{m} mode b = {b}" for m, b in fits.items()) + "."]
    out += _scored_note(data["rows"])
    return [*out, ""]


def published_md(data: dict[str, Any]) -> list[str]:
    out = [f"Run: {_machine(data['machine'])}.", "", "Our objective recomputed from each plan's raw assignment (`score.score`: the sum of distances to the best centres, cut edges), with balance, contiguity and capacity checked the same way.", ""]
    out += ["| family | instance | ours | known optimum | gap to known | gap to stated bound [%] | rules kept | time [s] | status |", "|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        if r.get("ours") is None:
            out.append(f"| {r['family']} | {r['instance']} | no plan | {_fmt(r['known'], 2)} | — | — | — | {_fmt(r['time_s'])} | {r.get('error', '')} |")
            continue
        mark = "" if r.get("scored") == "raw assignment" else f" {ENGINE_FIGURES}"
        if r.get("scored") == "raw assignment":
            kept = r.get("capacity_ok") if "capacity_ok" in r else (r.get("balanced") and r.get("all_contiguous"))
            rules = "yes" if kept else f"no ({', '.join(k for k in ('balanced', 'all_contiguous', 'capacity_ok') if r.get(k) is False)})"
            bound = f"{_fmt(r['gap_to_stated_bound_pct'], 2)} ({r['bound_scope']})" if r.get("gap_to_stated_bound_pct") is not None else "—"
        else:
            rules, bound = "audit " + ("clean" if r["audit_ok"] else "FAILED"), "—"
        out.append(f"| {r['family']} | {r['instance']} | {_fmt(r['ours'], 2)}{mark} | {_fmt(r['known'], 2)} | {r['gap_to_known_pct']} %{mark} | {bound} | {rules} | {_fmt(r['time_s'])} | {r['status']}{'' if r['audit_ok'] else ', AUDIT FAILED'} |")
    out += _scored_note(data["rows"])
    return [*out, ""]


TARGET_ASKED = {
    "us-50-pmedian": "US counties, 50 seats without home bases, population ±5 %, contiguous: feasible ≤ 30 s, within 3 % of the bound by 120 s",
    "us-50-reps": "US counties, 50 reps at home bases, potential ±5 % + workload ±10 %, contiguous: feasible ≤ 60 s",
    "us-50-reps-realign": "the same with ≤ 15 % of potential moved from a current alignment (an earlier plan at ±20 %): feasible ≤ 60 s",
    "accounts-100k": "100,000 accounts, 500 reps, skills 20 %, 1 % locked, potential ±5 %: feasible ≤ 5 min, peak ≤ 4 GB",
    "us-10-pmedian-300": "issue 16: US counties, 10 territories whose centres the model chooses, population ±5 %, contiguous: within 5 % of the global bound at 300 s",
    "us-50-pmedian-300": "issue 16: the same with 50 territories (Los Angeles stands alone): within 5 % of the global bound at 300 s",
    "us-zips-200": "issue 16: 33,791 approximate ZIP areas, 200 territories, potential ±5 %, contiguous: a plan ≤ 5 min, ≤ 4 GB",
}


def targets_md(data: dict[str, Any]) -> list[str]:
    out = [f"Run: {_machine(data['machine'])}.", "", *_reruns(data)]
    out += ["Figures recomputed from each plan's raw assignment (`score.grade`); the engine's own answer is its status, first-plan time and the bound it states.", ""]
    out += ["| target | asked | status | first feasible [s] | wall [s] (with loading) | gap to stated bound [%] | worst deviation [%] | contiguous | moved vs current owners [% of potential] | peak memory [MB] | audit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for name, r in sorted(data["results"].items(), key=lambda item: list(TARGET_ASKED).index(item[0]) if item[0] in TARGET_ASKED else 99):
        rows.append(r)
        if r.get("status") == "error":
            out.append(f"| {name} | {TARGET_ASKED.get(name, '')} | error: {' '.join(r['error'].split())[:300]} | | {_fmt(r.get('wall_s'))} | | | | | {_fmt(r.get('peak_rss_mb'), 0)} | |")
            continue
        if r.get("scored") == "raw assignment":
            dev = f"{_fmt(r.get('spread_pct'), 2)} ({'balanced' if r.get('balanced') else 'OUTSIDE the tolerance'})"
            gap, contiguous = _gap(r), r.get("contiguous", "—")
        else:  # stored before raw assignments were kept
            dev = ", ".join(f"{k.removesuffix('_dev_pct')} {v:.2f}" for k, v in (r.get("worst_dev_pct") or {}).items()) + f" {ENGINE_FIGURES}"
            gap = "—" if r.get("gap") is None else f"{_fmt(round(100 * r['gap'], 2), 2)} (restricted model) {ENGINE_FIGURES}"
            contiguous = "—"
        out.append(f"| {name} | {TARGET_ASKED.get(name, '')} | {r['status']} | {_fmt(r.get('first_feasible_s'))} | {_fmt(r.get('wall_s'))} | {gap} | {dev} | {contiguous} | {_fmt(r.get('moved_pct'), 3)} | {_fmt(r.get('peak_rss_mb'), 0)} | {'clean' if r.get('audit_ok') else 'FAILED'} |")
    out += _scored_note(rows)
    return [*out, ""]


REALIGN_ASKED = {
    "us50": "a plan, first ≤ 30 s",
    "realign": "a plan or a proof ≤ 120 s",
    "state": "a plan or a proof ≤ 30 s",
    "free": "a plan ≤ 120 s",
}


def realign_md(data: dict[str, Any]) -> list[str]:
    out = [
        f"Run: {_machine(data['machine'])}.",
        "",
        *_reruns(data),
        "Scored from each plan's raw assignment (`score.score`, `score.moved_and_travel`); the engine's own",
        "figures are only its answer, its first-plan time and the bound it states. Where a budget is missed",
        "(`SolverError.over_budget`) or proved too small (`InfeasibleError.over_budget`, the least-moving plan",
        "found), the engine's error carries the best plan it found that meets every band; its columns are that",
        "plan's, scored the same way. A territory standing alone (an oversized unit, or a stranded one: the",
        "scorer's own enumeration finds no connected group holding it within the band of the rest) is measured",
        "out of the balance and counted in the territories column.",
        "",
        "| case | asked | answer | first plan [s] | wall [s] | territories | worst deviation [%] | balanced | contiguous | moved [% of potential] | travel [km] | gap to stated global bound [%] | peak [MB] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        asked = REALIGN_ASKED.get(r["instance"].split("-")[0], "")
        if r.get("message"):
            msg = " ".join(str(r["message"]).split())[:600]
            ob = r.get("over_budget")
            if ob:
                # a missed budget: the best balanced plan the engine hands back, scored here
                out.append(
                    f"| {r['instance']} | {asked} | {r['answer']}: {msg} … **best plan meeting every band (over the budget), scored:** | | {_fmt(r.get('time_s'))} | | "
                    f"{_fmt(ob.get('spread_pct'), 2)} | {ob.get('balanced')} | {ob.get('contiguous')} | {_fmt(ob.get('moved_pct'), 2)} | {_fmt(ob.get('travel'), 1)} | | {_fmt(r.get('peak_mb'), 0)} |"
                )
                continue
            out.append(f"| {r['instance']} | {asked} | {r['answer']}: {msg} | | {_fmt(r.get('time_s'))} | | | | | | | | {_fmt(r.get('peak_mb'), 0)} |")
            continue
        out.append(
            f"| {r['instance']} | {asked} | {r['answer']} | {_fmt(r.get('first_plan_s'))} | {_fmt(r.get('time_s'))} | {r.get('territories')}{f' ({alone} standing alone, exempt)' if (alone := r.get('standalone')) else ''} | "
            f"{_fmt(r.get('spread_pct'), 2)} | {r.get('balanced')} | {r.get('contiguous')} | {_fmt(r.get('moved_pct'), 2)} | {_fmt(r.get('travel'), 1)} | "
            f"{_fmt(r.get('gap_to_stated_bound'), 2)} | {_fmt(r.get('peak_mb'), 0)} |"
        )
    return [*out, ""]


def quotas_md(data: dict[str, Any]) -> list[str]:
    return [f"Run: {_machine(data['machine'])}.", "", f"{data['territories']:,} territories × {data['months']} months (LP + largest-remainder rounding + controlled rounding of the months): **median {data['median_s']} s** of 3 runs ({', '.join(str(t) for t in data['runs_s'])}); target < 2 s; sums exact.", ""]


SECTIONS = [
    ("peers", "Peers side by side (issue 7)", peers_md),
    ("ladder", "Scale ladder (issue 7)", ladder_md),
    ("targets", "Engine targets (issue 3)", targets_md),
    ("realign", "Realignment and exact contiguity (issue 16)", realign_md),
    ("published", "Published instances, our engine against the proven optimum", published_md),
    ("quotas", "Quotas at scale (issue 4)", quotas_md),
]


def write(results: Path, target: Path, commentary: Path) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python bench/run.py` (all sections; `python bench/run.py peers` re-runs one) from the raw",
        "results in `bench/results/*.json`; the commentary at the end is hand-written (`bench/COMMENTARY.md`).",
        "Machines are shared and noisy: compare ratios measured in one run (each section's run line gives",
        "its machine, date and package versions). Every engine run is its own process; peak memory is its",
        "maximum resident set size.",
        "",
    ]
    for key, title, fn in SECTIONS:
        path = results / f"{key}.json"
        lines += [f"## {title}", ""]
        if path.exists():
            lines += fn(json.loads(path.read_text()))
        else:
            lines += [f"Not run yet: `python bench/run.py {key}`.", ""]
    if commentary.exists():
        lines += [commentary.read_text().rstrip(), ""]
    tmp = target.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(target)
