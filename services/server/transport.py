"""Listening securely: the exposure rule, TLS credentials and their reloading."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from featurestore.services.auth._file_mode import warn_if_open_to_others
from featurestore.services.project import config_problem
from featurestore.services.project.registry import (
    local_registry_file,
    missing_registry_message,
)
from featurestore.services.project.relocation import relocation_message
from featurestore.services.server.settings import ServerSettings

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The server settings cannot be served as given; main() exits 2.

    Attributes:
        reason: A stable UPPER_SNAKE code (INSECURE_BIND, TLS_FILES, ...).
        metadata: The dynamic values in the message (paths, addresses; never
            file contents or secrets).
    """

    def __init__(self, reason: str, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = metadata


def is_unix_socket(address: str) -> bool:
    """Whether ``address`` names a Unix socket (``unix:path``,
    ``unix-abstract:name``), which grpc takes as it is: no host, no port."""
    return address.startswith(("unix:", "unix-abstract:"))


def is_loopback(address: str) -> bool:
    """Whether ``address`` (host:port, [v6]:port or unix:path) is local only.

    127.0.0.0/8, ::1, ``localhost`` and Unix sockets are; every other host,
    ``0.0.0.0`` and ``[::]`` included, is not.
    """
    if is_unix_socket(address):
        return True
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` as (host, port); an empty host is loopback.

    Raises:
        ConfigError: BAD_ADDRESS: no port, or one that is not a number in 0..65535.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            "BAD_ADDRESS",
            f"address {address!r} is not host:port with a port in 0..65535",
            address=address,
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def bind_failed(address: str) -> ConfigError:
    """BIND_FAILED: another process listens on ``address``, or it is not ours."""
    return ConfigError(
        "BIND_FAILED",
        f"cannot listen on {address}: the port is in use or the address is not "
        "this machine's",
        address=address,
    )


def check_port_free(address: str) -> None:
    """Refuse ``address`` (host:port) when no process could listen on it now.

    Binds (with SO_REUSEADDR, as gRPC and fs-front listen) and lets go: a
    supervisor checks before it starts any process, which would find out
    only after loading. The port is not held: a process that takes it in
    between still fails, later.

    Raises:
        ConfigError: BIND_FAILED when a listener holds the port on any of the
            host's addresses, or none of them is this machine's.
    """
    host, port = split_address(address)
    bound, taken = 0, False
    try:
        found = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:  # a name that does not resolve
        raise bind_failed(address) from exc
    for family, kind, proto, _, where in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
                bound += 1
            except OSError as exc:
                taken = taken or exc.errno == errno.EADDRINUSE
    if taken or not bound:
        raise bind_failed(address)


def check_repo(settings: ServerSettings) -> None:
    """Refuse to start without a Feast repo (``feature_store.yaml``) or,
    when its registry is a local file, without that file: Feast would create
    an empty registry and the service would serve an empty catalogue. A
    registry copied or moved from another folder is logged as a warning
    naming the repair.

    Raises:
        ConfigError: PROJECT_NOT_FOUND, naming the folder and ``--repo``;
            INVALID_CONFIG; REGISTRY_NOT_FOUND, naming ``feast apply``.
    """
    from feast.repo_config import load_repo_config

    repo = Path(settings.repo_path)
    if settings.feature_store_yaml is not None:
        _check_feature_store_yaml(Path(settings.feature_store_yaml), repo)
    config = Path(settings.feature_store_yaml or repo / "feature_store.yaml")
    if not config.is_file():
        raise ConfigError(
            "PROJECT_NOT_FOUND",
            f"no {config.name} at {config.parent}: run from a project "
            "folder or pass --repo DIR (`featurestore init DIR` makes one)",
            path=str(config),
        )
    try:
        loaded = load_repo_config(repo, config)
    except Exception as exc:  # Feast raises many types for a bad file
        # config_problem: Feast's text quotes the file (its secrets too).
        raise ConfigError(
            "INVALID_CONFIG",
            f"cannot load {config}: {config_problem(exc)}",
            path=str(config),
        ) from None
    registry = local_registry_file(loaded, repo)
    if registry is not None and not registry.is_file():
        raise ConfigError(
            "REGISTRY_NOT_FOUND",
            missing_registry_message(registry, repo, config),
            path=str(registry),
        )
    moved = relocation_message(loaded, repo)
    if moved is not None:  # serving works; the warning is for `feast apply`
        log.warning("%s", moved)


def _check_feature_store_yaml(config: Path, repo: Path) -> None:
    """Refuse a --feature-store-yaml that is no file, saying where a relative
    one was looked for (and the project's file of that name, if any): it read
    "no feature_store.alt.yaml at .: ... pass --repo DIR" with --repo given.

    Raises:
        ConfigError: FEATURE_STORE_YAML_NOT_FOUND.
    """
    if config.is_file():
        return
    hint = ""
    if (repo / config.name).is_file() and (repo / config.name) != config:
        hint = f"; the project has {repo / config.name}: pass that path"
    raise ConfigError(
        "FEATURE_STORE_YAML_NOT_FOUND",
        f"--feature-store-yaml / FS_FEATURE_STORE_YAML: no file {config} (a "
        "relative flag is under the working directory, as `feast -f` takes "
        f"it; a relative FS_FEATURE_STORE_YAML under the project folder){hint}",
        path=str(config),
    )


def check_exposure(settings: ServerSettings, address: str) -> None:
    """Refuse a non-loopback ``address`` unless served with TLS and auth.

    Raises:
        ConfigError: INSECURE_BIND, in one line naming ``--allow-insecure``.
    """
    if settings.allow_insecure or is_loopback(address):
        return
    missing = [
        name
        for name, present in (
            ("TLS (--tls-cert/--tls-key)", settings.tls_cert is not None),
            ("authentication (--auth)", settings.auth != "none"),
        )
        if not present
    ]
    if missing:
        raise ConfigError(
            "INSECURE_BIND",
            f"refusing to listen on non-loopback {address} without "
            f"{' and '.join(missing)}; pass --allow-insecure (FS_ALLOW_INSECURE=1) "
            "only on a trusted network",
            address=address,
        )


@dataclass(frozen=True)
class _Stamp:
    """What identifies one version of the TLS files (a rename changes inode)."""

    files: tuple[tuple[int, int, int], ...]


class CertificateReloader:
    """Serves the TLS files as they are on disk, re-read when they change.

    gRPC calls :meth:`fetch` before each new handshake: it returns a new
    configuration when a file's mtime, size or inode changed, else None (keep
    the current one). A half-written pair (a cert whose key does not match
    yet) is logged and skipped; the previous pair keeps serving and the next
    handshake tries again. A certificate expired or not yet valid is refused
    the same way (logged as an error): clients would refuse every new
    connection. At start such a certificate is served with a warning (the
    server is better up than down over a clock). Connections already open
    are not touched.
    """

    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        self.paths = (cert, key, *([client_ca] if client_ca else []))
        self.client_ca = client_ca
        self._lock = threading.Lock()
        self._stamp, self.initial = self._load(starting=True)
        self._failed: _Stamp | None = None
        self._forced: grpc.ServerCertificateConfiguration | None = None

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """The new configuration if the files changed since the last load."""
        with self._lock:
            if self._forced is not None:
                config, self._forced = self._forced, None
                return config
            try:
                stamp = self._stat()
            except OSError:  # mid-rename: keep serving the current pair
                return None
            if stamp in (self._stamp, self._failed):
                return None
            try:
                self._stamp, config = self._load()
            except ConfigError as exc:
                self._failed = stamp  # warn once per broken version, not per call
                level = (
                    logging.ERROR if exc.reason == "TLS_VALIDITY" else logging.WARNING
                )
                log.log(
                    level, "TLS files not reloaded, keeping the current ones: %s", exc
                )
                return None
        log.info("TLS certificate reloaded from %s", self.paths[0])
        return config

    def force(self) -> bool:
        """Re-read the files now (SIGHUP); new handshakes use them.

        Returns:
            Whether they loaded; on failure the current pair keeps serving.
        """
        with self._lock:
            try:
                self._stamp, self._forced = self._load()
            except ConfigError as exc:
                log.error("TLS files not reloaded, keeping the current ones: %s", exc)
                return False
        log.info("TLS certificate re-read from %s", self.paths[0])
        return True

    def _stat(self) -> _Stamp:
        stats = [os.stat(path) for path in self.paths]
        return _Stamp(tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in stats))

    def _load(
        self, starting: bool = False
    ) -> tuple[_Stamp, grpc.ServerCertificateConfiguration]:
        try:
            stamp = self._stat()
            pem = [path.read_bytes() for path in self.paths]
            key_mode = os.stat(self.paths[1]).st_mode
        except OSError as exc:
            raise ConfigError(
                "TLS_FILES", f"cannot read TLS file {exc.filename}: {exc.strerror}"
            ) from exc
        leaf = _check_pair(self.paths[0], pem[0], self.paths[1], pem[1])
        if starting:  # a warning, not a refusal (see there)
            warn_if_open_to_others(self.paths[1], key_mode, "TLS private key")
        problem = _validity_problem(self.paths[0], leaf)
        if problem is not None and starting:
            log.warning("%s", problem)
        elif problem is not None:
            raise ConfigError("TLS_VALIDITY", problem, path=str(self.paths[0]))
        if self.client_ca is not None:
            _check_certificates(self.client_ca, pem[2])
        config = grpc.ssl_server_certificate_configuration(
            [(pem[1], pem[0])], root_certificates=pem[2] if self.client_ca else None
        )
        return stamp, config


def server_credentials(
    settings: ServerSettings,
) -> tuple[grpc.ServerCredentials, CertificateReloader] | None:
    """TLS credentials from the settings (None when TLS is off).

    Raises:
        ConfigError: TLS half-configured (TLS_SETTINGS) or files unreadable,
            not PEM, or a key that does not match its certificate (TLS_FILES).
    """
    cert, key, client_ca = settings.tls_cert, settings.tls_key, settings.tls_client_ca
    if cert is None and key is None and client_ca is None:
        return None
    if cert is None or key is None:  # a client CA alone is half a setup too
        raise ConfigError(
            "TLS_SETTINGS",
            "TLS needs both --tls-cert and --tls-key "
            "(--tls-client-ca adds client certificates on top)",
        )
    reloader = CertificateReloader(cert, key, client_ca)
    credentials = grpc.dynamic_ssl_server_credentials(
        reloader.initial,
        reloader.fetch,
        require_client_authentication=client_ca is not None,
    )
    return credentials, reloader


def _check_certificates(path: Path, pem: bytes) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(
            "TLS_FILES", f"{path}: no PEM certificate in it", path=str(path)
        ) from exc
    return certificates


def _check_pair(
    cert_path: Path, cert: bytes, key_path: Path, key: bytes
) -> x509.Certificate:
    """The leaf certificate, once its key is known to match it."""
    leaf = _check_certificates(cert_path, cert)[0]
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        # Never echo the key or the parser's view of it: only the path.
        raise ConfigError(
            "TLS_FILES",
            f"{key_path}: not an unencrypted PEM private key",
            path=str(key_path),
        ) from None
    if private.public_key() != leaf.public_key():
        raise ConfigError(
            "TLS_FILES",
            f"{key_path} is not the private key of {cert_path}",
            path=str(key_path),
        )
    return leaf


def _validity_problem(path: Path, leaf: x509.Certificate) -> str | None:
    """Why clients will refuse ``leaf`` (expired, not yet valid), else None."""
    now = datetime.now(UTC)
    if leaf.not_valid_after_utc < now:
        after = leaf.not_valid_after_utc.isoformat()
        return f"TLS certificate {path} expired at {after}: clients refuse it"
    if leaf.not_valid_before_utc > now:
        before = leaf.not_valid_before_utc.isoformat()
        return (
            f"TLS certificate {path} is not valid before {before}: clients "
            "refuse it until then"
        )
    return None
