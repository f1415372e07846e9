"""An independent audit of a plan: every invariant recomputed from the raw problem arrays
and the assignment alone, never from the solver's model. It runs after every solve and is
the tests' oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .problem import Problem

#: Relative slack on balance bounds, covering the model's integer scaling of measures.
BALANCE_EPS = 1e-6


@dataclass(frozen=True)
class Rules:
    """What the plan promised: hard tolerances, caps, budgets, which families were on."""

    tolerance: dict[str, float]
    targets: NDArray[np.float64]
    exempt: NDArray[np.bool_]
    capacity: dict[str, float]
    disruption_measure: str | None = None
    disruption_max_share: float | None = None
    disruption_per_rep_share: float | None = None
    contiguity: bool = False
    locks: bool = True
    skills: bool = True
    families: bool = True
    #: units a seat standing alone may hold (its oversized unit and the pieces cut off
    #: behind it); None: not checked (a plan read back without the solve's preparation)
    standing: NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class Finding:
    """One audit result: ``check`` name, ``ok``, and a sentence with the figures."""

    check: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.check}: {self.detail}"


def audit(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> tuple[Finding, ...]:
    """Check every invariant, one named check after another; see :class:`Finding`. When the
    assignment itself is malformed, that is the only finding."""
    assign = np.asarray(assign)
    first = _assignment(problem, assign)
    if not first.ok:
        return (first,)
    checks = (_locks, _skills, _exclusions, _families, _standing, _balance, _capacity, _disruption, _contiguity)
    return (first, *(finding for check in checks for finding in check(problem, assign, rules)))


def keeps_unit_rules(problem: Problem, assign: NDArray[np.int64], *, locks: bool, families: bool) -> bool:
    """Whether a whole assignment keeps the rules on single units: locks (when on), skills,
    exclusions and families (when on); the same checks as :func:`audit`'s."""
    rules = Rules(
        tolerance={},
        targets=np.zeros((problem.n_seats, 0)),
        exempt=np.zeros(problem.n_seats, dtype=bool),
        capacity={},
        locks=locks,
        families=families,
    )
    checks = (_locks, _skills, _exclusions, _families)
    return all(finding.ok for check in checks for finding in check(problem, np.asarray(assign), rules))


def keeps_contiguity(problem: Problem, assign: NDArray[np.int64]) -> bool:
    """Whether every territory of a whole assignment is one piece (True without adjacency);
    the audit's own contiguity check."""
    connected = _connected(problem, np.asarray(assign))
    return connected is None or bool(connected.all())


def _assignment(problem: Problem, assign: NDArray[np.int64]) -> Finding:
    """Every unit in exactly one known territory."""
    n, k = problem.n_units, problem.n_seats
    valid = (
        assign.shape == (n,) and np.issubdtype(assign.dtype, np.integer) and bool(np.all((assign >= 0) & (assign < k)))
    )
    return Finding(
        "assignment",
        valid,
        f"{n} units each assigned to exactly one of {k} territories"
        if valid
        else "some units are unassigned or assigned to an unknown territory",
    )


