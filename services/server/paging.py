"""Page tokens for List RPCs: an opaque, validated offset into a sorted list,
tied to the request it was issued for (AIP-158)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import TypeVar

from featurestore.services.server.errors import RequestError

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100


def page(
    items: Sequence[T], page_size: int, page_token: str, scope: str = ""
) -> tuple[Sequence[T], str]:
    """Slice ``items`` for one page; returns the page and the next token.

    ``scope`` names what the list depends on besides the page (the method,
    its parent, a version): a token is accepted only with the same scope, so
    one issued for a view's drift scores cannot page another view's profiles.
    """
    if page_size < 0:
        raise RequestError("page_size", "page_size must not be negative")
    size = page_size or DEFAULT_PAGE_SIZE
    start = _decode(page_token, _digest(scope)) if page_token else 0
    end = start + size
    next_token = _encode(end, _digest(scope)) if end < len(items) else ""
    return items[start:end], next_token


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def _encode(offset: int, scope: str) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}:{scope}".encode()).decode()


def _decode(token: str, scope: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        label, number, issued_for = text.split(":")
        offset = int(number)
        if label != "offset" or offset < 0:
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(
            "page_token", "page_token is not one this server issued"
        ) from exc
    if issued_for != scope:
        raise RequestError(
            "page_token",
            "page_token was issued for another request: send the other fields "
            "as on the first page, or start again without a token",
        )
    return offset
