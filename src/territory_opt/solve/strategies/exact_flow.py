"""Exact strategy for small maps: every legal pair, contiguity by flows, one CP-SAT model.

Sets: units U, seats T, adjacency E (both directions), legal pairs P ⊆ U × T.

Variables: x[u,t] ∈ {0,1} for (u,t) ∈ P; r[u,t] ∈ {0,1} (u is t's root);
f[u,v,t] ∈ [0, |U|] for (u,v) ∈ E with (u,t), (v,t) ∈ P.

Constraints:

* Σ_t x[u,t] = 1; r[u,t] ≤ x[u,t]; Σ_u r[u,t] = 1 for every seat that holds a unit;
* f[u,v,t] ≤ |U|·x[u,t] and ≤ |U|·x[v,t] (flow runs inside t only);
* Σ_v f[v,u,t] − Σ_v f[u,v,t] + |U|·r[u,t] ≥ x[u,t]: every member of t but its root is fed
  by a neighbour in t, and flow is created only at the root, so t is connected. This is
  *exact*: every connected territory has such a flow (a spanning tree from any member);
* balance bands (every hard measure), capacity, locks, families, exclusions, the
  disruption budget Σ_u v_u·(1 − x[u,owner(u)]) ≤ D and per-rep limits, as in the main
  formulation (measures scaled to integers; every row widened by what the rounding can
  shift it, so every plan of the real problem is a plan of this model and its
  infeasibility and bound hold for the real problem; a plan it returns is checked against
  the true rows, and one just outside a band is dropped, keeping only the bound).

Objective: value-weighted travel to each seat's position, or the value moved from today's
owners (the least budget that works, a proof when CP-SAT closes it).

Used when the map is small enough (a state's counties): it proves infeasibility for the
planner's real problem, contiguity included, and it turns a restricted "no plan" into a
plan when one exists.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ...audit import BALANCE_EPS
from ...diagnose import Conflict, Explanation
from ...errors import InfeasibleError
from ...model import build_candidates, seat_positions
from ...model.cpsat import run
from ...model.formulation import ModelSpec
from ...problem import Problem
from ..bounds import MovementBound, pct_up
from ..context import SolveContext
from ..contiguous import SearchResult, moved_share
from ..incumbent import EXACT_MODEL, Incumbent
from ..proof import over_budget_plan, raise_if_proved, rule_keeping
from ..spec import SolveSpec

#: Above this many legal (unit, seat) pairs the exact model is not attempted.
MAX_PAIRS = 6_000


@dataclass(frozen=True)
class ExactResult:
    """Status (CP-SAT's), the plan (or None), its objective and CP-SAT's bound, both in
    the objective's units (travel: weighted mean km; moved: measure units)."""

    status: cp_model.CpSolverStatus | int
    assign: NDArray[np.int64] | None
    objective: float | None
    bound: float | None


def fits(problem: Problem) -> bool:
    return problem.edges is not None and problem.n_units * problem.n_seats <= MAX_PAIRS


def solve_exact(
    problem: Problem,
    spec: ModelSpec,
    *,
    pos: NDArray[np.float64],
    hint: NDArray[np.int64] | None,
    time_limit: float,
    seed: int,
    workers: int,
    minimise: str = "travel",
    deterministic: bool = False,
    stop_within_budget: bool = False,
) -> ExactResult:
    """The exact model (see the module docstring) solved within ``time_limit`` [s]
    (deterministic seconds in deterministic mode); an INFEASIBLE status is re-proved without
    presolve before it is returned.

    ``minimise="cut_edges"`` minimises the number of edges between territories;
    ``minimise="moved"`` drops the budget and minimises the value moved; with
    ``stop_within_budget`` CP-SAT stops at the first plan that keeps the budget."""
    model = cp_model.CpModel()
    x = _legal_pairs(model, problem, spec)
    if x is None:
        return ExactResult(cp_model.INFEASIBLE, None, None, None)
    if spec.families:
        _families(model, problem, x)
    empty = _bands_and_caps(model, problem, spec, x)
    moved = _disruption(model, problem, spec, x, budget=minimise != "moved")
    roots, flows = _flows(model, problem, spec, x, empty)
    unit = (
        _cut_edges(model, problem, x)
        if minimise == "cut_edges"
        else _objective(model, problem, spec, x, pos, moved if minimise == "moved" else None)
    )
    # seats no rule tells apart, where the objective does not either (cut edges): ordered,
    # and the hint relabelled to that order; the plan is mapped back to the hint's labels
    relabel = np.arange(problem.n_seats)
    group = interchangeable(problem, spec) if minimise == "cut_edges" else []
    if group:
        _break_symmetry(model, problem, x, group)
        if hint is not None:
            first = {t: int(np.flatnonzero(hint == t)[0]) if (hint == t).any() else problem.n_units for t in group}
            relabel[sorted(group, key=lambda t: first[t])] = group
            hint = relabel[hint]
    if hint is not None:
        for (u, t), var in x.items():
            model.add_hint(var, int(hint[u] == t))
        _hint_flows(model, problem, hint, roots, flows)
    stop_at = None
    if stop_within_budget and moved is not None and spec.disruption_max is not None:
        stop_at = _budget_steps(problem, spec, moved[1])
    solver, status = _solve(model, time_limit, seed, workers, deterministic, stop_at)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult(status, None, None, None)
    # the bound of the integer model, less what the rounding of the objective can hide
    rounding = 0.0 if minimise == "cut_edges" else 0.5 * problem.n_units + 1
    bound = (solver.best_objective_bound - rounding) * unit
    assign = np.full(problem.n_units, -1, dtype=np.int64)
    for (u, t), var in x.items():
        if solver.boolean_value(var):
            assign[u] = t
    assign = np.argsort(relabel)[assign]  # back to the hint's labels (identity without a group)
    if not keeps_rules(problem, spec, assign, budget=minimise != "moved"):
        # a plan of the relaxation on the edge of a band, just outside it: no plan, but
        # the bound holds (the relaxation's optimum is no worse than the real one)
        return ExactResult(cp_model.UNKNOWN, None, None, bound)
    return ExactResult(status, assign, solver.objective_value * unit, bound)


def keeps_rules(
    problem: Problem, spec: ModelSpec, assign: NDArray[np.int64], *, budget: bool = True, share_slack: float = 0.0
) -> bool:
    """The plan meets the true bands, caps and (when ``budget``) the disruption budget, with
    the audit's slack: the exact model's rows are widened by the rounding of its integer
    coefficients (so that its infeasibility and its bound hold for the real problem), and a
    plan it returns on the edge of a band is checked here. ``share_slack`` loosens the
    budget and the per-rep limits by that share (the audit's own, 1e-6, accepts more)."""
    load = np.zeros((problem.n_seats, problem.measures.shape[1]))
    for j, col in enumerate(problem.measures.T):
        load[:, j] = np.bincount(assign, weights=col, minlength=problem.n_seats)
    if np.any(spec.bands(problem, hard=True, capacity=True).stretch(load) > BALANCE_EPS):
        return False
    value = spec.disruption_value
    has = problem.owner >= 0
    if value is None or not has.any():
        return True
    moved = has & (assign != problem.owner)
    if (
        budget
        and spec.disruption_max is not None
        and float(value[moved].sum()) > spec.disruption_max * (1 + 1e-9) + share_slack * float(value[has].sum()) + 1e-9
    ):
        return False
    if spec.disruption_per_rep is not None:
        book = np.bincount(problem.owner[has], weights=value[has], minlength=problem.n_seats)
        gone = np.bincount(problem.owner[moved], weights=value[moved], minlength=problem.n_seats)
        if np.any(gone > (spec.disruption_per_rep * (1 + 1e-9) + share_slack) * book + 1e-9):
            return False
    return True


Pairs = dict[tuple[int, int], cp_model.IntVar]


def _legal_pairs(model: cp_model.CpModel, problem: Problem, spec: ModelSpec) -> Pairs | None:
    """x[u,t] for every legal pair (skills, locks, exempt seats, exclusions), each unit to
    exactly one seat; None when a unit has no legal seat."""
    n, k = problem.n_units, problem.n_seats
    exempt = spec.exempt_seats(problem.n_seats)
    u_all = np.repeat(np.arange(n), k)
    t_all = np.tile(np.arange(k), n)
    ok = problem.eligible(u_all, t_all)
    if spec.locks:
        locked = problem.lock[u_all] >= 0
        ok &= ~locked | (problem.lock[u_all] == t_all)
    ok &= ~exempt[t_all] | (problem.lock[u_all] == t_all)
    ok &= ~problem.excluded(u_all, t_all)
    x: Pairs = {}
    for u, t in zip(u_all[ok].tolist(), t_all[ok].tolist(), strict=True):
        x[u, t] = model.new_bool_var("")
    for u in range(n):
        options = [x[u, t] for t in range(k) if (u, t) in x]
        if not options:
            return None
        model.add_exactly_one(options)
    return x


def _families(model: cp_model.CpModel, problem: Problem, x: Pairs) -> None:
    """Families move together."""
    for f in np.unique(problem.family[problem.family >= 0]):
        members = np.flatnonzero(problem.family == f).tolist()
        for t in range(problem.n_seats):
            for a, b in itertools.pairwise(members):
                xa, xb = x.get((a, t)), x.get((b, t))
                if xa is None and xb is None:
                    continue
                if xa is None or xb is None:
                    model.add((xa if xa is not None else xb) == 0)
                else:
                    model.add(xa == xb)


def _load(x: Pairs, coef: NDArray[np.int64], n: int, t: int) -> cp_model.LinearExpr:
    return cp_model.LinearExpr.weighted_sum(
        [x[u, t] for u in range(n) if (u, t) in x], [int(coef[u]) for u in range(n) if (u, t) in x]
    )


def _bands_and_caps(model: cp_model.CpModel, problem: Problem, spec: ModelSpec, x: Pairs) -> NDArray[np.bool_]:
    """Balance bands of every hard measure and capacity caps, on integer coefficients. The
    rows are *widened* by what the rounding can shift a load (half a step per unit), so every
    plan of the real problem is a plan of this model: its infeasibility and its bound hold
    for the real problem, and a plan it returns is checked against the true rows
    (:func:`keeps_rules`). Returns the seats whose rows let a territory be empty (every
    lower limit at or below zero once widened)."""
    n, k = problem.n_units, problem.n_seats
    bands = spec.bands(problem, hard=True, capacity=True)
    active = ~bands.exempt
    empty = np.ones(k, dtype=bool)
    slack = int(np.ceil(0.5 * n)) + 1
    for row in bands.rows():
        m = row.measure
        if row.kind == "band":
            mean = float(bands.target[active, m].mean()) if active.any() else 1.0
            scale = 1e6 / max(mean, 1e-12)
            coef = np.round(problem.measures[:, m] * scale).astype(np.int64)
            for t in np.flatnonzero(active).tolist():
                expr = _load(x, coef, n, t)
                low = int(np.floor(row.low[t] * scale)) - slack
                empty[t] &= low <= 0
                model.add(expr >= low)
                model.add(expr <= int(np.ceil(row.high[t] * scale)) + slack)
            continue
        scale = 1e6 / max(float(row.high.mean()), 1e-12)
        coef = np.round(problem.measures[:, m] * scale).astype(np.int64)
        for t in range(k):
            model.add(_load(x, coef, n, t) <= int(np.ceil(row.high[t] * scale)) + slack)
    return empty


def _disruption(
    model: cp_model.CpModel, problem: Problem, spec: ModelSpec, x: Pairs, *, budget: bool
) -> tuple[Any, float] | None:
    """The overall budget (when ``budget``) and per-rep limits; returns the moved value as
    an integer expression and its scale (None without owners or a disruption value)."""
    value = spec.disruption_value
    if value is None or not (problem.owner >= 0).any():
        return None
    has = np.flatnonzero(problem.owner >= 0)
    dscale = 1e6 / max(float(value[has].sum()), 1e-12)
    dcoef = np.round(value * dscale).astype(np.int64)
    stay = [(int(dcoef[u]), x[u, int(problem.owner[u])]) for u in has.tolist() if (u, int(problem.owner[u])) in x]
    total = int(dcoef[has].sum())
    moved_expr = total - sum(c * v for c, v in stay)
    if spec.disruption_max is not None and budget:
        # widened by the rounding, like the bands: a relaxation (plans are checked after)
        model.add(moved_expr <= int(np.ceil(spec.disruption_max * dscale)) + int(np.ceil(0.5 * problem.n_units)) + 1)
    if spec.disruption_per_rep is not None:
        for t in range(problem.n_seats):
            mine = [u for u in has.tolist() if problem.owner[u] == t]
            if not mine:
                continue
            book = int(dcoef[mine].sum())
            kept = sum(int(dcoef[u]) * x[u, t] for u in mine if (u, t) in x)
            model.add(book - kept <= int(np.ceil(spec.disruption_per_rep * book + len(mine))) + 1)
    return moved_expr, dscale


def _budget_steps(problem: Problem, spec: ModelSpec, dscale: float) -> int:
    """The budget in the model's integer steps, less the rounding (a plan within it keeps
    the true budget): where a search for the least movement may stop."""
    assert spec.disruption_max is not None
    return int(np.floor(spec.disruption_max * dscale)) - int(np.ceil(0.5 * problem.n_units)) - 1


class _StopAt(cp_model.CpSolverSolutionCallback):
    """Stops CP-SAT at the first solution whose objective is at most ``limit``."""

    def __init__(self, limit: float) -> None:
        super().__init__()
        self.limit = limit

    def on_solution_callback(self) -> None:
        if self.objective_value <= self.limit:
            self.stop_search()


Flows = dict[tuple[int, int, int], cp_model.IntVar]


def interchangeable(problem: Problem, spec: ModelSpec) -> list[int]:
    """Seats that no rule tells apart: no home base, no owned or locked unit, the same
    capacity and skills, not standing alone. Any plan stays a plan when their territories
    are swapped, so they may be ordered (:func:`_break_symmetry`)."""
    exempt = spec.exempt_seats(problem.n_seats)
    seats = [
        t
        for t in range(problem.n_seats)
        if not problem.has_home[t]
        and not exempt[t]
        and not (problem.owner == t).any()
        and not (problem.lock == t).any()
    ]
    if len(seats) < 2 or len(problem.exclusions):
        return []
    units = np.arange(problem.n_units)
    first = seats[0]
    same = [
        t
        for t in seats
        if problem.seat_capacity[t] == problem.seat_capacity[first]
        and np.array_equal(
            problem.eligible(units, np.full(len(units), t)), problem.eligible(units, np.full(len(units), first))
        )
    ]
    return same if len(same) >= 2 else []


def _break_symmetry(model: cp_model.CpModel, problem: Problem, x: Pairs, seats: list[int]) -> None:
    """Interchangeable seats in the order of their territories' first unit: unit u may join
    the j-th seat only if an earlier unit sits in the (j-1)-th (every plan has one such
    relabelling, so no plan is lost)."""
    n = problem.n_units
    seen: dict[int, list[Any]] = {}
    for t in seats:
        run_: list[Any] = []
        prev = None
        for u in range(n):
            c = model.new_bool_var("")
            here = x.get((u, t))
            if here is not None:
                model.add_implication(here, c)
            parts = [v for v in (prev, here) if v is not None]
            model.add_bool_or([c.Not(), *parts]) if parts else model.add(c == 0)
            if prev is not None:
                model.add_implication(prev, c)
            run_.append(c)
            prev = c
        seen[t] = run_
    for a, b in itertools.pairwise(seats):
        for u in range(n):
            here = x.get((u, b))
            if here is None:
                continue
            if u == 0:
                model.add(here == 0)
            else:
                model.add_implication(here, seen[a][u - 1])


def _flows(
    model: cp_model.CpModel, problem: Problem, spec: ModelSpec, x: Pairs, empty: NDArray[np.bool_]
) -> tuple[Pairs, Flows]:
    """Contiguity by flows: one root per territory, every other member fed by a neighbour;
    a seat whose rows let it be empty (``empty``) has a root only when it has a member.
    Returns the root variables r[u,t] and the flow variables f[u,v,t]."""
    edges = problem.edges
    assert edges is not None
    n = big = problem.n_units
    roots: Pairs = {}
    flows: Flows = {}
    for t in np.flatnonzero(~spec.exempt_seats(problem.n_seats)).tolist():
        members = [u for u in range(n) if (u, t) in x]
        if not members:
            continue
        for u in members:
            roots[u, t] = model.new_bool_var("")
            model.add_implication(roots[u, t], x[u, t])
        if empty[t]:
            # an empty territory keeps every row here: a root only when it has members
            used = model.new_bool_var("")
            model.add(sum(roots[u, t] for u in members) == used)
            for u in members:
                model.add_implication(x[u, t], used)
        else:
            model.add(sum(roots[u, t] for u in members) == 1)
        inflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in members}
        outflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in members}
        for a, b in edges.tolist():
            if (a, t) not in x or (b, t) not in x:
                continue
            for s_, d_ in ((a, b), (b, a)):
                f = model.new_int_var(0, big, "")
                model.add(f == 0).only_enforce_if(x[s_, t].Not())
                model.add(f == 0).only_enforce_if(x[d_, t].Not())
                outflow[s_].append(f)
                inflow[d_].append(f)
                flows[s_, d_, t] = f
        for u in members:
            model.add(sum(inflow[u]) - sum(outflow[u]) + big * roots[u, t] >= x[u, t])
    return roots, flows


