"""Reading the console's POST forms: urlencoded, small, CSRF- and origin-checked."""

from __future__ import annotations

import urllib.parse

from fastapi import Request

from featurestore.services.ui.access import CSRF_COOKIE, check_csrf, check_origin
from featurestore.services.ui.console import Console, PageError

_MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (at most 64 KiB).

    Parsed here rather than through python-multipart: the console's forms are
    all small and urlencoded, so one more dependency buys nothing.

    Raises:
        PageError: 400 for another content type, 413 for a larger body.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise PageError(400, "Bad request", "forms are sent urlencoded")
    body = await _small_body(request)
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=200
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise PageError(400, "Bad request", "the form could not be read") from exc
    return dict(pairs)


async def _small_body(request: Request) -> bytes:
    """The body, refused (413) once it is over the limit: at once from its
    Content-Length, else while it streams in (a chunked body has none), so a
    large body is never held in memory, nor even read when it is announced.

    Raises:
        PageError: 413 for a larger body, 400 for a malformed Content-Length.
    """
    length = request.headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):  # uvicorn refuses these
            raise PageError(400, "Bad request", "malformed Content-Length")
        if int(length) > _MAX_FORM_BYTES:
            raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_FORM_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> PageError:
    return PageError(413, "Too large", "the form is larger than 64 KiB")


async def checked_form(console: Console, request: Request) -> dict[str, str]:
    """The form of a POST, after its origin and CSRF token are checked.

    The token is the session's; before sign-in, the CSRF cookie's.

    Raises:
        CsrfError: a foreign origin or a missing or wrong token.
        PageError: a body that is not a small urlencoded form.
    """
    check_origin(
        request.headers.get("origin"),
        console.settings.base_url,
        request.headers.get("host"),
    )
    form = await read_form(request)
    session = console.session(request)
    expected = session.csrf if session else request.cookies.get(CSRF_COOKIE)
    check_csrf(expected, form.get("csrf"))
    return form
