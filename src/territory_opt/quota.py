r"""Fair quotas: split a company target across territories with an LP (OR-Tools GLOP).

Ideal share (top-down), per territory t, with potential P and history (last year's sales) H:

    q*_t = T · [α · P_t / ΣP + (1 − α) · H_t / ΣH] · ramp_t        (then rescaled to sum T)

or bottom-up: q*_t = H_t · (1 + growth) − attrition · H_t, reconciled to T by the LP.

LP: minimise Σ_t (d⁺_t + d⁻_t) / q*_t   (relative deviation from the ideal)
    s.t.  Σ_t q_t = T
          q_t − q*_t = d⁺_t − d⁻_t
          lo_t ≤ q_t ≤ hi_t, with lo_t = max(floor, ramp_t·H'_t·(1 + g_min)),
                                    hi_t = min(cap,   ramp_t·H'_t·(1 + g_max) or ∞)
where H'_t counts moved accounts' history at (1 − relief) (a rep should not be held to the
full history of accounts they just received). Rounding to ``unit`` by largest remainder keeps
Σ q = T exactly; seasonality splits each quota into periods by a controlled rounding (a
min-cost flow) that keeps every territory's periods summing to its quota *and* every
period's total exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

from .errors import InfeasibleError


@dataclass(frozen=True)
class QuotaResult:
    """Quotas per territory, with the fairness figures.

    Attributes
    ----------
    table : DataFrame
        ``territory_id``, ``rep_id``, ``quota`` [currency/yr] and one column per period
        (``p1``...), per product (``quota_<product>``) when asked; a copy is returned.
    fairness : dict
        Quota ÷ potential: coefficient of variation, Gini, max/min; expected attainment
        (sales in proportion to potential ÷ quota) min, max, spread.
    binding : tuple of str
        Bounds the LP solution sits on, with their figures.
    """

    _table: pd.DataFrame
    fairness: dict[str, float]
    binding: tuple[str, ...] = field(default_factory=tuple)

    @property
    def table(self) -> pd.DataFrame:
        return self._table.copy()

    def summary(self) -> dict[str, Any]:
        """JSON-ready: total, fairness figures, binding bounds."""
        return {"total": float(self._table["quota"].sum()), "fairness": self.fairness, "binding": list(self.binding)}


def ideal_shares(potential: NDArray[np.float64], history: NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
    """α · P/ΣP + (1 − α) · H/ΣH (a share per territory, summing to 1)."""
    p = potential / potential.sum() if potential.sum() > 0 else np.full(len(potential), 1 / len(potential))
    h = history / history.sum() if history.sum() > 0 else p
    return alpha * p + (1 - alpha) * h


def allocate(
    target: float,
    ideal: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    *,
    ids: NDArray[np.object_] | None = None,
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Solve the quota LP; return quotas and the binding bounds.

    Raises
    ------
    InfeasibleError
        When the bounds cannot reach the target (with the figures).
    """
    k = len(ideal)
    ids = ids if ids is not None else np.array([str(i) for i in range(k)], dtype=object)
    lo_sum, hi_sum = float(lower.sum()), float(upper.sum())
    if lo_sum > target * (1 + 1e-12):
        msg = f"the quota bounds cannot reach the target: the floors and minimum growth already add up to {lo_sum:,.0f}, above the target {target:,.0f} by {lo_sum - target:,.0f}; lower g_min or the floors, or raise the target"
        raise InfeasibleError(msg)
    if hi_sum < target * (1 - 1e-12):
        msg = f"the quota bounds cannot reach the target: the caps and maximum growth add up to {hi_sum:,.0f}, below the target {target:,.0f} by {target - hi_sum:,.0f}; raise g_max or the caps, or lower the target"
        raise InfeasibleError(msg)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    assert solver is not None
    inf = solver.infinity()
    q = [solver.NumVar(float(lower[t]), float(upper[t]) if np.isfinite(upper[t]) else inf, f"q{t}") for t in range(k)]
    plus = [solver.NumVar(0, inf, f"p{t}") for t in range(k)]
    minus = [solver.NumVar(0, inf, f"m{t}") for t in range(k)]
    solver.Add(solver.Sum(q) == target)
    for t in range(k):
        solver.Add(q[t] - float(ideal[t]) == plus[t] - minus[t])
    weight = 1.0 / np.maximum(ideal, 1e-9 * max(target, 1.0))
    solver.Minimize(solver.Sum([float(weight[t]) * (plus[t] + minus[t]) for t in range(k)]))
    status = solver.Solve()
    if status != pywraplp.Solver.OPTIMAL:
        msg = f"the quota LP found no solution (status {status})"
        raise InfeasibleError(msg)
    values = np.array([v.solution_value() for v in q])
    binding = []
    tol = 1e-6 * max(target, 1.0)
    for t in range(k):
        if values[t] <= lower[t] + tol and lower[t] > 0 and ideal[t] < lower[t] - tol:
            binding.append(
                f"{ids[t]}: held up at its lower bound {lower[t]:,.0f} (ideal {ideal[t]:,.0f}, +{lower[t] - ideal[t]:,.0f})"
            )
        elif np.isfinite(upper[t]) and values[t] >= upper[t] - tol and ideal[t] > upper[t] + tol:
            binding.append(
                f"{ids[t]}: held down at its upper bound {upper[t]:,.0f} (ideal {ideal[t]:,.0f}, −{ideal[t] - upper[t]:,.0f})"
            )
    return values, tuple(binding)


