"""One evaluator of an assignment: measures, balance bands, travel, moved units, contiguity.

Everything here is computed from the raw problem arrays and an assignment with vectorised
numpy (``bincount``) and one connected-components pass, so it is cheap enough to run on every
hand edit (a few milliseconds for 3,108 US counties)::

    bands = Bands.from_problem(problem, {"potential": 0.05, "workload": 0.15})
    result = evaluate(problem, plan.seat_of, plan.centres, bands)
    result.deviation_pct, result.within, result.travel, result.moved, result.pieces

The definitions are the engine's (:mod:`territory_opt.metrics`, the objective terms of
:mod:`territory_opt.solve`):

* target ``T[t,m]``: the measure's total over units not standing alone, split over the seats
  not exempt in proportion to their capacity [FTE]; exempt seats have target 0;
* band: ``(1 - τ_m)·T[t,m] ≤ load[t,m] ≤ (1 + τ_m)·T[t,m]``; exempt seats and measures
  without a tolerance are unbounded;
* travel: straight-line distance of each unit to its seat's home base, or to the chosen centre
  unit for seats without one [km]; a territory's travel is the weighted mean of its units'
  distances, the plan's travel (the objective's term) the weighted mean over all units; the
  weight is the first balanced measure (as the engine), or 1 per unit;
* moved: a unit with a current owner (``problem.owner``) assigned elsewhere;
* contiguity: pieces of each territory in the adjacency graph ``problem.edges`` (an empty
  territory counts as one piece).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .problem import Problem

#: Slack on the band test, as a share of the target (the territory table's 1e-6 %).
WITHIN_EPS = 1e-8
#: How far a check that proves something widens a limit it compares with, as a share of the
#: limit (see :func:`edge`).
EDGE = 1e-9


def edge(limit: ArrayLike) -> NDArray[np.float64]:
    """The margin a proving check allows beyond ``limit`` (a band's end, a cap, a sum of
    them): ``EDGE`` of its size, 1e-9 at least. A band is computed in floats, (1 + 0.15) x
    100 is 114.99999999999999, so a unit of exactly 115 was called oversized, and a plan
    exactly on the band's edge was cut off. The margin is far above that error and far
    below the audit's allowance (1e-6 of a target), so no plan the audit passes is ruled
    out. Infinite limits stay infinite."""
    return EDGE * np.maximum(np.abs(np.asarray(limit, dtype=float)), 1.0)


def standing_units(problem: Problem, exempt: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Units that stand alone: locked to an exempt seat (an oversized unit and the pieces cut
    off behind it)."""
    return (problem.lock >= 0) & np.asarray(exempt, dtype=bool)[np.maximum(problem.lock, 0)]


