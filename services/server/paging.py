"""Page tokens for List RPCs: an opaque, validated offset into a sorted list."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TypeVar

from featurestore.services.server.errors import RequestError

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100


def page(
    items: Sequence[T], page_size: int, page_token: str
) -> tuple[Sequence[T], str]:
    """Slice ``items`` for one page; returns the page and the next token."""
    if page_size < 0:
        raise RequestError("page_size", "page_size must not be negative")
    size = page_size or DEFAULT_PAGE_SIZE
    start = _decode(page_token) if page_token else 0
    end = start + size
    next_token = _encode(end) if end < len(items) else ""
    return items[start:end], next_token


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        label, _, number = text.partition(":")
        offset = int(number)
        if label != "offset" or offset < 0:
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(
            "page_token", "page_token is not one this server issued"
        ) from exc
    return offset
