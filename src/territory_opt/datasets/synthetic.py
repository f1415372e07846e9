"""A seeded generator of a realistic sales book on real US geography.

The accounts are **synthetic** (invented names, potentials, workloads) but placed on real
counties in proportion to their 2019 population; reps live at real population centres.
Every place that shows a generated book says so (:data:`SYNTHETIC_NOTE`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

SYNTHETIC_NOTE = "synthetic accounts on real US Census geography (seeded generator)"

SKILLS = ("healthcare", "public-sector", "enterprise")
INDUSTRIES = ("healthcare", "public-sector", "manufacturing", "retail", "finance", "technology")
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")


def _points_in_polygons(
    geoms: np.ndarray, county_of: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points inside each account's county polygon (rejection sampling)."""
    lon = np.empty(len(county_of))
    lat = np.empty(len(county_of))
    order = np.argsort(county_of, kind="stable")
    bounds = shapely.bounds(geoms)
    starts = np.searchsorted(county_of[order], np.arange(len(geoms) + 1))
    for c in np.flatnonzero(np.diff(starts)):
        idx = order[starts[c] : starts[c + 1]]
        need = len(idx)
        x0, y0, x1, y1 = bounds[c]
        got_x: list[np.ndarray] = []
        got_y: list[np.ndarray] = []
        found = 0
        for _ in range(50):
            m = max(8, 3 * (need - found))
            xs = rng.uniform(x0, x1, m)
            ys = rng.uniform(y0, y1, m)
            inside = shapely.contains_xy(geoms[c], xs, ys)
            got_x.append(xs[inside])
            got_y.append(ys[inside])
            found += int(inside.sum())
            if found >= need:
                break
        xs_all = np.concatenate(got_x)[:need]
        ys_all = np.concatenate(got_y)[:need]
        if len(xs_all) < need:  # a sliver polygon: fall back to its representative point
            point = shapely.point_on_surface(geoms[c])
            pad = need - len(xs_all)
            xs_all = np.concatenate([xs_all, np.full(pad, shapely.get_x(point))])
            ys_all = np.concatenate([ys_all, np.full(pad, shapely.get_y(point))])
        lon[idx] = xs_all
        lat[idx] = ys_all
    return lon, lat


