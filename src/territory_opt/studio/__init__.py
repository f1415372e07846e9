"""The plan studio: review, edit and re-optimise a plan on a map, in the browser.

``territory-opt studio PLAN_DIR | SCENARIO`` (or ``plan.studio()`` in a notebook) starts a
local web app: a JSON API (:mod:`.app`, reference at ``/docs``) over one editing
:class:`~.session.Session` (figures from :func:`territory_opt.evaluate.evaluate`), a page
drawn with the vendored Leaflet, re-optimise in a background process (:mod:`.reoptimise`),
and plan versions written by :func:`territory_opt.write_plan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .app import create_app
from .server import DEFAULT_PORT, Running, serve, start
from .session import Session, from_plan, open_plan_folder, open_scenario

if TYPE_CHECKING:
    from ..plan import Plan
    from ..scenario import Scenario

__all__ = [
    "DEFAULT_PORT",
    "Running",
    "Session",
    "create_app",
    "from_plan",
    "open_path",
    "open_plan_folder",
    "open_scenario",
    "serve",
    "start",
    "studio_for_plan",
]


def open_path(
    path: str | Path,
    *,
    workspace: str | Path = ".",
    scenario: str | Path | None = None,
    time_limit: float | None = None,
) -> Session:
    """A session on a plan folder (``solve``'s or the studio's) or a scenario file (solved first)."""
    root = Path(workspace).resolve()
    target = Path(path)
    if target.is_dir():
        return open_plan_folder(target.resolve(), workspace=root, scenario_path=Path(scenario) if scenario else None)
    return open_scenario(target.resolve(), workspace=root, time_limit=time_limit)


def studio_for_plan(
    plan: Plan, scenario: Scenario | str | Path | None = None, *, workspace: str | Path = ".", port: int = 0
) -> Running:
    """Serve a plan in memory in a background thread (a notebook shows it in a frame)."""
    session = from_plan(plan, scenario, workspace=Path(workspace).resolve())
    return start(session, port=port)
