"""ServerSettings: every knob of the gRPC server, read from flags and FS_* env."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerSettings(BaseSettings):
    """Server configuration; environment variables use the ``FS_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="FS_", extra="forbid")

    address: str = "127.0.0.1:6566"
    """host:port to listen on (FS_ADDRESS)."""
    repo_path: Path = REPO_ROOT / "feature_repo"
    """The Feast repository (FS_REPO_PATH)."""
    feature_store_yaml: Path | None = None
    """A feature_store*.yaml other than the repo's default (FS_FEATURE_STORE_YAML)."""
    contracts_dir: Path | None = None
    """Contract folder; default feature_repo/contracts (FS_CONTRACTS_DIR)."""
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
    online_timeout_seconds: float = Field(default=1.0, gt=0)
    """Online store timeout when the client sets no deadline."""
    registry_refresh_seconds: float = Field(default=5.0, gt=0)
    """How often the registry is re-read (picks up `feast apply`)."""
    reflection: bool = True
    """Register gRPC server reflection."""
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
    front_binary: Path = REPO_ROOT / ".cache" / "go" / "bin" / "fs-front"
    """The front's executable, built by `make front` (FS_FRONT_BINARY)."""
    online_socket: Path | None = None
    """Also answer online reads on this Unix socket, for the compiled gRPC
    front (services/front, ``--front``) (FS_ONLINE_SOCKET)."""
    grace_seconds: float = Field(default=5.0, ge=0)
    """How long in-flight RPCs may finish after SIGTERM."""
