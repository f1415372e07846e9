"""Exact strategy for small maps, by separator cuts: a disruption budget decided for the
planner's real problem.

The flow model (:mod:`.exact_flow`) is exact, but its LP relaxation is weak where the
question is how little can move: on Ohio's counties (8 reps, ±5 %, a 10 % budget) its bound
reached 7.3 % in 30 s and 7.7 % in 300 s, while the least share any contiguous plan moves
is 10.4 %. This model leaves contiguity out and adds it back as cuts, each valid for every
contiguous plan (the *cut* formulation of Validi, Buchanan & Lykhovyd, "Imposing contiguity
constraints in political districting models", Operations Research 2022, with cuts from the
bands):

* **small-set cuts**: when the positive part of a set S's value (of any balanced measure)
  lies below seat t's band, ``x[a,t] ≤ Σ_{c ∈ N(S)} x[c,t]`` for every a in S: a connected
  territory holding a and none of S's neighbours lies inside S and misses its band. Every
  single unit gets one from the start; each component of a plan below its band gets one;
* **separator cuts**: ``x[a,t] + x[b,t] ≤ 1 + Σ_{c ∈ C} x[c,t]`` for a minimal a,b-separator
  C, between the larger pieces of a split territory.

The loop solves the relaxation (every legal pair, bands, caps, locks, families, the budget
and per-rep limits, rows widened by the rounding as in the flow model, so that its
infeasibility holds for the real problem), and reads the plan: if every territory is
connected and the plan keeps the true rows, it is a plan of the real problem; otherwise its
pieces give cuts and the relaxation is solved again, hinted with the last plan made
connected (:meth:`_Model.mended`). An INFEASIBLE relaxation proves that no contiguous plan
keeps the budget. Measured (2026-12-01, one worker, 30 s, the bench's unseen state rows,
seeds 0-6 on Florida-16): hinted with the split plan itself, a plan came in 1 run of 7 on
Florida (16 reps), after 15.3 s on Tennessee-8 and 22.0 s on North Carolina-10; hinted
with the mended plan, in 6 of 7 on Florida (10-22 s), after 1.0 s and 3.7 s. Proofs took
about as long either way (Ohio 9.3 s and 13.5 s, South Carolina 5.2 s and 6.8 s).

Without the budget, minimising the value moved, every solve's bound is a bound on the least
share that works, for the real problem (:func:`least_share`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ...audit import BALANCE_EPS
from ...diagnose import Conflict, Explanation
from ...errors import InfeasibleError
from ...geo import components
from ...problem import Problem
from ..bounds import MovementBound, pct_down, pct_up
from ..context import SolveContext
from ..contiguous import moved_share
from ..spec import SolveSpec
from . import exact_flow

#: A cut: (units a with x[a,t] on the left, units c with x[c,t] on the right, seat t, the
#: left side's allowance: 0 for a small-set cut x[a,t] ≤ Σ x[c,t], 1 for a separator cut
#: x[a,t] + x[b,t] ≤ 1 + Σ x[c,t]).
Cut = tuple[tuple[int, ...], tuple[int, ...], int, int]


@dataclass
class CutResult:
    """What the loop found: ``status`` ``"plan"`` (``assign`` keeps every rule, contiguity
    included), ``"infeasible"`` (proved for the real problem) or ``"unknown"`` (time ran out);
    the cuts added (for a later solve), the solves run, and with an objective the best
    bound (measure units) and whether the plan is proved optimal."""

    status: str
    assign: NDArray[np.int64] | None = None
    cuts: list[Cut] = field(default_factory=list)
    solves: int = 0
    bound: float | None = None
    optimal: bool = False
    #: the model the loop left undecided (its cuts, its last plan as the hint), for :func:`resume`
    model: _Model | None = field(default=None, repr=False, compare=False)


class _Graph:
    """Adjacency of the map and the pieces of a plan's territories."""

    def __init__(self, problem: Problem) -> None:
        edges = problem.edges
        assert edges is not None
        self.n = problem.n_units
        self.edges = edges
        self.adj: list[list[int]] = [[] for _ in range(self.n)]
        for a, b in edges.tolist():
            self.adj[a].append(b)
            self.adj[b].append(a)

    def pieces(self, assign: NDArray[np.int64]) -> dict[int, list[NDArray[np.int64]]]:
        """Seat → its territory's connected pieces, largest first, for split territories."""
        label = components(self.n, self.edges[assign[self.edges[:, 0]] == assign[self.edges[:, 1]]])
        out: dict[int, list[NDArray[np.int64]]] = {}
        for t in np.unique(assign).tolist():
            members = np.flatnonzero(assign == t)
            labels = np.unique(label[members])
            if len(labels) > 1:
                parts = [members[label[members] == lab] for lab in labels]
                out[t] = sorted(parts, key=lambda p: (-len(p), int(p[0])))
        return out

    def border(self, inside: set[int]) -> set[int]:
        return {w for u in inside for w in self.adj[u] if w not in inside}

    def separator(self, piece: NDArray[np.int64], b: int) -> list[int]:
        """A minimal separator of ``piece`` and unit ``b``: the neighbours of the piece that
        touch the part of the map ``b`` reaches without crossing them."""
        inside = set(piece.tolist())
        ring = self.border(inside)
        seen, stack = {b}, [b]
        while stack:
            u = stack.pop()
            for w in self.adj[u]:
                if w not in seen and w not in ring and w not in inside:
                    seen.add(w)
                    stack.append(w)
        return sorted(c for c in ring if any(w in seen for w in self.adj[c]))


