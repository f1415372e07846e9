"""Bounds valid for the planner's real problem (not for a restricted model).

* :func:`required_movement`: the least value of the disruption measure that any plan must
  move away from today's owners to meet the balance bands (an LP over the reps' books,
  GLOP). Reps above their band must give, reps below it (new hires, open seats) must
  receive, and accounts without a current owner (a leaver's book) can fill gaps without
  counting as moved. Units are divisible in the LP, so the figure is a lower bound.
* :func:`lp_travel_bound`: the LP relaxation of the travel objective over every eligible
  pair, for seats with fixed home bases.

It also holds the one other LP of the solve stage, :func:`least_transfers` (the transfer
plan of the exact contiguity search), so that only this module and ``quota.py`` touch the
LP solvers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..evaluate import Bands, edge, standing_units
from ..model.formulation import ModelSpec
from ..problem import Problem
from .centres import best_centre


@dataclass(frozen=True)
class MovementBound:
    """How much must move at least, and why.

    Attributes
    ----------
    must_move : float
        Value of the disruption measure that every plan moves at least [measure units].
    booked : float
        Value with a current owner today (the budget's base) [measure units].
    give : float
        What reps above their band hold beyond it [measure units].
    receive : float
        What reps below their band lack [measure units].
    unowned : float
        Value without a current owner, placed freely [measure units].
    measure : str
        The disruption measure.
    standing_out : float
        What reps of territories standing alone hold today beyond their locked units, which
        must all move [measure units].
    across_borders : float or None
        With contiguity, the least value moved when value passes only between territories
        that touch today (:func:`border_transfers`): an estimate, not a bound, since a plan
        may redraw which territories touch [measure units].
    """

    must_move: float
    booked: float
    give: float
    receive: float
    unowned: float
    measure: str
    standing_out: float = 0.0
    across_borders: float | None = None

    @property
    def share(self) -> float:
        """``must_move`` as a share of the booked value."""
        return self.must_move / self.booked if self.booked > 0 else 0.0

    def borders_text(self, proved: float | None = None) -> str:
        """What keeping today's borders costs, when it is more than the proved least share
        (``proved``, a share, when a stronger proof than this LP's is known; empty otherwise):
        an estimate, and said to be one."""
        floor = max(self.must_move, (proved or 0.0) * self.booked)
        if self.across_borders is None or self.booked <= 0 or self.across_borders <= floor * 1.05:
            return ""
        return (
            f"moving {self.measure} only between territories that touch today needs "
            f"{100 * self.across_borders / self.booked:.1f}% (an estimate from today's borders, not a bound: "
            "a plan that redraws which territories touch can move less)"
        )

    def __str__(self) -> str:
        parts = []
        if self.give > 0:
            parts.append(f"reps above their band hold {_fmt(self.give)} more than it allows")
        if self.receive > 0:
            fill = (
                f", of which at most {_fmt(self.unowned)} can come from accounts without a current owner"
                if self.unowned > 0
                else ""
            )
            parts.append(f"reps below their band need {_fmt(self.receive)} more{fill}")
        if self.standing_out > 0:
            parts.append(f"reps of territories standing alone hold {_fmt(self.standing_out)} elsewhere today")
        why = f" ({'; '.join(parts)})" if parts else ""
        return f"at least {100 * self.share:.1f}% of {self.measure} must move{why}"


def books_moved(
    problem: Problem, value: NDArray[np.float64], assign: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each rep's book today and the part of it ``assign`` moves away (``value`` units,
    units without a current owner left out)."""
    has = problem.owner >= 0
    away = has & (np.asarray(assign) != problem.owner)
    k = problem.n_seats
    book = np.bincount(problem.owner[has], weights=value[has], minlength=k).astype(np.float64)
    out = np.bincount(problem.owner[away], weights=value[away], minlength=k).astype(np.float64)
    return book, out


def pct_up(share: float) -> str:
    """A share that works, as a percentage rounded up to 0.1 % (a budget set to it keeps the
    plan; rounded down it could refuse it), never above 100 % (a share of everything moved,
    computed a few ulps above 1, read "raise max_share to 100.1%", a setting that cannot be
    entered)."""
    return f"{min(np.ceil(1000 * share - 1e-9) / 10, 100.0):.1f}%"


def pct_down(share: float) -> str:
    """A proved lower figure, rounded down to 0.1 % (never more than is proved)."""
    return f"{np.floor(1000 * share + 1e-9) / 10:.1f}%"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def required_movement(problem: Problem, spec: ModelSpec, measure: str) -> MovementBound | None:
    """The least value of ``spec.disruption_value`` any plan must move (see module doc).

    Only balance rules on the disruption measure itself enter (other measures would need
    each unit's mix); locks and lost skills that force a unit away from its owner are
    counted. None when there is no current alignment or no such balance rule.
    """
    from ortools.linear_solver import pywraplp

    value = spec.disruption_value
    if value is None:
        return None
    has = problem.owner >= 0
    if not has.any():
        return None
    rules = [r for r in spec.balance if r.hard and np.allclose(problem.measures[:, r.measure], value)]
    k = problem.n_seats
    exempt = spec.exempt if spec.exempt is not None else np.zeros(k, dtype=bool)
    booked_by = np.bincount(problem.owner[has], weights=value[has], minlength=k)
    unowned = float(value[~has].sum())
    # units that cannot stay: locked elsewhere, their owner lacks a required skill, or they
    # are excluded from their owner
    stay_ok = np.ones(problem.n_units, dtype=bool)
    owned = np.flatnonzero(has)
    stay_ok[has] = problem.eligible(owned, problem.owner[has]) & ~problem.excluded(owned, problem.owner[has])
    if spec.locks:
        stay_ok &= ~((problem.lock >= 0) & (problem.lock != problem.owner))
    forced = np.bincount(problem.owner[has & ~stay_ok], weights=value[has & ~stay_ok], minlength=k)
    standing_out = 0.0
    if spec.locks:
        # a seat standing alone keeps only its locked units: its rep's other accounts must leave
        for seat in np.flatnonzero(exempt):
            leave = float(value[has & (problem.owner == seat) & (problem.lock != seat)].sum())
            standing_out += leave - float(forced[seat])
            forced[seat] = leave
    band = spec.bands(problem, capacity=False)
    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    scale = max(float(value[has].sum()) / max(k, 1), 1e-12)
    out = [lp.NumVar(float(forced[t]) / scale, float(booked_by[t]) / scale, "") for t in range(k)]
    inn = [lp.NumVar(0.0, lp.infinity(), "") for _ in range(k)]
    orphan = [lp.NumVar(0.0, lp.infinity(), "") for _ in range(k)]
    lp.Add(lp.Sum(inn) == lp.Sum(out))
    lp.Add(lp.Sum(orphan) == unowned / scale)
    give = receive = 0.0
    for t in range(k):
        if exempt[t]:
            if spec.locks:
                # a seat standing alone holds exactly the units locked to it (the audit's
                # "standing alone"): its rep's other accounts all leave, and nothing else comes in
                held = problem.lock == t
                out[t].SetUb(forced[t] / scale)
                lp.Add(inn[t] + orphan[t] == float(value[held & (problem.owner != t)].sum()) / scale)
            continue
        final = booked_by[t] / scale - out[t] + inn[t] + orphan[t]
        lo = max(band.low[t, r.measure] for r in rules) if rules else -np.inf
        hi = min(band.high[t, r.measure] for r in rules) if rules else np.inf
        if np.isfinite(lo):
            lp.Add(final >= lo / scale)
            receive += max(0.0, lo - booked_by[t])
        if np.isfinite(hi):
            lp.Add(final <= hi / scale)
            give += max(0.0, booked_by[t] - hi)
    if spec.disruption_per_rep is not None:
        for t in range(k):
            lp.Add(out[t] <= max(spec.disruption_per_rep * booked_by[t], forced[t]) / scale)
    lp.Minimize(lp.Sum(out))
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return MovementBound(
        must_move=float(lp.Objective().Value()) * scale,
        booked=float(value[has].sum()),
        give=give,
        receive=receive,
        unowned=unowned,
        measure=measure,
        standing_out=standing_out,
        across_borders=border_transfers(problem, spec, np.asarray(forced, dtype=float), rules, band)
        if spec.contiguity
        else None,
    )


def border_transfers(
    problem: Problem, spec: ModelSpec, forced: NDArray[np.float64], rules: list[Any], band: Bands
) -> float | None:
    """The least value moved when it passes only between territories that touch today
    (an LP over today's territory graph, GLOP; value passing through a territory counts at
    every border it crosses). What leaves a territory standing alone, and accounts without
    an owner, go anywhere. Not a bound: a plan can redraw which territories touch (a thin
    corridor of cheap units), so it estimates what keeping today's borders costs. ``band``:
    the bands :func:`required_movement` checks. None without a map or a balance rule on the
    disruption measure."""
    from ortools.linear_solver import pywraplp

    value = spec.disruption_value
    if value is None or problem.edges is None or not len(problem.edges) or not rules:
        return None
    k = problem.n_seats
    exempt = spec.exempt if spec.exempt is not None else np.zeros(k, dtype=bool)
    has = problem.owner >= 0
    a, b = problem.owner[problem.edges[:, 0]], problem.owner[problem.edges[:, 1]]
    touch = (a != b) & (a >= 0) & (b >= 0) & ~exempt[np.maximum(a, 0)] & ~exempt[np.maximum(b, 0)]
    arcs = np.unique(np.vstack([np.column_stack([a[touch], b[touch]]), np.column_stack([b[touch], a[touch]])]), axis=0)
    # units locked to a territory standing alone go straight there, out of the balanced system
    sink = (problem.lock >= 0) & exempt[np.maximum(problem.lock, 0)] & (problem.lock != problem.owner)
    into_standing = np.bincount(problem.owner[has & sink], weights=value[has & sink], minlength=k)
    booked_by = np.bincount(problem.owner[has], weights=value[has], minlength=k) - into_standing
    forced = np.maximum(forced - into_standing, 0.0)
    scale = max(float(value[has].sum()) / max(k, 1), 1e-12)
    free_pool = float(value[~has & ~sink].sum()) + float(forced[exempt].sum())
    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    f = [lp.NumVar(0.0, lp.infinity(), "") for _ in range(len(arcs))]
    pool = [lp.NumVar(0.0, lp.infinity(), "") for _ in range(k)]
    lp.Add(lp.Sum(pool) == free_pool / scale)
    out: list[list[int]] = [[] for _ in range(k)]
    inn: list[list[int]] = [[] for _ in range(k)]
    for i, (x, y) in enumerate(arcs.tolist()):
        out[x].append(i)
        inn[y].append(i)
    for t in np.flatnonzero(~exempt):
        sent = lp.Sum([f[i] for i in out[t]])
        # what must leave (locks elsewhere, lost skills) leaves across a border too
        lp.Add(sent >= float(forced[t]) / scale)
        final = booked_by[t] / scale - sent + lp.Sum([f[i] for i in inn[t]]) + pool[t]
        lo = max(band.low[t, r.measure] for r in rules)
        hi = min(band.high[t, r.measure] for r in rules)
        if np.isfinite(lo):
            lp.Add(final >= lo / scale)
        if np.isfinite(hi):
            lp.Add(final <= hi / scale)
    for t in np.flatnonzero(exempt):
        lp.Add(pool[t] == 0)
    lp.Minimize(lp.Sum(f))
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return float(lp.Objective().Value()) * scale + float(forced[exempt].sum()) + float(into_standing.sum())


#: Above this many pairs the travel LP leaves the budget rows out (still a valid bound, only
#: weaker): on the US counties at 50 reps (155,400 pairs) they made GLOP 40 % slower, past the
#: time the solve keeps for it, and moved the bound by 0.001 %.
LP_BUDGET_MAX_PAIRS = 50_000


def _travel_pairs(
    problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The (unit, seat) pairs a travel bound may use (skills and binding locks kept; a
    standing seat holds its own units only) and each pair's weighted travel cost."""
    n, k = problem.n_units, problem.n_seats
    u = np.repeat(np.arange(n), k)
    t = np.tile(np.arange(k), n)
    ok = problem.eligible(u, t)
    lock = problem.lock[u]
    # a lock binds when the scenario keeps locks; a standing unit always stays on its seat
    binding = (lock >= 0) & (spec.locks | exempt[np.maximum(lock, 0)])
    ok &= ~binding | (lock == t)
    ok &= ~exempt[t] | (lock == t)
    u, t = u[ok], t[ok]
    pos = problem.seat_xy.copy()
    for seat in np.flatnonzero(exempt & ~problem.has_home):  # a standing unit is its own centre
        pos[seat] = problem.unit_xy[int(np.flatnonzero(problem.lock == seat)[0])]
    w = spec.travel_weight if spec.travel_weight is not None else np.ones(n)
    cost = w[u] * np.linalg.norm(problem.unit_xy[u] - pos[t], axis=1) / max(float(w.sum()), 1e-12)
    return u, t, cost


def lp_travel_bound(
    problem: Problem,
    spec: ModelSpec,
    exempt: NDArray[np.bool_],
    *,
    time_limit: float | None = 30.0,
    max_pairs: int = 600_000,
    max_iterations: int | None = None,
) -> float | None:
    """A lower bound on the travel objective valid for the unrestricted problem.

    LP relaxation (GLOP) over every skill-eligible (unit, seat) pair, with assignment, hard
    balance, capacity, locks and the disruption budget (overall and per rep; up to
    :data:`LP_BUDGET_MAX_PAIRS` pairs); pruning, contiguity and families are dropped, which
    can only lower the optimum. Only for seats with fixed home bases (with chosen
    centres the distances are not data). None when too large or not solved in time.
    ``time_limit=None`` with ``max_iterations``: stop on GLOP's iteration count only, so the
    answer repeats (deterministic mode). :func:`travel_mip_bound` is the same model with
    whole units.
    """
    from ortools.linear_solver import pywraplp

    n, k = problem.n_units, problem.n_seats
    if not problem.has_home[~exempt].all() or n * k > max_pairs:
        return None
    u, t, cost = _travel_pairs(problem, spec, exempt)
    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    if time_limit is not None:
        lp.SetTimeLimit(int(time_limit * 1000))
    if max_iterations is not None:
        lp.SetSolverSpecificParametersAsString(f"max_number_of_iterations: {int(max_iterations)}")
    x = [lp.NumVar(0.0, 1.0, "") for _ in range(len(u))]
    by_unit = np.argsort(u, kind="stable")
    starts = np.searchsorted(u[by_unit], np.arange(n + 1))
    for i in range(n):
        idx = by_unit[starts[i] : starts[i + 1]]
        lp.Add(lp.Sum([x[j] for j in idx]) == 1)
    band = replace(spec, exempt=exempt, targets=None).bands(problem, capacity=False)
    by_seat = np.argsort(t, kind="stable")
    seat_starts = np.searchsorted(t[by_seat], np.arange(k + 1))
    measures = [r.measure for r in spec.balance if r.hard]
    for seat in np.flatnonzero(~exempt):
        idx = by_seat[seat_starts[seat] : seat_starts[seat + 1]]
        for m in measures:
            expr = lp.Sum([float(problem.measures[u[j], m]) * x[j] for j in idx])
            lp.Add(expr >= float(band.low[seat, m]))
            lp.Add(expr <= float(band.high[seat, m]))
        for m, cap in spec.capacity:
            lp.Add(
                lp.Sum([float(problem.measures[u[j], m]) * x[j] for j in idx])
                <= cap * float(problem.seat_capacity[seat])
            )
    if n * k <= LP_BUDGET_MAX_PAIRS:
        _lp_budget(lp, problem, spec, u, t, x)
    lp.Minimize(lp.Sum([float(c) * v for c, v in zip(cost, x, strict=True)]))
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return float(lp.Objective().Value())


def travel_mip_bound(
    problem: Problem,
    spec: ModelSpec,
    exempt: NDArray[np.bool_],
    *,
    time_limit: float | None,
    node_limit: int | None = None,
    max_pairs: int = 5_000,
) -> float | None:
    """:func:`lp_travel_bound`'s model with whole units: a MIP (HiGHS, through
    ``scipy.optimize.milp``) for small maps. Its dual bound is HiGHS's proof, valid when it
    stops early too, and never below the LP's (the demo, Georgia's counties: 90.03 to 90.28
    in 3 s). ``time_limit`` [s] or, for a figure that repeats, ``node_limit``. None when
    larger than ``max_pairs`` pairs or without a bound in time."""
    n, k = problem.n_units, problem.n_seats
    if not problem.has_home[~exempt].all() or n * k > max_pairs:
        return None
    u, t, cost = _travel_pairs(problem, spec, exempt)
    rows = _Rows()
    for i in range(n):
        idx = np.flatnonzero(u == i)
        rows.row(idx, np.ones(len(idx)), 1.0, 1.0)
    band = replace(spec, exempt=exempt, targets=None).bands(problem, capacity=False)
    measures = [r.measure for r in spec.balance if r.hard]
    for seat in np.flatnonzero(~exempt):
        idx = np.flatnonzero(t == seat)
        for m in measures:
            top = max(float(band.high[seat, m]), 1e-12)  # rows scaled to numbers near 1
            slack = float(_band_slack(band.low[seat, m], band.high[seat, m]))
            rows.row(
                idx,
                problem.measures[u[idx], m] / top,
                (band.low[seat, m] - slack) / top,
                (band.high[seat, m] + slack) / top,
            )
        for m, cap in spec.capacity:
            limit = max(cap * float(problem.seat_capacity[seat]), 1e-12)
            rows.row(idx, problem.measures[u[idx], m] / limit, -np.inf, 1.0)
    for idx, coef, least, most in _budget_rows(problem, spec, u, t):
        rows.row(idx, coef, least, most)
    matrix, lo, hi = rows.matrix(len(cost))
    return _milp_bound(cost, matrix, lo, hi, time_limit=time_limit, node_limit=node_limit)


def _budget_rows(
    problem: Problem, spec: ModelSpec, u: NDArray[np.int64], t: NDArray[np.int64]
) -> list[tuple[NDArray[np.int64], NDArray[np.float64], float, float]]:
    """:func:`_lp_budget`'s rows as (pairs, coefficients, lo, hi)."""
    value = spec.disruption_value
    has = problem.owner >= 0
    if value is None or not has.any() or (spec.disruption_max is None and spec.disruption_per_rep is None):
        return []
    stays = np.flatnonzero(has[u] & (problem.owner[np.maximum(u, 0)] == t))
    scale = max(float(value[has].sum()), 1e-12)
    out = []
    if spec.disruption_max is not None:
        out.append((stays, value[u[stays]] / scale, (float(value[has].sum()) - spec.disruption_max) / scale, np.inf))
    if spec.disruption_per_rep is not None:
        booked = np.bincount(problem.owner[has], weights=value[has], minlength=problem.n_seats)
        for seat in np.unique(t[stays]).tolist():
            idx = stays[t[stays] == seat]
            lo = (1.0 - spec.disruption_per_rep) * float(booked[seat]) / scale
            out.append((idx, value[u[idx]] / scale, lo, np.inf))
    return out


class _Rows:
    """A MIP's constraint rows, added a block at a time (sparse, with each row's limits)."""

    def __init__(self) -> None:
        self.parts: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
        self.lo: list[NDArray[np.float64]] = []
        self.hi: list[NDArray[np.float64]] = []
        self.count = 0

    def add(self, rows: Any, cols: Any, values: Any, lo: Any, hi: Any) -> None:
        """Rows ``rows`` (numbered within the block) with entries (cols, values) and limits."""
        lo, hi = np.broadcast_arrays(
            np.atleast_1d(np.asarray(lo, dtype=float)), np.atleast_1d(np.asarray(hi, dtype=float))
        )
        self.parts.append((np.asarray(rows) + self.count, np.asarray(cols), np.asarray(values, dtype=float)))
        self.lo.append(lo)
        self.hi.append(hi)
        self.count += len(lo)

    def row(self, cols: Any, values: Any, lo: float, hi: float) -> None:
        """One row."""
        self.add(np.zeros(len(cols), dtype=np.int64), cols, values, lo, hi)

    def matrix(self, n_var: int) -> tuple[Any, NDArray[np.float64], NDArray[np.float64]]:
        from scipy.sparse import coo_matrix

        r, c, v = (np.concatenate([part[i] for part in self.parts]) for i in range(3))
        return (
            coo_matrix((v, (r, c)), shape=(self.count, n_var)).tocsr(),
            np.concatenate(self.lo),
            np.concatenate(self.hi),
        )


def _milp_bound(
    cost: NDArray[np.float64],
    matrix: Any,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    *,
    time_limit: float | None,
    node_limit: int | None,
) -> float | None:
    """HiGHS's dual bound (``scipy.optimize.milp``'s ``mip_dual_bound``: a proof, also when
    stopped on a limit; OR-Tools' wrapper reports the best plan's value there instead) of
    min cost.x over binary x with lo <= matrix.x <= hi; None without one (infeasible, or no
    bound in time). Slightly lowered: HiGHS proves within its tolerances."""
    from scipy.optimize import Bounds as VarBounds
    from scipy.optimize import LinearConstraint, milp

    options: dict[str, Any] = {"disp": False}
    if time_limit is not None:
        options["time_limit"] = max(float(time_limit), 0.1)
    if node_limit is not None:
        options["node_limit"] = int(node_limit)
    try:
        res = milp(
            np.asarray(cost, dtype=float),
            constraints=[LinearConstraint(matrix, lo, hi)],
            integrality=np.ones(len(cost)),
            bounds=VarBounds(0.0, 1.0),
            options=options,
        )
    except (ValueError, MemoryError):
        return None
    bound = getattr(res, "mip_dual_bound", None)
    # 0: optimal, 1: time limit; a node limit ends as 4 ("solution limit", HiGHS's status 16)
    stopped = res.status in (0, 1) or (node_limit is not None and res.status == 4 and "16" in str(res.message))
    if not stopped or bound is None or not np.isfinite(bound):
        return None
    return float(bound) - 1e-7 * abs(float(bound))


def _lp_budget(lp: Any, problem: Problem, spec: ModelSpec, u: NDArray[np.int64], t: NDArray[np.int64], x: list) -> None:
    """The disruption budget and per-rep limits on the LP's pairs: the value of the units
    kept by their owner today is at least the booked value less the budget (valid for
    every plan within the budget, so the bound holds for the real problem with it)."""
    for idx, coef, lo, _ in _budget_rows(problem, spec, u, t):
        lp.Add(lp.Sum([float(c) * x[j] for j, c in zip(idx.tolist(), coef.tolist(), strict=True)]) >= lo)


def least_transfers(
    pairs: NDArray[np.int64],
    cap: NDArray[np.float64],
    load: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    open_: NDArray[np.bool_],
    scale: float,
) -> list[tuple[int, int, float]]:
    """Least total flow of one measure along ``pairs`` (from, to) arcs, each at most ``cap``,
    that brings every open territory's ``load`` inside [lo, hi] (aiming 15 % of the band
    inside, so whole units fit; slack where it cannot). Returns the (from, to, amount) arcs
    that carry flow, or [] when GLOP has no answer."""
    from ortools.linear_solver import pywraplp

    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return []
    k = len(load)
    f = [lp.NumVar(0.0, float(c) if np.isfinite(c) else lp.infinity(), "") for c in cap]
    out: list[list[int]] = [[] for _ in range(k)]
    inn: list[list[int]] = [[] for _ in range(k)]
    for i, (x, y) in enumerate(pairs.tolist()):
        out[x].append(i)
        inn[y].append(i)
    slack = []
    for t in np.flatnonzero(open_):
        net = lp.Sum([f[i] for i in out[t]]) - lp.Sum([f[i] for i in inn[t]])
        sp, sm = lp.NumVar(0.0, lp.infinity(), ""), lp.NumVar(0.0, lp.infinity(), "")
        slack += [sp, sm]
        # final load = load - net must lie in [lo, hi]
        inner = 0.15 * (hi[t] - lo[t]) if np.isfinite(lo[t]) and np.isfinite(hi[t]) else 0.0
        if np.isfinite(hi[t]):
            lp.Add(net / scale >= (load[t] - hi[t] + inner) / scale - sm)
        if np.isfinite(lo[t]):
            lp.Add(net / scale <= (load[t] - lo[t] - inner) / scale + sp)
    lp.Minimize(lp.Sum([v / scale for v in f]) + 1000.0 * lp.Sum(slack))
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return []
    flows = [(int(x), int(y), f[i].solution_value()) for i, (x, y) in enumerate(pairs.tolist())]
    return [arc for arc in flows if arc[2] > 1e-9 * scale]


@dataclass(frozen=True)
class Stranded:
    """A unit that no contiguous territory can hold within the bands.

    Every connected set of units holding ``unit`` has, in ``measure``, at most ``below``
    (under the lowest band ``lo``) or at least ``above`` (over the highest band ``hi``):
    e.g. a peninsula tip whose only way to the rest of the map runs through units that
    overshoot the band. A proof for the planner's real problem (every territory is such
    a set), found by enumerating those sets.
    """

    unit: int
    measure: int
    below: float
    above: float
    lo: float
    hi: float


def stranded_units(problem: Problem, spec: ModelSpec, *, max_steps: int = 20_000, limit: int = 5) -> list[Stranded]:
    """Units no contiguous territory can hold within the bands (see :class:`Stranded`).

    For each hard balance measure, the band is widened to the lowest lower limit and the
    highest upper limit over the seats (so a finding holds for every seat). Only units
    heavy enough to matter (a tenth of the lowest limit) or at a dead end of the map
    (one or two neighbours) are checked; each check enumerates the connected sets that
    hold the unit (include or exclude one border unit at a time, stopping at the upper
    limit) and gives up, proving nothing, after ``max_steps``. Units standing alone and
    their territories are left out."""
    if problem.edges is None or not spec.contiguity or problem.n_units == 0:
        return []
    k = problem.n_seats
    exempt = spec.exempt if spec.exempt is not None else np.zeros(k, dtype=bool)
    if not (~exempt).any():
        return []
    standing = standing_units(problem, exempt)
    indptr, indices = problem.neighbours()
    nbrs = [indices[indptr[u] : indptr[u + 1]].tolist() for u in range(problem.n_units)]
    degree = np.diff(indptr)
    out: list[Stranded] = []
    band = replace(spec, targets=None).bands(problem, capacity=False)
    for rule in spec.balance:
        if not rule.hard:
            continue
        m = rule.measure
        lo = float(band.low[~exempt, m].min())
        hi = float(band.high[~exempt, m].max())
        lo, hi = lo - float(edge(lo)), hi + float(edge(hi))  # a proof: float edges count as inside
        value = problem.measures[:, m]
        if lo <= 0 or (value < 0).any():
            continue
        check = np.flatnonzero(~standing & ((value >= 0.1 * lo) | (degree <= 2)) & (value <= hi))
        vals = value.tolist()
        blocked = standing.tolist()
        others = np.sort(value[~standing])
        for u in check.tolist():
            found = _fits(u, vals, nbrs, blocked, lo, hi, max_steps)
            if found is not None and _fits_loose(others, vals[u], lo, hi):
                # contiguity is what strands it (without it some group would fit: that
                # case is a balance conflict, proved and explained on the relaxation)
                out.append(Stranded(u, m, found[0], found[1], lo, hi))
                if len(out) >= limit:
                    return out
    return out


def _fits_loose(others: NDArray[np.float64], own: float, lo: float, hi: float) -> bool:
    """Whether some group of units, connected or not, holding a unit of value ``own``
    could total within [lo, hi] (True when unsure). ``others`` are all values, sorted;
    ``own`` is counted once among them."""
    low, high = lo - own, hi - own
    if low <= 0 <= high:
        return True
    if high < 0:
        return False
    width = high - low
    small = others[others <= width]
    if small.sum() - (own if own <= width else 0.0) >= low:
        return True  # adding small values one by one cannot jump over the band
    sums = {0.0}
    skipped = False
    for v in others.tolist():
        if v == own and not skipped:
            skipped = True
            continue
        sums |= {x + v for x in sums if x + v <= high}
        if any(x >= low for x in sums) or len(sums) > 20_000:
            return True
    return False


def _fits(
    u: int, vals: list[float], nbrs: list[list[int]], blocked: list[bool], lo: float, hi: float, max_steps: int
) -> tuple[float, float] | None:
    """None when some connected set holding u has a total within [lo, hi] (or the search
    gave up); else (largest total below lo, smallest total above hi) over those sets."""
    below, above = 0.0, float("inf")
    steps = 0
    # each connected set holding u is reached once: grow by a border unit or rule it out
    stack: list[tuple[frozenset[int], frozenset[int], float]] = [(frozenset([u]), frozenset(), vals[u])]
    while stack:
        steps += 1
        if steps > max_steps:
            return None
        members, out_, total = stack.pop()
        if lo <= total <= hi:
            return None
        if total > hi:
            above = min(above, total)
            continue
        below = max(below, total)
        border = next(
            (z for x in members for z in nbrs[x] if z not in members and z not in out_ and not blocked[z]), -1
        )
        if border < 0:
            continue
        stack.append((members, out_ | {border}, total))
        stack.append((members | {border}, out_, total + vals[border]))
    return below, above


def chosen_centres_bound(
    problem: Problem,
    spec: ModelSpec,
    exempt: NDArray[np.bool_],
    *,
    start: NDArray[np.float64] | None = None,
    upper: float | None = None,
    iterations: int = 150,
    time_limit: float | None = None,
    max_units: int = 6_000,
    stop: Callable[[], bool] | None = None,
) -> float | None:
    """A lower bound on the travel objective when seats choose their centres, valid for the
    unrestricted problem (capacitated p-median with balance).

    Lagrangian relaxation of "each unit to exactly one seat" with multipliers ``lam``
    (with no band, the first capacity is the knapsack: lo = 0, hi = cap x FTE):

        L(lam) = sum_i lam_i + sum_t min_c min_x sum_i (w_i d(i, c) / W - lam_i) x_i,
                 0 <= x <= 1, lo_t <= sum_i a_i x_i <= hi_t

    where ``a`` is the first hard balance measure and ``c`` runs over every unit (seats
    with a home base keep it; free seats of one band take distinct centres). The inner
    problem is a fractional knapsack, solved exactly in ratio order, so L(lam) is a valid
    bound for every ``lam``. Subgradient steps (Polyak, towards ``upper``, deflected; in
    float32 for speed) raise it; L at the best multipliers is recomputed in float64. With
    ``upper`` given, steps on whole-unit knapsacks take the time the fractional ones leave
    when they fade, or from ``WHOLE_STEPS_AFTER`` of a long time limit (:func:`_whole_unit_steps`):
    the fractional steps cannot pass the LP relaxation. Last, L with whole units on the rows that can count
    (:meth:`_Knapsack.whole_units`, in the last ``WHOLE_UNIT_SHARE`` of the time); the
    largest valid figure is returned.
    Contiguity, skills, locks, capacity, the other balance measures and the disruption
    budget are dropped, which can only lower the optimum. ``start``: initial multipliers
    (e.g. each unit's travel cost in a plan). With ``time_limit`` [s] the steps stop on
    time (the fractional ones also after ``iterations``); without, after ``iterations``
    fractional steps and half as many whole-unit ones. ``stop()`` true ends the steps where
    they are (the bound at the best multipliers so far is returned: it holds at any). None
    when the map has more than ``max_units`` units (the distance matrix would not fit) or no
    seat can be filled.
    """

    t0 = time.perf_counter()  # the distance matrix's set-up counts against the time limit
    units = np.flatnonzero(~np.isin(problem.lock, np.flatnonzero(exempt)))
    seats = np.flatnonzero(~exempt)
    n = len(units)
    if n == 0 or len(seats) == 0 or n > max_units:
        return None
    a, rows = _knapsack_rows(problem, spec, units, seats)
    knap = _Knapsack(a)
    lam = np.zeros(n) if start is None else np.asarray(start, dtype=float)[units].copy()
    early = upper is not None and time_limit is not None and time_limit >= WHOLE_STEPS_MIN_SECONDS
    handover = min(WHOLE_STEPS_AFTER if early else 1.0, 1 - WHOLE_UNIT_SHARE)
    best_lam = _fractional_steps(
        knap,
        rows,
        lam,
        upper=upper,
        iterations=iterations,
        until=None if time_limit is None else t0 + handover * time_limit,
        stop=stop,
    )
    if best_lam is None:
        return None  # a seat no set of units can fill: the bands themselves conflict
    exact = float(best_lam.sum()) + sum(
        v for *_, v, _, _ in _row_passes(knap, rows, best_lam, [None] * len(rows), True, np.float64)
    )
    if not np.isfinite(exact):
        return None
    deadline = None if time_limit is None else t0 + time_limit
    stopped = stop is not None and stop()
    if stopped:  # the last whole-unit pass only, briefly
        deadline = time.perf_counter() + 1.0
    found = exact
    if upper is not None and not stopped:  # whole-unit steps in the time left, from the best multipliers
        whole_lam = _whole_unit_steps(
            knap,
            rows,
            best_lam,
            upper=upper,
            floor=found,
            steps=max(iterations // 2, 1) if time_limit is None else None,
            until=None if time_limit is None else t0 + (1 - WHOLE_UNIT_SHARE) * time_limit,
            stop=stop,
        )
        if whole_lam is not None:
            found = max(found, whole_lam[0])
        if stop is not None and stop():  # stopped during those steps: the last pass briefly
            deadline = time.perf_counter() + 1.0
    whole = _whole_unit_bound(knap, rows, best_lam, deadline)
    return found if whole is None else max(found, whole)


def _fractional_steps(
    knap: _Knapsack,
    rows: list[tuple[NDArray[np.float64], float, float, int]],
    lam: NDArray[np.float64],
    *,
    upper: float | None,
    iterations: int,
    until: float | None,
    stop: Callable[[], bool] | None,
) -> NDArray[np.float64] | None:
    """:func:`chosen_centres_bound`'s first phase: subgradient steps on the Lagrangian with
    fractional knapsacks (float32, full passes every ``FULL_PASS_EVERY`` steps and screened),
    from ``lam``. Returns the multipliers of the best full pass (a bound holds at any), or
    None when the first pass finds a seat no set of units can fill. Stops after
    ``iterations`` steps, at ``until`` (perf_counter seconds), when ``stop()`` is true, or
    when the steps fade."""

    n = len(lam)
    lam = lam.copy()
    # rows worth evaluating between full passes (the best of the last full pass), and each
    # row's band multiplier for the screened full passes
    shortlist: list[NDArray[np.int64] | None] = [None] * len(rows)
    taus: list[NDArray[np.float64] | None] = [None] * len(rows)
    # aimed steps (towards a plan's objective) and blind ones (a share of the bound) each
    # with their own schedule: (first step, patience)
    schedule = _Schedule(STEP_START, STEP_PATIENCE) if upper is not None else _Schedule(2.0, 20)
    best, best_lam = -np.inf, lam.copy()
    previous: NDArray[np.float64] | None = None
    for step in range(iterations):
        full = step % FULL_PASS_EVERY == 0
        val, taken = float(lam.sum()), np.zeros(n)
        for *_, v, x, _ in _row_passes(knap, rows, lam, shortlist, full, np.float32, taus):
            val += v
            taken += x
        if not np.isfinite(val):
            if step == 0:
                return None
            break  # a step too long for float32 (a near-zero subgradient): keep the best
        if full and val > best:  # only a full pass is a bound (a shortlist can miss a centre)
            best, best_lam = val, lam.copy()
        schedule.observe(val)
        grad = 1.0 - taken if upper is None else _deflected(1.0 - taken, previous)
        previous = grad
        norm = float((grad**2).sum())
        # Polyak's step towards a target between the best bound so far and the plan's
        # objective (the plan itself overstates the dual optimum: steps aimed at it overshoot)
        if upper is not None:
            aim = best + STEP_AIM * (upper - best) if np.isfinite(best) else upper
            gap = max(aim - val, 0.1 * (upper - best))
        else:
            gap = 0.05 * max(abs(best), 1e-9)
        if norm < 1e-12 or gap <= 1e-6 * max(abs(best), 1e-9) or schedule.theta < 1e-4:
            break
        if (until is not None and time.perf_counter() > until) or (stop is not None and stop()):
            break
        lam += schedule.theta * gap / norm * grad
        if not np.isfinite(lam).all() or float(np.abs(lam).max()) > 1e15:
            break
    return best_lam


def standing_travel(problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]) -> float:
    """The travel every plan pays in the territories standing alone, in the objective's
    units (weighted distance over the total weight): their units are locked to them, so each
    such territory costs at least its units' weighted distance to the best centre among all
    units (to its home base when the seat has one). :func:`chosen_centres_bound` and
    :func:`centres_mip_bound` leave those units out, so this is added to them. On New York's
    counties in 10 territories (Queens with Long Island, Kings with Richmond, New York
    standing alone) it is 7.62 of a plan's 23.99: the bound said 31.8 % above it while the
    other territories' travel met their own bound."""
    w_all = spec.weight(problem.n_units)
    scale = max(float(w_all.sum()), 1e-12)
    total = 0.0
    for t in np.flatnonzero(exempt).tolist():
        members = np.flatnonzero(problem.lock == t)
        if len(members) == 0:
            continue
        if problem.has_home[t]:
            total += float(
                (w_all[members] * np.linalg.norm(problem.unit_xy[members] - problem.seat_xy[t], axis=1)).sum()
            )
            continue
        total += best_centre(problem, members, w_all, np.arange(problem.n_units))[1]
    return total / scale


def _row_passes(
    knap: _Knapsack,
    rows: list[tuple[NDArray[np.float64], float, float, int]],
    lam: NDArray[np.float64],
    shortlist: list[NDArray[np.int64] | None],
    full: bool,
    dtype: type,
    taus: list[NDArray[np.float64] | None] | None = None,
) -> Iterator[tuple[NDArray[Any], float, float, int, float, NDArray[np.float64], NDArray[np.int64]]]:
    """One pass of the fractional knapsacks at ``lam``, per row group: the reduced costs, the
    band, the seats, the group's value, its summed x and its rows in order of value. Between
    full passes only the ``shortlist`` (the best rows of the last full pass, kept up to date
    here) is evaluated; row indices are then into the shortlist's rows. With ``taus`` (each
    row's band multiplier, kept up to date here), a full pass after the first is screened
    (:func:`_screened_pass`): the same value and x, several times faster (the next
    shortlist can differ)."""
    for g, (cost, lo, hi, count) in enumerate(rows):
        keep = None if full or shortlist[g] is None else shortlist[g]
        reduced: NDArray[Any] = ((cost if keep is None else cost[keep]) - lam[None, :]).astype(dtype, copy=False)
        tau, listed = None if taus is None else taus[g], shortlist[g]
        if keep is None and tau is not None and listed is not None:
            v, x, ranked = _screened_pass(knap, reduced, lo, hi, count, listed, tau)
        elif keep is None and taus is not None:
            values, taus[g], solved = knap.values(reduced, lo, hi)
            ranked = np.argsort(values, kind="stable")
            chosen = ranked[: min(count, len(ranked))]
            finite = bool(np.isfinite(values[chosen]).all())
            v = float(values[chosen].sum()) if finite else np.inf
            x = knap.taken(reduced, solved, chosen) if finite else np.zeros(knap.n)
        else:
            v, x, ranked = knap.rows(reduced, lo, hi, count)
        if keep is None:
            shortlist[g] = ranked[: _shortlist_size(count, len(ranked))]
        yield reduced, lo, hi, count, v, x, ranked


def _screened_pass(
    knap: _Knapsack,
    reduced: NDArray[Any],
    lo: float,
    hi: float,
    count: int,
    shortlist: NDArray[np.int64],
    tau: NDArray[np.float64],
) -> tuple[float, NDArray[np.float64], NDArray[np.int64]]:
    """A full pass (:meth:`_Knapsack.rows` on every row) that sorts only the rows that can
    be among the ``count`` smallest: the ``shortlist`` is solved, and every other row whose
    lower bound (:meth:`_Knapsack.screen` at its last band multiplier ``tau``, one pass
    without a sort) falls below the ``count``-th value found. The rest cannot enter, so the
    pass's value and x are those of the full pass (to float rounding: a row within 1e-5 of
    the cut is solved; ties fall in the order of the rows, as there). ``tau`` is updated for
    the rows solved. Returns the value, the x and the rows solved in order of value.

    The next shortlist is taken from the rows solved, so it can differ from a full pass's
    (a row a full pass would rank just after the ``count`` best may not be solved): it only
    steers the steps between full passes, and every bound comes from a full pass. Cutting
    at the shortlist's last row instead, so that it matched too, solved so many more rows
    that the bound fell: US counties, 49 territories, alone for 60 s from the bench's plan,
    92.92 km against 95.82 (2026-12-01). A full pass here: 0.06 s against 0.46."""
    first = np.unique(shortlist)
    vals, tau[first], solved = knap.values(reduced[first], lo, hi)
    cut = float(np.partition(vals, count - 1)[count - 1]) if len(vals) >= count else np.inf
    floor = knap.screen(reduced, tau, lo, hi)
    floor[np.isnan(floor)] = -np.inf  # unknown: solve the row
    floor[first] = np.inf
    extra = np.flatnonzero(floor < cut + 1e-5 * (abs(cut) + 1e-3))  # all but the shortlist when cut is inf
    parts = [(first, vals, solved)]
    if len(extra):
        more, tau[extra], solved_more = knap.values(reduced[extra], lo, hi)
        parts.append((extra, more, solved_more))
    evaluated = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts])
    part = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
    local = np.concatenate([np.arange(len(p[0])) for p in parts])
    by_row = np.argsort(evaluated, kind="stable")  # ties fall in row order, as in a full pass
    order = by_row[np.argsort(values[by_row], kind="stable")]
    chosen = order[: min(count, len(order))]
    if not np.isfinite(values[chosen]).all():
        return np.inf, np.zeros(knap.n), evaluated[order]
    x = np.zeros(knap.n)
    for i, (rows_of, _, state) in enumerate(parts):
        mine = local[chosen[part[chosen] == i]]
        if len(mine):
            x += knap.taken(reduced[rows_of], state, mine)
    return float(values[chosen].sum()), x, evaluated[order]


def _shortlist_size(count: int, n_rows: int) -> int:
    """The rows a pass keeps for the steps until the next full pass: the ``count`` best and a
    margin for rows that may enter meanwhile."""
    return min(n_rows, 3 * count + 64)


def _whole_unit_steps(
    knap: _Knapsack,
    rows: list[tuple[NDArray[np.float64], float, float, int]],
    lam: NDArray[np.float64],
    *,
    upper: float,
    floor: float,
    steps: int | None,
    until: float | None,
    stop: Callable[[], bool] | None = None,
) -> tuple[float, NDArray[np.float64]] | None:
    """:func:`chosen_centres_bound`'s second phase: subgradient steps on the Lagrangian with
    whole-unit knapsacks, from ``lam`` (the best multipliers of the fractional steps).

    The fractional steps converge to the LP relaxation, where each territory may take part
    of a county; the whole-unit Lagrangian can go higher (California, 12 territories, with
    exact knapsacks: 23.94 against the LP's 22.68 and a whole-unit optimum of 24.52). Each
    step takes the centres the fractional pass ranks first (``WHOLE_STEP_ROWS`` per seat),
    gives each a whole-unit solution (:meth:`_Knapsack.whole_solution`, a heuristic: only
    the step's direction depends on it) and steps along the units left out or taken twice.
    Every ``WHOLE_STEP_CHECK`` full passes the multipliers are scored by
    :func:`_whole_unit_bound` (a valid bound at any multipliers); the best score and its
    multipliers are returned (None when no score beat ``floor``). Stops after ``steps``
    steps or at ``until`` (perf_counter seconds), whichever is given, when ``stop()`` is true,
    or when the steps fade."""

    n = len(lam)
    lam = lam.copy()
    shortlist: list[NDArray[np.int64] | None] = [None] * len(rows)
    taus: list[NDArray[np.float64] | None] = [None] * len(rows)
    schedule = _Schedule(WHOLE_STEP_START, STEP_PATIENCE)
    best: tuple[float, NDArray[np.float64]] | None = None
    previous: NDArray[np.float64] | None = None
    passes = 0
    for step in range(steps if steps is not None else 10**9):
        if (until is not None and time.perf_counter() > until) or (stop is not None and stop()):
            break
        full = step % FULL_PASS_EVERY == 0
        estimate, taken = float(lam.sum()), np.zeros(n)
        for reduced, lo, hi, count, _, _, ranked in _row_passes(knap, rows, lam, shortlist, full, np.float32, taus):
            solved = []
            for row in ranked[: int(np.ceil(WHOLE_STEP_ROWS * count))].tolist():
                v, x = knap.whole_solution(reduced[row], lo, hi)
                if not np.isfinite(v):  # none found: the fractional one steers for this centre
                    v, x, _ = knap.rows(reduced[row : row + 1], lo, hi, 1)
                solved.append((v, x))
            solved.sort(key=lambda vx: vx[0])
            if len(solved) < count or not np.isfinite(solved[count - 1][0]):
                return best  # fewer centres that can be filled than seats: the final pass says
            for v, x in solved[:count]:
                estimate += v
                taken += x
        if full:
            passes += 1
            if passes % WHOLE_STEP_CHECK == 0:
                scored = _whole_unit_bound(knap, rows, lam, until)
                if scored is not None and scored > (floor if best is None else best[0]):
                    best = (scored, lam.copy())
        schedule.observe(estimate)
        grad = _deflected(1.0 - taken, previous)
        previous = grad
        norm = float((grad**2).sum())
        reached = floor if best is None else max(floor, best[0])
        gap = max(reached + STEP_AIM * (upper - reached) - estimate, 0.1 * (upper - reached))
        if norm < 1e-12 or schedule.theta < 1e-4 or gap <= 0:
            break
        lam += schedule.theta * gap / norm * grad
        if not np.isfinite(lam).all():
            return best
    if passes % WHOLE_STEP_CHECK:  # steps since the last score: score where they ended
        if stop is not None and stop():
            until = time.perf_counter() + 1.0
        scored = _whole_unit_bound(knap, rows, lam, until)
        if scored is not None and scored > (floor if best is None else best[0]):
            best = (scored, lam.copy())
    return best


def _knapsack_rows(
    problem: Problem, spec: ModelSpec, units: NDArray[np.int64], seats: NDArray[np.int64]
) -> tuple[NDArray[np.float64], list[tuple[NDArray[np.float64], float, float, int]]]:
    """:func:`chosen_centres_bound`'s knapsacks: the weight of each unit (the first hard
    band's measure) and the rows (travel cost of each unit from each candidate centre, the
    band widened by :func:`_band_slack`, how many seats share them): one group per band of
    the free seats, whose candidate centres are every unit, and one row per home base."""
    n = len(units)
    w_all = spec.weight(problem.n_units)
    w = w_all[units] / max(float(w_all.sum()), 1e-12)
    xy = problem.unit_xy[units]
    rows_of = spec.bands(problem).rows()
    if rows_of:  # the first hard band, else the first cap (lo = 0)
        row = rows_of[0]
        a = np.maximum(problem.measures[units, row.measure].astype(float), 0.0)
        slack = _band_slack(row.low[seats], row.high[seats])
        lo = np.maximum(row.low[seats] - slack, 0.0)
        hi = row.high[seats] + slack
    else:
        a, lo, hi = np.zeros(n), np.zeros(len(seats)), np.full(len(seats), np.inf)
    home = problem.has_home[seats]
    free_bands = [(float(lo[j]), float(hi[j])) for j in np.flatnonzero(~home)]
    rows = []  # (cost rows, lo, hi, how many seats share them)
    if free_bands:
        # candidate centres: every unit, a standing seat's too (the engine may pick one)
        cost = np.sqrt(((problem.unit_xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)) * w[None, :]
        rows += [(cost, band[0], band[1], free_bands.count(band)) for band in sorted(set(free_bands))]
    for j in np.flatnonzero(home):
        rows.append(
            ((np.linalg.norm(xy - problem.seat_xy[seats[j]], axis=1) * w)[None, :], float(lo[j]), float(hi[j]), 1)
        )
    return a, rows


def _whole_unit_bound(
    knap: _Knapsack,
    rows: list[tuple[NDArray[np.float64], float, float, int]],
    lam: NDArray[np.float64],
    deadline: float | None,
) -> float | None:
    """L(lam) with whole units on the rows that can count (:meth:`_Knapsack.whole_units`);
    None when the deadline passes first or no whole-unit set fits a row group."""
    whole = float(lam.sum())
    for cost, lo, hi, count in rows:
        part = knap.whole_units(cost - lam[None, :], lo, hi, count, deadline)
        if part is None or not np.isfinite(part):
            return None
        whole += part
    return whole


class _Schedule:
    """A subgradient step's scale: ``theta``, halved after ``patience`` steps without a
    better value."""

    def __init__(self, theta: float, patience: int) -> None:
        self.theta, self.patience = theta, patience
        self.seen, self.stall = -np.inf, 0

    def observe(self, value: float) -> None:
        if value > self.seen:
            self.seen, self.stall = value, 0
            return
        self.stall += 1
        if self.stall >= self.patience:
            self.theta, self.stall = self.theta / 2, 0


def _deflected(grad: NDArray[np.float64], previous: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """The subgradient with the part pointing back along the last direction taken out
    ``STEP_DEFLECT`` times over (Camerini, Fratta and Maffioli)."""
    if previous is None:
        return grad
    dot = float(grad @ previous)
    if dot >= 0:
        return grad
    return grad - STEP_DEFLECT * dot / max(float(previous @ previous), 1e-12) * previous


def _band_slack(low: Any, high: Any) -> Any:
    """How far a bound widens a band (:data:`BAND_SLACK` of its upper limit, of the lower
    one when there is none, and of 1 at least)."""
    top = np.where(np.isfinite(high), np.abs(high), np.abs(low))
    return BAND_SLACK * np.maximum(top, 1.0)


def _centre_groups(
    problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[list[int]]]:
    """The units a chosen-centres bound places (those of standing seats left out), the seats
    it places them on, and the free seats grouped by their bands (indices into ``seats``)."""
    units = np.flatnonzero(~np.isin(problem.lock, np.flatnonzero(exempt)))
    seats = np.flatnonzero(~exempt)
    rows = spec.bands(problem).rows()
    groups: dict[tuple[float, ...], list[int]] = {}
    for j in np.flatnonzero(~problem.has_home[seats]):
        key = tuple(float(v) for r in rows for v in (r.low[seats[j]], r.high[seats[j]]))
        groups.setdefault(key, []).append(int(j))
    return units, seats, list(groups.values())


def centres_mip_size(problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]) -> int:
    """(group, centre, unit) triples of :func:`centres_mip_bound`'s model."""
    units, seats, groups = _centre_groups(problem, spec, exempt)
    return len(units) * (problem.n_units * len(groups) + int(problem.has_home[seats].sum()))


#: The chosen-centres MIP (:func:`centres_mip_bound`) is built up to this many (group,
#: centre, unit) triples: North Carolina's 100 counties in one group (10,000) close in about
#: 5 s here; Georgia's 159 (25,281) take 40 s for the root alone.
CENTRES_MIP_MAX_PAIRS = 12_000


def centres_mip_bound(
    problem: Problem,
    spec: ModelSpec,
    exempt: NDArray[np.bool_],
    *,
    time_limit: float | None,
    node_limit: int | None = None,
    max_pairs: int = CENTRES_MIP_MAX_PAIRS,
) -> float | None:
    """A lower bound on the travel objective when seats choose their centres, valid for the
    unrestricted problem: the capacitated p-median with the bands, solved as a MIP (HiGHS,
    through ``scipy.optimize.milp``) on a small map.

    Variables: ``y[g, c]`` (a seat of group ``g`` has its centre at unit ``c``) and
    ``x[g, c, i] <= y[g, c]`` (unit ``i`` goes to it), where a group is the free seats that
    share their bands (their number of centres is fixed); a seat with a home base is a group
    of one with its centre fixed. Every unit goes to one centre; each open centre's load
    lies in its group's band and cap for every hard balance measure and capacity. Contiguity,
    skills, locks, families and the disruption budget are dropped, so the MIP's optimum is at
    most the real problem's and its dual bound (HiGHS's proof, valid when stopped early too)
    holds for every plan. Much stronger than :func:`chosen_centres_bound` on small maps: it
    cannot split a county (measured on fresh plans of states, 2026-11-29: Pennsylvania, 10
    territories, 28.79 to 30.90 against a plan at 30.91; California-12 22.66 to 24.52 against
    26.16; North Carolina-8 38.26 to 39.15 against 39.17; each closed in 4-7 s).

    ``time_limit`` [s] or, for a figure that repeats, ``node_limit`` (branch-and-bound nodes).
    None when the model would have more than ``max_pairs`` (group, centre, unit) triples,
    HiGHS has no bound in time, or the bands admit no plan (other checks say why).
    """
    units, seats, groups = _centre_groups(problem, spec, exempt)
    if len(units) == 0 or len(seats) == 0 or centres_mip_size(problem, spec, exempt) > max_pairs:
        return None
    home = problem.has_home[seats]
    # (centres chosen among the units?, the seat whose bands hold, centres to open); a home
    # base is one fixed centre
    blocks = [(True, members[0], len(members)) for members in groups]
    blocks += [(False, int(j), 1) for j in np.flatnonzero(home)]
    cost, x_cols, y_cols = _centre_columns(problem, spec, units, seats, blocks)
    rows = _centre_rows(problem, spec, units, seats, blocks, x_cols, y_cols)
    matrix, lo, hi = rows.matrix(len(cost))
    return _milp_bound(cost, matrix, lo, hi, time_limit=time_limit, node_limit=node_limit)


def _centre_columns(
    problem: Problem,
    spec: ModelSpec,
    units: NDArray[np.int64],
    seats: NDArray[np.int64],
    blocks: list[tuple[bool, int, int]],
) -> tuple[NDArray[np.float64], list[NDArray[np.int64]], list[NDArray[np.int64]]]:
    """The chosen-centres MIP's costs and its columns: ``x`` (centre, unit) per block, then
    ``y`` (centre open) per block. Candidate centres are every unit (the engine may pick one
    of a standing territory's)."""
    w_all = spec.weight(problem.n_units)
    w = w_all[units] / max(float(w_all.sum()), 1e-12)
    xy = problem.unit_xy[units]
    every = problem.unit_xy
    costs, x_cols, y_cols = [], [], []
    col = 0
    for free, j, _ in blocks:
        if not free:  # a home base: its one centre
            cost = (np.linalg.norm(xy - problem.seat_xy[seats[j]], axis=1) * w)[None, :]
        else:  # cost[c, i]: unit i's travel to a centre at unit c
            cost = np.sqrt(((every[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)) * w[None, :]
        costs.append(cost.ravel())
        x_cols.append(col + np.arange(cost.size).reshape(cost.shape))
        col += cost.size
    for xc in x_cols:
        y_cols.append(col + np.arange(xc.shape[0]))
        col += xc.shape[0]
    return np.concatenate([*costs, np.zeros(col - sum(len(c) for c in costs))]), x_cols, y_cols


def _centre_rows(
    problem: Problem,
    spec: ModelSpec,
    units: NDArray[np.int64],
    seats: NDArray[np.int64],
    blocks: list[tuple[bool, int, int]],
    x_cols: list[NDArray[np.int64]],
    y_cols: list[NDArray[np.int64]],
) -> _Rows:
    """Every unit to one centre; x[c, i] <= y[c]; lo y[c] <= load <= hi y[c] for every band
    and cap (each row scaled by its largest finite limit, so HiGHS sees numbers near 1); each
    block opens its number of centres."""
    n = len(units)
    bands = spec.bands(problem).rows()
    lo = np.column_stack([np.maximum(r.low[seats], 0.0) for r in bands]) if bands else np.zeros((len(seats), 0))
    hi = np.column_stack([r.high[seats] for r in bands]) if bands else np.zeros((len(seats), 0))
    a = (
        np.column_stack([np.maximum(problem.measures[units, r.measure].astype(float), 0.0) for r in bands])
        if bands
        else np.zeros((n, 0))
    )
    top = np.where(np.isfinite(hi), hi, 0.0).max(axis=0) if len(hi) else np.zeros(a.shape[1])
    scale = np.where(top > 0, top, np.maximum(a.sum(axis=0), 1e-12))
    rows = _Rows()
    allx = np.concatenate([xc.ravel() for xc in x_cols])
    rows.add(np.tile(np.arange(n), len(allx) // n), allx, np.ones(len(allx)), np.ones(n), np.ones(n))
    for (_, j, count), xc, yc in zip(blocks, x_cols, y_cols, strict=True):
        m = xc.shape[0]
        r = np.arange(m * n)
        rows.add(
            np.concatenate([r, r]),
            np.concatenate([xc.ravel(), np.repeat(yc, n)]),
            np.concatenate([np.ones(m * n), -np.ones(m * n)]),
            np.full(m * n, -np.inf),
            np.zeros(m * n),
        )
        rr = np.concatenate([np.repeat(np.arange(m), n), np.arange(m)])
        cc = np.concatenate([xc.ravel(), yc])
        for q in range(a.shape[1]):
            coef = np.tile(a[:, q] / scale[q], m)
            if lo[j, q] > 0:
                least = lo[j, q] - float(_band_slack(lo[j, q], hi[j, q]))
                rows.add(rr, cc, np.r_[coef, np.full(m, -least / scale[q])], np.zeros(m), np.inf)
            if np.isfinite(hi[j, q]):
                most = hi[j, q] + float(_band_slack(lo[j, q], hi[j, q]))
                rows.add(rr, cc, np.r_[coef, np.full(m, -most / scale[q])], -np.inf, np.zeros(m))
        rows.row(yc, np.ones(m), float(count), float(count))
    return rows


#: The chosen-centres bound evaluates every candidate centre on every this many steps,
#: and only the best of the last such pass in between. Since full passes are screened
#: (:func:`_screened_pass`, 0.06 s against 0.46 on the US counties), every second step: alone
#: from the bench's 300 s plan of 49 territories (100.45 km), 60 s each, two at a time
#: (2026-12-01): every 8th step 95.31 km (95.18 unscreened), every 4th 95.81, every 2nd
#: 95.87, every step 95.51 (32: 87.7, the shortlist drifts); 120 s: every 2nd 95.97, every
#: step 95.98, against 95.57 unscreened every 8th.
FULL_PASS_EVERY = 2
#: The subgradient's step schedule when a plan's objective is known: the first step's
#: scale, the steps without a better value before it halves, and where its Polyak target
#: lies between the best bound and the plan (a share of the way). (Without a plan, steps
#: of 5 % of the bound, from 2 and halving after 20: this schedule fails there, 0.02 against
#: a proven 18.3 on a capacitated p-median of the suite.) Measured on the US counties with chosen centres (2026-11-29,
#: 45 s each from the bench plans' costs): 50 territories 92.98 km against 88.54 with the
#: earlier schedule (start 2, patience 20, aim at the plan itself, which stopped after 23 s
#: on a step too small), 10 territories 277.5 km against 275.0; restarting the steps from
#: the best multipliers when they fade did worse (91.2, 272.8). Eighteenth session
#: (2026-11-30, 45 s from the 300 s bench plans' costs, one run each): deflected steps
#: (``STEP_DEFLECT``: the part of the new subgradient pointing back along the last
#: direction is taken out 1.5 times over) with start 1.5 and aim 0.5 give 94.21 km against
#: 92.93 (50 territories) and 278.7 against 276.8 (10); deflection alone 93.82 and 277.2.
#: Start 2 gave 94.67 and 279.8 there but fell to 0.89 of the optimum on a brute-forced
#: 13-unit map (0.96 with 1.5), so 1.5.
STEP_START = 1.5
STEP_PATIENCE = 100
STEP_AIM = 0.5
STEP_DEFLECT = 1.5
#: The chosen-centres bound's last pass with whole units (a small branch and bound per
#: candidate centre, on the best rows only): its share of the time, nodes per row, and rows
#: per seat at most. US counties, 50 territories, at the multipliers of a 240 s subgradient
#: run: 94.01 km fractional, 94.59 with 5 nodes, 94.61 with 20 (0.6 s) or 100 (2.3 s).
WHOLE_UNIT_SHARE = 0.05
WHOLE_UNIT_NODES = 20
WHOLE_UNIT_ROWS = 4
#: The chosen-centres bound's steps with whole-unit knapsacks (:func:`_whole_unit_steps`),
#: which take the time the fractional steps leave when they fade: their first step's scale,
#: the centres given a whole-unit solution per seat at each step, how many full passes
#: between scores, and the core of :meth:`_Knapsack.whole_solution` (items each side of the
#: split) and its nodes. Where the fractional steps have not faded (the US counties), handing
#: over earlier cost bound: from the bench's 300 s plans with 45 s, at 80 % of the time 94.53
#: against 94.60 km (50 territories) and 278.53 against 278.61 (10), at 60 % 94.36.
WHOLE_STEP_START = 0.1
#: ... and with a time limit, they take over at this share of it at the latest, faded or
#: not: the fractional steps cannot pass the LP relaxation, the whole-unit ones can. Since
#: the screened passes (2026-12-01), alone from the bench's 300 s plans: 50 territories in
#: 120 s 96.14 km handing over at half the time against 96.00 at the end (0.3: 96.13, 0.7:
#: 96.09), in 200 s 96.23 against 96.02; 10 territories in 200 s the same (the fractional
#: steps fade first), in 60 s 280.69 against 280.82.
WHOLE_STEPS_AFTER = 0.5
#: ... with a time limit of at least this many seconds: with a second or two on a map of a
#: few hundred units the fractional steps are still climbing at half the time and the
#: whole-unit ones often gain nothing (a review: 400 units, 10 seats, 1 s, a median 2.6 %
#: lower; 2 s, 0.2 %).
WHOLE_STEPS_MIN_SECONDS = 30.0
WHOLE_STEP_ROWS = 1.5
WHOLE_STEP_CHECK = 10  # full passes: every 20 steps since they come every 2nd step (80 before)
WHOLE_CORE = 24
WHOLE_CORE_NODES = 20
#: How far the bounds that place whole units (or a fractional share of them) widen each
#: band, as a share of its upper limit: twice the audit's own allowance
#: (``audit.BALANCE_EPS`` of the target), so that a plan the audit passes is never cut off.
#: With whole units a bound can jump at a band's edge (a review's case: a plan 5e-9 of a
#: target outside its band, travel 0, against a bound of infinity).
BAND_SLACK = 2e-6
#: The leading items of each knapsack row sorted in a pass (a partition first): this many
#: times the row's share of the total weight; rows they do not fill are sorted whole. At 4x
#: most rural centres of the US counties (49 territories) were sorted whole; 6x made a
#: full pass 0.27 s instead of 0.48 s, and the bound in 120 s 95.57 instead of 95.34
#: (8x: 0.30 s, 16x: 0.44 s).
LEAD_ITEMS = 6


class _Knapsack:
    """Row-wise fractional knapsack min r.x, lo <= a.x <= hi, 0 <= x <= 1, one row per
    candidate centre: items are taken in order of r/a (all with r < 0 up to ``hi``, then
    on up to ``lo``), the last one fractionally; items of weight 0 when r < 0. Only the
    leading ``m`` items of each row are sorted (a partition first), rows they do not fill
    are sorted whole."""

    def __init__(self, a: NDArray[np.float64]) -> None:
        self.pos = np.flatnonzero(a > 0)
        self.zero = np.flatnonzero(a <= 0)
        self.a = a[self.pos]
        self.n = len(a)
        self.total = float(self.a.sum())

    def whole_units(
        self, reduced: NDArray[np.float64], lo: float, hi: float, count: int, deadline: float | None
    ) -> float | None:
        """A lower bound on the sum of the ``count`` smallest row values with whole units
        (x binary), never below the fractional one: rows are taken in order of their
        fractional value and each gets a small branch and bound (``WHOLE_UNIT_NODES``
        nodes, the least open node's fractional value is its bound) until the ``count``
        smallest bounds so found are no larger than the next row's fractional value, at most
        ``WHOLE_UNIT_ROWS`` x ``count`` rows or until ``deadline``; a row not reached
        keeps its fractional value. None when ``deadline`` passes before the rows are
        ranked. (Callers widen the band first: :func:`_band_slack`.)"""

        lp = np.empty(reduced.shape[0])
        for i in range(reduced.shape[0]):
            if i % 256 == 0 and deadline is not None and time.perf_counter() > deadline:
                return None
            lp[i] = self.rows(reduced[i : i + 1], lo, hi, 1)[0]
        if not np.isfinite(np.sort(lp)[:count]).all():
            return np.inf
        bounds = lp.copy()
        order = np.argsort(lp, kind="stable")
        for done, row in enumerate(order.tolist()):
            if done >= WHOLE_UNIT_ROWS * count or (deadline is not None and time.perf_counter() > deadline):
                break
            if done >= count and np.sort(bounds[order[:done]])[count - 1] <= lp[row]:
                break  # no row after this one can enter the count smallest
            bounds[row] = max(lp[row], self._branch(reduced[row], lo, hi))
        return float(np.sort(bounds)[:count].sum())

    def whole_solution(self, reduced: NDArray[Any], lo: float, hi: float) -> tuple[float, NDArray[np.float64]]:
        """A good whole-unit solution of one row (min r.x, lo <= a.x <= hi, x binary) and
        its value; (inf, zeros) when none is found. A heuristic (for a step's direction, not
        a bound): items in ratio order before a core of ``WHOLE_CORE`` items each side of
        the fractional split are taken, those after it left; the core gets a best-first
        branch and bound of ``WHOLE_CORE_NODES`` nodes, each node completed greedily
        (items in ratio order while they fit) for a solution. When the core finds none (an
        item heavier than the band first in line), every item is the core."""
        r = reduced[self.pos].astype(np.float64)
        a = self.a
        ratio = r / a
        take = min(max(float(a[r < 0].sum()), lo), hi)
        order = self._order(ratio[None, :], min(len(a), 4 * WHOLE_CORE + 64))[0]
        if len(order) and float(a[order].sum()) < take:
            order = np.argsort(ratio, kind="stable")
        split = int(np.searchsorted(np.cumsum(a[order]), take))
        first = max(0, split - WHOLE_CORE)
        fixed, items = order[:first], order[first : split + WHOLE_CORE]
        best, pick = self._core(r, fixed, items, lo, hi)
        if not np.isfinite(best) and (len(fixed) or len(items) < len(a)):
            fixed, items = order[:0], np.argsort(ratio, kind="stable")
            best, pick = self._core(r, fixed, items, lo, hi)
        x = np.zeros(self.n)
        if not np.isfinite(best):
            return np.inf, x
        x[self.pos[fixed]] = 1.0
        x[self.pos[items[pick]]] = 1.0
        total = float(r[fixed].sum()) + best
        if len(self.zero):
            neg = reduced[self.zero] < 0
            x[self.zero[neg]] = 1.0
            total += float(reduced[self.zero][neg].astype(np.float64).sum())
        return total, x

    def _core(
        self, r: NDArray[np.float64], fixed: NDArray[np.int64], items: NDArray[np.int64], lo: float, hi: float
    ) -> tuple[float, list[int]]:
        """:meth:`whole_solution` on ``items`` with ``fixed`` taken: the best value found
        (without the fixed items') and the chosen positions in ``items``."""
        import heapq

        low, high = lo - float(self.a[fixed].sum()), hi - float(self.a[fixed].sum())
        core = _Knapsack(self.a[items])
        rc = r[items]
        core_order = np.argsort(rc / core.a, kind="stable")
        tol = 1e-9 * max(abs(hi), 1.0)

        def fill(pinned: tuple[tuple[int, int], ...]) -> tuple[float, list[int]]:
            out = {i for i, _ in pinned}
            pick = [i for i, v in pinned if v == 1]
            load, value = float(core.a[pick].sum()), float(rc[pick].sum())
            for i in core_order.tolist():
                if i in out:
                    continue
                if rc[i] >= 0 and load >= low:
                    break
                if load + core.a[i] <= high:
                    pick.append(i)
                    load += core.a[i]
                    value += rc[i]
            return (value, pick) if low - tol <= load <= high + tol else (np.inf, [])

        best, pick = fill(())
        v, s = core._fractional(rc, core_order, low, high, ())
        heap: list[tuple[float, int, int, tuple[tuple[int, int], ...]]] = [(v, 0, s, ())] if s >= 0 else []
        tie = nodes = 0
        while heap and nodes < WHOLE_CORE_NODES:
            v, _, s, pinned = heapq.heappop(heap)
            if v >= best:
                break
            nodes += 1
            value, chosen = fill(pinned)
            if value < best:
                best, pick = value, chosen
            for side in (0, 1):
                child = (*pinned, (s, side))
                cv, cs = core._fractional(rc, core_order, low, high, child)
                if cv < best and cs >= 0:
                    tie += 1
                    heapq.heappush(heap, (cv, tie, cs, child))
                elif cv < best:  # whole units already: the greedy completion finds them
                    value, chosen = fill(child)
                    if value < best:
                        best, pick = value, chosen
        return best, pick

    def _branch(self, reduced: NDArray[np.float64], lo: float, hi: float) -> float:
        """min r.x, lo <= a.x <= hi, x binary: a lower bound by a best-first branch and bound
        on the fractional unit, each node's fractional knapsack its bound."""
        import heapq

        r = reduced[self.pos].astype(np.float64)
        base = float(np.minimum(reduced[self.zero], 0).sum()) if len(self.zero) else 0.0
        order = np.argsort(r / self.a, kind="stable")
        heap: list[tuple[float, int, int, tuple[tuple[int, int], ...]]] = []
        tie = 0
        value, split = self._fractional(r, order, lo, hi, ())
        if np.isfinite(value):
            heap.append((value, tie, split, ()))
        best = np.inf  # the best whole-unit plan met (an upper value of the row)
        nodes = 0
        while heap and nodes < WHOLE_UNIT_NODES:
            value, _, split, fixed = heapq.heappop(heap)
            if value >= best:
                heap = []
                break
            if split < 0:  # whole units already
                best = value
                continue
            nodes += 1
            for side in (0, 1):
                child = (*fixed, (split, side))
                v, s = self._fractional(r, order, lo, hi, child)
                if np.isfinite(v):
                    tie += 1
                    heapq.heappush(heap, (v, tie, s, child))
        open_least = heap[0][0] if heap else np.inf
        return base + float(min(best, open_least))

    def _fractional(
        self, r: NDArray[np.float64], order: NDArray[np.int64], lo: float, hi: float, fixed: tuple[tuple[int, int], ...]
    ) -> tuple[float, int]:
        """The fractional knapsack with some items fixed (item, 0 or 1): its value (inf when
        no x fits) and the item taken in part (-1: none, the answer is whole units)."""
        a = self.a
        ones = [i for i, v in fixed if v == 1]
        w1, c1 = float(a[ones].sum()), float(r[ones].sum())
        free = order
        if fixed:
            mask = np.ones(len(a), dtype=bool)
            mask[[i for i, _ in fixed]] = False
            free = order[mask[order]]
        low, high = lo - w1, hi - w1
        if high < -1e-12 * max(abs(hi), 1.0):
            return np.inf, -1
        high = max(high, 0.0)
        af, rf = a[free], r[free]
        take = min(max(float(af[rf < 0].sum()), low), high)
        if take <= 0:
            return c1, -1
        cum = np.cumsum(af)
        if len(cum) == 0 or cum[-1] < take * (1 - 1e-12):
            return np.inf, -1
        k = min(int(np.searchsorted(cum, take)), len(af) - 1)
        before = float(cum[k - 1]) if k > 0 else 0.0
        part = (take - before) / af[k]
        value = c1 + float(rf[:k].sum()) + part * float(rf[k])
        if part >= 1 - 1e-12 or part <= 1e-12:
            return value, -1
        return value, int(free[k])

    def rows(
        self, reduced: NDArray[Any], lo: float, hi: float, count: int
    ) -> tuple[float, NDArray[np.float64], NDArray[np.int64]]:
        """Sum of the ``count`` smallest row values, the summed x of those rows, and the
        rows in order of value."""
        values, _, solved = self.values(reduced, lo, hi)
        ranked = np.argsort(values, kind="stable")
        chosen = ranked[: min(count, reduced.shape[0])]
        if not np.isfinite(values[chosen]).all():
            return np.inf, np.zeros(self.n), ranked
        return float(values[chosen].sum()), self.taken(reduced, solved, chosen), ranked

    def values(
        self, reduced: NDArray[Any], lo: float, hi: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], Any]:
        """Each row's value (inf: no x fits), its multiplier on the band (the ratio r/a of
        the item taken in part: :meth:`screen` at it gives the value back; 0 when the band
        is not binding) and what :meth:`taken` needs to build a row's x."""
        n_rows = reduced.shape[0]
        if self.total < lo:
            return np.full(n_rows, np.inf), np.zeros(n_rows), None
        if len(self.pos) == 0:  # no weights: every item with a negative reduced cost
            values = np.minimum(reduced, 0).sum(axis=1, dtype=np.float64)
            return values, np.zeros(n_rows), None
        r = reduced.take(self.pos, axis=1)  # row-major: sums round alike in any batch of rows
        a = self.a.astype(reduced.dtype)
        ratio = r / a[None, :]
        negative = np.where(r < 0, a[None, :], 0).sum(axis=1, dtype=np.float64)
        take = np.clip(negative, lo, hi)
        share = min(1.0, (hi if np.isfinite(hi) else self.total) / max(self.total, 1e-300))
        m = min(len(a), max(64, int(LEAD_ITEMS * share * len(a))))
        order = self._order(ratio, m)
        cum_a = np.cumsum(a[order], axis=1, dtype=np.float64)
        short = cum_a[:, -1] < take
        if short.any():  # rows the leading items do not fill: sort them whole
            padded = np.full((n_rows, len(a)), -1, dtype=order.dtype)  # -1: no item
            padded[:, : order.shape[1]] = order
            padded[short] = np.argsort(ratio[short], axis=1, kind="stable")
            order = padded
            cum_a = np.cumsum(np.where(order >= 0, a[order], 0.0), axis=1, dtype=np.float64)
        cum_r = np.cumsum(
            np.where(order >= 0, np.take_along_axis(r, np.maximum(order, 0), axis=1), 0.0), axis=1, dtype=np.float64
        )
        k = (cum_a < take[:, None]).sum(axis=1)
        idx = np.arange(n_rows)
        prev = np.maximum(k - 1, 0)
        whole = np.where(k > 0, cum_r[idx, prev], 0.0)
        filled = np.where(k > 0, cum_a[idx, prev], 0.0)
        nxt = order[idx, np.minimum(k, order.shape[1] - 1)]
        has_next = (k < order.shape[1]) & (nxt >= 0)
        split = np.where(has_next, ratio[idx, np.maximum(nxt, 0)], 0.0).astype(np.float64)
        part = np.where(has_next, (take - filled) * split, 0.0)
        values = whole + part
        if len(self.zero):
            values = values + np.minimum(reduced.take(self.zero, axis=1), 0).sum(axis=1, dtype=np.float64)
        tau = np.where((negative >= lo) & (negative <= hi), 0.0, split)
        return values, tau, (order, k, take, cum_a)

    def taken(self, reduced: NDArray[Any], solved: Any, chosen: NDArray[np.int64]) -> NDArray[np.float64]:
        """The summed x of rows ``chosen`` (indices into ``reduced``, whose :meth:`values`
        gave ``solved``)."""
        x = np.zeros(self.n)
        if solved is None:
            for row in chosen.tolist():
                x += reduced[row] < 0
            return x
        order, k, take, cum_a = solved
        for row in chosen.tolist():
            kk = int(k[row])
            np.add.at(x, self.pos[order[row, :kk]], 1.0)
            j = int(order[row, kk]) if kk < order.shape[1] else -1
            if j >= 0:
                x[self.pos[j]] += (take[row] - (cum_a[row, kk - 1] if kk > 0 else 0.0)) / self.a[j]
            if len(self.zero):
                x[self.zero] += reduced[row, self.zero] < 0
        return x

    def screen(self, reduced: NDArray[Any], tau: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.float64]:
        """A lower bound on each row's value at any band multiplier ``tau`` (the
        knapsack's LP dual): tau lo (tau hi when tau < 0) + sum_i min(0, r_i - tau a_i);
        equal to the value at the multiplier :meth:`values` returns. One pass, no sort."""
        a = np.zeros(self.n, dtype=reduced.dtype)
        a[self.pos] = self.a
        t = reduced - tau.astype(reduced.dtype)[:, None] * a[None, :]
        np.minimum(t, 0, out=t)
        with np.errstate(invalid="ignore"):  # 0 x inf where a band is open
            edge = np.where(tau >= 0, tau * lo, tau * hi)
        return t.sum(axis=1, dtype=np.float64) + np.nan_to_num(edge, nan=0.0)

    @staticmethod
    def _order(ratio: NDArray[Any], m: int) -> NDArray[np.int64]:
        if m >= ratio.shape[1]:
            return np.argsort(ratio, axis=1, kind="stable")
        lead = np.argpartition(ratio, m - 1, axis=1)[:, :m]
        inner = np.argsort(np.take_along_axis(ratio, lead, axis=1), axis=1, kind="stable")
        return np.take_along_axis(lead, inner, axis=1)
