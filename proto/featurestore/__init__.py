"""featurestore: feature tables under data contracts, served over gRPC.

Importing the package turns off typeguard's instrumentation of Feast's own
classes (``@typechecked`` on FeatureView, Entity, DataSource, ...). That
instrumentation re-parses and recompiles Feast's modules while they are
imported: about 2.5 s of CPU in every process that imports Feast (each CLI
command, each server worker, each Spark job), for argument checks on calls our
code makes with values read from the registry. ``feast`` run on its own keeps
them; set ``FS_FEAST_TYPECHECKS=1`` to keep them in our processes too (to debug
a feature definition). Only Feast's classes are affected: other users of
typeguard keep their checks.
"""

from __future__ import annotations

import os
from typing import Any


def _skip_feast_typechecks() -> None:
    """Make ``typeguard.typechecked`` return Feast's classes unchanged.

    Feast binds ``from typeguard import typechecked`` when its modules are
    imported, so this runs before any of them is; once Feast is imported it
    changes nothing.
    """
    if os.environ.get("FS_FEAST_TYPECHECKS", "").strip() == "1":
        return
    try:
        import typeguard
    except ImportError:  # a Feast without typeguard: nothing to skip
        return
    instrument = typeguard.typechecked
    if getattr(instrument, "_skips_feast", False):
        return

    def typechecked(target: Any = None, **options: Any) -> Any:
        module = getattr(target, "__module__", None) or ""
        if module == "feast" or module.startswith("feast."):
            return target
        return instrument(target, **options)

    typechecked.__doc__ = instrument.__doc__
    typechecked._skips_feast = True  # type: ignore[attr-defined]
    typeguard.typechecked = typechecked


_skip_feast_typechecks()
