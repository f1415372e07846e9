r"""The CP-SAT formulation: one function per constraint family.

Sets
----
U units (accounts or geographic units), T seats, M measures, P ⊆ U×T candidate pairs
(:mod:`.candidates`), E ⊆ U×U adjacency edges, F families (groups of units kept together).

Data
----
a[u,m]   activity of unit u in measure m (integer-scaled)            [measure unit]
T[t,m]   target of seat t: (Σ_u a[u,m]) · FTE_t / Σ FTE  (exempt seats excluded)
τ_m      tolerance of measure m;  lo = (1-τ_m)·T,  hi = (1+τ_m)·T
d[u,t]   distance from unit u to seat t's home base or chosen centre   [km]
w[u]     travel weight of unit u (the first balanced measure, else 1)
o(u)     current owner of u;  v[u]  its disruption value (a measure, or 1 per unit)
C[t,m]   capacity cap of seat t in measure m (cap per FTE · FTE_t)
r_t      root unit of seat t; h_t(u) hop distance from r_t (:mod:`.contiguity`)

Variables
---------
x[u,t] ∈ {0,1} for (u,t) ∈ P: unit u is assigned to seat t.
s⁺[t,m], s⁻[t,m] ≥ 0 (soft balance only): deviation beyond the tolerance band.
c[e] ∈ {0,1} (cut-edge objective only): edge e joins two territories.

Constraints (each family a function below, each switchable, each optionally enforced by a
literal so that :mod:`territory_opt.diagnose` can ask which families conflict)
---------------------------------------------------------------------------------------
assignment   Σ_t x[u,t] = 1                                         ∀u
balance      lo[t,m] ≤ Σ_u a[u,m]·x[u,t] ≤ hi[t,m]                  ∀t, hard m
             lo - s⁻ ≤ Σ_u a[u,m]·x[u,t] ≤ hi + s⁺                   ∀t, soft m
capacity     Σ_u a[u,m]·x[u,t] ≤ C[t,m]                             ∀t, capped m
skills       x[u,t] = 0 when u requires a skill t lacks (pairs pruned; checked here)
locks        x[u,lock(u)] = 1
families     x[u,t] = x[f(u),t] where f(u) is the first unit of u's family
disruption   Σ_u v[u]·(1 - x[u,o(u)]) ≤ D;  per rep r: Σ_{o(u)=r} v[u]·(1 - x[u,r]) ≤ D_r
contiguity   x[r_t,t] = 1;  x[u,t] ≤ Σ_{v∈N(u), h_t(v)=h_t(u)-1} x[v,t]   ∀(u,t)∈P, u≠r_t

Objective terms (natural units; combined by weights or lexicographically)
--------------------------------------------------------------------------
travel       Σ w[u]·d[u,t]·x[u,t] / Σ_u w[u]          weighted mean distance [km]
cut_edges    Σ_e c[e],  c[e] ≥ x[u,t] - x[v,t]  ∀t                       [edges]
disruption   100 · Σ_u v[u]·(1 - x[u,o(u)]) / Σ_u v[u]       share moved    [%]
balance      100 · Σ_{t,m soft} weight_m·(s⁺ + s⁻)/T[t,m]     deviation     [%]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ..evaluate import Bands, targets
from ..problem import Problem
from .candidates import Candidates
from .contiguity import Contiguity

#: Measures are scaled so that each one's total is about this many integer units; rounding
#: then moves a territory's load by at most 0.5 per unit, ~1e-8 of a target at US scale.
MEASURE_SCALE_TOTAL = 1e12
#: See :func:`_floor` (far below the audit's allowance of 1e-6 of the budget's base).
BUDGET_ROUNDING = 1e-12
#: Slack variables (soft balance, elastic diagnosis) count in steps of this many scaled
#: units (1e-8 of a measure's total), so objective coefficients stay far from int64 limits.
SLACK_STEP = 10_000


@dataclass(frozen=True)
class BalanceRule:
    measure: int
    tolerance: float
    hard: bool
    weight: float = 1.0


@dataclass(frozen=True)
class ModelSpec:
    """Everything the formulation needs besides the problem and the candidate pairs."""

    balance: tuple[BalanceRule, ...] = ()
    capacity: tuple[tuple[int, float], ...] = ()  # (measure index, cap per FTE)
    disruption_value: NDArray[np.float64] | None = None  # v[u]
    disruption_max: float | None = None  # D, in the measure's units
    disruption_per_rep: float | None = None  # share of each rep's current book
    contiguity: bool = False
    locks: bool = True
    families: bool = True
    travel_weight: NDArray[np.float64] | None = None
    exempt: NDArray[np.bool_] | None = None  # seats standing alone (no balance)
    targets: NDArray[np.float64] | None = None  # T[t,m] given (a window of a larger plan)
    disruption_rep_limit: NDArray[np.float64] | None = None  # D_r given per seat [value]

    # The defaults of the optional arrays, defined once.
    def exempt_seats(self, n_seats: int) -> NDArray[np.bool_]:
        """Seats standing alone, exempt from balance (none when not given)."""
        return self.exempt if self.exempt is not None else np.zeros(n_seats, dtype=bool)

    def weight(self, n_units: int) -> NDArray[np.float64]:
        """Travel weight w[u] (1 per unit when not given)."""
        return self.travel_weight if self.travel_weight is not None else np.ones(n_units)

    def value(self, n_units: int) -> NDArray[np.float64]:
        """Disruption value v[u] (1 per unit when not given)."""
        return self.disruption_value if self.disruption_value is not None else np.ones(n_units)

    def seat_targets(self, problem: Problem) -> NDArray[np.float64]:
        """T[t,m]: as given, else the book split by FTE over the seats not exempt."""
        return self.targets if self.targets is not None else targets(problem, self.exempt)

    def bands(self, problem: Problem, *, hard: bool | None = True, capacity: bool = True) -> Bands:
        """The bands of the balance rules (``hard``: only the hard ones, ``False``: only the soft
        ones, None: all) on :meth:`seat_targets`, with the capacity caps when ``capacity``."""
        names = problem.measure_names
        tolerance = {names[r.measure]: r.tolerance for r in self.balance if hard is None or r.hard == hard}
        caps = {names[m]: cap for m, cap in self.capacity} if capacity else None
        return Bands.from_problem(
            problem, tolerance, exempt=self.exempt, target=self.seat_targets(problem), capacity=caps
        )


@dataclass
class Built:
    """A built CP-SAT model and handles on its parts (mutable: owned by one solve)."""

    model: cp_model.CpModel
    x: list[cp_model.IntVar]
    terms: dict[str, tuple[list[cp_model.IntVar], list[float], float]] = field(default_factory=dict)
    guards: dict[str, cp_model.IntVar] = field(default_factory=dict)
    targets: NDArray[np.float64] | None = None
    by_seat: list[NDArray[np.int64]] = field(default_factory=list)
    slack_vars: list[tuple[str, int, int, cp_model.IntVar, float]] = field(default_factory=list)


def _floor(x: float) -> int:
    """A budget rounded down to whole scaled units, after a widening of ``BUDGET_ROUNDING`` of
    its size: 0.29 x 100 is 28.999999999999996 in floats, and a plan moving exactly 29 of 100
    keeps a 29 % budget."""
    return int(np.floor(x + BUDGET_ROUNDING * max(abs(x), 1.0)))


def _scale(problem: Problem) -> NDArray[np.float64]:
    """Per measure, the factor its values are scaled by: a power of ten that makes every
    value an exact integer with the total near :data:`MEASURE_SCALE_TOTAL` when the values
    allow it (whole numbers: populations, potentials in currency units), else
    ``MEASURE_SCALE_TOTAL / total`` (rounded coefficients, see :func:`_rounding`)."""
    total = problem.measures.sum(axis=0)
    out = np.divide(MEASURE_SCALE_TOTAL, total, out=np.ones_like(total, dtype=float), where=total > 0)
    for m in np.flatnonzero(total > 0).tolist():
        step = _exact_step(problem.measures[:, m], float(total[m]))
        if step is not None:
            out[m] = step
    return out


def _exact_step(values: NDArray[np.float64], total: float) -> float | None:
    """The power of ten (total near MEASURE_SCALE_TOTAL) that makes ``values`` exact integers
    in float arithmetic, or None."""
    step = 10.0 ** np.floor(np.log10(MEASURE_SCALE_TOTAL / total))
    scaled = values * step
    if np.abs(scaled).sum() < 2.0**53 and np.array_equal(scaled, np.round(scaled)):
        return float(step)
    return None


def _rounding(values: NDArray[np.float64], coef: NDArray[np.int64]) -> float:
    """Half a step when ``coef`` rounds ``values`` (scaled), else 0: the integer band is
    widened by this much per pair so that no plan on the band is cut off; with exact
    coefficients (:func:`_exact_step`) it is not widened, and a plan meets the band exactly
    (a widened band let a plan pass it by up to 8e-8 of a target on the US counties)."""
    return 0.0 if np.array_equal(values, coef) else 0.5


def _guard(built: Built, name: str, guarded: bool) -> cp_model.IntVar | None:
    if not guarded:
        return None
    if name not in built.guards:
        built.guards[name] = built.model.new_bool_var(f"guard_{name}")
    return built.guards[name]


def _enforce(ct: cp_model.Constraint, lit: cp_model.IntVar | None) -> None:
    if lit is not None:
        ct.only_enforce_if(lit)


def add_assignment(built: Built, problem: Problem, cand: Candidates) -> None:
    """Every unit to exactly one seat."""
    for u in range(problem.n_units):
        lo, hi = cand.indptr[u], cand.indptr[u + 1]
        built.model.add_exactly_one(built.x[lo:hi])


def _seat_pairs(cand: Candidates) -> list[NDArray[np.int64]]:
    order = np.argsort(cand.seat, kind="stable")
    bounds = np.searchsorted(cand.seat[order], np.arange(cand.n_seats + 1))
    return [order[bounds[t] : bounds[t + 1]] for t in range(cand.n_seats)]


def add_balance(
    built: Built, problem: Problem, cand: Candidates, spec: ModelSpec, *, guarded: bool = False, elastic: bool = False
) -> None:
    """Each seat's load of each balanced measure within its tolerance band.

    ``elastic``: hard rules get slack too (for diagnosis and for finding a first plan).
    """
    if not spec.balance:
        return
    lit = _guard(built, "balance", guarded)
    bands = spec.bands(problem, hard=None, capacity=False)
    target = bands.target
    built.targets = target
    scale = _scale(problem)
    by_seat = built.by_seat
    exempt = bands.exempt
    for rule in spec.balance:
        m = rule.measure
        scaled = problem.measures[cand.unit, m] * scale[m]
        coef = np.round(scaled).astype(np.int64)
        half = _rounding(scaled, coef)
        for t in range(problem.n_seats):
            if exempt[t]:
                continue
            pairs = by_seat[t]
            expr = cp_model.LinearExpr.weighted_sum([built.x[p] for p in pairs], coef[pairs].tolist())
            # rounding of the scaled coefficients errs by at most 1/2 per term: widen the
            # integer band by that much so a plan exactly on the band is not cut off (none
            # when the coefficients are exact)
            err = half * len(pairs)
            lo = -_floor(-(bands.low[t, m] * scale[m] - err))
            hi = _floor(bands.high[t, m] * scale[m] + err)
            if rule.hard and not elastic:
                _enforce(built.model.add(expr >= lo), lit)
                _enforce(built.model.add(expr <= hi), lit)
                continue
            # slack counted in steps of SLACK_STEP scaled units keeps the objective in int64
            ub = int(coef.sum()) // SLACK_STEP + 1
            over = built.model.new_int_var(0, ub, f"over_{t}_{m}")
            under = built.model.new_int_var(0, ub, f"under_{t}_{m}")
            _enforce(built.model.add(expr - SLACK_STEP * over <= hi), lit)
            _enforce(built.model.add(expr + SLACK_STEP * under >= lo), lit)
            norm = 100.0 * rule.weight * SLACK_STEP / max(target[t, m] * scale[m], 1e-9)
            key = "balance" if not rule.hard else "elastic"
            vars_, coefs, _ = built.terms.setdefault(key, ([], [], 0.0))
            vars_ += [over, under]
            coefs += [norm, norm]
            built.slack_vars += [
                ("balance", t, m, over, SLACK_STEP / scale[m]),
                ("balance", t, m, under, SLACK_STEP / scale[m]),
            ]


def add_capacity(
    built: Built, problem: Problem, cand: Candidates, spec: ModelSpec, *, guarded: bool = False, elastic: bool = False
) -> None:
    """Each seat's load of a capped measure at most cap per FTE times its FTE."""
    if not spec.capacity:
        return
    lit = _guard(built, "capacity", guarded)
    scale = _scale(problem)
    by_seat = built.by_seat
    for m, cap in spec.capacity:
        scaled = problem.measures[cand.unit, m] * scale[m]
        coef = np.round(scaled).astype(np.int64)
        half = _rounding(scaled, coef)
        for t in range(problem.n_seats):
            pairs = by_seat[t]
            expr = cp_model.LinearExpr.weighted_sum([built.x[p] for p in pairs], coef[pairs].tolist())
            limit = int(np.floor(cap * problem.seat_capacity[t] * scale[m] + half * len(pairs)))
            if elastic:
                over = built.model.new_int_var(0, int(coef.sum()) // SLACK_STEP + 1, f"capover_{t}_{m}")
                _enforce(built.model.add(expr - SLACK_STEP * over <= limit), lit)
                vars_, coefs, _ = built.terms.setdefault("elastic", ([], [], 0.0))
                vars_.append(over)
                coefs.append(100.0 * SLACK_STEP / max(limit, 1))
                built.slack_vars.append(("capacity", t, m, over, SLACK_STEP / scale[m]))
            else:
                _enforce(built.model.add(expr <= limit), lit)


def add_skills(built: Built, problem: Problem, cand: Candidates, *, guarded: bool = False) -> None:
    """Skill-ineligible and excluded pairs are pruned from P; any left (skills off in
    pruning, or a pair added past the pruning) are fixed to 0."""
    bad = np.flatnonzero(~problem.eligible(cand.unit, cand.seat) | problem.excluded(cand.unit, cand.seat))
    lit = _guard(built, "skills", guarded and len(bad) > 0)
    for p in bad:
        _enforce(built.model.add(built.x[p] == 0), lit)


def add_locks(built: Built, problem: Problem, cand: Candidates, spec: ModelSpec, *, guarded: bool = False) -> None:
    """A locked unit keeps its seat."""
    if not spec.locks:
        return
    locked = np.flatnonzero(problem.lock >= 0)
    lit = _guard(built, "locks", guarded and len(locked) > 0)
    pairs = cand.index(locked, problem.lock[locked])
    for _u, p in zip(locked, pairs, strict=True):
        if p < 0:
            _enforce(built.model.add_bool_or([]), lit)  # the lock's pair was removed: infeasible
            continue
        _enforce(built.model.add(built.x[p] == 1), lit)


def add_families(built: Built, problem: Problem, cand: Candidates, spec: ModelSpec, *, guarded: bool = False) -> None:
    """Units of one family go to the same seat."""
    if not spec.families or (problem.family < 0).all():
        return
    lit = _guard(built, "families", guarded)
    members = np.flatnonzero(problem.family >= 0)
    first: dict[int, int] = {}
    for u in members:
        f = int(problem.family[u])
        if f not in first:
            first[f] = int(u)
            continue
        head = first[f]
        seats = np.union1d(cand.seats_of(head), cand.seats_of(int(u)))
        pu = cand.index(np.full(len(seats), u), seats)
        ph = cand.index(np.full(len(seats), head), seats)
        for a, b in zip(pu, ph, strict=True):
            left = built.x[a] if a >= 0 else 0
            right = built.x[b] if b >= 0 else 0
            _enforce(built.model.add(left == right), lit)


def _moved_terms(
    problem: Problem, cand: Candidates, spec: ModelSpec
) -> tuple[NDArray[np.int64], NDArray[np.float64], float]:
    """Pairs (u, owner(u)) and values: moved value = Σ v[u] - Σ v[u]·x[u,o(u)]."""
    value = spec.value(problem.n_units)
    has = problem.owner >= 0
    units = np.flatnonzero(has)
    stay = cand.index(units, problem.owner[units])
    return stay, value[units], float(value[has].sum())


def add_disruption(
    built: Built, problem: Problem, cand: Candidates, spec: ModelSpec, *, guarded: bool = False, elastic: bool = False
) -> None:
    """Value moved away from current owners within the budget, overall and per rep."""
    if spec.disruption_max is None and spec.disruption_per_rep is None:
        return
    lit = _guard(built, "disruption", guarded)
    stay, value, total = _moved_terms(problem, cand, spec)
    scale = (_exact_step(value, total) if total > 0 else None) or MEASURE_SCALE_TOTAL / max(total, 1e-9)
    coef = np.round(value * scale).astype(np.int64)
    half = _rounding(value * scale, coef)
    ok = stay >= 0
    kept = cp_model.LinearExpr.weighted_sum([built.x[p] for p in stay[ok]], coef[ok].tolist())
    total_int = int(coef.sum())
    if spec.disruption_max is not None:
        budget = _floor(spec.disruption_max * scale + half * len(coef))
        if elastic:
            over = built.model.new_int_var(0, total_int // SLACK_STEP + 1, "disruption_over")
            _enforce(built.model.add(total_int - kept - SLACK_STEP * over <= budget), lit)
            vars_, coefs, _ = built.terms.setdefault("elastic", ([], [], 0.0))
            vars_.append(over)
            coefs.append(100.0 * SLACK_STEP / max(total_int, 1))
            built.slack_vars.append(("disruption", -1, -1, over, SLACK_STEP / scale))
        else:
            _enforce(built.model.add(total_int - kept <= budget), lit)
    if spec.disruption_per_rep is not None:
        owners = problem.owner[problem.owner >= 0]
        for r in np.unique(owners):
            mine = owners == r
            sub_ok = ok & mine
            book = int(coef[mine].sum())
            kept_r = cp_model.LinearExpr.weighted_sum([built.x[p] for p in stay[sub_ok]], coef[sub_ok].tolist())
            share = (
                spec.disruption_per_rep * book
                if spec.disruption_rep_limit is None
                else spec.disruption_rep_limit[r] * scale
            )
            limit = _floor(share + half * int(mine.sum()))
            if elastic:
                over = built.model.new_int_var(0, book // SLACK_STEP + 1, f"reppover_{r}")
                _enforce(built.model.add(book - kept_r - SLACK_STEP * over <= limit), lit)
                vars_, coefs, _ = built.terms.setdefault("elastic", ([], [], 0.0))
                vars_.append(over)
                coefs.append(100.0 * SLACK_STEP / max(book, 1))
                built.slack_vars.append(("disruption_rep", int(r), -1, over, SLACK_STEP / max(book, 1)))
            else:
                _enforce(built.model.add(book - kept_r <= limit), lit)


def add_contiguity(
    built: Built, problem: Problem, cand: Candidates, contiguity: Contiguity | None, *, guarded: bool = False
) -> None:
    """Roots held, and every other unit supported by a neighbour one hop closer to the root."""
    if contiguity is None:
        return
    lit = _guard(built, "contiguity", guarded)
    roots = cand.index(contiguity.roots, np.arange(problem.n_seats))
    for p in roots:
        if p >= 0:
            _enforce(built.model.add(built.x[p] == 1), lit)
    is_root = np.zeros(len(cand), dtype=bool)
    is_root[roots[roots >= 0]] = True
    order = np.argsort(contiguity.pair, kind="stable")
    pair, pred = contiguity.pair[order], contiguity.pred[order]
    bounds = np.searchsorted(pair, np.arange(len(cand) + 1))
    for p in range(len(cand)):
        if is_root[p]:
            continue
        preds = pred[bounds[p] : bounds[p + 1]]
        if len(preds) == 0:
            _enforce(built.model.add(built.x[p] == 0), lit)
        else:
            _enforce(built.model.add_bool_or([built.x[p].negated(), *[built.x[q] for q in preds]]), lit)


def add_objective_terms(built: Built, problem: Problem, cand: Candidates, spec: ModelSpec, wanted: set[str]) -> None:
    """Register objective terms (natural units, see the module docstring)."""
    if "travel" in wanted:
        w = spec.weight(problem.n_units)
        coef = w[cand.unit] * cand.distance / max(float(w.sum()), 1e-12)
        built.terms["travel"] = (list(built.x), coef.tolist(), 0.0)
    if "disruption" in wanted and (problem.owner >= 0).any():
        stay, value, total = _moved_terms(problem, cand, spec)
        ok = stay >= 0
        coef = -100.0 * value[ok] / max(total, 1e-12)
        built.terms["disruption"] = ([built.x[p] for p in stay[ok]], coef.tolist(), 100.0)
    if "cut_edges" in wanted and problem.edges is not None and len(problem.edges):
        cuts = []
        for e, (u, v) in enumerate(problem.edges):
            c = built.model.new_bool_var(f"cut_{e}")
            seats = np.union1d(cand.seats_of(int(u)), cand.seats_of(int(v)))
            pu = cand.index(np.full(len(seats), u), seats)
            pv = cand.index(np.full(len(seats), v), seats)
            for a, b in zip(pu, pv, strict=True):
                if a >= 0 and b >= 0:
                    built.model.add(c >= built.x[a] - built.x[b])
                elif a >= 0:
                    built.model.add_implication(built.x[a], c)
                elif b >= 0:
                    built.model.add_implication(built.x[b], c)
            cuts.append(c)
        built.terms["cut_edges"] = (cuts, [1.0] * len(cuts), 0.0)


def build(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    contiguity: Contiguity | None,
    *,
    objective_terms: set[str],
    guarded: bool = False,
    elastic: bool = False,
) -> Built:
    """Data → variables → constraints → objective terms (the objective is set by the solver stage)."""
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x_{u}_{t}") for u, t in zip(cand.unit.tolist(), cand.seat.tolist(), strict=True)]
    built = Built(model=model, x=x, by_seat=_seat_pairs(cand))
    add_assignment(built, problem, cand)
    add_balance(built, problem, cand, spec, guarded=guarded, elastic=elastic)
    add_capacity(built, problem, cand, spec, guarded=guarded, elastic=elastic)
    add_skills(built, problem, cand, guarded=guarded)
    add_locks(built, problem, cand, spec, guarded=guarded)
    add_families(built, problem, cand, spec, guarded=guarded)
    add_disruption(built, problem, cand, spec, guarded=guarded, elastic=elastic)
    add_contiguity(built, problem, cand, contiguity, guarded=guarded)
    add_objective_terms(built, problem, cand, spec, objective_terms)
    if built.targets is None:
        built.targets = spec.seat_targets(problem)
    return built
