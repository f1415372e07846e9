"""The solve stage: pre-checks → start → strategy → Plan.

:mod:`.engine` runs the pipeline (pre-checks, centres, candidates, warm start, CP-SAT
with the contiguity condition, location-allocation); :mod:`.contiguous` is the exact
contiguity search that takes over whenever the restricted model has no plan (boundary
moves checked for connectedness on the real adjacency, transfers planned as a min-cost
flow between adjacent territories, a disruption budget kept); :mod:`.bounds` holds the
bounds valid for the planner's real problem; :mod:`.strategies.company_scale` is the
transport + window search for very large account books.
"""

from .bounds import MovementBound, lp_travel_bound, required_movement
from .engine import Progress, initial_centres, medoids, solve

__all__ = ["MovementBound", "Progress", "initial_centres", "lp_travel_bound", "medoids", "required_movement", "solve"]
