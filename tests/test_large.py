"""The company-scale path (transport start, Lagrangian bound, window search) on small books
whose optimum CP-SAT proves, so the bound and the plan can be checked against it."""

from dataclasses import replace

import numpy as np
import pytest

from territory_opt import Problem, Status, solve
from territory_opt.model import build_candidates, targets
from territory_opt.model.candidates import seat_positions
from territory_opt.model.transport import groups, lagrangian_bound, transport_start
from territory_opt.scenario import Candidates, Constraints, Disruption, Measure, SolverSettings
from territory_opt.solve._pairs import exempt_filter

LNS = SolverSettings(time_limit=8, seed=3, method="lns", workers=2)
EXACT = SolverSettings(time_limit=20, seed=3, method="exact", workers=2)
ALL = Candidates(nearest=50)


def book(n: int = 60, k: int = 4, seed: int = 0, **extra: object) -> Problem:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2))
    homes = rng.uniform(10, 90, size=(k, 2))
    potential = rng.lognormal(0, 0.5, size=n)
    workload = rng.uniform(1, 3, size=n)
    return Problem.from_arrays(
        measures=np.column_stack([potential, workload]),
        measure_names=["potential", "workload"],
        unit_xy=xy,
        seat_xy=homes,
        **extra,
    )


def clean(plan) -> None:
    bad = [str(f) for f in plan.findings if not f.ok]
    assert not bad, bad


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_never_exceeds_the_proven_optimum_and_the_plan_is_close(seed):
    p = book(seed=seed)
    balance = {"potential": Measure(tolerance=0.05)}
    exact = solve(p, balance=balance, candidates=ALL, solver=EXACT)
    assert exact.status is Status.OPTIMAL
    large = solve(p, balance=balance, candidates=ALL, solver=LNS)
    clean(large)
    assert large.status is Status.FEASIBLE  # a window search never claims optimality
    assert large.bound is not None
    assert large.bound <= exact.objective + 1e-6  # valid: below the proven optimum
    assert large.objective >= exact.objective - 1e-6
    assert large.gap == pytest.approx((large.objective - large.bound) / large.objective)
    assert large.objective <= 1.10 * exact.objective
    assert "unrestricted" in large.bound_scope
    assert "transport" in large.method


def test_lagrangian_bound_holds_for_any_prices():
    """L(γ) is a lower bound for every γ, not only the optimal one."""
    p = book(n=40, k=3, seed=5)
    balance = {"potential": Measure(tolerance=0.05)}
    opt = solve(p, balance=balance, candidates=ALL, solver=EXACT)
    assert opt.status is Status.OPTIMAL
    w = p.measures[:, 0]
    t = targets(p, None)[:, 0]
    grp = groups(p, w)
    pos = seat_positions(p, np.zeros(3, dtype=np.int64))
    rng = np.random.default_rng(0)
    for _ in range(20):
        gamma = rng.normal(0, 50, size=3)
        assert lagrangian_bound(p, grp, w, pos, gamma, 0.95 * t, 1.05 * t) / w.sum() <= opt.objective + 1e-9


def test_transport_start_respects_locks_skills_families_and_bands():
    n = 300
    rng = np.random.default_rng(4)
    lock = np.full(n, -1)
    lock[:5] = 2
    skills = np.where(rng.random(n) < 0.2, 1, 0)
    family = np.full(n, -1)
    family[10:40] = np.repeat(np.arange(10), 3)
    p = book(n=n, k=6, seed=4, lock=lock, unit_skills=skills, seat_skills=[1, 0, 1, 0, 1, 1], family=family)
    w = p.measures[:, 0]
    t = targets(p, None)[:, 0]
    cand = build_candidates(p, np.zeros(6, dtype=np.int64), nearest=3)
    grp = groups(p, w)
    tr = transport_start(p, cand, grp, w, seat_positions(p, np.zeros(6, dtype=np.int64)), 0.9 * t, 1.1 * t)
    a = tr.assign
    assert (a[:5] == 2).all()
    assert p.eligible(np.arange(n), a).all()
    for f in range(10):
        assert len(set(a[family == f])) == 1
    load = np.bincount(a, weights=w, minlength=6)
    assert ((load >= 0.9 * t - 1e-9) & (load <= 1.1 * t + 1e-9)).all()


