"""Scenario files: a validated, frozen description of one planning run.

A scenario names its data, the seats, the measures to balance and their tolerances, the
constraint families on or off, the objective priorities, solver limits, the seed and the
output folder. ``extends: base.yaml`` lets a what-if override a few keys of another
scenario (mappings merge key by key; lists and scalars replace).

Errors name the file and the key path::

    scenarios/x.yaml: balance.potential.tolerance: must be in (0, 1], got 1.5
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ScenarioError


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(_Frozen):
    """A user's file: CSV, Excel (.xlsx), Parquet, GeoPackage, GeoJSON or Shapefile.

    ``columns`` maps our names (``id``, ``name``, ``lat``, ``lon``, ``zip``, ``owner``,
    ``lock``, ``family``, ``skills``, ``capacity``, ``unit``, any measure name) to the file's
    own column names, because CRM exports use their own. Rows without coordinates are
    placed at their ZIP code's 2020 ZCTA point (offline) when the file has a ZIP column.
    """

    path: str
    columns: dict[str, str] = {}
    layer: str | None = None
    #: Excel files: the sheet to read, by name or 0-based position (default: the first).
    sheet: str | int | None = None

    #: Decimal mark of the file's numbers (``"."``: ``1,234.5``; ``","``: ``1.234,5``).
    #: Unset: detected per column, and a column that could be read either way is refused.
    decimal: Literal[".", ","] | None = None

    def column(self, name: str) -> str:
        """The file's column for our ``name`` (the name itself when not mapped)."""
        return self.columns.get(name, name)


class SyntheticBook(_Frozen):
    """A seeded, generated book of accounts and reps on the built-in real geography."""

    accounts: Annotated[int, Field(ge=1, le=2_000_000)] = 2000
    reps: Annotated[int, Field(ge=1, le=5000)] = 10
    seed: int = 0
    skill_share: Annotated[float, Field(ge=0, le=1)] = 0.2
    family_share: Annotated[float, Field(ge=0, le=1)] = 0.1
    lock_share: Annotated[float, Field(ge=0, le=1)] = 0.0


class DataSpec(_Frozen):
    """Where the units and seats come from.

    ``units`` says what is assigned: ``accounts`` (each account on its own) or
    ``geography`` (geographic units, e.g. counties, each carrying the accounts inside).
    """

    dataset: Literal["us-counties", "us-zips"] | None = None
    states: list[str] | None = None
    synthetic: SyntheticBook | None = None
    accounts: FileSource | None = None
    reps: FileSource | None = None
    geography: FileSource | None = None
    adjacency: FileSource | None = None
    units: Literal["accounts", "geography"] | None = None
    #: Accounts placed in geographic units by point in polygon: one outside every polygon
    #: (a coastline, a simplified boundary) joins the nearest unit within this distance [km];
    #: farther ones are errors naming their row.
    snap_km: Annotated[float, Field(ge=0)] = 25.0

    #: Accept implausible locations knowingly (0,0; far from every other point; probably
    #: swapped latitude and longitude): they become notes instead of errors.
    allow_outliers: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.dataset is None and self.synthetic is None and self.accounts is None and self.geography is None:
            msg = "name a built-in 'dataset', a 'synthetic' book, or 'accounts' / 'geography' files"
            raise ValueError(msg)
        if self.synthetic is not None and self.accounts is not None:
            msg = "give either 'synthetic' or 'accounts', not both"
            raise ValueError(msg)
        return self

    @field_validator("states")
    @classmethod
    def _states_upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [s.strip().upper() for s in value]


class Seats(_Frozen):
    """Seats (territories). Reps from the data have home bases; ``count`` adds seats
    without a home whose centre the model chooses (p-median) when there are no reps, and
    ``vacancies`` adds open seats to a roster (centre chosen, FTE 1). ``vacancy_skills``: the
    skills those open seats hold; by default every skill of the roster (headcount sizing
    assumes qualified hires), which a note states; ``[]`` for none."""

    count: Annotated[int, Field(ge=1)] | None = None
    vacancies: Annotated[int, Field(ge=0)] = 0
    vacancy_skills: list[str] | None = None
    use_home_bases: bool = True


