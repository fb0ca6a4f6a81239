"""Partition directory names, as Spark writes them for a Delta table."""

from __future__ import annotations

SEGMENT_MAX_BYTES = 255
"""Longest directory name, in UTF-8 bytes: the file-name limit of ext4, XFS,
btrfs and APFS, where Spark writes a local table. (On object stores, where
delta-rs commits for Spark, names may be longer; delta-rs escapes more.)"""

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The directory value Spark writes for a null (and ``""``) partition value;
a value spelled so reads back as null."""

_ESCAPED = (*range(0x01, 0x20), *b"\"#%'*/:=?[\\]^{", 0x7F)
"""Characters Spark writes as ``%XX`` in a partition directory name
(``ExternalCatalogUtils.escapePathName``, which Delta's writer calls)."""
_ESCAPES = {code: f"%{code:02X}" for code in _ESCAPED}


def escape_path_name(text: str) -> str:
    """``text`` as Spark escapes it in a partition directory name."""
    return text.translate(_ESCAPES)


def directory_name(column: str, value: str) -> str:
    """The partition directory of a non-empty ``value`` in ``column``:
    ``column=value``, escaped (Spark writes ``""`` and null as
    ``column=__HIVE_DEFAULT_PARTITION__``)."""
    return f"{escape_path_name(column)}={escape_path_name(value)}"


def valid_directory(column: str, value: str) -> bool:
    """Whether the partition directory of ``value`` can be created and holds
    it: at most `SEGMENT_MAX_BYTES` of UTF-8, no NUL (no file system takes
    one; Spark does not escape it), and not `HIVE_DEFAULT_PARTITION` (Spark
    stores that value as null, so a re-run would not find the row again)."""
    if value == HIVE_DEFAULT_PARTITION:
        return False
    name = directory_name(column, value)
    return "\0" not in name and len(name.encode("utf-8", "surrogatepass")) <= (
        SEGMENT_MAX_BYTES
    )
