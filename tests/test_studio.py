"""The plan studio's JSON API (FastAPI's TestClient): every endpoint, bad requests, the token,
the workspace boundary, versions on disk, and re-optimise in its child process."""

from __future__ import annotations

import socket

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from territory_opt.errors import StudioError
from territory_opt.evaluate import Bands, evaluate
from territory_opt.studio import create_app, open_path
from territory_opt.studio.app import cookie_name
from territory_opt.studio.server import bind

TOKEN = "test-token-0123456789"
H = {"X-Studio-Token": TOKEN}


@pytest.fixture
def studio(studio_workspace):
    workspace, _ = studio_workspace
    session = open_path(workspace / "out" / "demo", workspace=workspace)
    client = TestClient(create_app(session, token=TOKEN), base_url="http://127.0.0.1", headers=H)
    yield client, session, workspace
    if session.job is not None:
        session.job.cancel()


def boundary(session, count=1):
    """``count`` units of the largest territory that touch another territory, and that one."""
    a, e = session.assign, session.problem.edges
    big = int(np.bincount(a).argmax())
    touching = e[(a[e[:, 0]] == big) & (a[e[:, 1]] != big)]
    units = list(dict.fromkeys(touching[:, 0].tolist()))[:count]
    target = int(a[touching[0, 1]])
    return [str(session.problem.unit_ids[u]) for u in units], str(session.problem.seat_ids[target])


def test_every_request_needs_the_token(studio):
    client, _, _ = studio
    bare = TestClient(client.app, base_url="http://127.0.0.1")
    for method, path in [
        ("GET", "/api/state"),
        ("POST", "/api/undo"),
        ("GET", "/docs"),
        ("GET", "/static/studio.js"),
        ("GET", "/"),
    ]:
        response = bare.request(method, path)
        assert response.status_code == 401, path
        assert "studio token" in response.json()["detail"]
    wrong = bare.get("/api/state", headers={"X-Studio-Token": "guess"})
    assert wrong.status_code == 401
    # the page's URL carries the token once and leaves a cookie that works for the API
    page = bare.get("/", params={"token": TOKEN})
    assert page.status_code == 200
    assert f'content="{TOKEN}"' in page.text
    assert "Content-Security-Policy" in page.headers
    assert bare.cookies.get(cookie_name(TOKEN)) == TOKEN
    assert bare.get("/api/versions").status_code == 200
    # the token in the query is not enough for the API
    assert (
        TestClient(client.app, base_url="http://127.0.0.1").get("/api/state", params={"token": TOKEN}).status_code
        == 401
    )
    # another host name (DNS rebinding) is refused even with the token
    assert TestClient(client.app, base_url="http://evil.example", headers=H).get("/api/state").status_code == 403


def test_state_figures_agree_with_the_plan_and_the_evaluator(studio, studio_workspace):
    client, session, workspace = studio
    _, plan = studio_workspace
    state = client.get("/api/state").json()
    p = session.problem
    assert state["units"]["ids"] == [str(u) for u in p.unit_ids]
    assert state["kind"] == "geography"
    assert state["assignment"] == plan.seat_of.tolist()
    assert [t["id"] for t in state["territories"]] == [str(s) for s in p.seat_ids]
    assert len({t["colour"] for t in state["territories"]}) > 1
    table = pd.read_csv(workspace / "out" / "demo" / "territories.csv")
    rows = state["figures"]["territories"]
    assert [r["units"] for r in rows] == table["units"].tolist()
    assert [r["measures"]["potential"]["dev_pct"] for r in rows] == pytest.approx(table["potential_dev_pct"].tolist())
    assert [r["travel_km"] for r in rows] == pytest.approx(table["travel_km"].tolist())
    assert state["figures"]["totals"]["travel_km"] == pytest.approx(plan.objective_terms["travel"])
    quotas = pd.read_csv(workspace / "out" / "demo" / "quotas.csv")
    assert [r["quota"] for r in rows] == pytest.approx(quotas["quota"].tolist())
    assert client.get("/api/figures").json()["totals"] == state["figures"]["totals"]
    geometry = client.get("/api/geometry").json()
    assert geometry["type"] == "FeatureCollection"
    assert sorted(f["properties"]["i"] for f in geometry["features"]) == list(range(p.n_units))
    assert "Plan studio JSON API" in client.get("/docs").text


