"""The studio's web app: a JSON API over one :class:`~.session.Session`, the page, and the
token check that keeps other local pages and programs from driving it.

Every request needs the session's token: the ``X-Studio-Token`` header or the cookie the
page receives when opened from the printed URL (``/?token=...``); the page's own files may
also carry it as ``?token=``. Requests whose ``Host`` is not the loopback address are
refused (a DNS-rebinding page cannot reach the API either).
"""

from __future__ import annotations

import hashlib
import html
import secrets
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.gzip import GZipMiddleware

from ..errors import TerritoryOptError
from .session import RequestError, Session, inside, open_plan_folder, open_scenario

STATIC = {
    "studio.js": ("studio", "static/studio.js", "text/javascript"),
    "studio.css": ("studio", "static/studio.css", "text/css"),
    "leaflet.js": ("vendor", "leaflet.js", "text/javascript"),
    "leaflet.css": ("vendor", "leaflet.css", "text/css"),
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https://*.tile.openstreetmap.org; connect-src 'self'; "
    "frame-ancestors 'self' http://localhost:* http://127.0.0.1:*; base-uri 'none'; form-action 'none'"
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Units(_Body):
    units: list[str] = Field(description="Unit ids (as in assignments.csv)")


class Move(Units):
    territory: str = Field(description="Territory (seat) id to move the units to")


class Reoptimise(_Body):
    time_limit: float | None = Field(
        None,
        description="Engine time limit [s]; default the scenario's, at most 10 (the engine adds its final bound and audit)",
    )


class Save(_Body):
    note: str = Field("", max_length=500, description="A note stored with the version")


class Open(_Body):
    path: str = Field(description="A plan folder or scenario file, relative to the workspace")
    scenario: str | None = Field(None, description="The plan's scenario file (when its summary does not lead to it)")
    time_limit: float | None = Field(None, description="Solver time limit [s] when opening a scenario")


def cookie_name(token: str) -> str:
    """One cookie per studio (cookies ignore ports, so two studios must not share a name)."""
    return "studio_" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _current(request: Request) -> Session:
    """The app's session now (``/api/open`` replaces it)."""
    return request.app.state.session  # type: ignore[no-any-return]


#: The session of the request, for the routes (``Depends``: looked up per request).
Current = Annotated[Session, Depends(_current)]


def create_app(
    session: Session,
    *,
    token: str | None = None,
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> FastAPI:
    """The studio's app for ``session``; ``token`` is made with :func:`secrets.token_urlsafe`
    when not given (``app.state.token``). The routes come in groups, one router each: the
    page and its files, the plan, edits, re-optimise, versions, and opening another plan."""
    token = token or secrets.token_urlsafe(24)
    app = FastAPI(
        title="territory_opt plan studio",
        summary="Review, edit and re-optimise a territory plan. Every request needs the X-Studio-Token header (or the page's cookie).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.token = token
    app.state.session = session
    app.state.cookie = cookie_name(token)
    app.add_middleware(GZipMiddleware, minimum_size=2000)
    _guard(app, token, app.state.cookie, allowed_hosts)
    _error_handlers(app)
    for routes in (_page_routes, _plan_routes, _edit_routes, _reoptimise_routes, _version_routes, _open_routes):
        app.include_router(routes())
    return app


def _guard(app: FastAPI, token: str, cookie: str, allowed_hosts: tuple[str, ...]) -> None:
    """Loopback hosts only, the session's token on every request, and the security headers."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in allowed_hosts:
            return JSONResponse({"detail": f"host {host!r} refused: the studio answers on 127.0.0.1 only"}, 403)
        given = request.headers.get("x-studio-token") or request.cookies.get(cookie)
        if given is None and request.method == "GET" and not request.url.path.startswith("/api/"):
            given = request.query_params.get("token")
        if given is None or not secrets.compare_digest(given.encode(), token.encode()):
            msg = "missing or wrong studio token: open the URL the studio printed (it ends with ?token=...), or send the X-Studio-Token header"
            return JSONResponse({"detail": msg}, 401)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response


def _error_handlers(app: FastAPI) -> None:
    """Refused requests and the package's errors as ``{"detail": ...}`` (never a traceback)."""

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, exc.status)

    @app.exception_handler(TerritoryOptError)
    async def failed(request: Request, exc: TerritoryOptError) -> JSONResponse:
        return JSONResponse({"detail": f"{type(exc).__name__}: {exc}"}, 400)


def _page_routes() -> APIRouter:
    """The page (with the token), its static files and the API reference."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def page(request: Request) -> Response:
        # The page sends the token as a header (a cookie is not sent inside a notebook's frame)
        # and drops it from the address bar.
        token, cookie = request.app.state.token, request.app.state.cookie
        text = (files("territory_opt.studio") / "static" / "index.html").read_text(encoding="utf-8")
        response = HTMLResponse(text.replace("__TOKEN__", html.escape(token, quote=True)))
        response.set_cookie(cookie, token, httponly=True, samesite="strict", path="/")
        return response

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return JSONResponse({"detail": f"no static file {name!r}"}, 404)
        where, path, media = STATIC[name]
        root = files("territory_opt.studio") if where == "studio" else files("territory_opt") / "_vendor"
        return Response((root / path).read_bytes(), media_type=media)

    @router.get("/docs")
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(api_docs(request.app))

    return router


def _plan_routes() -> APIRouter:
    """What the page draws: the state, the figures, the unit polygons."""
    router = APIRouter(prefix="/api")

    @router.get(
        "/state",
        summary="Everything the page draws: units, territories, assignment, locks, figures, history, versions",
    )
    def state(session: Current) -> dict[str, Any]:
        return session.state()

    @router.get(
        "/figures",
        summary="Per-territory figures (measures vs target and band, travel, moved, contiguity, quota) and totals",
    )
    def figures(session: Current) -> dict[str, Any]:
        with session.lock:
            return session.figures()

    @router.get("/geometry", summary="Unit polygons as GeoJSON (property i: the unit's index); 400 for plans of points")
    def geometry(request: Request, session: Current) -> Response:
        body = session.geojson()
        if session.geojson_gzip is not None and "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                session.geojson_gzip,
                media_type="application/geo+json",
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return Response(body, media_type="application/geo+json")

    return router


def _edit_routes() -> APIRouter:
    """Hand edits: move, lock, unlock, undo, redo."""
    router = APIRouter(prefix="/api")

    @router.post("/move", summary="Move units to a territory; the moved units become locked")
    def move(body: Move, session: Current) -> dict[str, Any]:
        return session.move(body.units, body.territory)

    @router.post("/lock", summary="Lock units to their current territory (re-optimise keeps them)")
    def lock(body: Units, session: Current) -> dict[str, Any]:
        return session.set_locked(body.units, True)

    @router.post("/unlock", summary="Unlock units")
    def unlock(body: Units, session: Current) -> dict[str, Any]:
        return session.set_locked(body.units, False)

    @router.post("/undo", summary="Undo the last edit")
    def undo(session: Current) -> dict[str, Any]:
        return session.undo()

    @router.post("/redo", summary="Redo the last undone edit")
    def redo(session: Current) -> dict[str, Any]:
        return session.redo()

    return router


def _reoptimise_routes() -> APIRouter:
    """The engine on the current state: start, progress, cancel, and its proposal."""
    router = APIRouter(prefix="/api")

    @router.post(
        "/reoptimise",
        summary="Start the engine on the current state (locked units kept, current state as the alignment, the scenario's disruption budget)",
    )
    def reoptimise(body: Reoptimise, session: Current) -> dict[str, Any]:
        return session.start_reoptimise(time_limit=body.time_limit)

    @router.get("/reoptimise", summary="Progress of the re-optimise and its proposal (change list, figures) once done")
    def reoptimise_status(session: Current) -> dict[str, Any]:
        return session.job_status()

    @router.post("/reoptimise/cancel", summary="Stop the running re-optimise")
    def cancel(session: Current) -> dict[str, Any]:
        return session.cancel()

    @router.post("/proposal/accept", summary="Make the proposal the current state (one undo step)")
    def accept(session: Current) -> dict[str, Any]:
        return session.accept()

    @router.post("/proposal/discard", summary="Drop the proposal")
    def discard(session: Current) -> dict[str, Any]:
        return session.discard()

    return router


def _version_routes() -> APIRouter:
    """Saved versions (complete plan folders): list, save, open, compare."""
    router = APIRouter(prefix="/api")

    @router.get("/versions", summary="Saved versions (baseline, v001, v002 ...)")
    def versions(session: Current) -> list[dict[str, Any]]:
        with session.lock:
            return session.versions_list()

    @router.post("/save", summary="Save the current state as a new complete plan folder vNNN (never overwrites)")
    def save(body: Save, session: Current) -> dict[str, Any]:
        return session.save(body.note)

    @router.post("/versions/{name}/open", summary="Make a saved version the current state (one undo step)")
    def open_version(name: str, session: Current) -> dict[str, Any]:
        return session.open_version(name)

    @router.get("/compare", summary="Per-territory deltas and changed units between two versions (names, or 'current')")
    def compare(session: Current, a: str = "baseline", b: str = "current") -> dict[str, Any]:
        return session.compare(a, b)

    return router


def _open_routes() -> APIRouter:
    """Open another plan folder or scenario of the workspace in place of the current one."""
    router = APIRouter(prefix="/api")

    @router.post("/open", summary="Open another plan folder or scenario inside the workspace (403 outside it)")
    def open_other(body: Open, request: Request, old: Current) -> dict[str, Any]:
        workspace = old.workspace
        path = inside(workspace, body.path)
        if path.is_dir():
            scenario = inside(workspace, body.scenario) if body.scenario else None
            new = open_plan_folder(path, workspace=workspace, scenario_path=scenario)
        elif path.is_file():
            new = open_scenario(path, workspace=workspace, time_limit=body.time_limit)
        else:
            msg = f"{body.path}: no such plan folder or scenario file in the workspace"
            raise RequestError(msg)
        warm = old.warm
        old.close()
        if warm:
            new.prepare_engine()
        request.app.state.session = new
        return {"opened": new.name}

    return router


def api_docs(app: FastAPI) -> str:
    """The API reference as one offline page (from the OpenAPI schema; every text escaped)."""
    schema = app.openapi()
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, spec in methods.items():
            body = spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            fields = schema.get("components", {}).get("schemas", {}).get(ref, {}).get("properties", {})
            args = ", ".join(f"{k}: {v.get('description', v.get('type', ''))}" for k, v in fields.items())
            params = ", ".join(p["name"] for p in spec.get("parameters", []))
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                    html.escape(method.upper()),
                    html.escape(path),
                    html.escape(spec.get("summary", "")),
                    html.escape(args or params),
                )
            )
    return (
        "<!doctype html><meta charset=utf-8><title>Plan studio API</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}td{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top}</style>"
        "<h1>Plan studio JSON API</h1><p>Every request needs the header <code>X-Studio-Token</code> (the token in the URL the studio printed) "
        'or the page\'s cookie. Bodies are JSON; errors are <code>{"detail": "..."}</code> with 400 (bad request), 401 (token), '
        "403 (outside the workspace), 409 (conflict) or 422 (malformed body). The full schema: <a href=/openapi.json>/openapi.json</a>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>body / query</th></tr>" + "".join(rows) + "</table>"
    )


def static_root() -> Path:
    return Path(str(files("territory_opt.studio") / "static"))
