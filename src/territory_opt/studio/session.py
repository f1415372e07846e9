"""The state a planner edits in the studio, with no web code: the current assignment, hand
locks, undo/redo history, figures from the one evaluator (:mod:`territory_opt.evaluate`),
re-optimise proposals and plan versions on disk.

Unit and territory ids are the API's vocabulary (what a script knows); indices are used
inside and in the page's arrays. Every method that changes the state returns a *delta*:
the units whose territory changed, the locked units, the new figures and the history depth.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import ScenarioError, StudioError, TerritoryOptError
from ..evaluate import Bands, Evaluation, evaluate
from ..problem import Problem
from ..scenario import Scenario, load_scenario

if TYPE_CHECKING:
    import geopandas as gpd

    from ..plan import Plan
    from .reoptimise import Job, Worker

#: History steps kept for undo.
MAX_HISTORY = 200
VERSION_NAME = re.compile(r"v\d{3,}")
#: One undo step: assignment, hand locks, centres, and what the step did.
Snapshot = tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64], str]


class RequestError(StudioError):
    """A request the studio refuses (unknown unit or territory, nothing to undo...): HTTP 400."""

    status = 400


class ConflictError(RequestError):
    """A request that conflicts with the state (a re-optimise already running...): HTTP 409."""

    status = 409


class OutsideWorkspaceError(RequestError):
    """A path outside the workspace folder: HTTP 403."""

    status = 403


def _finite(values: Iterable[float]) -> list[float | None]:
    """JSON-safe floats: NaN and infinities become null."""
    return [float(v) if np.isfinite(v) else None for v in values]


def inside(workspace: Path, path: str | Path) -> Path:
    """``path`` (relative to the workspace) resolved; refused when it leaves the workspace."""
    root = workspace.resolve()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        msg = f"{path}: outside the studio's workspace folder {root}; the studio reads and writes only inside it"
        raise OutsideWorkspaceError(msg)
    return resolved


def find_scenario(name: str, workspace: Path) -> Path:
    """The scenario file named ``name``: in ``<workspace>/scenarios``, the workspace, or the
    package's own scenarios."""
    places = [workspace / "scenarios", workspace, Path(str(files("territory_opt") / "scenarios"))]
    for folder in places:
        for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
            try:
                if load_scenario(path).name == name:
                    return path
            except TerritoryOptError:
                continue
    msg = f"no scenario named {name!r} found in {places[0]}, {places[1]} or the package's scenarios; pass the scenario file the plan was made with (--scenario FILE)"
    raise StudioError(msg)


def medoid_centres(problem: Problem, assign: NDArray[np.int64], weight: NDArray[np.float64]) -> NDArray[np.int64]:
    """Centre unit of each seat: its home-base root is irrelevant (−1); for seats without a home,
    the unit of the territory with the least weighted distance to the others (checked among
    the 300 units nearest the weighted mean)."""
    k = problem.n_seats
    centres = np.full(k, -1, dtype=np.int64)
    for t in np.flatnonzero(~problem.has_home):
        members = np.flatnonzero(assign == t)
        if len(members) == 0:
            centres[t] = 0
            continue
        xy, w = problem.unit_xy[members], weight[members] + 1e-12
        mean = (xy * w[:, None]).sum(axis=0) / w.sum()
        near = members[np.argsort(np.linalg.norm(xy - mean, axis=1))[:300]]
        cost = (np.linalg.norm(problem.unit_xy[near][:, None, :] - xy[None, :, :], axis=2) * w).sum(axis=1)
        centres[t] = near[int(np.argmin(cost))]
    return centres


@dataclass
class Version:
    """A saved plan folder (or the baseline) and its assignment."""

    name: str
    assign: NDArray[np.int64]
    folder: Path | None
    note: str = ""
    created: str = ""
    locked: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def describe(self, workspace: Path) -> dict[str, Any]:
        folder = None
        if self.folder is not None:
            folder = (
                str(self.folder.relative_to(workspace)) if self.folder.is_relative_to(workspace) else str(self.folder)
            )
        return {"name": self.name, "folder": folder, "note": self.note, "created": self.created}


