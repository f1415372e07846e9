"""What-if edits as scenarios: every edit returns a new, validated scenario; inputs are never changed.

* :func:`with_values` sets dotted keys (``balance.potential.tolerance``) and validates the
  result, so a wrong key is named like a wrong key in a file;
* :func:`with_edits` adds roster edits (add, remove, move reps; locks) to ``edits:``;
* :func:`parse_sets`, :func:`parse_rep`, :func:`parse_locks` read the command line's edits;
* :func:`apply_edits` applies a scenario's ``edits:`` to the roster and unit tables that
  :func:`territory_opt.io.load_inputs` read, returning new tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import _validate as v
from .errors import Problem, ScenarioError
from .scenario import Edits, Scenario, scenario_from_dict


def parse_value(text: str) -> Any:
    """A value from the command line, read as YAML (``0.03`` → float, ``true`` → bool)."""
    if not text.strip():
        return ""
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "nested too deeply"
        msg = f"{text!r} is not a value (read as YAML: {first}); quote text, e.g. --set 'name=\"a, b\"'"
        raise ScenarioError(msg) from None


def parse_sets(items: Iterable[str], *, grid: bool = False) -> dict[str, Any]:
    """``key=value`` (or, with ``grid``, ``key=v1,v2,...``) pairs from the command line."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            msg = f"--set {item!r}: write key=value (e.g. balance.potential.tolerance=0.03)"
            raise ScenarioError(msg)
        key, _, value = item.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[^.\s]+)*", key):
            msg = f"--set {item!r}: {key!r} is not a scenario key; write key=value with a dotted key (e.g. balance.potential.tolerance=0.03)"
            raise ScenarioError(msg)
        out[key] = [parse_value(v) for v in value.split(",")] if grid else parse_value(value)
    return out


