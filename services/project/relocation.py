"""A copied or moved project: its registry naming another folder's online store."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.services.project.registry import local_registry_file

if TYPE_CHECKING:
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
    from feast.protos.feast.core.SqliteTable_pb2 import SqliteTable as SqliteTableProto
    from feast.repo_config import RepoConfig

RELOCATE_COMMAND = "featurestore registry relocate"
"""The command that repairs a copied or moved project's registry."""


class RelocationError(ValueError):
    """The registry cannot be relocated here (not a local file, not there)."""


@dataclass
class Relocation:
    """What ``relocate`` did (or, with ``dry_run``, would do)."""

    registry: Path
    """The registry file rewritten."""
    online_store: Path | None
    """This project's SQLite file; None when its online store is not SQLite."""
    relocated: dict[str, str] = field(default_factory=dict)
    """Online table -> the other folder's SQLite file the registry named."""
    created: list[str] = field(default_factory=list)
    """Online tables that were missing from ``online_store`` and were created."""

    @property
    def needs_materialize(self) -> bool:
        """Created tables are empty until ``featurestore materialize`` runs."""
        return bool(self.created)


def sqlite_file(config: RepoConfig, repo: Path) -> Path | None:
    """This project's SQLite online store file, as Feast resolves it (a relative
    path from ``repo``); None when the online store is not SQLite."""
    store = config.online_store
    if getattr(store, "type", None) != "sqlite":
        return None
    path = Path(store.path)
    return path if path.is_absolute() else Path(repo) / path


def foreign_online_stores(config: RepoConfig, repo: Path) -> dict[str, str]:
    """Online table -> SQLite file, for each table the registry's infra keeps in
    a file other than this project's own: a registry copied or moved from
    another folder. Empty when the registry is not a local file or not there,
    or the online store is not SQLite (``relocate`` has no file to point at).

    ``feast apply`` tears down every such table ("Updated sqlite table ...
    path: old -> new"), in the other folder, and crashes when that folder is
    gone; the registry proto is read as bytes because Feast's ``Infra``
    objects open (and create) the SQLite file they name.
    """
    registry = local_registry_file(config, repo)
    own = sqlite_file(config, repo)
    if registry is None or own is None or not registry.is_file():
        return {}  # only a SQLite store has a file a copied registry names
    return {
        table.name: table.path
        for table in _sqlite_tables(_read(registry))
        if not _same_file(table.path, own)
    }


def relocation_message(config: RepoConfig, repo: Path) -> str | None:
    """One line saying the registry names another folder's online store and what
    to run, or None when it names only this project's."""
    foreign = foreign_online_stores(config, repo)
    if not foreign:
        return None
    other = sorted(set(foreign.values()))[0]
    return (
        f"REGISTRY_OF_ANOTHER_FOLDER: the Feast registry of {repo} names the "
        f"online store {other} (the project was copied or moved): run "
        f"`{RELOCATE_COMMAND} --repo {repo}` before `feast apply`, which would "
        "drop the online tables there"
    )


def relocate(config: RepoConfig, repo: Path, *, dry_run: bool = False) -> Relocation:
    """Point the registry's online tables at this project's own online store and
    create those missing there (empty, as ``feast apply`` creates them).

    Only this project's registry and SQLite file are written; the other
    folder's files are never opened.

    Args:
        config: The project's Feast config.
        repo: The project folder.
        dry_run: Report what would change; write nothing.

    Raises:
        RelocationError: the registry is not a local file, or not there.
    """
    registry = local_registry_file(config, repo)
    if registry is None:
        raise RelocationError(
            f"the Feast registry of {repo} is not a local file: only a file "
            "registry keeps paths of this folder"
        )
    if not registry.is_file():
        raise RelocationError(
            f"REGISTRY_NOT_FOUND: no Feast registry at {registry}: nothing to "
            f"relocate; run `feast apply` in {repo}"
        )
    if not registry.resolve().is_relative_to(Path(repo).resolve()):
        # A copy whose feature_store.yaml names the registry by an absolute
        # path still reads the original's: rewriting it would point the
        # original project at this folder's store.
        raise RelocationError(
            f"the Feast registry {registry} is outside {repo}, so it may be "
            "another project's: relocating would point that project at this "
            "folder's online store; give this project its own registry "
            "(`registry:` in feature_store.yaml, relative to the folder) first"
        )
    proto = _read(registry)
    own = sqlite_file(config, repo)
    own = own.resolve() if own is not None else None
    result = Relocation(registry=registry.resolve(), online_store=own)
    if own is None:
        return result
    for table in _sqlite_tables(proto):
        if not _same_file(table.path, own):
            result.relocated[table.name] = table.path
            table.path = str(own)
    names = [table.name for table in _sqlite_tables(proto)]
    result.created = [n for n in names if n not in _tables_in(own)]
    if dry_run:
        return result
    if result.relocated:
        _write(registry, proto)
    _create_tables(own, result.created)
    return result


def _read(registry: Path) -> RegistryProto:
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto

    proto = RegistryProto()
    proto.ParseFromString(registry.read_bytes())
    return proto


def _write(registry: Path, proto: RegistryProto) -> None:
    """Replace the file at once: a server reading it sees the old or the new."""
    proto.last_updated.GetCurrentTime()
    mode = stat.S_IMODE(registry.stat().st_mode)
    fd, temp = tempfile.mkstemp(dir=registry.parent, prefix=f".{registry.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(proto.SerializeToString())
            # mkstemp's 0600 would lock out readers the registry had (a
            # server or console under another user); a crash must not leave
            # an empty registry behind the rename.
            os.fchmod(out.fileno(), mode)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, registry)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _sqlite_tables(proto: RegistryProto) -> list[SqliteTableProto]:
    return [
        item.sqlite_table
        for item in proto.infra.infra_objects
        if item.WhichOneof("infra_object") == "sqlite_table"
    ]


def _same_file(path: str, own: Path) -> bool:
    return Path(path).resolve() == own.resolve()


def _tables_in(database: Path) -> set[str]:
    if not database.is_file():
        return set()
    uri = f"{database.absolute().as_uri()}?mode=ro"  # '?', '#' in a path
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}


def _create_tables(database: Path, names: list[str]) -> None:
    """Create ``names`` as Feast's ``SqliteTable.update`` does (same columns,
    same index), so Feast and ``materialize`` read and write them."""
    if not names:
        return
    from feast.infra.online_stores.sqlite import SqliteTable

    database.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        table = SqliteTable(path=str(database), name=name)
        try:
            table.update()  # type: ignore[no-untyped-call]
            table.conn.commit()
        finally:
            table.conn.close()
