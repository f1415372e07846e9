"""What-if planning, in one place for notebooks and scripts (each feature is its own module).

* :mod:`territory_opt.edits`: :func:`with_values` (dotted-key edits, validated),
  :func:`with_edits` (add, remove, move reps; locks) and the command line's parsers;
* :mod:`territory_opt.sweep`: :func:`sweep`, the grid of variants in parallel (a local
  process pool or Dask);
* :mod:`territory_opt.sizing`: :func:`size`, a sweep over headcounts with a recommendation;
* :mod:`territory_opt.compare`: :func:`compare_folders` / :func:`compare_plans` put two plans
  side by side; :func:`current_plan` is today's alignment as a plan;
* :mod:`territory_opt.rerun`: :func:`rerun` re-optimises chosen territories of a plan;
* :mod:`territory_opt.rollup`: :func:`rollup`, figures by area or region.
"""

from .compare import compare_folders, compare_frames, compare_plans, current_plan
from .edits import parse_locks, parse_rep, parse_sets, parse_value, with_edits, with_values
from .rerun import rerun
from .rollup import rollup
from .sizing import headcount_key, size
from .sweep import headline, run_variant, sweep, variant_name

__all__ = [
    "compare_folders",
    "compare_frames",
    "compare_plans",
    "current_plan",
    "headcount_key",
    "headline",
    "parse_locks",
    "parse_rep",
    "parse_sets",
    "parse_value",
    "rerun",
    "rollup",
    "run_variant",
    "size",
    "sweep",
    "variant_name",
    "with_edits",
    "with_values",
]
