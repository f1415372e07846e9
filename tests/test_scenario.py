from pathlib import Path

import pytest
from pydantic import ValidationError

from territory_opt import ScenarioError, load_scenario, scenario_from_dict

ROOT = Path(__file__).parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_scenario_validates(path):
    scenario = load_scenario(path)
    assert scenario.name
    with pytest.raises(ValidationError, match="frozen_instance"):
        scenario.name = "x"  # type: ignore[misc]


def test_tolerance_out_of_range_names_file_and_key(tmp_path):
    path = write(tmp_path, "x.yaml", "name: x\ndata: {dataset: us-counties}\nbalance:\n  potential: {tolerance: 1.5}\n")
    with pytest.raises(ScenarioError, match=r"x\.yaml: balance\.potential\.tolerance: must be in \(0, 1\], got 1\.5"):
        load_scenario(path)


def test_unknown_key_is_rejected(tmp_path):
    path = write(tmp_path, "x.yaml", "name: x\ndata: {dataset: us-counties}\nsolver: {time_limt: 5}\n")
    with pytest.raises(ScenarioError, match=r"x\.yaml: solver\.time_limt: unknown key"):
        load_scenario(path)


def test_missing_data_source(tmp_path):
    path = write(tmp_path, "x.yaml", "name: x\ndata: {}\n")
    with pytest.raises(ScenarioError, match=r"x\.yaml: data: name a built-in 'dataset'"):
        load_scenario(path)


def test_extends_overrides_a_few_keys(tmp_path):
    write(
        tmp_path,
        "base.yaml",
        "name: base\ndata: {dataset: us-counties, states: [ga]}\nbalance:\n  population: {tolerance: 0.05}\nsolver: {time_limit: 9}\n",
    )
    child = write(
        tmp_path, "child.yaml", "extends: base.yaml\nname: child\nbalance:\n  population: {tolerance: 0.03}\n"
    )
    scenario = load_scenario(child)
    assert scenario.name == "child"
    assert scenario.balance["population"].tolerance == 0.03
    assert scenario.solver.time_limit == 9
    assert scenario.data.states == ["GA"]


def test_extends_cycle_is_explained(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    b = write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError, match="'extends' makes a cycle"):
        load_scenario(b)


def test_yaml_aliases_are_refused(tmp_path):
    path = write(tmp_path, "bomb.yaml", "a: &a [x, x]\nb: [*a, *a]\nname: x\ndata: {dataset: us-counties}\n")
    with pytest.raises(ScenarioError, match=r"YAML aliases \(\*name\) are not allowed"):
        load_scenario(path)


def test_yaml_tags_are_not_executed(tmp_path):
    path = write(tmp_path, "evil.yaml", "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)


def test_missing_file():
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario("does/not/exist.yaml")


def test_contiguity_shorthand_and_api_dict():
    scenario = scenario_from_dict(
        {"name": "x", "data": {"dataset": "us-counties"}, "constraints": {"contiguity": True}}
    )
    assert scenario.constraints.contiguity is not None and scenario.constraints.contiguity.enabled
