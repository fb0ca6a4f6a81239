"""Path and query parameters the pages share.

Names of tables, views and contracts follow the contracts' one rule
(`SAFE_NAME`: 1-128 of ``[A-Za-z0-9_.-]``); a name outside it is a 422 before
any page code runs.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Path, Query

from featurestore.services.contracts.registry import SAFE_NAME

NAME_PATTERN = f"^{SAFE_NAME.pattern}$"

Name = Annotated[str, Path(pattern=NAME_PATTERN)]
"""A table, view or contract name in the URL path."""
ContractVersion = Annotated[str | None, Query(pattern=NAME_PATTERN)]
"""A contract version in the query string."""


def attachment(filename: str) -> dict[str, str]:
    """The ``Content-Disposition`` header offering ``filename`` as a download.

    The name may come from a client (a training set's own name): it is sent
    RFC 6266's way, percent-encoded in ``filename*`` with an ASCII stand-in
    (every other character ``_``) in ``filename``, so no quote, semicolon or
    line break in it can end the value or add a header.
    """
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_"
                    for c in filename)  # fmt: skip
    return {
        "Content-Disposition": f'attachment; filename="{plain}"; '
        f"filename*=UTF-8''{quote(filename, safe='')}"
    }
