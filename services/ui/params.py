"""Path and query parameters the pages share.

Names of tables, views and contracts follow the contracts' one rule
(`SAFE_NAME`: 1-128 of ``[A-Za-z0-9_.-]``); a name outside it is a 422 before
any page code runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from featurestore.services.contracts.registry import SAFE_NAME

NAME_PATTERN = f"^{SAFE_NAME.pattern}$"

Name = Annotated[str, Path(pattern=NAME_PATTERN)]
"""A table, view or contract name in the URL path."""
ContractVersion = Annotated[str | None, Query(pattern=NAME_PATTERN)]
"""A contract version in the query string."""
