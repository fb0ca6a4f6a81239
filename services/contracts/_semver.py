"""Semantic version parsing and precedence (semver.org 2.0.0)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def _identifier_key(part: str) -> tuple[int, int, str]:
    # Numeric identifiers sort numerically and before alphanumeric ones.
    if part.isdigit():
        return (0, int(part), "")
    return (1, 0, part)


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ordering follows semver precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `text` as a semantic version.

        Raises:
            ValueError: `text` is not a semantic version.
        """
        match = _SEMVER.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        major, minor, patch, pre, build = match.groups()
        prerelease = tuple(pre.split(".")) if pre else ()
        return cls(int(major), int(minor), int(patch), prerelease, build or "")

    def _key(self) -> tuple[object, ...]:
        # A release sorts after all of its prereleases; build metadata is ignored.
        pre = (
            (1,)
            if not self.prerelease
            else (0, tuple(_identifier_key(p) for p in self.prerelease))
        )
        return (self.major, self.minor, self.patch, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text
