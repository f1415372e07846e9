"""Every page the tool writes, opened in a real browser (headless Chromium driven by
Playwright): no script from the data runs, every territory is drawn, the legend matches the
territories, the report fits a laptop screen. Skips cleanly without Chromium or Playwright.

One browser serves the whole module; the plans are small (Georgia's 159 counties solved for
2 s, and a 30-account plan built from arrays)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from territory_opt import load_scenario, run_scenario, scenario_from_dict, set_quotas, solve
from territory_opt.maps import compare_map, plan_map
from territory_opt.pages import percent
from territory_opt.pages.compare import compare_page
from territory_opt.pages.sizing import sizing_page, sizing_png
from territory_opt.problem import Problem
from territory_opt.report import plan_report
from territory_opt.scenario import Measure, Quotas, SolverSettings
from territory_opt.whatif import compare_folders, compare_frames, with_values

from .conftest import DATA, ROOT, accounts_scenario

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")

#: Hostile text: each sets window.__pwned, logs PWNED or opens a dialog if it ever runs.
PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=2;console.log(\'PWNED\')">',
    "'><svg onload=window.__pwned=3>",
    "${window.__pwned=4}",
    "O`Neil's Bar `+alert('PWNED')+`",
    "</script><script>window.__pwned=5</script>",
    "javascript:window.__pwned=6",
    "line\u2028sep\u2029para</title><b onmouseover=alert(1)>",
    "{{constructor.constructor('window.__pwned=7')()}}",
    "&lt;script&gt;window.__pwned=8&lt;/script&gt;",
]


@dataclass
class Visit:
    page: Any
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def formatted(self) -> None:
        """Numbers a person reads: no 15-digit floats anywhere in the visible text."""
        assert not re.search(r"\d\.\d{5,}", self.page.inner_text("body"))

    def inert(self) -> None:
        """Nothing from the data ran, and the page's own script raised nothing."""
        assert self.page.evaluate("window.__pwned") is None
        assert not self.dialogs, self.dialogs
        assert not [c for c in self.console if "PWNED" in c], self.console
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def visit(browser, path: Path, *, width: int = 1366, height: int = 768) -> Visit:
    page = browser.new_page(viewport={"width": width, "height": height})
    seen = Visit(page)
    page.on("console", lambda m: seen.console.append(m.text))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return seen


def exercise(seen: Visit) -> None:
    """Switch every layer on and open every tooltip, so all the text the page holds is rendered."""
    page = seen.page
    page.eval_on_selector_all(
        ".to-panel input[type=checkbox]", "els => els.forEach(b => { if (!b.checked) b.click(); })"
    )
    page.evaluate(
        """(window.territoryMaps || []).forEach(function (m) {
             m.eachLayer(function (l) {
               var t = l.getTooltip && l.getTooltip();
               if (t && !t.options.permanent) { l.openTooltip(l.getLatLng ? l.getLatLng() : undefined); }
             });
           })"""
    )


def drawn(seen: Visit, panel: int = 0) -> dict[str, list[str]]:
    """Territory ids of the areas drawn in a map panel and of its legend entries."""
    page = seen.page
    areas = page.eval_on_selector_all(
        f'.to-map[data-panel="{panel}"] path.to-area', "els => els.map(e => e.getAttribute('data-territory'))"
    )
    legend_root = (
        f'[data-legend="{panel}"]'
        if page.locator(f'[data-legend="{panel}"]').count()
        else f'.to-map[data-panel="{panel}"]'
    )
    legend = page.eval_on_selector_all(
        f"{legend_root} .to-legend-item[data-territory]", "els => els.map(e => e.getAttribute('data-territory'))"
    )
    return {"areas": areas, "legend": legend}


def fits(seen: Visit) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll inside their box)."""
    return seen.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


# ----------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo (Georgia's counties) and its tighter-balance variant, solved briefly."""
    out = tmp_path_factory.mktemp("demo")
    base = load_scenario(ROOT / "scenarios" / "demo.yaml")
    plan, _, written = run_scenario(base, out / "demo", time_limit=2, tiles=False)
    tight = with_values(base, {"balance.potential.tolerance": 0.03})
    plan_b, _, _ = run_scenario(tight, out / "tight", time_limit=2, tiles=False)
    return plan, plan_b, written, out


