"""ServerSettings: every knob of the gRPC server, read from flags and FS_* env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from featurestore.services.project import (
    FRONT_BINARY,
    Project,
    ProjectError,
    ProjectNotFoundError,
    find_front_binary,
)
from featurestore.services.storage import absolute, join


def _default_repo() -> Path:
    # The project as `feast` finds it; else the working directory, which then
    # fails to load as a Feast repo with Feast's own message.
    try:
        return Project.discover().repo
    except ProjectNotFoundError:
        return Path.cwd()


def _default_front_binary() -> Path:
    # A bare name when it is nowhere: `__main__` reports it missing.
    return find_front_binary() or Path(FRONT_BINARY)


MAX_SEND_BYTES = 64 * 1024 * 1024
"""The largest message the server sends (grpc.max_send_message_length)."""
ENVELOPE_BYTES = 64 * 1024
"""Room left in a response message for what surrounds its Arrow IPC piece."""
DEFAULT_STREAM_MESSAGE_BYTES = 4 * 1024 * 1024 - ENVELOPE_BYTES
"""Arrow bytes per training-set message: under gRPC's default 4 MiB receive
limit (grpcurl, Go, Java), so any client reads the stream unconfigured."""


class ServerSettings(BaseSettings):
    """Server configuration; environment variables use the ``FS_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="FS_", extra="forbid")

    address: str = "127.0.0.1:6566"
    """host:port to listen on (FS_ADDRESS)."""
    repo_path: Path = Field(default_factory=_default_repo)
    """The Feast repository (FS_REPO_PATH); default: the project found in the
    working directory (see ``Project.discover``)."""
    feature_store_yaml: Path | None = None
    """A feature_store*.yaml other than the repo's default (FS_FEATURE_STORE_YAML;
    a relative one is under the project folder, a --feature-store-yaml flag's
    under the working directory, as ``feast -f``'s)."""
    contracts_dir: Path | None = None
    """Contract folder (FS_CONTRACTS_DIR; a relative one is under the project
    folder); default: the project's ``contracts_dir`` (featurestore.yaml beside
    the repo's feature_store.yaml)."""
    data_dir: str | None = None
    """Data root (FS_DATA_DIR), a path or a URI (``s3://bucket/prefix``): the
    feature tables and the default path roots below live inside it; default:
    the project's ``data_dir``. A relative path is under the project folder
    (``flag_locations`` anchors flags at the working directory first)."""

    # --- server-side paths (GetHistoricalFeatures) ---------------------------
    server_paths: bool = True
    """Allow entity_rows_path/output_path at all (FS_SERVER_PATHS); when off,
    clients must send entity rows inline and receive rows on the stream."""
    entity_roots: list[str] | None = None
    """Roots entity_rows_path may read under (FS_ENTITY_ROOTS, JSON list); local
    paths or URIs (``s3://bucket/prefix``); a relative one is under the project
    folder, as data_dir. Default: ``<data_dir>/entities``."""
    training_set_root: str | None = None
    """The one root output_path may write under (FS_TRAINING_SET_ROOT); a
    relative one is under the project folder, as data_dir. Default:
    ``<data_dir>/training_sets``."""

    # --- limits ---------------------------------------------------------------
    max_workers: int = Field(default=4, ge=1)
    """Threads serving RPCs in each process (FS_MAX_WORKERS).

    They share one GIL: 4 rather than 8 raised saturated 1x50 throughput by
    ~15% and cut its p99 on 2 cores (more threads only contend). Raise it when
    long GetHistoricalFeatures streams must not hold up online reads.
    """
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest accepted request message."""
    max_online_entity_rows: int = Field(default=10_000, ge=1)
    """Most entity rows one GetOnlineFeatures request may carry."""
    max_historical_entity_rows: int = Field(default=5_000_000, ge=1)
    """Most entity rows one GetHistoricalFeatures request may carry."""
    max_historical_streams: int = Field(default=2, ge=1)
    """GetHistoricalFeatures calls running at once in one process; more are
    RESOURCE_EXHAUSTED (FS_MAX_HISTORICAL_STREAMS). A call whose caller cancels
    or whose deadline passes stops its join and frees its slot at once."""
    max_stream_message_bytes: int = Field(
        default=DEFAULT_STREAM_MESSAGE_BYTES,
        ge=1024,
        le=MAX_SEND_BYTES - ENVELOPE_BYTES,
    )
    """Most Arrow IPC bytes in one GetHistoricalFeatures stream message
    (FS_MAX_STREAM_MESSAGE_BYTES); a batch larger is sent as row slices. The
    default fits gRPC's default 4 MiB receive limit; a single larger row is
    sent alone, up to the server's 64 MiB send limit."""
    max_health_watchers: int = Field(default=1000, ge=1)
    """Health Watch streams open at once in one process; more are
    RESOURCE_EXHAUSTED (FS_MAX_HEALTH_WATCHERS). Health needs no credentials,
    so this bounds what unauthenticated callers can hold open."""
    online_timeout_seconds: float = Field(default=1.0, gt=0)
    """Online store timeout when the client sets no deadline."""
    registry_refresh_seconds: float = Field(default=5.0, gt=0)
    """How often the registry is re-read (picks up `feast apply`)."""

    # --- transport security -------------------------------------------------
    tls_cert: Path | None = None
    """PEM server certificate chain (FS_TLS_CERT); with tls_key turns TLS on.
    Re-read when the file changes or on SIGHUP."""
    tls_key: Path | None = None
    """PEM private key of tls_cert (FS_TLS_KEY)."""
    tls_client_ca: Path | None = None
    """PEM CA bundle; when set, clients must present a certificate it signed
    (mTLS) (FS_TLS_CLIENT_CA)."""
    allow_insecure: bool = False
    """Permit a non-loopback address without TLS and authentication
    (FS_ALLOW_INSECURE). Never in production."""

    # --- authentication, authorisation, audit -------------------------------
    auth: Literal["none", "api_keys", "oidc"] = "none"
    """How callers prove who they are (FS_AUTH)."""
    api_keys_file: Path | None = None
    """auth=api_keys: YAML of argon2id key hashes -> principal and roles
    (FS_API_KEYS_FILE); written by ``python -m featurestore.services.auth add-key``."""
    oidc_issuer: str | None = None
    """auth=oidc: the required ``iss`` (FS_OIDC_ISSUER)."""
    oidc_audience: str | None = None
    """auth=oidc: the required ``aud`` (FS_OIDC_AUDIENCE)."""
    oidc_jwks_url: str | None = None
    """auth=oidc: JWKS URL, re-fetched when a token names an unknown ``kid``
    (FS_OIDC_JWKS_URL); default: discovered from the issuer."""
    oidc_jwks_file: Path | None = None
    """auth=oidc: a JWKS file instead of a URL (FS_OIDC_JWKS_FILE)."""
    oidc_algorithms: list[str] = ["RS256", "ES256"]
    """auth=oidc: accepted signature algorithms; ``none`` and HS* are refused."""
    oidc_leeway_seconds: int = Field(default=60, ge=0, le=300)
    """auth=oidc: clock skew allowed on exp/nbf/iat."""
    oidc_jwks_cooldown_seconds: float = Field(default=30.0, ge=0)
    """auth=oidc: least time between two JWKS re-fetches for unknown ``kid``s."""
    oidc_roles_claim: str = "roles"
    """auth=oidc: the claim holding the caller's roles (a list or a string)."""
    audit_log: Path | None = None
    """Append one JSON line per call here, rotated at 100 MiB x 5 (FS_AUDIT_LOG)."""
    audit_on_failure: Literal["refuse", "serve"] = "refuse"
    """While the audit log cannot be written (a full disk): ``refuse`` new
    guarded calls UNAVAILABLE and report NOT_SERVING, or ``serve`` on
    (FS_AUDIT_ON_FAILURE). Either way records are held and retried (up to
    100,000), a metric counts lost ones and a stop with unwritten records
    exits non-zero."""

    # --- operations ---------------------------------------------------------
    reflection: bool | None = None
    """Register gRPC server reflection (v1 and v1alpha). Default: on without
    auth, off with auth (FS_REFLECTION)."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on 127.0.0.1:<port> when set."""
    workers: int = Field(default=1, ge=1)
    """Server processes sharing the port (SO_REUSEPORT; FS_WORKERS): one GIL each."""
    reuse_port: bool = False
    """Let several processes bind the same port (set for --workers children)."""
    front: bool = False
    """Terminate gRPC in the compiled front (services/front, Go) and hand online
    reads to the server processes over Unix sockets; everything else is
    proxied to them (FS_FRONT). Cuts the 1x50 p99 by ~30% on 2 cores."""
    front_procs: int | None = Field(default=None, ge=1)
    """Threads running the front's Go code at once (its GOMAXPROCS;
    FS_FRONT_PROCS). Default: a third of the CPUs, at least one: the front
    shares the machine with the server processes, which need about twice its
    CPU per read, and Go's idle threads spinning for work took ~25% of the
    front's CPU per call with one per CPU (2 cores, 1x50 reads)."""
    front_binary: Path = Field(default_factory=_default_front_binary)
    """The front's executable (FS_FRONT_BINARY); default: ``fs-front`` on PATH
    or beside this Python. `make front` builds it and passes its path."""
    online_socket: Path | None = None
    """Also answer online reads on this Unix socket, for the compiled gRPC
    front (services/front, ``--front``) (FS_ONLINE_SOCKET)."""
    grace_seconds: float = Field(default=5.0, ge=0)
    """How long in-flight RPCs may finish after SIGTERM."""

    # --- monitoring ---------------------------------------------------------
    serving_log: bool = False
    """Log a sample of online reads (values and statuses returned) to Delta
    tables in Feast's logging schema, ``<data_dir>/serving_logs/<view>``
    (FS_SERVING_LOG). Written off the hot path; see serving_log_queue."""
    serving_log_sample_rate: float = Field(default=0.01, gt=0, le=1)
    """Share of online reads logged when serving_log is on (default 1%)."""
    serving_log_queue: int = Field(default=10_000, ge=1)
    """Sampled reads held between two writes; reads sampled while it is full
    are dropped and counted (feature_serving_log_dropped_total)."""
    serving_log_flush_seconds: float = Field(default=60.0, gt=0)
    """How often queued serving-log rows are appended: one commit and one file
    per view and process each time (FS_SERVING_LOG_FLUSH_SECONDS)."""

    @field_validator("data_dir", mode="before")
    @classmethod
    def _location_text(cls, value: object) -> object:
        # A location is text (``s3://`` would not survive ``Path``); a Path
        # given in code is taken as its text.
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _project_locations(self) -> Self:
        # Unset locations come from the project at repo_path, so the server,
        # the jobs and `feast apply` agree on where tables and contracts are.
        # A relative location here came from FS_* (or code): it means what
        # FS_DATA_DIR means to every command, a path under the project folder
        # (Project.load), not under the working directory. Flags are paths
        # like any other argument: the command line makes them absolute
        # against the working directory before they get here
        # (``flag_locations``), so no value is compared with the environment
        # to guess where it came from.
        folder = Path(self.repo_path).resolve()
        if self.data_dir is None or self.contracts_dir is None:
            project = Project.load(self.repo_path)
            self.data_dir = self.data_dir or project.data_dir
            self.contracts_dir = self.contracts_dir or project.contracts_dir
        self.data_dir = absolute(str(self.data_dir), folder)
        self.contracts_dir = (folder / self.contracts_dir).resolve()
        if self.entity_roots is not None:
            self.entity_roots = [absolute(root, folder) for root in self.entity_roots]
        if self.training_set_root is not None:
            self.training_set_root = absolute(self.training_set_root, folder)
        if self.feature_store_yaml is not None:
            self.feature_store_yaml = folder / self.feature_store_yaml.expanduser()
        return self

    @property
    def data_root(self) -> str:
        """The data root, resolved (``data_dir`` or the project's)."""
        if self.data_dir is None:  # filled by the validator; kept for mypy
            return Project.load(self.repo_path).data_dir
        return self.data_dir

    @property
    def reflection_enabled(self) -> bool:
        """Reflection as configured, else on exactly when auth is off."""
        return self.auth == "none" if self.reflection is None else self.reflection

    @property
    def entity_read_roots(self) -> list[str]:
        """Where entity_rows_path may read (settings or the default)."""
        return self.entity_roots or [join(self.data_root, "entities")]

    @property
    def training_set_write_root(self) -> str:
        """Where output_path may write (setting or the default)."""
        return self.training_set_root or join(self.data_root, "training_sets")


