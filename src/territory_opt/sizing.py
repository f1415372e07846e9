"""Sales-force sizing: a sweep over headcounts with a recommendation (``sizing.csv``), its
curve (``sizing.png``) and page (``sizing.html``, drawn by :mod:`territory_opt.pages.sizing`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .errors import ScenarioError
from .scenario import Scenario
from .sweep import sweep


def headcount_key(scenario: Scenario) -> tuple[str, int]:
    """Which key sets the number of seats, and its value now."""
    data = scenario.data
    if data.synthetic is not None and data.reps is None:
        return "data.synthetic.reps", data.synthetic.reps
    if data.reps is None:
        return "seats.count", scenario.seats.count or 1
    return "seats.vacancies", scenario.seats.vacancies


def size(
    scenario: Scenario,
    headcounts: Iterable[int],
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    time_limit: float | None = None,
    capacity: str | None = None,
) -> tuple[pd.DataFrame, int | None]:
    """Solve across headcounts; recommend the smallest one whose plan is feasible with every
    seat within capacity (``constraints.capacity``, or ``capacity``: a measure's cap per FTE
    given here). Writes ``sizing.csv``, ``sizing.png`` and ``sizing.html`` into ``out_dir``."""
    from .io import write_csv, write_text

    key, _ = headcount_key(scenario)
    counts = sorted({int(h) for h in headcounts})
    if key == "seats.vacancies":
        roster = _roster_size(scenario)
        values = [h - roster for h in counts]
        if min(values) < 0:
            msg = f"sizing a roster of {roster} reps adds open seats: ask for headcounts of at least {roster}"
            raise ScenarioError(msg)
    else:
        values = counts
    frame = sweep(scenario, {key: values}, out_dir, scheduler=scheduler, workers=workers, time_limit=time_limit)
    frame.insert(0, "headcount", counts)
    caps = dict(scenario.constraints.capacity)
    measure = capacity or next(iter(caps), None) or ("workload" if "workload_per_seat_max" in frame.columns else None)
    limit = caps.get(measure) if measure else None
    ok = frame["status"].isin(["feasible", "optimal"])
    if measure and limit is not None and f"{measure}_per_seat_max" in frame.columns:
        ok &= frame[f"{measure}_per_seat_max"] <= limit * (1 + 1e-9)
    frame["within_capacity"] = ok
    recommended = int(frame.loc[ok, "headcount"].min()) if ok.any() else None
    from .io import write_bytes
    from .pages.sizing import sizing_page, sizing_png

    out = Path(out_dir)
    write_csv(out / "sizing.csv", frame)
    png = sizing_png(frame, measure, limit, recommended)
    write_bytes(out / "sizing.png", png)
    write_text(out / "sizing.html", sizing_page(scenario.name, frame, measure, limit, recommended, png))
    return frame, recommended


def _roster_size(scenario: Scenario) -> int:
    from .io import load_inputs

    inputs = load_inputs(scenario.model_copy(update={"seats": scenario.seats.model_copy(update={"vacancies": 0})}))
    return len(inputs.reps)
