"""Per-territory metrics of an assignment: the territory table, from the one evaluator
(:mod:`territory_opt.evaluate`: contiguity, cut edges and travel of a plan are its
``Evaluation.contiguous``, ``cut_edges`` and ``travel_mean``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .evaluate import Bands, Evaluation, evaluate
from .problem import Problem


def territory_frame(problem: Problem, bands: Bands, ev: Evaluation) -> pd.DataFrame:
    """One row per territory of an evaluated plan: units, each measure with target and
    deviation [%], travel [km], contiguity, whether it stands alone (exempt from balance),
    and whether each balanced measure is within its band."""
    k = problem.n_seats
    rows: dict[str, object] = {
        "territory_id": problem.seat_ids,
        "name": problem.seat_names,
        "units": ev.units,
    }
    for j, name in enumerate(problem.measure_names):
        rows[name] = ev.load[:, j]
        rows[f"{name}_target"] = bands.target[:, j]
        rows[f"{name}_dev_pct"] = ev.deviation_pct[:, j]
    rows["travel_km"] = ev.travel
    rows["max_distance_km"] = ev.max_distance
    rows["contiguous"] = ev.contiguous if ev.contiguous is not None else [None] * k
    rows["stands_alone"] = bands.exempt
    frame = pd.DataFrame(rows)
    for name in bands.tolerance:
        j = problem.measure_names.index(name)
        frame[f"{name}_within_tolerance"] = bands.exempt | ev.within[:, j]
    return frame


def territory_table(
    problem: Problem,
    assign: NDArray[np.int64],
    *,
    target: NDArray[np.float64],
    tolerance: dict[str, float],
    seat_pos: NDArray[np.float64],
    weight: NDArray[np.float64],
    exempt: NDArray[np.bool_],
) -> pd.DataFrame:
    """:func:`territory_frame` of ``assign`` against the bands of ``target`` and ``tolerance``
    (travel weighted by ``weight`` to ``seat_pos`` [km])."""
    bands = Bands.from_problem(problem, tolerance, exempt=exempt, target=target)
    ev = evaluate(problem, assign, None, bands, weight=weight, positions=seat_pos)
    return territory_frame(problem, bands, ev)
