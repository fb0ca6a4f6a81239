"""What a test learns of the Delta log reads under test, the real reads running."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable


def history_limits(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The ``limit`` of every ``DeltaTable.history`` call from now on (each
    commit read is a file read, an object-store GET for a table on S3)."""
    asked: list[int | None] = []
    real = DeltaTable.history

    def history(self: DeltaTable, limit: int | None = None) -> list[dict[str, object]]:
        asked.append(limit)
        return real(self, limit)

    monkeypatch.setattr(DeltaTable, "history", history)
    return asked