class Session:
    """One plan open in the studio.

    Parameters
    ----------
    scenario : Scenario
        The scenario the plan was made with (balance, constraints, quotas, solver settings).
    problem : Problem
        Its problem; ``owner`` is the current alignment of the data (what "moved" counts
        against), ``lock`` the data's locks (and units standing alone).
    baseline : (n,) int
        The plan opened (seat index per unit).
    centres : (k,) int
        Centre unit of each seat without a home base.
    exempt : (k,) bool
        Seats standing alone.
    workspace : Path
        The only folder the studio reads and writes.
    versions_dir : Path
        Where saved versions go (``v001``, ``v002`` ...), inside the workspace.
    geometry : GeoSeries, optional
        Unit polygons (EPSG:4326) in geography mode; units are drawn as points otherwise.
    record : dict, optional
        What saved plans record of their scenario (``Plan.record``: description, tolerances,
        what-if edits, quotas section).
    """

    def __init__(
        self,
        *,
        scenario: Scenario,
        problem: Problem,
        baseline: NDArray[np.int64],
        centres: NDArray[np.int64],
        exempt: NDArray[np.bool_],
        workspace: Path,
        versions_dir: Path,
        geometry: gpd.GeoSeries | None = None,
        scenario_path: Path | None = None,
        baseline_name: str = "baseline",
        baseline_folder: Path | None = None,
        locked: NDArray[np.int64] | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        if problem.unit_lonlat is None:
            msg = "the studio draws units at their longitude/latitude, which this problem lacks (built from km arrays): build it with Problem.from_inputs (a scenario) instead"
            raise StudioError(msg)
        self.scenario = scenario
        self.record = record or {}
        self.scenario_path = scenario_path
        self.problem = problem
        self.geometry = geometry
        self.workspace = workspace.resolve()
        self.versions_dir = inside(self.workspace, versions_dir)
        self.exempt = np.asarray(exempt, dtype=bool)
        tolerance = {name: m.tolerance for name, m in scenario.balance.items()}
        self.bands = Bands.from_problem(problem, tolerance, exempt=self.exempt)
        first = next(iter(scenario.balance), None)
        self.weight = problem.measure(first) if first else np.ones(problem.n_units)
        disruption = scenario.constraints.disruption
        self.disruption_measure = disruption.measure if disruption is not None else None
        self.baseline = np.array(baseline, dtype=np.int64)
        self.assign = self.baseline.copy()
        self.centres = np.array(centres, dtype=np.int64)
        self.pinned = np.zeros(problem.n_units, dtype=bool)
        if locked is not None:
            self.pinned[locked] = True
        self.undo_stack: list[Snapshot] = []
        self.redo_stack: list[Snapshot] = []
        self.unit_index = {str(u): i for i, u in enumerate(problem.unit_ids)}
        self.seat_index = {str(s): i for i, s in enumerate(problem.seat_ids)}
        self.lock = threading.RLock()
        self.job: Job | None = None
        self.spare: Worker | None = None
        self.warm = False
        self.proposal: dict[str, Any] | None = None
        self.versions: dict[str, Version] = {
            "baseline": Version("baseline", self.baseline.copy(), baseline_folder, baseline_name)
        }
        self._scan_versions()
        from ..maps import territory_colours

        self.colours = territory_colours(problem, self.baseline)
        self._geojson: bytes | None = None
        self.geojson_gzip: bytes | None = None
        if geometry is not None:  # built up front: the page's first map then waits for nothing
            self._build_geojson()

    # ------------------------------------------------------------------ reading

    @property
    def name(self) -> str:
        return self.scenario.name

    def evaluation(
        self, assign: NDArray[np.int64] | None = None, centres: NDArray[np.int64] | None = None
    ) -> Evaluation:
        return evaluate(
            self.problem,
            self.assign if assign is None else assign,
            self.centres if centres is None else centres,
            self.bands,
            weight=self.weight,
            disruption_measure=self.disruption_measure,
        )

    def quotas(self, assign: NDArray[np.int64]) -> list[float | None] | None:
        """Quotas per territory for an assignment (None without a quotas section)."""
        if self.scenario.quotas is None:
            return None
        from ..plan import assignment_view
        from ..quota import set_quotas

        try:
            table = set_quotas(assignment_view(self.problem, assign), self.scenario.quotas).table
        except TerritoryOptError:
            return [None] * self.problem.n_seats
        return _finite(table["quota"].to_numpy(float))

    def figures(
        self, assign: NDArray[np.int64] | None = None, centres: NDArray[np.int64] | None = None
    ) -> dict[str, Any]:
        """Per-territory figures and totals of an assignment (the current one by default)."""
        a = self.assign if assign is None else assign
        ev = self.evaluation(a, centres)
        b = self.bands
        quotas = self.quotas(a)
        changed = a != self.baseline
        changed_per = np.bincount(a[changed], minlength=self.problem.n_seats)
        rows = []
        for t in range(self.problem.n_seats):
            measures = {
                name: {
                    "load": float(ev.load[t, j]),
                    "target": float(b.target[t, j]),
                    "low": _finite([b.low[t, j]])[0],
                    "high": _finite([b.high[t, j]])[0],
                    "dev_pct": float(ev.deviation_pct[t, j]),
                    "within": bool(ev.within[t, j]),
                }
                for j, name in enumerate(self.problem.measure_names)
            }
            rows.append(
                {
                    "index": t,
                    "units": int(ev.units[t]),
                    "measures": measures,
                    "travel_km": float(ev.travel[t]),
                    "max_km": float(ev.max_distance[t]),
                    "moved_in": int(ev.moved_in[t]),
                    "moved_out": int(ev.moved_out[t]),
                    "pieces": None if ev.pieces is None else int(ev.pieces[t]),
                    "balanced": bool(ev.balanced[t]),
                    "quota": None if quotas is None else quotas[t],
                    "changed_in": int(changed_per[t]),
                }
            )
        detached = [] if ev.detached is None else np.flatnonzero(ev.detached).tolist()
        return {
            "territories": rows,
            "totals": {
                "travel_km": ev.travel_mean,
                "disruption_pct": ev.disruption_pct,
                "moved": int(ev.moved.sum()),
                "cut_edges": ev.cut_edges,
                "broken": 0 if ev.pieces is None else int((ev.pieces > 1).sum()),
                "out_of_band": int((~ev.balanced).sum()),
                "changed_vs_baseline": int(changed.sum()),
                "locked": int(self.pinned.sum()),
            },
            "detached": detached,
        }

    def state(self) -> dict[str, Any]:
        """Everything the page needs to draw the plan (the units' figures, the territories,
        the assignment, locks, figures, history, versions, job and proposal)."""
        with self.lock:
            p = self.problem
            lonlat = p.unit_lonlat if p.unit_lonlat is not None else np.full((p.n_units, 2), np.nan)
            seat_lonlat = p.seat_lonlat if p.seat_lonlat is not None else np.full((p.n_seats, 2), np.nan)
            centre_lonlat = lonlat[np.maximum(self.centres, 0)]
            distance = self.evaluation().distance
            return {
                "name": self.name,
                "description": self.scenario.description,
                "scenario": str(self.scenario_path) if self.scenario_path else None,
                "kind": "geography" if self.geometry is not None else "points",
                "measures": list(p.measure_names),
                "tolerance": self.bands.tolerance,
                "units": {
                    "ids": [str(u) for u in p.unit_ids],
                    "names": [str(u) for u in p.unit_names],
                    "lon": _finite(lonlat[:, 0]),
                    "lat": _finite(lonlat[:, 1]),
                    "values": [_finite(p.measures[:, j]) for j in range(len(p.measure_names))],
                    "data_lock": p.lock.tolist(),
                    "owner": p.owner.tolist(),
                    "distance_km": _finite(distance),
                },
                "territories": [
                    {
                        "index": t,
                        "id": str(p.seat_ids[t]),
                        "name": str(p.seat_names[t]),
                        "colour": self.colours[t],
                        "home": bool(p.has_home[t]),
                        "lon": _finite([seat_lonlat[t, 0] if p.has_home[t] else centre_lonlat[t, 0]])[0],
                        "lat": _finite([seat_lonlat[t, 1] if p.has_home[t] else centre_lonlat[t, 1]])[0],
                        "exempt": bool(self.exempt[t]),
                    }
                    for t in range(p.n_seats)
                ],
                "assignment": self.assign.tolist(),
                "baseline": self.baseline.tolist(),
                "locked": np.flatnonzero(self.pinned).tolist(),
                "figures": self.figures(),
                "history": self._history(),
                "versions": self.versions_list(),
                "job": self.job.status() if self.job is not None else None,
                "proposal": self._proposal_view(),
            }

    def geojson(self) -> bytes:
        """Unit polygons as GeoJSON (property ``i``: the unit's index) for the map, simplified
        to ~50 m and rounded to ~10 m (built once, when the session opens)."""
        if self.geometry is None:
            msg = "this plan's units are points (accounts): there is no geometry"
            raise RequestError(msg)
        assert self._geojson is not None
        return self._geojson

    def _build_geojson(self) -> None:
        import shapely

        geoms = self.geometry.to_numpy() if self.geometry is not None else np.zeros(0, dtype=object)
        geoms = shapely.set_precision(shapely.simplify(geoms, 5e-4, preserve_topology=True), 1e-4)
        features = [
            {"type": "Feature", "properties": {"i": i}, "geometry": shapely.geometry.mapping(g)}
            for i, g in enumerate(geoms)
        ]
        self._geojson = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()
        self.geojson_gzip = gzip.compress(self._geojson, compresslevel=6)  # served as is: no per-request compression

    def _history(self) -> dict[str, Any]:
        return {
            "undo": len(self.undo_stack),
            "redo": len(self.redo_stack),
            "undo_label": self.undo_stack[-1][3] if self.undo_stack else None,
            "redo_label": self.redo_stack[-1][3] if self.redo_stack else None,
        }

    # ------------------------------------------------------------------ editing

    def units(self, ids: Sequence[str]) -> NDArray[np.int64]:
        """Indices of unit ids; every unknown id is named."""
        if not ids:
            msg = "no units given: send a non-empty list of unit ids"
            raise RequestError(msg)
        unknown = [str(u) for u in ids if str(u) not in self.unit_index]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:10]) + (
                f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            )
            msg = f"unknown unit id(s): {shown}; this plan has {self.problem.n_units} units (GET /api/state lists them)"
            raise RequestError(msg)
        return np.unique(np.array([self.unit_index[str(u)] for u in ids], dtype=np.int64))

    def territory(self, territory_id: str) -> int:
        if str(territory_id) not in self.seat_index:
            msg = f"unknown territory id {territory_id!r}; this plan has {', '.join(list(self.seat_index)[:20])}{' ...' if len(self.seat_index) > 20 else ''}"
            raise RequestError(msg)
        return self.seat_index[str(territory_id)]

    def _push(self, label: str) -> None:
        self.undo_stack.append((self.assign.copy(), self.pinned.copy(), self.centres.copy(), label))
        del self.undo_stack[:-MAX_HISTORY]
        self.redo_stack.clear()

    def _delta(self, before: NDArray[np.int64], *, full: bool = True) -> dict[str, Any]:
        changed = np.flatnonzero(before != self.assign)
        return {
            "changes": np.column_stack([changed, self.assign[changed]]).tolist(),
            "locked": np.flatnonzero(self.pinned).tolist(),
            "figures": self.figures() if full else None,
            "history": self._history(),
            "centres": self.centres.tolist(),
        }

    def move(self, unit_ids: Sequence[str], territory_id: str) -> dict[str, Any]:
        """Move units to a territory; the moved units become locked (hand edits are kept by
        re-optimise). Units the data locks elsewhere are refused."""
        with self.lock:
            units = self.units(unit_ids)
            t = self.territory(territory_id)
            data_locked = units[(self.problem.lock[units] >= 0) & (self.problem.lock[units] != t)]
            if len(data_locked):
                names = ", ".join(
                    f"{self.problem.unit_ids[u]} (locked to {self.problem.seat_ids[self.problem.lock[u]]})"
                    for u in data_locked[:10]
                )
                msg = f"the scenario's data locks {names}; unlock them in the data (lock column) to move them"
                raise ConflictError(msg)
            before = self.assign.copy()
            if (self.assign[units] == t).all() and self.pinned[units].all():
                return self._delta(before)
            self._push(f"move {len(units)} unit{'s' if len(units) != 1 else ''} to {self.problem.seat_ids[t]}")
            self.assign[units] = t
            self.pinned[units] = True
            return self._delta(before)

    def set_locked(self, unit_ids: Sequence[str], locked: bool) -> dict[str, Any]:
        """Lock units to their current territory (kept by re-optimise), or unlock them."""
        with self.lock:
            units = self.units(unit_ids)
            before = self.assign.copy()
            if (self.pinned[units] == locked).all():
                return self._delta(before)
            self._push(f"{'lock' if locked else 'unlock'} {len(units)} unit{'s' if len(units) != 1 else ''}")
            self.pinned[units] = locked
            return self._delta(before)

    def undo(self) -> dict[str, Any]:
        return self._step(self.undo_stack, self.redo_stack, "nothing to undo")

    def redo(self) -> dict[str, Any]:
        return self._step(self.redo_stack, self.undo_stack, "nothing to redo")

    def _step(
        self,
        source: list[Snapshot],
        target: list[Snapshot],
        empty: str,
    ) -> dict[str, Any]:
        """Restore the state on top of ``source``, keeping the current one on ``target``."""
        with self.lock:
            if not source:
                raise RequestError(empty)
            before = self.assign.copy()
            assign, pinned, centres, label = source.pop()
            target.append((self.assign.copy(), self.pinned.copy(), self.centres.copy(), label))
            self.assign, self.pinned, self.centres = assign, pinned, centres
            return self._delta(before)

    # ------------------------------------------------------------------ re-optimise

    def reoptimise_problem(self) -> Problem:
        """The problem re-optimise solves: the current state is the current alignment (what the
        disruption budget counts against) and every locked unit keeps its territory."""
        lock = np.where(self.pinned, self.assign, self.problem.lock)
        return replace(self.problem, owner=self.assign.copy(), lock=lock)

    def prepare_engine(self) -> None:
        """Keep a warm engine process ready (it imports the engine while the planner edits), so
        re-optimise starts at once; served studios call this, :meth:`close` ends it."""
        from .reoptimise import spawn_worker

        with self.lock:
            self.warm = True
            if self.spare is None or self.spare.process.poll() is not None:
                self.spare = spawn_worker()

    def close(self) -> None:
        """Stop a running re-optimise and the warm engine process."""
        with self.lock:
            self.warm = False
            job, spare, self.spare = self.job, self.spare, None
        if job is not None:
            job.cancel()
        if spare is not None:
            spare.close()

    def start_reoptimise(self, *, time_limit: float | None = None) -> dict[str, Any]:
        """Start the engine in a background process on the current state."""
        from .reoptimise import Job

        with self.lock:
            if self.job is not None and self.job.running:
                msg = "a re-optimise is already running: cancel it or wait for its proposal"
                raise ConflictError(msg)
            limit = float(time_limit) if time_limit is not None else min(self.scenario.solver.time_limit, 10.0)
            if not 0 < limit <= 3600:
                msg = f"time_limit must be in (0, 3600] seconds, got {time_limit}"
                raise RequestError(msg)
            self.proposal = None
            self.job = Job(
                self.reoptimise_problem(),
                self.scenario,
                time_limit=limit,
                start=(self.assign.copy(), self.centres.copy()),
                on_done=self._job_done,
                worker=self.spare,
            )
            self.spare = None
            self.job.start()
            return self.job.status()

    def job_status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "job": self.job.status() if self.job is not None else None,
                "proposal": self._proposal_view(),
            }

    def cancel(self) -> dict[str, Any]:
        with self.lock:
            job = self.job
        if job is None or not job.running:
            msg = "no re-optimise is running"
            raise RequestError(msg)
        job.cancel()
        return self.job_status()

    def _job_done(self, job: Job) -> None:
        if self.warm:
            self.prepare_engine()
        with self.lock:
            if job is not self.job or job.result is None:
                return
            start_assign, _ = job.start_state
            assign = np.asarray(job.result["seat_of"], dtype=np.int64)
            centres = np.asarray(job.result["centres"], dtype=np.int64)
            changed = np.flatnonzero(assign != start_assign)
            self.proposal = {
                "assign": assign,
                "centres": np.where(self.problem.has_home, self.centres, centres),
                "from": start_assign,
                "changes": changed,
                "summary": job.result["summary"],
            }

    def _proposal_view(self) -> dict[str, Any] | None:
        if self.proposal is None:
            return None
        pr = self.proposal
        p = self.problem
        changes = [
            {
                "unit": int(u),
                "id": str(p.unit_ids[u]),
                "name": str(p.unit_names[u]),
                "from": str(p.seat_ids[pr["from"][u]]),
                "to": str(p.seat_ids[pr["assign"][u]]),
            }
            for u in pr["changes"]
        ]
        return {
            "changes": changes,
            "summary": pr["summary"],
            "assignment": pr["assign"].tolist(),
            "figures": self.figures(pr["assign"], pr["centres"]),
            "stale": bool((pr["from"] != self.assign).any()),
        }

    def accept(self) -> dict[str, Any]:
        """Make the proposal the current state (one undo step)."""
        with self.lock:
            if self.proposal is None:
                msg = "no proposal to accept: run a re-optimise first"
                raise RequestError(msg)
            if (self.proposal["from"] != self.assign).any():
                msg = "the state changed since the re-optimise started: discard the proposal and re-optimise again"
                raise ConflictError(msg)
            before = self.assign.copy()
            self._push(f"accept re-optimise ({len(self.proposal['changes'])} changes)")
            self.assign = self.proposal["assign"].copy()
            self.centres = self.proposal["centres"].copy()
            self.proposal = None
            return self._delta(before)

    def discard(self) -> dict[str, Any]:
        with self.lock:
            if self.proposal is None:
                msg = "no proposal to discard"
                raise RequestError(msg)
            self.proposal = None
            return self._delta(self.assign)

    # ------------------------------------------------------------------ versions

    def _scan_versions(self) -> None:
        if not self.versions_dir.is_dir():
            return
        for folder in sorted(self.versions_dir.iterdir()):
            if VERSION_NAME.fullmatch(folder.name) and (folder / "assignments.csv").is_file():
                try:
                    assign = read_plan_assignment(self.problem, folder)
                except TerritoryOptError:
                    continue
                meta = _read_meta(folder)
                self.versions[folder.name] = Version(
                    folder.name,
                    assign,
                    folder,
                    str(meta.get("note", "")),
                    str(meta.get("created", "")),
                    self._indices(meta.get("locked", [])),
                )

    def _indices(self, ids: Iterable[str]) -> NDArray[np.int64]:
        return np.array([self.unit_index[str(u)] for u in ids if str(u) in self.unit_index], dtype=np.int64)

    def versions_list(self) -> list[dict[str, Any]]:
        return [v.describe(self.workspace) for v in self.versions.values()]

    def version(self, name: str) -> Version:
        if name == "current":
            return Version("current", self.assign.copy(), None, "the state being edited")
        if name not in self.versions:
            msg = f"unknown version {name!r}; versions: {', '.join(['current', *self.versions])}"
            raise RequestError(msg)
        return self.versions[name]

    def open_version(self, name: str) -> dict[str, Any]:
        """Make a saved version the current state (one undo step); its locks come with it."""
        with self.lock:
            v = self.version(name)
            before = self.assign.copy()
            self._push(f"open {name}")
            self.assign = v.assign.copy()
            self.pinned[:] = False
            self.pinned[v.locked] = True
            self.centres = medoid_centres(self.problem, self.assign, self.weight)
            return self._delta(before)

    def compare(self, a: str, b: str) -> dict[str, Any]:
        """Per-territory deltas ``b − a`` and the units whose territory differs."""
        with self.lock:
            va, vb = self.version(a), self.version(b)
            centres_a = medoid_centres(self.problem, va.assign, self.weight)
            centres_b = medoid_centres(self.problem, vb.assign, self.weight)
            ea, eb = self.evaluation(va.assign, centres_a), self.evaluation(vb.assign, centres_b)
        p = self.problem
        changed = np.flatnonzero(va.assign != vb.assign)
        rows = []
        for t in range(p.n_seats):
            row: dict[str, Any] = {
                "id": str(p.seat_ids[t]),
                "name": str(p.seat_names[t]),
                "units": [int(ea.units[t]), int(eb.units[t])],
                "travel_km": [float(ea.travel[t]), float(eb.travel[t])],
                "gained": int((vb.assign[changed] == t).sum()),
                "lost": int((va.assign[changed] == t).sum()),
            }
            for j, name in enumerate(p.measure_names):
                row[name] = [float(ea.load[t, j]), float(eb.load[t, j])]
                row[f"{name}_dev_pct"] = [float(ea.deviation_pct[t, j]), float(eb.deviation_pct[t, j])]
            rows.append(row)
        return {
            "a": a,
            "b": b,
            "territories": rows,
            "changed": [
                {
                    "unit": int(u),
                    "id": str(p.unit_ids[u]),
                    "name": str(p.unit_names[u]),
                    "from": str(p.seat_ids[va.assign[u]]),
                    "to": str(p.seat_ids[vb.assign[u]]),
                }
                for u in changed
            ],
            "totals": {
                "travel_km": [ea.travel_mean, eb.travel_mean],
                "out_of_band": [int((~ea.balanced).sum()), int((~eb.balanced).sum())],
                "broken": [
                    0 if ea.pieces is None else int((ea.pieces > 1).sum()),
                    0 if eb.pieces is None else int((eb.pieces > 1).sum()),
                ],
            },
        }

    def plan_for_state(self, assign: NDArray[np.int64] | None = None, *, method: str = "studio") -> Plan:
        """A :class:`~territory_opt.plan.Plan` of an assignment made in the studio: figures from
        the raw arrays and the independent audit; no solver proof (bound and gap are None),
        status ``feasible`` when the audit passes, ``unknown`` otherwise."""
        from ..plan import evaluated_plan

        a = self.assign.copy() if assign is None else np.asarray(assign, dtype=np.int64)
        changed = int((a != self.baseline).sum())
        return evaluated_plan(
            self.problem,
            a,
            self.scenario,
            centres=self.centres,
            exempt=self.exempt,
            method=method,
            bound_scope="none: the plan was edited in the plan studio (no solver proof)",
            notes=(
                f"edited in the plan studio: {changed} unit(s) in another territory than in {self.versions['baseline'].note or 'the baseline'}; {int(self.pinned.sum())} locked by hand",
            ),
        )

    def save(self, note: str = "") -> dict[str, Any]:
        """Write the current state as a new complete plan folder ``vNNN`` (never overwriting)."""
        with self.lock:
            assign = self.assign.copy()
            pinned = self.pinned.copy()
            plan = self.plan_for_state(
                assign, method=f"plan studio: hand edits on {self.versions['baseline'].note or 'the baseline'}"
            )
        folder = self._write_version(plan, assign, pinned, note=note)
        with self.lock:
            return {
                "version": self.versions[folder.name].describe(self.workspace),
                "files": sorted(f.name for f in folder.iterdir()),
                "audit_ok": plan.ok,
                "versions": self.versions_list(),
            }

    def _new_version_folder(self) -> Path:
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        numbers = [int(f.name[1:]) for f in self.versions_dir.iterdir() if VERSION_NAME.fullmatch(f.name)]
        number = max(numbers, default=0) + 1
        while True:
            folder = self.versions_dir / f"v{number:03d}"
            try:
                folder.mkdir()
            except FileExistsError:
                number += 1
                continue
            return folder

    def save_solved(self, plan: Plan) -> None:
        """Save a plan the engine just solved as the next version and make it the baseline."""
        folder = self._write_version(
            plan, np.asarray(plan.seat_of), np.zeros(self.problem.n_units, dtype=bool), note="solved by the studio"
        )
        self.versions["baseline"] = replace(self.versions[folder.name], name="baseline", note=folder.name)

    def _write_version(self, plan: Plan, assign: NDArray[np.int64], pinned: NDArray[np.bool_], *, note: str) -> Path:
        """A complete plan folder ``vNNN`` written by :func:`territory_opt.write_plan` (as
        ``solve`` writes it), plus ``studio_changes.csv`` (the units in another territory than
        in the baseline) and ``studio.json``; registered in the version list."""
        from ..io import write_csv, write_text
        from ..pipeline import write_plan
        from ..quota import set_quotas

        folder = self._new_version_folder()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        quotas = set_quotas(plan, self.scenario.quotas) if self.scenario.quotas is not None else None
        write_plan(replace(plan, geometry=self.geometry, record=self.record), folder, quotas=quotas)
        p = self.problem
        changed = np.flatnonzero(assign != self.baseline)
        write_csv(
            folder / "studio_changes.csv",
            pd.DataFrame(
                {
                    "unit_id": p.unit_ids[changed],
                    "unit_name": p.unit_names[changed],
                    "baseline_territory_id": p.seat_ids[self.baseline[changed]],
                    "territory_id": p.seat_ids[assign[changed]],
                    "locked": pinned[changed],
                }
            ),
        )
        meta = {
            "scenario_name": self.scenario.name,
            "scenario_file": str(self.scenario_path) if self.scenario_path else None,
            "baseline": self.versions["baseline"].note,
            "note": note,
            "created": created,
            "locked": [str(u) for u in p.unit_ids[pinned]],
            "changed_vs_baseline": len(changed),
        }
        write_text(folder / "studio.json", json.dumps(meta, indent=2) + "\n")
        with self.lock:
            self.versions[folder.name] = Version(
                folder.name, assign.copy(), folder, note, created, np.flatnonzero(pinned)
            )
        return folder


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "studio.json"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def read_plan_assignment(problem: Problem, folder: Path) -> NDArray[np.int64]:
    """Seat index per unit from a plan folder's ``assignments.csv``; refuses a plan that does
    not match the problem's units and territories."""
    from ..errors import DataError
    from ..errors import Problem as Finding
    from ..io import read_assignment

    frame = read_assignment(folder)
    seat_index = {str(s): i for i, s in enumerate(problem.seat_ids)}
    unit_index = {str(u): i for i, u in enumerate(problem.unit_ids)}
    units = frame["unit_id"].astype(str).map(unit_index)
    seats = frame["territory_id"].astype(str).map(seat_index)
    known = units.notna() & seats.notna()
    seat_of = np.full(problem.n_units, -1, dtype=np.int64)
    seat_of[units[known].astype(int).to_numpy()] = seats[known].astype(int).to_numpy()
    unknown = int((~known).sum())
    missing = int((seat_of < 0).sum())
    if unknown or missing:
        first = frame.index[~known][:1].tolist()
        where = f" (first at row {first[0] + 2})" if first else ""
        msg = f"the plan does not match its scenario's data: {unknown} row(s) with an unknown unit or territory{where}, {missing} unit(s) without a territory; open the plan with the scenario it was made with (--scenario FILE) or solve again"
        raise DataError([Finding(str(folder / "assignments.csv"), msg)])
    return seat_of


