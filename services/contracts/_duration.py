"""Parsing of contract duration strings such as `7d`, `36h` or `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"^(?:\d+[wdhms])+$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}

MAX_SECONDS = 315_576_000_000
"""Longest duration a contract may state: 10000 years of 365.25 days, the range
of a protobuf `Duration` (GetContract sends the SLA as one)."""


def check_seconds(seconds: int, text: str) -> timedelta:
    """Return `seconds` as a timedelta; ValueError unless in 1..`MAX_SECONDS`.

    Checked on the int, before `timedelta` (which raises OverflowError, no
    ValueError, on a huge value).
    """
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    if seconds > MAX_SECONDS:
        raise ValueError(
            f"duration {text!r} is too long: at most 10000 years "
            f"({MAX_SECONDS} seconds)"
        )
    return timedelta(seconds=seconds)


def parse_duration(text: str) -> timedelta:
    """Parse a duration made of `<int><unit>` parts, units w, d, h, m, s.

    Args:
        text: For example `7d`, `36h`, `90m` or `1d12h`.

    Returns:
        The positive duration.

    Raises:
        ValueError: The text is malformed, the duration is zero or longer
            than 10000 years.
    """
    if not _WHOLE.match(text):
        raise ValueError(
            f"{text!r} is not a duration like '7d', '36h', '90m' (units w,d,h,m,s)"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    return check_seconds(seconds, text)
