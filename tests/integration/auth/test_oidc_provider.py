"""OIDC bearer tokens from a real OpenID Provider (node oidc-provider, see
tests/oidc_provider): discovery, JWKS and tokens all come from the issuer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import jwt
import pytest

from featurestore.services.auth import AuthenticationError, OidcAuthenticator
from featurestore.services.auth.oidc import discover_jwks_url
from tests.oidc_provider_harness import (
    AUDIENCE,
    FEATURESTORE,
    FEATURESTORE_ES256,
    OTHER_API,
    Client,
    OidcProvider,
    login_with_code_flow,
    start_provider,
)

pytestmark = pytest.mark.integration

CLIENTS = [
    Client("reader-client", secrets.token_urlsafe(16), ("reader",)),
    Client("trainer-client", secrets.token_urlsafe(16), ("trainer",)),
    Client("ops-client", secrets.token_urlsafe(16), ("reader", "admin")),
    Client("nobody-client", secrets.token_urlsafe(16), ()),
]
# Nothing listens here: the browser flow stops at the redirect and reads the code.
CONSOLE_REDIRECT = "http://127.0.0.1:9/console/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    running = start_provider(
        CLIENTS,
        console_redirect_uri=CONSOLE_REDIRECT,
        user_roles={"alice": ["reader", "trainer"]},
    )
    yield running
    running.stop()


def verifier(provider: OidcProvider, **options: object) -> OidcAuthenticator:
    settings: dict[str, object] = {
        "issuer": provider.issuer,
        "audience": AUDIENCE,
        "algorithms": ["RS256", "ES256"],
    }
    return OidcAuthenticator(**{**settings, **options})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("resource", "algorithm"), [(FEATURESTORE, "RS256"), (FEATURESTORE_ES256, "ES256")]
)
def test_client_tokens_give_the_client_and_its_roles(
    provider: OidcProvider, resource: str, algorithm: str
) -> None:
    check = verifier(provider)  # jwks_uri from the issuer's discovery document
    for client in CLIENTS:
        token = provider.token(client.client_id, resource)
        assert jwt.get_unverified_header(token)["alg"] == algorithm
        principal = check.authenticate(token)
        assert principal.name == client.client_id, client
        assert principal.roles == frozenset(client.roles), client


def test_a_token_for_another_audience_is_refused(provider: OidcProvider) -> None:
    token = provider.token("reader-client", OTHER_API)
    with pytest.raises(AuthenticationError):
        verifier(provider).authenticate(token)
    # The same token is good for the API it was issued to: only aud differs.
    assert verifier(provider, audience="other-api").authenticate(token).roles == {
        "reader"
    }


def test_only_the_allowed_algorithms_are_accepted(provider: OidcProvider) -> None:
    es_only = verifier(provider, algorithms=["ES256"])
    es256 = provider.token("reader-client", FEATURESTORE_ES256)
    assert es_only.authenticate(es256).name == "reader-client"
    with pytest.raises(AuthenticationError):
        es_only.authenticate(provider.token("reader-client", FEATURESTORE))


def test_a_token_of_another_issuer_is_refused(provider: OidcProvider) -> None:
    other = start_provider(CLIENTS[:1])  # same client and secret, own keys
    try:
        foreign = other.token("reader-client")
        assert verifier(other).authenticate(foreign).name == "reader-client"
        with pytest.raises(AuthenticationError):
            verifier(provider).authenticate(foreign)
        # Even with its iss expected, our issuer's keys do not verify it.
        ours = discover_jwks_url(provider.issuer)
        check = verifier(provider, issuer=other.issuer, jwks_url=ours)
        with pytest.raises(AuthenticationError):
            check.authenticate(foreign)
    finally:
        other.stop()


def test_keys_of_a_restarted_issuer_are_fetched_when_seen() -> None:
    first = start_provider(CLIENTS[:1])
    try:
        check = verifier(first, refresh_cooldown_seconds=0)
        old_token = first.token("reader-client")
        assert check.authenticate(old_token).name == "reader-client"
    finally:
        first.stop()
    # Same issuer URL, new signing keys (nothing is persisted).
    second = start_provider(CLIENTS[:1], port=first.port)
    try:
        assert second.issuer == first.issuer
        new_token = second.token("reader-client")
        new_kid = jwt.get_unverified_header(new_token)["kid"]
        assert new_kid != jwt.get_unverified_header(old_token)["kid"]
        assert check.authenticate(new_token).name == "reader-client"
        # A fresh verifier sees only the new keys: the old token is refused.
        with pytest.raises(AuthenticationError):
            verifier(second).authenticate(old_token)
    finally:
        second.stop()


def test_a_user_signed_in_with_the_code_flow_gets_their_roles(
    provider: OidcProvider,
) -> None:
    answer = login_with_code_flow(provider, "alice", CONSOLE_REDIRECT)
    principal = verifier(provider).authenticate(answer["access_token"])
    assert principal.name == "alice"
    assert principal.roles == frozenset({"reader", "trainer"})
    # The ID token is for the console (aud console-client), not a bearer for us.
    with pytest.raises(AuthenticationError):
        verifier(provider).authenticate(answer["id_token"])
