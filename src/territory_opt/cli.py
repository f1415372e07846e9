"""The ``territory-opt`` command line: thin wrappers over the Python API.

Every error class becomes one clear paragraph and its exit code, never a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .datasets import DATASETS
from .errors import InfeasibleError, TerritoryOptError
from .pipeline import problem_from_scenario, quotas_for_plan, run_scenario
from .scenario import load_scenario

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Balanced sales territories and fair quotas.")
console = Console()
err = Console(stderr=True)


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except InfeasibleError as exc:
        err.print("[bold red]Infeasible scenario[/]", markup=True)
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(exc.exit_code) from None
    except TerritoryOptError as exc:
        err.print(f"[bold red]{type(exc).__name__}[/]: ", end="", markup=True)
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


@app.callback()
def _main() -> None:
    """Balanced sales territories and fair quotas."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        # SIGTERM (kill, a container stopping) unwinds like Ctrl-C: the output folder keeps
        # its previous set and no staging folder is left behind
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


_SET_HELP = "What-if edit KEY=VALUE of any scenario key, e.g. balance.potential.tolerance=0.03 (repeatable)"
SetOption = Annotated[list[str] | None, typer.Option("--set", help=_SET_HELP)]


AllowOutliers = Annotated[
    bool,
    typer.Option(
        help="Accept implausible locations knowingly (0,0; far from every other point; latitude and longitude "
        "swapped?): notes instead of errors (scenario key data.allow_outliers)"
    ),
]


def _load(path: Path, sets: list[str] | None, allow_outliers: bool = False) -> Any:
    """The scenario file with the command line's ``--set`` edits (and ``--allow-outliers``) applied."""
    from .edits import parse_sets, with_values

    values = parse_sets(sets or [])
    if allow_outliers:
        values["data.allow_outliers"] = True
    return with_values(load_scenario(path), values)


@app.command()
def datasets() -> None:
    """List the built-in data with source and size."""
    table = Table(title="Built-in data")
    for column in ("name", "units", "size", "description", "source"):
        table.add_column(column, overflow="fold")
    for info in DATASETS.values():
        size = f"{info.size_bytes / 1e6:.1f} MB" if info.files else "generated"
        table.add_row(
            *_plain(info.name, f"{info.units:,}" if info.units else "any", size, info.description, info.source)
        )
    console.print(table)


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    set_: SetOption = None,
    allow_outliers: AllowOutliers = False,
) -> None:
    """Read and check everything a scenario names (every problem at once, implausible
    locations included); print a summary of the data."""

    def action() -> None:
        sc = _load(scenario, set_, allow_outliers)
        problem, inputs = problem_from_scenario(sc)
        console.print("[bold green]valid[/]: ", end="")
        console.print(f"{scenario} ({sc.name})", markup=False)
        console.print(
            f"units: {problem.n_units:,} ({inputs.unit_kind}); seats: {problem.n_seats:,} ({int(problem.has_home.sum())} with a home base)"
        )
        table = Table(title="Totals per measure")
        table.add_column("measure")
        table.add_column("total", justify="right")
        table.add_column("per seat (FTE-weighted)", justify="right")
        for j, name in enumerate(problem.measure_names):
            total = float(problem.measures[:, j].sum())
            table.add_row(*_plain(name, f"{total:,.1f}", f"{total / problem.seat_capacity.sum():,.1f}"))
        console.print(table)
        if problem.skill_names:
            skills = Table(title="Skills coverage")
            skills.add_column("skill")
            skills.add_column("units requiring", justify="right")
            skills.add_column("reps offering", justify="right")
            for b, name in enumerate(problem.skill_names):
                need = int(((problem.unit_skills >> b) & 1).sum())
                have = int(((problem.seat_skills >> b) & 1).sum())
                skills.add_row(*_plain(name, f"{need:,}", f"{have:,}"))
            console.print(skills)
        if problem.edges is not None:
            console.print(f"adjacency: {len(problem.edges):,} edges")
        for note in inputs.notes:
            console.print(f"note: {note}", markup=False, highlight=False)

    _run(action)


