from __future__ import annotations

import pytest

from featurestore.services.contracts import (
    ContractErrorReason,
    ContractFormatError,
    ContractNotFoundError,
    ContractRegistry,
    default_root,
)
from tests.unit.contracts._support import REPO_CONTRACTS, base_data, write_contract


@pytest.fixture
def root(tmp_path):
    for version in ["1.0.0", "1.9.0", "1.10.0", "2.0.0-rc.1"]:
        data = base_data()
        data["version"] = version
        write_contract(tmp_path, data)
    other = base_data()
    other["name"] = "other"
    write_contract(tmp_path, other)
    return tmp_path


def test_latest_is_by_semver_not_by_text(root):
    registry = ContractRegistry(root)
    assert registry.versions("spend") == ["1.0.0", "1.9.0", "1.10.0", "2.0.0-rc.1"]
    assert registry.get("spend").version == "2.0.0-rc.1"
    assert registry.get("spend", "1.9.0").version == "1.9.0"
    assert [(c.name, c.version) for c in registry.list()] == [
        ("other", "1.0.0"),
        ("spend", "2.0.0-rc.1"),
    ]


def test_previous(root):
    registry = ContractRegistry(root)
    assert registry.previous(registry.get("spend", "1.10.0")).version == "1.9.0"
    assert registry.previous(registry.get("spend", "1.0.0")) is None


def test_not_found_reasons(root):
    registry = ContractRegistry(root)
    with pytest.raises(ContractNotFoundError) as info:
        registry.get("missing")
    assert info.value.reason is ContractErrorReason.CONTRACT_NOT_FOUND
    assert info.value.metadata == {"name": "missing"}
    with pytest.raises(LookupError) as info:
        registry.get("spend", "3.0.0")
    assert info.value.reason is ContractErrorReason.CONTRACT_VERSION_NOT_FOUND
    assert info.value.metadata == {"name": "spend", "version": "3.0.0"}


def test_raw_text_and_path_mismatch(root):
    registry = ContractRegistry(root)
    assert "name: spend" in registry.raw("spend", "1.0.0")
    misplaced = root / "spend" / "1.0.1.yaml"
    misplaced.write_text(registry.raw("spend", "1.0.0"))
    with pytest.raises(ContractFormatError) as info:
        registry.get("spend", "1.0.1")
    assert info.value.reason is ContractErrorReason.PATH_MISMATCH
    assert info.value.metadata["file"] == "spend/1.0.1.yaml"


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.delenv("FS_CONTRACTS_DIR", raising=False)
    assert default_root() == REPO_CONTRACTS
    assert "customer_spend" in ContractRegistry().names()
    monkeypatch.setenv("FS_CONTRACTS_DIR", str(tmp_path))
    assert default_root() == tmp_path
    assert ContractRegistry().list() == []


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("", None),
        ("..", None),
        (".", None),
        ("../spend", None),
        ("spend/../spend", None),
        ("x" * 5000, None),
        ("sp*", None),
        ("spend", "../../spend/1.0.0"),
        ("spend", "1" * 129),
        ("spend", ".."),
    ],
)
def test_unsafe_names_and_versions_are_invalid(root, name, version):
    # "spend/../spend" and "../../spend/1.0.0" would reach real files.
    with pytest.raises(ValueError) as caught:
        ContractRegistry(root).get(name, version)
    assert caught.value.reason == ContractErrorReason.INVALID_NAME


@pytest.mark.parametrize("name", ["spend", "a-b_c.d", "x" * 128])
def test_safe_names_are_looked_up(root, name):
    registry = ContractRegistry(root)
    if name == "spend":
        assert registry.get(name).name == "spend"
    else:
        with pytest.raises(ContractNotFoundError):
            registry.get(name)


def test_list_readable_names_what_it_cannot_read_beside_the_rest(root):
    # list() fails on the first bad file; list_readable() reads the others.
    (root / "spend" / "3.0.0.yaml").mkdir()  # the latest: a folder of that name
    (root / "bad name").mkdir()  # a folder no contract may be called
    (root / "bad name" / "1.0.0.yaml").write_text("name: x\n")
    registry = ContractRegistry(root)
    with pytest.raises(ValueError):  # ContractNameError, the first in order
        registry.list()
    found, unreadable = registry.list_readable()
    assert [(c.name, c.version) for c in found] == [("other", "1.0.0")]
    assert {name: exc.reason for name, exc in unreadable.items()} == {
        "bad name": ContractErrorReason.INVALID_NAME,
        "spend": ContractErrorReason.INVALID_YAML,
    }
    assert list(unreadable) == ["bad name", "spend"]


def test_an_unreadable_file_tells_no_absolute_path(root):
    # The server sends the metadata to clients (ErrorInfo): str(OSError) held
    # the file's absolute path.
    (root / "spend" / "3.0.0.yaml").mkdir()
    with pytest.raises(ContractFormatError) as info:
        ContractRegistry(root).get("spend")
    assert info.value.reason is ContractErrorReason.INVALID_YAML
    assert info.value.metadata == {
        "file": "spend/3.0.0.yaml",
        "detail": "Is a directory",
    }
    assert str(root) not in str(info.value)
