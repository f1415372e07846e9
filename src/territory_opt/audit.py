"""An independent audit of a plan: every invariant recomputed from the raw problem arrays
and the assignment alone, never from the solver's model. It runs after every solve and is
the tests' oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .metrics import territory_connected
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


@dataclass(frozen=True)
class Finding:
    """One audit result: ``check`` name, ``ok``, and a sentence with the figures."""

    check: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.check}: {self.detail}"


def audit(problem: Problem, assign: NDArray[np.int64], rules: Rules) -> tuple[Finding, ...]:
    """Check every invariant; see :class:`Finding`."""
    n, k = problem.n_units, problem.n_seats
    assign = np.asarray(assign)
    out: list[Finding] = []
    valid = (
        assign.shape == (n,) and np.issubdtype(assign.dtype, np.integer) and bool(np.all((assign >= 0) & (assign < k)))
    )
    out.append(
        Finding(
            "assignment",
            valid,
            f"{n} units each assigned to exactly one of {k} territories"
            if valid
            else "some units are unassigned or assigned to an unknown territory",
        )
    )
    if not valid:
        return tuple(out)

    if rules.locks:
        locked = np.flatnonzero(problem.lock >= 0)
        broken = locked[assign[locked] != problem.lock[locked]]
        out.append(
            Finding(
                "locks",
                len(broken) == 0,
                f"{len(locked) - len(broken)}/{len(locked)} locked units kept"
                + (f"; broken: {', '.join(map(str, problem.unit_ids[broken][:5]))}" if len(broken) else ""),
            )
        )
    if rules.skills:
        bad = np.flatnonzero(~problem.eligible(np.arange(n), assign))
        out.append(
            Finding(
                "skills",
                len(bad) == 0,
                "every unit's required skills are held by its rep"
                if len(bad) == 0
                else f"{len(bad)} units assigned to a rep without the required skill (e.g. {problem.unit_ids[bad[0]]})",
            )
        )
    if len(problem.exclusions):
        hit = assign[problem.exclusions[:, 0]] == problem.exclusions[:, 1]
        out.append(Finding("exclusions", not hit.any(), f"{int(hit.sum())} excluded pairs used"))
    if rules.families and (problem.family >= 0).any():
        fam = problem.family
        split = [f for f in np.unique(fam[fam >= 0]) if len(np.unique(assign[fam == f])) > 1]
        out.append(Finding("families", not split, f"{len(np.unique(fam[fam >= 0]))} families, {len(split)} split"))

    for name, tol in rules.tolerance.items():
        j = problem.measure_names.index(name)
        load = np.bincount(assign, weights=problem.measures[:, j], minlength=k)
        target = rules.targets[:, j]
        slack = BALANCE_EPS * np.maximum(target, 1.0)
        lo, hi = (1 - tol) * target - slack, (1 + tol) * target + slack
        bad = np.flatnonzero(((load < lo) | (load > hi)) & ~rules.exempt)
        safe = np.where(target > 0, target, 1.0)
        dev = np.where(target > 0, 100 * (load / safe - 1), 0.0)
        dev[rules.exempt] = 0.0
        worst = float(np.abs(dev).max()) if k else 0.0
        out.append(
            Finding(
                f"balance:{name}",
                len(bad) == 0,
                f"worst deviation {worst:.2f}% vs tolerance ±{100 * tol:g}%"
                + (f"; outside: {', '.join(map(str, problem.seat_ids[bad][:5]))}" if len(bad) else ""),
            )
        )
    for name, cap in rules.capacity.items():
        j = problem.measure_names.index(name)
        load = np.bincount(assign, weights=problem.measures[:, j], minlength=k)
        limit = cap * problem.seat_capacity * (1 + BALANCE_EPS)
        bad = np.flatnonzero(load > limit)
        out.append(
            Finding(
                f"capacity:{name}",
                len(bad) == 0,
                f"highest use {100 * float((load / np.maximum(cap * problem.seat_capacity, 1e-12)).max()):.1f}% of cap"
                + (f"; over: {', '.join(map(str, problem.seat_ids[bad][:5]))}" if len(bad) else ""),
            )
        )
    if rules.disruption_max_share is not None or rules.disruption_per_rep_share is not None:
        value = problem.measure(rules.disruption_measure or "units")
        has = problem.owner >= 0
        moved = has & (assign != problem.owner)
        total = float(value[has].sum())
        share = float(value[moved].sum()) / total if total > 0 else 0.0
        ok = rules.disruption_max_share is None or share <= rules.disruption_max_share + 1e-6
        out.append(
            Finding(
                "disruption",
                ok,
                f"{100 * share:.2f}% of {rules.disruption_measure or 'units'} moved"
                + (
                    f" (budget {100 * rules.disruption_max_share:g}%)" if rules.disruption_max_share is not None else ""
                ),
            )
        )
        if rules.disruption_per_rep_share is not None:
            worst = 0.0
            for r in np.unique(problem.owner[has]):
                mine = problem.owner == r
                book = float(value[mine].sum())
                if book > 0:
                    worst = max(worst, float(value[mine & moved].sum()) / book)
            out.append(
                Finding(
                    "disruption:per_rep",
                    worst <= rules.disruption_per_rep_share + 1e-6,
                    f"largest share of one rep's book moved {100 * worst:.2f}% (budget {100 * rules.disruption_per_rep_share:g}%)",
                )
            )
    if rules.contiguity:
        connected = territory_connected(problem, assign)
        ok = connected is not None and bool(connected.all())
        broken = [] if connected is None else [str(s) for s in problem.seat_ids[~connected]]
        out.append(
            Finding(
                "contiguity",
                ok,
                "every territory is one connected piece" if ok else f"not connected: {', '.join(broken[:5])}",
            )
        )
    return tuple(out)