class _Model:
    """The relaxation: every legal pair, bands and caps, locks, families, per-rep limits,
    the budget (when ``budget``) and the cuts; minimises the value moved (when ``minimise``)."""

    def __init__(
        self, problem: Problem, spec: SolveSpec, graph: _Graph, *, budget: bool, minimise: bool, cuts: list[Cut]
    ) -> None:
        model = spec.model
        self.problem, self.spec, self.graph = problem, spec, graph
        #: a plan was banned for breaking a true row by a hair the audit's slack accepts: an
        #: infeasible relaxation is no longer a proof
        self.banned = False
        self.cp = cp_model.CpModel()
        x = exact_flow._legal_pairs(self.cp, problem, model)
        self.x = x
        if x is None:
            return
        if model.families:
            exact_flow._families(self.cp, problem, x)
        exact_flow._bands_and_caps(self.cp, problem, model, x)
        moved = exact_flow._disruption(self.cp, problem, model, x, budget=budget)
        self.unit = 0.0
        if minimise and moved is not None:
            self.cp.minimize(moved[0])
            self.unit = 1.0 / moved[1]
        self.exempt = model.exempt_seats(problem.n_seats)
        bands = [row for row in model.bands(problem, hard=True, capacity=True).rows() if row.kind == "band"]
        positive = np.maximum(problem.measures, 0.0)
        # below the band by more than the audit's slack (a load that far below fails it)
        self._small_rows = [
            (positive[:, row.measure], row.low - 2 * BALANCE_EPS * np.maximum(row.norm, 1.0)) for row in bands
        ]
        self.cuts: list[Cut] = []
        for cut in cuts:
            self._add(cut)
        if not cuts:
            for a, t in list(x):
                if not self.exempt[t] and self._small([a], t):
                    self._add(((a,), tuple(graph.adj[a]), t, 0))

    def _small(self, units: list[int] | NDArray[np.int64], t: int) -> bool:
        """The positive part of the units' value lies below t's band for some measure."""
        idx = np.asarray(units, dtype=np.int64)
        return any(float(value[idx].sum()) < low[t] for value, low in self._small_rows)

    def _add(self, cut: Cut) -> None:
        left, right, t, allowance = cut
        assert self.x is not None
        lhs = [self.x[a, t] for a in left if (a, t) in self.x]
        if len(lhs) < len(left):
            return  # an end that cannot be in t: the cut holds trivially
        rhs = [self.x[c, t] for c in right if (c, t) in self.x]
        self.cp.add(sum(lhs) <= allowance + sum(rhs))
        self.cuts.append(cut)

    def cut(self, assign: NDArray[np.int64]) -> int:
        """Cuts every split territory of ``assign``; returns how many were split."""
        split = 0
        for t, parts in self.graph.pieces(assign).items():
            if self.exempt[t]:
                continue
            split += 1
            for i, piece in enumerate(parts):
                if self._small(piece, t):
                    ring = tuple(sorted(self.graph.border(set(piece.tolist()))))
                    for a in piece.tolist():
                        self._add(((a,), ring, t, 0))
                    continue
                for j, other in enumerate(parts):
                    if i != j:
                        b = int(other[0])
                        ring = tuple(self.graph.separator(piece, b))
                        for a in piece.tolist():
                            self._add(((a, b), ring, t, 1))
        return split

    def mended(self, assign: NDArray[np.int64]) -> NDArray[np.int64]:
        """``assign`` with each split territory's smaller pieces (by value of the first
        band's measure) handed, unit by unit, to the adjacent territory most of their
        neighbours belong to, where they may go: a connected plan near the relaxation's, the
        next solve's hint. Hinted with the split plan itself, CP-SAT answered each cut with
        the least change, most often a new split next to the old one."""
        assert self.x is not None
        out = assign.copy()
        value = self._small_rows[0][0] if self._small_rows else np.ones(self.problem.n_units)
        for t, parts in self.graph.pieces(assign).items():
            if self.exempt[t]:
                continue
            keep = max(range(len(parts)), key=lambda i: float(value[parts[i]].sum()))
            for i, piece in enumerate(parts):
                if i != keep:
                    out[piece] = -1
        while (out < 0).any():
            moved = False
            for u in np.flatnonzero(out < 0).tolist():
                near = [int(out[w]) for w in self.graph.adj[u] if out[w] >= 0 and (u, int(out[w])) in self.x]
                if near:
                    out[u] = max(set(near), key=lambda t: (near.count(t), -t))
                    moved = True
            if not moved:  # no adjacent territory may hold them: left where they were
                rest = out < 0
                out[rest] = assign[rest]
        return out

    def read(self, solver: cp_model.CpSolver) -> NDArray[np.int64]:
        assert self.x is not None
        assign = np.full(self.problem.n_units, -1, dtype=np.int64)
        for (u, t), var in self.x.items():
            if solver.boolean_value(var):
                assign[u] = t
        return assign

    def hint(self, assign: NDArray[np.int64]) -> None:
        assert self.x is not None
        self.cp.clear_hints()
        for (u, t), var in self.x.items():
            self.cp.add_hint(var, int(assign[u] == t))


