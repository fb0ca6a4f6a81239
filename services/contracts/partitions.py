"""Partition directory names, as Spark writes them for a Delta table.

A row's partition values become one directory per ``partition_by`` column,
``column=value`` with Hive-style escaping (Spark's
``ExternalCatalogUtils.escapePathName``: ``%XX`` for the characters below).
The contract gate uses this to quarantine rows whose directory could not be
created, instead of failing the whole batch in the write.
"""

from __future__ import annotations

SEGMENT_MAX_BYTES = 255
"""Longest directory name, in UTF-8 bytes: the file-name limit of ext4, XFS,
btrfs and APFS. Object stores allow longer path segments; one limit keeps a
table movable between them and a local disk."""

_ESCAPED = (*range(0x01, 0x20), *b"\"#%'*/:=?[\\]^{", 0x7F)
"""Characters Spark writes as ``%XX`` in a partition directory name."""
_ESCAPES = {code: f"%{code:02X}" for code in _ESCAPED}


def escape_path_name(text: str) -> str:
    """``text`` as Spark escapes it in a partition directory name."""
    return text.translate(_ESCAPES)


def directory_name(column: str, value: str) -> str:
    """The partition directory of ``value`` in ``column``: ``column=value``, escaped."""
    return f"{escape_path_name(column)}={escape_path_name(value)}"


def valid_directory(column: str, value: str) -> bool:
    """Whether the partition directory of ``value`` can be created: at most
    `SEGMENT_MAX_BYTES` of UTF-8, and no NUL (no file system takes one; Spark
    does not escape it)."""
    name = directory_name(column, value)
    return "\0" not in name and len(name.encode("utf-8", "surrogatepass")) <= (
        SEGMENT_MAX_BYTES
    )
