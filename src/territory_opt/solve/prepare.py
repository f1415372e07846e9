"""Prepare a solve: units that stand alone, pre-checks, centres, and a start.

1. **Oversized units**: a unit larger than any seat's balance band is treated up front
   (``standalone``: it becomes its own territory, exempt from balance and reported;
   ``fail``: the scenario is refused with the figures); with contiguity, pieces of the map
   cut off behind a standing unit join it.
2. **Pre-checks** (:mod:`territory_opt.diagnose`): arithmetic conflicts with figures, and a
   disruption budget proved against the least movement
   (:mod:`.strategies.realignment`).
3. **Centres** for seats without a home base (:mod:`.centres`).
4. **A start**: a balanced connected partition by tree bisection (seats without homes on a
   graph), or for fixed homes with contiguity the least-travel transport plan made connected
   and balanced by the exact search, with the transport relaxation's bound on travel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ..audit import Finding, Rules, audit
from ..diagnose import Conflict, Explanation, oversized_units, prechecks, standalone_seat
from ..errors import InfeasibleError, SolverError
from ..evaluate import standing_units
from ..model import ModelSpec, build_candidates, seat_positions, targets
from ..model.heuristics import bisection_partition
from ..model.transport import groups, transport_start
from ..problem import Problem
from ._pairs import exempt_filter, fit_filter, limits
from .bounds import MovementBound, Stranded
from .centres import (
    DESCENT_MAX_PAIRS,
    best_centre,
    initial_centres,
    medoids,
    search_budget,
    transport_search,
)
from .context import SolveContext
from .contiguous import EPS as EXACT_EPS
from .contiguous import balance_search, improve_travel
from .proof import raise_if_pocket
from .spec import SolveSpec
from .strategies import realignment
from .strategies.company_scale import use_large


@dataclass(frozen=True)
class Prepared:
    """A problem ready for a strategy.

    Attributes
    ----------
    problem : Problem
        The problem with standing units locked to their seats.
    spec : SolveSpec
        The resolved settings, the model spec with the standing seats exempt.
    exempt, standing : ndarray of bool
        Seats that stand alone with an oversized unit; units locked to them.
    weight : ndarray of float
        Travel weight of each unit.
    centres : ndarray of int
        Centre unit of each seat (homes' nearest units; chosen centres seeded).
    free_centres : bool
        Some seat (not standing alone) has no home base: centres are chosen.
    values, limits : ndarray of float
        Unit values (n, H) and seats' upper limits (k, H) of hard bands and caps.
    need : ndarray of float or None
        Each seat's lower band of the first measure, when it is balanced hard.
    start : ndarray of int or None
        A plan to start from (bisection or connected transport), None when none.
    transport_bound : float or None
        The transport relaxation's bound on travel [km], valid for the real problem.
    movement : MovementBound or None
        The least movement any plan needs (with a disruption budget).
    large : bool
        The company-scale strategy applies.
    notes : tuple of str
    searchable : bool
        Location-allocation should search centres on the transport relaxation after its
        first plan (:func:`searched_start`).
    """

    problem: Problem
    spec: SolveSpec
    exempt: NDArray[np.bool_]
    standing: NDArray[np.bool_]
    weight: NDArray[np.float64]
    centres: NDArray[np.int64]
    free_centres: bool
    values: NDArray[np.float64]
    limits: NDArray[np.float64]
    need: NDArray[np.float64] | None
    start: NDArray[np.int64] | None
    transport_bound: float | None
    movement: MovementBound | None
    large: bool
    notes: tuple[str, ...]
    searchable: bool = False

    def findings(self, assign: NDArray[np.int64]) -> tuple[Finding, ...]:
        """The independent audit of ``assign`` against the scenario's own rules (the
        checks every returned plan gets)."""
        model, spec = self.spec.model, self.spec
        rules = Rules(
            tolerance={self.problem.measure_names[r.measure]: r.tolerance for r in model.balance if r.hard},
            targets=targets(self.problem, self.exempt),
            exempt=self.exempt,
            capacity={self.problem.measure_names[m]: cap for m, cap in model.capacity},
            disruption_measure=spec.disruption_measure,
            disruption_max_share=spec.disruption_share,
            disruption_per_rep_share=model.disruption_per_rep if spec.disruption_measure is not None else None,
            contiguity=model.contiguity,
            locks=model.locks,
            skills=spec.skills,
            families=model.families,
            standing=self.standing,
        )
        return audit(self.problem, assign, rules)

    def keeps_every_rule(self, assign: NDArray[np.int64]) -> bool:
        """Whether ``assign`` passes :meth:`findings` (a plan no solver made, such as a warm
        start or a search's, is taken only then)."""
        return all(f.ok for f in self.findings(assign))


def prepare(ctx: SolveContext, problem: Problem, spec: SolveSpec) -> Prepared:
    """Stand-alone units, pre-checks, centres and a start (see the module docstring)."""
    problem, spec, notes = stand_alone(problem, spec)
    model = spec.model
    exempt = model.exempt_seats(problem.n_seats)
    conflicts = prechecks(
        problem, model, disruption_measure=spec.disruption_measure, disruption_share=spec.disruption_share
    )
    conflicts, movement = realignment.budget_check(ctx, problem, spec, conflicts)
    if conflicts:
        explanation = Explanation(tuple(conflicts))
        msg = f"the scenario is infeasible:\n{explanation}"
        raise with_setting(InfeasibleError(msg, explanation), tuple(notes))
    if movement is not None and movement.must_move > 0:
        notes.append(f"realignment: {movement} (a lower bound for any plan)")
    if movement is not None and movement.borders_text():
        notes.append(f"realignment: {movement.borders_text()}")
    ctx.report("pre-checks")

    weight = model.weight(problem.n_units)
    standing = standing_units(problem, exempt)
    centres = initial_centres(problem, weight, ctx.seed, exclude=standing)
    for t in np.flatnonzero(exempt):
        # a standing territory's centre: the best of its units (the first locked unit was
        # often the far end of a piece joined to it, which cost its travel for nothing)
        members = np.flatnonzero(problem.lock == t)
        centres[t] = best_centre(problem, members, weight, members)[0]
    free_centres = bool((~problem.has_home & ~exempt).any())
    values, lims = limits(problem, model)
    need = None
    bands = replace(model, exempt=exempt, targets=None).bands(problem, capacity=False)
    if bands.tolerance and next(iter(bands.tolerance)) == problem.measure_names[0]:
        # each seat must be able to reach its lower band of the first measure
        need = np.maximum(bands.low[:, 0], 0.0)
    large = use_large(problem, model, ctx.settings.method)
    prep = Prepared(
        problem=problem,
        spec=spec,
        exempt=exempt,
        standing=standing,
        weight=weight,
        centres=centres,
        free_centres=free_centres,
        values=values,
        limits=lims,
        need=need,
        start=None,
        transport_bound=None,
        movement=movement,
        large=large,
        notes=tuple(notes),
    )
    try:
        return _with_start(ctx, prep)
    except InfeasibleError as exc:  # the start's search proved that no plan exists
        raise with_setting(exc, prep.notes) from None


def with_setting(exc: SolverError | InfeasibleError, notes: tuple[str, ...]) -> SolverError | InfeasibleError:
    """A "no plan found" or a proof that also says what it holds for: the units standing
    alone (their reps exempt from balance), the pieces joined to them and the band the other
    territories share, as the plan's notes would. A proof then holds for the scenario with
    those units standing alone (``oversized: fail`` asks for the one without), unless every
    conflict lies in a unit's own rules (:attr:`~territory_opt.diagnose.Conflict.unit_rule`)."""
    setting = [n for n in notes if not n.startswith("realignment:")]
    if not setting:
        return exc
    if isinstance(exc, InfeasibleError):
        explanation = exc.explanation
        if (
            isinstance(explanation, Explanation)
            and explanation.conflicts
            and all(c.unit_rule for c in explanation.conflicts)
        ):
            return exc  # a unit's own rules conflict: true whichever units stand alone
        return InfeasibleError(
            f"{exc}\nProved with these units standing alone (constraints.oversized: standalone; "
            "oversized: fail asks for the proof without them): " + "; ".join(setting) + ".",
            exc.explanation,
            exc.over_budget,
        )
    return SolverError(f"{exc}\nThe search worked with: " + "; ".join(setting) + ".", exc.over_budget)


def _with_start(ctx: SolveContext, prep: Prepared) -> Prepared:
    """``prep`` with a start: tree bisection for seats without homes on a graph, or the
    connected transport plan for fixed homes with contiguity (not for a realignment)."""
    problem, model = prep.problem, prep.spec.model
    if prep.free_centres and model.contiguity and not problem.has_home.any() and problem.edges is not None:
        # seats without homes on a graph: a balanced connected start by tree bisection
        start, excess = _bisection_start(ctx, prep)
        centres = medoids(problem, start, prep.centres, prep.weight, prep.exempt)
        ctx.report("bisection start")
        # centres searched for travel (after the first plan) only when the start already
        # meets every band: where balance itself is hard (US counties in 100-150
        # territories) the time goes to it
        searchable = excess == 0.0 and _search_applies(prep)
        return replace(prep, start=start, centres=centres, searchable=searchable)
    if model.contiguity and not prep.free_centres and not prep.spec.realign and not prep.large:
        # fixed homes with contiguity: the least-travel transport plan (min-cost flow over
        # every pair that pays), made connected and balanced by the exact search, is a far
        # better start than growing regions; kept only when it meets every band
        connected, bound = transport_contiguous_start(ctx, prep)
        if connected is not None:
            ctx.report("transport start (connected)")
        return replace(prep, start=connected, transport_bound=bound)
    return prep


def _search_applies(prep: Prepared) -> bool:
    """Whether :func:`searched_start` may pay: the objective is travel alone, a hard band
    applies, no unit is locked (but the standing ones), at least two seats choose their
    centres, and the map has between
    :data:`SEARCH_MIN_PAIRS` and :data:`~.centres.DESCENT_MAX_PAIRS` unit-seat pairs."""
    problem, model = prep.problem, prep.spec.model
    if [set(stage) for stage in prep.spec.stages] != [{"travel"}] or not any(r.hard for r in model.balance):
        return False
    if ((problem.lock >= 0) & ~prep.standing).any():
        # the relaxation ignores locks: a seat's centre could leave its locked units, which
        # the shipped start would then hold as islands (a review's grids lost their plans)
        return False
    pairs = problem.n_units * problem.n_seats
    return SEARCH_MIN_PAIRS <= pairs <= DESCENT_MAX_PAIRS and int((~problem.has_home & ~prep.exempt).sum()) >= 2


def searched_centres(ctx: SolveContext, prep: Prepared) -> tuple[NDArray[np.int64], list[NDArray[np.int64]]] | None:
    """The free seats' centres searched on the transport relaxation from ``prep.centres``
    (:func:`~.centres.transport_search`, on :data:`SEARCH_SHARE` of the limit) and the
    runners-up; ``prep.centres`` itself (the same array) when the search found nothing
    better, None when it does not apply (:func:`_search_applies`)."""
    problem, model = prep.problem, prep.spec.model
    if not _search_applies(prep):
        return None
    pairs = problem.n_units * problem.n_seats
    row = replace(model, exempt=prep.exempt, targets=None).bands(problem, capacity=False).rows()[0]
    clock, deadline, evals = search_budget(ctx, SEARCH_SHARE, pairs, SEARCH_EVALS)
    centres, before, after, runners_up = transport_search(
        problem,
        prep.centres,
        prep.weight,
        problem.measures[:, row.measure].astype(float),
        np.maximum(row.low, 0.0),
        row.high,
        prep.exempt,
        deadline=deadline,
        now=clock,
        seed=ctx.seed,
        exclude=prep.standing,
        max_evals=evals,
    )
    total = max(float(prep.weight.sum()), 1e-12)
    ctx.report("centres searched", relaxation_before=before / total, relaxation_after=after / total)
    if not after < before:
        return prep.centres, []
    return centres, runners_up


def searched_start(ctx: SolveContext, prep: Prepared) -> Prepared | None:
    """Chosen centres for travel: centres searched on the transport relaxation
    (:func:`~.centres.transport_search`, on :data:`SEARCH_SHARE` of the limit) and a start
    shipped to them and made connected and balanced (:func:`transport_contiguous_start`);
    None (keep the bisection start) when the objective is not travel alone, no hard band
    applies, the map is too large or too small (:data:`SEARCH_MIN_PAIRS`) for it, or that
    start misses a band at each of :data:`SEARCH_TRIES` centre sets.

    Location-allocation with whole units and contiguity takes 30-80 s a round on the US
    counties in 50 territories, so from a bisection start it ends far from good centres;
    the relaxation settles a round in 0.02 s. US counties, 50 territories, 300 s
    (2026-11-30): from the bisection start's medoids location-allocation ends at 102.0 km;
    from the centres searched here (98.1 km in the relaxation) at 100.5 km."""
    found = searched_centres(ctx, prep)
    if found is None or found[0] is prep.centres:
        return None
    centres, runners_up = found
    for option in [centres, *runners_up][:SEARCH_TRIES]:
        searched = replace(prep, centres=option)
        connected, _ = transport_contiguous_start(ctx, searched, repair_share=SEARCH_REPAIR_SHARE)
        if connected is not None:
            ctx.report("transport start (connected)")
            return replace(searched, start=connected)
    return None


#: :func:`searched_start`: its share of the time limit (a third of the time left at most),
#: and its flows at most in deterministic mode.
SEARCH_SHARE = 0.15
SEARCH_EVALS = 3_000
#: Below this many unit-seat pairs location-allocation itself settles within the limit and
#: the search only takes its time: state maps, 40 s, seed 3 (2026-11-30), Texas-16 40.67 km
#: without it against 40.73 with it, Georgia-8 42.51 against 42.56, California-12 26.16
#: against 26.54, Pennsylvania-10, Missouri-8 and Ohio-6 the same; US counties in 10
#: territories (31,000 pairs, 300 s) 288.4 against 288.0.
SEARCH_MIN_PAIRS = 20_000
#: The exact search's share of the limit to make the searched start connected and balanced
#: (it takes a second when it succeeds; the bisection start remains when no set works).
SEARCH_REPAIR_SHARE = 0.03
#: Centre sets tried for that start: the searched ones, then the runners-up of the search.
SEARCH_TRIES = 3


def stand_alone(problem: Problem, spec: SolveSpec) -> tuple[Problem, SolveSpec, list[str]]:
    """Units no balanced territory can hold stand alone with a seat (locked, the seat exempt
    from balance), or :class:`InfeasibleError` with the figures when the scenario says
    ``oversized: fail``: oversized units (above every band), then, with contiguity, stranded
    units (:func:`stand_stranded`). Pieces of the map cut off behind them join them
    (:func:`join_cut_off`); a piece joining moves the band of the rest, so the oversized
    units are looked for again until none is left."""
    model = spec.model
    exempt = np.zeros(problem.n_seats, dtype=bool)
    notes: list[str] = []
    for _ in range(problem.n_seats + problem.n_units):
        if model.contiguity and exempt.any():
            # pieces cut off behind the standing units join them first: a join moves the band
            # of the rest, and a unit of a piece that would join must not stand on its own seat
            problem, joined = join_cut_off(problem, model, exempt)
            if joined:
                notes += joined
                continue
        exempt, oversized = oversized_units(problem, model, exempt)
        if oversized:
            lines = [
                f"{problem.unit_ids[u]} ({problem.unit_names[u]}) has {v:,.0f} of {problem.measure_names[m]}, above the largest balance band {hi:,.0f}"
                for u, m, v, hi, _ in oversized
            ]
            if spec.oversized == "fail" or any(seat < 0 for *_, seat in oversized):
                msg = (
                    "a unit is larger than any territory's balance band, so no plan can balance it: "
                    + "; ".join(lines)
                    + ". Treatments: constraints.oversized: standalone (the unit becomes its own territory, exempt from balance), split the unit into its accounts (data.units: accounts), or change the number of seats."
                )
                raise with_setting(InfeasibleError(msg, Explanation(())), tuple(notes))
            lock = problem.lock.copy()
            for u, *_, seat in oversized:
                lock[u] = seat
            problem = replace(problem, lock=lock)
            notes += [f"stands alone (exempt from balance): {line}" for line in lines]
            continue
        if model.contiguity and spec.oversized == "standalone":
            problem, exempt, stranded = stand_stranded(problem, replace(model, exempt=exempt))
            if stranded:
                notes += stranded
                continue
        break  # nothing joined, nothing more stands alone: the band of the rest is final
    _refuse_an_empty_rest(problem, model, exempt, notes)
    model = replace(model, exempt=exempt)
    hard_rules = [r for r in model.balance if r.hard]
    if hard_rules and exempt.any():
        rest_target = targets(problem, exempt)[~exempt]
        r0 = hard_rules[0]
        notes.append(
            f"the other {int((~exempt).sum())} territories balance {problem.measure_names[r0.measure]} around "
            f"{_fmt_value(float(rest_target[:, r0.measure].mean()))} (±{100 * r0.tolerance:g}%), the standing units left out"
        )
    return problem, replace(spec, model=model), notes


def _refuse_an_empty_rest(problem: Problem, model: ModelSpec, exempt: NDArray[np.bool_], notes: list[str]) -> None:
    """InfeasibleError when the units standing alone leave the other seats nothing of a hard
    balance measure: their targets would be 0, and empty territories would pass as balanced
    (a review found such "plans", balanced around 0.00)."""
    hard = [r for r in model.balance if r.hard]
    if not hard or not exempt.any() or exempt.all():
        return
    rest = targets(problem, exempt)[~exempt]
    for rule in hard:
        if float(rest[:, rule.measure].sum()) <= 0:
            name = problem.measure_names[rule.measure]
            msg = (
                f"with the units standing alone, the other {int((~exempt).sum())} territories would share no "
                f"{name}: no territory of theirs can be balanced. Treatments: fewer seats, a wider tolerance, or "
                "finer units (data.units: accounts)"
            )
            explanation = Explanation((Conflict("balance", msg, None),))
            raise with_setting(
                InfeasibleError(f"the scenario is infeasible:\n{explanation}", explanation), tuple(notes)
            )


def stand_stranded(problem: Problem, spec: ModelSpec) -> tuple[Problem, NDArray[np.bool_], list[str]]:
    """Stranded units (:func:`~territory_opt.solve.bounds.stranded_units`: every connected
    group of units holding one misses the band, proved by enumerating the groups) stand
    alone like oversized ones, the largest first, one at a time (the band of the rest moves
    with each), with the pieces cut off behind them (US counties in 100 territories, ±5 %:
    Kings, then Queens with Nassau and Suffolk behind it). A stranded unit whose seat is
    taken by other locks, or that its seat may not serve, or that lies in a part of the map
    no whole number of territories fits (an island: the islands setting and the pre-checks
    answer for it), is left to the pre-checks."""
    from .bounds import stranded_units

    exempt = spec.exempt_seats(problem.n_seats).copy()
    notes: list[str] = []
    while exempt.sum() < problem.n_seats - 1:
        found = stranded_units(problem, replace(spec, exempt=exempt), limit=problem.n_units)
        if not found:
            break
        found = _in_whole_parts(problem, exempt, found)
        if not found:
            break
        x = max(found, key=lambda f: problem.measures[f.unit, f.measure])
        u = x.unit
        seat = standalone_seat(problem, u, exempt)
        others = np.flatnonzero(problem.lock == seat)
        if seat < 0 or (others != u).any() or not problem.eligible(np.array([u]), np.array([seat]))[0]:
            break
        exempt[seat] = True
        lock = problem.lock.copy()
        lock[u] = seat
        problem = replace(problem, lock=lock)
        name = problem.measure_names[x.measure]
        above = f" or at least {_fmt_value(x.above)}" if np.isfinite(x.above) else ""
        notes.append(
            f"stands alone (exempt from balance): {problem.unit_ids[u]} ({problem.unit_names[u]}) has "
            f"{_fmt_value(float(problem.measures[u, x.measure]))} of {name} and fits no contiguous territory within the band "
            f"{_fmt_value(x.lo)} to {_fmt_value(x.hi)}: every connected group of units holding it has at most "
            f"{_fmt_value(x.below)}{above} (proved by enumerating those groups)"
        )
        problem, joined = join_cut_off(problem, spec, exempt)
        notes += joined
    return problem, exempt, notes


def _fmt_value(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _in_whole_parts(problem: Problem, exempt: NDArray[np.bool_], found: list[Stranded]) -> list[Stranded]:
    """The stranded units whose part of the map (without the standing units) holds a whole
    number of territories within the band (each finding's limits)."""
    from ..geo import components

    assert problem.edges is not None
    standing = standing_units(problem, exempt)
    e = problem.edges
    label = components(problem.n_units, e[~standing[e[:, 0]] & ~standing[e[:, 1]]])
    out = []
    for f in found:
        part = (label == label[f.unit]) & ~standing
        total = float(problem.measures[part, f.measure].sum())
        if int(np.ceil(total / f.hi - 1e-9)) <= int(np.floor(total / f.lo + 1e-9)):
            out.append(f)
    return out


def join_cut_off(problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_]) -> tuple[Problem, list[str]]:
    """Lock to a standing unit's seat every piece of the map that touches the rest only
    through standing units and that no whole number of territories fits, up to about one
    territory's worth (:func:`_cut_off_misfit`: smaller than the lowest band, or too large
    for one territory and too small for two, like Long Island behind Queens in US counties
    in 120-180 territories). No other territory can reach it, so without joining, the rest
    could not be balanced. The largest part of the map is the rest, never a piece."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if problem.edges is None or not exempt.any():
        return problem, []
    n = problem.n_units
    lock = problem.lock.copy()
    standing = (lock >= 0) & exempt[np.maximum(lock, 0)]
    e = problem.edges
    free = ~standing
    keep = free[e[:, 0]] & free[e[:, 1]]
    graph = coo_matrix((np.ones(int(keep.sum())), (e[keep, 0], e[keep, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    hard = [r for r in spec.balance if r.hard]
    if not hard:
        return problem, []
    m = hard[0].measure
    bands = replace(spec, exempt=exempt, targets=None).bands(problem, capacity=False)
    lo, hi = float(bands.low[~exempt, m].min()), float(bands.high[~exempt, m].max())
    totals = np.bincount(label[free], weights=problem.measures[free, m], minlength=label.max() + 1)
    cross = standing[e[:, 0]] ^ standing[e[:, 1]]
    notes = []
    parts = np.unique(label[free])
    # the rest of the map: the largest part never joins (on a state's map split by standing
    # units, joining every part would leave the other seats empty)
    main = int(parts[np.argmax(totals[parts])]) if len(parts) else -1
    for c in parts:
        if c == main or not _cut_off_misfit(float(totals[c]), lo, hi):
            continue
        members = np.flatnonzero(free & (label == c))
        if (lock[members] >= 0).any():
            continue
        inside = np.isin(e[:, 0], members) | np.isin(e[:, 1], members)
        touch = e[cross & inside].ravel()
        touch = touch[standing[touch]]
        if len(touch) == 0:
            continue  # an island on its own: the islands setting handles it
        unit = int(np.bincount(touch).argmax())
        lock[members] = lock[unit]
        names = ", ".join(str(x) for x in problem.unit_names[members[:4]]) + (
            f" and {len(members) - 4} more" if len(members) > 4 else ""
        )
        why = (
            "hold too little to be a territory"
            if totals[c] < lo
            else f"hold {_fmt_value(float(totals[c]))} of {problem.measure_names[m]}, which no whole number of territories "
            f"within the band {_fmt_value(lo)} to {_fmt_value(hi)} fits"
        )
        notes.append(
            f"{len(members)} unit(s) ({names}) reach the rest of the map only through {problem.unit_names[unit]}, which stands alone, "
            f"and {why}: they join {problem.seat_ids[lock[unit]]}'s territory (exempt from balance)"
        )
    return replace(problem, lock=lock), notes


def _cut_off_misfit(total: float, lo: float, hi: float) -> bool:
    """Whether a cut-off part of ``total`` joins its standing unit: below the lowest band
    (too small for a territory), or above the highest and below two lowest (too large for
    one territory, too small for two: no whole number of territories fits it). Larger parts
    that fit no whole number are left to the pre-checks: joining them would give one rep
    several territories' worth."""
    if total < lo:
        return True
    return bool(np.isfinite(hi)) and hi < total * (1 - 1e-9) and total < 2 * lo * (1 - 1e-9)


#: Tree bisections drawn for a start on a graph without homes (seeds and split rules
#: alternate), the one furthest inside the bands kept. One draw is a matter of luck on
#: coarse maps: US counties in 100 territories (±5 %, Kings and Queens standing alone),
#: the exact search balanced 5 of 6 single draws (seeds 0-2, both rules) in 25 s, the
#: least-excess of 12 draws in 2.6 s; each draw took 0.4 s (1 s at 200 territories).
BISECTION_DRAWS = 6


def _bisection_start(ctx: SolveContext, prep: Prepared) -> tuple[NDArray[np.int64], float]:
    """The least-excess of :data:`BISECTION_DRAWS` tree bisections split by the first hard
    measure (halves, then any seat count within its band: :func:`bisection_partition`),
    drawn within a twentieth of the limit (all of them in deterministic mode), and its
    excess (the load outside the hard bands, in seats' targets; 0 when it meets them)."""
    problem, model = prep.problem, prep.spec.model
    free_units = np.flatnonzero(~prep.standing)
    seats = np.flatnonzero(~prep.exempt)
    hard = [r for r in model.balance if r.hard]
    weight = problem.measures[:, hard[0].measure] if hard else prep.weight
    bands = replace(model, exempt=prep.exempt, targets=None).bands(problem, capacity=False)
    t0 = time.perf_counter()
    best, best_excess = None, np.inf
    for draw in range(BISECTION_DRAWS if hard else 1):
        tolerance = hard[0].tolerance if hard and draw % 2 else None
        start = bisection_partition(problem, weight, seats, free_units, seed=ctx.seed + draw // 2, tolerance=tolerance)
        start[prep.standing] = problem.lock[prep.standing]
        excess = 0.0
        for r in hard:
            # the load outside each seat's band, in seats' targets
            load = np.bincount(
                start[free_units], weights=problem.measures[free_units, r.measure], minlength=problem.n_seats
            )
            low, high = bands.low[seats, r.measure], bands.high[seats, r.measure]
            outside = np.maximum(low - load[seats], 0) + np.maximum(load[seats] - high, 0)
            excess += float(outside.sum() / max(float(high.mean()), 1e-12))
        if excess < best_excess:
            best, best_excess = start, excess
        if best_excess == 0.0 or (not ctx.deterministic and time.perf_counter() - t0 > 0.05 * ctx.time_limit):
            break
    assert best is not None
    return best, best_excess


#: Share of the limit the transport start's repair may use. When it has not balanced the
#: plan by then, region growing and the exact search usually do so faster (US counties,
#: roster seed 2: the repair failed after 27 s, the exact search from region growing then
#: balanced in under a second).
TRANSPORT_REPAIR_SHARE = 0.2


def transport_contiguous_start(
    ctx: SolveContext, prep: Prepared, repair_share: float = 0.0
) -> tuple[NDArray[np.int64] | None, float | None]:
    """A start from the least-travel transport plan, made connected and balanced by the
    exact search (None when it does not meet every band in time), and the transport
    relaxation's Lagrangian bound on travel (valid for the real problem: every eligible
    pair is priced, contiguity and the other measures are dropped)."""
    problem, spec, centres, exempt = prep.problem, prep.spec.model, prep.centres, prep.exempt
    limit = ctx.time_limit
    hard = [r for r in spec.balance if r.hard]
    if not hard:
        return None, None
    row = replace(spec, exempt=exempt, targets=None).bands(problem, capacity=False).rows()[0]
    m = row.measure
    lo, hi = np.maximum(row.low, 0.0), row.high
    weight = spec.weight(problem.n_units)
    cand = fit_filter(
        problem,
        exempt_filter(problem, build_candidates(problem, centres, nearest=8, need=prep.need), exempt),
        prep.values,
        prep.limits,
        exempt,
        seat_positions(problem, centres),
    )
    budget = min(10.0, 0.1 * limit)
    clock_deadline = None if ctx.deterministic else time.perf_counter() + budget
    tr = transport_start(
        problem,
        cand,
        groups(problem, problem.measures[:, m], families=spec.families),
        weight,
        seat_positions(problem, centres),
        lo,
        hi,
        deadline=clock_deadline,
        exempt=exempt,
    )
    share = repair_share or TRANSPORT_REPAIR_SHARE
    clock, until = ctx.search_clock(lambda: min(ctx.deadline - 0.3 * limit, ctx.now() + share * limit), problem.n_units)
    rounds, stall = ctx.search_counts()
    found = balance_search(
        problem,
        spec,
        tr.assign,
        pos=seat_positions(problem, centres),
        deadline=until,
        now=clock,
        seed=ctx.seed,
        anchors=centres,
        max_rounds=rounds,
        max_stall=stall,
        workers=ctx.workers,
        deterministic=ctx.deterministic,
        windows=False,  # the first plan comes sooner without them (US counties: 30 s, not 45 s)
    )
    bound = tr.bound / max(float(weight.sum()), 1e-12) if problem.has_home[~exempt].all() else None
    raise_if_pocket(ctx, problem, spec, centres, exempt, found)
    if found.violation > EXACT_EPS:
        return None, bound
    # the repair traded travel for balance: recombine adjacent pairs for travel, in band
    polish_clock, until = ctx.search_clock(
        lambda: min(ctx.deadline - 0.3 * limit, ctx.now() + 0.15 * limit), problem.n_units
    )
    polished = improve_travel(
        problem,
        spec,
        found.assign,
        pos=seat_positions(problem, centres),
        deadline=until,
        now=polish_clock,
        seed=ctx.seed,
        max_passes=3 if ctx.deterministic else 30,
    )
    return polished, bound