def test_transport_pricing_never_gives_a_standing_seat_or_an_excluded_pair():
    """The pricing rounds add pairs beyond the candidates: never to a seat standing alone
    (its open band makes it free, so the flow took its neighbours: Orange County went to the
    seat where Los Angeles stands alone) and never an excluded (unit, seat) pair."""
    n, k = 200, 5
    base = book(n=n, k=k, seed=11)
    w = base.measures[:, 0]
    # seat 0 stands alone on unit 0, at the map's centre among the other units; the
    # candidates reach only the 3 nearest seats, so every other pair comes from the pricing
    xy = base.unit_xy.copy()
    xy[0] = [50.0, 50.0]
    lock = np.full(n, -1)
    lock[0] = 0
    pos = np.vstack([xy[0], [[15, 15], [85, 15], [15, 85], [85, 85]]])
    # the 10 units nearest seat 1 may not join it
    near = np.argsort(np.linalg.norm(xy - pos[1], axis=1))[:10]
    exclusions = np.column_stack([near, np.full(10, 1)])
    p = replace(base, unit_xy=xy, seat_xy=pos, lock=lock, exclusions=exclusions)
    exempt = np.array([True, False, False, False, False])
    t = float(w[1:].sum()) / 4
    lo = np.r_[0.0, np.full(4, 0.9 * t)]
    hi = np.r_[np.inf, np.full(4, 1.1 * t)]
    cand = build_candidates(p, np.zeros(k, dtype=np.int64), nearest=3)
    near_seats = exempt_filter(p, cand, exempt)
    assert len(near_seats.unit) < len(cand.unit)  # the standing seat was among some units' nearest
    tr = transport_start(p, near_seats, groups(p, w), w, pos, lo, hi, exempt=exempt)
    a = tr.assign
    assert a[0] == 0 and (a[1:] != 0).all()  # the standing seat holds its unit alone
    assert not (a[near] == 1).any()  # the excluded pairs stay out
    load = np.bincount(a, weights=w, minlength=k)[1:]
    assert ((load >= 0.9 * t - 1e-6) & (load <= 1.1 * t + 1e-6)).all()
    # what the pricing did before: the free seat 0 took the units around it
    old = transport_start(p, near_seats, groups(p, w), w, pos, lo, hi)
    assert (old.assign[1:] == 0).any()


def test_window_search_keeps_every_constraint_family():
    """Second measure, capacity, locks, skills, families and a disruption budget."""
    n, k = 240, 6
    rng = np.random.default_rng(7)
    base = book(n=n, k=k, seed=7)
    owner = np.argmin(np.linalg.norm(base.unit_xy[:, None, :] - base.seat_xy[None, :, :], axis=2), axis=1)
    lock = np.full(n, -1)
    lock[:4] = owner[:4]
    family = np.full(n, -1)
    family[20:60] = np.repeat(np.arange(20), 2)
    p = replace(
        book(
            n=n,
            k=k,
            seed=7,
            unit_skills=np.where(rng.random(n) < 0.15, 1, 0),
            seat_skills=[1, 1, 0, 1, 0, 1],
            family=family,
        ),
        owner=owner,
        lock=lock,
    )
    # keep families with one owner, as a CRM would
    own = p.owner.copy()
    for f in range(20):
        own[family == f] = own[family == f][0]
    p = replace(p, owner=own, lock=np.where(lock >= 0, own, -1))
    balance = {"potential": Measure(tolerance=0.08), "workload": Measure(tolerance=0.15)}
    constraints = Constraints(disruption=Disruption(measure="potential", max_share=0.6))
    plan = solve(p, balance=balance, constraints=constraints, candidates=Candidates(nearest=4), solver=LNS)
    clean(plan)
    checks = {f.check for f in plan.findings}
    assert {"assignment", "locks", "skills", "families", "balance:potential", "balance:workload"} <= checks
    assert any(c.startswith("disruption") for c in checks)


def test_lns_is_repeatable_in_deterministic_mode():
    p = book(n=200, k=5, seed=9)
    settings = LNS.model_copy(update={"deterministic": True, "time_limit": 4})
    a = solve(p, balance={"potential": Measure(tolerance=0.05)}, solver=settings)
    b = solve(p, balance={"potential": Measure(tolerance=0.05)}, solver=settings)
    assert a.seat_of.tolist() == b.seat_of.tolist()