def test_move_lock_undo_redo(studio):
    client, session, _ = studio
    units, target = boundary(session, 3)
    before = client.get("/api/state").json()
    moved = client.post("/api/move", json={"units": units, "territory": target}).json()
    index = [session.unit_index[u] for u in units]
    t = session.seat_index[target]
    assert sorted(i for i, _ in moved["changes"]) == sorted(index)
    assert all(to == t for _, to in moved["changes"])
    assert sorted(moved["locked"]) == sorted(index)  # hand edits are locked
    # the figures are the evaluator's for the new assignment
    assign = np.array(before["assignment"])
    assign[index] = t
    bands = Bands.from_problem(session.problem, {"potential": 0.05, "workload": 0.15})
    ev = evaluate(session.problem, assign, None, bands)
    rows = moved["figures"]["territories"]
    assert [r["measures"]["potential"]["load"] for r in rows] == pytest.approx(ev.load[:, 0].tolist())
    assert [r["measures"]["workload"]["within"] for r in rows] == ev.within[:, 1].tolist()
    assert moved["figures"]["totals"]["changed_vs_baseline"] == 3
    assert moved["history"]["undo"] == 1
    unlocked = client.post("/api/unlock", json={"units": units[:1]}).json()
    assert len(unlocked["locked"]) == 2 and unlocked["changes"] == []
    relocked = client.post("/api/lock", json={"units": units[:1]}).json()
    assert len(relocked["locked"]) == 3
    for _ in range(3):
        client.post("/api/undo").raise_for_status()
    state = client.get("/api/state").json()
    assert state["assignment"] == before["assignment"] and state["locked"] == []
    assert client.post("/api/undo").status_code == 400
    redone = client.post("/api/redo").json()
    assert sorted(i for i, _ in redone["changes"]) == sorted(index)
    assert redone["history"] == {
        "undo": 1,
        "redo": 2,
        "undo_label": f"move 3 units to {target}",
        "redo_label": "unlock 1 unit",
    }


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"units": ["no-such-county"], "territory": "R001"}, 400, "unknown unit id(s): 'no-such-county'"),
        ({"units": [], "territory": "R001"}, 400, "no units given"),
        ({"territory": "R001"}, 422, "units"),
        ({"units": ["x"], "territory": "R001", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_moves(studio, body, status, words):
    client, _, _ = studio
    response = client.post("/api/move", json=body)
    assert response.status_code == status
    assert words in str(response.json()["detail"])


def test_unknown_territory_and_data_locks(studio):
    client, session, _ = studio
    units, _ = boundary(session)
    response = client.post("/api/move", json={"units": units, "territory": "R999"})
    assert response.status_code == 400
    assert "unknown territory id 'R999'" in response.json()["detail"]
    from dataclasses import replace

    u = session.unit_index[units[0]]
    lock = session.problem.lock.copy()
    lock[u] = session.assign[u]
    session.problem = replace(session.problem, lock=lock)
    other = str(session.problem.seat_ids[(session.assign[u] + 1) % session.problem.n_seats])
    refused = client.post("/api/move", json={"units": units, "territory": other})
    assert refused.status_code == 409
    assert "locks" in refused.json()["detail"]
    assert client.get("/api/state").json()["figures"]["totals"]["changed_vs_baseline"] == 0


def test_save_versions_compare_and_reopen(studio):
    client, session, workspace = studio
    units, target = boundary(session, 2)
    client.post("/api/move", json={"units": units, "territory": target}).raise_for_status()
    saved = client.post("/api/save", json={"note": "two counties <b>by hand</b>"}).json()
    folder = workspace / saved["version"]["folder"]
    assert saved["version"]["name"] == "v001" and folder == workspace / "studio" / "demo" / "v001"
    for name in ("assignments.csv", "territories.csv", "summary.json", "quotas.csv", "map.html", "report.html",
                 "territories.geojson", "changes.csv", "studio_changes.csv", "studio.json"):  # fmt: skip
        assert (folder / name).is_file(), name
    written = pd.read_csv(folder / "assignments.csv", dtype=str).set_index("unit_id")["territory_id"]
    assert all(written[u] == target for u in units)
    changes = pd.read_csv(folder / "studio_changes.csv", dtype=str)
    assert sorted(changes["unit_id"]) == sorted(units)
    # never overwrite: an existing folder is skipped
    (workspace / "studio" / "demo" / "v002").mkdir()
    again = client.post("/api/save", json={}).json()
    assert again["version"]["name"] == "v003"
    assert [v["name"] for v in client.get("/api/versions").json()] == ["baseline", "v001", "v003"]
    compared = client.get("/api/compare", params={"a": "baseline", "b": "v001"}).json()
    assert sorted(c["id"] for c in compared["changed"]) == sorted(units)
    gained = {r["id"]: r["gained"] for r in compared["territories"]}
    assert gained[target] == 2
    assert client.get("/api/compare", params={"a": "baseline", "b": "v404"}).status_code == 400
    # back to the baseline and to v001 again
    client.post("/api/versions/baseline/open").raise_for_status()
    assert client.get("/api/figures").json()["totals"]["changed_vs_baseline"] == 0
    reopened = client.post("/api/versions/v001/open").json()
    assert reopened["figures"]["totals"]["changed_vs_baseline"] == 2
    assert len(reopened["locked"]) == 2  # the version's hand locks come back
    # a saved version opens as a plan folder, continuing the same version list
    opened = client.post("/api/open", json={"path": "studio/demo/v001"})
    assert opened.status_code == 200, opened.text
    state = client.get("/api/state").json()
    assert [v["name"] for v in state["versions"]] == ["baseline", "v001", "v003"]
    assert len(state["locked"]) == 2


@pytest.mark.parametrize("path", ["/etc", "..", "../../etc/passwd", "out/../../"])
def test_paths_outside_the_workspace_are_refused(studio, path):
    client, _, _ = studio
    response = client.post("/api/open", json={"path": path})
    assert response.status_code == 403
    assert "outside the studio's workspace" in response.json()["detail"]


def test_open_errors_are_clear(studio):
    client, _, workspace = studio
    assert "no such plan folder" in client.post("/api/open", json={"path": "nothing-here"}).json()["detail"]
    (workspace / "empty").mkdir(exist_ok=True)
    response = client.post("/api/open", json={"path": "empty"})
    assert response.status_code == 400
    assert "not a plan folder" in response.json()["detail"]


def test_reoptimise_keeps_hand_edits_and_proposes(studio):
    client, session, _ = studio
    units, target = boundary(session, 1)
    client.post("/api/move", json={"units": units, "territory": target}).raise_for_status()
    before = np.array(client.get("/api/state").json()["assignment"])
    assert client.post("/api/proposal/accept").status_code == 400
    started = client.post("/api/reoptimise", json={"time_limit": 1})
    assert started.status_code == 200 and started.json()["state"] == "running"
    assert client.post("/api/reoptimise", json={"time_limit": 1}).status_code == 409
    # wait on the job itself (its watcher ends when the engine's last message is read)
    assert session.job.wait(timeout=120), "the re-optimise did not end within 120 s"
    status = client.get("/api/reoptimise").json()
    assert status["job"]["state"] == "done", status["job"]["error"]
    proposal = status["proposal"]
    proposed = np.array(proposal["assignment"])
    u = session.unit_index[units[0]]
    assert proposed[u] == session.seat_index[target]  # the hand edit is kept
    assert sorted(c["unit"] for c in proposal["changes"]) == np.flatnonzero(proposed != before).tolist()
    assert proposal["summary"]["audit_ok"], proposal["summary"]["audit"]
    assert proposal["figures"]["totals"]["out_of_band"] == 0
    accepted = client.post("/api/proposal/accept").json()
    assert client.get("/api/state").json()["assignment"] == proposed.tolist()
    assert accepted["history"]["undo_label"].startswith("accept re-optimise")
    client.post("/api/undo").raise_for_status()
    assert client.get("/api/state").json()["assignment"] == before.tolist()
    # cancel: a second run stops at once and leaves no proposal
    client.post("/api/reoptimise", json={"time_limit": 60}).raise_for_status()
    cancelled = client.post("/api/reoptimise/cancel").json()
    assert cancelled["job"]["state"] == "cancelled" and cancelled["proposal"] is None
    assert client.post("/api/reoptimise/cancel").status_code == 400
    assert client.post("/api/proposal/discard").status_code == 400
    assert client.post("/api/reoptimise", json={"time_limit": -1}).status_code == 400


def test_port_taken_is_a_clear_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(StudioError, match=f"port {port} on 127.0.0.1 is already in use"):
            bind(port)
    finally:
        taken.close()


def test_cli_says_when_the_port_is_taken_or_the_folder_is_outside(studio_workspace, monkeypatch):
    import re

    from typer.testing import CliRunner

    from territory_opt.cli import app

    workspace, _ = studio_workspace
    monkeypatch.chdir(workspace)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = CliRunner().invoke(app, ["studio", "out/demo", "--port", str(port), "--no-open"], terminal_width=200)
    finally:
        taken.close()
    assert result.exit_code == 6
    assert f"port {port} on 127.0.0.1 is already in use" in re.sub(r"\s+", " ", result.output)
    outside = CliRunner().invoke(app, ["studio", str(workspace.parent), "--no-open"], terminal_width=200)
    assert outside.exit_code != 0
    assert "outside the studio's workspace" in re.sub(r"\s+", " ", outside.output)


def test_plan_studio_from_python(studio_workspace):
    workspace, plan = studio_workspace
    running = plan.studio(workspace / "scenarios" / "demo.yaml", workspace=workspace)
    try:
        assert running.url.startswith("http://127.0.0.1:") and "?token=" in running.url
        page = httpx.get(running.url, timeout=10)
        assert page.status_code == 200 and "studio.js" in page.text
        api = httpx.get(
            running.url.split("?")[0] + "api/figures", headers={"X-Studio-Token": running.token}, timeout=10
        )
        assert api.json()["totals"]["changed_vs_baseline"] == 0
        assert httpx.get(running.url.split("?")[0] + "api/figures", timeout=10).status_code == 401
        assert "<iframe" in running._repr_html_()
    finally:
        running.stop()


def test_an_account_plan_is_drawn_as_points(tmp_path):
    from territory_opt import scenario_from_dict, solve_scenario
    from territory_opt.studio import from_plan

    from .conftest import accounts_scenario

    scenario = scenario_from_dict(accounts_scenario(), source="test")
    plan = solve_scenario(scenario, time_limit=2)
    session = from_plan(plan, scenario, workspace=tmp_path)
    client = TestClient(create_app(session, token=TOKEN), base_url="http://127.0.0.1", headers=H)
    state = client.get("/api/state").json()
    assert state["kind"] == "points"
    assert state["units"]["names"][0] == "Acme Corp"
    assert None not in state["units"]["lat"]
    refused = client.get("/api/geometry")
    assert refused.status_code == 400 and "points" in refused.json()["detail"]
    other = "R2" if plan.seat_of[0] == 0 else "R1"
    moved = client.post("/api/move", json={"units": ["A1"], "territory": other}).json()
    assert moved["changes"] == [[0, session.seat_index[other]]]
    saved = client.post("/api/save", json={"note": "accounts"}).json()
    folder = tmp_path / saved["version"]["folder"]
    assert (folder / "assignments.csv").is_file() and not (folder / "territories.geojson").exists()
    assert pd.read_csv(folder / "assignments.csv", dtype=str).set_index("unit_id").loc["A1", "territory_id"] == other


def test_the_app_is_built_from_small_route_groups():
    # create_app wires route groups (one router each); no function of the app is over 80 lines
    import ast
    import inspect

    from territory_opt.studio import app as studio_app

    tree = ast.parse(inspect.getsource(studio_app))
    sizes = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert {name for name, lines in sizes.items() if lines > 80} == set()
    assert {"_plan_routes", "_edit_routes", "_reoptimise_routes", "_version_routes", "_page_routes"} <= set(sizes)