def round_to_unit(values: NDArray[np.float64], total: float, unit: float) -> NDArray[np.float64]:
    """Round to multiples of ``unit`` by largest remainder so the sum stays ``total``.

    When ``total`` is not a multiple of ``unit``, the leftover (< unit) goes to the value
    with the largest remainder, so the sum is still exact.
    """
    if unit <= 0:
        return values.copy()
    scaled = values / unit
    base = np.floor(scaled + 1e-9)
    units_total = int(np.floor(total / unit + 1e-9))
    short = units_total - int(base.sum())
    frac = scaled - base
    order = np.argsort(-frac, kind="stable")
    if short > 0:
        base[order[:short]] += 1
    elif short < 0:
        for i in np.argsort(frac, kind="stable")[:-short]:
            base[i] -= 1
    out = base * unit
    leftover = total - out.sum()
    if abs(leftover) > 0:
        out[order[0]] += leftover
    return out


def split_periods(quotas: NDArray[np.float64], profile: NDArray[np.float64], unit: float) -> NDArray[np.float64]:
    """Split each quota into periods by ``profile`` (shares summing to 1).

    Controlled rounding to ``unit``: every territory's periods sum to its quota and every
    period's total equals the rounded period target, solved exactly as a min-cost flow.
    """
    k, n_p = len(quotas), len(profile)
    profile = np.asarray(profile, float) / float(np.sum(profile))
    exact = np.outer(quotas, profile)
    if unit <= 0:
        return exact
    total = float(quotas.sum())
    col_tot = round_to_unit(profile * total, total, unit)
    scaled = exact / unit
    base = np.floor(scaled + 1e-9)
    row_short = np.rint(quotas / unit - base.sum(axis=1)).astype(int)
    col_short = np.rint(col_tot / unit - base.sum(axis=0)).astype(int)
    if row_short.sum() == col_short.sum() and (row_short >= 0).all() and (col_short >= 0).all():
        flow = min_cost_flow.SimpleMinCostFlow()
        source, sink = k * 1 + n_p, k + n_p + 1
        for t in range(k):
            if row_short[t]:
                flow.add_arc_with_capacity_and_unit_cost(source, t, int(row_short[t]), 0)
            for p in range(n_p):
                cost = round(1000 * (1 - (scaled[t, p] - base[t, p])))
                flow.add_arc_with_capacity_and_unit_cost(t, k + p, 1, cost)
        for p in range(n_p):
            if col_short[p]:
                flow.add_arc_with_capacity_and_unit_cost(k + p, sink, int(col_short[p]), 0)
        flow.set_node_supply(source, int(row_short.sum()))
        flow.set_node_supply(sink, -int(row_short.sum()))
        if flow.solve() == flow.OPTIMAL:
            out = base.copy()
            for arc in range(flow.num_arcs()):
                tail, head = flow.tail(arc), flow.head(arc)
                if tail < k and k <= head < k + n_p and flow.flow(arc):
                    out[tail, head - k] += 1
            result = out * unit
            # quotas not multiple of unit: the sub-unit residue sits in the largest period
            residue = quotas - result.sum(axis=1)
            result[np.arange(k), np.argmax(profile)] += residue
            return result
    # fall back to per-territory largest remainder (territory sums exact)
    return np.vstack([round_to_unit(exact[t], float(quotas[t]), unit) for t in range(k)])


def gini(values: NDArray[np.float64]) -> float:
    """Gini coefficient of non-negative values (0 = all equal)."""
    v = np.sort(np.asarray(values, float))
    if v.sum() <= 0:
        return 0.0
    n = len(v)
    return float((2 * np.arange(1, n + 1) - n - 1).dot(v) / (n * v.sum()))


def fairness(quota: NDArray[np.float64], potential: NDArray[np.float64]) -> dict[str, float]:
    """Quota ÷ potential spread and expected attainment spread."""
    mask = (potential > 0) & (quota > 0)
    ratio = quota[mask] / potential[mask]
    expected = quota.sum() * potential / max(potential.sum(), 1e-12)
    attainment = expected[mask] / quota[mask]
    return {
        "quota_per_potential_cv": float(ratio.std() / ratio.mean()) if len(ratio) else 0.0,
        "quota_per_potential_gini": gini(ratio) if len(ratio) else 0.0,
        "quota_per_potential_max_min": float(ratio.max() / ratio.min()) if len(ratio) else 1.0,
        "expected_attainment_min": float(attainment.min()) if len(attainment) else 1.0,
        "expected_attainment_max": float(attainment.max()) if len(attainment) else 1.0,
        "expected_attainment_spread": float(attainment.max() - attainment.min()) if len(attainment) else 0.0,
    }


