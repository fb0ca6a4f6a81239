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

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any


def _skip_feast_typechecks() -> None:
    """Make ``typeguard.typechecked`` return Feast's classes unchanged.

    Feast binds ``from typeguard import typechecked`` when its modules are
    imported, so the patch must be in place before any of them is; once Feast
    is imported it changes nothing. typeguard itself is not imported here
    (~60-140 ms that ``featurestore --help`` and commands without Feast would
    pay): a finder patches it when something first imports it, Feast's
    modules included.
    """
    if os.environ.get("FS_FEAST_TYPECHECKS", "").strip() == "1":
        return
    if "typeguard" in sys.modules:
        _patch_typeguard(sys.modules["typeguard"])
    elif not any(isinstance(f, _TypeguardFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TypeguardFinder())


def _patch_typeguard(typeguard: ModuleType) -> None:
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
    typeguard.typechecked = typechecked  # type: ignore[attr-defined]


class _TypeguardFinder(importlib.abc.MetaPathFinder):
    """Finds ``typeguard`` as the other finders do, and patches it once loaded."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "typeguard":
            return None
        sys.meta_path.remove(self)  # one module, once: the rest of the run as usual
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader  # as if found without us
        self._loader.exec_module(module)
        _patch_typeguard(module)


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