#: The audit's slack on the budget and the per-rep limits (a share): a plan banned for
#: breaking them by less is one the audit would accept.
AUDIT_SHARE_SLACK = 1e-6

#: In deterministic mode, each solve is charged this many times its deterministic time.
DETERMINISTIC_CHARGE = 2.0

#: A relaxation's infeasibility is confirmed without presolve until this long before the
#: solve's deadline [s] (the error and its least share are made in what is left).
CONFIRM_RESERVE = 1.0

#: Minimising, one solve gets at most this share of the time left (1 s at least): a solve
#: that would spend it all proving one relaxation's optimum leaves no time for its cuts.
SOLVE_SHARE = 0.25


def _loop(
    ctx: SolveContext,
    m: _Model,
    deadline: float,
    hint: NDArray[np.int64] | None,
    *,
    budget: bool,
    stop: exact_flow.Stop | None = None,
    workers: int | None = None,
    finish_by: float | None = None,
) -> CutResult:
    """Solve, cut, solve again until a plan keeps every rule, the relaxation is
    infeasible, ``deadline`` (on the solve's clock), or ``stop`` (from another thread);
    CP-SAT on ``workers`` (the solve's by default). Without an objective, a solve started
    before ``deadline`` may run on to ``finish_by`` (later than ``deadline``; by default
    ``deadline``)."""
    out = CutResult("unknown")
    if m.x is None:
        out.status = "infeasible"
        return out
    minimise = m.unit > 0
    rounding = 0.5 * m.problem.n_units + 1
    kept = np.inf  # the share the best plan kept so far moves
    solve_end = deadline if finish_by is None else max(deadline, finish_by)  # without an objective
    if hint is not None:
        m.hint(hint)
    while not ctx.stopped and not (stop is not None and stop.is_set()):
        left = deadline - ctx.now()
        if left < 0.5:
            break
        # minimising, a solve that only runs out of its share still gives cuts and a bound
        share = max(1.0, SOLVE_SHARE * left) if minimise else solve_end - ctx.now()
        # a relaxation proved infeasible is the answer: its confirmation without presolve
        # (5.5 s against 2.9 s for the proof itself on Ohio's last solve) may use the time
        # left to the solve's deadline, not only what is left of this solve's share
        confirm = max(0.5, ctx.left() - CONFIRM_RESERVE)
        solver, status = exact_flow._solve(
            m.cp, share, ctx.seed, workers or ctx.workers, ctx.deterministic, stop=stop, confirm_limit=confirm
        )
        if stop is not None and stop.is_set():
            break  # stopped from outside: this solve's answer is cut short
        out.solves += 1
        if ctx.deterministic:
            # the cuts between solves are Python work CP-SAT's clock does not see: charged as
            # much again (on the demo's realignment a solve's wall time was about twice its
            # deterministic time)
            ctx.charge(DETERMINISTIC_CHARGE * solver.deterministic_time)
        if status == cp_model.INFEASIBLE:
            # a plan banned for breaking a true row by a hair may pass the audit's slack:
            # then the relaxation's infeasibility is no proof
            out.status = "unknown" if m.banned else "infeasible"
            break
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break
        if minimise:
            bound = (solver.best_objective_bound - rounding) * m.unit
            out.bound = bound if out.bound is None else max(out.bound, bound)
        assign = m.read(solver)
        if m.cut(assign) == 0:
            if exact_flow.keeps_rules(m.problem, m.spec.model, assign, budget=budget):
                if not minimise or status == cp_model.OPTIMAL:
                    # the relaxation's optimum is contiguous: the real optimum
                    out.status, out.assign, out.optimal = "plan", assign, minimise
                    break
                moved = moved_share(m.problem, m.spec.model, assign)
                if moved < kept:
                    out.status, out.assign, kept = "plan", assign, moved
                # minimising, the solve's share ran out: the plan is kept, and the same
                # model goes on from it towards a proof
                m.hint(assign)
                continue
            # a plan of the widened rows just outside a true one: excluded, and on; when the
            # audit's slack would accept it, a later infeasibility is no longer a proof
            m.cp.add(sum(var for (u, t), var in m.x.items() if assign[u] == t) <= m.problem.n_units - 1)
            m.banned = m.banned or exact_flow.keeps_rules(
                m.problem, m.spec.model, assign, budget=budget, share_slack=AUDIT_SHARE_SLACK
            )
        m.hint(m.mended(assign))
    out.cuts = list(m.cuts)
    if out.status == "unknown":
        out.model = m
    return out