class _ProgressDisplay:
    """A live rich display of the solve (elapsed against the time limit, stage, best
    objective, bound, gap) on a terminal; one line per stage otherwise (logs, CI)."""

    def __init__(self, time_limit: float) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.live = err.is_terminal
        self.last = 0.0
        self.progress = Progress(
            TextColumn("{task.fields[stage]}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[figures]}"),
            console=err,
            transient=False,
        )
        self.task = self.progress.add_task("solve", total=max(time_limit, 1e-9), stage="starting", figures="")

    def __enter__(self) -> _ProgressDisplay:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        stage = str(event.get("stage", ""))
        figures = []
        if event.get("objective") is not None:
            figures.append(f"objective {event['objective']:,.4g}")
        if event.get("bound") is not None:
            figures.append(f"bound {event['bound']:,.4g}")
        if event.get("gap") is not None:
            figures.append(f"gap {100 * event['gap']:.2f}%")
        if self.live:
            self.progress.update(
                self.task, completed=float(event.get("elapsed", 0.0)), stage=stage, figures="  ".join(figures)
            )
            return
        now = time.perf_counter()
        if stage.startswith(("CP-SAT", "window")) and now - self.last < 1.0:
            return
        self.last = now
        err.print("  ".join([f"[{event.get('elapsed', 0):6.1f} s] {stage}", *figures]), highlight=False, markup=False)


def _print_plan(plan: Any, written: dict[str, Path]) -> None:
    table = Table(title=Text(f"{plan.scenario}: {plan.problem.n_seats} territories"))
    frame = plan.territories
    columns = (
        ["territory_id", "units"] + [c for c in frame.columns if c.endswith("_dev_pct")] + ["travel_km", "contiguous"]
    )
    for c in columns:
        table.add_column(Text(str(c)), justify="right")
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            v = row[c]
            cells.append(f"{v:+.2f}" if c.endswith("_dev_pct") else f"{v:,.1f}" if isinstance(v, float) else str(v))
        table.add_row(*_plain(*cells))
    console.print(table)
    gap = "n/a" if plan.gap is None else f"{100 * plan.gap:.2f}%"
    bound = "n/a" if plan.bound is None else f"{plan.bound:,.4g}"
    if plan.global_bound is not None:
        # the headline: a gap against a bound that holds for the planner's real problem
        console.print(
            f"status: [bold]{plan.status.value}[/]  objective {plan.objective:,.4g}  "
            f"within [bold]{100 * (plan.global_gap or 0):.2f}%[/] of the best possible plan "
            f"(bound {plan.global_bound:,.4g}, valid for the unrestricted problem: a relaxation without pruning or restrictions)"
        )
        console.print(f"secondary: bound {bound}, gap {gap} for {plan.bound_scope}")
    else:
        console.print(
            f"status: [bold]{plan.status.value}[/]  objective {plan.objective:,.4g}  bound {bound}  gap {gap}  ({plan.bound_scope})"
        )
    console.print(
        f"method: {plan.method}; wall time {plan.wall_time:.1f} s; seed {plan.seed}; deterministic {plan.deterministic}"
    )
    for r in plan.restrictions:
        console.print(f"restriction: {r}", highlight=False, markup=False)
    for f in plan.findings:
        console.print(f"audit {f}", highlight=False, markup=False)
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print("[bold]outputs[/] in ", end="")
    console.print(f"{written['summary'].parent.resolve()}:", markup=False)
    for path in written.values():
        console.print(f"  {path}", highlight=False, markup=False)


def _plain(*cells: object) -> list[Text]:
    """Table cells as plain text: a CRM name such as ``[/]`` is not rich markup."""
    return [Text(str(c)) for c in cells]


def _print_quotas(quotas: Any) -> None:
    table = Table(title="Quotas")
    frame = quotas.table
    # the period split (p1, p2, ...) is in quotas.csv: an 80-column terminal truncates it
    periods = [c for c in frame.columns if str(c).startswith("p") and str(c)[1:].isdigit()]
    columns = [c for c in frame.columns if c not in ("rep_id", *periods)]
    for c in columns:
        table.add_column(Text(str(c)), justify="right")
    for _, row in frame.iterrows():
        table.add_row(
            *_plain(
                *(
                    f"{row[c]:,.2f}"
                    if c == "quota_per_potential"
                    else f"{row[c]:,.0f}"
                    if isinstance(row[c], float)
                    else str(row[c])
                    for c in columns
                )
            )
        )
    console.print(table)
    if periods:
        console.print(f"split into {len(periods)} periods ({', '.join(map(str, periods))}): see quotas.csv")
    f = quotas.fairness
    console.print(
        f"fairness: quota/potential CV {f['quota_per_potential_cv']:.3f}, Gini {f['quota_per_potential_gini']:.3f}, max/min {f['quota_per_potential_max_min']:.2f}; expected attainment {f['expected_attainment_min']:.2f}-{f['expected_attainment_max']:.2f}"
    )
    for b in quotas.binding:
        console.print(f"binding: {b}", highlight=False, markup=False)


