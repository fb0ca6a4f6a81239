"""The SQLite block read: its query and the decoding of its blobs (pure).

A wide read of doubles costs most of its time turning keys x features rows
into Python objects. The block read asks SQLite for one blob per key instead:

    <newest event_ts as text> "|" cell*

where each cell is ``char(j + 1, length + 1)`` followed by the stored value
(``j`` is the feature's position in the request; cells come in any order).
``char`` writes code points as UTF-8, so positions (< 127) and lengths below
127 take one byte each and longer lengths two to four. A key with nothing
stored gives NULL. The text functions keep blob bytes as they are only in a
UTF-8 database; the reader checks the encoding.
"""

from __future__ import annotations

import numpy as np

# Feature positions travel as one byte, char(j + 1).
MAX_FEATURES = 126
# A cell holding a Feast double: position byte, length byte (10), 9-byte value.
DOUBLE_CELL = 11
_LEAD_WIDTH = (1,) * 0x80 + (0,) * 0x40 + (2,) * 0x20 + (3,) * 0x10 + (4,) * 0x10


def block_sql(quoted_table: str, key_values: str, name_values: str) -> str:
    """The block read over ``k(i, key)`` and ``f(j, name)`` VALUES lists.

    MATERIALIZED keeps ``f`` one small indexed table instead of evaluating it
    per key; ``coalesce`` keeps a key whose requested values are all NULL
    (stored, every cell empty) apart from a key with nothing stored.
    """
    return (
        f"WITH k(i, key) AS (VALUES {key_values}), "
        f"f(j, name) AS MATERIALIZED (VALUES {name_values}) "
        "SELECT k.i, (SELECT CAST(max(t.event_ts) || '|' || coalesce(group_concat("
        "char(f.j + 1, length(t.value) + 1) || t.value, ''), '') AS BLOB) "
        f"FROM {quoted_table} t JOIN f ON +t.feature_name = f.name "
        "WHERE t.entity_key = k.key) FROM k"
    )


def stamp_value(stamp: bytes) -> int | float | str:
    """The stored event_ts back from its text: an int, a float or the text."""
    text = stamp.decode()
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def ordered_doubles(records: list[bytes], nf: int) -> np.ndarray | None:
    """(keys, features, 9) cells in request order when every cell is a double.

    None unless every record holds all ``nf`` positions once, each with a
    9-byte Feast double (``double_val``, tag 0x29).
    """
    size = DOUBLE_CELL * nf
    if any(len(record) != size for record in records):
        return None
    block = np.frombuffer(b"".join(records), np.uint8).reshape(
        len(records), nf, DOUBLE_CELL
    )
    # Every length byte says 9 (read at fixed offsets, each is where it should
    # be only if all cells before it were 9 bytes), every value is tagged
    # double_val (a ValueProto starting so is exactly those 9 bytes).
    if not (block[:, :, 1] == 10).all() or not (block[:, :, 2] == 0x29).all():
        return None
    order = np.argsort(block[:, :, 0], axis=1, kind="stable")
    block = np.take_along_axis(block, order[:, :, None], axis=1)
    if not (block[:, :, 0] == np.arange(1, nf + 1, dtype=np.uint8)).all():
        return None
    return block[:, :, 2:]


def record_cells(record: bytes, nf: int) -> list[bytes | None] | None:
    """One record's values by request position (None where nothing is stored).

    Returns None when the record cannot be read back exactly: a length SQLite
    could not write as a code point (a surrogate, or U+FFFD, which ``char``
    also writes for lengths past U+10FFFF).
    """
    row: list[bytes | None] = [None] * nf
    pos, end = 0, len(record)
    try:
        while pos < end:
            j = record[pos] - 1
            width = _LEAD_WIDTH[record[pos + 1]]
            code = ord(record[pos + 1 : pos + 1 + width].decode())
            pos += 1 + width
            size = code - 1
            if code == 0xFFFD or not 0 <= j < nf or pos + size > end:
                return None
            row[j] = record[pos : pos + size]
            pos += size
    except (IndexError, UnicodeDecodeError, TypeError):
        return None
    return row