def _hint_flows(model: cp_model.CpModel, problem: Problem, hint: NDArray[np.int64], roots: Pairs, flows: Flows) -> None:
    """Complete a plan's hint with its roots and flows, so that CP-SAT starts from a whole
    solution instead of searching for the flows: in each connected territory a breadth-first
    tree from its first unit carries to every member the size of the member's subtree.
    Disconnected territories, and those holding a pair the model has no variable for (a
    hint that breaks an exclusion, say), get no flow hint."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order

    edges = problem.edges
    assert edges is not None
    n = problem.n_units
    same = hint[edges[:, 0]] == hint[edges[:, 1]]
    e = edges[same]
    graph = csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    graph = graph + graph.T
    size = np.ones(n, dtype=np.int64)
    for t in sorted({t for _, t in roots}):
        members = np.flatnonzero(hint == t)
        if len(members) == 0 or any((u, t) not in roots for u in members.tolist()):
            continue  # empty, or a member on a pair the model does not have (an illegal hint)
        order, parent = breadth_first_order(graph, int(members[0]), directed=False)
        if len(order) != len(members):
            continue  # not connected: CP-SAT finds its own flows
        for u in members.tolist():
            model.add_hint(roots[u, t], int(u == members[0]))
        for u in order[::-1][:-1].tolist():  # leaves first; the root has no parent
            size[parent[u]] += size[u]
        carried = {(int(parent[u]), int(u)): int(size[u]) for u in order[1:].tolist()}
        for (a, b, tt), f in flows.items():
            if tt == t:
                model.add_hint(f, carried.get((a, b), 0))


def _objective(
    model: cp_model.CpModel,
    problem: Problem,
    spec: ModelSpec,
    x: Pairs,
    pos: NDArray[np.float64],
    moved: tuple[Any, float] | None,
) -> float:
    """Minimise the moved value (when given) or weighted travel; returns the objective's
    unit (measure units, or weighted mean km)."""
    if moved is not None:
        model.minimize(moved[0])
        return 1.0 / moved[1]
    w = spec.weight(problem.n_units)
    dist = {(u, t): float(w[u] * np.linalg.norm(problem.unit_xy[u] - pos[t])) for (u, t) in x}
    tscale = 1e6 / max(max(dist.values(), default=1.0), 1e-12)
    model.minimize(sum(round(d * tscale) * x[key] for key, d in dist.items()))
    return 1.0 / tscale / max(float(w.sum()), 1e-12)


def _cut_edges(model: cp_model.CpModel, problem: Problem, x: Pairs) -> float:
    """Minimise the edges whose ends lie in different territories (c[e] ≥ x[a,t] − x[b,t]
    for every seat, as in the main formulation); returns the objective's unit (1 edge)."""
    assert problem.edges is not None
    cuts = []
    for a, b in problem.edges.tolist():
        c = model.new_bool_var("")
        for t in range(problem.n_seats):
            xa, xb = x.get((a, t)), x.get((b, t))
            if xa is not None and xb is not None:
                model.add(c >= xa - xb)
            elif xa is not None:
                model.add_implication(xa, c)
            elif xb is not None:
                model.add_implication(xb, c)
        cuts.append(c)
    model.minimize(sum(cuts))
    return 1.0