def _solve(
    path: Path,
    out: Path | None,
    time_limit: float | None,
    tiles: bool = True,
    sets: list[str] | None = None,
    edits: dict[str, Any] | None = None,
    allow_outliers: bool = False,
) -> None:
    def action() -> None:
        from .edits import parse_locks, parse_rep, with_edits

        sc = _load(path, sets, allow_outliers)
        e = edits or {}
        if any(e.values()):
            sc = with_edits(
                sc,
                add_reps=[parse_rep(r) for r in e.get("add_rep") or []],
                remove_reps=e.get("remove_rep") or [],
                move_reps=[parse_rep(r, home_required=True) for r in e.get("move_rep") or []],
                lock=parse_locks(e.get("lock") or []),
                lock_file=e.get("lock_file"),
            )
        _time_limit(time_limit)
        with _ProgressDisplay(time_limit or sc.solver.time_limit) as display:
            plan, quotas, written = run_scenario(sc, out, time_limit=time_limit, progress=display, tiles=tiles)
        _print_plan(plan, written)
        if quotas is not None:
            _print_quotas(quotas)
        if not plan.ok:
            err.print("[bold red]the plan failed its audit[/]: see the audit lines above")
            raise typer.Exit(6)

    _run(action)


@app.command()
def solve(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: the scenario's output.dir or out/<name>)")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit [s]")] = None,
    tiles: Annotated[
        bool, typer.Option(help="OpenStreetMap base tiles in map.html (need a network when opened)")
    ] = True,
    set_: SetOption = None,
    add_rep: Annotated[
        list[str] | None,
        typer.Option(
            help="What-if: add a rep ID@LAT,LON[,FTE][,skills=A|B], or an open seat whose centre the model "
            "chooses ID[,FTE][,skills=A|B]; an added rep holds only the skills given (repeatable)"
        ),
    ] = None,
    remove_rep: Annotated[list[str] | None, typer.Option(help="What-if: remove rep ID (repeatable)")] = None,
    move_rep: Annotated[list[str] | None, typer.Option(help="What-if: move rep ID@LAT,LON (repeatable)")] = None,
    lock: Annotated[
        list[str] | None, typer.Option(help="What-if: lock ACCOUNT=REP (ACCOUNT= unlocks) (repeatable)")
    ] = None,
    lock_file: Annotated[
        Path | None, typer.Option(help="What-if: lock the accounts of a CSV with columns id, rep")
    ] = None,
    allow_outliers: AllowOutliers = False,
) -> None:
    """Solve a scenario; write assignments.csv, territories.csv, summary.json, quotas.csv,
    territories.geojson, map.html and report.html."""
    edits = {"add_rep": add_rep, "remove_rep": remove_rep, "move_rep": move_rep, "lock": lock, "lock_file": lock_file}
    _solve(scenario, out, time_limit, tiles, set_, edits, allow_outliers)


