"""OIDC bearer tokens against a real discovery + JWKS endpoint over HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from featurestore.services.auth import (
    AuthConfigError,
    AuthenticationError,
    OidcAuthenticator,
)
from tests.oidc_harness import AUDIENCE, Issuer, ec_key, rsa_key, start_issuer

pytestmark = pytest.mark.integration


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = start_issuer(rsa_key(), ec_key())
    yield running
    running.stop()


def verifier(issuer: Issuer, **options: object) -> OidcAuthenticator:
    settings: dict[str, object] = {
        "issuer": issuer.url,
        "audience": AUDIENCE,
        "algorithms": ["RS256", "ES256"],
        "leeway_seconds": 30,
        "refresh_cooldown_seconds": 0,
    }
    return OidcAuthenticator(**{**settings, **options})  # type: ignore[arg-type]


def test_valid_tokens_of_both_keys_give_sub_and_roles(issuer: Issuer) -> None:
    check = verifier(issuer)  # discovers jwks_uri from the issuer
    rs = check.authenticate(issuer.token(issuer.keys[0], roles=["reader", "admin"]))
    es = check.authenticate(issuer.token(issuer.keys[1], sub="bob", roles=["trainer"]))
    assert (rs.name, rs.roles) == ("alice", frozenset({"reader", "admin"}))
    assert (es.name, es.roles) == ("bob", frozenset({"trainer"}))


@pytest.mark.parametrize(
    "claims",
    [
        {"lifetime_s": -120},  # expired beyond the 30 s leeway
        {"nbf": int(time.time()) + 300},  # not yet valid
        {"aud": "someone-else"},
        {"aud": None},  # audience required when configured
        {"iss": "http://127.0.0.1:1/other"},
        {"sub": None},
    ],
    ids=["expired", "not-before", "wrong-aud", "no-aud", "wrong-iss", "no-sub"],
)
def test_claims_are_checked(issuer: Issuer, claims: dict[str, object]) -> None:
    with pytest.raises(AuthenticationError):
        verifier(issuer).authenticate(issuer.token(**claims))  # type: ignore[arg-type]


def test_expiry_within_leeway_is_accepted(issuer: Issuer) -> None:
    token = issuer.token(lifetime_s=-10)  # expired 10 s ago, leeway 30 s
    assert verifier(issuer).authenticate(token).name == "alice"
    with pytest.raises(AuthenticationError):
        verifier(issuer, leeway_seconds=0).authenticate(token)


def _unsigned(payload: dict[str, object], header: dict[str, object]) -> str:
    def b64(data: dict[str, object]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(payload)}."


def test_alg_none_and_hs256_with_the_public_key_are_refused(issuer: Issuer) -> None:
    good = issuer.token()
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = issuer.keys[0].kid
    check = verifier(issuer)
    with pytest.raises(AuthenticationError):
        check.authenticate(_unsigned(claims, {"alg": "none", "kid": kid}))
    public_pem = (
        issuer.keys[0]
        .private.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # The classic confusion: HMAC keyed with the RSA public key the JWKS publishes.
    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    signing_input = _unsigned(claims, header)[:-1].encode()
    import hashlib
    import hmac

    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = (
        signing_input.decode()
        + "."
        + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    )
    with pytest.raises(AuthenticationError):
        check.authenticate(forged)
    with pytest.raises(AuthConfigError):
        verifier(issuer, algorithms=["RS256", "HS256"])
    with pytest.raises(AuthConfigError):
        verifier(issuer, algorithms=["none"])


def test_an_algorithm_that_does_not_fit_the_kids_key_is_refused(
    issuer: Issuer,
) -> None:
    # RS256 under the EC key's kid and ES256 under the RSA key's: PyJWT
    # itself raises TypeError for these (answered INTERNAL before).
    rsa, ec = issuer.keys
    claims = jwt.decode(issuer.token(), options={"verify_signature": False})
    check = verifier(issuer)
    for signer, kid in ((rsa, ec.kid), (ec, rsa.kid)):
        token = jwt.encode(
            claims, signer.private, signer.algorithm, headers={"kid": kid}
        )
        with pytest.raises(AuthenticationError) as refused:
            check.authenticate(token)
        assert "does not fit key" in refused.value.detail


def test_a_token_signed_by_an_unpublished_key_is_refused(issuer: Issuer) -> None:
    stranger = rsa_key()
    with pytest.raises(AuthenticationError):
        verifier(issuer).authenticate(issuer.token(stranger))


def test_tampered_payload_fails_the_signature(issuer: Issuer) -> None:
    head, _, rest = issuer.token(roles=["reader"]).partition(".")
    _, _, signature = rest.partition(".")
    claims = jwt.decode(issuer.token(), options={"verify_signature": False})
    claims["roles"] = ["admin"]
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError):
        verifier(issuer).authenticate(f"{head}.{body}.{signature}")


def test_unknown_kid_refetches_the_jwks_so_keys_can_rotate(issuer: Issuer) -> None:
    check = verifier(issuer)
    assert check.authenticate(issuer.token()).name == "alice"
    fetches = issuer.jwks_fetches
    rotated = rsa_key()
    issuer.keys.append(rotated)  # the issuer publishes a new key
    assert check.authenticate(issuer.token(rotated, sub="carol")).name == "carol"
    assert issuer.jwks_fetches == fetches + 1


def test_jwks_file_instead_of_url(issuer: Issuer, tmp_path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [k.jwk() for k in issuer.keys]}))
    check = verifier(issuer, jwks_file=path)
    assert check.authenticate(issuer.token()).name == "alice"
    with pytest.raises(AuthenticationError):
        check.authenticate(issuer.token(rsa_key()))


def test_roles_from_a_nested_claim(issuer: Issuer) -> None:
    token = issuer.token(roles=None, realm_access={"roles": ["trainer"]})
    principal = verifier(issuer, roles_claim="realm_access.roles").authenticate(token)
    assert principal.roles == frozenset({"trainer"})