def _solve(
    model: cp_model.CpModel,
    time_limit: float,
    seed: int,
    workers: int,
    deterministic: bool,
    stop_at: float | None = None,
    stop: Stop | None = None,
    confirm_limit: float | None = None,
) -> tuple[cp_model.CpSolver, Any]:
    """CP-SAT on the model (stopped at the first objective at most ``stop_at``, or by
    ``stop`` from another thread); an INFEASIBLE answer must survive a second solve without
    presolve (OR-Tools #5274), else it is UNKNOWN. That second solve gets ``confirm_limit``
    seconds (by default what is left of ``time_limit``)."""
    solver = cp_model.CpSolver()
    solver.parameters.catch_sigint_signal = False
    solver.parameters.random_seed = seed
    _limit(solver, time_limit, workers, deterministic)
    if stop is not None:
        stop.watch(solver)
    # interruptible by Ctrl-C (the pipeline then finishes with the best plan so far)
    status = run(solver, model, _StopAt(stop_at) if stop_at is not None else None)
    if status == cp_model.INFEASIBLE:
        check = cp_model.CpSolver()
        check.parameters.catch_sigint_signal = False
        check.parameters.cp_model_presolve = False
        # what is left of the limit, so the check never doubles it
        spent = solver.deterministic_time if deterministic else solver.wall_time
        _limit(check, max(0.5, time_limit - spent if confirm_limit is None else confirm_limit), workers, deterministic)
        if stop is not None:
            stop.watch(check)
        if run(check, model) != cp_model.INFEASIBLE:
            status = cp_model.UNKNOWN
    return solver, status