def generate_book(
    counties: gpd.GeoDataFrame,
    *,
    accounts: int = 2000,
    reps: int = 10,
    seed: int = 0,
    skill_share: float = 0.2,
    family_share: float = 0.1,
    lock_share: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate accounts and reps on real counties.

    Parameters
    ----------
    counties : GeoDataFrame
        From :func:`territory_opt.datasets.us_counties` (``fips``, ``population``, polygons).
    accounts, reps : int
        How many of each.
    seed : int
        Same seed, same book.
    skill_share : float
        Share of accounts that require a skill.
    family_share : float
        Share of accounts that are children of a parent account (same family).
    lock_share : float
        Share of accounts locked to their current owner.

    Returns
    -------
    accounts : DataFrame
        ``id``, ``name``, ``lat``, ``lon`` [degrees], ``county`` (FIPS), ``state``,
        ``industry``, ``segment``, ``potential`` [USD/yr], ``workload`` [hours/yr],
        ``history`` (last year's sales) [USD/yr],
        ``skills`` (``;``-separated, may be empty), ``family`` (parent id, may be empty),
        ``owner`` (current rep id), ``lock`` (rep id or empty), ``synthetic`` (True).
    reps : DataFrame
        ``id``, ``name``, ``lat``, ``lon`` (home base in a county drawn by population),
        ``county``, ``skills`` (``;``-separated), ``capacity`` [FTE].
    """
    rng = np.random.default_rng(seed)  # one stream, drawn in this order: same seed, same book
    pop = counties["population"].to_numpy(dtype=float)
    weights = pop / pop.sum()
    rep_frame = _reps(counties, reps, weights, rng)
    account_frame = _accounts(counties, accounts, weights, skill_share, rng)
    account_frame["family"] = _families(account_frame, family_share, rng)
    owner, lock = _current_owners(account_frame, rep_frame, lock_share, rng)
    family = account_frame["family"].to_numpy(dtype=object)
    skills = account_frame["skills"].to_numpy(dtype=object).copy()
    if (family != "").any():  # a family shares its parent's owner, lock and skills
        has_fam = family != ""
        parent_idx = np.array([int(p[1:]) - 1 for p in family[has_fam]], dtype=np.int64)
        owner[has_fam] = owner[parent_idx]
        lock[has_fam] = lock[parent_idx]
        skills[has_fam] = skills[parent_idx]
    account_frame["skills"] = skills
    account_frame["owner"] = owner
    account_frame["lock"] = lock
    account_frame["synthetic"] = True
    account_frame["lat"] = np.round(account_frame["lat"].to_numpy(float), 5)
    account_frame["lon"] = np.round(account_frame["lon"].to_numpy(float), 5)
    return account_frame, rep_frame


def _reps(counties: gpd.GeoDataFrame, reps: int, weights: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Reps: home bases drawn among counties proportionally to population (a big county gets
    several reps), each at a random place inside that county; every skill held by someone."""
    homes = rng.choice(len(counties), size=reps, replace=True, p=weights)
    home_lon, home_lat = _points_in_polygons(counties.geometry.to_numpy(), homes, rng)
    rep_skill_sets = []
    for i in range(reps):
        has = [s for s in SKILLS if rng.random() < 0.45]
        if i < len(SKILLS):  # every skill is covered by at least one rep
            has = sorted(set(has) | {SKILLS[i]})
        rep_skill_sets.append(";".join(has))
    capacity = rng.choice([1.0] * 9 + [0.8], size=reps)  # a few reps work reduced hours
    return pd.DataFrame(
        {
            "id": np.array([f"R{i + 1:03d}" for i in range(reps)], dtype=object),
            "name": [f"Rep {i + 1:03d} (synthetic)" for i in range(reps)],
            "lat": np.round(home_lat, 5),
            "lon": np.round(home_lon, 5),
            "county": counties["fips"].to_numpy()[homes],
            "skills": rep_skill_sets,
            "capacity": capacity,
            "region": counties["state"].to_numpy()[homes],  # a rep's region: the state of home
        }
    )


def _accounts(
    counties: gpd.GeoDataFrame, accounts: int, weights: np.ndarray, skill_share: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Accounts placed in counties by population, with their segment, industry, potential,
    workload, last year's sales and required skill (no family, owner or lock yet)."""
    county_of = rng.choice(len(counties), size=accounts, p=weights)
    lon, lat = _points_in_polygons(counties.geometry.to_numpy(), county_of, rng)
    potential = np.round(rng.lognormal(mean=np.log(40_000.0), sigma=1.0, size=accounts), -2)
    q = np.quantile(potential, [0.7, 0.95])
    segment_idx = np.searchsorted(q, potential)
    segment = np.array(SEGMENTS, dtype=object)[segment_idx]
    industry = rng.choice(np.array(INDUSTRIES, dtype=object), size=accounts)
    base_hours = np.array([12.0, 30.0, 80.0])[segment_idx]
    workload = np.round(base_hours * rng.lognormal(0.0, 0.3, accounts) + potential / 5000.0, 1)
    history = np.round(potential * rng.uniform(0.15, 0.45, accounts), -2)  # last year's sales
    needs_skill = rng.random(accounts) < skill_share
    skill = np.where(
        segment == "Enterprise",
        "enterprise",
        np.where(np.isin(industry, SKILLS), industry, "enterprise"),
    )
    return pd.DataFrame(
        {
            "id": np.array([f"A{i + 1:06d}" for i in range(accounts)], dtype=object),
            "name": [f"Account {i + 1:06d} (synthetic)" for i in range(accounts)],
            "lat": lat,  # rounded once owners are drawn (from the exact places)
            "lon": lon,
            "county": counties["fips"].to_numpy()[county_of],
            "state": counties["state"].to_numpy()[county_of],
            "industry": industry,
            "segment": segment,
            "potential": potential,
            "workload": workload,
            "history": history,
            "skills": np.where(needs_skill, skill, ""),
        }
    )


def _families(book: pd.DataFrame, family_share: float, rng: np.random.Generator) -> np.ndarray:
    """The family (parent account id, ``""`` for none) of each account: children sit in the
    same county as their parent (branches of one company in one metro); a parent names its
    own family so the group is explicit."""
    accounts = len(book)
    ids = book["id"].to_numpy(dtype=object)
    county_of = book["county"].to_numpy()
    family = np.full(accounts, "", dtype=object)
    n_children = int(family_share * accounts)
    if not n_children or accounts <= 1:
        return family
    children = rng.choice(accounts, size=n_children, replace=False)
    by_county = pd.Series(np.arange(accounts)).groupby(county_of).agg(list)
    child_set = set(children.tolist())
    for c in children:
        peers = [a for a in by_county[county_of[c]] if a != c and a not in child_set]
        if peers:
            family[c] = ids[peers[int(rng.integers(len(peers)))]]
    for p in set(family[family != ""]):
        family[int(p[1:]) - 1] = p
    return family


def _current_owners(
    book: pd.DataFrame, roster: pd.DataFrame, lock_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Current owner and lock of each account: last year's alignment, roughly balanced but
    drifted. Accounts, in random order, go to the nearest rep with the required skill whose
    book is below 115 % of its FTE share of potential (else the least-loaded of the near
    ones), and a tenth drift to another near rep (history is never perfectly tidy)."""
    from scipy.spatial import cKDTree

    accounts, reps = len(book), len(roster)
    lon, lat = book["lon"].to_numpy(float), book["lat"].to_numpy(float)
    skills, potential = book["skills"].to_numpy(dtype=object), book["potential"].to_numpy(float)
    capacity = roster["capacity"].to_numpy(float)
    acc_xy = np.column_stack([lon * np.cos(np.radians(lat)), lat])
    rep_xy = np.column_stack([roster["lon"] * np.cos(np.radians(roster["lat"])), roster["lat"]])
    near_k = min(reps, 12)
    _, near = cKDTree(rep_xy).query(acc_xy, k=near_k)
    near = np.asarray(near).reshape(accounts, near_k)
    rep_skill_arr = [set(s.split(";")) if s else set() for s in roster["skills"]]
    share = capacity / capacity.sum() * potential.sum() * 1.15
    book_of = np.zeros(reps)
    owner_idx = np.full(accounts, -1, dtype=np.int64)
    for a in rng.permutation(accounts):
        options = [r for r in near[a] if not skills[a] or skills[a] in rep_skill_arr[r]]
        if not options:
            options = [r for r in range(reps) if skills[a] in rep_skill_arr[r]]
        fits = [r for r in options if book_of[r] + potential[a] <= share[r]]
        pick = fits[0] if fits else min(options[:3], key=lambda r: book_of[r] / capacity[r])
        if rng.random() < 0.1 and len(options) > 1:
            pick = options[1]
        owner_idx[a] = pick
        book_of[pick] += potential[a]
    owner = roster["id"].to_numpy(dtype=object)[owner_idx]
    lock = np.where(rng.random(accounts) < lock_share, owner, "")
    return owner, lock
