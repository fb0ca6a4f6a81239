"""UiSettings: the server's settings (same auth, TLS, project) plus the console's."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from featurestore.services.auth.errors import AuthConfigError
from featurestore.services.server.settings import ServerSettings
from featurestore.services.ui.oidc import OidcUnavailableError, read_secret


class UiSettings(ServerSettings):
    """Settings of ``featurestore ui``; environment variables use ``FS_``.

    Every field of the gRPC server applies unchanged (repo, data and contracts
    locations, ``auth``, API keys, OIDC issuer and audience, TLS, audit log,
    ``allow_insecure``), so the console admits exactly whom ``serve`` admits.
    """

    ui_address: str = "127.0.0.1:8765"
    """host:port the console listens on (FS_UI_ADDRESS)."""
    ui_page_size: int = Field(default=50, ge=1, le=1000)
    """Rows per page of long lists (quarantine rows, table versions)."""
    ui_session_minutes: int = Field(default=480, ge=1)
    """How long a console sign-in lasts without use (FS_UI_SESSION_MINUTES);
    an OIDC token's own expiry ends it sooner."""
    ui_oidc_client_id: str | None = None
    """auth=oidc: the console's client id at the issuer; enables sign-in with
    the authorization-code flow + PKCE (FS_UI_OIDC_CLIENT_ID)."""
    ui_oidc_client_secret_file: Path | None = None
    """auth=oidc: a file holding the client secret of a confidential client
    (FS_UI_OIDC_CLIENT_SECRET_FILE); none for a public client (PKCE only).
    Read at start (the console refuses to start without it) and again at
    each sign-in, so a rotated secret needs no restart."""
    ui_oidc_resource: str | None = None
    """auth=oidc: an RFC 8707 ``resource`` to ask the token for, when the
    issuer needs one to mint a token for ``oidc_audience``."""
    ui_public_url: str | None = None
    """The console's URL as browsers reach it (FS_UI_PUBLIC_URL), for the OIDC
    redirect URI; default ``http(s)://<ui_address>``."""

    @property
    def tls_enabled(self) -> bool:
        """Whether the console serves HTTPS itself."""
        return self.tls_cert is not None

    @property
    def browsers_use_https(self) -> bool:
        """Whether browsers reach the console over HTTPS: it serves TLS, or
        its public URL is ``https://`` (a proxy terminating TLS in front).
        Then cookies are ``Secure`` and pages send Strict-Transport-Security."""
        public = (self.ui_public_url or "").lower()
        return self.tls_enabled or public.startswith("https://")

    @property
    def base_url(self) -> str:
        """The console's URL without a trailing slash."""
        if self.ui_public_url:
            return self.ui_public_url.rstrip("/")
        scheme = "https" if self.tls_enabled else "http"
        return f"{scheme}://{self.ui_address}"

    @property
    def oidc_login(self) -> bool:
        """Whether the console signs people in at the OIDC issuer."""
        return self.auth == "oidc" and bool(self.ui_oidc_client_id)


def check_console_settings(settings: UiSettings) -> None:
    """Refuse console settings that cannot work, before anything listens.

    Raises:
        AuthConfigError: OIDC sign-in with a client secret file that cannot
            be read (every sign-in would fail).
    """
    secret = settings.ui_oidc_client_secret_file
    if settings.oidc_login and secret is not None:
        try:
            read_secret(secret)
        except OidcUnavailableError as exc:
            raise AuthConfigError(f"auth=oidc: {exc}") from None
