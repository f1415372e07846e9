"""The CP-SAT model: candidate pairs, contiguity, and the formulation (see formulation.py)."""

from .candidates import Candidates, build_candidates, seat_positions
from .contiguity import Contiguity, choose_roots, conditions, plan_distances, prune
from .formulation import BalanceRule, Built, ModelSpec, build, targets

__all__ = [
    "BalanceRule",
    "Built",
    "Candidates",
    "Contiguity",
    "ModelSpec",
    "build",
    "build_candidates",
    "choose_roots",
    "conditions",
    "plan_distances",
    "prune",
    "seat_positions",
    "targets",
]
