"""Serving the console: the exposure rule, TLS, and uvicorn."""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from typing import TYPE_CHECKING

import uvicorn

from featurestore.services.server.access import check_auth_settings
from featurestore.services.server.transport import (
    ConfigError,
    check_exposure,
    check_repo,
    server_credentials,
    split_address,
)
from featurestore.services.ui.app import create_app
from featurestore.services.ui.settings import check_console_settings

if TYPE_CHECKING:
    from featurestore.services.ui.settings import UiSettings

log = logging.getLogger(__name__)


class ConsoleServer(uvicorn.Server):
    """uvicorn on a socket bound before it starts: a port in use is refused
    with the settings' other mistakes, not logged by uvicorn once serving."""

    def __init__(self, config: uvicorn.Config, bound: socket.socket) -> None:
        super().__init__(config)
        self.bound = bound

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve on the bound socket until told to exit."""
        super().run(sockets=sockets or [self.bound])


def build_server(settings: UiSettings) -> ConsoleServer:
    """A uvicorn server for the console, refused as ``serve`` refuses.

    A non-loopback ``ui_address`` needs TLS and authentication unless
    ``allow_insecure`` (the gRPC server's own check); auth settings that
    cannot work, TLS files that are not a usable certificate and key, and an
    address that cannot be listened on stop it before anything is served.

    Raises:
        ConfigError: INSECURE_BIND, TLS_SETTINGS, TLS_FILES or BIND_FAILED.
        AuthConfigError: unusable auth settings (a client secret file that
            cannot be read included).
        ValueError: a malformed address.
    """
    host, port = split_address(settings.ui_address)  # before the exposure rule
    check_exposure(settings, settings.ui_address)
    check_auth_settings(settings)
    check_console_settings(settings)
    check_repo(settings)
    server_credentials(settings)  # the files serve checks: PEM, key matches
    tls: dict[str, object] = {}
    if settings.tls_cert is not None and settings.tls_key is not None:
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
    return ConsoleServer(config, _bind(host, port, settings.ui_address))


def _bind(host: str, port: int, address: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        bound = socket.create_server((host, port), family=family)
    except OSError as exc:  # in use, or not this machine's address
        raise ConfigError(
            "BIND_FAILED",
            f"cannot listen on {address}: {exc.strerror or exc}",
            address=address,
        ) from None
    return bound


def run_console(settings: UiSettings) -> int:
    """Serve the console until SIGTERM/SIGINT; 0 on a clean stop."""
    server = build_server(settings)
    print(f"console: {settings.base_url}", file=sys.stderr, flush=True)
    server.run()
    return 0
