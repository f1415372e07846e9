"""The plan studio in a real browser (headless Chromium driven by Playwright): open the demo
plan, lasso-select counties, move them, check the panel against the evaluator, undo, redo by
keyboard, re-optimise, accept, save, and check the saved folder. Skips cleanly without
Chromium or Playwright."""

from __future__ import annotations

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
    """Two neighbouring counties u, v of the largest territory, u next to territory t (moving
    both to t keeps t whole), whose centroids a thin lasso can enclose without any other: the
    pair whose segment stands farthest from every other centroid on screen. Returns the pair,
    t, and the lasso's corners (a rectangle around the segment)."""
    a, e = session.assign, session.problem.edges
    big = int(np.bincount(a).argmax())
    xy = np.array(points, dtype=float)
    best = None
    for i, j in e:
        for u, v in ((int(i), int(j)), (int(j), int(i))):
            if a[u] != big or a[v] != big:
                continue
            touching = [int(a[w]) for w in np.concatenate([e[e[:, 0] == u, 1], e[e[:, 1] == u, 0]]) if a[w] != big]
            if not touching:
                continue
            p, q = xy[u], xy[v]
            seg = q - p
            t = np.clip(((xy - p) @ seg) / max(seg @ seg, 1e-9), 0, 1)
            dist = np.linalg.norm(xy - (p + t[:, None] * seg), axis=1)
            dist[[u, v]] = np.inf
            clearance = float(dist.min())
            if best is None or clearance > best[0]:
                best = (clearance, u, v, touching[0])
    assert best is not None and best[0] > 6, best
    clearance, u, v, target = best
    r = clearance / 1.6
    p, q = xy[u], xy[v]
    d = (q - p) / max(float(np.linalg.norm(q - p)), 1e-9)
    n = np.array([-d[1], d[0]])
    corners = [p - d * r + n * r, q + d * r + n * r, q + d * r - n * r, p - d * r - n * r]
    return [u, v], target, corners


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

            # lasso: drawn with the mouse around two neighbouring counties' centroids
            (u, v), target, corners = pick_pair(session, points)
            box = page.locator("#map").bounding_box()
            page.click("#mode-lasso")
            page.mouse.move(box["x"] + corners[0][0], box["y"] + corners[0][1])
            page.mouse.down()
            for k in range(1, 5):
                first, last = corners[k - 1], corners[k % 4]
                for step in range(1, 9):
                    x, y = first + (last - first) * step / 8
                    page.mouse.move(box["x"] + x, box["y"] + y)
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
