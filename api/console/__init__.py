"""The web console: server-rendered pages (Jinja2 + htmx) served by the API process at ``/``.

Pages are thin views over the services and route functions the API uses; roles are checked by the
same ``Role.allows`` and every change is audited by the service it calls. See docs/console.md.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.console import auth_pages, dashboard, exceptions_pages, session, studies
from api.console.admin import audit, crosswalks, destinations, keys, rulesets, sources, users
from api.console.render import HERE, page

PAGES = (
    auth_pages,
    dashboard,
    studies,
    exceptions_pages,
    destinations,
    sources,
    crosswalks,
    rulesets,
    keys,
    users,
    audit,
)


CONSOLE_PREFIXES = ("/login", "/logout", "/studies", "/exceptions", "/admin/", "/console/")


def _is_console(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path.startswith(CONSOLE_PREFIXES)


async def _sign_in(request: Request, exc: Exception) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={target}" if target != "/" else "/login", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not _is_console(request) or request.headers.get("hx-request"):
        return await http_exception_handler(request, exc)
    titles = {401: "Sign in required", 403: "Forbidden", 404: "Not found", 409: "Conflict"}
    context = {"status": exc.status_code, "title": titles.get(exc.status_code, "Error"), "detail": exc.detail}
    return page(request, "error.html", context, status_code=exc.status_code)


def mount_console(app: FastAPI) -> None:
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in PAGES:
        app.include_router(module.router)
    app.add_exception_handler(session.SignInRequired, _sign_in)
    app.add_exception_handler(StarletteHTTPException, _http_error)
