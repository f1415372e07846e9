"""CP-SAT windows with exact contiguity: re-cut a few adjacent territories at once.

When single moves, swaps and spanning-tree recombinations stall (a small big-city
territory that needs a very particular set of counties; an imbalance that has to travel
through two or three full territories to reach one with room), the exact contiguity
search hands a *window* — a territory that misses its band and the adjacent
territories best placed to absorb the difference — to CP-SAT:

Sets: window seats T_w, the units W they hold today (every other unit stays where it
is, so a territory of the window is connected exactly when it is connected inside W),
adjacency E_W (both directions), legal pairs P ⊆ W × T_w (eligible seats within a few
hops of the seat's territory today; locked units stay, a family moves whole: x[u,t] = x[w,t]
for members u, w), clashing pairs C
(two units no band can hold together, see the search's clashes, that sit in different
territories today: a pair held together today is left to the search, which may need
the window to fix other bands first).

Variables: x[u,t], r[u,t] ∈ {0,1}; f[u,v,t] ∈ [0, |P_t|]; slacks s⁻[t,j], s⁺[t,j] ≥ 0 per band,
b ≥ 0 for the budget.

Constraints: Σ_t x[u,t] = 1; x[u,t] + x[w,t] ≤ 1 for (u, w) ∈ C; one root per seat,
r[u,t] ≤ x[u,t] (any member: a territory need not keep the unit it grew from); f[u,v,t] ≤ |P_t|·x[u,t], ≤ |P_t|·x[v,t];
Σ_v f[v,u,t] − Σ_v f[u,v,t] + |P_t|·r[u,t] ≥ x[u,t] (flow is created only at the root, so each
territory is connected: exact, as every connected territory has such a flow along a
spanning tree) and the implied Σ_{v∈N(u)} x[v,t] + r[u,t] ≥ x[u,t];
lo[t,j] − s⁻ ≤ Σ_u v[u,j]·x[u,t] ≤ hi[t,j] + s⁺; the disruption budget (value moved outside
the window is a constant) and per-rep limits with slack. With ``hard_bands`` a band that
holds today gets no slack (a valid plan stays valid).

Objective: :data:`VIOLATION_WEIGHT` × Σ slacks (the violation, in shares of a target,
first by far), plus the value moved under a budget at the rate of the search's price where
the value moved stands when the window is built (``_Search.rate``: a linearisation of the
convex price; the result is accepted by its violation, then value moved), plus travel at a
weight too small to trade against either. The hint is today's plan (flows: subtree sizes
of a search tree from each root), so CP-SAT starts from a solution and only improves.

A window is a neighbourhood, not a proof: its result is applied only when the window's
violation drops (then the value moved; with ``hard_bands`` the bands, then the budget,
then the value moved) and every territory is connected.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model

if TYPE_CHECKING:
    from .contiguous import _Search

#: A target (or a budget norm) is this many integer steps in the window model.
SCALE = 10_000_000
#: Units of the window a legal seat may reach: this many hops from the seat's territory.
HOPS = 6
#: Largest window (units) handed to CP-SAT.
MAX_UNITS = 900
#: The violation's weight against the value moved (a target's worth moved costs
#: the search's price rate × SCALE): violation first, by far; then the budget; travel last.
VIOLATION_WEIGHT = 100


def _reach(s: _Search, units: list[int], local: dict[int, int], start: list[int], hops: int) -> set[int]:
    """Window units within ``hops`` edges of ``start`` (walking inside the window)."""
    seen = set(start)
    frontier = list(start)
    for _ in range(hops):
        nxt = []
        for u in frontier:
            for z in s.nbrs[u]:
                if z in local and z not in seen:
                    seen.add(z)
                    nxt.append(z)
        frontier = nxt
        if not frontier:
            break
    return seen


def _root(s: _Search, t: int, members: list[int]) -> int:
    a = s.held_anchor(t)
    if a >= 0:
        return a
    d = np.linalg.norm(s.uxy[members] - s.pos[t], axis=1)
    return members[int(np.argmin(d))]


def _tree_flows(s: _Search, members: set[int], root: int) -> dict[tuple[int, int], int]:
    """Flows of a search tree from ``root`` inside ``members``: each arc carries the size of
    the subtree below it (the hint that makes today's territory a solution)."""
    parent = {root: -1}
    order = [root]
    queue = deque([root])
    while queue:
        u = queue.popleft()
        for z in s.nbrs[u]:
            if z in members and z not in parent:
                parent[z] = u
                order.append(z)
                queue.append(z)
    size = dict.fromkeys(order, 1)
    flows: dict[tuple[int, int], int] = {}
    for u in reversed(order[1:]):
        size[parent[u]] += size[u]
        flows[parent[u], u] = size[u]
    return flows


def _window_key(s: _Search, seats: list[int], hard_bands: bool) -> tuple[float, ...]:
    """What a window must lower, compared in order: the violation of the window's bands
    and of the budget (the bands first when ``hard_bands``), then the value moved in
    shares of a target."""
    bands = sum(s.seat_violation(t, s.load[t]) for t in seats)
    budget = s.budget_violation(s.moved)
    moved = s.moved / s.dnorm if s.budget is not None else 0.0
    return (bands, budget, moved) if hard_bands else (bands + budget, moved)


def window_solve(
    s: _Search,
    seats: list[int],
    *,
    time_limit: float,
    workers: int = 2,
    deterministic: bool = False,
    hard_bands: bool = False,
    lns_only: bool = False,
) -> bool:
    """Re-cut the territories of ``seats`` with CP-SAT (exact contiguity by flows); apply
    the result when the window's objective drops. Returns whether it did.

    ``hard_bands``: every band that holds today must hold after (a valid plan stays
    valid; only the budget and the value moved are traded). ``lns_only``: CP-SAT runs only
    its large-neighbourhood search from the hint."""
    window = _Window.build(s, [t for t in seats if not s.closed[t]], hard_bands)
    if window is None:
        return False
    chosen = window.solve(time_limit, workers, deterministic, lns_only=lns_only)
    return chosen is not None and _apply(s, window.seats, window.units, chosen, hard_bands)


class _Window:
    """The CP-SAT model of one window (see the module docstring), built step by step."""

    def __init__(self, s: _Search, seats: list[int], units: list[int], hard_bands: bool) -> None:
        self.s, self.seats, self.units, self.hard = s, seats, units, hard_bands
        self.members = {t: [u for u in units if s.assign[u] == t] for t in seats}
        self.roots = {t: _root(s, t, self.members[t]) for t in seats if self.members[t]}
        self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.allowed: dict[int, set[int]] = {}
        self.flows: dict[tuple[int, int, int], cp_model.IntVar] = {}
        self.root_var: dict[tuple[int, int], cp_model.IntVar] = {}
        self.terms: list[cp_model.IntVar] = []  # slacks, each a 1/SCALE share of a target
        self.hints: list[tuple[cp_model.IntVar, int]] = []
        self.stay_cost: list[tuple[int, cp_model.IntVar]] = []

    @classmethod
    def build(cls, s: _Search, seats: list[int], hard_bands: bool) -> _Window | None:
        if len(seats) < 2:
            return None
        units = (
            [u for u in range(s.n) if s.assign[u] in seats]
            if s.n < 4000
            else np.flatnonzero(np.isin(np.asarray(s.assign), seats)).tolist()
        )
        if len(units) > MAX_UNITS or len(units) < 2:
            return None
        w = cls(s, seats, units, hard_bands)
        if len(w.roots) < len(seats):
            return None
        w._pairs()
        w._clashes()
        w._contiguity()
        w._bands()
        w._disruption()
        w._objective()
        w._hint()
        return w

    def _pairs(self) -> None:
        """x[u,t] for the window's units within HOPS of t's territory that may go to t."""
        s, local = self.s, {u: i for i, u in enumerate(self.units)}
        # families whole on a seat of the window move whole: every member or none
        families = [
            members
            for members in s.families.values()
            if members[0] in local and all(s.assign[u] == s.assign[members[0]] for u in members)
        ]
        # under per-rep limits each seat's anchor stays on it, as in the search's swaps and
        # pair re-cuts (see contiguous._split_pair)
        pinned = {s.held_anchor(t) for t in self.seats} - {-1} if s.rep_limit is not None else set()
        for t in self.seats:
            near = _reach(s, self.units, local, self.members[t], HOPS)
            ok = {
                u
                for u in near
                if s.assign[u] == t or (not (s.locked_l[u] or s.in_family[u] or u in pinned) and s.eligible(u, t))
            }
            for members in families:
                if all(u in near for u in members) and not pinned & set(members) and s.family_takes(members, t):
                    ok.update(members)
            self.allowed[t] = ok
            for u in ok:
                self.x[u, t] = self.model.new_bool_var("")
        for u in self.units:
            self.model.add_exactly_one([self.x[u, t] for t in self.seats if (u, t) in self.x])
        for members in families:
            for t in self.seats:
                if (members[0], t) in self.x:
                    for u in members[1:]:
                        self.model.add(self.x[u, t] == self.x[members[0], t])

    def _clashes(self) -> None:
        """No territory joins two units that no band can hold together (the search's
        clashes: a rule of the real problem). A pair that shares a territory today is left
        to the search's costs: the window may be unable to part it (a locked unit, a unit
        with no other legal seat in reach), and must still be free to fix what it can."""
        s = self.s
        if not s.clash:
            return
        for t in self.seats:
            ok = self.allowed[t]
            for u in ok:
                for w in s.clash.get(u, ()):
                    if u < w and w in ok and s.assign[u] != s.assign[w]:
                        self.model.add_bool_or([self.x[u, t].Not(), self.x[w, t].Not()])

    def _contiguity(self) -> None:
        """A flow from each territory's root (a variable: a territory need not keep the unit
        it grew from; today's root is the hint) feeds every other member."""
        model, x = self.model, self.x
        for t in self.seats:
            ok = self.allowed[t]
            cap = len(ok)
            for u in ok:
                self.root_var[u, t] = model.new_bool_var("")
                model.add_implication(self.root_var[u, t], x[u, t])
            model.add_exactly_one([self.root_var[u, t] for u in ok])
            inflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in ok}
            outflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in ok}
            for u in ok:
                for z in self.s.nbrs[u]:
                    if z in ok:
                        f = model.new_int_var(0, cap, "")
                        model.add(f <= cap * x[u, t])
                        model.add(f <= cap * x[z, t])
                        self.flows[u, z, t] = f
                        outflow[u].append(f)
                        inflow[z].append(f)
            for u in ok:
                model.add(sum(inflow[u]) - sum(outflow[u]) + cap * self.root_var[u, t] >= x[u, t])
                # implied, and a tighter relaxation: a member other than the root has a
                # neighbour in its territory
                model.add(sum(x[z, t] for z in self.s.nbrs[u] if z in ok) + self.root_var[u, t] >= x[u, t])

    def _bands(self) -> None:
        """Every hard band with slack in shares of a target (no slack for a band that holds
        today when the bands are hard)."""
        s, model = self.s, self.model
        for t in self.seats:
            for j in range(s.r):
                lo, hi, norm = s.lo_l[t][j], s.hi_l[t][j], s.norm_l[t][j]
                scale = SCALE / norm
                coef = {u: round(s.vals[u][j] * scale) for u in self.allowed[t]}
                expr = cp_model.LinearExpr.weighted_sum([self.x[u, t] for u in coef], list(coef.values()))
                now_load = sum(coef[u] for u in self.members[t])
                bound = int(sum(abs(c) for c in coef.values())) + 1
                keep = self.hard and lo - 1e-9 * norm <= s.load[t][j] <= hi + 1e-9 * norm
                if np.isfinite(hi):
                    top = int(np.floor(hi * scale))
                    over = model.new_int_var(0, 0 if keep else bound, "")
                    model.add(expr - over <= (max(top, now_load) if keep else top))
                    self.terms.append(over)
                    self.hints.append((over, max(0, now_load - top)))
                if np.isfinite(lo):
                    floor_ = int(np.ceil(lo * scale))
                    under = model.new_int_var(0, 0 if keep else floor_ + 1, "")
                    model.add(expr + under >= (min(floor_, now_load) if keep else floor_))
                    self.terms.append(under)
                    self.hints.append((under, max(0, floor_ - now_load)))

    def _disruption(self) -> None:
        """The value moved (a constant outside the window): the budget and per-rep limits
        with slack, and the search's economy on every value moved."""
        s = self.s
        if s.budget is None and s.rep_limit is None:
            return
        dscale = SCALE / s.dnorm
        seat_set = set(self.seats)
        mine = [u for u in self.units if s.owner[u] in seat_set]
        now_mine = sum(s.dvalue[u] for u in mine if s.assign[u] != s.owner[u])
        base = s.moved - now_mine + sum(s.dvalue[u] for u in mine)
        stay = [(round(s.dvalue[u] * dscale), self.x[u, s.owner[u]]) for u in mine if (u, s.owner[u]) in self.x]
        if s.budget is not None:
            moved_expr = round(base * dscale) - sum(c * v for c, v in stay)
            over_b = self.model.new_int_var(0, round(base * dscale) + 1, "")
            self.model.add(moved_expr - over_b <= int(np.floor(s.budget * dscale)))
            self.terms.append(over_b)
            # every value moved costs the economy (the constant part left out)
            self.stay_cost = [(round(s.rate() * c), v) for c, v in stay]
        if s.rep_limit is not None:
            for o in self.seats:
                owned = [u for u in mine if s.owner[u] == o]
                if not owned:
                    continue
                cur = sum(s.dvalue[u] for u in owned if s.assign[u] != o)
                out_base = s.out_moved[o] - cur + sum(s.dvalue[u] for u in owned)
                out_expr = round(out_base * dscale) - sum(
                    round(s.dvalue[u] * dscale) * self.x[u, o] for u in owned if (u, o) in self.x
                )
                over_r = self.model.new_int_var(0, round(out_base * dscale) + 1, "")
                self.model.add(out_expr - over_r <= int(np.floor(s.rep_limit[o] * dscale)))
                self.terms.append(over_r)

    def _objective(self) -> None:
        """Violation first (VIOLATION_WEIGHT), then the value moved, then travel (about a
        thousandth of a target's share in all, too light to trade against either)."""
        s = self.s
        dist = {(u, t): s.weight[u] * float(np.hypot(*(s.uxy[u] - s.pos[t]))) for (u, t) in self.x}
        now_travel = sum(dist[u, s.assign[u]] for u in self.units) or 1.0
        tscale = 1000.0 / now_travel
        objective = VIOLATION_WEIGHT * sum(self.terms) + sum(round(d * tscale) * self.x[key] for key, d in dist.items())
        if self.stay_cost:
            objective = objective - sum(c * v for c, v in self.stay_cost)
        self.model.minimize(objective)

    def _hint(self) -> None:
        """Today's plan, its flows (subtree sizes of a search tree from each root) and slacks."""
        s, model = self.s, self.model
        for (u, t), var in self.x.items():
            model.add_hint(var, int(s.assign[u] == t))
        hinted: dict[tuple[int, int, int], int] = {}
        for t in self.seats:
            for (a, b), amount in _tree_flows(s, set(self.members[t]), self.roots[t]).items():
                hinted[a, b, t] = amount
        for key, flow in self.flows.items():
            model.add_hint(flow, hinted.get(key, 0))
        for slack, value in self.hints:
            model.add_hint(slack, value)
        for (u, t), var in self.root_var.items():
            model.add_hint(var, int(u == self.roots[t]))

    def solve(
        self, time_limit: float, workers: int, deterministic: bool, lns_only: bool = False
    ) -> dict[int, int] | None:
        """The seat of each window unit in CP-SAT's best solution, or None. Deterministic
        mode charges the search's window budget with CP-SAT's deterministic time."""
        solver = cp_model.CpSolver()
        solver.parameters.catch_sigint_signal = False
        solver.parameters.random_seed = int(self.s.rng.integers(0, 2**31 - 1))
        solver.parameters.num_workers = 1 if deterministic else max(1, workers)
        solver.parameters.use_lns_only = lns_only
        if deterministic:
            solver.parameters.max_deterministic_time = max(0.1, time_limit)
        else:
            solver.parameters.max_time_in_seconds = max(0.1, time_limit)
        status = solver.solve(self.model)
        if deterministic:
            self.s.window_budget -= solver.deterministic_time
            self.s.window_count -= 1
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        return {u: t for (u, t), var in self.x.items() if solver.boolean_value(var)}


