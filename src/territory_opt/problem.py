"""The optimisation problem as frozen numpy arrays: no files, no geodata.

Build it from validated frames with :meth:`Problem.from_inputs` (the data layer's output)
or directly from arrays with :meth:`Problem.from_arrays` (notebooks, tests, benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from . import geo

if TYPE_CHECKING:
    from .io import Inputs


def _readonly(array: ArrayLike, dtype: type | None = None) -> NDArray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Problem:
    """Units to assign to seats, as arrays.

    Attributes
    ----------
    unit_ids : (n,) object
        Unit ids (accounts or geographic units).
    seat_ids : (k,) object
        Seat ids (reps or vacancies).
    measures : (n, M) float
        Activity measures per unit, columns named by ``measure_names`` [the measure's unit].
    measure_names : tuple of str
    unit_xy : (n, 2) float
        Unit locations in a metric projection [km].
    seat_xy : (k, 2) float
        Seat home bases [km]; NaN rows are seats without a home (the centre is chosen).
    seat_capacity : (k,) float
        Seat size [FTE]; targets scale with it.
    edges : (E, 2) int or None
        Undirected adjacency between units (``i < j``), for contiguity and cut edges.
    unit_skills, seat_skills : (n,), (k,) int64
        Bit masks of required / offered skills (bit i is ``skill_names[i]``).
    skill_names : tuple of str
    lock : (n,) int
        Seat index a unit must keep, -1 when free.
    owner : (n,) int
        Current seat index (the alignment being changed), -1 when none.
    family : (n,) int
        Family (account group kept together) index, -1 when none.
    exclusions : (P, 2) int
        ``(unit, seat)`` pairs that are forbidden.
    unit_names, seat_names : (n,), (k,) object
        Display names (untrusted text: escape before putting in HTML).
    """

    unit_ids: NDArray[np.object_]
    seat_ids: NDArray[np.object_]
    measures: NDArray[np.float64]
    measure_names: tuple[str, ...]
    unit_xy: NDArray[np.float64]
    seat_xy: NDArray[np.float64]
    seat_capacity: NDArray[np.float64]
    edges: NDArray[np.int64] | None
    unit_skills: NDArray[np.int64]
    seat_skills: NDArray[np.int64]
    skill_names: tuple[str, ...]
    lock: NDArray[np.int64]
    owner: NDArray[np.int64]
    family: NDArray[np.int64]
    exclusions: NDArray[np.int64]
    unit_names: NDArray[np.object_]
    seat_names: NDArray[np.object_]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Unit and seat locations in degrees (lon, lat), for maps; None when built from km only.
    unit_lonlat: NDArray[np.float64] | None = None
    seat_lonlat: NDArray[np.float64] | None = None
    #: Hierarchy (territory -> area -> region) of each seat, and each unit's region; "" when none.
    seat_area: NDArray[np.object_] | None = None
    seat_region: NDArray[np.object_] | None = None
    unit_region: NDArray[np.object_] | None = None
    #: Id of each unit's previous owner when it differs from ``owner``: a rep removed by a
    #: what-if edit stays the previous owner here (``owner`` is -1 for the engine: the unit
    #: must move and is not counted against a disruption budget). None: ``owner`` says it all.
    previous_owner: NDArray[np.object_] | None = None
    #: Reps removed by what-if edits: ``(id, name)`` pairs (they own no territory here).
    removed_seats: tuple[tuple[str, str], ...] = ()

    def previous_ids(self) -> NDArray[np.object_]:
        """Previous owner of each unit as a rep id (``""`` when none), removed reps included."""
        if self.previous_owner is not None:
            return np.asarray(self.previous_owner, dtype=object)
        return np.where(self.owner >= 0, self.seat_ids[np.maximum(self.owner, 0)], "").astype(object)

    def moved(self, assign: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Units whose territory differs from their previous owner's (a removed rep's units
        always move)."""
        prev = self.previous_ids()
        return (prev != "") & (prev != self.seat_ids[np.asarray(assign)])

    def reassigned(self, assign: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Units with a current owner (``owner`` ≥ 0) that ``assign`` gives another seat: what a
        disruption budget counts (a removed rep's units have no owner and are not counted)."""
        return (self.owner >= 0) & (np.asarray(assign) != self.owner)

    @property
    def n_units(self) -> int:
        return len(self.unit_ids)

    @property
    def n_seats(self) -> int:
        return len(self.seat_ids)

    @property
    def has_home(self) -> NDArray[np.bool_]:
        """Seats with a fixed home base (others get a chosen centre)."""
        return ~np.isnan(self.seat_xy[:, 0])

    def measure(self, name: str) -> NDArray[np.float64]:
        """Values of one measure per unit; ``units`` is 1 per unit unless given."""
        if name in self.measure_names:
            return self.measures[:, self.measure_names.index(name)]
        if name == "units":
            return np.ones(self.n_units)
        msg = f"unknown measure {name!r}; this problem has {list(self.measure_names)}"
        raise KeyError(msg)

    def eligible(self, units: NDArray[np.int64], seats: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each (unit, seat) pair respects skills (elementwise)."""
        return (self.unit_skills[units] & ~self.seat_skills[seats]) == 0

    def excluded(self, units: NDArray[np.int64], seats: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each (unit, seat) pair is one of the planner's exclusions (elementwise)."""
        units, seats = np.asarray(units, dtype=np.int64), np.asarray(seats, dtype=np.int64)
        if len(self.exclusions) == 0:
            return np.zeros(np.broadcast(units, seats).shape, dtype=bool)
        k = self.n_seats
        return np.isin(units * k + seats, self.exclusions[:, 0] * k + self.exclusions[:, 1])

    def neighbours(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """CSR adjacency: ``indptr`` (n+1,), ``indices`` — neighbours of u are
        ``indices[indptr[u]:indptr[u+1]]``."""
        n = self.n_units
        if self.edges is None or len(self.edges) == 0:
            return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        src = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        dst = np.concatenate([self.edges[:, 1], self.edges[:, 0]])
        order = np.lexsort((dst, src))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))]).astype(np.int64)
        return indptr, dst[order].astype(np.int64)

    @classmethod
    def from_arrays(
        cls,
        *,
        measures: ArrayLike,
        unit_xy: ArrayLike,
        seat_xy: ArrayLike | None = None,
        n_seats: int | None = None,
        measure_names: tuple[str, ...] | list[str] | None = None,
        unit_ids: ArrayLike | None = None,
        seat_ids: ArrayLike | None = None,
        seat_capacity: ArrayLike | None = None,
        edges: ArrayLike | None = None,
        unit_skills: ArrayLike | None = None,
        seat_skills: ArrayLike | None = None,
        skill_names: tuple[str, ...] = (),
        lock: ArrayLike | None = None,
        owner: ArrayLike | None = None,
        family: ArrayLike | None = None,
        exclusions: ArrayLike | None = None,
        unit_names: ArrayLike | None = None,
        seat_names: ArrayLike | None = None,
    ) -> Problem:
        """Build a problem from plain arrays; everything but measures and locations is optional.

        ``seat_xy`` gives home bases [km]; omit it (and give ``n_seats``) for seats whose
        centres the model chooses.

        Raises
        ------
        DataError
            An array has the wrong shape or type, a NaN, infinite, negative or implausibly
            large measure, a non-positive FTE, or an index out of range (named, with where).
        """
        from . import _validate
        from .errors import DataError
        from .errors import Problem as Finding

        def array(name: str, value: object, dtype: object, shape: tuple[int, ...] | None = None) -> np.ndarray:
            try:
                out = np.asarray(value, dtype=dtype)  # type: ignore[call-overload]
                return out.reshape(shape) if shape is not None else out
            except (TypeError, ValueError) as exc:
                msg = f"cannot be read as an array of {np.dtype(dtype).name}: {exc}"  # type: ignore[call-overload]
                raise DataError([Finding("Problem.from_arrays", msg, None, name)]) from None

        values = array("measures", measures, float)
        if values.ndim == 1:
            values = values[:, None]
        n = values.shape[0]
        if seat_xy is None:
            if n_seats is None:
                msg = "give seat_xy (home bases) or n_seats (centres chosen)"
                raise DataError([Finding("Problem.from_arrays", msg, None, "seat_xy")])
            seat_pos = np.full((max(int(n_seats), 0), 2), np.nan)
        else:
            seat_pos = array("seat_xy", seat_xy, float)
            seat_pos = seat_pos.reshape(-1, 2) if seat_pos.size % 2 == 0 else seat_pos
        k = len(seat_pos)
        names = tuple(measure_names) if measure_names else tuple(f"m{i}" for i in range(values.shape[-1]))
        ids = np.asarray(unit_ids if unit_ids is not None else [f"U{i}" for i in range(n)], dtype=object)
        sids = np.asarray(seat_ids if seat_ids is not None else [f"T{i}" for i in range(k)], dtype=object)
        edge_arr = None
        if edges is not None:
            edge_arr = array("edges", edges, np.int64)
            if edge_arr.ndim == 1 and edge_arr.size % 2 == 0:
                edge_arr = edge_arr.reshape(-1, 2)
        checked = {
            "measures": values,
            "measure_names": names,
            "unit_xy": array("unit_xy", unit_xy, float),
            "seat_xy": seat_pos,
            "unit_ids": ids,
            "seat_ids": sids,
            "unit_names": np.asarray(unit_names if unit_names is not None else ids, dtype=object),
            "seat_names": np.asarray(seat_names if seat_names is not None else sids, dtype=object),
            "seat_capacity": array("seat_capacity", seat_capacity if seat_capacity is not None else np.ones(k), float),
            "lock": array("lock", lock if lock is not None else np.full(n, -1), np.int64),
            "owner": array("owner", owner if owner is not None else np.full(n, -1), np.int64),
            "family": array("family", family if family is not None else np.full(n, -1), np.int64),
            "unit_skills": array("unit_skills", unit_skills if unit_skills is not None else np.zeros(n), np.int64),
            "seat_skills": array("seat_skills", seat_skills if seat_skills is not None else np.zeros(k), np.int64),
            "edges": edge_arr,
            "exclusions": array(
                "exclusions", exclusions if exclusions is not None else np.zeros((0, 2)), np.int64, (-1, 2)
            ),
        }
        problems = _validate.problem_arrays(checked, n, k)
        if problems:
            raise DataError(problems)
        if edge_arr is not None:
            edge_arr = np.sort(edge_arr[:, :2], axis=1)
            edge_arr = np.unique(edge_arr[edge_arr[:, 0] != edge_arr[:, 1]], axis=0)
        # the validated arrays (defaults filled in above), each copied read-only
        c: dict[str, Any] = checked
        return cls(
            unit_ids=_readonly(ids),
            seat_ids=_readonly(sids),
            measures=_readonly(values),
            measure_names=names,
            unit_xy=_readonly(c["unit_xy"].reshape(n, 2)),
            seat_xy=_readonly(seat_pos),
            seat_capacity=_readonly(c["seat_capacity"]),
            edges=None if edge_arr is None else _readonly(edge_arr),
            unit_skills=_readonly(c["unit_skills"]),
            seat_skills=_readonly(c["seat_skills"]),
            skill_names=tuple(skill_names),
            lock=_readonly(c["lock"]),
            owner=_readonly(c["owner"]),
            family=_readonly(c["family"]),
            exclusions=_readonly(c["exclusions"]),
            unit_names=_readonly(c["unit_names"]),
            seat_names=_readonly(c["seat_names"]),
        )

    @classmethod
    def from_inputs(
        cls,
        inputs: Inputs,
        *,
        exclusions: list[tuple[str, str]] | None = None,
        skills: bool = True,
        locks: bool = True,
        families: bool = True,
        bind_regions: bool = False,
    ) -> Problem:
        """Project, measure and hand over the validated frames of :func:`territory_opt.io.load_inputs`.

        ``bind_regions``: a unit with a region goes only to reps of that region (or reps
        without one); enforced as a required skill ``region:<name>``.
        """
        units, reps = inputs.units, inputs.reps
        lon = np.concatenate([units["lon"].to_numpy(float), reps["lon"].dropna().to_numpy(float)])
        lat = np.concatenate([units["lat"].to_numpy(float), reps["lat"].dropna().to_numpy(float)])
        crs = geo.choose_metric_crs(lon, lat)
        unit_xy = geo.project_km(units["lon"].to_numpy(float), units["lat"].to_numpy(float), crs)
        seat_xy = np.full((len(reps), 2), np.nan)
        home = reps["lon"].notna().to_numpy()
        if home.any():
            seat_xy[home] = geo.project_km(reps["lon"].to_numpy(float)[home], reps["lat"].to_numpy(float)[home], crs)
        seat_index = {s: i for i, s in enumerate(reps["id"])}
        unit_index = {u: i for i, u in enumerate(units["id"])}
        unit_skill_sets = list(units["skills"])
        rep_skill_sets = list(reps["skills"])
        if bind_regions and "region" in units.columns:
            regions = sorted(set(units["region"]) - {""})
            unit_skill_sets = [
                s | ({f"region:{r}"} if r else set()) for s, r in zip(unit_skill_sets, units["region"], strict=True)
            ]
            tags = {f"region:{r}" for r in regions}
            rep_skill_sets = [
                s | ({f"region:{r}"} if r else tags)
                for s, r in zip(rep_skill_sets, reps.get("region", pd.Series([""] * len(reps))), strict=True)
            ]
        skill_names = sorted(set().union(*unit_skill_sets, *rep_skill_sets))
        bit = {s: 1 << i for i, s in enumerate(skill_names)}

        def mask(sets: object) -> np.ndarray:
            return np.array([sum(bit[s] for s in ss) for ss in sets], dtype=np.int64)  # type: ignore[attr-defined]

        fam = units["family"].to_numpy(object)
        fam_codes = np.full(len(units), -1, dtype=np.int64)
        if families:
            has = fam != ""
            if has.any():
                fam_codes[has] = np.unique(fam[has], return_inverse=True)[1]
        pairs = [(unit_index[u], seat_index[s]) for u, s in (exclusions or [])]
        made = cls.from_arrays(
            measures=units[list(inputs.measures)].to_numpy(float) if inputs.measures else np.zeros((len(units), 0)),
            measure_names=inputs.measures,
            unit_xy=unit_xy,
            seat_xy=seat_xy,
            unit_ids=units["id"].to_numpy(object),
            seat_ids=reps["id"].to_numpy(object),
            seat_capacity=reps["capacity"].to_numpy(float),
            edges=None if inputs.edges is None else inputs.edges[:, :2],
            unit_skills=mask(unit_skill_sets) if skills or bind_regions else np.zeros(len(units), dtype=np.int64),
            seat_skills=mask(rep_skill_sets),
            skill_names=tuple(skill_names),
            lock=np.array([seat_index.get(s, -1) for s in units["lock"]]) if locks else None,
            owner=np.array([seat_index.get(s, -1) for s in units["owner"]]),
            family=fam_codes,
            exclusions=np.array(pairs, dtype=np.int64).reshape(-1, 2),
            unit_names=units["name"].to_numpy(object),
            seat_names=reps["name"].to_numpy(object),
        )
        from dataclasses import replace

        return replace(
            made,
            unit_lonlat=_readonly(units[["lon", "lat"]].to_numpy(float)),
            seat_lonlat=_readonly(reps[["lon", "lat"]].to_numpy(float)),
            seat_area=_readonly(
                reps["area"].to_numpy(object) if "area" in reps.columns else np.full(len(reps), "", dtype=object),
                object,
            ),
            seat_region=_readonly(
                reps["region"].to_numpy(object) if "region" in reps.columns else np.full(len(reps), "", dtype=object),
                object,
            ),
            unit_region=_readonly(
                units["region"].to_numpy(object)
                if "region" in units.columns
                else np.full(len(units), "", dtype=object),
                object,
            ),
            previous_owner=(
                _readonly(units["previous_owner"].astype(str).to_numpy(object), object)
                if "previous_owner" in units.columns
                else None
            ),
            removed_seats=tuple(
                (str(i), str(n)) for i, n in zip(inputs.removed["id"], inputs.removed["name"], strict=True)
            )
            if inputs.removed is not None
            else (),
        )