def targets(problem: Problem, exempt: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """``T[t,m]``: totals of the units not standing alone split by FTE over the seats not exempt.

    A unit stands alone when it is locked to an exempt seat. The one definition of the targets
    (the formulation, the heuristics and the strategies use it too).
    """
    k = problem.n_seats
    exempt = np.zeros(k, dtype=bool) if exempt is None else np.asarray(exempt, dtype=bool)
    fte = np.where(exempt, 0.0, problem.seat_capacity)
    total = problem.measures.sum(axis=0)
    if exempt.any():
        total = total - problem.measures[standing_units(problem, exempt)].sum(axis=0)
    return np.outer(fte / max(float(fte.sum()), 1e-300), total)


def seat_positions(problem: Problem, centres: ArrayLike | None) -> NDArray[np.float64]:
    """Home base of each seat, or the location of its centre unit for seats without one [km]."""
    pos = np.array(problem.seat_xy, dtype=float, copy=True)
    free = ~problem.has_home
    if free.any():
        if centres is None:
            msg = "seats without a home base need their centre units (centres=...)"
            raise ValueError(msg)
        pos[free] = problem.unit_xy[np.asarray(centres, dtype=np.int64)[free]]
    return pos


@dataclass(frozen=True)
class Row:
    """One limit a search checks a seat's load against: a balance band or a capacity cap.

    Attributes
    ----------
    kind : str
        ``"band"`` or ``"cap"``.
    measure : int
        Column of the problem's measures.
    low, high : (k,) float
        The limits per seat; ``-inf`` / ``+inf`` where there is none (exempt seats, caps'
        lower side) [the measure's unit].
    norm : (k,) float
        What a stretch beyond the limits is measured against: the target for a band, the cap
        for a cap (at least 1e-12) [the measure's unit].
    """

    kind: str
    measure: int
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    norm: NDArray[np.float64]

    def stretch(self, load: NDArray[np.float64]) -> NDArray[np.float64]:
        """How far each seat's ``load`` (k,) of this measure lies outside the limits, as a
        share of ``norm`` (0 inside)."""
        return (np.maximum(self.low - load, 0.0) + np.maximum(load - self.high, 0.0)) / self.norm


@dataclass(frozen=True, eq=False)
class Bands:
    """Balance targets and their tolerance bands, per seat and measure, and capacity caps.

    Attributes
    ----------
    measure_names : tuple of str
        Columns of ``target``, ``low``, ``high`` and ``cap`` (the problem's measures).
    target : (k, M) float
        Target of each seat and measure [the measure's unit].
    low, high : (k, M) float
        The band; ``-inf`` / ``+inf`` where the measure is not balanced or the seat is exempt.
    tolerance : dict of str to float
        Tolerance of each balanced measure, a share (0.05 = ±5 %), in the scenario's order.
    exempt : (k,) bool
        Seats standing alone (a unit larger than any band), exempt from balance.
    cap : (k, M) float
        Cap of each seat and measure (cap per FTE · FTE); ``+inf`` where uncapped.
    capacity : dict of str to float
        Cap per FTE of each capped measure [the measure's unit per FTE]; none by default.
    """

    measure_names: tuple[str, ...]
    target: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    tolerance: dict[str, float]
    exempt: NDArray[np.bool_]
    cap: NDArray[np.float64]
    capacity: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_problem(
        cls,
        problem: Problem,
        tolerance: Mapping[str, float],
        *,
        exempt: ArrayLike | None = None,
        target: ArrayLike | None = None,
        capacity: Mapping[str, float] | None = None,
    ) -> Bands:
        """Bands of ``problem`` for the given tolerances ``{measure: share}``.

        ``exempt``: seats standing alone (``Plan.exempt``); none by default. ``target``: the
        targets ``T[t,m]`` when given (a window of a larger plan), else :func:`targets`.
        ``capacity``: caps per FTE ``{measure: cap}``; none by default.
        """
        caps = dict(capacity or {})
        unknown = [name for name in [*tolerance, *caps] if name not in problem.measure_names]
        if unknown:
            msg = f"unknown measure(s) {unknown}; this problem has {list(problem.measure_names)}"
            raise KeyError(msg)
        k, m = problem.n_seats, len(problem.measure_names)
        ex = np.zeros(k, dtype=bool) if exempt is None else np.asarray(exempt, dtype=bool).copy()
        tgt = targets(problem, ex) if target is None else np.array(target, dtype=float, copy=True)
        low = np.full((k, m), -np.inf)
        high = np.full((k, m), np.inf)
        for name, tol in tolerance.items():
            j = problem.measure_names.index(name)
            low[~ex, j] = (1 - tol) * tgt[~ex, j]
            high[~ex, j] = (1 + tol) * tgt[~ex, j]
        cap = np.full((k, m), np.inf)
        for name, per_fte in caps.items():
            cap[:, problem.measure_names.index(name)] = per_fte * problem.seat_capacity
        for array in (tgt, low, high, ex, cap):
            array.setflags(write=False)
        return cls(
            measure_names=problem.measure_names,
            target=tgt,
            low=low,
            high=high,
            tolerance={name: float(tol) for name, tol in tolerance.items()},
            exempt=ex,
            capacity={name: float(c) for name, c in caps.items()},
            cap=cap,
        )

    def rows(self) -> tuple[Row, ...]:
        """The limits a search checks loads against: one band per balanced measure (in
        ``tolerance`` order), then one cap per capped measure (in ``capacity`` order)."""
        out = []
        for name in self.tolerance:
            j = self.measure_names.index(name)
            norm = np.maximum(self.target[:, j], 1e-12)
            out.append(Row("band", j, self.low[:, j], self.high[:, j], norm))
        for name in self.capacity:
            j = self.measure_names.index(name)
            out.append(
                Row("cap", j, np.full(len(self.exempt), -np.inf), self.cap[:, j], np.maximum(self.cap[:, j], 1e-12))
            )
        return tuple(out)

    def stretch(self, load: NDArray[np.float64]) -> NDArray[np.float64]:
        """(k, R): how far each seat's loads ``load`` (k, M) lie outside each of :meth:`rows`,
        as a share of the row's norm (0 inside)."""
        rows = self.rows()
        if not rows:
            return np.zeros((len(self.exempt), 0))
        return np.column_stack([row.stretch(load[:, row.measure]) for row in rows])


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The figures of one assignment (see the module docstring for each definition).

    Attributes
    ----------
    units : (k,) int
        Units per territory.
    load : (k, M) float
        Each measure summed per territory [the measure's unit].
    deviation_pct : (k, M) float
        ``100·(load/target − 1)`` [%]; 0 where the target is 0 (exempt seats).
    within : (k, M) bool
        Load inside its band (True for measures without a band and exempt seats).
    distance : (n,) float
        Each unit's distance to its seat's home or centre [km].
    travel : (k,) float
        Weighted mean distance per territory [km]; 0 for an empty territory.
    max_distance : (k,) float
        Farthest unit per territory [km].
    travel_mean : float
        Weighted mean distance over all units [km] (the objective's travel term).
    moved : (n,) bool
        Units with a current owner assigned to another seat.
    moved_in, moved_out : (k,) int
        Moved units gained from / lost to other seats, per seat.
    disruption_pct : float or None
        Moved value as a share of the value with an owner [%]; None when no unit has one.
    pieces : (k,) int or None
        Connected pieces per territory (1 = contiguous; empty counts 1); None without adjacency.
    detached : (n,) bool or None
        Units outside their territory's largest piece (where contiguity breaks).
    cut_edges : int or None
        Adjacency edges joining two territories.
    """

    units: NDArray[np.int64]
    load: NDArray[np.float64]
    deviation_pct: NDArray[np.float64]
    within: NDArray[np.bool_]
    distance: NDArray[np.float64]
    travel: NDArray[np.float64]
    max_distance: NDArray[np.float64]
    travel_mean: float
    moved: NDArray[np.bool_]
    moved_in: NDArray[np.int64]
    moved_out: NDArray[np.int64]
    disruption_pct: float | None
    pieces: NDArray[np.int64] | None
    detached: NDArray[np.bool_] | None
    cut_edges: int | None

    @property
    def balanced(self) -> NDArray[np.bool_]:
        """(k,) every measure of the territory within its band."""
        return np.asarray(self.within.all(axis=1), dtype=bool)

    @property
    def objective_terms(self) -> dict[str, float]:
        """The objective's terms in natural units, as a solve reports them: ``travel`` [km],
        ``cut_edges`` (with adjacency and contiguity counted), ``disruption`` [%] (when units
        have a current owner)."""
        terms = {"travel": self.travel_mean}
        if self.cut_edges is not None:
            terms["cut_edges"] = float(self.cut_edges)
        if self.disruption_pct is not None:
            terms["disruption"] = self.disruption_pct
        return terms

    @property
    def contiguous(self) -> NDArray[np.bool_] | None:
        """(k,) the territory is one piece; None without adjacency."""
        return None if self.pieces is None else self.pieces <= 1


def territory_pieces(problem: Problem, assign: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """(k,) how many connected pieces each territory of a whole assignment has (an empty one
    counts as one); None without adjacency."""
    found = _pieces(problem, np.asarray(assign), np.zeros(problem.n_units))
    return None if found is None else found[0]


def _pieces(
    problem: Problem, assign: NDArray[np.int64], weight: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.bool_], int] | None:
    if problem.edges is None:
        return None
    n, k = problem.n_units, problem.n_seats
    edges = problem.edges
    same = assign[edges[:, 0]] == assign[edges[:, 1]]
    cut = int(len(edges) - same.sum())
    e = edges[same]
    graph = csr_matrix((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    # Edges only join units of one territory, so each component lies inside one territory.
    first = np.zeros(count, dtype=np.int64)
    first[labels[::-1]] = np.arange(n)[::-1]
    owner = assign[first]
    pieces = np.maximum(np.bincount(owner, minlength=k), 1).astype(np.int64)
    # The main piece of a territory: the heaviest (ties: most units, then first found).
    size = np.bincount(labels, weights=weight, minlength=count) + 1e-9 * np.bincount(labels, minlength=count)
    order = np.lexsort((-size, owner))
    main = np.full(k, -1, dtype=np.int64)
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = owner[order[1:]] != owner[order[:-1]]
    main[owner[order[keep]]] = order[keep]
    detached = labels != main[assign]
    return pieces, detached, cut


def _per_unit(problem: Problem, values: str | ArrayLike | None) -> NDArray[np.float64]:
    """A value per unit: a measure by name, values as given, or 1 per unit (None)."""
    if values is None:
        return np.ones(problem.n_units)
    if isinstance(values, str):
        return problem.measure(values)
    return np.asarray(values, dtype=float)


def evaluate(
    problem: Problem,
    assignment: ArrayLike,
    centres: ArrayLike | None,
    bands: Bands,
    *,
    weight: str | ArrayLike | None = None,
    disruption_measure: str | ArrayLike | None = None,
    positions: ArrayLike | None = None,
    contiguity: bool = True,
) -> Evaluation:
    """Figures of ``assignment`` (seat index per unit) against ``bands``.

    Parameters
    ----------
    problem : Problem
    assignment : (n,) int
        Seat index of each unit.
    centres : (k,) int or None
        Centre unit of each seat without a home base (``Plan.centres``); None when every seat
        has one.
    bands : Bands
    weight : str or (n,) float, optional
        Travel weight: a measure name or values per unit; default the first measure of
        ``bands.tolerance`` (the engine's choice), or 1 per unit.
    disruption_measure : str or (n,) float, optional
        Value counted by ``disruption_pct``: a measure name or values per unit; 1 per unit by
        default.
    positions : (k, 2) float, optional
        Each seat's home or centre [km] when already known (then ``centres`` is not used).
    contiguity : bool
        Count the pieces of each territory (False skips the graph pass: ``pieces``,
        ``detached`` and ``cut_edges`` are None).
    """
    assign = np.asarray(assignment, dtype=np.int64)
    n, k = problem.n_units, problem.n_seats
    if assign.shape != (n,) or (n and (assign.min() < 0 or assign.max() >= k)):
        msg = f"assignment must give a seat index in [0, {k}) for each of the {n} units"
        raise ValueError(msg)
    if weight is None:
        weight = next(iter(bands.tolerance), None)
    w = _per_unit(problem, weight)
    units = np.bincount(assign, minlength=k)
    load = np.zeros((k, problem.measures.shape[1]))
    for j in range(problem.measures.shape[1]):
        load[:, j] = np.bincount(assign, weights=problem.measures[:, j], minlength=k)
    target = bands.target
    safe = np.where(target > 0, target, 1.0)
    deviation = np.where(target > 0, 100 * (load / safe - 1), 0.0)
    slack = WITHIN_EPS * np.abs(target)
    within = (load >= bands.low - slack) & (load <= bands.high + slack)

    pos = seat_positions(problem, centres) if positions is None else np.asarray(positions, dtype=float)
    distance = np.linalg.norm(problem.unit_xy - pos[assign], axis=1)
    wsum = np.bincount(assign, weights=w, minlength=k)
    wd = np.bincount(assign, weights=w * distance, minlength=k)
    travel = np.where(wsum > 0, wd / np.maximum(wsum, 1e-12), 0.0)
    farthest = np.zeros(k)
    np.maximum.at(farthest, assign, distance)

    has = problem.owner >= 0
    moved = problem.reassigned(assign)
    moved_in = np.bincount(assign[moved], minlength=k)
    moved_out = np.bincount(problem.owner[moved], minlength=k)
    disruption = None
    if has.any():
        value = _per_unit(problem, disruption_measure)
        disruption = 100.0 * float(value[moved].sum()) / max(float(value[has].sum()), 1e-12)

    found = _pieces(problem, assign, w) if contiguity else None
    pieces, detached, cut = found if found is not None else (None, None, None)
    return Evaluation(
        units=units,
        load=load,
        deviation_pct=deviation,
        within=within,
        distance=distance,
        travel=travel,
        max_distance=farthest,
        travel_mean=float((w * distance).sum() / max(float(w.sum()), 1e-12)),
        moved=moved,
        moved_in=moved_in,
        moved_out=moved_out,
        disruption_pct=disruption,
        pieces=pieces,
        detached=detached,
        cut_edges=cut,
    )
