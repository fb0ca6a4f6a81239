"""Serving the console: the exposure rule, TLS, and uvicorn."""

from __future__ import annotations

import logging
import ssl
import sys
from typing import TYPE_CHECKING

import uvicorn

from featurestore.services.server.access import check_auth_settings
from featurestore.services.server.transport import (
    ConfigError,
    check_exposure,
    check_repo,
    split_address,
)
from featurestore.services.ui.app import create_app
from featurestore.services.ui.settings import check_console_settings

if TYPE_CHECKING:
    from featurestore.services.ui.settings import UiSettings

log = logging.getLogger(__name__)


def build_server(settings: UiSettings) -> uvicorn.Server:
    """A uvicorn server for the console, refused as ``serve`` refuses.

    A non-loopback ``ui_address`` needs TLS and authentication unless
    ``allow_insecure`` (the gRPC server's own check); auth settings that
    cannot work stop it before anything listens.

    Raises:
        ConfigError: INSECURE_BIND, or TLS half-configured.
        AuthConfigError: unusable auth settings (a client secret file that
            cannot be read included).
        ValueError: a malformed address.
    """
    check_exposure(settings, settings.ui_address)
    check_auth_settings(settings)
    check_console_settings(settings)
    check_repo(settings)
    host, port = split_address(settings.ui_address)
    tls: dict[str, object] = {}
    if settings.tls_cert is not None or settings.tls_key is not None:
        if settings.tls_cert is None or settings.tls_key is None:
            raise ConfigError("TLS_SETTINGS", "TLS needs both --tls-cert and --tls-key")
        tls = {
            "ssl_certfile": str(settings.tls_cert),
            "ssl_keyfile": str(settings.tls_key),
        }
        if settings.tls_client_ca is not None:
            tls |= {
                "ssl_ca_certs": str(settings.tls_client_ca),
                "ssl_cert_reqs": ssl.CERT_REQUIRED,
            }
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        # Access lines would carry query strings (an OIDC code, entity keys):
        # the app logs method, path, status and time instead.
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.grace_seconds) or None,
        **tls,  # type: ignore[arg-type]
    )
    return uvicorn.Server(config)


def run_console(settings: UiSettings) -> int:
    """Serve the console until SIGTERM/SIGINT; 0 on a clean stop."""
    server = build_server(settings)
    print(f"console: {settings.base_url}", file=sys.stderr, flush=True)
    server.run()
    return 0