def _locks(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    if not rules.locks:
        return []
    locked = np.flatnonzero(problem.lock >= 0)
    broken = locked[assign[locked] != problem.lock[locked]]
    detail = f"{len(locked) - len(broken)}/{len(locked)} locked units kept"
    if len(broken):
        detail += f"; broken: {', '.join(map(str, problem.unit_ids[broken][:5]))}"
    return [Finding("locks", len(broken) == 0, detail)]


def _standing(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    """A territory exempt from balance holds only what stands alone: its oversized unit
    and the pieces cut off behind it, nothing that could go to a balanced territory."""
    if rules.standing is None or not rules.exempt.any():
        return []
    extra = np.flatnonzero(rules.exempt[assign] & ~rules.standing)
    detail = f"{int(rules.exempt.sum())} territories stand alone with their oversized units only"
    if len(extra):
        detail = (
            f"{len(extra)} units sit in a territory standing alone (exempt from balance) without being "
            f"oversized or cut off behind it: {', '.join(map(str, problem.unit_ids[extra][:5]))}"
        )
    return [Finding("standing alone", len(extra) == 0, detail)]


def _skills(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    if not rules.skills:
        return []
    bad = np.flatnonzero(~problem.eligible(np.arange(problem.n_units), assign))
    detail = (
        "every unit's required skills are held by its rep"
        if len(bad) == 0
        else f"{len(bad)} units assigned to a rep without the required skill (e.g. {problem.unit_ids[bad[0]]})"
    )
    return [Finding("skills", len(bad) == 0, detail)]


def _exclusions(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    if not len(problem.exclusions):
        return []
    hit = assign[problem.exclusions[:, 0]] == problem.exclusions[:, 1]
    return [Finding("exclusions", not hit.any(), f"{int(hit.sum())} excluded pairs used")]


def _families(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    fam = problem.family
    if not rules.families or not (fam >= 0).any():
        return []
    split = [f for f in np.unique(fam[fam >= 0]) if len(np.unique(assign[fam == f])) > 1]
    return [Finding("families", not split, f"{len(np.unique(fam[fam >= 0]))} families, {len(split)} split")]


def _load(problem: Problem, assign: NDArray[np.int64], name: str) -> NDArray[np.float64]:
    """Each seat's total of measure ``name``, summed from the raw arrays."""
    j = problem.measure_names.index(name)
    return np.asarray(np.bincount(assign, weights=problem.measures[:, j], minlength=problem.n_seats), dtype=np.float64)


def _seats_named(problem: Problem, seats: NDArray[np.int64], word: str) -> str:
    """``"; outside: R01, R07"``: the first five seats at fault, or nothing."""
    return f"; {word}: {', '.join(map(str, problem.seat_ids[seats][:5]))}" if len(seats) else ""


def _balance(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    """Each balanced measure's load within its band around the promised targets (exempt
    seats excepted)."""
    k = problem.n_seats
    out = []
    for name, tol in rules.tolerance.items():
        load = _load(problem, assign, name)
        target = rules.targets[:, problem.measure_names.index(name)]
        slack = BALANCE_EPS * np.maximum(target, 1.0)
        lo, hi = (1 - tol) * target - slack, (1 + tol) * target + slack
        bad = np.flatnonzero(((load < lo) | (load > hi)) & ~rules.exempt)
        safe = np.where(target > 0, target, 1.0)
        dev = np.where(target > 0, 100 * (load / safe - 1), 0.0)
        dev[rules.exempt] = 0.0
        worst = float(np.abs(dev).max()) if k else 0.0
        detail = f"worst deviation {worst:.2f}% vs tolerance ±{100 * tol:g}%" + _seats_named(problem, bad, "outside")
        out.append(Finding(f"balance:{name}", len(bad) == 0, detail))
    return out


def _capacity(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    out = []
    for name, cap in rules.capacity.items():
        load = _load(problem, assign, name)
        limit = cap * problem.seat_capacity * (1 + BALANCE_EPS)
        bad = np.flatnonzero(load > limit)
        use = 100 * float((load / np.maximum(cap * problem.seat_capacity, 1e-12)).max())
        detail = f"highest use {use:.1f}% of cap" + _seats_named(problem, bad, "over")
        out.append(Finding(f"capacity:{name}", len(bad) == 0, detail))
    return out


def _disruption(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    """The share of today's value moved within the budget, overall and per rep's book."""
    if rules.disruption_max_share is None and rules.disruption_per_rep_share is None:
        return []
    value = problem.measure(rules.disruption_measure or "units")
    has = problem.owner >= 0
    moved = has & (assign != problem.owner)
    total = float(value[has].sum())
    share = float(value[moved].sum()) / total if total > 0 else 0.0
    ok = rules.disruption_max_share is None or share <= rules.disruption_max_share + 1e-6
    detail = f"{100 * share:.2f}% of {rules.disruption_measure or 'units'} moved"
    if rules.disruption_max_share is not None:
        detail += f" (budget {100 * rules.disruption_max_share:g}%)"
    out = [Finding("disruption", ok, detail)]
    if rules.disruption_per_rep_share is not None:
        worst = 0.0
        for r in np.unique(problem.owner[has]):
            mine = problem.owner == r
            book = float(value[mine].sum())
            if book > 0:
                worst = max(worst, float(value[mine & moved].sum()) / book)
        budget = rules.disruption_per_rep_share
        detail = f"largest share of one rep's book moved {100 * worst:.2f}% (budget {100 * budget:g}%)"
        out.append(Finding("disruption:per_rep", worst <= budget + 1e-6, detail))
    return out


def _contiguity(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> list[Finding]:
    if not rules.contiguity:
        return []
    connected = _connected(problem, assign)
    ok = connected is not None and bool(connected.all())
    broken = [] if connected is None else [str(s) for s in problem.seat_ids[~connected]]
    detail = "every territory is one connected piece" if ok else f"not connected: {', '.join(broken[:5])}"
    return [Finding("contiguity", ok, detail)]


def _connected(problem: Problem, assign: NDArray[np.int64]) -> NDArray[np.bool_] | None:
    """Whether each territory is one piece of the adjacency graph (empty counts as one); None
    without adjacency. The audit's own count, independent of :mod:`territory_opt.evaluate`."""
    if problem.edges is None:
        return None
    edges = problem.edges
    e = edges[assign[edges[:, 0]] == assign[edges[:, 1]]]
    n = problem.n_units
    graph = csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    pieces = np.array([len(np.unique(labels[assign == t])) for t in range(problem.n_seats)])
    return np.asarray(pieces <= 1, dtype=bool)
