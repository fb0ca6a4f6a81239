"""Bounded retries of a Delta commit that met a concurrent one."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from featurestore.spark_jobs.errors import ConfigError, WriteConflictError

# One logger for the package, named as before the split (users and tests
# configure it as featurestore.spark_jobs.publish).
log = logging.getLogger(__package__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for Delta concurrent-commit conflicts."""

    attempts: int = 5
    """Tries per Delta commit, the first included; 1 disables retrying."""
    base_delay: float = 0.5
    """Seconds before the second try; doubled for each later one."""
    max_delay: float = 10.0
    """Upper bound of one wait."""
    jitter: float = 0.5
    """Each wait is shortened by a random share up to this, so racing writers
    do not retry in lockstep."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError(
                "retry needs attempts >= 1 and non-negative delays",
                attempts=str(self.attempts),
            )
        if not 0 <= self.jitter <= 1:
            raise ConfigError("retry jitter must be within [0, 1]")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        full = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return full * (1 - self.jitter * random.random())


def run_with_retry(
    action: Callable[[], _T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """Run ``action``; on WriteConflictError wait and run it again, boundedly.

    Args:
        action: One whole Delta commit (it re-reads the table each time).
        policy: How often and how long to wait.
        sleep: Waits the given seconds (a seam for tests).

    Returns:
        What ``action`` returned.

    Raises:
        WriteConflictError: still conflicting after ``policy.attempts`` tries;
            its message is one line naming the table and the attempts.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return action()
        except WriteConflictError as exc:
            if attempt == policy.attempts:
                raise WriteConflictError(
                    exc.table, exc.detail, attempts=attempt
                ) from exc
            wait = policy.delay(attempt)
            log.warning("%s; retry %d in %.2fs", exc, attempt + 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
