"""One warning per process for a secret file other users may read or write."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_warned: set[tuple[str, int]] = set()
_lock = threading.Lock()


def warn_if_open_to_others(path: Path, mode: int, what: str) -> None:
    """Log one WARNING per process, file and mode when ``mode`` (``st_mode``)
    lets other users read or write ``path``, naming it and ``chmod 600``.

    A warning, not a refusal (ssh refuses such keys): the server has always
    started with such files, a deployment's secret mounts may show group
    bits it cannot change, and a refusal would turn an upgrade into an
    outage. The start checks the settings, then builds the server from them:
    without ``once`` each file was warned about twice.
    """
    if not mode & 0o077:
        return
    key = (os.path.abspath(path), mode & 0o777)
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(
        "%s %s is readable or writable by other users (mode %o): chmod 600 it",
        what,
        path,
        mode & 0o777,
    )
