"""A CSV file read as Spark reads it with the contract's schema as the read schema."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.services.contracts.model import Contract

# The read this module agrees with (Spark 4, session time zone UTC):
#   spark.read.csv(path, header=True, schema=<the contract's columns, in order>)
# with every other option at its default: PERMISSIVE (a cell not of its type is
# null), nullValue "" (a quoted "" too), escape "\", multiLine false.

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
# Java's Long.parseLong: any Unicode decimal digit (as Python's \d and int()).
_JAVA_LONG = re.compile(r"[+-]?\d+")
# Java's Double.parseDouble after its trim(); ASCII digits only.
_JAVA_DOUBLE = re.compile(
    r"([+-]?)(?:(NaN)|(Infinity)"
    r"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fFdD]?"
    r"|(0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?)",
    re.ASCII,
)
# java.time.ZoneOffset.of: +h, +hh, +hh:mm, +hhmm, +hh:mm:ss, +hhmmss.
_OFFSET = re.compile(
    r"([+-])(?:(\d{1,2})|(\d\d):(\d\d)|(\d\d)(\d\d)|(\d\d):(\d\d):(\d\d)"
    r"|(\d\d)(\d\d)(\d\d))",
    re.ASCII,
)
_REGION = re.compile(r"[A-Za-z][A-Za-z0-9~/._+-]+")
# java.time.ZoneId.SHORT_IDS, which Spark passes to ZoneId.of.
_SHORT_IDS = {
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo",
    "AST": "America/Anchorage",
    "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare",
    "CNT": "America/St_Johns",
    "CST": "America/Chicago",
    "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa",
    "ECT": "Europe/Paris",
    "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "MIT": "Pacific/Apia",
    "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal",
    "VST": "Asia/Ho_Chi_Minh",
    "EST": "-05:00",
    "MST": "-07:00",
    "HST": "-10:00",
}
# A line Spark and Arrow split into the same cells: every quoted cell is the
# whole cell and holds no quote, no line break and no "\\" (Spark's escape
# makes it one backslash; escaped quotes are refused before this runs).
_CELL = r'(?:"(?:[^"\\\r\n]|\\[^"\\\r\n])*"|[^,"\r\n][^,\r\n]*|)'
_LINES = re.compile(rf"(?:{_CELL}(?:,{_CELL})*(?:\r\n|\r|\n|\Z))*")


class CsvUnlikeSparkError(ValueError):
    """A CSV file Spark's reader would read otherwise than this module can.

    ``reason`` is always ``CSV_NOT_LIKE_SPARK``; ``metadata`` has ``line`` and
    ``construct`` (what Spark reads differently).
    """

    reason = "CSV_NOT_LIKE_SPARK"

    def __init__(
        self, construct: str, line: int, fix: str = "rewrite the file without it"
    ) -> None:
        super().__init__(
            f"{self.reason}: line {line} has {construct}, which Spark's CSV reader "
            f"(the jobs' read: header, the contract's schema, default options) "
            f"reads differently; {fix}"
        )
        self.metadata = {"construct": construct, "line": str(line)}


def check_text(text: str) -> None:
    """Refuse what Arrow would split or unquote otherwise than Spark.

    Spark (multiLine false) ends a row at every line break, also inside
    quotes; its escape is ``\\`` (``"a\\"b"`` is ``a"b``, ``"a\\\\b"`` is
    ``a\\b``) and a cell with a quote inside its quotes (``"a""b"``) is kept
    raw, quotes and all.

    Raises:
        CsvUnlikeSparkError: CSV_NOT_LIKE_SPARK, with the first such line.
    """
    body = text[1:] if text.startswith("\ufeff") else text
    at = body.find('\\"')
    if at >= 0:
        raise CsvUnlikeSparkError('a \\"', _line_of(body, at))
    if '"' in body:
        # The match stops at the start of the first line it cannot take.
        match = _LINES.match(body)
        end = match.end() if match is not None else 0
        if end != len(body):
            raise CsvUnlikeSparkError(
                "a quoted cell holding a quote, a line break or \\\\, or text "
                "after its closing quote",
                _line_of(body, end),
            )


def _utf8(raw: bytes) -> str:
    """``raw`` decoded; bytes that are not UTF-8 are refused (Spark would read
    them as U+FFFD, a value no other reader of the file sees).

    Raises:
        CsvUnlikeSparkError: CSV_NOT_LIKE_SPARK, with the line of the first
            such byte.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = len(re.findall(rb"\r\n|\r|\n", raw[: exc.start])) + 1
        raise CsvUnlikeSparkError(
            f"a byte that is not UTF-8 (0x{raw[exc.start]:02x})",
            line,
            fix="save the file as UTF-8",
        ) from None


