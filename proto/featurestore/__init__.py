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

It also keeps delta-rs from printing the AWS SDK's instance-metadata (IMDS)
warnings; see ``_quiet_imds_warnings``.
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


def _quiet_imds_warnings() -> None:
    """Default ``RUST_LOG`` to delta-rs's own level minus ``aws_config::imds`` WARNs.

    Off EC2, every delta-rs open of an ``s3://`` table without an endpoint
    asks the instance-metadata service for a region (and, without keys, for
    credentials) and logs each failed try as a WARN line with the SDK's whole
    error: three long lines before our one-line error, and on every open of a
    table with valid keys too. delta-rs 1.x takes no storage option that stops
    the probe (``AWS_EC2_METADATA_DISABLED`` only works as a process variable,
    and would turn IMDS off for users on EC2 who rely on it), so the probe stays
    and only its WARNs go: a failure still reaches the user as our error. Its
    logger reads ``RUST_LOG`` once, when ``deltalake`` is imported, hence here.
    A ``RUST_LOG`` the user set is kept as it is.
    """
    os.environ.setdefault("RUST_LOG", "warn,aws_config::imds=error")


_skip_feast_typechecks()
_quiet_imds_warnings()
