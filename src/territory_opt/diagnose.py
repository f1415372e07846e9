"""Why a scenario is infeasible, in business words, with the figures.

Three steps: arithmetic pre-checks (fast, exact figures: "accounts locked to R7 carry
1,240 h of workload; R7's cap is 1,100 h"); then, if the solver still proves the model
infeasible, an *elastic* solve that lets balance, capacity and disruption stretch and
reports by how much each must be relaxed; and if that is infeasible too, a solve with one
guard literal per constraint family whose infeasible core names the families in conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from .evaluate import Bands, edge, standing_units, targets
from .model import Candidates, Contiguity, ModelSpec, build
from .model.candidates import allowed_seats
from .model.cpsat import run
from .problem import Problem


@dataclass(frozen=True)
class Conflict:
    """One reason for infeasibility.

    Attributes
    ----------
    family : str
        Constraint family (``balance``, ``capacity``, ``locks``, ``skills``, ``exclusions``,
        ``families``, ``disruption``, ``contiguity``, ``oversized``).
    message : str
        The reason in business words, with figures.
    relax_to : float or None
        The smallest setting that would be feasible, when known (a tolerance share, a
        budget share, a cap).
    unit_rule : bool
        The conflict lies in one unit's or one family's own rules (its lock, skills,
        exclusions): it holds whatever the bands, and whichever units stand alone.
    """

    family: str
    message: str
    relax_to: float | None = None
    unit_rule: bool = False

    def __str__(self) -> str:
        return f"[{self.family}] {self.message}"


@dataclass(frozen=True)
class Explanation:
    conflicts: tuple[Conflict, ...]

    def __str__(self) -> str:
        return "\n".join(f"  - {c}" for c in self.conflicts)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.family for c in self.conflicts))


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def oversized_units(
    problem: Problem, spec: ModelSpec, exempt: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.bool_], list[tuple[int, int, float, float, int]]]:
    """Units larger than the upper band of any seat for a hard measure.

    Returns the seats to stand alone (one per oversized unit) and, per unit, ``(unit,
    measure, value, upper band, seat)`` (seat -1 when no seat is left for it). Targets are recomputed after each exemption, since a
    unit standing alone takes its activity and its seat out of the split. ``exempt``: seats
    already standing alone (their locked units out of the split), to go on from.
    """
    exempt = np.zeros(problem.n_seats, dtype=bool) if exempt is None else exempt.copy()
    found: list[tuple[int, int, float, float, int]] = []
    hard = [r for r in spec.balance if r.hard]
    lock = problem.lock.copy()
    taken: set[int] = set(np.flatnonzero((lock >= 0) & exempt[np.maximum(lock, 0)]).tolist())
    tolerance = {problem.measure_names[r.measure]: r.tolerance for r in hard}
    while True:
        bands = Bands.from_problem(replace(problem, lock=lock), tolerance, exempt=exempt)
        worst = None
        for rule in hard:
            hi = bands.high[~exempt, rule.measure].max(initial=0.0)
            values = problem.measures[:, rule.measure].copy()
            values[list(taken)] = 0.0
            u = int(np.argmax(values))
            if values[u] > hi + edge(hi) and (worst is None or values[u] / hi > worst[2] / worst[3]):
                worst = (u, rule.measure, float(values[u]), float(hi), -1)
        if worst is None or exempt.sum() >= problem.n_seats - 1:
            return exempt, found
        u = worst[0]
        seat = standalone_seat(problem, u, exempt)
        if seat < 0:
            return exempt, [*found, worst]
        exempt[seat] = True
        lock[u] = seat
        taken.add(u)
        found.append((*worst[:4], seat))


def standalone_seat(problem: Problem, unit: int, exempt: NDArray[np.bool_]) -> int:
    """The seat an oversized unit stands alone with: its lock (always: a lock is never
    broken, even if another oversized unit already stands there), its owner, else the
    nearest seat that no other unit is locked to (a seat without home base first); only a
    seat the unit may take (skills, exclusions, its family's). (The first free seat was
    taken even when the unit was excluded from it, and the scenario then read as infeasible.)"""
    if problem.lock[unit] >= 0:
        return int(problem.lock[unit])
    legal = np.zeros(problem.n_seats, dtype=bool)
    legal[allowed_seats(problem, unit)] = True
    owner = problem.owner[unit]
    if owner >= 0 and not exempt[owner] and legal[owner]:
        return int(owner)
    locked_to = np.zeros(problem.n_seats, dtype=bool)
    locked_to[problem.lock[problem.lock >= 0]] = True
    for avoid in (locked_to | ~legal, ~legal):
        free = np.flatnonzero(~problem.has_home & ~exempt & ~avoid)
        if len(free):
            return int(free[0])
        d = np.linalg.norm(problem.seat_xy - problem.unit_xy[unit], axis=1)
        d[exempt | avoid] = np.inf
        if np.isfinite(d).any():
            return int(np.argmin(d))
    return -1


def prechecks(
    problem: Problem, spec: ModelSpec, *, disruption_measure: str | None = None, disruption_share: float | None = None
) -> list[Conflict]:
    """Arithmetic conflicts found without solving (each with figures), from the named
    checks in this order: units with no legal seat, locks above a band or a cap, capacity
    against the book and the bands, skill supply, families, a disruption budget against
    the books above their band, parts of the map and stranded units (contiguity), forced moves."""
    out = unservable_units(problem, spec)
    if spec.locks:
        out += locked_above_band(problem, spec) + locked_above_cap(problem, spec)
    out += capacity_shortfall(problem, spec)
    out += skill_shortfall(problem, spec)
    if spec.families and (problem.family >= 0).any() and spec.locks:
        out += family_conflicts(problem, spec)
    out += overloaded_books(problem, spec, disruption_measure=disruption_measure, disruption_share=disruption_share)
    if spec.contiguity:
        out += unreachable_parts(problem, spec) + stranded_conflicts(problem, spec)
    out += forced_moves(problem, spec, disruption_measure=disruption_measure, disruption_share=disruption_share)
    return out


def unservable_units(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """Units with no legal seat at all: their lock, required skills or exclusions (their
    own, or their family's) rule out every seat (skills checked once per distinct skill
    set; at most 21 named). A unit locked to a seat it is excluded from is named with both."""
    masks, inverse = np.unique(problem.unit_skills, return_inverse=True)
    servable = np.array([((m & ~problem.seat_skills) == 0).any() for m in masks])[inverse]
    if spec.locks:
        locked = problem.lock >= 0
        servable[locked] = problem.eligible(np.flatnonzero(locked), problem.lock[locked])
    why: dict[int, str] = {}
    if len(problem.exclusions):
        excluded = set(problem.exclusions[:, 0].tolist())
        fam = problem.family
        families = set(fam[list(excluded)].tolist()) - {-1}
        touched = excluded | set(np.flatnonzero(np.isin(fam, list(families))).tolist())
        # the seats a unit may take, its family's rules too (locks only when they hold)
        rules = problem if spec.locks else replace(problem, lock=np.full(problem.n_units, -1))
        for u in sorted(touched):
            if not servable[u] or len(allowed_seats(rules, u)):
                continue
            servable[u] = False
            group = np.flatnonzero(fam == fam[u]) if fam[u] >= 0 else np.array([u])
            own = problem.lock[u] if spec.locks else -1
            if own >= 0 and ((problem.exclusions[:, 0] == u) & (problem.exclusions[:, 1] == own)).any():
                seat = problem.seat_ids[own]
                why[u] = f"it is locked to {seat!s} and excluded from {seat!s}: remove the lock or the exclusion"
            else:
                parts = [f"its lock to {problem.seat_ids[own]!s}"] if own >= 0 else []
                parts += ["its required skills"] if problem.unit_skills[u] else []
                parts += ["its exclusions"] + (["its family's"] if len(group) > 1 else [])
                rule = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
                why[u] = f"{rule} rule out every seat: remove an exclusion" + (" or a lock" if own >= 0 else "")
    return [
        Conflict(
            "exclusions" if u in why else "skills",
            f"unit {problem.unit_ids[u]!r} can go to no rep: "
            + why.get(u, "its lock or required skills rule out every seat"),
            unit_rule=True,
        )
        for u in np.flatnonzero(~servable)[:21]
    ]


def locked_above_band(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """Seats whose locked units alone carry more than the upper balance band."""
    out = []
    k, names = problem.n_seats, problem.measure_names
    bands = spec.bands(problem, hard=True, capacity=False)
    target = bands.target
    locked = problem.lock >= 0
    for rule in spec.balance:
        if not rule.hard:
            continue
        m = rule.measure
        load = np.bincount(problem.lock[locked], weights=problem.measures[locked, m], minlength=k)
        hi = bands.high[:, m]  # +inf for exempt seats
        for t in np.flatnonzero(load > hi + edge(hi)):
            need = load[t] / target[t, m] - 1
            out.append(
                Conflict(
                    "locks",
                    f"units locked to {problem.seat_ids[t]} carry {_fmt(load[t])} of {names[m]}; the balance band allows at most {_fmt(hi[t])} (±{100 * rule.tolerance:g}%)",
                    need,
                )
            )
    return out


def locked_above_cap(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """Seats whose locked units alone carry more than the seat's capacity cap."""
    out = []
    locked = problem.lock >= 0
    bands = spec.bands(problem, hard=True, capacity=True)
    for m, _cap in spec.capacity:
        load = np.bincount(problem.lock[locked], weights=problem.measures[locked, m], minlength=problem.n_seats)
        limit = bands.cap[:, m]
        for t in np.flatnonzero(load > limit + edge(limit)):
            out.append(
                Conflict(
                    "capacity",
                    f"units locked to {problem.seat_ids[t]} carry {_fmt(load[t])} of {problem.measure_names[m]}; {problem.seat_ids[t]}'s cap is {_fmt(limit[t])}",
                    float(load[t] / problem.seat_capacity[t]),
                )
            )
    return out


