"""A click test runner that keeps stderr apart, on every click pyproject allows."""

from __future__ import annotations

from click.testing import CliRunner


def separate_stderr_runner() -> CliRunner:
    """``CliRunner`` whose ``result.stderr`` works: click 8.1 (make lowest)
    mixes stderr into the output unless told not to; 8.2 and later always
    keep it apart and no longer take ``mix_stderr``."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()