# ---------------------------------------------------------------------- opening


def _default_versions_dir(workspace: Path, name: str) -> Path:
    return workspace / "studio" / name


def open_plan_folder(
    folder: Path, *, workspace: Path, scenario_path: Path | None = None, versions_dir: Path | None = None
) -> Session:
    """A session on a plan folder written by ``solve`` or by the studio.

    The scenario is ``scenario_path``, else the one a studio version records, else the
    scenario file whose ``name`` is the plan's (``summary.json``) in the workspace's
    ``scenarios/`` folder, the workspace or the package.
    """
    from ..io import read_json
    from ..pipeline import problem_from_scenario

    folder = inside(workspace, folder)
    if not (folder / "assignments.csv").is_file():
        msg = f"{folder}: not a plan folder (no assignments.csv); give a folder written by territory-opt solve or the studio, or a scenario file"
        raise StudioError(msg)
    summary = read_json(folder / "summary.json") if (folder / "summary.json").is_file() else {}
    meta = _read_meta(folder)
    if scenario_path is None and meta.get("scenario_file") and Path(meta["scenario_file"]).is_file():
        scenario_path = Path(meta["scenario_file"])
    if scenario_path is None:
        name = meta.get("scenario_name") or summary.get("scenario")
        if not name:
            msg = f"{folder}: summary.json does not name the scenario; pass the scenario file (--scenario FILE)"
            raise StudioError(msg)
        scenario_path = find_scenario(str(name), workspace)
    scenario = load_scenario(scenario_path)
    record = summary.get("scenario_record") or {}
    if isinstance(record.get("edits"), dict):  # the roster the plan was made with (what-if edits)
        from ..scenario import Edits

        scenario = scenario.model_copy(update={"edits": Edits.model_validate(record["edits"])})
    problem, inputs = problem_from_scenario(scenario)
    seat_of = read_plan_assignment(problem, folder)
    exempt = np.isin(problem.seat_ids.astype(str), [str(s) for s in summary.get("stand_alone", [])])
    if exempt.any():  # units standing alone stay with their seat (as the engine locked them)
        alone = exempt[seat_of] & (problem.lock < 0)
        problem = replace(problem, lock=np.where(alone, seat_of, problem.lock))
    first = next(iter(scenario.balance), None)
    weight = problem.measure(first) if first else np.ones(problem.n_units)
    if VERSION_NAME.fullmatch(folder.name) and (folder / "studio.json").is_file():
        versions = folder.parent
        label = meta.get("baseline") or folder.name
    else:
        versions = versions_dir or _default_versions_dir(workspace, folder.name)
        label = str(folder.relative_to(workspace.resolve()))
    unit_index = {str(u): i for i, u in enumerate(problem.unit_ids)}
    locked = np.array([unit_index[u] for u in meta.get("locked", []) if u in unit_index], dtype=np.int64)
    return Session(
        scenario=scenario,
        problem=problem,
        baseline=seat_of,
        centres=medoid_centres(problem, seat_of, weight),
        exempt=exempt,
        workspace=workspace,
        versions_dir=versions_dir or versions,
        geometry=inputs.geometry,
        scenario_path=scenario_path.resolve(),
        baseline_name=label,
        baseline_folder=folder,
        locked=locked,
        record=record if record else None,
    )


