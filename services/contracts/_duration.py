"""Parsing of contract duration strings such as `7d`, `36h` or `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"^(?:\d+[wdhms])+$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse a duration made of `<int><unit>` parts, units w, d, h, m, s.

    Args:
        text: For example `7d`, `36h`, `90m` or `1d12h`.

    Returns:
        The positive duration.

    Raises:
        ValueError: The text is malformed or the duration is zero.
    """
    if not _WHOLE.match(text):
        raise ValueError(
            f"{text!r} is not a duration like '7d', '36h', '90m' (units w,d,h,m,s)"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return timedelta(seconds=seconds)
