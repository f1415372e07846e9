"""The best plan a solve holds so far, and how two of them compare."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from ..model.candidates import Candidates

#: Provenance of an incumbent (:attr:`Incumbent.method`).
CP_SAT = "cp-sat"
EXACT_MODEL = "exact model"
WARM_START = "warm start"
EXACT_SEARCH = "exact contiguity search"
COMPANY_SCALE = "company scale"


@dataclass(frozen=True)
class Incumbent:
    """A plan satisfying every hard constraint, with what proves its quality.

    Attributes
    ----------
    assign : ndarray of int
        Seat of each unit.
    centres : ndarray of int
        Centre unit of each seat (its home's nearest unit, or the chosen centre).
    objectives : tuple of float
        The objective of each priority, in ranked order (one value when weighted); two
        incumbents compare lexicographically on it (:meth:`improves`). Empty when unknown
        (a warm start CP-SAT never improved).
    bound : float or None
        CP-SAT's bound on the last priority's objective, for the model as solved.
    status : int
        CP-SAT's status for the model that produced the plan (UNKNOWN for a warm start).
    cand : Candidates
        The candidate pairs of that model.
    exact : bool
        The candidate pruning removed no pair that could matter.
    iteration : int
        Location-allocation iteration that produced the plan.
    method : str
        Provenance: ``cp-sat``, ``exact model``, ``warm start``, ``exact contiguity search`` (its
        last try, on the time left) or ``company scale``.
    real_bound : float or None
        A bound on the objective valid for the real problem, from the exact model when its
        plan did not replace this one (the larger of it and the LP's holds).
    """

    assign: NDArray[np.int64]
    centres: NDArray[np.int64]
    objectives: tuple[float, ...]
    bound: float | None
    status: int
    cand: Candidates
    exact: bool
    iteration: int
    method: str = CP_SAT
    real_bound: float | None = None

    @property
    def objective(self) -> float | None:
        """The last priority's objective (the one the Plan reports), None when unknown."""
        return self.objectives[-1] if self.objectives else None

    @property
    def exact_model(self) -> bool:
        return self.method == EXACT_MODEL

    @property
    def solved(self) -> bool:
        """CP-SAT (or the exact model, or the company-scale search) produced this plan."""
        return self.status in (cp_model.OPTIMAL, cp_model.FEASIBLE)

    def improves(self, other: Incumbent | None, tol: float = 1e-9) -> bool:
        """At least as good as ``other`` on the objective vector, compared lexicographically
        (the first priority decides, ties within ``tol`` go to the next). An incumbent
        without objectives neither wins nor loses on them: it replaces ``other``."""
        if other is None or not self.objectives or not other.objectives:
            return True
        return lexicographic_le(self.objectives, other.objectives, tol)


def lexicographic_le(a: tuple[float, ...], b: tuple[float, ...], tol: float = 1e-9) -> bool:
    """``a`` ≤ ``b`` lexicographically, equal within ``tol`` on each priority."""
    for x, y in zip(a, b, strict=False):
        if x < y - tol:
            return True
        if x > y + tol:
            return False
    return True