class Measure(_Frozen):
    """Balance of one measure: each territory within ±tolerance of its FTE-scaled target."""

    tolerance: float = 0.05
    mode: Literal["hard", "soft"] = "hard"
    weight: Annotated[float, Field(ge=0)] = 1.0

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, value: float) -> float:
        if not 0 < value <= 1:
            msg = f"must be in (0, 1], got {value}"
            raise ValueError(msg)
        return value


class Contiguity(_Frozen):
    """Territories connected in the adjacency graph. ``islands``: what to do with units
    that have no neighbour: ``error`` (tell me), ``link`` (join to the nearest unit)."""

    enabled: bool = True
    islands: Literal["error", "link"] = "error"


class Disruption(_Frozen):
    """Budget against the current alignment: at most ``max_share`` of ``measure`` (or of
    the accounts, with ``measure: units``) may move overall, ``per_rep_share`` per rep."""

    measure: str = "units"
    max_share: Annotated[float, Field(ge=0, le=1)] = 1.0
    per_rep_share: Annotated[float, Field(ge=0, le=1)] | None = None


class Exclusion(_Frozen):
    unit: str
    seat: str


class Constraints(_Frozen):
    contiguity: Contiguity | None = None
    skills: bool = True
    locks: bool = True
    families: bool = True
    capacity: dict[str, Annotated[float, Field(gt=0)]] = {}
    disruption: Disruption | None = None
    exclusions: list[Exclusion] = []
    oversized: Literal["standalone", "fail"] = "standalone"
    #: A unit with a region (a ``region`` column, or the state of a county) goes only to reps
    #: of that region (reps' ``region`` column; reps without one may take any region).
    bind_regions: bool = False

    @field_validator("contiguity", mode="before")
    @classmethod
    def _contiguity_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"enabled": value}
        return value


ObjectiveTerm = Literal["travel", "cut_edges", "disruption", "balance"]


class Objective(_Frozen):
    """Objective terms in ranked order. ``lexicographic``: optimise the first, keep it
    within ``slack`` (a share) of its best, then the next; ``weighted``: one weighted sum."""

    priorities: list[ObjectiveTerm] = ["travel"]
    mode: Literal["weighted", "lexicographic"] = "weighted"
    weights: dict[ObjectiveTerm, Annotated[float, Field(ge=0)]] = {}
    slack: Annotated[float, Field(ge=0, le=1)] = 0.01


class Candidates(_Frozen):
    """Pruning: a unit may go to its ``nearest`` seats (plus owner and lock), or to any
    seat within ``radius_km``."""

    nearest: Annotated[int, Field(ge=1)] = 8
    radius_km: Annotated[float, Field(gt=0)] | None = None


class SolverSettings(_Frozen):
    """CP-SAT limits. ``deterministic``: one worker, fixed seed, no wall-clock cut-off
    inside a solve (a deterministic time limit is used), so same inputs give the same plan."""

    #: [s], positive and finite.
    time_limit: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0
    workers: Annotated[int, Field(ge=0)] = 0
    seed: int = 0
    deterministic: bool = False
    method: Literal["auto", "exact", "lns"] = "auto"
    log: bool = False


def with_time_limit(
    settings: SolverSettings, time_limit: float | None, *, source: str = "--time-limit"
) -> SolverSettings:
    """``settings`` with another time limit, validated like the scenario key (positive, finite)."""
    if time_limit is None:
        return settings
    try:
        return SolverSettings.model_validate({**settings.model_dump(), "time_limit": time_limit})
    except ValidationError:
        msg = f"{source}: the time limit must be a positive, finite number of seconds, got {time_limit!r}"
        raise ScenarioError(msg) from None


class Product(_Frozen):
    """A product line with its own target, potential and history measures."""

    target: Annotated[float, Field(gt=0)]
    potential: str = "potential"
    history: str = "history"


