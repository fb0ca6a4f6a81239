"""The console's router: every page answers HEAD as it answers GET."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class PageRouter(APIRouter):
    """An ``APIRouter`` whose ``get`` pages answer HEAD too, without the body.

    RFC 9110 (9.1) asks a general-purpose server for both, and uptime checks
    and ``curl -I`` send HEAD. Starlette's own routes add HEAD to GET;
    FastAPI's do not (405). A HEAD runs the page as GET does, through the
    same host check, session and permissions; uvicorn sends no body.
    """

    def get(  # type: ignore[override]
        self, path: str, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.api_route(path, methods=["GET", "HEAD"], **kwargs)
