"""Territory figures summed up the sales hierarchy (territory -> area -> region)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .errors import ScenarioError


def rollup(plan: Any, level: str = "region", quotas: Any = None) -> pd.DataFrame:
    """Territory figures summed by ``level`` (``area`` or ``region``): territories, units,
    each measure with its target, and quotas when given."""
    problem = plan.problem
    labels = {"area": problem.seat_area, "region": problem.seat_region}.get(level)
    if labels is None:
        msg = f"rollup level {level!r}: use 'area' or 'region' (columns of the rep roster)"
        raise ScenarioError(msg)
    of_seat = dict(zip(problem.seat_ids.astype(str), labels, strict=True))
    frame = plan.territories.copy()
    frame[level] = [of_seat.get(str(t), "") for t in frame["territory_id"]]
    sums = [c for c in frame.columns if c in problem.measure_names or c.endswith("_target") or c == "units"]
    if quotas is not None:
        q = quotas.table[["territory_id", "quota"]].astype({"territory_id": str})
        frame = frame.assign(territory_id=frame["territory_id"].astype(str)).merge(q, on="territory_id", how="left")
        sums.append("quota")
    out = (
        frame.groupby(level, sort=True)
        .agg(territories=("territory_id", "count"), **{c: (c, "sum") for c in sums})
        .reset_index()
    )
    for m in problem.measure_names:
        if m in out.columns and f"{m}_target" in out.columns:
            out[f"{m}_dev_pct"] = 100.0 * (out[m] / out[f"{m}_target"].where(out[f"{m}_target"] != 0) - 1.0)
    return out