LOCATION_FIELDS = (
    "data_dir",
    "entity_roots",
    "training_set_root",
    "feature_store_yaml",
)
"""Settings naming a place beside the project; a relative one from FS_* is
under the project folder, one from a flag under the working directory (as
``feast -f`` takes its file)."""


def flag_locations(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (settings given as command-line flags) with each relative
    location made absolute against the working directory: a flag is a path
    like any other argument, while the same text in FS_* is under the project
    (``ServerSettings`` anchors what is still relative there)."""
    resolved = dict(values)
    for field in LOCATION_FIELDS:
        value = resolved.get(field)
        if isinstance(value, list):
            resolved[field] = [absolute(os.fspath(v)) for v in value]
        elif isinstance(value, str | os.PathLike):
            resolved[field] = absolute(os.fspath(value))
    return resolved


def project_problem(exc: ValidationError) -> str | None:
    """``REASON: message`` of the project error behind ``exc`` (a malformed
    featurestore.yaml read while settings were built), else None: it is no
    bad setting, so pydantic's "Value error, " and a usage block would
    mislead."""
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ProjectError):
            return f"{cause.reason.value}: {cause}"
    return None


def settings_problem(exc: ValidationError, flags: Mapping[str, str]) -> str:
    """One line naming each bad setting by its ``FS_`` variable (and its flag,
    when ``flags`` maps the field to one) and what is wrong, not pydantic's
    dump (and not the value given: it may be a secret). A setting without a
    flag is named by its variable alone: naming a flag the command does not
    have sent users to an 'unrecognized arguments' error."""
    project = project_problem(exc)
    if project is not None:
        return project
    problems = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"])
        name = f"FS_{field.upper()}" if field else ""
        if field in flags:
            name = f"{flags[field]} / {name}"
        problems.append(f"{name}: {error['msg']}" if name else str(error["msg"]))
    return "; ".join(problems)