class Quotas(_Frozen):
    """Quota setting (see :mod:`territory_opt.quota`): a company ``target`` [currency/yr]
    split by a blend of potential (weight ``alpha``) and history, within growth bounds,
    floors and caps, with a ``ramp`` for open seats, ``relief`` for moved accounts, rounded
    to ``unit`` and split into periods by ``seasonality``."""

    target: Annotated[float, Field(gt=0)]
    potential: str = "potential"
    history: str = "history"
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5
    method: Literal["top_down", "bottom_up"] = "top_down"
    growth: float = 0.0
    attrition: Annotated[float, Field(ge=0, le=1)] = 0.0
    growth_min: float | None = None
    growth_max: float | None = None
    floor: Annotated[float, Field(ge=0)] | None = None
    cap: Annotated[float, Field(gt=0)] | None = None
    ramp: Annotated[float, Field(gt=0, le=1)] = 1.0
    relief: Annotated[float, Field(ge=0, le=1)] = 0.0
    unit: Annotated[float, Field(ge=0)] = 1000.0
    seasonality: list[Annotated[float, Field(ge=0)]] | None = None
    products: dict[str, Product] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Quotas:
        if self.growth_min is not None and self.growth_max is not None and self.growth_min > self.growth_max:
            msg = f"growth_min ({self.growth_min}) must not exceed growth_max ({self.growth_max})"
            raise ValueError(msg)
        if self.seasonality is not None and sum(self.seasonality) <= 0:
            msg = "seasonality needs at least one positive share"
            raise ValueError(msg)
        if self.products and abs(sum(p.target for p in self.products.values()) - self.target) > 1e-6 * self.target:
            msg = f"product targets add up to {sum(p.target for p in self.products.values()):,.0f}, not the target {self.target:,.0f}"
            raise ValueError(msg)
        return self

    def measures(self) -> list[str]:
        names = [self.potential, self.history]
        for product in (self.products or {}).values():
            names += [product.potential, product.history]
        return list(dict.fromkeys(names))


class Output(_Frozen):
    """``dir``: the output folder, relative to where the run starts and inside it (a scenario
    never writes elsewhere; to write somewhere else, pass ``--out`` on the command line)."""

    dir: str | None = None

    @field_validator("dir")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = PurePosixPath(value.replace("\\", "/"))
        if path.is_absolute() or PureWindowsPath(value).drive or ".." in path.parts:
            msg = f"{value!r} leaves the output folder: use a relative path without '..' (or pass --out on the command line)"
            raise ValueError(msg)
        return value


class RepEdit(_Frozen):
    """A rep added to the roster by a what-if (``edits.add_reps``), or a rep's new home
    (``edits.move_reps``: only ``lat``/``lon`` are used). An added rep holds exactly the
    ``skills`` listed (none when empty: a new hire is not certified until you say so; matched
    ignoring case); ``capacity`` is in FTE."""

    id: Annotated[str, Field(min_length=1)]
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    name: str = ""
    skills: list[str] = []
    capacity: Annotated[float, Field(gt=0)] = 1.0
    area: str = ""
    region: str = ""


class Edits(_Frozen):
    """What-if edits applied to the data after it is read (the files are never changed).

    ``add_reps`` (without ``lat``/``lon``: an open seat whose centre the model chooses),
    ``remove_reps`` (their units lose their current owner: they must move, and are not
    counted against a disruption budget), ``move_reps`` (new home bases), ``lock``
    (account or unit id → rep id; ``""`` unlocks) and ``lock_file`` (a CSV with columns
    ``id`` and ``rep``, relative to the scenario file).
    """

    add_reps: list[RepEdit] = []
    remove_reps: list[str] = []
    move_reps: list[RepEdit] = []
    lock: dict[str, str] = {}
    lock_file: str | None = None

    @model_validator(mode="after")
    def _homes_complete(self) -> Edits:
        for group, reps in (("add_reps", self.add_reps), ("move_reps", self.move_reps)):
            for k, rep in enumerate(reps):
                if (rep.lat is None) != (rep.lon is None):
                    msg = f"{group}.{k} ({rep.id}): give both lat and lon, or neither"
                    raise ValueError(msg)
                if group == "move_reps" and rep.lat is None:
                    msg = f"move_reps.{k} ({rep.id}): a move needs lat and lon"
                    raise ValueError(msg)
        return self

    @property
    def any(self) -> bool:
        return bool(self.add_reps or self.remove_reps or self.move_reps or self.lock or self.lock_file)