def fits(problem: Problem, spec: SolveSpec) -> bool:
    """The cut model applies: a small map (as for the flow model), contiguity, a budget."""
    model = spec.model
    return (
        exact_flow.fits(problem)
        and model.contiguity
        and model.disruption_max is not None
        and model.disruption_value is not None
        and bool((problem.owner >= 0).any())
    )


def decide(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    deadline: float,
    *,
    stop: exact_flow.Stop | None = None,
    workers: int | None = None,
    finish_by: float | None = None,
) -> CutResult:
    """A plan within the budget (contiguous, every rule kept), a proof that none exists,
    or ``unknown`` at ``deadline`` or ``stop``; a solve started before ``deadline`` may
    run on to ``finish_by``. The relaxation has no objective: any plan of it is either a
    real plan or gives cuts."""
    graph = _Graph(problem)
    m = _Model(problem, spec, graph, budget=True, minimise=False, cuts=[])
    ctx.report("exact model by separator cuts (the budget, for the real problem)")
    out = _loop(ctx, m, deadline, problem.owner, budget=True, stop=stop, workers=workers, finish_by=finish_by)
    ctx.report("exact model by separator cuts done", status=out.status, solves=out.solves, cuts=len(out.cuts))
    return out


def resume(ctx: SolveContext, earlier: CutResult, deadline: float, *, workers: int | None = None) -> CutResult:
    """Goes on with :func:`decide`'s model that ``earlier`` left undecided (its cuts, its
    last plan as the hint) until ``deadline``, on ``workers``; ``earlier`` itself when it
    decided. The solves count both legs."""
    m = earlier.model
    if earlier.status != "unknown" or m is None:
        return earlier
    ctx.report("exact model by separator cuts, resumed", solves=earlier.solves, cuts=len(m.cuts))
    out = _loop(ctx, m, deadline, None, budget=True, workers=workers)
    out.solves += earlier.solves
    ctx.report("exact model by separator cuts done", status=out.status, solves=out.solves, cuts=len(out.cuts))
    return out


