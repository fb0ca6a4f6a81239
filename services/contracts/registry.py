"""Contract registry: contracts stored as `<root>/<name>/<semver>.yaml` files."""

from __future__ import annotations

import builtins
import os
import re
from pathlib import Path

from featurestore.services.contracts._semver import Version
from featurestore.services.contracts.errors import (
    ContractError,
    ContractErrorReason,
    ContractFormatError,
    ContractNameError,
    ContractNotFoundError,
)
from featurestore.services.contracts.model import Contract, parse_contract

CONTRACTS_DIR_ENV = "FS_CONTRACTS_DIR"
"""Environment variable overriding the default contracts root."""
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
"""Contract names and versions: each becomes one path component."""


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it may name a contract folder or file, else raise.

    Raises:
        ContractNameError: INVALID_NAME: empty, over 128 characters, outside
            ``[A-Za-z0-9_.-]``, or ``.``/``..``.
    """
    if SAFE_NAME.fullmatch(value) and value not in (".", ".."):
        return value
    raise ContractNameError(
        f"contract {what} must be 1-128 characters of [A-Za-z0-9_.-], not . or ..",
        reason=ContractErrorReason.INVALID_NAME,
        metadata={"field": what},
    )


def default_root() -> Path:
    """Return the project's contracts folder (``$FS_CONTRACTS_DIR`` wins, a
    relative one under the project folder: ``Project.contracts_dir``); without
    a project, ``$FS_CONTRACTS_DIR`` under the working directory.

    Raises:
        ProjectNotFoundError: Neither is there (no project in the working
            directory).
    """
    # Imported on use: the project package loads pyarrow (for scaffold).
    from featurestore.services.project import Project, ProjectNotFoundError

    try:
        return Project.discover().contracts_dir
    except ProjectNotFoundError:
        override = os.environ.get(CONTRACTS_DIR_ENV)
        if override:
            return Path(override).expanduser().resolve()
        raise


def load_contract(path: Path) -> Contract:
    """Parse one contract file and check that its path matches its name and version.

    Raises:
        ContractFormatError: The file is malformed or misplaced.
    """
    source = f"{path.parent.name}/{path.name}"
    contract = parse_contract(_read(path), source)
    if contract.name != path.parent.name or contract.version != path.stem:
        raise ContractFormatError(
            f"{source}: name/version {contract.name}/{contract.version} "
            "disagree with the file path",
            reason=ContractErrorReason.PATH_MISMATCH,
            metadata={
                "file": source,
                "name": contract.name,
                "version": contract.version,
            },
        )
    return contract


def _read(path: Path) -> str:
    """A contract file's text.

    Raises:
        ContractFormatError: INVALID_YAML when it cannot be read as UTF-8 text
            (not UTF-8, a folder or a dangling link of that name, no access).
    """
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        source = f"{path.parent.name}/{path.name}"
        # An OSError's str() holds the absolute path, which the server must not
        # send to clients (the status carries the metadata): its strerror only.
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ContractFormatError(
            f"{source}: cannot read: {exc.__class__.__name__}",
            reason=ContractErrorReason.INVALID_YAML,
            metadata={"file": source, "detail": str(detail or "")},
        ) from exc


class ContractRegistry:
    """Read-only view of a contracts folder; files are parsed on each lookup.

    Args:
        root: Folder holding one subfolder per dataset; `default_root()` if None.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def require_root(self) -> Path:
        """Return the root when it is a folder (an empty one holds 0 contracts).

        A missing root lists no contracts, so a typo in it would pass every
        check: a caller judging the whole folder asks for it first.

        Raises:
            ContractNotFoundError: CONTRACT_NOT_FOUND when the root is not
                there or is no folder.
        """
        if self.root.is_dir():
            return self.root
        what = "is not a folder" if self.root.exists() else "does not exist"
        raise ContractNotFoundError(
            f"contracts folder {self.root} {what}: fix --root, "
            f"${CONTRACTS_DIR_ENV} or contracts_dir in featurestore.yaml",
            reason=ContractErrorReason.CONTRACT_NOT_FOUND,
            metadata={"root": str(self.root)},
        )

    def names(self) -> list[str]:
        """Return the dataset names that have at least one contract file, sorted
        (none when the root is missing: `require_root` tells that apart)."""
        if not self.root.is_dir():
            return []
        return sorted(
            d.name
            for d in _entries(self.root, "the contracts folder")
            if d.is_dir() and _yaml_files(d)
        )

    def why_empty(self) -> str:
        """What a user who expected contracts under the (existing) root should
        know when it lists none: the layout, and a root one level off."""
        said = f"no contracts under {self.root} (each is <root>/<name>/<version>.yaml)"
        if any(_is_version_file(p) for p in self.root.glob("*.yaml")):
            return (
                f"{said}; it holds version files itself, as one contract's "
                "folder does: give its parent"
            )
        deeper = sorted(
            {
                p.parent.parent
                for p in self.root.glob("*/*/*.yaml")
                if _is_version_file(p)
            }
        )
        if deeper:
            return f"{said}; contracts are one level down: give {deeper[0]}"
        return said

    def versions(self, name: str) -> list[str]:
        """Return the versions of `name`, oldest first by semver precedence.

        Raises:
            ContractNameError: `name` is not a safe name.
            ContractNotFoundError: CONTRACT_NOT_FOUND when `name` has no file.
        """
        files = sorted(_yaml_files(self.root / check_name(name)))
        if not files:
            raise ContractNotFoundError(
                f"contract {name!r} not found",
                reason=ContractErrorReason.CONTRACT_NOT_FOUND,
                metadata={"name": name},
            )
        return sorted((f.stem for f in files), key=_sort_key)

    def path(self, name: str, version: str | None = None) -> Path:
        """Return the file of `name` at `version` (latest when None).

        Raises:
            ContractNameError: `name` or `version` is not a safe name.
            ContractNotFoundError: The name or the version does not exist.
        """
        versions = self.versions(name)
        chosen = versions[-1] if version is None else check_name(version, "version")
        if chosen not in versions:
            raise ContractNotFoundError(
                f"contract {name!r} has no version {chosen!r}",
                reason=ContractErrorReason.CONTRACT_VERSION_NOT_FOUND,
                metadata={"name": name, "version": chosen},
            )
        return self.root / name / f"{chosen}.yaml"

    def get(self, name: str, version: str | None = None) -> Contract:
        """Return contract `name` at `version`, or its latest version when None.

        Raises:
            ContractNotFoundError: The name or the version does not exist.
            ContractFormatError: The file is malformed.
        """
        return load_contract(self.path(name, version))

    def raw(self, name: str, version: str | None = None) -> str:
        """Return the file text of `name` at `version` (latest when None).

        Raises:
            ContractNameError, ContractNotFoundError: as `path`.
            ContractFormatError: the file cannot be read as UTF-8 text.
        """
        return _read(self.path(name, version))

    def list(self) -> list[Contract]:
        """Return the latest version of every contract, sorted by name.

        Raises:
            ContractFormatError: A contract's latest version is malformed.
            ContractNameError: A contract folder's name is not a safe name.
        """
        return [self.get(name) for name in self.names()]

    def list_readable(
        self,
    ) -> tuple[builtins.list[Contract], dict[str, ContractError]]:
        """Return what `list` returns for every contract that can be read, and
        the error of each that cannot, by name (AIP-217's unreachable): one
        malformed file hides only its own contract.

        Returns:
            The readable contracts sorted by name, and the others' errors
            (`ContractFormatError` or `ContractNameError`) sorted by name.
        """
        found: builtins.list[Contract] = []
        unreadable: dict[str, ContractError] = {}
        for name in self.names():
            try:
                found.append(self.get(name))
            except ContractNotFoundError:
                continue  # removed since names() saw it: not there, not broken
            except ContractError as exc:
                unreadable[name] = exc
        return found, unreadable

    def previous(self, contract: Contract) -> Contract | None:
        """Return the version just before `contract`'s, or None if it is the first."""
        older = [
            v
            for v in self.versions(contract.name)
            if _sort_key(v) < _sort_key(contract.version)
        ]
        return self.get(contract.name, older[-1]) if older else None


def _is_version_file(path: Path) -> bool:
    return _sort_key(path.stem)[0] == 1


def _sort_key(text: str) -> tuple[int, Version | None, str]:
    # Files whose stem is not semver sort first; loading them reports the problem.
    try:
        return (1, Version.parse(text), text)
    except ValueError:
        return (0, None, text)


def _entries(folder: Path, what: str) -> list[Path]:
    """``folder``'s entries (none when it is not there or no folder).

    Raises:
        ContractError: CONTRACTS_UNREADABLE when it cannot be listed (its
            permissions): a folder that cannot be read is never taken for
            an empty one. ``what`` names it, within the contracts folder.
    """
    try:
        return list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise ContractError(
            f"{what} cannot be read ({exc.strerror or type(exc).__name__}): "
            "give the server's user read and search permission on it",
            reason=ContractErrorReason.CONTRACTS_UNREADABLE,
        ) from None


def _yaml_files(folder: Path) -> list[Path]:
    """The ``*.yaml`` entries of one contract's folder."""
    return [
        p
        for p in _entries(folder, f"contract folder {folder.name!r}")
        if p.name.endswith(".yaml")
    ]
