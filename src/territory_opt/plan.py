"""The result of a solve: an immutable :class:`Plan`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._version import __version__
from .audit import Finding, Rules, audit
from .evaluate import Bands, evaluate, standing_units
from .metrics import territory_frame
from .problem import Problem


class Status(str, enum.Enum):
    """Our statuses. ``optimal`` only when the solver proved it for the exact problem;
    a time-limited or restricted answer is ``feasible`` with its bound and gap."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"  # no plan satisfying every hard constraint was found in time


@dataclass(frozen=True)
class AssignmentView:
    """A problem and an assignment without the solver's proof (a plan read back from disk)."""

    problem: Problem
    seat_of: NDArray[np.int64]


def assignment_view(problem: Problem, seat_of: NDArray[np.int64]) -> AssignmentView:
    return AssignmentView(problem=problem, seat_of=np.asarray(seat_of, dtype=np.int64))


def change_list(problem: Problem, seat_of: NDArray[np.int64]) -> pd.DataFrame:
    """Units that change owner under ``seat_of``, with rep names (removed reps included)."""
    moved = np.flatnonzero(problem.moved(seat_of))
    names = dict(zip(problem.seat_ids, problem.seat_names, strict=True)) | dict(problem.removed_seats)
    prev = problem.previous_ids()[moved]
    to = problem.seat_ids[np.asarray(seat_of)[moved]]
    frame = pd.DataFrame(
        {
            "unit_id": problem.unit_ids[moved],
            "unit_name": problem.unit_names[moved],
            "from_territory": prev,
            "from_name": [names.get(t, t) for t in prev],
            "to_territory": to,
            "to_name": [names.get(t, t) for t in to],
        }
    )
    for j, name in enumerate(problem.measure_names):
        frame[name] = problem.measures[moved, j]
    return frame