def capacity_shortfall(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """Per capped measure: the book against the team's capacity, and balance bands whose
    lower end is above a seat's cap (at most 5 seats named per measure)."""
    out = []
    names, fte = problem.measure_names, problem.seat_capacity
    bands = spec.bands(problem, hard=True, capacity=True)
    for m, cap in dict(spec.capacity).items():
        total = problem.measures[:, m].sum()
        room = float((cap * fte).sum())
        if total > room + edge(room):
            out.append(
                Conflict(
                    "capacity",
                    f"total {names[m]} is {_fmt(total)} but the team's capacity is {_fmt(room)} ({_fmt(cap)} per FTE × {fte.sum():g} FTE); add seats or raise the cap to {_fmt(total / fte.sum())} per FTE",
                    float(total / fte.sum()),
                )
            )
        for rule in spec.balance:
            if rule.hard and rule.measure == m:
                lo, limit = bands.low[:, m], bands.cap[:, m]  # low is -inf for exempt seats
                for t in np.flatnonzero(lo > limit + edge(limit) + edge(lo))[:5]:
                    out.append(
                        Conflict(
                            "capacity",
                            f"balance asks {problem.seat_ids[t]} for at least {_fmt(lo[t])} of {names[m]} but its cap is {_fmt(limit[t])}",
                        )
                    )
    return out


def skill_shortfall(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """Per skill in use (named or not): what needs it against what the seats holding it can
    take within their upper bands."""
    out = []
    bands = spec.bands(problem, hard=True, capacity=False)
    exempt = bands.exempt
    n_bits = int(np.max(problem.unit_skills, initial=0)).bit_length()
    for b in range(n_bits):  # every skill bit in use, named or not (plain-array problems)
        skill = problem.skill_names[b] if b < len(problem.skill_names) else f"#{b + 1}"
        need = (problem.unit_skills >> b) & 1 == 1
        if not need.any():
            continue
        have = ((problem.seat_skills >> b) & 1 == 1) & ~exempt
        for rule in spec.balance:
            if not rule.hard:
                continue
            m = rule.measure
            demand = problem.measures[need, m].sum()
            supply = bands.high[have, m].sum()
            if demand > supply + edge(supply):
                out.append(
                    Conflict(
                        "skills",
                        f"units needing skill {skill!r} carry {_fmt(demand)} of {problem.measure_names[m]}, but the {int(have.sum())} rep(s) with that skill{' (not counting reps holding an oversized unit alone)' if exempt.any() else ''} can hold at most {_fmt(supply)} within ±{100 * rule.tolerance:g}%",
                    )
                )
    return out


def family_conflicts(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """Families (kept together) with members locked to different reps, or needing skills
    no single rep holds together."""
    out = []
    for f in np.unique(problem.family[problem.family >= 0]):
        members = problem.family == f
        first = problem.unit_ids[np.flatnonzero(members)[0]]
        locks = np.unique(problem.lock[members & (problem.lock >= 0)])
        if len(locks) > 1:
            ids = ", ".join(map(str, problem.seat_ids[locks]))
            out.append(
                Conflict(
                    "families", f"family of {first!r} has members locked to different reps ({ids})", unit_rule=True
                )
            )
        need = np.bitwise_or.reduce(problem.unit_skills[members])
        if not ((need & ~problem.seat_skills) == 0).any():
            out.append(
                Conflict("families", f"family of {first!r} needs skills no single rep has together", unit_rule=True)
            )
    return out


def overloaded_books(
    problem: Problem, spec: ModelSpec, *, disruption_measure: str | None, disruption_share: float | None
) -> list[Conflict]:
    """A rep whose current book exceeds their balance band must give the excess away:
    against the per-rep budget, and in total against the overall budget (when the budget's
    measure is a balanced one)."""
    if spec.disruption_value is None or (disruption_share is None and spec.disruption_per_rep is None):
        return []
    out = []
    value, k = spec.disruption_value, problem.n_seats
    bands = spec.bands(problem, hard=True, capacity=False)
    has = problem.owner >= 0
    book_total = float(value[has].sum())
    forced_total = 0.0
    for rule in spec.balance:
        if not rule.hard or not np.allclose(problem.measures[:, rule.measure], value):
            continue
        hi = bands.high[:, rule.measure]  # +inf for exempt seats
        book = np.bincount(problem.owner[has], weights=value[has], minlength=k)
        excess = np.maximum(book - hi - edge(hi), 0.0)
        forced_total = max(forced_total, float(excess.sum()))
        if spec.disruption_per_rep is None:
            continue
        for t in np.flatnonzero(book > 0):
            share = excess[t] / book[t]
            if share > spec.disruption_per_rep + 1e-9:
                out.append(
                    Conflict(
                        "disruption",
                        f"{problem.seat_ids[t]} holds {_fmt(book[t])} of {problem.measure_names[rule.measure]} today but the balance band allows {_fmt(hi[t])}, so {100 * share:.1f}% of the book must move; the per-rep budget is {100 * spec.disruption_per_rep:g}%",
                        share,
                    )
                )
    if disruption_share is not None and book_total > 0 and forced_total / book_total > disruption_share + 1e-9:
        out.append(
            Conflict(
                "disruption",
                f"reps above their balance band hold {100 * forced_total / book_total:.1f}% of {disruption_measure} more than the band allows, which must move; the budget is {100 * disruption_share:g}%",
                forced_total / book_total,
            )
        )
    return out


def forced_moves(
    problem: Problem, spec: ModelSpec, *, disruption_measure: str | None, disruption_share: float | None
) -> list[Conflict]:
    """Moves no plan avoids (locks to another rep, owners lacking a required skill, units
    excluded from their owner) against the overall disruption budget."""
    if disruption_share is None or spec.disruption_value is None:
        return []
    has = problem.owner >= 0
    everyone, today = np.arange(problem.n_units), np.maximum(problem.owner, 0)
    forced = has & (~problem.eligible(everyone, today) | problem.excluded(everyone, today))
    if spec.locks:
        forced |= has & (problem.lock >= 0) & (problem.lock != problem.owner)
    total = float(spec.disruption_value[has].sum())
    moved = float(spec.disruption_value[forced].sum())
    if total > 0 and moved / total > disruption_share + 1e-9:
        return [
            Conflict(
                "disruption",
                f"{100 * moved / total:.1f}% of {disruption_measure} must move (locks to new reps, owners lacking a required skill, exclusions from today's owner) but the budget is {100 * disruption_share:g}%",
                moved / total,
            )
        ]
    return []


def unreachable_parts(problem: Problem, spec: ModelSpec | None = None) -> list[Conflict]:
    """Parts of the adjacency graph (an island, a peninsula cut off by the chosen states)
    that no whole number of contiguous territories can cover.

    A contiguous territory lies inside one part, so each part holds a whole number c of
    territories with c·(lowest band) ≤ its activity ≤ c·(highest band) for the first hard
    balance measure, and the parts together need no more territories than there are seats.
    Both are arithmetic facts about the real problem (no assumption about where a territory
    must lie), so a conflict here is proved.
    """
    if problem.edges is None or problem.n_units == 0:
        return []
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = problem.n_units
    e = problem.edges
    graph = csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    if count <= 1:
        return []
    k = problem.n_seats
    exempt = spec.exempt if spec is not None and spec.exempt is not None else np.zeros(k, dtype=bool)
    standing = standing_units(problem, exempt)
    hard = [r for r in spec.balance if r.hard] if spec is not None else []
    seats = int((~exempt).sum())
    parts = [c for c in range(count) if not standing[label == c].any()]
    need: dict[int, tuple[int, int]] = {}
    if hard:
        m = hard[0].measure
        bands = Bands.from_problem(problem, {problem.measure_names[m]: hard[0].tolerance}, exempt=exempt)
        lo, hi = float(bands.low[~exempt, m].min()), float(bands.high[~exempt, m].max())
        for c in parts:
            total = float(problem.measures[label == c, m].sum())
            need[c] = (
                int(np.ceil(total / hi - 1e-9)) if hi > 0 else 1,
                int(np.floor(total / lo + 1e-9)) if lo > 0 else seats,
            )
    else:
        need = dict.fromkeys(parts, (1, seats))
    out = []
    for c in sorted(parts, key=lambda c: int((label == c).sum())):
        low, high = need[c]
        if low <= high:
            continue
        members = np.flatnonzero(label == c)
        shown = ", ".join(str(x) for x in problem.unit_names[members[:6]])
        more = f" and {len(members) - 6} more" if len(members) > 6 else ""
        m = hard[0].measure
        share = 100 * float(problem.measures[members, m].sum()) / max(float(problem.measures[:, m].sum()), 1e-12)
        out.append(
            Conflict(
                "contiguity",
                f"a part of the map with {len(members)} unit(s) ({shown}{more}) touches no other part and holds "
                f"{share:.1f}% of {problem.measure_names[m]}: no whole number of contiguous territories fits it within "
                f"±{100 * hard[0].tolerance:g}% ({count} separate parts): add the neighbouring area "
                "(e.g. its state to data.states), set constraints.contiguity.islands: link (joins each part to "
                "its nearest unit), or loosen the tolerance",
            )
        )
        if len(out) >= 5:
            break
    total_need = sum(low for low, _ in need.values())
    if not out and total_need > seats:
        out.append(
            Conflict(
                "contiguity",
                f"the map has {count} separate parts that need at least {total_need} contiguous territories, "
                f"but there are {seats} seats: add seats, add the neighbouring areas, or set constraints.contiguity.islands: link",
            )
        )
    return out


def stranded_conflicts(problem: Problem, spec: ModelSpec) -> list[Conflict]:
    """:func:`~territory_opt.solve.bounds.stranded_units` in words: each unit no contiguous
    territory can hold within the bands, the totals that prove it, and the tolerance that
    would let one."""
    from .solve.bounds import stranded_units

    found = stranded_units(problem, spec)
    if not found:
        return []
    exempt = spec.exempt if spec.exempt is not None else np.zeros(problem.n_seats, dtype=bool)
    target = targets(problem, exempt)
    out = []
    for x in found:
        mean = float(target[~exempt, x.measure].mean())
        need = min(1 - x.below / mean if x.below > 0 else 1.0, x.above / mean - 1 if np.isfinite(x.above) else 1.0)
        name = problem.measure_names[x.measure]
        above = f"or at least {_fmt(x.above)}" if np.isfinite(x.above) else "(nothing larger is connected to it)"
        out.append(
            Conflict(
                "contiguity",
                f"{problem.unit_names[x.unit]} ({problem.unit_ids[x.unit]}) cannot be in any contiguous territory within the bands: "
                f"every connected group of units holding it has at most {_fmt(x.below)} {above} of {name}, "
                f"and the band is {_fmt(x.lo)} to {_fmt(x.hi)} (proved by enumerating those groups): loosen the tolerance "
                f"to about ±{100 * need:.1f}%, change the number of territories, or let it stand alone as its own territory, exempt "
                "from balance (constraints.oversized: standalone)",
                need,
            )
        )
    return out


def prove_infeasible(
    problem: Problem,
    spec: ModelSpec,
    cand: Candidates,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    deterministic: bool = False,
) -> Explanation | None:
    """An explanation when the scenario is *proved* infeasible for the planner's real
    problem, else None.

    ``cand`` must hold every legal (unit, seat) pair. The model drops contiguity (dropping
    a family of constraints only widens the set of plans) and keeps every other family, so
    it is a relaxation of the real problem: if CP-SAT proves it infeasible, so is the
    real problem, and the elastic solve of the same relaxation says how far to relax.
    """
    relaxed = replace(spec, contiguity=False)
    built = build(problem, cand, relaxed, None, objective_terms=set())
    if not confirmed_infeasible(built.model, time_limit, seed, deterministic=deterministic):
        return None
    return explain(problem, cand, relaxed, None, time_limit=time_limit, seed=seed, deterministic=deterministic)


def confirmed_infeasible(
    model: cp_model.CpModel,
    time_limit: float,
    seed: int,
    *,
    deterministic: bool = False,
    confirm_limit: float | None = None,
) -> bool:
    """CP-SAT proves ``model`` infeasible both with and without its presolve.

    OR-Tools 9.15 can answer INFEASIBLE with presolve for a model that has solutions
    (issue #5274; seen here on the US counties at 100 territories, where a greedy
    assignment meets every band): an "infeasible" we report must survive a second proof
    without presolve, else it is not claimed. The second solve gets ``confirm_limit``
    (default: ``time_limit``); without presolve a proof can take far longer (a pocket of
    26 counties: 0.07 s with presolve, 16 s without).
    """
    _, status = _solve_quick(model, time_limit, seed, deterministic=deterministic)
    if status != cp_model.INFEASIBLE:
        return False
    second = time_limit if confirm_limit is None else confirm_limit
    _, status = _solve_quick(model, second, seed, presolve=False, deterministic=deterministic)
    return status == cp_model.INFEASIBLE


def _solve_quick(
    model: cp_model.CpModel, time_limit: float, seed: int, *, presolve: bool = True, deterministic: bool = False
) -> tuple[cp_model.CpSolver, object]:
    """CP-SAT on ``model`` within ``time_limit`` [s]: two workers on the wall clock, or in
    deterministic mode one worker on deterministic time (the same answer every run)."""
    solver = cp_model.CpSolver()
    solver.parameters.cp_model_presolve = presolve
    solver.parameters.catch_sigint_signal = False  # Ctrl-C is ours (see Interrupt)
    if deterministic:
        solver.parameters.max_deterministic_time = time_limit
        solver.parameters.num_workers = 1
    else:
        solver.parameters.max_time_in_seconds = time_limit
        solver.parameters.num_workers = 2
    solver.parameters.random_seed = seed
    status = run(solver, model)
    return solver, status


def explain(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    contiguity: Contiguity | None,
    *,
    time_limit: float = 20.0,
    seed: int = 0,
    deterministic: bool = False,
) -> Explanation:
    """Relaxation amounts (elastic solve), else the families of an infeasible core."""
    conflicts = relaxation_amounts(
        problem, cand, spec, contiguity, time_limit=time_limit / 2, seed=seed, deterministic=deterministic
    )
    if conflicts:
        return Explanation(tuple(conflicts))
    return Explanation(
        tuple(
            conflicting_families(
                problem, cand, spec, contiguity, time_limit=time_limit, seed=seed, deterministic=deterministic
            )
        )
    )


def relaxation_amounts(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    contiguity: Contiguity | None,
    *,
    time_limit: float,
    seed: int,
    deterministic: bool = False,
) -> list[Conflict]:
    """How far each band, cap and budget must stretch: the elastic model (bands, caps and
    budgets may stretch, the stretch is minimised) within ``time_limit`` [s]; empty when it
    finds no plan or nothing needs to stretch."""
    built = build(problem, cand, spec, contiguity, objective_terms=set(), elastic=True)
    vars_, coefs, _ = built.terms.get("elastic", ([], [], 0.0))
    if vars_:
        scale = 1e4 / max(max(coefs), 1e-12)
        built.model.minimize(cp_model.LinearExpr.weighted_sum(vars_, [round(c * scale) for c in coefs]))
    solver, status = _solve_quick(built.model, time_limit, seed, deterministic=deterministic)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return []
    conflicts: list[Conflict] = []
    target = built.targets if built.targets is not None else targets(problem, spec.exempt)
    need: dict[int, float] = {}
    cap_over: dict[tuple[int, int], float] = {}
    moved_over = 0.0
    per_rep = spec.disruption_per_rep or 0.0
    for kind, t, m, var, unit in built.slack_vars:
        value = solver.value(var) * unit
        if value <= 1e-9:
            continue
        if kind == "disruption":
            moved_over = value
        elif kind == "disruption_rep":
            share = per_rep + value
            conflicts.append(
                Conflict(
                    "disruption",
                    f"{problem.seat_ids[t]} must give away about {100 * share:.1f}% of today's book; the per-rep budget is {100 * per_rep:g}%",
                    share,
                )
            )
        elif kind == "capacity":
            cap_over[(t, m)] = value
        elif any(r.measure == m and r.hard for r in spec.balance):
            rel = value / max(target[t, m], 1e-12)
            rule = next(r for r in spec.balance if r.measure == m)
            need[m] = max(need.get(m, 0.0), rule.tolerance + rel)
    for m, tol in need.items():
        asked = next(r.tolerance for r in spec.balance if r.measure == m)
        conflicts.append(
            Conflict(
                "balance",
                f"balance of {problem.measure_names[m]} cannot hold ±{100 * asked:g}% with the other constraints; the best plan needs about ±{100 * tol:.1f}%",
                round(tol + 0.0005, 3),
            )
        )
    for (t, m), over in cap_over.items():
        name = problem.measure_names[m]
        conflicts.append(Conflict("capacity", f"{problem.seat_ids[t]} must exceed its {name} cap by {_fmt(over)}"))
    if moved_over > 0 and spec.disruption_max is not None:
        total = float(spec.disruption_value[problem.owner >= 0].sum()) if spec.disruption_value is not None else 1.0
        share = (spec.disruption_max + moved_over) / max(total, 1e-12)
        conflicts.append(
            Conflict("disruption", f"the disruption budget must grow to about {100 * share:.1f}% of the book", share)
        )
    return conflicts


def conflicting_families(
    problem: Problem,
    cand: Candidates,
    spec: ModelSpec,
    contiguity: Contiguity | None,
    *,
    time_limit: float,
    seed: int,
    deterministic: bool = False,
) -> list[Conflict]:
    """The constraint families of an infeasible core (one guard literal per family), or
    why none could be named (``time_limit`` [s] is the whole diagnosis's, as told)."""
    built = build(problem, cand, spec, contiguity, objective_terms=set(), guarded=True)
    built.model.add_assumptions(list(built.guards.values()))
    solver, status = _solve_quick(built.model, time_limit / 2, seed, deterministic=deterministic)
    if status == cp_model.INFEASIBLE:
        core = {
            built.model.get_bool_var_from_proto_index(i).name for i in solver.sufficient_assumptions_for_infeasibility()
        }
        families = sorted(name.removeprefix("guard_") for name in core)
        if families:
            return [
                Conflict(
                    families[0],
                    f"these constraint families conflict: {', '.join(families)}; relax or switch off one of them",
                )
            ]
    if status == cp_model.UNKNOWN:
        return [
            Conflict(
                "model",
                f"the solver proved the model infeasible but could not tell within {time_limit:g} s which constraint family is to blame; raise solver.time_limit or candidates.nearest",
            )
        ]
    return [
        Conflict(
            "model",
            "no single family could be named; the candidate pruning may be too tight: raise candidates.nearest",
        )
    ]