class Scenario(_Frozen):
    """One planning run, as read from a YAML file (see the module docstring)."""

    #: Also the default output folder ``out/<name>``: letters, digits, ``-``, ``_``, ``.``.
    name: str
    description: str = ""
    data: DataSpec
    seats: Seats = Seats()
    balance: dict[str, Measure] = {}
    constraints: Constraints = Constraints()
    objective: Objective = Objective()
    candidates: Candidates = Candidates()
    solver: SolverSettings = SolverSettings()
    quotas: Quotas | None = None
    edits: Edits = Edits()
    output: Output = Output()
    #: Folder the scenario's relative paths are resolved against (set by the loader).
    base_dir: str = "."

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
            msg = f"{value!r} is not a usable name (it also names the output folder out/<name>): use letters, digits, '-', '_' or '.', starting with a letter or digit"
            raise ValueError(msg)
        return value

    def resolve(self, path: str) -> Path:
        """A data path from the scenario, resolved against the scenario file's folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def output_dir(self, override: str | Path | None = None) -> Path:
        """Output folder: ``override``, else ``output.dir``, else ``out/<name>``."""
        if override is not None:
            return Path(override)
        if not self.output.dir:
            return Path("out") / self.name
        path = Path(self.output.dir)
        here = Path.cwd().resolve()
        try:
            real = (here / path).resolve()  # symbolic links followed: the check is on where files land
        except (OSError, RuntimeError) as exc:
            msg = f"output.dir {self.output.dir!r}: not a usable folder ({exc})"
            raise ScenarioError(msg) from None
        if real != here and here not in real.parents:
            msg = f"output.dir {self.output.dir!r} leads to {real} (through a symbolic link), outside the run folder {here}; pass --out to write there"
            raise ScenarioError(msg)
        return path


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses anchors/aliases (no 'billion laughs' expansion)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            msg = f"YAML aliases (*name) are not allowed (line {event.start_mark.line + 1})"
            raise yaml.YAMLError(msg)
        return super().compose_node(parent, index)


def _read_yaml(path: Path) -> dict[str, Any]:
    from .io import read_scenario_text  # only io touches files

    text = read_scenario_text(path)
    try:
        raw = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        msg = f"{path}: not valid YAML: {exc}"
        raise ScenarioError(msg) from None
    except RecursionError:
        msg = f"{path}: the YAML is nested too deeply to be a scenario"
        raise ScenarioError(msg) from None
    if not isinstance(raw, dict):
        msg = f"{path}: a scenario must be a mapping of keys (name, data, balance, ...)"
        raise ScenarioError(msg)
    return raw


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _raw_with_extends(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        msg = f"{path}: 'extends' makes a cycle: {' -> '.join(str(p) for p in (*seen, path))}"
        raise ScenarioError(msg)
    raw = _read_yaml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return _rebase_paths(raw, path.parent)
    if not isinstance(parent, str):
        msg = f"{path}: extends: must be a file name, got {parent!r}"
        raise ScenarioError(msg)
    base = _raw_with_extends(path.parent / parent, (*seen, path))
    return _merge(base, _rebase_paths(raw, path.parent))


_PATH_KEYS = ("accounts", "reps", "geography", "adjacency")


def _rebase_paths(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Make data paths absolute relative to the file that names them (so extends works)."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    data = dict(data)
    for key in _PATH_KEYS:
        source = data.get(key)
        if isinstance(source, dict) and isinstance(source.get("path"), str):
            candidate = Path(source["path"])
            if not candidate.is_absolute():
                data[key] = {**source, "path": str(folder / candidate)}
    return {**raw, "data": data}


def _format_validation(path: Path | str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the documented keys"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            if "input" in item and item["type"] not in ("value_error",):
                message += f", got {item['input']!r}"
        lines.append(f"{path}: {loc}: {message}")
    return "\n".join(lines)


def scenario_from_dict(raw: dict[str, Any], *, source: str = "<dict>", base_dir: str = ".") -> Scenario:
    """Validate a scenario given as a mapping (the API's way to build one in code)."""
    try:
        return Scenario.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(_format_validation(source, exc)) from None


def load_scenario(path: str | Path, **overrides: Any) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    **overrides
        Top-level keys merged over the file's (mappings merge key by key).
    """
    path = Path(path)
    raw = _raw_with_extends(path)
    if overrides:
        raw = _merge(raw, overrides)
    return scenario_from_dict(raw, source=str(path), base_dir=str(path.resolve().parent))