def quota_bounds(
    history: NDArray[np.float64],
    ramp: NDArray[np.float64],
    *,
    growth_min: float | None,
    growth_max: float | None,
    floor: float | None,
    cap: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper bounds per territory from growth over history, floors and caps."""
    k = len(history)
    lo = np.zeros(k)
    hi = np.full(k, np.inf)
    if growth_min is not None:
        lo = np.maximum(lo, ramp * history * (1 + growth_min))
    if growth_max is not None:
        hi = np.minimum(hi, np.where(history > 0, ramp * history * (1 + growth_max), np.inf))
    if floor is not None:
        lo = np.maximum(lo, floor * ramp)
    if cap is not None:
        hi = np.minimum(hi, cap)
    return lo, hi


def set_quotas_arrays(
    *,
    target: float,
    potential: NDArray[np.float64],
    history: NDArray[np.float64],
    alpha: float = 0.5,
    method: str = "top_down",
    growth: float = 0.0,
    attrition: float = 0.0,
    growth_min: float | None = None,
    growth_max: float | None = None,
    floor: float | None = None,
    cap: float | None = None,
    ramp: NDArray[np.float64] | None = None,
    unit: float = 0.0,
    ids: NDArray[np.object_] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[str, ...]]:
    """Quotas from arrays: returns (rounded quotas, LP quotas, binding bounds)."""
    k = len(potential)
    ramp = np.ones(k) if ramp is None else np.asarray(ramp, float)
    if method == "bottom_up":
        raw = history * (1 + growth) - attrition * history
    else:
        raw = ideal_shares(potential, history, alpha) * target
    raw = raw * ramp
    ideal = raw * target / raw.sum() if raw.sum() > 0 else np.full(k, target / k)
    lo, hi = quota_bounds(history, ramp, growth_min=growth_min, growth_max=growth_max, floor=floor, cap=cap)
    values, binding = allocate(target, ideal, lo, hi, ids=ids)
    return round_to_unit(values, target, unit), values, binding


def set_quotas(plan: Any, settings: Any, *, ramp_seats: NDArray[np.bool_] | None = None) -> QuotaResult:
    """Quotas for a plan's territories from a scenario's ``quotas`` section.

    Potential and history are summed over each territory's units under the plan; moved
    units count at ``(1 − relief)`` of their history in the growth bounds. Vacancies (seats
    without a home base) get ``ramp``. Products each get their own target and LP.
    """
    problem = plan.problem
    k = problem.n_seats
    seat_of = plan.seat_of
    moved = problem.moved(seat_of)
    ramp_mask = ramp_seats if ramp_seats is not None else ~problem.has_home
    ramp = np.where(ramp_mask, settings.ramp, 1.0)
    products = settings.products or {"": None}
    table = pd.DataFrame({"territory_id": problem.seat_ids, "rep_id": np.where(problem.has_home, problem.seat_ids, "")})
    total = np.zeros(k)
    binding_all: list[str] = []
    for name, product in products.items():
        target = product.target if product is not None else settings.target
        pot_name = product.potential if product is not None else settings.potential
        hist_name = product.history if product is not None else settings.history
        potential = np.bincount(seat_of, weights=problem.measure(pot_name), minlength=k).astype(float)
        hist_units = problem.measure(hist_name) * np.where(moved, 1 - settings.relief, 1.0)
        history = np.bincount(seat_of, weights=hist_units, minlength=k).astype(float)
        rounded, _, binding = set_quotas_arrays(
            target=target,
            potential=potential,
            history=history,
            alpha=settings.alpha,
            method=settings.method,
            growth=settings.growth,
            attrition=settings.attrition,
            growth_min=settings.growth_min,
            growth_max=settings.growth_max,
            floor=settings.floor,
            cap=settings.cap,
            ramp=ramp,
            unit=settings.unit,
            ids=problem.seat_ids,
        )
        col = f"quota_{name}" if name else "quota"
        table[col] = rounded
        total += rounded
        binding_all += [f"{name}: {b}" if name else b for b in binding]
    if settings.products:
        table["quota"] = total
    if settings.seasonality:
        periods = split_periods(table["quota"].to_numpy(float), np.asarray(settings.seasonality, float), settings.unit)
        for p in range(periods.shape[1]):
            table[f"p{p + 1}"] = periods[:, p]
    pot_total = np.bincount(seat_of, weights=problem.measure(settings.potential), minlength=k).astype(float)
    table["potential"] = pot_total
    table["quota_per_potential"] = np.where(
        pot_total > 0, table["quota"] / np.where(pot_total > 0, pot_total, 1.0), 0.0
    )
    return QuotaResult(
        _table=table, fairness=fairness(table["quota"].to_numpy(float), pot_total), binding=tuple(binding_all)
    )
