"""Maps and reports in a real browser (headless Chromium): no JavaScript errors, every
territory present, user text inert. Skips cleanly where no Chromium is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from territory_opt import load_scenario, run_scenario, scenario_from_dict

from .conftest import DATA, ROOT, accounts_scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
]  # fmt: skip


def browse(page: Path, tmp_path: Path, *extra: str) -> tuple[str, str]:
    """The page's DOM after scripts ran, and the browser's console log."""
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{page.stem}-{len(extra)}"
    action = list(extra) or ["--dump-dom"]
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout, result.stderr


def js_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    plan, _quotas, written = run_scenario(
        load_scenario(ROOT / "scenarios" / "demo.yaml"), out, time_limit=10, tiles=False
    )
    return plan, written


def test_map_opens_without_errors_and_shows_every_territory(demo_outputs, tmp_path):
    plan, written = demo_outputs
    dom, log = browse(written["map"], tmp_path)
    assert not js_errors(log), js_errors(log)
    assert "leaflet-container" in dom  # Leaflet ran (inlined, no CDN)
    shown = set(re.findall(r'data-territory="([^"]+)"', dom))
    assert shown == {str(s) for s in plan.problem.seat_ids}
    assert dom.count("leaflet-interactive") >= plan.problem.n_seats  # one polygon per territory at least
    shot = tmp_path / "map.png"
    browse(written["map"], tmp_path, f"--screenshot={shot}", "--window-size=1200,800")
    assert shot.exists() and shot.stat().st_size > 10_000


def test_report_opens_without_errors(demo_outputs, tmp_path):
    plan, written = demo_outputs
    dom, log = browse(written["report"], tmp_path)
    assert not js_errors(log), js_errors(log)
    for seat in plan.problem.seat_ids:
        assert f">{seat}<" in dom
    assert "Proof of quality" in dom and "<svg" in dom and "Quotas" in dom
    assert "<iframe" in dom


PAYLOAD = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"


def test_user_text_is_inert(tmp_path):
    frame = pd.read_csv(DATA / "accounts.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "Account Name"] = "Acme " + PAYLOAD
    path = tmp_path / "evil.csv"
    frame.to_csv(path, index=False)
    reps = pd.read_csv(DATA / "reps.csv", dtype=str, keep_default_na=False)
    reps.loc[0, "Rep Name"] = "Ada " + PAYLOAD
    rep_path = tmp_path / "reps.csv"
    reps.to_csv(rep_path, index=False)
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(path)
    raw["data"]["reps"]["path"] = str(rep_path)
    raw["description"] = "evil " + PAYLOAD
    _plan, _, written = run_scenario(scenario_from_dict(raw), tmp_path / "out", time_limit=5, tiles=False)
    for name in ("map", "report"):
        text = written[name].read_text()
        assert "<script>document.title='PWNED'" not in text
        assert "<img src=x onerror" not in text
        dom, log = browse(written[name], tmp_path)
        title = re.search(r"<title>(.*?)</title>", dom)
        assert title is None or "PWNED" not in title.group(1)
        assert not js_errors(log), js_errors(log)


def test_comparison_map_side_by_side(tmp_path):
    from territory_opt import problem_from_scenario, solve_scenario
    from territory_opt.maps import compare_map, map_html

    base = load_scenario(ROOT / "scenarios" / "demo.yaml")
    tight = load_scenario(ROOT / "scenarios" / "demo-tight-balance.yaml")
    a = solve_scenario(base, time_limit=8)
    b = solve_scenario(tight, time_limit=8)
    _, inputs = problem_from_scenario(base)
    page = tmp_path / "compare.html"
    page.write_text(map_html(compare_map(a, b, geometry=inputs.geometry, tiles=False)))
    dom, log = browse(page, tmp_path)
    assert not js_errors(log), js_errors(log)
    assert dom.count("leaflet-container") >= 2
    assert 'data-side="left"' in dom and "demo-tight-balance" in dom
