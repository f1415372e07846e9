"""Every malformed file in tests/data gives its pinned message (file, row, column, fix)."""

import re
from pathlib import Path

import pandas as pd
import pytest

from territory_opt import DataError, load_inputs, scenario_from_dict

from .conftest import DATA, accounts_scenario

CASES = [
    ("bad_missing_column.csv", "bad_missing_column.csv: missing column 'Annual Potential' (needed as 'potential')"),
    (
        "bad_duplicate_id.csv",
        "bad_duplicate_id.csv, row 5, column 'Account ID': duplicate id 'A2' (first seen in row 3); ids must be unique",
    ),
    (
        "bad_non_numeric.csv",
        "bad_non_numeric.csv, row 3, column 'Annual Potential': not a number: 'lots'; write a plain number",
    ),
    (
        "bad_negative.csv",
        "bad_negative.csv, row 4, column 'Annual Potential': negative value -500; measures must be >= 0",
    ),
    (
        "bad_empty_measure.csv",
        "bad_empty_measure.csv, row 5, column 'Annual Potential': empty value; enter 0 if there is none",
    ),
    (
        "bad_missing_coordinate.csv",
        "bad_missing_coordinate.csv, row 6, column 'Latitude': coordinate is empty; give decimal degrees (WGS 84) for every row",
    ),
    (
        "bad_out_of_range.csv",
        "bad_out_of_range.csv, row 2, column 'Latitude': coordinate -184.388 is outside [-90, 90] (latitude and longitude swapped?)",
    ),
    (
        "bad_unknown_owner.csv",
        "bad_unknown_owner.csv, row 7, column 'Owner': current owner 'R9' is not a rep in the roster (1 row); reps match by id, then by name: fix the id or name, or add the rep (a rep who has left: keep them in the roster and remove them with --remove-rep or edits.remove_reps, so their accounts move)",
    ),
    ("bad_unknown_lock.csv", "bad_unknown_lock.csv, row 2, column 'Lock': lock target 'R7' is not a rep in the roster"),
    (
        "bad_unknown_skill.csv",
        "bad_unknown_skill.csv, row 3, column 'skills': skill 'nuclear' is required by 1 row(s) but no rep has it",
    ),
    ("bad_empty.csv", "bad_empty.csv: the file is empty; it needs a header row and data rows"),
    ("bad_header_only.csv", "bad_header_only.csv: the file has no data rows; it must list at least one row"),
    ("missing.csv", "missing.csv: file not found; check the path in the scenario"),
]


@pytest.mark.parametrize(("name", "message"), CASES, ids=[c[0] for c in CASES])
def test_malformed_accounts_give_pinned_message(name, message):
    scenario = scenario_from_dict(accounts_scenario(name))
    with pytest.raises(DataError, match=re.escape(message)):
        load_inputs(scenario)


def test_valid_crm_export_reads_with_mapping():
    before = (DATA / "accounts.csv").read_bytes()
    inputs = load_inputs(scenario_from_dict(accounts_scenario()))
    assert list(inputs.units["id"]) == ["A1", "A2", "A3", "A4", "A5", "A6"]
    assert inputs.units["potential"].sum() == 525000
    assert inputs.units.set_index("id").loc["A6", "lock"] == "R2"
    assert inputs.units.set_index("id").loc["A1", "family"] == "A1"  # a named parent joins its family
    assert inputs.units.set_index("id").loc["A3", "skills"] == frozenset({"healthcare"})
    assert (DATA / "accounts.csv").read_bytes() == before  # inputs are never modified


def test_all_problems_are_collected_at_once(tmp_path):
    frame = pd.read_csv(DATA / "accounts.csv", dtype=str, keep_default_na=False)
    frame.loc[1, "Annual Potential"] = "x"
    frame.loc[2, "Latitude"] = "95"
    frame.loc[3, "Owner"] = "nobody"
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(path)
    with pytest.raises(DataError) as info:
        load_inputs(scenario_from_dict(raw))
    assert len(info.value.problems) == 3
    assert str(info.value).startswith("3 problems in the input data:")


def test_thousands_separators_and_bom_and_semicolons_are_tolerated(tmp_path):
    text = "\ufeffAccount ID;Account Name;Latitude;Longitude;Annual Potential;Owner\nA1;Acme;33.7;-84.3;1,200,000;R1\nA2;Beta;32.1;-81.1;950;R2\n"
    path = tmp_path / "semi.csv"
    path.write_text(text, encoding="utf-8")
    raw = accounts_scenario()
    raw["data"]["accounts"]["path"] = str(path)
    columns = raw["data"]["accounts"]["columns"]
    for absent in ("workload", "lock", "skills", "family"):  # a mapped column must exist
        del columns[absent]
    inputs = load_inputs(scenario_from_dict(raw))
    assert list(inputs.units["potential"]) == [1_200_000.0, 950.0]


def geo_scenario(geography: str, adjacency: str | None, islands: str = "error") -> dict:
    data: dict = {"geography": {"path": str(DATA / geography), "columns": {"id": "zip"}}}
    if adjacency:
        data["adjacency"] = {"path": str(DATA / adjacency), "columns": {"source": "from", "target": "to"}}
    return {
        "name": "geo",
        "data": data,
        "seats": {"count": 2},
        "balance": {"potential": {"tolerance": 0.5}},
        "constraints": {"contiguity": {"enabled": True, "islands": islands}},
    }


def test_unit_without_neighbour_when_contiguity_is_asked():
    with pytest.raises(
        DataError,
        match=re.escape(
            "zip_edges.csv, row 5: unit 'Z4' has no neighbour, so no contiguous territory can hold it with others; add an edge for it, or set constraints.contiguity.islands: link"
        ),
    ):
        load_inputs(scenario_from_dict(geo_scenario("zips.geojson", "zip_edges.csv")))


def test_island_is_linked_on_request_from_polygons():
    inputs = load_inputs(scenario_from_dict(geo_scenario("zips.geojson", None, islands="link")))
    assert inputs.edges is not None and len(inputs.edges) == 3
    assert any("island link" in note for note in inputs.notes)


def test_edge_list_with_unknown_unit():
    with pytest.raises(
        DataError,
        match=re.escape("bad_zip_edges.csv, row 3, column 'to': unit 'Z9' is not among the units; fix the id"),
    ):
        load_inputs(scenario_from_dict(geo_scenario("zips.geojson", "bad_zip_edges.csv")))


def test_geometry_without_crs():
    raw = geo_scenario("nocrs/zips.shp", None)
    with pytest.raises(
        DataError, match=re.escape("zips.shp: the geometry has no CRS; save the file with one (e.g. EPSG:4326)")
    ):
        load_inputs(scenario_from_dict(raw))


def test_reader_formats_agree(tmp_path):
    frame = pd.read_csv(DATA / "accounts.csv")
    frame.to_parquet(tmp_path / "accounts.parquet")
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["Longitude"], frame["Latitude"]), crs="EPSG:4326")
    gdf.drop(columns=["Latitude", "Longitude"]).to_file(tmp_path / "accounts.gpkg")
    for name in ("accounts.parquet", "accounts.gpkg"):
        raw = accounts_scenario()
        raw["data"]["accounts"]["path"] = str(Path(tmp_path) / name)
        inputs = load_inputs(scenario_from_dict(raw))
        assert inputs.units["potential"].sum() == 525000
        assert inputs.units["lat"].round(3).tolist() == frame["Latitude"].round(3).tolist()