@pytest.mark.slow
def test_chosen_centres_move_between_rounds_of_the_company_scale_search(monkeypatch):
    """2,200 units in 25 clusters, 50 seats whose centres the model chooses, no contiguity
    (the company-scale path). Keeping the first centres gave plans at 64 km of weighted
    distance to the centre; moving them to their territory's medoid between rounds gives
    about 38 km. The plan also carries a bound valid for the real problem."""
    import importlib

    company_scale = importlib.import_module("territory_opt.solve.strategies.company_scale")
    rng = np.random.default_rng(5)
    clusters = rng.uniform(0, 1000, (25, 2))
    xy = clusters[rng.integers(0, 25, 2200)] + rng.normal(0, 40, (2200, 2))
    p = Problem.from_arrays(
        measures=rng.integers(50, 150, 2200).astype(float), measure_names=["potential"], unit_xy=xy, n_seats=50
    )
    w = p.measures[:, 0]

    def travel(plan):
        return float((w * np.linalg.norm(xy - xy[plan.centres[plan.seat_of]], axis=1)).sum() / w.sum())

    settings = SolverSettings(time_limit=8, seed=1)
    moved = solve(p, balance={"potential": Measure(tolerance=0.05)}, solver=settings)
    monkeypatch.setattr(company_scale, "ALLOCATION_ROUNDS", 1)
    kept = solve(p, balance={"potential": Measure(tolerance=0.05)}, solver=settings)
    assert moved.ok and kept.ok
    assert any("large-neighbourhood" in r for r in moved.restrictions)  # the company-scale path
    assert any("centres moved to their territory's weighted medoid" in n for n in moved.notes)
    assert travel(moved) < 0.8 * travel(kept)
    assert moved.global_bound is not None and moved.global_bound <= moved.objective
    assert moved.objective == pytest.approx(travel(moved), rel=1e-6)


@pytest.mark.slow  # 8-10 s; standing alone is covered at small scale in test_engine
def test_searched_centres_at_company_scale_leave_a_standing_unit_alone():
    """The company-scale path with chosen centres searched on the transport relaxation, and
    one unit too large for any territory in the middle of a cluster: it stands alone, and
    every other unit goes to a balanced territory (the transport's pricing once gave its
    neighbours to the standing seat, whose open band made them free, and the audit failed
    the plan)."""
    rng = np.random.default_rng(6)
    clusters = rng.uniform(0, 1000, (20, 2))
    xy = clusters[rng.integers(0, 20, 1200)] + rng.normal(0, 40, (1200, 2))
    value = rng.integers(50, 150, 1200).astype(float)
    value[0] = 0.1 * value.sum()  # about five territories' worth
    xy[0] = clusters[0]
    p = Problem.from_arrays(measures=value, measure_names=["potential"], unit_xy=xy, n_seats=50)
    events = []
    plan = solve(
        p,
        balance={"potential": Measure(tolerance=0.05)},
        solver=SolverSettings(time_limit=4, seed=1, deterministic=True, method="lns"),
        progress=events.append,
    )
    clean(plan)
    assert any("large-neighbourhood" in r for r in plan.restrictions)  # the company-scale path
    assert any(e.get("stage") == "centres searched" for e in events)
    alone = plan.seat_of[0]
    assert (plan.seat_of == alone).sum() == 1  # the standing unit alone
    load = np.bincount(plan.seat_of, weights=value, minlength=50)
    rest = np.delete(load, alone)
    target = rest.mean()
    assert ((rest >= 0.95 * target - 1e-6) & (rest <= 1.05 * target + 1e-6)).all()


@pytest.mark.slow
def test_company_scale_with_chosen_centres_repeats_in_deterministic_mode():
    """The company-scale path with chosen centres (rounds, medoids and the transport descent
    of the centres, counted in tries in deterministic mode) gives the same plan twice.

    Slow (17 s, the heaviest test; the default suite had reached 6:19 of its 6 minutes):
    the default run keeps the company-scale path's repeat with home bases
    (``test_lns_is_repeatable_in_deterministic_mode``) and the deterministic repeats of the
    realignment, the pockets, the cut model and the bound."""
    rng = np.random.default_rng(7)
    clusters = rng.uniform(0, 1000, (20, 2))
    xy = clusters[rng.integers(0, 20, 2100)] + rng.normal(0, 40, (2100, 2))
    p = Problem.from_arrays(
        measures=rng.integers(50, 150, 2100).astype(float), measure_names=["potential"], unit_xy=xy, n_seats=50
    )
    settings = SolverSettings(time_limit=2, seed=3, deterministic=True)
    a = solve(p, balance={"potential": Measure(tolerance=0.05)}, solver=settings)
    b = solve(p, balance={"potential": Measure(tolerance=0.05)}, solver=settings)
    assert a.ok and b.ok
    assert any("large-neighbourhood" in r for r in a.restrictions)  # the company-scale path
    assert a.seat_of.tolist() == b.seat_of.tolist()
    assert a.centres.tolist() == b.centres.tolist()