def least_share(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    deadline: float,
    cuts: list[Cut],
    hint: NDArray[np.int64] | None = None,
) -> CutResult:
    """Without the budget, the least value any contiguous plan within the bands moves:
    ``bound`` proved for the real problem (measure units), ``assign`` the least-moving
    contiguous plan found, ``optimal`` when the two meet. Starts from ``cuts``."""
    graph = _Graph(problem)
    m = _Model(problem, spec, graph, budget=False, minimise=True, cuts=cuts)
    return _loop(ctx, m, deadline, hint if hint is not None else problem.owner, budget=False)


def _real_plan(problem: Problem, spec: SolveSpec, assign: NDArray[np.int64]) -> bool:
    """``assign`` keeps every rule but the overall budget: true bands, caps and per-rep
    limits, and every balanced territory connected."""
    if not exact_flow.keeps_rules(problem, spec.model, assign, budget=False):
        return False
    exempt = spec.model.exempt_seats(problem.n_seats)
    return not any(not exempt[t] for t in _Graph(problem).pieces(assign))


def budget_error(
    ctx: SolveContext,
    problem: Problem,
    spec: SolveSpec,
    decided: CutResult,
    over_budget: NDArray[np.int64] | None,
    movement: MovementBound | None,
) -> InfeasibleError:
    """The budget is proved too small (``decided``): the error, with what nine tenths of the
    time left find of the least share that works (proved at least, found at most), beside
    the best plan the searches found over the budget (``over_budget``; used only when it
    keeps every other rule). The error carries the least-moving plan found."""
    model = spec.model
    assert model.disruption_value is not None
    booked = float(model.disruption_value[problem.owner >= 0].sum())
    least = least_share(
        ctx,
        problem,
        spec,
        ctx.now() + 0.9 * max(0.0, ctx.left()),
        decided.cuts,
        over_budget,
    )
    floor = max(
        spec.disruption_share or 0.0,
        (least.bound or 0.0) / booked if booked > 0 else 0.0,
        movement.share if movement is not None else 0.0,
    )
    # plans that keep every rule but the budget (the cut model's always does)
    found = [
        (plan, moved_share(problem, model, plan))
        for plan in (over_budget, least.assign)
        if plan is not None and _real_plan(problem, spec, plan)
    ]
    budget = f"{100 * (spec.disruption_share or 0.0):g}%"
    per_rep = model.disruption_per_rep is not None
    lines = [
        f"no plan keeps every territory contiguous within the bands{' and the per-rep limit' if per_rep else ''} "
        f"and moves at most {budget} of {spec.disruption_measure}: proved for the real problem by the exact model "
        f"with separator cuts (every legal seat for every unit; contiguity added as cuts that every contiguous plan "
        f"keeps; {decided.solves} solves, {len(decided.cuts)} cuts)"
    ]
    if least.status == "infeasible":
        if per_rep:
            lines.append(
                "no contiguous plan within the bands keeps the per-rep limit even without the overall budget "
                "(proved by the same model): raise constraints.disruption.per_rep_share"
            )
            family = "disruption"
        else:
            lines.append(
                "no contiguous plan within the bands exists even without the budget (proved by the same model)"
            )
            family = "contiguity"
        explanation = Explanation((Conflict(family, "; ".join(lines)),))
        return InfeasibleError(f"the scenario is infeasible:\n{explanation}", explanation)
    relax, plan = None, None
    if least.optimal and least.assign is not None:
        plan, relax = least.assign, moved_share(problem, model, least.assign)
        lines.append(f"the least share that works is {pct_up(relax)} (proved optimal by the same model)")
    elif found:
        plan, relax = min(found, key=lambda f: f[1])
        lines.append(
            f"the least share that works is at least {pct_down(floor)} (proved) and at most {pct_up(relax)} "
            "(the best contiguous plan found within the bands)"
        )
    else:
        lines.append(
            f"the least share that works is at least {pct_down(floor)} (proved); no contiguous plan within the bands was found in the time left"
        )
    fix = (
        f"raise constraints.disruption.max_share to {pct_up(relax)}"
        if relax is not None
        else "raise constraints.disruption.max_share, or loosen a tolerance"
    )
    conflict = Conflict("disruption", "; ".join(lines) + f": {fix}", relax)
    explanation = Explanation((conflict,))
    return InfeasibleError(f"the scenario is infeasible:\n{explanation}", explanation, plan)
