"""Test certificates: a CA, server and client certificates as PEM files."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertificateFiles:
    """A PEM certificate and its private key on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class CertificateAuthority(CertificateFiles):
    """A self-signed CA; ``cert`` is the file clients and servers trust."""

    name: str
    _private_key: ec.EllipticCurvePrivateKey
    _certificate: x509.Certificate


def make_ca(directory: Path, name: str = "test-ca") -> CertificateAuthority:
    """A new self-signed CA written to ``directory/<name>.pem`` (and ``-key.pem``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    files = _write(directory, name, cert, key)
    return CertificateAuthority(files.cert, files.key, name, key, cert)


def issue_server_cert(
    ca: CertificateAuthority,
    directory: Path,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    name: str = "server",
    valid_until: timedelta = timedelta(days=1),
    valid_from: timedelta | None = None,
) -> CertificateFiles:
    """A server certificate signed by ``ca`` for ``hosts`` (IPs or DNS names),
    valid from a day before ``valid_until`` (from now; negative: expired), or
    from ``valid_from`` (from now; positive: not yet valid)."""
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    san = x509.SubjectAlternativeName(sans)
    usage = ExtendedKeyUsageOID.SERVER_AUTH
    return _issue(ca, directory, name, usage, san, valid_until, valid_from)


def issue_client_cert(
    ca: CertificateAuthority, directory: Path, name: str = "client"
) -> CertificateFiles:
    """A client certificate (CN ``name``) signed by ``ca``, for mTLS."""
    return _issue(ca, directory, name, ExtendedKeyUsageOID.CLIENT_AUTH, None)


def _issue(
    ca: CertificateAuthority,
    directory: Path,
    name: str,
    usage: x509.ObjectIdentifier,
    sans: x509.SubjectAlternativeName | None,
    valid_until: timedelta = timedelta(days=1),
    valid_from: timedelta | None = None,
) -> CertificateFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        _builder(
            subject, ca._certificate.subject, key.public_key(), valid_until, valid_from
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    return _write(directory, name, builder.sign(ca._private_key, hashes.SHA256()), key)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    valid_until: timedelta = timedelta(days=1),
    valid_from: timedelta | None = None,
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    until = now + valid_until
    start = min(now - timedelta(minutes=5), until - timedelta(days=1))
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start if valid_from is None else now + valid_from)
        .not_valid_after(until)
    )


def _write(
    directory: Path,
    name: str,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
) -> CertificateFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)  # as a private key should be (else the server warns)
    return CertificateFiles(cert_path, key_path)