def with_values(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """The scenario with dotted keys set (``{"balance.potential.tolerance": 0.03}``), validated."""
    if not values:
        return scenario
    raw = scenario.model_dump(mode="json", exclude={"base_dir"}, exclude_none=True)
    for key, value in values.items():
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    edits = ", ".join(f"{k}={v}" for k, v in values.items())
    return scenario_from_dict(raw, source=f"{scenario.name} with {edits}", base_dir=scenario.base_dir)


def with_edits(
    scenario: Scenario,
    *,
    add_reps: Iterable[dict[str, Any]] = (),
    remove_reps: Iterable[str] = (),
    move_reps: Iterable[dict[str, Any]] = (),
    lock: dict[str, str] | None = None,
    lock_file: str | Path | None = None,
) -> Scenario:
    """The scenario with what-if edits added to its ``edits`` (see
    :class:`~territory_opt.scenario.Edits`): ``add_reps=[{"id": "R51", "lat": 30.3,
    "lon": -97.7}]`` (no lat/lon: an open seat), ``remove_reps=["R07"]``, ``move_reps=[{"id":
    "R03", "lat": ..., "lon": ...}]``, ``lock={"A123": "R07"}`` (``""`` unlocks) or a
    ``lock_file`` CSV (columns ``id``, ``rep``). Input files are never changed."""
    edits = scenario.edits.model_dump(mode="json")
    edits["add_reps"] += [dict(r) for r in add_reps]
    edits["remove_reps"] += [str(r) for r in remove_reps]
    edits["move_reps"] += [dict(r) for r in move_reps]
    edits["lock"].update({str(k): str(v) for k, v in (lock or {}).items()})
    if lock_file is not None:
        edits["lock_file"] = str(Path(lock_file).resolve())
    return with_values(scenario, {"edits": edits})


def parse_rep(text: str, *, home_required: bool = False) -> dict[str, Any]:
    """A command-line rep edit: ``ID@LAT,LON[,FTE][,skills=A|B]``, or for an open seat (centre
    chosen) ``ID[,FTE][,skills=A|B]``; e.g. ``R51@30.27,-97.74,0.5,skills=healthcare|gov``."""
    name, at, where = text.partition("@")
    parts = [p.strip() for p in (where if at else name).split(",")]
    if not at:
        name, parts = parts[0], parts[1:]
    rep: dict[str, Any] = {"id": name.strip()}
    example = "write ID@LAT,LON[,FTE][,skills=A|B] or, for an open seat, ID[,FTE][,skills=A|B], e.g. R51@30.27,-97.74,1,skills=healthcare"
    numbers = []
    try:
        for part in parts:
            key, eq, value = part.partition("=")
            if eq and key.strip().lower() == "skills":
                rep["skills"] = [s.strip() for s in value.replace(";", "|").split("|") if s.strip()]
            elif eq or "skills" in rep:
                raise ValueError
            else:
                numbers.append(float(part))
        if at and len(numbers) not in (2, 3):
            raise ValueError
        if not at and len(numbers) > 1:
            raise ValueError
        if at:
            rep["lat"], rep["lon"] = numbers[0], numbers[1]
        if len(numbers) in (1, 3):
            rep["capacity"] = numbers[-1]
    except (ValueError, IndexError):
        msg = f"{text!r}: {example}"
        raise ScenarioError(msg) from None
    if not rep["id"] or (home_required and "lat" not in rep):
        msg = f"{text!r}: write ID@LAT,LON, e.g. R03@33.75,-84.39"
        raise ScenarioError(msg)
    if home_required and ("skills" in rep or "capacity" in rep):
        msg = f"{text!r}: a move takes only the new home, ID@LAT,LON"
        raise ScenarioError(msg)
    return rep


def parse_locks(items: Iterable[str]) -> dict[str, str]:
    """``ACCOUNT=REP`` pairs (command-line ``--lock``); ``ACCOUNT=`` unlocks."""
    locks = {}
    for item in items:
        unit, sep, rep = item.partition("=")
        if not sep or not unit.strip():
            msg = f"--lock {item!r}: write ACCOUNT=REP, e.g. A00042=R07 (ACCOUNT= unlocks)"
            raise ScenarioError(msg)
        locks[unit.strip()] = rep.strip()
    return locks


# ----------------------------------------------------------------------------- applying edits


@dataclass(frozen=True)
class EditedTables:
    """The roster and unit tables after a scenario's ``edits:`` (new frames; the tables given
    are not modified).

    Attributes
    ----------
    reps : DataFrame
        The roster with reps added, removed and moved.
    accounts, geo_units : DataFrame or None
        The unit tables with locks set; the owner of a unit held by a removed rep is ``""``
        (the unit must move) and ``previous_owner`` keeps the leaver for the outputs.
    removed : DataFrame
        ``id``, ``name`` of the reps removed.
    problems : list of Problem
        What could not be applied (unknown reps, clashing ids, locks to removed reps).
    note : str
        What was done, for the plan's notes.
    """

    reps: pd.DataFrame
    accounts: pd.DataFrame | None
    geo_units: pd.DataFrame | None
    removed: pd.DataFrame
    problems: list[Problem]
    note: str


_WHERE = "scenario edits"


def apply_edits(
    scenario: Scenario,
    reps: pd.DataFrame,
    accounts: pd.DataFrame | None,
    geo_units: pd.DataFrame | None,
    *,
    file_locks: dict[str, str] | None = None,
) -> EditedTables:
    """Apply ``scenario.edits`` to copies of the roster and the unit tables (as
    :func:`territory_opt.io.load_inputs` reads them). ``file_locks``: the locks of
    ``edits.lock_file``, read by :mod:`territory_opt.io`; they add to ``edits.lock``."""
    edits = scenario.edits
    problems: list[Problem] = []
    reps, removed, moved = _roster_edits(edits, reps, problems)
    known = set(reps["id"].astype(str)) | removed
    reps, added = _added_reps(edits, reps, known, problems)
    roster = (known | set(added)) - removed
    locks = {**dict(edits.lock), **(file_locks or {})}
    tables = [t.copy() for t in (accounts, geo_units) if t is not None]
    _set_locks(tables, locks, roster, problems)
    orphaned = _release_removed(tables, removed, scenario.constraints.locks, problems)
    if accounts is not None:
        accounts = tables.pop(0)
    if geo_units is not None:
        geo_units = tables.pop(0)
    done = [
        f"{len(added)} rep(s) added" if added else "",
        f"{len(removed)} removed" if removed else "",
        f"{moved} moved" if moved else "",
        f"{len(locks)} lock(s) set" if locks else "",
    ]
    note = "what-if edits: " + ", ".join(d for d in done if d)
    if orphaned:
        note += (
            f"; {orphaned} unit(s) of removed reps must move (the leaver stays their previous owner in the "
            "outputs; not counted against a disruption budget)"
        )
    gone = reps[reps["id"].astype(str).isin(removed)][["id", "name"]].reset_index(drop=True)
    reps = reps[~reps["id"].astype(str).isin(removed)].reset_index(drop=True)
    return EditedTables(reps, accounts, geo_units, gone, problems, note)


def _roster_edits(edits: Edits, reps: pd.DataFrame, problems: list[Problem]) -> tuple[pd.DataFrame, set[str], int]:
    """Reps moved (new homes) and the ids of reps to remove (still in the returned roster)."""
    reps = reps.copy()
    ids = reps["id"].astype(str)
    known = set(ids)
    # a rep to remove or move may be named by id or by name, like an owner
    remove_ids, found = v.match_reps(
        pd.Series(list(edits.remove_reps), dtype=object), reps["id"], reps["name"], _WHERE, "remove_reps", what="rep"
    )
    problems += found
    move_ids, found = v.match_reps(
        pd.Series([r.id for r in edits.move_reps], dtype=object),
        reps["id"],
        reps["name"],
        _WHERE,
        "move_reps",
        what="rep",
    )
    problems += found
    for k, (name, rep_id) in enumerate(zip(edits.remove_reps, remove_ids, strict=True)):
        if rep_id not in known:
            problems.append(Problem(_WHERE, f"remove_reps.{k}: {name!r} is not a rep in the roster"))
    for k, (rep, rep_id) in enumerate(zip(edits.move_reps, move_ids, strict=True)):
        if rep_id not in known:
            problems.append(Problem(_WHERE, f"move_reps.{k}: {rep.id!r} is not a rep in the roster"))
        else:
            reps.loc[ids == rep_id, ["lon", "lat"]] = [rep.lon, rep.lat]
    return reps, set(remove_ids) & known, len(edits.move_reps)


def _added_reps(
    edits: Edits, reps: pd.DataFrame, known: set[str], problems: list[Problem]
) -> tuple[pd.DataFrame, list[str]]:
    """The roster with ``edits.add_reps`` appended (an id already taken is a problem)."""
    added = []
    taken = set(known)
    for k, rep in enumerate(edits.add_reps):
        if rep.id in taken:
            problems.append(
                Problem(_WHERE, f"add_reps.{k}: {rep.id!r} is already a rep in the roster; choose another id")
            )
            continue
        taken.add(rep.id)
        added.append(
            {
                "id": rep.id,
                "name": rep.name or rep.id,
                "lon": np.nan if rep.lon is None else rep.lon,
                "lat": np.nan if rep.lat is None else rep.lat,
                "skills": frozenset(s.strip().casefold() for s in rep.skills if s.strip()),
                "capacity": rep.capacity,
                "area": rep.area,
                "region": rep.region,
            }
        )
    if added:
        reps = pd.concat([reps, pd.DataFrame(added)], ignore_index=True)
    return reps, [str(r["id"]) for r in added]


def _set_locks(tables: list[pd.DataFrame], locks: dict[str, str], roster: set[str], problems: list[Problem]) -> None:
    """Locks set in place on the (copied) unit tables; a lock to a rep not on the roster, or
    of a unit no table has, is a problem."""
    for unit, rep_id in locks.items():
        if rep_id and rep_id not in roster:
            problems.append(Problem(_WHERE, f"lock {unit!r}: {rep_id!r} is not a rep in the roster (after the edits)"))
    unmatched = set(locks)
    for table in tables:  # one pass per table (a lock file may hold thousands of accounts)
        hit = table["id"].isin(unmatched)
        table.loc[hit, "lock"] = table.loc[hit, "id"].map(locks)
        unmatched -= set(table.loc[hit, "id"])
    for unit in sorted(unmatched):
        problems.append(Problem(_WHERE, f"lock {unit!r}: no account or unit has this id"))


def _release_removed(tables: list[pd.DataFrame], removed: set[str], locks_on: bool, problems: list[Problem]) -> int:
    """Units of removed reps lose their owner (in place; ``previous_owner`` keeps the
    leaver); a lock to a removed rep is a problem when locks are on. Returns the most units
    orphaned in one table."""
    orphaned = 0
    for table in tables:
        stuck = np.flatnonzero(table["lock"].isin(removed).to_numpy())
        if len(stuck) and locks_on:
            shown = ", ".join(repr(u) for u in table["id"].iloc[stuck[:10]])
            more = f" and {len(stuck) - 10} more" if len(stuck) > 10 else ""
            example = table["id"].iloc[stuck[0]]
            msg = (
                f"{len(stuck)} account(s)/unit(s) are locked to removed reps ({shown}{more}): unlock them "
                f"(--lock {example}= or edits.lock: {{{example}: ''}}) or keep the rep"
            )
            problems.append(Problem(_WHERE, msg))
        if len(stuck):
            table.loc[table.index[stuck], "lock"] = ""  # locks off: nothing to refuse; on: reported once, here
        gone = table["owner"].isin(removed)
        orphaned = max(orphaned, int(gone.sum()))
        # the leaver stays the previous owner in every output; the engine sees no current
        # owner (the unit must move and is not counted against a disruption budget)
        table["previous_owner"] = table["owner"]
        table.loc[gone, "owner"] = ""
    return orphaned
