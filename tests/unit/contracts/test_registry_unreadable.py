"""A contracts folder, or one contract's folder, that cannot be listed is an
error naming it (CONTRACTS_UNREADABLE), never "no contracts" or "not found"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from featurestore.services.contracts.errors import ContractError, ContractErrorReason
from featurestore.services.server.errors import grpc_code
from tests.unit.contracts._support import base_data, write_contract

# root lists any folder: run without CAP_DAC_OVERRIDE so the mode applies.
DROP = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--"]

LIST = """
import sys
from featurestore.services.contracts import ContractRegistry
from featurestore.services.contracts.errors import ContractError
registry = ContractRegistry(sys.argv[1])
for ask in (registry.names, lambda: registry.versions(sys.argv[2])):
    try:
        print("answered", ask())
    except ContractError as exc:
        print("refused", exc.reason, exc)
"""


def _ask(root: Path, name: str) -> list[str]:
    proc = subprocess.run(
        [*(DROP if os.geteuid() == 0 else []), sys.executable, "-c", LIST,
         str(root), name],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return proc.stdout.splitlines()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    write_contract(folder, base_data())
    tmp_path.chmod(0o755)  # the unprivileged reader reaches the folder
    return folder


def test_an_unreadable_contracts_folder_is_refused_not_empty(root: Path) -> None:
    name = base_data()["name"]
    root.chmod(0o000)
    try:
        names, versions = _ask(root, name)
    finally:
        root.chmod(0o755)
    assert names.startswith("refused CONTRACTS_UNREADABLE the contracts folder")
    assert "Permission denied" in names
    assert versions.startswith("refused CONTRACTS_UNREADABLE contract folder")


def test_an_unreadable_contract_folder_is_refused_not_missing(root: Path) -> None:
    name = base_data()["name"]
    (root / name).chmod(0o000)
    try:
        names, versions = _ask(root, name)
    finally:
        (root / name).chmod(0o755)
    assert names.startswith(f"refused CONTRACTS_UNREADABLE contract folder '{name}'")
    assert versions.startswith(f"refused CONTRACTS_UNREADABLE contract folder '{name}'")
    assert str(root) not in names + versions


def test_the_server_answers_failed_precondition() -> None:
    # The caller cannot fix the server's folder by changing the request.
    error = ContractError("x", reason=ContractErrorReason.CONTRACTS_UNREADABLE)
    assert grpc_code(error) is grpc.StatusCode.FAILED_PRECONDITION
