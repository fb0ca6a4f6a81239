"""A real OIDC discovery + JWKS endpoint over HTTP on 127.0.0.1, keys made here.

The server under test fetches ``/.well-known/openid-configuration`` and the
JWKS it names exactly as from a production issuer; the test signs tokens with
the matching private keys, including ones no real issuer would mint
(expired, wrong audience, ``alg: none``, HS256 keyed with the public key).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "featurestore"


@dataclass
class SigningKey:
    """A private key, its kid and algorithm."""

    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        """The public JWK as a JWKS lists it."""
        codec = RSAAlgorithm if self.algorithm.startswith(("RS", "PS")) else ECAlgorithm
        data = json.loads(codec.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def rsa_key() -> SigningKey:
    """A fresh RS256 key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(uuid.uuid4().hex[:12], "RS256", private)


def ec_key() -> SigningKey:
    """A fresh ES256 key."""
    return SigningKey(
        uuid.uuid4().hex[:12], "ES256", ec.generate_private_key(ec.SECP256R1())
    )


@dataclass
class Issuer:
    """The running endpoint: publish keys, count JWKS fetches, mint tokens."""

    server: ThreadingHTTPServer
    keys: list[SigningKey] = field(default_factory=list)
    jwks_fetches: int = 0

    @property
    def url(self) -> str:
        """The issuer URL (``iss``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def token(
        self,
        key: SigningKey | None = None,
        *,
        sub: str = "alice",
        roles: list[str] | None = None,
        lifetime_s: int = 600,
        **claims: Any,
    ) -> str:
        """A token signed by ``key`` (default: the first published key)."""
        key = key or self.keys[0]
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "exp": now + lifetime_s,
            "roles": roles if roles is not None else ["reader"],
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key.private, key.algorithm, headers={"kid": key.kid})

    def stop(self) -> None:
        """Shut the HTTP server down."""
        self.server.shutdown()
        self.server.server_close()


def start_issuer(*keys: SigningKey) -> Issuer:
    """Serve discovery and JWKS for ``keys`` on a free port, in a thread."""
    issuer: Issuer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
            elif self.path == "/jwks.json":
                issuer.jwks_fetches += 1
                body = {"keys": [k.jwk() for k in issuer.keys]}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = Issuer(server, list(keys))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return issuer
