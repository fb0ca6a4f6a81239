"""Run benchmarks: ``python -m benchmarks [NAME ...] [-- ARGS]``.

With no names, every ``benchmarks/bench_*.py`` runs with its defaults (as
``make bench`` does). Arguments after ``--`` (or from the first one starting
with ``-``) go to each named benchmark's ``main(argv)``, e.g.
``python -m benchmarks historical --sizes 100k``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all); return the worst exit code."""
    args = sys.argv[1:] if argv is None else argv
    split = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
    names, rest = args[:split], args[split:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
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
        worst = max(worst, int(bench(list(rest)) if takes_argv else bench()))
    return worst


if __name__ == "__main__":
    sys.exit(main())
