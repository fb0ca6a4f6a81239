"""Sign-in and sign-out: a token form (API key or access token) and OIDC."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse

from featurestore.services.auth import AuthenticationError
from featurestore.services.ui.access import (
    LOGIN_COOKIE,
    OIDC_SIGN_IN,
    SESSION_COOKIE,
)
from featurestore.services.ui.console import Console, PageError
from featurestore.services.ui.forms import checked_form
from featurestore.services.ui.oidc import OidcLoginError, OidcUnavailableError
from featurestore.services.ui.pages._router import PageRouter

router = PageRouter()


def console_of(request: Request) -> Console:
    """The console this app serves."""
    console: Console = request.app.state.console
    console.refresh()
    return console


def local_path(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/`` (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _login_page(
    console: Console,
    request: Request,
    next_path: str,
    error: str = "",
    status: int = 200,
) -> Response:
    return console.render(
        request,
        "login.html",
        status=status,
        next_path=next_path,
        error=error,
        oidc=console.oidc is not None,
    )


@router.get("/login")
def login_form(
    request: Request, next: Annotated[str | None, Query(max_length=2048)] = None
) -> Response:
    """The sign-in page (straight home when auth is off)."""
    console = console_of(request)
    if not console.gate.auth_on:
        return RedirectResponse(local_path(next), status_code=303)
    return _login_page(console, request, local_path(next))


@router.post("/login")
async def login_with_token(request: Request) -> Response:
    """Sign in with a pasted API key or access token (verified as gRPC does)."""
    console = console_of(request)
    form = await checked_form(console, request)
    next_path = local_path(form.get("next"))
    if not console.gate.auth_on:
        return RedirectResponse(next_path, status_code=303)
    token = form.get("token", "").strip()
    try:
        principal = console.gate.sign_in(token)
    except AuthenticationError:
        return _login_page(
            console, request, next_path, "missing or invalid credentials", 401
        )
    return _signed_in(console, request, token, principal.name, next_path, None)


def _signed_in(
    console: Console,
    request: Request,
    token: str,
    principal: str,
    next_path: str,
    expires: float | None,
) -> Response:
    console.sessions.drop(request.cookies.get(SESSION_COOKIE))  # no fixation
    sid, _ = console.sessions.create(token, principal, expires)
    response = RedirectResponse(next_path, status_code=303)
    console.set_cookie(response, SESSION_COOKIE, sid, console.sessions.seconds)
    console.drop_cookie(response, LOGIN_COOKIE)
    return response


@router.get("/login/oidc")
def login_with_oidc(
    request: Request, next: Annotated[str | None, Query(max_length=2048)] = None
) -> Response:
    """Go to the issuer (authorization code + PKCE)."""
    console = console_of(request)
    if console.oidc is None:
        raise PageError(404, "Not found", "OIDC sign-in is not configured")
    try:
        url, binding = console.oidc.start(local_path(next))
    except OidcLoginError as exc:
        return _login_page(console, request, local_path(next), str(exc), 502)
    response = RedirectResponse(url, status_code=303)
    console.set_cookie(response, LOGIN_COOKIE, binding, 600)
    return response


@router.get("/auth/callback")
def oidc_callback(request: Request) -> Response:
    """The issuer's redirect: check state, exchange the code, verify the token."""
    console = console_of(request)
    if console.oidc is None:
        raise PageError(404, "Not found", "OIDC sign-in is not configured")
    params = {k: v for k, v in request.query_params.items() if len(v) <= 4096}
    try:
        token, next_path, expires = console.oidc.finish(
            params, request.cookies.get(LOGIN_COOKIE)
        )
    except OidcLoginError as exc:
        console.gate.refuse_sign_in(OIDC_SIGN_IN, str(exc))
        status = 503 if isinstance(exc, OidcUnavailableError) else 400
        return _login_page(console, request, "/", str(exc), status)
    try:
        principal = console.gate.sign_in(token, OIDC_SIGN_IN)
    except AuthenticationError:
        return _login_page(console, request, "/", "the issuer's token was refused", 401)
    return _signed_in(console, request, token, principal.name, next_path, expires)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session and its credential are forgotten. Without a live
    session (it expired in another tab, say) there is nothing to forget: to
    the sign-in page, with no CSRF check (the form's token was the session's).
    """
    console = console_of(request)
    if console.session(request) is not None:
        await checked_form(console, request)
    console.sessions.drop(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    console.drop_cookie(response, SESSION_COOKIE)
    return response
