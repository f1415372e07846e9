"""The scenario's settings resolved once, at the top of a solve, into plain values.

Strategies and the model layer read :class:`SolveSpec` and :class:`~territory_opt.model.ModelSpec`
(plain dataclasses), never the scenario's settings classes, and no default is re-derived
downstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..model import BalanceRule, ModelSpec
from ..problem import Problem
from ..scenario import Candidates as CandidateSettings
from ..scenario import Constraints, Measure, Objective

#: Weights that approximate lexicographic priorities in one weighted sum (company scale).
LEXICOGRAPHIC_BASE = 100.0


@dataclass(frozen=True)
class SolveSpec:
    """Everything a solve takes from the scenario besides the model spec.

    Attributes
    ----------
    model : ModelSpec
        The formulation's parameters (balance rules, caps, budget, contiguity, weights).
    stages : tuple of dict
        Objective terms and weights of each solve stage: one stage when weighted, one per
        priority when lexicographic.
    terms : frozenset of str
        Objective terms the model must build.
    priorities, lexicographic, slack
        The objective's ranked priorities, its mode, and the share a priority may give up
        for the next ones.
    nearest, radius_km
        Candidate pruning: a unit's nearest seats, or every seat within ``radius_km`` [km].
    disruption_measure : str or None
        The measure of the disruption budget (None without a budget).
    disruption_share : float or None
        The overall budget as a share of today's book (None when absent or 100 %).
    skills : bool
        Skills are enforced (for the audit).
    oversized : str
        ``standalone`` or ``fail``: what to do with a unit larger than any band.
    """

    model: ModelSpec
    stages: tuple[dict[str, float], ...]
    terms: frozenset[str]
    priorities: tuple[str, ...]
    lexicographic: bool
    slack: float
    nearest: int
    radius_km: float | None
    disruption_measure: str | None
    disruption_share: float | None
    skills: bool
    oversized: str

    @property
    def realign(self) -> bool:
        """A disruption budget binds (overall or per rep)."""
        return self.model.disruption_max is not None or self.model.disruption_per_rep is not None

    def weighted_stages(self) -> dict[str, float]:
        """The stages as one weighted sum: the weights as given, or for lexicographic
        priorities weights :data:`LEXICOGRAPHIC_BASE` times apart (an approximation)."""
        if not self.lexicographic:
            return dict(self.stages[0])
        n = len(self.stages)
        return {name: LEXICOGRAPHIC_BASE ** (n - 1 - i) for i, stage in enumerate(self.stages) for name in stage}


def resolve(
    problem: Problem,
    balance: dict[str, Measure] | None,
    constraints: Constraints | None,
    objective: Objective | None,
    candidates: CandidateSettings | None,
) -> SolveSpec:
    """The scenario's settings (or their defaults) as a :class:`SolveSpec`."""
    balance = balance or {}
    constraints = constraints or Constraints()
    objective = objective or Objective()
    cand_set = candidates or CandidateSettings()
    model = model_spec(problem, balance, constraints, objective)
    terms = set(objective.priorities) | ({"balance"} if any(not r.hard for r in model.balance) else set())
    stages: list[dict[str, float]]
    if objective.mode == "weighted":
        stages = [{name: objective.weights.get(name, 1.0) for name in terms}]  # type: ignore[arg-type]
    else:
        stages = [{name: 1.0} for name in objective.priorities]
        if "balance" in terms and "balance" not in objective.priorities:
            stages[0]["balance"] = objective.weights.get("balance", 1.0)
    disruption = constraints.disruption
    return SolveSpec(
        model=model,
        stages=tuple(stages),
        terms=frozenset(terms),
        priorities=tuple(objective.priorities),
        lexicographic=objective.mode == "lexicographic",
        slack=objective.slack,
        nearest=cand_set.nearest,
        radius_km=cand_set.radius_km,
        disruption_measure=disruption.measure if disruption is not None else None,
        disruption_share=disruption.max_share if disruption is not None and disruption.max_share < 1 else None,
        skills=constraints.skills,
        oversized=constraints.oversized,
    )


def model_spec(
    problem: Problem, balance: dict[str, Measure], constraints: Constraints, objective: Objective
) -> ModelSpec:
    """The formulation's parameters; the travel weight is the first balanced measure (else 1
    per unit), and every seat starts without exemption."""
    names = problem.measure_names
    rules = tuple(
        BalanceRule(names.index(name), m.tolerance, m.mode == "hard", m.weight) for name, m in balance.items()
    )
    capacity = tuple((names.index(name), cap) for name, cap in constraints.capacity.items())
    disruption = constraints.disruption
    value: NDArray[np.float64] | None = None
    dmax = dper = None
    if disruption is not None:
        value = problem.measure(disruption.measure)
        total = float(value[problem.owner >= 0].sum())
        dmax = disruption.max_share * total if disruption.max_share < 1 else None
        dper = disruption.per_rep_share
    elif "disruption" in objective.priorities:
        value = problem.measure(names[0]) if names else np.ones(problem.n_units)
    weight_name = next(iter(balance), None)
    weight = problem.measure(weight_name) if weight_name else np.ones(problem.n_units)
    return ModelSpec(
        balance=rules,
        capacity=capacity,
        disruption_value=value,
        disruption_max=dmax,
        disruption_per_rep=dper,
        contiguity=constraints.contiguity is not None and constraints.contiguity.enabled,
        locks=constraints.locks,
        families=constraints.families,
        travel_weight=weight,
        exempt=np.zeros(problem.n_seats, dtype=bool),
    )
