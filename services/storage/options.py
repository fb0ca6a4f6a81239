"""Object-store options per location: delta-rs keys, pyarrow file systems, secrets kept.

The project's ``storage_options`` (featurestore.yaml) use delta-rs's keys
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ALLOW_HTTP`` ...). A value may
name environment variables as ``${NAME}``, so credentials stay out of the
file; keys left out are read by delta-rs and pyarrow from the standard
``AWS_*`` variables themselves. Values are never printed: ``repr`` lists keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from featurestore.services.storage.uri import (
    check_object_uri,
    is_local,
    scheme,
    to_delta_uri,
)

if TYPE_CHECKING:
    import pyarrow.fs as pafs

__all__ = ["MissingVariableError", "StorageOptions", "expand_variables"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# delta-rs spellings (case-insensitive, with or without the AWS_ prefix) of
# the options pyarrow's S3FileSystem takes under another name.
_ARROW_S3 = {
    "access_key_id": "access_key",
    "secret_access_key": "secret_key",
    "session_token": "session_token",
    "token": "session_token",
    "region": "region",
    "default_region": "region",
    "endpoint_url": "endpoint_override",
    "endpoint": "endpoint_override",
}
# The same options as Hadoop's S3A file system (Spark's s3a://) names them.
_HADOOP_S3A = {
    "access_key_id": "fs.s3a.access.key",
    "secret_access_key": "fs.s3a.secret.key",
    "session_token": "fs.s3a.session.token",
    "token": "fs.s3a.session.token",
    "region": "fs.s3a.endpoint.region",
    "default_region": "fs.s3a.endpoint.region",
    "endpoint_url": "fs.s3a.endpoint",
    "endpoint": "fs.s3a.endpoint",
}
_TEMPORARY_CREDENTIALS = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"


class MissingVariableError(ValueError):
    """A ``${NAME}`` in a storage option names an unset environment variable."""

    def __init__(self, key: str, variable: str) -> None:
        super().__init__(
            f"storage_options.{key}: environment variable {variable} is not set"
        )
        self.reason = "MISSING_VARIABLE"
        self.metadata = {"key": key, "variable": variable}


def expand_variables(
    options: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, str]:
    """``options`` with every ``${NAME}`` replaced by ``env[NAME]``.

    Raises:
        MissingVariableError: a named variable is not set (the message names
            the key and the variable, never a value).
    """
    out = {}
    for key, value in options.items():

        def lookup(match: re.Match[str], key: str = key) -> str:
            name = match.group(1)
            if name not in env:
                raise MissingVariableError(key, name)
            return env[name]

        out[key] = _VARIABLE.sub(lookup, str(value))
    return out


class StorageOptions(dict[str, str]):
    """The object-store options of one project, a dict that never shows its values.

    A dict, so it goes wherever delta-rs takes ``storage_options``.
    """

    def __repr__(self) -> str:
        # Values may be credentials: never shown.
        return f"StorageOptions(keys={sorted(self)})"

    __str__ = __repr__

    def for_location(self, location: str) -> dict[str, str] | None:
        """The delta-rs ``storage_options`` for ``location``; None when local."""
        if is_local(location):
            return None
        return dict(self)

    def filesystem(self, location: str) -> tuple[pafs.FileSystem, str]:
        """A pyarrow file system for ``location`` and the path inside it.

        S3 takes the endpoint, region and credentials from the options (the
        rest from pyarrow's own ``AWS_*`` lookup); other URIs go through
        ``pyarrow.fs.FileSystem.from_uri``.

        Raises:
            ObjectUriError: an empty, ``.`` or ``..`` segment in a URI.
        """
        import pyarrow.fs as pafs

        uri = to_delta_uri(check_object_uri(location))
        if is_local(uri):
            return pafs.LocalFileSystem(), uri
        if scheme(uri) != "s3":
            return pafs.FileSystem.from_uri(uri)  # type: ignore[no-any-return]
        return pafs.S3FileSystem(**self._arrow_s3()), uri[len("s3://") :]

    def hadoop_s3a(self) -> dict[str, str]:
        """These options as Hadoop S3A settings (``fs.s3a.*``), for Spark's ``s3a://``.

        Path-style requests unless ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST`` is
        true, and plain HTTP for an ``http://`` endpoint or ``AWS_ALLOW_HTTP``,
        as delta-rs does; a session token selects S3A's temporary-credentials
        provider. Keys left out are left to S3A's own lookup (the ``AWS_*``
        variables, instance profiles), as delta-rs leaves them to its own.
        Empty when there are no options.
        """
        hadoop = self._renamed(_HADOOP_S3A)
        if not self:
            return hadoop
        virtual_hosted = self._flag("virtual_hosted_style_request")
        hadoop["fs.s3a.path.style.access"] = str(not virtual_hosted).lower()
        endpoint = hadoop.get("fs.s3a.endpoint", "")
        if self._flag("allow_http") or endpoint.startswith("http://"):
            hadoop["fs.s3a.connection.ssl.enabled"] = "false"
        if "fs.s3a.session.token" in hadoop:
            hadoop["fs.s3a.aws.credentials.provider"] = _TEMPORARY_CREDENTIALS
        return hadoop

    def _arrow_s3(self) -> dict[str, object]:
        kwargs: dict[str, object] = dict(self._renamed(_ARROW_S3))
        endpoint = str(kwargs.get("endpoint_override", ""))
        if endpoint.startswith("http://") or self._flag("allow_http"):
            kwargs["scheme"] = "http"
        return kwargs

    def _named(self) -> dict[str, str]:
        # delta-rs reads keys case-insensitively, with or without AWS_.
        return {key.lower().removeprefix("aws_"): v for key, v in self.items()}

    def _renamed(self, names: Mapping[str, str]) -> dict[str, str]:
        return {names[n]: v for n, v in self._named().items() if n in names}

    def _flag(self, name: str) -> bool:
        return self._named().get(name, "").lower() == "true"