def open_scenario(
    path: Path, *, workspace: Path, time_limit: float | None = None, versions_dir: Path | None = None
) -> Session:
    """Solve a scenario and open its plan; the solved plan is saved as the first version."""
    from ..pipeline import solve_scenario

    path = inside(workspace, path)
    scenario = load_scenario(path)
    plan = solve_scenario(scenario, time_limit=time_limit)
    session = from_plan(plan, scenario, workspace=workspace, scenario_path=path, versions_dir=versions_dir)
    session.save_solved(plan)
    return session


def from_plan(
    plan: Plan,
    scenario: Scenario | str | Path | None = None,
    *,
    workspace: Path,
    geometry: gpd.GeoSeries | None = None,
    scenario_path: Path | None = None,
    versions_dir: Path | None = None,
) -> Session:
    """A session on a plan in memory (a notebook's ``plan.studio()``)."""
    if scenario is None:
        scenario = find_scenario(plan.scenario, workspace)
    if not isinstance(scenario, Scenario):
        scenario_path = Path(scenario)
        scenario = load_scenario(scenario_path)
    if geometry is None:
        geometry = plan.geometry
    if geometry is None and scenario.data.units == "geography":
        from ..pipeline import problem_from_scenario

        try:
            _, inputs = problem_from_scenario(scenario)
            geometry = (
                inputs.geometry
                if inputs.geometry is not None and len(inputs.geometry) == plan.problem.n_units
                else None
            )
        except (TerritoryOptError, ScenarioError):
            geometry = None
    seat_of = np.asarray(plan.seat_of, dtype=np.int64)
    return Session(
        scenario=scenario,
        problem=plan.problem,
        baseline=seat_of,
        centres=np.where(plan.problem.has_home, -1, plan.centres),
        exempt=np.asarray(plan.exempt, dtype=bool),
        workspace=workspace,
        versions_dir=versions_dir or _default_versions_dir(workspace, scenario.name),
        geometry=geometry,
        scenario_path=scenario_path.resolve() if scenario_path else None,
        baseline_name=f"plan solved {time.strftime('%H:%M')}",
        record=plan.record or None,
    )
