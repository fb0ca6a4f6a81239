"""create_app(): the console's FastAPI application, its errors and security headers."""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import grpc
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from featurestore.services.auth import AuthenticationError, PermissionDeniedError
from featurestore.services.auth.errors import AuditUnavailableError
from featurestore.services.contracts import ContractError
from featurestore.services.lineage import LineageError
from featurestore.services.offline.errors import OnDemandViewError
from featurestore.services.online import OnlineStoreError
from featurestore.services.server.errors import NotFoundError, RequestError, grpc_code
from featurestore.services.ui import pages
from featurestore.services.ui.access import (
    SESSION_COOKIE,
    CsrfError,
    SignInRequired,
    host_rule,
)
from featurestore.services.ui.console import Console, PageError

if TYPE_CHECKING:
    from featurestore.services.ui.settings import UiSettings

log = logging.getLogger(__name__)

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null"
    # on form posts, and the origin check needs the real one.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_HSTS = "max-age=31536000"
"""Under TLS only (RFC 6797 has browsers ignore it over plain HTTP). No
includeSubDomains: the console's host may have siblings it does not speak for."""


def create_app(settings: UiSettings, console: Console | None = None) -> FastAPI:
    """The console over the project in ``settings`` (loads the registry now).

    Raises:
        AuthConfigError: auth settings that cannot work (as ``serve``).
    """
    console = console or Console(settings)
    app = FastAPI(
        title="featurestore console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.console = console
    app.mount(
        "/static",
        StaticFiles(packages=[("featurestore.services.ui", "static")]),
        name="static",
    )
    for router in pages.ROUTERS:
        app.include_router(router)
    _install_errors(app, console)
    headers = dict(_HEADERS)
    if settings.browsers_use_https:
        headers["Strict-Transport-Security"] = _HSTS
    host_allowed = host_rule(settings.ui_address, settings.ui_public_url)

    @app.middleware("http")
    async def guard_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        request.state.renewed_session = None  # shared with the page's request
        try:
            if host_allowed(request.headers.get("host")):
                response = await call_next(request)
                console.renew_cookie(request, response)
            else:
                response = _error(console, request, 400, "Bad request", _FOREIGN_HOST)
        except Exception:  # never a stack trace in a page
            log.exception("page failed: %s %s", request.method, request.url.path)
            response = _error(console, request, 500, "Something went wrong", _OOPS)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        # The path only: a query may hold an OIDC code or entity keys.
        log.info(
            "%s %s %d %.1f ms",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    return app


_OOPS = "The console could not show this page; the server log says why."
_FOREIGN_HOST = (
    "This console does not answer to the host name in the address bar; reach it "
    "by its own address, or set --ui-public-url to the URL browsers use."
)


_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "Bad request"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "Precondition failed"),
    grpc.StatusCode.NOT_FOUND: (404, "Not found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "Too much at once"),
    grpc.StatusCode.UNAVAILABLE: (503, "Unavailable"),
}
"""gRPC codes as HTTP statuses, as google.rpc.Code documents them."""


def http_status(exc: BaseException) -> tuple[int, str]:
    """The status and title of a page for a domain error: the gRPC server's
    own code for it (``grpc_code``, by its reason), as HTTP; 500 otherwise."""
    return _HTTP.get(grpc_code(exc), (500, "Something went wrong"))


def _error(
    console: Console, request: Request, status: int, title: str, message: str
) -> Response:
    return console.render(
        request, "error.html", status=status, title=title, message=message
    )


def _install_errors(app: FastAPI, console: Console) -> None:
    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return _error(console, request, exc.status, exc.title, exc.message)

    async def bad_query(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        wrong = sorted(
            {".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()}
        )
        return _error(
            console, request, 400, "Bad request", f"check these values: {wrong}"
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = "Not found" if exc.status_code == 404 else "Request refused"
        page = _error(console, request, exc.status_code, title, str(exc.detail))
        page.headers.update(exc.headers or {})  # a 405's Allow, as HTTP asks
        return page

    async def sign_in(request: Request, exc: Exception) -> Response:
        if isinstance(exc, AuthenticationError):
            console.sessions.drop(request.cookies.get(SESSION_COOKIE))
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urllib.parse.urlencode({"next": back})
        if request.headers.get("HX-Request") == "true":
            # htmx would follow a 303 inside its request and swap the sign-in
            # page's (missing) fragment: have it load the page instead.
            return Response(status_code=200, headers={"HX-Redirect": f"/login?{query}"})
        return RedirectResponse(f"/login?{query}", status_code=303)

    async def denied(request: Request, exc: Exception) -> Response:
        return _error(console, request, 403, "Not allowed", str(exc))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(console, request, 404, "Not found", str(exc))

    async def domain_error(request: Request, exc: Exception) -> Response:
        status, title = http_status(exc)
        if status == 500:  # not one of the reasons callers act on
            log.error(
                "page failed: %s %s", request.method, request.url.path, exc_info=exc
            )
            return _error(console, request, 500, "Something went wrong", _OOPS)
        return _error(console, request, status, title, str(exc))

    async def lineage_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ConnectionError):  # STORAGE_UNAVAILABLE: not the page's
            return _error(console, request, 503, "Storage unavailable", str(exc))
        return await not_found(request, exc)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(console, request, 400, "Bad request", str(exc))

    async def csrf(request: Request, exc: Exception) -> Response:
        return _error(console, request, 403, "Form refused", str(exc))

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(RequestValidationError, bad_query)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(AuthenticationError, sign_in)
    app.add_exception_handler(PermissionDeniedError, denied)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(LineageError, lineage_error)
    app.add_exception_handler(ContractError, domain_error)
    app.add_exception_handler(OnlineStoreError, domain_error)
    # audit_on_failure: refuse, as the gRPC server: 503 until the log has room.
    app.add_exception_handler(AuditUnavailableError, domain_error)
    app.add_exception_handler(OnDemandViewError, domain_error)
    app.add_exception_handler(RequestError, bad_request)
    app.add_exception_handler(CsrfError, csrf)
