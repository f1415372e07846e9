"""The plan studio in a real browser (headless Chromium driven by Playwright): open the demo
plan, lasso-select counties, move them, check the panel against the evaluator, undo, redo by
keyboard, re-optimise, accept, save, and check the saved folder. Skips cleanly without
Chromium or Playwright."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from territory_opt.evaluate import Bands, evaluate
from territory_opt.studio import start
from territory_opt.studio.session import open_plan_folder

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
pytestmark = pytest.mark.skipif(
    not shutil.which(CHROMIUM), reason="no Chromium on this machine (apt-get install chromium)"
)

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


def pick_pair(session, points):
    """A unit u on the edge of the largest territory, next to territory t, and its nearest unit on
    screen v when v is a neighbour of u in the same territory: moving both to t keeps t whole."""
    a, e = session.assign, session.problem.edges
    big = int(np.bincount(a).argmax())
    neighbours = {i: set() for i in range(len(a))}
    for i, j in e:
        neighbours[int(i)].add(int(j))
        neighbours[int(j)].add(int(i))
    xy = np.array(points)
    for u in np.flatnonzero(a == big):
        touching = [int(a[j]) for j in neighbours[int(u)] if a[j] != big]
        if not touching:
            continue
        d = np.linalg.norm(xy - xy[u], axis=1)
        order = np.argsort(d)
        v = int(order[1])
        if v in neighbours[int(u)] and a[v] == big and d[order[2]] > 1.6 * d[v] and d[v] > 8:
            return [int(u), v], touching[0], d[v]
    pytest.skip("no pair of counties suits a lasso at this zoom")
    return None


def test_lasso_move_undo_reoptimise_save(studio_workspace, tmp_path):
    workspace, _ = studio_workspace
    session = open_plan_folder(
        workspace / "out" / "demo", workspace=workspace, versions_dir=workspace / "browser-versions"
    )
    names = session.problem.unit_names.copy()
    names[0] = HOSTILE  # untrusted text from a CRM stays text
    session.problem = replace(session.problem, unit_names=names)
    running = start(session, port=0)
    errors: list[str] = []
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1300, "height": 850})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(running.url)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            assert "token=" not in page.url  # dropped from the address bar
            assert page.locator("#territories tbody tr").count() == session.problem.n_seats

            # hover: the hostile name is shown as text, not markup
            points = page.evaluate(
                "() => window.studio.state.units.lat.map((lat, i) => { const p = window.studio.map.latLngToContainerPoint([lat, window.studio.state.units.lon[i]]); return [p.x, p.y]; })"
            )
            page.evaluate("() => { window.studio.layers[0].fire('mouseover'); }")
            assert HOSTILE in page.locator(".info").inner_text()
            assert page.locator(".info img").count() == 0 and page.title() != "pwned"

            # lasso: a circle around two neighbouring counties' centroids
            (u, v), target, gap = pick_pair(session, points)
            box = page.locator("#map").bounding_box()
            cx, cy = (points[u][0] + points[v][0]) / 2, (points[u][1] + points[v][1]) / 2
            radius = gap / 2 + min(0.25 * gap, 6)
            page.click("#mode-lasso")
            page.mouse.move(box["x"] + cx + radius, box["y"] + cy)
            page.mouse.down()
            for step in range(1, 33):
                angle = 2 * math.pi * step / 32
                page.mouse.move(box["x"] + cx + radius * math.cos(angle), box["y"] + cy + radius * math.sin(angle))
            page.mouse.up()
            selected = page.evaluate("() => Array.from(window.studio.selected).sort((a, b) => a - b)")
            assert selected == sorted([u, v])

            # move through the menu, then check every panel figure against the evaluator
            target_id = str(session.problem.seat_ids[target])
            page.select_option("#target", target_id)
            page.click("#move")
            page.wait_for_function("() => document.getElementById('status').textContent.startsWith('moved')")
            expected = session.baseline.copy()
            expected[[u, v]] = target
            bands = Bands.from_problem(session.problem, {"potential": 0.05, "workload": 0.15})
            ev = evaluate(session.problem, expected, None, bands)
            for t, seat in enumerate(session.problem.seat_ids):
                row = page.locator(f"#territories tr[data-territory='{seat}']")
                for j, measure in enumerate(("potential", "workload")):
                    cell = row.locator(f"td[data-measure='{measure}'] .fig")
                    assert float(cell.get_attribute("data-dev")) == pytest.approx(ev.deviation_pct[t, j], abs=1e-3)
                    shown = f"{ev.deviation_pct[t, j]:+.1f} %".replace("+-", "-")
                    assert shown.lstrip("+") in cell.inner_text()
                    assert ("out" in cell.get_attribute("class")) == (not ev.within[t, j])
                assert float(row.locator("td[data-travel]").get_attribute("data-travel")) == pytest.approx(
                    ev.travel[t], abs=1e-3
                )
            assert page.evaluate("() => window.studio.assign") == expected.tolist()

            # undo by button, redo by keyboard
            page.click("#undo")
            page.wait_for_function("() => document.getElementById('status').textContent === 'undone'")
            assert page.evaluate("() => window.studio.assign") == session.baseline.tolist()
            page.click("#map", position={"x": 5, "y": box["height"] - 5})
            page.keyboard.press("Control+y")
            page.wait_for_function("() => document.getElementById('status').textContent === 'redone'")
            assert page.evaluate("() => window.studio.assign") == expected.tolist()

            # re-optimise the rest around the two locked counties; accept the proposal
            page.fill("#reopt-limit", "1")
            page.click("#reopt")
            page.wait_for_selector("#proposal:not([hidden])", timeout=120_000)
            changes = page.locator("#proposal-list li").count()
            proposal = page.evaluate("() => window.studio.proposal.assignment")
            assert proposal[u] == target and proposal[v] == target
            assert changes == int((np.array(proposal) != expected).sum())
            page.click("#accept")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('proposal accepted')"
            )
            assert page.evaluate("() => window.studio.assign") == proposal

            # save a version and check the folder
            page.fill("#note", "two counties by hand")
            page.click("#save")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('saved')", timeout=60_000
            )
            assert page.locator("#versions li[data-version='v001']").count() == 1
            browser.close()
    finally:
        running.stop()
    assert not errors, errors
    folder = workspace / "browser-versions" / "v001"
    for name in ("assignments.csv", "territories.csv", "summary.json", "map.html", "report.html", "studio.json"):
        assert (folder / name).is_file(), name
    saved = pd.read_csv(folder / "assignments.csv", dtype=str)
    assert saved["territory_id"].tolist() == [str(session.problem.seat_ids[t]) for t in proposal]
