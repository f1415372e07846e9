import numpy as np
import pytest

from territory_opt import geo
from territory_opt.datasets import DATASETS, generate_book, us_counties


@pytest.fixture(scope="module")
def counties():
    return us_counties()


def test_contiguous_us_counties_with_population(counties):
    frame, _adjacency = counties
    assert len(frame) == 3108
    assert frame["fips"].is_unique
    assert not frame["state"].isin(["AK", "HI", "PR"]).any()
    assert frame["state"].nunique() == 49  # 48 states and DC
    assert frame["population"].sum() == pytest.approx(328_239_523 - 731_545 - 1_415_872, rel=1e-3)
    la = frame.set_index("fips").loc["06037"]
    assert la["name"] == "Los Angeles" and la["population"] > 10_000_000


def test_adjacency_is_connected_with_islands_linked(counties):
    frame, adjacency = counties
    index = {f: i for i, f in enumerate(frame["fips"])}
    edges = np.array([[index[a], index[b]] for a, b in zip(adjacency["fips_a"], adjacency["fips_b"], strict=True)])
    assert geo.components(len(frame), edges).max() == 0
    links = adjacency[adjacency["kind"] == "link"]
    linked = set(links["fips_a"]) | set(links["fips_b"])
    assert {"53055", "25019", "25007"} <= linked  # San Juan WA, Nantucket, Dukes
    # queen neighbours: Fulton GA touches DeKalb GA
    pairs = set(zip(adjacency["fips_a"], adjacency["fips_b"], strict=True))
    assert ("13089", "13121") in pairs


def test_state_subset_and_unknown_state():
    frame, adjacency = us_counties(["GA"])
    assert len(frame) == 159
    assert set(adjacency["fips_a"]) <= set(frame["fips"])
    with pytest.raises(ValueError, match=r"unknown state code\(s\) \['XX'\]"):
        us_counties(["XX"])


def test_package_data_is_small():
    assert DATASETS["us-counties"].size_bytes < 15e6


def test_generated_book_is_seeded_and_realistic():
    frame, _ = us_counties(["GA"])
    a1, r1 = generate_book(frame, accounts=3000, reps=8, seed=5)
    a2, r2 = generate_book(frame, accounts=3000, reps=8, seed=5)
    assert a1.equals(a2) and r1.equals(r2)
    assert a1["synthetic"].all()
    assert (a1["potential"] > 0).all() and (a1["workload"] > 0).all()
    # accounts follow population: Fulton (largest county) holds the most accounts
    top = a1["county"].value_counts().index[0]
    assert top in {"13121", "13135"}
    # every account lies inside its county polygon
    poly = frame.set_index("fips").geometry
    import shapely

    sample = a1.sample(200, random_state=1)
    inside = [
        shapely.contains_xy(poly[c], x, y)
        for c, x, y in zip(sample["county"], sample["lon"], sample["lat"], strict=True)
    ]
    assert np.mean(inside) == 1.0
    # owners are reps; families share one owner
    assert set(a1["owner"]) <= set(r1["id"])
    fam = a1[a1["family"] != ""]
    assert (fam.groupby("family")["owner"].nunique() == 1).all()
    # skills required are offered by some rep
    offered = set(";".join(r1["skills"]).split(";"))
    assert set(a1["skills"]) - {""} <= offered


def test_a_seed_keeps_its_book_across_releases():
    """A scenario names its synthetic book by seed: the same seed must give the same book
    (places, figures, families, owners, locks) in every release, or saved plans and their
    comparisons stop matching their scenario. Pinned against the book this seed gave."""
    import hashlib

    frame, _ = us_counties(["GA"])
    accounts, reps = generate_book(frame, accounts=400, reps=5, seed=7, family_share=0.2, lock_share=0.1)
    columns = ["id", "lat", "lon", "county", "potential", "workload", "history", "skills", "family", "owner", "lock"]
    digest = hashlib.sha256(accounts[columns].to_json(orient="values").encode()).hexdigest()[:16]
    assert digest == "0aee6a249db52249"
    assert hashlib.sha256(reps.to_json(orient="values").encode()).hexdigest()[:16] == "035d2a5d5053afbe"
