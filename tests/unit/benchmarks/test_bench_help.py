"""Every benchmark's ``--help`` prints (argparse %-formats help strings)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import benchmarks


def _taking_arguments() -> list[str]:
    names = sorted(p.stem for p in Path(benchmarks.__file__).parent.glob("bench_*.py"))
    return [
        name
        for name in names
        if inspect.signature(
            importlib.import_module(f"benchmarks.{name}").main
        ).parameters
    ]


@pytest.mark.parametrize("name", _taking_arguments())
def test_help_prints_every_option(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = importlib.import_module(f"benchmarks.{name}").main
    with pytest.raises(SystemExit) as exit_info:
        bench(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:")
    assert "--help" in out