def _apply(s: _Search, seats: list[int], units: list[int], chosen: dict[int, int], hard_bands: bool) -> bool:
    """Move the window's units to their chosen seats; keep the change only when the
    window's key (:func:`_window_key`) drops and every territory is connected."""
    before = _window_key(s, seats, hard_bands)
    old = {u: s.assign[u] for u in units}
    for u in units:
        if chosen[u] != s.assign[u]:
            s.move_quiet(u, chosen[u])
    after = _window_key(s, seats, hard_bands)
    better = after < before and not all(abs(a - b) <= 1e-9 for a, b in zip(after, before, strict=True))
    if better and all(_connected(s, t) for t in seats):
        return True
    for u in units:
        if s.assign[u] != old[u]:
            s.move_quiet(u, old[u])
    return False


def _connected(s: _Search, t: int) -> bool:
    members = [u for u in range(s.n) if s.assign[u] == t]
    if not members:
        return False
    seen = {members[0]}
    stack = [members[0]]
    while stack:
        u = stack.pop()
        for z in s.nbrs[u]:
            if z not in seen and s.assign[z] == t:
                seen.add(z)
                stack.append(z)
    return len(seen) == len(members)


def grow_window(s: _Search, t: int, graph: dict[int, set[int]], size: int) -> list[int]:
    """``t`` and the territories that can absorb its imbalance: the shortest paths (on the
    territory adjacency) from ``t`` to the nearest territories with room in the direction
    ``t`` needs (below their middle when ``t`` is over its band, above when under), until
    their room covers the imbalance; then ``t``'s neighbours with most room. At most
    ``size`` seats and :data:`MAX_UNITS` units."""
    row = _worst_row_of(s, t)
    over = s.r > 0 and s.load[t][row] > s.hi_l[t][row]
    need = (s.load[t][row] - s.hi_l[t][row]) if over else (s.lo_l[t][row] - s.load[t][row]) if s.r else 0.0

    def room(z: int) -> float:
        mid = s.mid_l[z][row] if s.r else float("nan")
        if mid != mid:
            return 0.0
        return (mid - s.load[z][row]) if over else (s.load[z][row] - mid)

    parent = {t: -1}
    queue = deque([t])
    window = [t]
    units = s.size[t]
    found = 0.0
    while queue and found < 1.5 * need and len(window) < size:
        y = queue.popleft()
        for z in sorted(graph[y], key=lambda z: -room(z)):
            if z in parent or s.closed[z]:
                continue
            parent[z] = y
            queue.append(z)
            if room(z) > 0:
                path = []
                w = z
                while w not in window and w >= 0:
                    path.append(w)
                    w = parent[w]
                extra = sum(s.size[p] for p in path)
                if len(window) + len(path) <= size and units + extra <= MAX_UNITS:
                    window.extend(reversed(path))
                    units += extra
                    found += room(z)
    frontier = sorted(({z for w in window for z in graph[w]} - set(window)), key=lambda z: (-room(z), z))
    for z in frontier:
        if len(window) >= size:
            break
        if not s.closed[z] and units + s.size[z] <= MAX_UNITS:
            window.append(z)
            units += s.size[z]
    return window


def _worst_row_of(s: _Search, t: int) -> int:
    if not s.r:
        return 0
    miss = [max(s.load[t][j] - s.hi_l[t][j], s.lo_l[t][j] - s.load[t][j], 0.0) / s.norm_l[t][j] for j in range(s.r)]
    return int(np.argmax(miss))
