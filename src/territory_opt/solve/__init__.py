"""The solve stage: resolve → prepare → strategy → finalise → Plan.

:mod:`.engine` runs it: :mod:`.spec` resolves the scenario's settings into plain values,
:mod:`.prepare` treats oversized units, runs the pre-checks and finds centres and a start,
a strategy from :mod:`.strategies` (fixed homes, location-allocation, company scale; the
realignment budget and the exact model on small maps) returns an
:class:`~.incumbent.Incumbent` on the :class:`~.context.SolveContext`'s clock, and
:mod:`.finalise` states restrictions, status and bounds, audits and builds the Plan.
:mod:`.contiguous` is the exact contiguity search that takes over whenever the restricted
model has no plan (boundary moves checked for connectedness on the real adjacency,
transfers planned as a min-cost flow between adjacent territories, a disruption budget
kept); :mod:`.bounds` holds the bounds valid for the planner's real problem.
"""

from .bounds import MovementBound, lp_travel_bound, required_movement
from .engine import Progress, initial_centres, medoids, solve

__all__ = ["MovementBound", "Progress", "initial_centres", "lp_travel_bound", "medoids", "required_movement", "solve"]