@app.command()
def quotas(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file with a quotas section")],
    plan: Annotated[Path, typer.Option(help="Folder of a plan made by solve (its assignments.csv)")],
    out: Annotated[Path | None, typer.Option(help="Where to write quotas.csv (default: the plan folder)")] = None,
    set_: SetOption = None,
) -> None:
    """Compute quotas for a plan already made, on the roster it was made with (its recorded
    what-if edits: removed reps get no quota); write quotas.csv (and refresh the plan folder's
    summary.json, plan.xlsx, map.html and report.html)."""

    def action() -> None:
        result, path = quotas_for_plan(_load(scenario, set_), plan, out)
        _print_quotas(result)
        console.print(f"quotas written to {path}", markup=False)

    _run(action)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder")] = Path("out/demo"),
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit [s]")] = None,
    tiles: Annotated[
        bool, typer.Option(help="OpenStreetMap base tiles in map.html (need a network when opened)")
    ] = True,
    set_: SetOption = None,
) -> None:
    """Run the demo: Georgia's 159 real counties, 8 reps, a synthetic book of accounts."""
    path = Path(str(files("territory_opt") / "scenarios" / "demo.yaml"))
    console.print(
        "demo: Georgia counties (US Census 2016 boundaries, 2019 population) with synthetic accounts on real geography"
    )
    _solve(path, out, time_limit, tiles, set_)


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    set_: Annotated[list[str], typer.Option("--set", help="KEY=V1,V2,... (repeatable): the grid of variants")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default out/<name>-sweep)")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address, or 'local' for a LocalCluster (default: a local process pool)"),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Variants solved at once")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit per variant [s]")] = None,
) -> None:
    """Solve every combination of the --set values in parallel; write results.csv (one row per
    variant) and each variant's outputs in its own folder. A re-run reuses finished variants."""

    def action() -> None:
        from .edits import parse_sets
        from .sweep import sweep as run_sweep

        sc = load_scenario(scenario)
        _time_limit(time_limit)
        folder = out or Path("out") / f"{sc.name}-sweep"
        frame = run_sweep(
            sc, parse_sets(set_, grid=True), folder, scheduler=scheduler, workers=workers, time_limit=time_limit
        )
        _print_frame(frame, f"{sc.name}: {len(frame)} variants")
        failed = frame[frame["status"] == "error"]
        for _, row in failed.iterrows():
            err.print(f"variant {row['variant']} failed: {row['error']}", highlight=False, markup=False)
        console.print(f"results in {(folder / 'results.csv').resolve()}", highlight=False, markup=False)
        _exit_if_all_failed(frame)

    _run(action)


@app.command()
def size(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    reps: Annotated[str, typer.Option(help="Headcounts: FROM..TO or FROM..TO:STEP or a list 6,8,10")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default out/<name>-sizing)")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address or 'local'")] = None,
    workers: Annotated[int | None, typer.Option(help="Headcounts solved at once")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit per headcount [s]")] = None,
    capacity: Annotated[
        str | None, typer.Option(help="Measure whose per-FTE cap decides (default: constraints.capacity)")
    ] = None,
    set_: SetOption = None,
) -> None:
    """Sales-force sizing: solve across headcounts; report workload per rep, travel and balance,
    and recommend the smallest headcount that keeps every seat within capacity."""

    def action() -> None:
        from .sizing import size as run_size

        sc = _load(scenario, set_)
        _time_limit(time_limit)
        folder = out or Path("out") / f"{sc.name}-sizing"
        frame, best = run_size(
            sc,
            _headcounts(reps),
            folder,
            scheduler=scheduler,
            workers=workers,
            time_limit=time_limit,
            capacity=capacity,
        )
        _print_frame(frame, f"{sc.name}: sizing")
        console.print(
            f"recommended headcount: {best}"
            if best is not None
            else "no headcount in the range keeps every seat within capacity"
        )
        console.print(f"curve and table in {(folder / 'sizing.html').resolve()}", highlight=False, markup=False)
        for _, row in frame[frame["status"] == "error"].iterrows():
            err.print(f"headcount {row['headcount']} failed: {row['error']}", highlight=False, markup=False)
        _exit_if_all_failed(frame)

    _run(action)


def _exit_if_all_failed(frame: Any) -> None:
    """A sweep whose every variant failed is a failed command (exit code 1)."""
    if len(frame) and bool((frame["status"] == "error").all()):
        err.print(f"[bold red]every variant failed[/] ({len(frame)}): see the errors above")
        raise typer.Exit(1)


def _headcounts(text: str) -> list[int]:
    from .errors import ScenarioError

    usage = f"--reps {text!r}: write FROM..TO, FROM..TO:STEP (FROM <= TO, STEP >= 1) or a list such as 6,8,10"
    try:
        if ".." in text:
            span, _, step = text.partition(":")
            lo, _, hi = span.partition("..")
            low, high, stride = int(lo), int(hi), int(step or 1)
            if low > high or stride < 1:
                raise ValueError
            counts = list(range(low, high + 1, stride))
        else:
            counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise ScenarioError(usage) from None
    if not counts or min(counts) < 1:
        msg = f"{usage}; every headcount must be at least 1"
        raise ScenarioError(msg)
    if len(counts) > 500:
        msg = f"{usage}; {len(counts)} headcounts is too many for one sizing run (at most 500)"
        raise ScenarioError(msg)
    return counts


def _time_limit(value: float | None) -> float | None:
    """``--time-limit`` checked like the scenario key: positive and finite [s]."""
    from .scenario import SolverSettings, with_time_limit

    return with_time_limit(SolverSettings(), value).time_limit if value is not None else None


