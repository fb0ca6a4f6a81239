"""Training sets written by GetHistoricalFeatures, and what they may replace.

The rule is ``services/offline/training_sets.py``'s, shared with
``featurestore training-set --out``: only a training set (its manifest in the
Parquet footer or the Delta folder's ``_featurestore_training_set.json``) may
be replaced, and only with ``overwrite``; a feature table, a quarantine table,
the registry or any other file is never touched. Here outputs are confined to
the training-set root, and a refusal is FAILED_PRECONDITION on
``output_path`` naming the setting ``training_set_root`` (RESOURCE_EXHAUSTED
when its disk or quota is full).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from featurestore.services.offline import JoinedRows
from featurestore.services.offline import training_sets as rule
from featurestore.services.server.errors import (
    FailedPreconditionError,
    ResourceExhaustedError,
)
from featurestore.services.storage import StorageOptions

__all__ = ["check_output", "write_training_set"]


def check_output(
    path: str,
    fmt: str,
    overwrite: bool,
    root: str,
    storage: StorageOptions | None = None,
) -> None:
    """Refuse, before any work, an output that may not be written.

    Args:
        path: The resolved output (inside ``root``, see ``PathPolicy``).
        fmt: ``parquet`` or ``delta``.
        overwrite: The request's overwrite flag.
        root: The resolved training-set root.
        storage: Object-store options, for a URI root.

    Raises:
        FailedPreconditionError: something there is not a training set
            (OUTPUT_NOT_A_TRAINING_SET), is one of the other format
            (OUTPUT_FORMAT_CHANGED) or exists without overwrite
            (OUTPUT_EXISTS); a folder on the way is a file or a table
            (OUTPUT_INSIDE_FILE).
    """
    with _precondition():
        rule.check_output(path, fmt, overwrite, root, storage)


def write_training_set(
    path: str,
    fmt: str,
    rows: JoinedRows,
    manifest_json: str,
    root: str,
    storage: StorageOptions | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Write ``rows`` to ``path`` with its manifest, one batch at a time.

    Folders are created inside ``root`` only (``root`` itself when its
    parent exists). On failure, whatever this call created is removed.
    Without ``overwrite`` nothing is ever replaced, even by a concurrent call.

    Raises:
        FailedPreconditionError: the root's parent is missing
            (OUTPUT_ROOT_MISSING), a concurrent call published a training set
            there first (OUTPUT_EXISTS) or the write failed
            (OUTPUT_NOT_WRITABLE).
        ResourceExhaustedError: the disk or quota of the output is full
            (OUTPUT_NO_SPACE).
    """
    with _precondition():
        rule.write_training_set(
            path,
            fmt,
            rows.reader(rule.WRITE_BATCH_ROWS),
            manifest_json,
            root,
            storage,
            overwrite=overwrite,
        )


@contextmanager
def _precondition() -> Iterator[None]:
    try:
        yield
    except rule.OutputRefusedError as exc:
        if exc.reason == "OUTPUT_NO_SPACE":  # gRPC: "the file system is out of space"
            raise ResourceExhaustedError(
                str(exc),
                exc.reason,
                field="output_path",
                setting="training_set_root",
                **exc.metadata,
            ) from exc
        raise FailedPreconditionError(
            str(exc),
            reason=exc.reason,
            subject="output_path",
            field="output_path",
            setting="training_set_root",
            **exc.metadata,
        ) from exc
