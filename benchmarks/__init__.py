"""Benchmarks: each ``bench_*.py`` module exposes ``main(argv=None) -> int``."""