def test_demo_map_draws_every_territory_labels_and_home_bases(browser, demo):
    plan, _, written, _ = demo
    seen = visit(browser, written["map"])
    seen.page.wait_for_selector(".to-map[data-ready]")
    ids = [str(s) for s in plan.problem.seat_ids]
    shown = drawn(seen)
    assert sorted(shown["areas"]) == sorted(ids)
    assert shown["legend"] == ids
    assert seen.page.locator(".to-label").count() == len(ids)
    assert seen.page.locator("path.to-seat").count() == int(plan.problem.has_home.sum())
    exercise(seen)
    moved = int(plan.assignment["moved"].sum())
    assert seen.page.locator("path.to-moved").count() == moved  # the moved layer, switched on
    seen.inert()


def test_a_plan_over_its_budget_says_so_on_its_map_and_report(browser, tmp_path, monkeypatch):
    from territory_opt.errors import SolverError
    from territory_opt.pipeline import over_budget_folder

    scenario = load_scenario(ROOT / "scenarios" / "demo-realignment.yaml")
    captured = {}

    def fail(scenario_, problem, **kwargs):
        # today's owners with two whole books handed on: over the 45 % budget
        assign = np.where(problem.owner >= 0, problem.owner, 0)
        for t in range(problem.n_seats // 2):
            assign[problem.owner == t] = t + 1
        captured["assign"] = assign
        raise SolverError("no plan found within the time limit", over_budget=assign)

    monkeypatch.setattr("territory_opt.pipeline.solve_problem", fail)
    with pytest.raises(SolverError):
        run_scenario(scenario, tmp_path / "plan", tiles=False)
    side = over_budget_folder(tmp_path / "plan")
    seen = visit(browser, side / "map.html")
    seen.page.wait_for_selector(".to-map[data-ready]")
    caption = seen.page.inner_text("#to-data-caption")
    assert caption.startswith("OVER BUDGET") and "against the budget of 45%" in caption
    assert seen.page.locator("#to-data-caption").is_visible()
    assert len(set(drawn(seen)["areas"])) == len(set(captured["assign"].tolist()))
    seen.inert()
    seen = visit(browser, side / "report.html")
    assert "OVER BUDGET" in seen.page.inner_text("body")
    seen.inert()


def test_report_says_what_the_plan_does_first_and_fits_a_laptop(browser, demo):
    plan, _, written, _ = demo
    seen = visit(browser, written["report"], width=1280, height=800)
    seen.page.wait_for_selector(".to-map[data-ready]")
    summary = seen.page.inner_text("#summary")
    assert f"among {plan.problem.n_seats} reps" in summary
    assert "change owner" in summary and "$" in summary and "Quotas split $" in summary
    # the proof follows: the headline gap is the gap to a bound for the real problem
    proof = seen.page.inner_text("main")
    assert f"Within {percent(plan.global_gap, 1)} of the best possible plan" in proof
    first_screen = seen.page.evaluate("document.querySelector('#summary').getBoundingClientRect().bottom")
    assert first_screen <= 800
    assert fits(seen)
    assert sorted(drawn(seen)["areas"]) == sorted(str(s) for s in plan.problem.seat_ids)
    seen.formatted()
    seen.inert()


def test_quotas_for_a_plan_refresh_its_report_and_map(browser, demo, tmp_path):
    from territory_opt import quotas_for_plan

    _, _, written, _ = demo
    folder = tmp_path / "plan"
    shutil.copytree(written["report"].parent, folder)
    scenario = with_values(load_scenario(ROOT / "scenarios" / "demo.yaml"), {"quotas.target": 70_000_000})
    result, _ = quotas_for_plan(scenario, folder)
    seen = visit(browser, folder / "report.html")
    assert "Quotas split $70,000,000" in seen.page.inner_text("#summary")
    first = result.table.iloc[0]
    assert f"${first['quota']:,.0f}" in seen.page.inner_text("main")
    map_page = (folder / "map.html").read_text(encoding="utf-8")
    assert f"${first['quota']:,.0f}" in map_page  # the map's tooltips carry the new quotas
    seen.inert()


def test_compare_page_one_palette_legends_and_moved_units(browser, demo):
    plan, _, _, out = demo
    result = compare_folders(out / "demo", out / "tight", out / "cmp", tiles=False)
    seen = visit(browser, result["written"]["html"])
    seen.page.wait_for_selector('.to-map[data-panel="1"][data-ready]')
    ids = [str(s) for s in plan.problem.seat_ids]
    for panel in (0, 1):
        shown = drawn(seen, panel)
        assert sorted(shown["areas"]) == sorted(ids)
        assert shown["legend"] == ids
        rings = seen.page.locator(f'.to-map[data-panel="{panel}"] path.to-moved').count()
        assert rings == len(result["moved"])  # units that change territory, highlighted on both sides
    colours = seen.page.eval_on_selector_all(
        ".to-legend-item[data-territory] .to-swatch",
        "els => els.map(e => e.parentNode.getAttribute('data-territory') + e.style.background)",
    )
    assert len(set(colours)) == len(ids)  # a territory has the same colour on both sides
    assert fits(seen)
    seen.formatted()
    seen.inert()


# ----------------------------------------------------------------------------- hostile text


def hostile_plan(tolerance: float, scenario: str) -> tuple[Any, Any]:
    """30 accounts across Georgia, 3 territories (one an open seat), every user-text field a payload."""
    rng = np.random.default_rng(5)
    n = 30
    lonlat = np.column_stack([rng.uniform(-85.0, -81.5, n), rng.uniform(31.0, 34.8, n)])
    seat_lonlat = np.array([[-84.39, 33.75], [-81.10, 32.08], [np.nan, np.nan]])
    measure = PAYLOADS[2]
    problem = Problem.from_arrays(
        measures=np.column_stack([rng.uniform(1, 5, n), rng.uniform(50, 150, n), rng.uniform(20, 60, n)]),
        measure_names=[measure, "potential", "history"],  # the first measure names the legend and balance layer
        unit_xy=lonlat * [92.0, 111.0],
        seat_xy=seat_lonlat * [92.0, 111.0],
        unit_ids=[f"{PAYLOADS[i % len(PAYLOADS)]}#{i}" for i in range(n)],
        unit_names=[PAYLOADS[(i + 3) % len(PAYLOADS)] for i in range(n)],
        seat_ids=[PAYLOADS[0], PAYLOADS[4], PAYLOADS[5]],
        seat_names=[PAYLOADS[1], PAYLOADS[3], PAYLOADS[7]],
        owner=rng.integers(0, 3, n),
    )
    problem = replace(
        problem,
        unit_lonlat=lonlat,
        seat_lonlat=seat_lonlat,
        seat_region=np.array([PAYLOADS[6]] * 3, dtype=object),
        seat_area=np.array([PAYLOADS[8]] * 3, dtype=object),
    )
    plan = solve(
        problem,
        balance={measure: Measure(tolerance=0.9), "potential": Measure(tolerance=tolerance)},
        solver=SolverSettings(time_limit=2, workers=1),
        scenario=scenario,
    )
    return plan, set_quotas(plan, Quotas(target=1_000_000))


NAMES = ("A " + PAYLOADS[5], "B " + PAYLOADS[4])


@pytest.fixture(scope="module")
def hostile():
    """Two account plans of the hostile book (looser and tighter balance), with quotas."""
    plan, quotas = hostile_plan(0.5, NAMES[0])
    plan_b, _ = hostile_plan(0.2, NAMES[1])
    return plan, quotas, plan_b


def test_hostile_text_is_inert_in_map_report_compare_and_sizing(browser, hostile, tmp_path):
    name_a, name_b = NAMES
    plan, quotas, plan_b = hostile
    ids = [str(s) for s in plan.problem.seat_ids]
    the_map = plan_map(plan, quotas=quotas, tiles=False)
    pages = {
        "map": the_map.html,
        "report": plan_report(
            plan,
            map_page=the_map,
            quotas=quotas,
            description=" ".join(PAYLOADS),
            tolerances={PAYLOADS[2]: 0.9, "potential": 0.5},
        ),
    }
    head, deltas, moved = compare_frames(
        (plan.summary(), plan.territories, plan.assignment),
        (plan_b.summary(), plan_b.territories, plan_b.assignment),
        (name_a, name_b),
    )
    pages["compare"] = compare_page(
        (name_a, name_b), head, deltas, moved, map_page=compare_map(plan, plan_b, tiles=False), unit_noun="accounts"
    )
    frame = pd.DataFrame(
        {
            "headcount": [2, 3],
            "status": ["feasible", PAYLOADS[1]],
            "within_capacity": [False, True],
            "travel_km": [10.512345678901, 8.25],
        }
    )
    pages["sizing"] = sizing_page(PAYLOADS[7], frame, PAYLOADS[2], 100.0, 3, sizing_png(frame, PAYLOADS[2], 100.0, 3))
    for kind, text in pages.items():
        assert "<script>window.__pwned" not in text and "<img src=x" not in text, kind
        path = tmp_path / f"{kind}.html"
        path.write_text(text, encoding="utf-8")
        seen = visit(browser, path)
        panels = seen.page.locator(".to-map").count()
        if panels:
            seen.page.wait_for_selector(f'.to-map[data-panel="{panels - 1}"][data-ready]')
            for panel in range(panels):
                shown = drawn(seen, panel)
                assert sorted(shown["areas"]) == sorted(ids), kind  # every territory drawn, ids intact
                assert shown["legend"] == ids, kind
            exercise(seen)
            tips = seen.page.inner_text("body")
            assert PAYLOADS[4] in tips and PAYLOADS[1] in tips, kind  # shown as text, not dropped
        seen.formatted()
        seen.inert()
        seen.page.close()


def test_hostile_names_from_crm_files_are_inert_end_to_end(browser, tmp_path):
    frame = pd.read_csv(DATA / "accounts.csv", dtype=str, keep_default_na=False)
    for i in range(len(frame)):
        frame.loc[i, "Account Name"] = PAYLOADS[i % len(PAYLOADS)]
    frame.to_csv(tmp_path / "evil.csv", index=False)
    reps = pd.read_csv(DATA / "reps.csv", dtype=str, keep_default_na=False)
    reps["Rep Name"] = [PAYLOADS[4], PAYLOADS[1]]
    reps.to_csv(tmp_path / "reps.csv", index=False)
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(tmp_path / "evil.csv")
    raw["data"]["reps"]["path"] = str(tmp_path / "reps.csv")
    # scenario names are folder names (letters, digits, -_.); the API test above covers hostile ones
    raw["description"] = " ".join(PAYLOADS)
    plan, _, written = run_scenario(scenario_from_dict(raw), tmp_path / "out", time_limit=5, tiles=False)
    for name in ("map", "report"):
        seen = visit(browser, written[name])
        seen.page.wait_for_selector(".to-map[data-ready]")
        assert sorted(drawn(seen)["areas"]) == sorted(str(s) for s in plan.problem.seat_ids)
        exercise(seen)
        assert PAYLOADS[4] in seen.page.inner_text("body")
        seen.inert()


def test_compare_of_two_account_plan_folders_draws_both_maps(browser, hostile, tmp_path):
    from territory_opt import write_plan

    plan, quotas, plan_b = hostile
    write_plan(plan, tmp_path / "a", quotas=quotas, tiles=False)
    write_plan(plan_b, tmp_path / "b", tiles=False)
    result = compare_folders(tmp_path / "a", tmp_path / "b", tmp_path / "cmp", tiles=False)
    seen = visit(browser, result["written"]["html"])
    seen.page.wait_for_selector('.to-map[data-panel="1"][data-ready]')
    ids = [str(s) for s in plan.problem.seat_ids]
    changed = set(result["moved"]["unit_id"].astype(str))
    for panel in (0, 1):
        shown = drawn(seen, panel)
        assert sorted(shown["areas"]) == sorted(ids) and shown["legend"] == ids
        assert seen.page.locator(f'.to-map[data-panel="{panel}"] path.to-moved').count() == len(changed)
    assert "accounts change territory" in seen.page.inner_text(".lead")
    exercise(seen)
    seen.formatted()
    seen.inert()