@dataclass(frozen=True, eq=False)
class Plan:
    """An alignment with the figures that prove its quality.

    Attributes
    ----------
    status : Status
    problem : Problem
        The problem solved (arrays; inputs are never modified).
    seat_of : (n,) int
        Territory (seat index) of each unit; read-only.
    objective : float
        Value of the final objective in its natural units (see
        :mod:`territory_opt.model.formulation`).
    objective_terms : dict
        Each term's value: ``travel`` [km, weighted mean], ``disruption`` [% moved],
        ``cut_edges`` [edges], ``balance`` [% soft deviation].
    bound : float or None
        Best lower bound the solver proved for the model it solved (same units).
    gap : float or None
        ``(objective - bound) / objective``, a share (0.02 = 2 %).
    global_bound, global_gap : float or None
        A bound valid for the unrestricted problem and the gap to it (see below).
    bound_scope : str
        What the bound is valid for (the restricted model, or the full problem).
    restrictions : tuple of str
        Where the model is narrower than the problem (pruning, contiguity condition,
        heuristic centres); an empty tuple means the model is exact.
    wall_time : float
        Seconds from the call to the returned plan [s].
    method : str
        Which pipeline ran (e.g. ``warm start + CP-SAT``, ``location-allocation``).
    seed : int
    deterministic : bool
        Whether the run was in deterministic mode (same inputs + seed → same plan).
    settings : dict
        Solver settings used.
    findings : tuple of Finding
        The independent audit (:mod:`territory_opt.audit`).
    territories : DataFrame
        Per-territory metrics (a copy is returned each time).
    centres : (k,) int
        Centre unit of each seat (root unit for seats with a home base).
    exempt : (k,) bool
        Seats that stand alone (a unit larger than any target), exempt from balance.
    notes : tuple of str
        Facts the planner should see (pruning figures, treatments applied, data notes).
    """

    status: Status
    problem: Problem
    seat_of: NDArray[np.int64]
    objective: float
    objective_terms: dict[str, float]
    bound: float | None
    gap: float | None
    bound_scope: str
    restrictions: tuple[str, ...]
    wall_time: float
    method: str
    seed: int
    deterministic: bool
    settings: dict[str, Any]
    findings: tuple[Finding, ...]
    _territories: pd.DataFrame
    centres: NDArray[np.int64]
    exempt: NDArray[np.bool_]
    scenario: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    versions: dict[str, str] = field(default_factory=dict)
    #: A lower bound valid for the unrestricted problem (LP relaxation without pruning,
    #: contiguity, families or disruption), when one was computed; same units as objective.
    global_bound: float | None = None
    #: ``(objective - global_bound) / objective``, a share.
    global_gap: float | None = None
    #: Unit polygons (GeoSeries, EPSG:4326) when the units are geographic, for the map and
    #: ``territories.geojson``; None otherwise.
    geometry: Any = None
    #: Land or region polygons (GeoSeries, EPSG:4326) behind an account plan, which clip the
    #: territory areas on its map; None otherwise.
    land: Any = None
    #: What the plan was made with, for its files: ``description``, balance ``tolerances``
    #: (shares), what-if ``edits`` (the scenario's ``edits:`` section) and the ``quotas`` section.
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A usable plan: feasible or optimal and the audit found nothing wrong."""
        return self.status in (Status.OPTIMAL, Status.FEASIBLE) and all(f.ok for f in self.findings)

    @property
    def territories(self) -> pd.DataFrame:
        """One row per territory (see :func:`territory_opt.metrics.territory_table`), with
        ``lat``, ``lon`` [degrees] of its home base or, for an open seat, of the centre the
        plan chose (``location`` says which)."""
        frame = self._territories.copy()
        p = self.problem
        if p.unit_lonlat is not None and p.seat_lonlat is not None and "lat" not in frame.columns:
            home = p.has_home
            centre = np.asarray(self.centres, dtype=np.int64)
            chosen = p.unit_lonlat[np.clip(centre, 0, p.n_units - 1)]
            lonlat = np.where(home[:, None], p.seat_lonlat, np.where(centre[:, None] >= 0, chosen, np.nan))
            frame["lat"] = lonlat[:, 1]
            frame["lon"] = lonlat[:, 0]
            frame["location"] = np.where(home, "home base", "chosen centre")
        return frame

    @property
    def assignment(self) -> pd.DataFrame:
        """CRM-ready: ``unit_id``, ``territory_id``, ``previous_territory_id``, ``moved``."""
        p = self.problem
        return pd.DataFrame(
            {
                "unit_id": p.unit_ids,
                "territory_id": p.seat_ids[self.seat_of],
                "previous_territory_id": p.previous_ids(),
                "moved": p.moved(self.seat_of),
            }
        )

    @property
    def changes(self) -> pd.DataFrame:
        """The CRM change list: one row per unit that changes owner (a removed rep's units
        included), with names: ``unit_id``, ``unit_name``, ``from_territory``, ``from_name``,
        ``to_territory``, ``to_name`` and each measure."""
        return change_list(self.problem, self.seat_of)

    def studio(self, scenario: Any = None, *, workspace: Any = ".", port: int = 0) -> Any:
        """Open this plan in the plan studio (a local web app on 127.0.0.1) served from a
        background thread; a notebook shows the returned object as a frame. ``scenario``:
        the plan's scenario (file or :class:`~territory_opt.scenario.Scenario`; found by the
        plan's name in ``<workspace>/scenarios`` when omitted). Returns the running studio
        (``.url`` with its token, ``.stop()``)."""
        from .studio import studio_for_plan  # the studio is a later stage: imported on use

        return studio_for_plan(self, scenario, workspace=workspace, port=port)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: status, objective, bound, gap, time, method, audit."""
        moved = self.problem.moved(self.seat_of)
        return {
            "scenario": self.scenario,
            "status": self.status.value,
            "objective": self.objective,
            "objective_terms": self.objective_terms,
            "bound": self.bound,
            "gap": self.gap,
            "bound_scope": self.bound_scope,
            "global_bound": self.global_bound,
            "global_gap": self.global_gap,
            "restrictions": list(self.restrictions),
            "wall_time_s": round(self.wall_time, 3),
            "method": self.method,
            "seed": self.seed,
            "deterministic": self.deterministic,
            "settings": self.settings,
            "units": self.problem.n_units,
            "territories": self.problem.n_seats,
            "units_moved": int(moved.sum()),
            "stand_alone": [str(s) for s in self.problem.seat_ids[self.exempt]],
            "audit": [{"check": f.check, "ok": f.ok, "detail": f.detail} for f in self.findings],
            "audit_ok": all(f.ok for f in self.findings),
            "notes": list(self.notes),
            "versions": self.versions,
        }


def plan_from_outputs(
    problem: Problem, seat_of: NDArray[np.int64], summary: dict[str, Any], territories: pd.DataFrame
) -> Plan:
    """A plan read back from its folder (``summary.json`` and ``territories.csv`` as text) on
    the problem it was made for, to redraw its pages (e.g. after new quotas). The solver's
    figures and the audit are those recorded; chosen centres are not (``centres`` = -1)."""
    frame = territories.copy()
    for column in frame.columns:
        text = frame[column].astype(str).str.strip()
        values = pd.to_numeric(text, errors="coerce")
        if values[text != ""].notna().all() and (text != "").any():
            frame[column] = values

    def number(key: str) -> float | None:
        value = summary.get(key)
        return None if value is None else float(value)

    stand_alone = {str(s) for s in summary.get("stand_alone") or []}
    return Plan(
        status=Status(summary.get("status", "unknown")),
        problem=problem,
        seat_of=np.asarray(seat_of, dtype=np.int64),
        objective=float(summary.get("objective") or 0.0),
        objective_terms={str(k): float(v) for k, v in (summary.get("objective_terms") or {}).items()},
        bound=number("bound"),
        gap=number("gap"),
        bound_scope=str(summary.get("bound_scope", "")),
        restrictions=tuple(summary.get("restrictions") or ()),
        wall_time=float(summary.get("wall_time_s") or 0.0),
        method=str(summary.get("method", "")),
        seed=int(summary.get("seed") or 0),
        deterministic=bool(summary.get("deterministic")),
        settings=dict(summary.get("settings") or {}),
        findings=tuple(Finding(str(a["check"]), bool(a["ok"]), str(a["detail"])) for a in summary.get("audit") or ()),
        _territories=frame,
        centres=np.full(problem.n_seats, -1, dtype=np.int64),
        exempt=np.asarray([str(s) in stand_alone for s in problem.seat_ids], dtype=bool),
        scenario=str(summary.get("scenario", "")),
        notes=tuple(summary.get("notes") or ()),
        versions=dict(summary.get("versions") or {}),
        global_bound=number("global_bound"),
        global_gap=number("global_gap"),
        record=dict(summary.get("scenario_record") or {}),
    )


