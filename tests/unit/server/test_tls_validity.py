"""A certificate outside its validity is served at start, with a warning saying so."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from featurestore.services.server.settings import ServerSettings
from featurestore.services.server.transport import server_credentials
from tests.certs import issue_server_cert, make_ca


@pytest.mark.parametrize(
    ("valid_until", "said"),
    [
        (timedelta(days=-2), "expired at"),
        (timedelta(days=2), None),
    ],
)
def test_an_expired_certificate_is_named_in_the_log(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    valid_until: timedelta,
    said: str | None,
) -> None:
    # It was loaded (at start and on rotation) without a word, and every
    # client then failed its handshake.
    ca = make_ca(tmp_path)
    cert = issue_server_cert(ca, tmp_path, valid_until=valid_until)
    settings = ServerSettings(tls_cert=cert.cert, tls_key=cert.key)
    with caplog.at_level(logging.WARNING):
        assert server_credentials(settings) is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if said is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert said in warning and str(cert.cert) in warning


def test_a_private_key_others_may_read_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The API key file got a warning, the TLS private key none (ssh refuses
    # such keys). The start loads the files twice (checks, then serves).
    ca = make_ca(tmp_path)
    cert = issue_server_cert(ca, tmp_path)
    cert.key.chmod(0o644)
    settings = ServerSettings(tls_cert=cert.cert, tls_key=cert.key)
    with caplog.at_level(logging.WARNING):
        assert server_credentials(settings) is not None
        assert server_credentials(settings) is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"TLS private key {cert.key} is readable or writable by other users "
        "(mode 644): chmod 600 it"
    ]