@app.command()
def compare(
    dir_a: Annotated[Path, typer.Argument(help="Plan folder A (made by solve)")],
    dir_b: Annotated[Path, typer.Argument(help="Plan folder B")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default DIR_B/compare)")] = None,
    tiles: Annotated[bool, typer.Option(help="OpenStreetMap base tiles in the maps")] = True,
) -> None:
    """Two plans side by side: headline figures, per-territory deltas, the moved units (a CRM
    change list, moved_units.csv) and synchronised maps."""

    def action() -> None:
        from .compare import compare_folders

        result = compare_folders(dir_a, dir_b, out, tiles=tiles)
        _print_frame(result["headline"], f"{dir_a} vs {dir_b}")
        console.print(f"moved units: {len(result['moved']):,} (moved_units.csv)")
        console.print(f"comparison in {result['written']['html'].resolve()}", highlight=False, markup=False)

    _run(action)


@app.command()
def rerun(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    baseline: Annotated[Path, typer.Option(help="Folder of the earlier plan (its assignments.csv)")],
    territories: Annotated[str | None, typer.Option(help="Territories to re-optimise, comma-separated rep ids")] = None,
    region: Annotated[
        str | None, typer.Option(help="Re-optimise every territory of this region (roster column)")
    ] = None,
    remove: Annotated[
        str | None, typer.Option(help="Reps among them to remove (e.g. 5 become 4), comma-separated")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default out/<name>-rerun)")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit [s]")] = None,
    set_: SetOption = None,
) -> None:
    """Re-optimise chosen territories (or a region) of an earlier plan; every other assignment
    stays exactly as it is. Writes the part's figures and the full assignments.csv."""

    def action() -> None:
        from .rerun import rerun as run_rerun

        sc = _load(scenario, set_)
        folder = out or Path("out") / f"{sc.name}-rerun"
        split = lambda text: [t.strip() for t in (text or "").split(",") if t.strip()]  # noqa: E731
        _time_limit(time_limit)
        with _ProgressDisplay(time_limit or sc.solver.time_limit) as display:
            plan, full = run_rerun(
                sc,
                baseline,
                territories=split(territories),
                region=region,
                remove=split(remove),
                out_dir=folder,
                time_limit=time_limit,
                progress=display,
            )
        terr = plan.territories
        _print_frame(
            terr,
            plan.scenario,
            [c for c in terr.columns if c in ("territory_id", "units", "travel_km") or c.endswith("_dev_pct")],
        )
        console.print(
            f"{int(full['moved'].sum()):,} units moved; outputs in {folder.resolve()}", highlight=False, markup=False
        )

    _run(action)


def _print_frame(frame: Any, title: str, columns: list[str] | None = None) -> None:
    table = Table(title=Text(title))
    if columns is not None:
        frame = frame[columns]
    first = [
        "territory_id",
        "units",
        "headcount",
        "variant",
        "figure",
        "status",
        "travel_km",
        "gap",
        "within_capacity",
        "reused",
    ]
    rest = [c for c in frame.columns if c.endswith(("_spread_pct", "_per_seat_max")) or c.startswith("set:")]
    columns = [c for c in first if c in frame.columns] + [c for c in rest if c in frame.columns]
    columns += [c for c in frame.columns if c not in columns and c != "error" and len(columns) < 4]
    for c in columns:
        table.add_column(Text(str(c)), justify="right")
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            value = row[c]
            cells.append(f"{value:,.4g}" if isinstance(value, float) else str(value))
        table.add_row(*_plain(*cells))
    console.print(table)


@app.command()
def studio(
    source: Annotated[
        Path, typer.Argument(help="A plan folder (written by solve or the studio) or a scenario file (solved first)")
    ],
    scenario: Annotated[
        Path | None, typer.Option(help="The plan's scenario file, when its summary.json does not lead to it")
    ] = None,
    workspace: Annotated[Path, typer.Option(help="The only folder the studio reads and writes")] = Path("."),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port)")] = 8765,
    browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the browser at the studio")] = True,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit [s] when SOURCE is a scenario")] = None,
) -> None:
    """The plan studio: review, edit and re-optimise a plan on a map, in the browser."""
    from . import studio as studio_app

    def action() -> None:
        session = studio_app.open_path(source, workspace=workspace, scenario=scenario, time_limit=time_limit)
        studio_app.serve(session, port=port, open_browser=browser, announce=console.print)

    _run(action)


def main() -> None:  # pragma: no cover
    sys.exit(app())
