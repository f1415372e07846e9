"""The pages' building blocks without a browser: JSON safe inside <script>, numbers formatted,
account areas that contain their accounts, open seats on the map, an integer headcount axis."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from territory_opt.maps import account_areas, map_panel
from territory_opt.pages import json_for_script, money, number, percent, read_embedded_json, short_money
from territory_opt.pages.sizing import sizing_figure

HOSTILE = ["</script><script>alert(1)</script>", "a\u2028b\u2029c", "<!--", "${x}`", "&amp;", float("nan")]


def test_json_for_script_cannot_close_the_script_and_reads_back_exactly():
    text = json_for_script({"names": HOSTILE})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == {"names": [*HOSTILE[:-1], None]}  # NaN becomes null (strict JSON)
    page = f'<script type="application/json" id="d">{text}</script><script>x</script>'
    assert read_embedded_json(page, "d") == {"names": [*HOSTILE[:-1], None]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (lambda: money(1234567.891), "$1,234,568"),
        (lambda: money(-2500), "-$2,500"),
        (lambda: short_money(64_000_000), "$64.0M"),
        (lambda: short_money(118_640_000), "$119M"),
        (lambda: number(2.5), "2.5"),
        (lambda: number(12345.678, 1), "12,345.7"),
        (lambda: number(None), "n/a"),
        (lambda: percent(0.17456), "17.5%"),
        (lambda: percent(float("nan")), "n/a"),
    ],
)
def test_numbers_read_as_a_business_reads_them(value, expected):
    assert value() == expected


def test_account_areas_contain_their_accounts_and_do_not_overlap():
    rng = np.random.default_rng(1)
    lonlat = np.column_stack([rng.uniform(-85, -81, 300), rng.uniform(31, 35, 300)])
    seat_of = (lonlat[:, 0] > -83).astype(int) + 2 * (lonlat[:, 1] > 33).astype(int)
    areas = account_areas(lonlat, seat_of, 5, simplify_m=0.0)
    assert areas[4] is None  # a territory without accounts has no area
    for t in range(4):
        inside = shapely.contains_xy(areas[t].buffer(1e-6), lonlat[seat_of == t, 0], lonlat[seat_of == t, 1])
        assert inside.all()
    total = sum(a.area for a in areas[:4])
    assert shapely.union_all(areas[:4]).area == pytest.approx(total, rel=1e-6)


def test_map_shows_open_seats_where_the_plan_put_them(grid3):
    from dataclasses import replace

    from territory_opt import solve
    from territory_opt.scenario import SolverSettings

    problem = replace(
        grid3, unit_lonlat=np.asarray(grid3.unit_xy) / 100 + [-84.0, 33.0], seat_lonlat=np.full((3, 2), np.nan)
    )
    plan = solve(problem, solver=SolverSettings(time_limit=1, workers=1))
    panel = map_panel(plan)
    seats = panel["seats"]
    assert len(seats) == 3 and all(s["open"] for s in seats)  # no home base: every seat is open
    for s in seats:
        lon, lat = problem.unit_lonlat[plan.centres[s["t"]]]
        assert (s["lon"], s["lat"]) == (round(lon, 5), round(lat, 5))
    assert [t["id"] for t in panel["territories"]] == [str(x) for x in problem.seat_ids]
    assert len(panel["areas"]["features"]) == 3
    from territory_opt.report import plan_report

    lon, lat = problem.unit_lonlat[plan.centres[0]]
    assert f"open seat, placed at {lat:.3f}, {lon:.3f}" in plan_report(plan)  # the report says where, too


def test_sizing_curve_counts_whole_reps():
    frame = pd.DataFrame(
        {
            "headcount": [3, 4, 5, 6, 7],
            "workload_per_seat_max": [5200.0, 4100.5, 3300.25, 2900.0, 2500.0],
            "workload_per_seat_mean": [4000.0, 3000.0, 2400.0, 2000.0, 1700.0],
            "travel_km": [120.0, 100.0, 90.0, 80.0, 75.0],
        }
    )
    fig = sizing_figure(frame, "workload", 4000.0, 5)
    ticks = fig.axes[0].get_xticks()
    assert list(ticks) == [3, 4, 5, 6, 7]
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert all(re.fullmatch(r"\d+", label) for label in labels)
