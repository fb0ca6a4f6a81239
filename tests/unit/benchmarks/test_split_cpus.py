"""How the online load bench splits the CPUs between servers and load generators."""

from __future__ import annotations

import pytest

from benchmarks._online_load_tools import split_cpus


@pytest.mark.parametrize(
    ("available", "clients", "servers", "loaders"),
    [
        ([0, 1], 1, {0}, {1}),
        ([3, 0, 2, 1], 1, {0, 1, 2}, {3}),
        ([0, 1, 2, 3, 4, 5, 6, 7], 2, {0, 1, 2, 3, 4, 5}, {6, 7}),
        ([4, 9], 1, {4}, {9}),  # an affinity mask need not start at 0
    ],
)
def test_load_generators_get_the_last_cpus_and_servers_the_rest(
    available: list[int], clients: int, servers: set[int], loaders: set[int]
) -> None:
    assert split_cpus(available, clients) == (servers, loaders)


@pytest.mark.parametrize(("available", "clients"), [([0], 1), ([0, 1], 2), ([0, 1], 0)])
def test_a_split_that_leaves_a_side_without_cpus_is_refused(
    available: list[int], clients: int
) -> None:
    with pytest.raises(ValueError, match="--client-cpus"):
        split_cpus(available, clients)
