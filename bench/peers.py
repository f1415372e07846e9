"""The engines compared: ours, PySAL spopt, GerryChain and a plain OR-Tools CP-SAT model.

Each takes an :class:`~instances.Instance`, a time limit [s] and a seed and returns one label
per unit; :mod:`score` judges them alike. Each peer is run the way its documentation shows,
with the knobs that matter for territory design set sensibly:

* spopt's regionalisation methods cluster on the units' coordinates (compact regions) with
  the adjacency as the spatial constraint; they have no balance constraint except MaxP's
  floor (territories of at least 95 % of the mean population, number of regions its own
  choice) and SKATER's floor (a minimum size);
* GerryChain: a seed plan by ``recursive_tree_part`` within the tolerance (first measure),
  then a ReCom chain kept within the tolerance until the time limit, keeping the best plan
  by the instance's objective;
* plain CP-SAT: the textbook model with every unit-centre pair (no pruning, no warm start),
  balance rows per centre and single-commodity flow contiguity per centre;
* spopt's capacitated p-median (PuLP + CBC) for the SJC instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from instances import Instance
from score import score

Labels = np.ndarray


class NotApplicableError(Exception):
    """The engine cannot take this instance (said in the table, with the reason)."""


# --------------------------------------------------------------------------------- ours
def ours(inst: Instance, time_limit: float, seed: int) -> tuple[Labels, dict]:
    from territory_opt import Problem, solve
    from territory_opt.scenario import Candidates, Constraints, Measure, Objective, SolverSettings

    problem = Problem.from_arrays(
        measures=inst.weights,
        measure_names=list(inst.measure_names),
        unit_xy=inst.xy,
        n_seats=inst.k,
        edges=inst.edges if len(inst.edges) else None,
    )
    solver = SolverSettings(time_limit=time_limit, seed=seed)
    if inst.family == "sjc":
        plan = solve(problem, constraints=Constraints(capacity={inst.measure_names[0]: inst.capacity}), solver=solver, candidates=Candidates(nearest=12))
    else:
        balance = {m: Measure(tolerance=t) for m, t in zip(inst.measure_names, inst.tolerance, strict=True)}
        objective = Objective(priorities=["cut_edges"]) if inst.minimise == "cut_edges" else Objective()
        plan = solve(problem, balance=balance, constraints=Constraints(contiguity=True), objective=objective, solver=solver)
    info = {"status": plan.status.value, "gap_pct": None if plan.gap is None else round(100 * plan.gap, 2), "audit_ok": plan.ok, "exempt": int(plan.exempt.sum())}
    return plan.seat_of, info


# -------------------------------------------------------------------------------- spopt
def _spopt_inputs(inst: Instance):
    import geopandas as gpd
    from libpysal.weights import W

    if not len(inst.edges):
        raise NotApplicableError("regionalisation needs an adjacency graph")
    neighbours: dict[int, list[int]] = {i: [] for i in range(inst.n)}
    for a, b in inst.edges:
        neighbours[int(a)].append(int(b))
        neighbours[int(b)].append(int(a))
    w = W(neighbours, silence_warnings=True)
    xy = (inst.xy - inst.xy.mean(axis=0)) / inst.xy.std(axis=0)
    gdf = gpd.GeoDataFrame({"x": xy[:, 0], "y": xy[:, 1], "pop": inst.weights[:, 0]}, geometry=gpd.points_from_xy(inst.xy[:, 0], inst.xy[:, 1]))
    return gdf, w


def _spopt(method: str) -> Callable[[Instance, float, int], tuple[Labels, dict]]:
    def run(inst: Instance, time_limit: float, seed: int) -> tuple[Labels, dict]:
        import spopt.region as region

        gdf, w = _spopt_inputs(inst)
        attrs = ["x", "y"]
        np.random.seed(seed)  # noqa: NPY002 - spopt draws from the global generator
        if method == "AZP":
            model = region.AZP(gdf, w, attrs, n_clusters=inst.k, random_state=seed)
        elif method == "SKATER":
            model = region.Skater(gdf, w, attrs, n_clusters=inst.k, floor=max(1, inst.n // (3 * inst.k)))
        elif method == "Ward":
            model = region.WardSpatial(gdf, w, attrs, n_clusters=inst.k)
        elif method == "SPENC":
            model = region.Spenc(gdf, w, attrs, n_clusters=inst.k, random_state=seed)
        elif method == "region-k-means":
            model = region.RegionKMeansHeuristic(gdf[attrs].to_numpy(), inst.k, w, seed=seed)
        elif method == "MaxP":
            floor = 0.95 * inst.weights[:, 0].sum() / inst.k
            model = region.MaxPHeuristic(gdf, w, attrs, "pop", floor, top_n=2)
        else:
            raise ValueError(method)
        model.solve()
        labels = np.asarray(model.labels_)
        return labels, {}

    return run


# --------------------------------------------------------------------------- GerryChain
def gerrychain_recom(inst: Instance, time_limit: float, seed: int) -> tuple[Labels, dict]:
    import random
    from functools import partial

    import networkx as nx
    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.accept import always_accept
    from gerrychain.constraints import within_percent_of_ideal_population
    from gerrychain.proposals import recom
    from gerrychain.tree import recursive_tree_part
    from gerrychain.updaters import Tally, cut_edges

    if not len(inst.edges):
        raise NotApplicableError("ReCom needs an adjacency graph")
    random.seed(seed)
    t0 = time.perf_counter()
    nxg = nx.Graph()
    nxg.add_nodes_from((i, {"pop": float(inst.weights[i, 0])}) for i in range(inst.n))
    nxg.add_edges_from((int(a), int(b)) for a, b in inst.edges)
    graph = Graph.from_networkx(nxg)
    target = float(inst.weights[:, 0].sum()) / inst.k
    eps = inst.tolerance[0]
    seed_plan, tries = None, 0
    while seed_plan is None:  # the tree splitting is random: retry until the time limit
        tries += 1
        try:
            seed_plan = recursive_tree_part(graph, range(inst.k), target, "pop", eps)
        except RuntimeError:
            if time.perf_counter() - t0 > time_limit:
                raise NotApplicableError(f"no seed plan within ±{100 * eps:g} % in {tries} tries of recursive_tree_part ({time_limit:.0f} s)") from None
    seed_s = time.perf_counter() - t0
    partition = Partition(graph, seed_plan, updaters={"population": Tally("pop", alias="population"), "cut_edges": cut_edges})
    proposal = partial(recom, pop_col="pop", pop_target=target, epsilon=eps, node_repeats=2)
    chain = MarkovChain(proposal=proposal, constraints=[within_percent_of_ideal_population(partition, eps)], accept=always_accept, initial_state=partition, total_steps=10**9)
    best_labels, best_value, steps = None, np.inf, 0
    for state in chain:
        labels = np.array([state.assignment[i] for i in range(inst.n)])
        value = len(state["cut_edges"]) if inst.minimise == "cut_edges" else score(inst, labels)["dispersion"]
        if value < best_value:
            best_labels, best_value = labels, value
        steps += 1
        if time.perf_counter() - t0 > time_limit:
            break
    return best_labels, {"seed_plan_s": round(seed_s, 1), "seed_tries": tries, "recom_steps": steps}


# ------------------------------------------------------------------------ plain CP-SAT
MAX_PLAIN_VARS = 1_500_000


def plain_cpsat(inst: Instance, time_limit: float, seed: int) -> tuple[Labels, dict]:
    """Textbook model: x[i, j] = unit i in the territory centred at unit j (every pair),
    y[j] = x[j, j]; balance rows per centre; flow contiguity per centre; no pruning,
    no warm start, no hints."""
    from ortools.sat.python import cp_model

    n, k = inst.n, inst.k
    arcs = np.vstack([inst.edges, inst.edges[:, ::-1]]) if len(inst.edges) else np.zeros((0, 2), dtype=np.int64)
    size = n * n + (n * len(arcs) if inst.family != "sjc" else 0)
    if size > MAX_PLAIN_VARS:
        raise NotApplicableError(f"not built: {size / 1e6:.1f} M variables (every unit-centre pair plus flows)")
    t0 = time.perf_counter()
    m = cp_model.CpModel()
    x = [[m.new_bool_var(f"x{i}_{j}") for j in range(n)] for i in range(n)]
    y = [x[j][j] for j in range(n)]
    for i in range(n):
        m.add_exactly_one(x[i])
        for j in range(n):
            if i != j:
                m.add_implication(x[i][j], y[j])
    m.add(sum(y) == k)
    scale = 1000.0 / max(float(inst.weights.max()), 1.0)
    for c, tol in enumerate(inst.tolerance):
        w = np.round(inst.weights[:, c] * scale).astype(int)
        mean = w.sum() / k
        lo, hi = int(np.ceil(mean * (1 - tol))), int(np.floor(mean * (1 + tol)))
        for j in range(n):
            load = sum(int(w[i]) * x[i][j] for i in range(n))
            m.add(load >= lo * y[j])
            m.add(load <= hi * y[j])
    if inst.capacity is not None:
        w = np.round(inst.weights[:, 0]).astype(int)
        for j in range(n):
            m.add(sum(int(w[i]) * x[i][j] for i in range(n)) <= int(inst.capacity) * y[j])
    if inst.family != "sjc":
        for j in range(n):
            flow = [m.new_int_var(0, n - 1, f"f{j}_{a}") for a in range(len(arcs))]
            out_of: list[list] = [[] for _ in range(n)]
            into: list[list] = [[] for _ in range(n)]
            for a, (u, v) in enumerate(arcs):
                m.add(flow[a] <= (n - 1) * x[int(u)][j])
                m.add(flow[a] <= (n - 1) * x[int(v)][j])
                out_of[int(u)].append(flow[a])
                into[int(v)].append(flow[a])
            for u in range(n):
                if u != j:
                    m.add(sum(into[u]) - sum(out_of[u]) == x[u][j])
    d = np.linalg.norm(inst.xy[:, None, :] - inst.xy[None, :, :], axis=2)
    if inst.minimise == "cut_edges":
        cuts = []
        for a, b in inst.edges:
            cut = m.new_bool_var("")
            for j in range(n):
                m.add(cut >= x[int(a)][j] - x[int(b)][j])
            cuts.append(cut)
        m.minimize(sum(cuts))
    else:
        w = inst.weights[:, 0] if inst.minimise == "dispersion" else np.ones(n)
        cost = np.round(100.0 * d * w[:, None] / max(float((d * w[:, None]).max()), 1e-9) * 1000).astype(int)
        m.minimize(sum(int(cost[i, j]) * x[i][j] for i in range(n) for j in range(n) if cost[i, j]))
    build_s = time.perf_counter() - t0
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(1.0, time_limit - build_s)
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    info = {"status": solver.status_name(status).lower(), "build_s": round(build_s, 1)}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise NotApplicableError(f"no plan in {time_limit:.0f} s ({info['status']}; model built in {build_s:.0f} s)")
    if status == cp_model.FEASIBLE and solver.best_objective_bound > 0:
        info["gap_pct"] = round(100 * (solver.objective_value - solver.best_objective_bound) / solver.objective_value, 2)
    labels = np.array([next(j for j in range(n) if solver.boolean_value(x[i][j])) for i in range(n)])
    return labels, info


# -------------------------------------------------------------------- spopt p-median
def spopt_pmedian(inst: Instance, time_limit: float, seed: int) -> tuple[Labels, dict]:
    import pulp
    from spopt.locate import PMedian

    if inst.family != "sjc":
        raise NotApplicableError("p-median instances only")
    w = inst.weights[:, 0]
    d = np.linalg.norm(inst.xy[:, None, :] - inst.xy[None, :, :], axis=2)
    # spopt weighs the objective and the capacity by the same weights: dividing the costs
    # by the demand makes the objective the plain sum of distances (SJC's objective).
    model = PMedian.from_cost_matrix(d / w[:, None], w, inst.k, facility_capacities=np.full(inst.n, inst.capacity))
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=2))
    labels = np.full(inst.n, -1)
    for fac, clients in enumerate(model.fac2cli):
        labels[np.asarray(clients, dtype=int)] = fac
    if (labels < 0).any():
        raise NotApplicableError(f"no complete plan in {time_limit:.0f} s")
    return labels, {"status": pulp.LpStatus[model.problem.status].lower()}


def preload(engine: str) -> None:
    """Import an engine's libraries before the clock starts."""
    import importlib

    modules = {"territory_opt": ["territory_opt.solve", "ortools.sat.python.cp_model"], "plain CP-SAT": ["ortools.sat.python.cp_model"], "GerryChain ReCom": ["gerrychain", "gerrychain.tree", "networkx"]}
    for name in modules.get(engine, ["spopt.region", "spopt.locate", "libpysal.weights", "pulp", "geopandas"]):
        importlib.import_module(name)


DISTRICTING = {
    "territory_opt": ours,
    "plain CP-SAT": plain_cpsat,
    "GerryChain ReCom": gerrychain_recom,
    "spopt AZP": _spopt("AZP"),
    "spopt SKATER": _spopt("SKATER"),
    "spopt Ward": _spopt("Ward"),
    "spopt SPENC": _spopt("SPENC"),
    "spopt region-k-means": _spopt("region-k-means"),
    "spopt MaxP": _spopt("MaxP"),
}
PMEDIAN = {"territory_opt": ours, "plain CP-SAT": plain_cpsat, "spopt capacitated p-median (CBC)": spopt_pmedian}