def middle_units(problem: Problem, assign: NDArray[np.int64], weight: NDArray[np.float64]) -> NDArray[np.int64]:
    """A centre unit for each seat without a home base: the unit of its territory nearest the
    territory's ``weight``-weighted middle (0 for seats with a home base or no units), as
    :func:`evaluated_plan` needs them."""
    centres = np.zeros(problem.n_seats, dtype=np.int64)
    for t in np.flatnonzero(~problem.has_home):
        members = np.flatnonzero(assign == t)
        if len(members):
            xy = problem.unit_xy[members]
            mean = np.average(xy, axis=0, weights=weight[members] + 1e-12)
            centres[t] = members[int(np.argmin(np.linalg.norm(xy - mean, axis=1)))]
    return centres


def evaluated_plan(
    problem: Problem,
    assign: NDArray[np.int64],
    scenario: Any,
    *,
    centres: NDArray[np.int64] | None = None,
    exempt: NDArray[np.bool_] | None = None,
    method: str,
    bound_scope: str,
    name: str | None = None,
    notes: tuple[str, ...] = (),
    **fields: Any,
) -> Plan:
    """A :class:`Plan` of an assignment that no solver made (today's owners, a hand-edited
    plan): its figures from the raw arrays against the scenario's bands, the scenario's
    objective, and the independent audit; no proof (``bound`` and ``gap`` are None). Status
    ``feasible`` when the audit passes, ``unknown`` otherwise. ``centres``: centre unit of each
    seat without a home base (needed when there are such seats); ``fields``: further
    :class:`Plan` fields (``geometry``, ``record``)."""
    from importlib.metadata import version

    a = np.asarray(assign, dtype=np.int64)
    k = problem.n_seats
    ex = np.zeros(k, dtype=bool) if exempt is None else np.asarray(exempt, dtype=bool)
    c = scenario.constraints
    d = c.disruption
    hard = {m: rule.tolerance for m, rule in scenario.balance.items() if rule.mode == "hard"}
    bands = Bands.from_problem(problem, {m: rule.tolerance for m, rule in scenario.balance.items()}, exempt=ex)
    first = next(iter(scenario.balance), None)
    weight = problem.measure(first) if first else np.ones(problem.n_units)
    centre = np.zeros(k, dtype=np.int64) if centres is None else np.where(problem.has_home, 0, centres)
    # what a standing seat may hold is known when the problem carries the solve's locks (a
    # plan of this session, edited); a problem read back from the scenario does not
    standing = standing_units(problem, ex)
    rules = Rules(
        tolerance=hard,
        targets=bands.target,
        exempt=ex,
        capacity=dict(c.capacity),
        disruption_measure=d.measure if d else None,
        disruption_max_share=d.max_share if d and d.max_share < 1 else None,
        disruption_per_rep_share=d.per_rep_share if d else None,
        contiguity=c.contiguity is not None and c.contiguity.enabled,
        locks=c.locks,
        skills=c.skills,
        families=c.families,
        standing=standing if standing.any() else None,
    )
    findings = audit(problem, a, rules)
    ev = evaluate(problem, a, centre, bands, weight=weight, disruption_measure=d.measure if d else None)
    terms = ev.objective_terms
    obj = scenario.objective
    if obj.mode == "weighted":  # the scenario's objective, as a solve reports it
        objective = sum(terms.get(t, 0.0) * obj.weights.get(t, 1.0) for t in obj.priorities)
    else:
        objective = terms.get(obj.priorities[-1], 0.0) if obj.priorities else ev.travel_mean
    table = territory_frame(problem, bands, ev)
    return Plan(
        status=Status.FEASIBLE if all(f.ok for f in findings) else Status.UNKNOWN,
        problem=problem,
        seat_of=a,
        objective=float(objective),
        objective_terms=terms,
        bound=None,
        gap=None,
        bound_scope=bound_scope,
        restrictions=(),
        wall_time=0.0,
        method=method,
        seed=scenario.solver.seed,
        deterministic=False,
        settings=scenario.solver.model_dump(),
        findings=findings,
        _territories=table,
        centres=centre,
        exempt=ex.copy(),
        scenario=name or scenario.name,
        notes=notes,
        versions={"territory_opt": __version__, "ortools": version("ortools")},
        **fields,
    )
