"""Run every benchmarks/bench_*.py main() in turn, or those named: ``historical``."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all); return the worst exit code."""
    names = sys.argv[1:] if argv is None else argv
    available = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    chosen = [n if n.startswith("bench_") else f"bench_{n}" for n in names]
    unknown = set(chosen) - set(available)
    if unknown:
        print(f"unknown benchmark(s): {sorted(unknown)}; have {available}")
        return 2
    worst = 0
    for name in chosen or available:
        print(f"== {name}", flush=True)
        bench = importlib.import_module(f"benchmarks.{name}").main
        takes_argv = bool(inspect.signature(bench).parameters)
        worst = max(worst, int(bench([]) if takes_argv else bench()))
    return worst


if __name__ == "__main__":
    sys.exit(main())
