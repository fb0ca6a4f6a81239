"""Errors raised by the project package, each with a stable reason and metadata."""

from __future__ import annotations

from enum import StrEnum


class ProjectErrorReason(StrEnum):
    """Stable, machine-readable reasons carried by every `ProjectError`."""

    PROJECT_NOT_FOUND = "PROJECT_NOT_FOUND"
    """No feature_store.yaml in the folder searched."""
    INVALID_CONFIG = "INVALID_CONFIG"
    """featurestore.yaml is not valid YAML or breaks the schema."""
    DIRECTORY_NOT_EMPTY = "DIRECTORY_NOT_EMPTY"
    """`scaffold` was pointed at a folder that already holds files."""
    INVALID_PROJECT_NAME = "INVALID_PROJECT_NAME"
    """`scaffold` was given a Feast project name Feast or SQLite would refuse."""
    REGISTRY_UNAVAILABLE = "REGISTRY_UNAVAILABLE"
    """The Feast registry could not be read (gone, or cut short mid-write)."""


class ProjectError(Exception):
    """Base class of every error raised by `featurestore.services.project`.

    Attributes:
        reason: Stable reason code; callers branch on it, never on the message.
        metadata: The dynamic values that appear in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: ProjectErrorReason,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class ProjectNotFoundError(ProjectError, LookupError):
    """The folder holds no feature_store.yaml (or is not there).

    ``env`` names the environment variable the folder came from (neither
    --repo nor the working directory): the message says to fix or unset it.
    """

    def __init__(self, repo: str, env: str | None = None, exists: bool = True) -> None:
        if env is None:
            super().__init__(
                f"no feature_store.yaml in {repo}: run in a project folder, pass "
                "--repo, or create one with `featurestore init`",
                reason=ProjectErrorReason.PROJECT_NOT_FOUND,
                metadata={"repo": repo},
            )
            return
        what = "holds no feature_store.yaml" if exists else "does not exist"
        super().__init__(
            f"project folder {repo} from ${env} {what}: fix or unset {env}, "
            "or pass --repo",
            reason=ProjectErrorReason.PROJECT_NOT_FOUND,
            metadata={"repo": repo, "env": env},
        )


class ProjectConfigError(ProjectError, ValueError):
    """featurestore.yaml cannot be read or breaks the schema."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"{path}: {detail}",
            reason=ProjectErrorReason.INVALID_CONFIG,
            metadata={"path": path, "detail": detail},
        )


class DirectoryNotEmptyError(ProjectError, FileExistsError):
    """`scaffold` refuses a folder that already holds files."""

    def __init__(self, directory: str) -> None:
        super().__init__(
            f"{directory} is not empty: a new project needs an empty or new folder",
            reason=ProjectErrorReason.DIRECTORY_NOT_EMPTY,
            metadata={"directory": directory},
        )


class InvalidProjectNameError(ProjectError, ValueError):
    """A Feast project name that is not ``[A-Za-z][A-Za-z0-9_]*``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"project name {name!r}: use letters, digits and underscores, a "
            "letter first (it prefixes the online tables and Redis keys)",
            reason=ProjectErrorReason.INVALID_PROJECT_NAME,
            metadata={"name": name},
        )


class RegistryUnavailableError(ProjectError, ConnectionError):
    """The Feast registry could not be read: its file is gone or cannot be
    parsed. Feast rewrites a file registry in place (``feast apply``), so a
    read in between finds it cut short; a retry usually succeeds. The message
    names no path (it may reach gRPC clients)."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"the Feast registry cannot be read ({problem}); `feast apply` may "
            "be rewriting it: retry, or check the registry file",
            reason=ProjectErrorReason.REGISTRY_UNAVAILABLE,
            metadata={"problem": problem},
        )