class Stop:
    """Stops CP-SAT solves running in another thread: :meth:`set` stops the solve in
    flight (``stop_search``) and every later one before it starts. ``stop_search`` does
    nothing while ``solve`` has not yet built its internals, so the caller repeats
    :meth:`set` until the thread ends (see :func:`.realignment.search_and_decide`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._solver: cp_model.CpSolver | None = None

    def watch(self, solver: cp_model.CpSolver) -> None:
        """The solve about to run: with no time at all once stopped."""
        with self._lock:
            self._solver = solver
            if self._set:
                solver.parameters.max_time_in_seconds = 0.0

    def set(self) -> None:
        with self._lock:
            self._set = True
            if self._solver is not None:
                self._solver.stop_search()

    def is_set(self) -> bool:
        return self._set

    def wait(self, thread: threading.Thread, also: Callable[[], bool] = lambda: False) -> None:
        """Join ``thread``; while it runs, a stop (set, or asked by ``also()``: Ctrl-C) is
        repeated, so that one set just before a solve started still stops it."""
        while thread.is_alive():
            if self._set or also():
                self.set()
            thread.join(0.05)


def _limit(solver: cp_model.CpSolver, time_limit: float, workers: int, deterministic: bool) -> None:
    if deterministic:
        solver.parameters.num_workers = 1
        solver.parameters.max_deterministic_time = max(time_limit, 0.5)
    else:
        solver.parameters.num_workers = workers
        solver.parameters.max_time_in_seconds = max(time_limit, 0.5)


#: The least time the exact model's fallback takes when the solve's deadline has passed [s].
FALLBACK_AFTER = 0.5


def fallback(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    centres: NDArray[np.int64],
    exact_log: list[SearchResult],
    deadline: float,
    movement: MovementBound | None,
) -> Incumbent | None:
    """On a small map, the exact model with the time left before ``deadline``: a plan, None
    when it found none in time, or :class:`InfeasibleError` when it proves there is none,
    with the least budget that works when a budget binds.

    Under a budget the searches could not keep, when they found a plan meeting every band
    (it moves too much), the exact model first lowers the value moved from that plan
    (:func:`least_movement`): a plan within the budget then gets the rest of the time for
    travel; else the least share found and the proved least share are logged for the
    planner (or, when CP-SAT closes the gap, the budget is proved too small)."""
    model = spec.model
    if not fits(problem) or not model.contiguity:
        return None
    start = ctx.now()
    pos = seat_positions(problem, centres)
    hint = min(exact_log, key=lambda r: r.violation).assign if exact_log else None
    least: ExactResult | None = None
    # a few seconds at least, but never far past the solve's own deadline: called again
    # after it (no plan), a 3 s floor took the realignment demo's 20 s limit to 23.7 s
    floor = min(3.0, max(FALLBACK_AFTER, ctx.left()))
    best = over_budget_plan(rule_keeping(exact_log, problem, model))
    if model.disruption_max is not None and best is not None:
        # most of the time: it stops at the first plan within the budget, and the travel
        # solve that follows gets the rest (a tenth at least)
        least = least_movement(ctx, problem, spec, pos, best, start + 0.9 * max(floor, deadline - start))
        plan = least.assign if least.assign is not None else best
        share = moved_share(problem, model, plan)
        if least.assign is not None and share <= (spec.disruption_share or 0.0):
            hint = least.assign
        elif least.status != cp_model.OPTIMAL:
            booked = (
                float(model.disruption_value[problem.owner >= 0].sum()) if model.disruption_value is not None else 0.0
            )
            exact_log.append(
                SearchResult(
                    assign=plan,
                    violation=min(r.violation for r in exact_log),
                    moves=0,
                    rounds=0,
                    balanced=plan,
                    balanced_moved=share,
                    moved_bound=(least.bound / booked) if least.bound is not None and booked > 0 else None,
                    label="the exact model (contiguity by flows) lowering the value moved",
                )
            )
            return None
    left = max(floor if least is None else min(1.0, floor), deadline - ctx.now())
    proved_budget = least is not None and least.status == cp_model.OPTIMAL and hint is not least.assign
    if not proved_budget:
        found = solve_exact(
            problem,
            model,
            pos=pos,
            hint=hint,
            time_limit=left,
            seed=ctx.seed,
            workers=ctx.workers,
            deterministic=ctx.deterministic,
            minimise="cut_edges" if exact_objective(spec, free_centres=True) == "cut_edges" else "travel",
        )
        if found.assign is None and least is not None and least.assign is not None and hint is least.assign:
            # the plan within the budget stands; travel was not improved in time
            found = replace(least, status=cp_model.FEASIBLE, objective=None, bound=None)
        if found.assign is not None:
            return Incumbent(
                assign=found.assign,
                centres=centres.copy(),
                objectives=() if found.objective is None else (found.objective,),
                bound=found.bound,
                status=int(found.status),
                cand=build_candidates(problem, centres, nearest=problem.n_seats),
                exact=True,
                iteration=0,
                method=EXACT_MODEL,
            )
        if found.status != cp_model.INFEASIBLE:
            return None
    exempt = model.exempt_seats(problem.n_seats)
    # infeasible even without contiguity: that explanation has the figures
    raise_if_proved(ctx, problem, model, centres, exempt)
    conflict = _budget_or_contiguity(ctx, problem, spec, pos, left, movement, least)
    explanation = Explanation((conflict,))
    raise InfeasibleError(f"the scenario is infeasible:\n{explanation}", explanation)


def least_movement(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    pos: NDArray[np.float64],
    hint: NDArray[np.int64] | None,
    deadline: float,
) -> ExactResult:
    """The exact model without the budget, minimising the value moved from ``hint`` (a plan
    meeting every band); stops at the first plan within the budget. Objective and bound in
    measure units: OPTIMAL proves the least value any contiguous plan within the bands must
    move."""
    return solve_exact(
        problem,
        spec.model,
        pos=pos,
        hint=hint,
        time_limit=max(1.0, deadline - ctx.now()),
        seed=ctx.seed,
        workers=ctx.workers,
        minimise="moved",
        deterministic=ctx.deterministic,
        stop_within_budget=True,
    )


def _budget_or_contiguity(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    pos: NDArray[np.float64],
    left: float,
    movement: MovementBound | None,
    least: ExactResult | None = None,
) -> Conflict:
    """Why the exact model has no plan: contiguity, or the budget with the least that works."""
    model = spec.model
    lines = [
        "no plan keeps every territory contiguous within the bands, caps and budget: proved by the exact model (every legal seat for every unit, contiguity by flows)"
    ]
    relax = None
    if model.disruption_max is not None and spec.disruption_measure is not None and model.disruption_value is not None:
        free = least or least_movement(ctx, problem, spec, pos, None, ctx.now() + max(3.0, 0.5 * left))
        booked = float(model.disruption_value[problem.owner >= 0].sum())
        if free.objective is not None and booked > 0:
            floor = (
                free.bound
                if free.status == cp_model.OPTIMAL
                else max(movement.must_move if movement else 0.0, free.bound or 0.0)
            )
            relax = free.objective / booked
            exact_word = (
                "exactly"
                if free.status == cp_model.OPTIMAL
                else f"at least {100 * (floor or 0) / booked:.1f}% and at most"
            )
            lines.append(
                f"the least share of {spec.disruption_measure} that any contiguous plan within the bands must move is {exact_word} {100 * free.objective / booked:.1f}% "
                f"(the budget is {100 * (spec.disruption_share or 0.0):g}%): raise constraints.disruption.max_share to {pct_up(free.objective / booked)}"
            )
        elif booked > 0 and free.status == cp_model.INFEASIBLE:
            lines.append(
                "no contiguous plan within the bands exists even without the budget (proved by the same model)"
            )
        elif booked > 0:
            # the budget is part of what was proved: say so, and what is known of the least share
            floor = max(movement.must_move if movement else 0.0, free.bound or 0.0)
            lines.append(
                f"the {100 * (spec.disruption_share or 0.0):g}% budget is part of that proof, and no contiguous plan within the bands was found "
                f"without it in the time left, so the least share that works is not known (at least {100 * floor / booked:.1f}% of "
                f"{spec.disruption_measure} must move, proved for any plan): raise constraints.disruption.max_share, or give the solve more time"
            )
    return Conflict("disruption" if relax is not None else "contiguity", "; ".join(lines), relax)


#: A polish needs at least this much time left [s] (a state's map solves in a second or two).
POLISH_MIN_LEFT = 2.0


def polish(ctx: SolveContext, prep: Any, found: Incumbent) -> Incumbent:
    """On a small map, the time the restricted model left (it can prove its own optimum in
    a fraction of a second) goes to the exact model, hinted with the plan: every legal pair,
    contiguity by flows, the budget kept. Its plan replaces ``found`` when it is better, or as
    good and proved optimal (a restricted optimum then gets the real proof); otherwise its
    bound, valid for the real problem, goes with ``found`` (``real_bound``).

    For the objectives both models share: least travel from fixed home bases under a
    disruption budget (where pruning and the budget make the restricted model weakest: on
    Washington's counties its optimum was 13.3 % above the LP bound, and the exact model's
    bound brought that to 2-3 %), or fewest cut edges (which no centre enters, so also for seats
    without a home; the restricted model's bound is far off there). Plain least travel is
    left alone: on the demo (Georgia's counties) the whole limit bought 0.03 % of travel,
    and every small-map run would take its whole time limit."""
    problem, spec = prep.problem, prep.spec
    kind = exact_objective(spec, free_centres=prep.free_centres)
    if kind == "travel" and not spec.realign:
        return found
    if (
        kind is None
        or not spec.model.contiguity
        or not fits(problem)
        or found.exact_model
        or found.objective is None
        or ctx.stopped
        or ctx.left() < POLISH_MIN_LEFT
    ):
        return found
    ctx.report("exact model polish (every legal seat, contiguity by flows)")
    pos = seat_positions(problem, found.centres)
    better = solve_exact(
        problem,
        spec.model,
        pos=pos,
        hint=found.assign,
        time_limit=ctx.left(),
        seed=ctx.seed,
        workers=ctx.workers,
        deterministic=ctx.deterministic,
        minimise=kind,
    )
    if ctx.deterministic:
        ctx.charge(max(ctx.left(), 0.0))
    ctx.report("exact model polish done", status=str(better.status), objective=better.objective, bound=better.bound)
    # a plan no better, or a tie without a proof, leaves the restricted plan (and its own
    # figures) in place; the exact model's bound still holds for the real problem
    kept = replace(found, real_bound=better.bound) if better.bound is not None else found
    if better.assign is None or better.objective is None:
        return kept
    # the exact model rounds distances to integers: compare on the restricted model's figure
    value = _objective_of(problem, spec.model, kind, better.assign, pos)
    tie = value >= found.objective * (1 - 1e-6) - 1e-12
    if value > found.objective * (1 + 1e-6) + 1e-12 or (tie and better.status != cp_model.OPTIMAL):
        return kept
    return Incumbent(
        assign=better.assign,
        centres=found.centres.copy(),
        objectives=(value,),
        bound=None if better.bound is None else min(better.bound, value),
        status=int(better.status),
        cand=build_candidates(problem, found.centres, nearest=problem.n_seats),
        exact=True,
        iteration=found.iteration,
        method=EXACT_MODEL,
    )


def exact_objective(spec: SolveSpec, *, free_centres: bool) -> str | None:
    """The scenario's objective when the exact model has it too (``travel`` from fixed
    home bases, ``cut_edges``), else None."""
    stages = [set(stage) for stage in spec.stages]
    if stages == [{"travel"}] and not free_centres:
        return "travel"
    if stages == [{"cut_edges"}]:
        return "cut_edges"
    return None


def _objective_of(
    problem: Problem, spec: ModelSpec, kind: str, assign: NDArray[np.int64], pos: NDArray[np.float64]
) -> float:
    if kind == "cut_edges":
        assert problem.edges is not None
        return float((assign[problem.edges[:, 0]] != assign[problem.edges[:, 1]]).sum())
    w = spec.weight(problem.n_units)
    return float((w * np.linalg.norm(problem.unit_xy - pos[assign], axis=1)).sum() / max(float(w.sum()), 1e-12))