def check_header(header: Sequence[str], contract: Contract) -> None:
    """Refuse a header naming a contract column at another position.

    With a schema Spark skips the header line and takes the columns by
    position (``enforceSchema``, on by default): the contract's first column
    is the file's first, whatever its name. Read by name here, a file with
    two columns swapped would be judged as it is not published.

    Raises:
        CsvUnlikeSparkError: CSV_NOT_LIKE_SPARK, line 1, naming the first
            such column.
    """
    names = contract.column_names
    # A header shorter or longer: missing or extra columns, judged by name later.
    pairs = zip(names, header, strict=False)
    for position, (wanted, found) in enumerate(pairs, start=1):
        if found != wanted and found in names:
            raise CsvUnlikeSparkError(
                f"column {position} {found!r} where the contract's column "
                f"{position} is {wanted!r}",
                1,
                fix="put the columns in the contract's order (Spark takes them by "
                "position, not by header name)",
            )


def _line_of(text: str, at: int) -> int:
    return len(re.findall(r"\r\n|\r|\n", text[:at])) + 1


def read_csv(
    file: Path | bytes, contract: Contract, text: Collection[str] = ()
) -> pa.Table:
    """Read ``file`` (a path, or its bytes): each contract column as Spark
    reads it with the contract's type, the other columns as text.

    Raises:
        CsvUnlikeSparkError: a construct Spark reads otherwise (``check_text``)
            or columns in another order than the contract's (``check_header``).
        ValueError: not CSV (a row with another number of cells, bad UTF-8).
        OSError: unreadable.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    raw = file if isinstance(file, bytes) else file.read_bytes()
    check_text(_utf8(raw))
    names = [*text, *contract.column_names]
    options = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        null_values=[""],  # Spark's nullValue; a quoted "" is null there too
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    table = pa_csv.read_csv(pa.py_buffer(raw), convert_options=options)
    check_header(table.column_names, contract)
    for column in contract.columns:
        if column.type != "string" and column.name in table.column_names:
            index = table.schema.get_field_index(column.name)
            values = convert(table.column(index), column.type)
            table = table.set_column(index, column.name, values)
    return table


def convert(values: pa.ChunkedArray, column_type: str) -> pa.ChunkedArray:
    """Text cells as ``column_type``: a cell Spark cannot read as it is null.

    Plain cells (``_PLAIN``) are cast by Arrow at once; each other distinct
    text is parsed once, in Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from featurestore.services.contracts import ARROW_TYPES

    parse, storage = _PARSERS[column_type]
    text = values.cast(pa.string()).combine_chunks()
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN[column_type]), False)
    try:
        cast = _plain_cast(pc.if_else(plain, text, None), column_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # 2026-02-30
        plain, cast = pa.array([False] * len(text)), None
    others = text if cast is None else pc.if_else(plain, None, text)
    encoded = others.dictionary_encode()
    parsed = [parse(cell) for cell in encoded.dictionary.to_pylist()]
    slow = pa.array(parsed, storage).take(encoded.indices)
    merged = slow if cast is None else pc.if_else(plain, cast, slow)
    return pa.chunked_array([merged.cast(ARROW_TYPES[column_type])])


def _plain_cast(text: pa.Array, column_type: str) -> pa.Array:
    # Cells both Arrow and Spark read, with the same value.
    import pyarrow as pa
    import pyarrow.compute as pc

    if column_type == "date":
        return text.cast(pa.date32()).cast(pa.int32())
    if column_type == "timestamp":
        naive = pc.replace_substring_regex(text, "Z$", "")
        return naive.cast(pa.timestamp("us")).cast(pa.int64())
    return text.cast(_PARSERS[column_type][1])


def parse_long(text: str) -> int | None:
    """Java's ``Long.parseLong``: a sign, decimal digits, in range; else None."""
    if _JAVA_LONG.fullmatch(text) is None:
        return None
    value = int(text)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def parse_double(text: str) -> float | None:
    """Spark's ``NaN``/``Inf``/``-Inf``, then Java's ``Double.parseDouble``."""
    special = {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}
    if text in special:
        return special[text]
    match = _JAVA_DOUBLE.fullmatch(_java_trim(text))
    if match is None:
        return None
    sign, nan, infinity, decimal, hexadecimal = match.groups()
    negative = sign == "-"
    if nan:
        return math.nan
    if infinity:
        return -math.inf if negative else math.inf
    if decimal:
        return float(sign + decimal)
    try:
        return float.fromhex(sign + hexadecimal)
    except OverflowError:
        return -math.inf if negative else math.inf


def parse_bool(text: str) -> bool | None:
    """Scala's ``toBoolean``: true or false in any case (Java's equalsIgnoreCase)."""
    for word, value in (("true", True), ("false", False)):
        if len(text) == len(word) and all(
            a == b or a.upper() == b.upper() or a.lower() == b.lower()
            for a, b in zip(text, word, strict=True)
        ):
            return value
    return None


def parse_date(text: str) -> int | None:
    """Spark's ``DateTimeUtils.stringToDate`` (after removing "GMT"), as days
    since 1970-01-01; None when Spark reads null."""
    cleaned = _java_trim_all(text.replace("GMT", ""))
    if not cleaned:
        return None
    sign, at = 1, 0
    if cleaned[0] in "+-":
        sign, at = (-1 if cleaned[0] == "-" else 1), 1
    segments, digits, index = [1, 1, 1], "", 0
    while at < len(cleaned) and index < 3 and cleaned[at] not in " T":
        char = cleaned[at]
        if index < 2 and char == "-":
            if not _date_digits_ok(index, len(digits)):
                return None
            segments[index], digits, index = int(digits), "", index + 1
        elif "0" <= char <= "9":
            digits += char
        else:
            return None
        at += 1
    if not _date_digits_ok(index, len(digits)):
        return None
    if index < 2 and at < len(cleaned):
        return None
    segments[index] = int(digits)
    days = _days(sign * segments[0], segments[1], segments[2])
    return days if days is not None and _INT_MIN <= days <= _INT_MAX else None


def _date_digits_ok(segment: int, digits: int) -> bool:
    return (segment == 0 and 4 <= digits <= 7) or (segment != 0 and 0 < digits <= 2)


def parse_timestamp(text: str) -> int | None:
    """Spark's ``DateTimeUtils.stringToTimestamp`` in a UTC session (after
    removing "GMT"), as microseconds since the epoch; None when Spark reads
    null. A time without a zone is UTC."""
    parsed = _timestamp_parts(_java_trim_all(text.replace("GMT", "")))
    if parsed is None:
        return None
    segments, zone_text, just_time = parsed
    zone = _zone(zone_text.strip()) if zone_text is not None else timedelta(0)
    if zone is None:
        return None
    hour, minute, second, micros = segments[3:7]
    if not (hour < 24 and minute < 60 and second < 60):
        return None
    if just_time:  # Spark takes today's date in the zone
        now = datetime.now(UTC)
        today = now + zone if isinstance(zone, timedelta) else now.astimezone(zone)
        segments[:3] = [today.year, today.month, today.day]
    days = _days(*segments[:3])
    if days is None:
        return None
    local = ((days * 24 + hour) * 60 + minute) * 60 + second
    offset = _offset_seconds(zone, days, local)
    if offset is None:
        return None
    value = (local - offset) * 1_000_000 + micros
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def _timestamp_parts(  # a port of Spark's parseTimestampString
    cleaned: str,
) -> tuple[list[int], str | None, bool] | None:
    if not cleaned:
        return None
    segments = [1, 1, 1, 0, 0, 0, 0]
    index, at, digits, fraction_digits = 0, 0, "", 0
    just_time, signed, sign, zone = False, False, 1, None
    if cleaned[0] in "+-":
        signed, sign, at = True, (-1 if cleaned[0] == "-" else 1), 1
    while at < len(cleaned):
        char = cleaned[at]
        if "0" <= char <= "9":
            if index == 6:
                fraction_digits += 1
                if len(digits) < 6:
                    digits += char
            else:
                digits += char
        elif at == 0 and char == "T":
            just_time, index = True, index + 3
        elif (index < 2 and char == "-") or (index == 2 and char in " T"):
            if not _time_digits_ok(index, len(digits)):
                return None
            segments[index], digits, index = int(digits), "", index + 1
        elif index == 0 and char == ":" and not signed:
            if not _time_digits_ok(3, len(digits)):
                return None
            segments[3], digits, index, just_time = int(digits), "", 4, True
        elif (index in (3, 4) and char == ":") or (index == 5 and char == "."):
            if not _time_digits_ok(index, len(digits)):
                return None
            segments[index], digits, index = int(digits), "", index + 1
        elif index in (5, 6):
            if not _time_digits_ok(index, len(digits)):
                return None
            segments[index] = int(digits or "0")
            digits, index, zone = "", 7, cleaned[at:]
            break
        else:
            return None
        at += 1
    if index < 7:
        if not _time_digits_ok(index, len(digits)):
            return None
        segments[index] = int(digits or "0")
    segments[6] *= 10 ** (6 - min(fraction_digits, 6))
    segments[0] *= sign
    return segments, zone, just_time


def _time_digits_ok(segment: int, digits: int) -> bool:
    if segment == 0:
        return 4 <= digits <= 6
    return segment == 6 or 0 < digits <= 2


def _zone(text: str) -> timedelta | Any | None:
    """java.time.ZoneId.of(text, SHORT_IDS) after Spark's rewrites: a fixed
    offset as a timedelta, a region as a ZoneInfo, None when Java refuses."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = re.sub(r"([+-])(\d):", r"\g<1>0\2:", text, count=1, flags=re.ASCII)
    text = re.sub(r"([+-])(\d\d):(\d)$", r"\1\2:0\3", text, count=1, flags=re.ASCII)
    text = _SHORT_IDS.get(text, text)
    if text == "Z":
        return timedelta(0)
    if text[:1] in ("+", "-"):
        return _fixed_offset(text)
    for prefix in ("UTC", "GMT", "UT"):
        if text == prefix:
            return timedelta(0)
        if text.startswith(prefix) and text[len(prefix)] in "+-":
            return _fixed_offset(text[len(prefix) :])
    if _REGION.fullmatch(text) is None:
        return None
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _fixed_offset(text: str) -> timedelta | None:
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    sign, *parts = match.groups()
    h, m, s = ([int(p) for p in parts if p is not None] + [0, 0])[:3]
    if m > 59 or s > 59 or (h, m, s) > (18, 0, 0):
        return None
    total = timedelta(hours=h, minutes=m, seconds=s)
    return -total if sign == "-" else total


def _offset_seconds(zone: Any, days: int, local: int) -> int | None:
    if isinstance(zone, timedelta):
        return int(zone.total_seconds())
    # Python's datetime holds years 1..9999; the calendar and a zone's
    # recurring rules repeat every 400 years (146097 days), and before its
    # first transition a zone keeps its first offset, so a year outside is
    # moved inside by whole cycles.
    cycle, low, high = 146097 * 86400, _LOCAL_MIN, _LOCAL_MAX
    if local < low:
        local += -((local - low) // cycle) * cycle
    elif local > high:
        local -= -((high - local) // cycle) * cycle
    wall = datetime(1970, 1, 1) + timedelta(seconds=local)
    # fold=0: Java's choice too (the earlier offset in an overlap; in a gap the
    # offset before it, the instant Java's shift forward gives).
    offset = wall.replace(tzinfo=zone).utcoffset()
    return None if offset is None else int(offset.total_seconds())


_LOCAL_MIN = int((datetime(1, 1, 2) - datetime(1970, 1, 1)).total_seconds())
_LOCAL_MAX = int((datetime(9999, 12, 30) - datetime(1970, 1, 1)).total_seconds())


def _days(year: int, month: int, day: int) -> int | None:
    """Days since 1970-01-01 of a proleptic Gregorian date; None if invalid."""
    if not 1 <= month <= 12:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    length = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not 1 <= day <= length[month - 1]:
        return None
    # Howard Hinnant's days_from_civil.
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _java_trim(text: str) -> str:
    # String.trim(): every char up to U+0020 at either end.
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def _java_trim_all(text: str) -> str:
    # UTF8String.trimAll(): whitespace and ISO control characters.
    return text.strip("".join(chr(c) for c in [*range(0x21), 0x7F]))


_PARSERS: dict[str, tuple[Callable[[str], Any], Any]] = {}
_PLAIN = {
    "int64": r"^-?[0-9]{1,18}$",
    "float64": r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$",
    "bool": r"^(true|false)$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "timestamp": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,6})?Z?$",
}


def _register() -> None:
    import pyarrow as pa

    _PARSERS.update(
        {
            "int64": (parse_long, pa.int64()),
            "float64": (parse_double, pa.float64()),
            "bool": (parse_bool, pa.bool_()),
            "date": (parse_date, pa.int32()),
            "timestamp": (parse_timestamp, pa.int64()),
        }
    )


_register()
