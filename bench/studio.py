"""Plan studio targets of issue 17, measured in headless Chromium (Playwright, Debian's Chromium):

* first map drawn ≤ 2 s on the US-counties 50-territory plan (from page load to the map and
  panel drawn);
* an edit of 20 units reflected ≤ 100 ms (request, server-side evaluation, map and panel
  updated), US counties 50 territories;
* re-optimising around 10 locked edits ≤ 30 s (from the request to the proposal);
* a 20,000-account plan stays responsive: ≤ 200 ms per edit of 20 accounts.

Run: ``python bench/studio.py`` (solves both plans first, a few minutes); writes
bench/results/studio.json and prints the table. ``--screenshot docs/studio.png`` also
takes the README's screenshot on the demo plan.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
CHROMIUM = "/usr/bin/chromium"
CASES = {
    "us-counties-50": (HERE / "scenarios" / "us-50-reps-realign.yaml", 60.0),
    "accounts-20k": (HERE / "scenarios" / "studio-accounts-20k.yaml", 60.0),
}


def solved(name: str, scenario: Path, limit: float, workspace: Path) -> Path:
    """The plan the studio opens. A disruption budget is left out of this first solve (the
    synthetic book's current owners are far from balanced); the studio's re-optimise then uses
    it against the state being edited."""
    from territory_opt import load_scenario, run_scenario

    out = workspace / "out" / name
    if (out / "assignments.csv").is_file():  # --workspace kept from an earlier run
        return out
    loaded = load_scenario(scenario)
    loaded = loaded.model_copy(update={"constraints": loaded.constraints.model_copy(update={"disruption": None})})
    t0 = time.perf_counter()
    plan, _, _ = run_scenario(loaded, out, time_limit=limit, maps=False)
    print(f"{name}: solved in {time.perf_counter() - t0:.1f} s ({plan.status.value}, {plan.method})", flush=True)
    return out


def pairs(session, size: int, rng: np.random.Generator) -> tuple[list[int], int]:
    """A unit on the edge of its territory (next to another one, by adjacency or, for accounts,
    by distance), the ``size`` units of its territory nearest to it, and that other territory:
    what a planner moves by hand."""
    a, p = session.assign, session.problem
    if p.edges is not None:
        e = p.edges[a[p.edges[:, 0]] != a[p.edges[:, 1]]]
        u, v = (int(x) for x in e[rng.integers(len(e))])
        target = int(a[v])
    else:
        u = int(rng.integers(p.n_units))
        d = np.linalg.norm(p.unit_xy - p.unit_xy[u], axis=1)
        other = np.flatnonzero(a != a[u])
        target = int(a[other[np.argmin(d[other])]])
    d = np.linalg.norm(p.unit_xy - p.unit_xy[u], axis=1)
    same = np.flatnonzero(a == a[u])
    return same[np.argsort(d[same])[:size]].tolist(), target


def measure(name: str, folder: Path, scenario: Path, workspace: Path, page, reoptimise: bool) -> dict:
    from territory_opt.studio import start
    from territory_opt.studio.session import open_plan_folder

    t0 = time.perf_counter()
    session = open_plan_folder(folder, workspace=workspace, scenario_path=scenario)
    opened = time.perf_counter() - t0
    running = start(session, port=0)
    row: dict = {
        "load_average_1min": round(__import__("os").getloadavg()[0], 1),  # the machine is shared: say how busy
        "case": name,
        "units": session.problem.n_units,
        "territories": session.problem.n_seats,
        "open_s": round(opened, 2),
    }
    try:
        t0 = time.perf_counter()
        page.goto(running.url)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        row["first_map_s"] = round(time.perf_counter() - t0, 3)
        row["first_map_page_ms"] = round(page.evaluate("() => window.studio.firstDrawMs"))
        timing = page.evaluate("() => window.studio.timing")
        row["first_map_parts_ms"] = {k: round(v) for k, v in timing.items() if k != "start"}
        rng = np.random.default_rng(0)
        edit_ms, server_ms = [], []
        for _ in range(8):
            units, target = pairs(session, 20, rng)
            page.evaluate("(units) => { window.studio.selected = new Set(units); }", units)
            page.select_option("#target", str(session.problem.seat_ids[target]))
            page.evaluate("() => { window.studio.lastEditMs = null; }")
            page.click("#move")
            page.wait_for_function("() => window.studio.lastEditMs !== null")
            edit_ms.append(page.evaluate("() => window.studio.lastEditMs"))
            ids = [str(session.problem.unit_ids[i]) for i in units]
            t0 = time.perf_counter()
            session.move(ids, str(session.problem.seat_ids[target]))  # in-process: evaluation + JSON figures
            server_ms.append(1000 * (time.perf_counter() - t0))
            session.undo()
        row["edit20_ms_median"] = round(statistics.median(edit_ms), 1)
        row["edit20_ms_max"] = round(max(edit_ms), 1)
        row["edit20_server_ms_median"] = round(statistics.median(server_ms), 1)
        if reoptimise:
            base = running.url.split("?")[0]
            client = httpx.Client(base_url=base, headers={"X-Studio-Token": running.token}, timeout=60)
            client.post("/api/versions/baseline/open").raise_for_status()
            for _ in range(10):
                units, target = pairs(session, 1, rng)
                client.post(
                    "/api/move",
                    json={
                        "units": [str(session.problem.unit_ids[units[0]])],
                        "territory": str(session.problem.seat_ids[target]),
                    },
                ).raise_for_status()
            t0 = time.perf_counter()
            client.post("/api/reoptimise", json={"time_limit": 10}).raise_for_status()
            while (status := client.get("/api/reoptimise").json())["job"]["state"] == "running":
                time.sleep(0.2)
            row["reoptimise_10_locked_s"] = round(time.perf_counter() - t0, 1)
            row["reoptimise_state"] = status["job"]["state"]
            if status["proposal"]:
                row["reoptimise_changes"] = len(status["proposal"]["changes"])
                row["reoptimise_status"] = status["proposal"]["summary"]["status"]
                row["reoptimise_out_of_band"] = status["proposal"]["figures"]["totals"]["out_of_band"]
                row["reoptimise_audit"] = status["proposal"]["summary"]["audit"]
            else:
                row["reoptimise_error"] = status["job"]["error"]
    finally:
        running.stop()
    return row


def screenshot(path: Path, workspace: Path, page) -> None:
    """The demo plan with two counties moved by hand and a re-optimise proposal on screen."""
    import shutil

    from territory_opt import run_scenario
    from territory_opt.studio import start
    from territory_opt.studio.session import open_plan_folder

    (workspace / "scenarios").mkdir(exist_ok=True)
    shutil.copy(ROOT / "src" / "territory_opt" / "scenarios" / "demo.yaml", workspace / "scenarios" / "demo.yaml")
    run_scenario(workspace / "scenarios" / "demo.yaml", workspace / "out" / "demo", time_limit=10, maps=False)
    session = open_plan_folder(workspace / "out" / "demo", workspace=workspace)
    running = start(session, port=0)
    try:
        page.set_viewport_size({"width": 1400, "height": 820})
        page.goto(running.url)
        page.wait_for_selector("body[data-ready='1']")
        a, e = session.assign, session.problem.edges
        big = int(np.bincount(a).argmax())
        edge = e[(a[e[:, 0]] == big) & (a[e[:, 1]] != big)][0]
        units = [int(edge[0])]
        page.evaluate("(units) => { window.studio.selected = new Set(units); }", units)
        page.select_option("#target", str(session.problem.seat_ids[a[edge[1]]]))
        page.click("#move")
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('moved')")
        page.fill("#reopt-limit", "5")
        page.click("#reopt")
        page.wait_for_selector("#proposal:not([hidden])", timeout=120_000)
        page.evaluate("(units) => { window.studio.selected = new Set(units); }", units)
        page.evaluate("() => { window.studio.layers.forEach((l, i) => l.setStyle({})); }")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        print(f"screenshot: {path}")
    finally:
        running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="also take the README screenshot (PNG) on the demo plan")
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="cases to run (default all)")
    parser.add_argument(
        "--workspace", type=Path, help="keep the solved plans here and reuse them (default: a temporary folder)"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        workspace = args.workspace.resolve() if args.workspace else Path(tmp)
        workspace.mkdir(parents=True, exist_ok=True)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        if args.screenshot:
            screenshot(args.screenshot.resolve(), workspace, page)
        for name in args.only or list(CASES):
            scenario, limit = CASES[name]
            folder = solved(name, scenario, limit, workspace)
            rows.append(measure(name, folder, scenario, workspace, page, reoptimise=name == "us-counties-50"))
            print(json.dumps(rows[-1]), flush=True)
        browser.close()
    out = HERE / "results" / "studio.json"
    out.write_text(
        json.dumps({"machine": platform.platform(), "cpus": __import__("os").cpu_count(), "rows": rows}, indent=2)
        + "\n"
    )
    print(
        "\n| case | units | territories | first map [s] | edit of 20 units [ms] median / max (server) | re-optimise, 10 locked edits [s] |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        reopt = (
            f"{r['reoptimise_10_locked_s']} ({r.get('reoptimise_status', r.get('reoptimise_error', ''))})"
            if "reoptimise_10_locked_s" in r
            else "–"
        )
        print(
            f"| {r['case']} | {r['units']:,} | {r['territories']} | {r['first_map_s']} | {r['edit20_ms_median']} / {r['edit20_ms_max']} ({r['edit20_server_ms_median']}) | {reopt} |"
        )


if __name__ == "__main__":
    main()
