"""A real ``featurestore ui`` process on a free 127.0.0.1 port, and HTTP to it."""

from __future__ import annotations

import http.cookiejar
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.ui._project import ConsoleProject
from tests.oidc_provider_harness import start_provider
from tests.processes import free_port, stop_process

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")


@dataclass
class RunningConsole:
    """The console process and its URL; ``stop()`` is idempotent."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    context: ssl.SSLContext | None = None
    _stopped: bool = field(default=False)

    def stop(self) -> None:
        """SIGTERM, then wait (kill after 15 s)."""
        if self._stopped:
            return
        self._stopped = True
        stop_process(self.process, timeout=15)

    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")


def start_console(
    project: ConsoleProject,
    *args: str,
    port: int | None = None,
    scheme: str = "http",
    context: ssl.SSLContext | None = None,
    timeout_s: float = 90.0,
) -> RunningConsole:
    """Start ``featurestore ui --repo ... --address 127.0.0.1:PORT ARGS``.

    Waits until /static/console.css answers (the registry has loaded).
    """
    port = port or free_port()
    log = project.repo.parent / f"console-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                FEATURESTORE,
                "ui",
                "--repo",
                str(project.repo),
                "--address",
                f"127.0.0.1:{port}",
                *args,
            ],
            env=project.env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    console = RunningConsole(f"{scheme}://127.0.0.1:{port}", process, log, context)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"console exited {process.returncode}: {console.output()}"
            )
        try:
            with urllib.request.urlopen(
                console.url + "/static/console.css", timeout=2, context=context
            ):
                return console
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    console.stop()
    raise RuntimeError(f"console did not start: {console.output()}")


def oidc_flags(issuer: str) -> tuple[str, ...]:
    """The console's flags to sign in at ``issuer`` as its console-client."""
    return (
        "--auth", "oidc", "--oidc-issuer", issuer,
        "--oidc-audience", "featurestore", "--oidc-client-id", "console-client",
    )  # fmt: skip


@contextmanager
def console_at_provider(
    project: ConsoleProject, *args: str, secret: str | None = None
) -> Iterator[tuple[RunningConsole, str]]:
    """A console signing in at a real OpenID Provider started for it (alice
    has role reader; tokens for urn:featurestore); the console and the issuer.

    ``secret``: the provider's console-client is confidential, with that
    secret (the console's ``--oidc-client-secret-file`` goes in ``args``).
    """
    port = free_port()
    provider = start_provider(
        [],
        console_redirect_uri=f"http://127.0.0.1:{port}/auth/callback",
        console_secret=secret,
        user_roles={"alice": ["reader"]},
    )
    try:
        console = start_console(
            project, *oidc_flags(provider.issuer),
            "--oidc-resource", "urn:featurestore", *args, port=port,
        )  # fmt: skip
        try:
            yield console, provider.issuer
        finally:
            console.stop()
    finally:
        provider.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    """One HTTP answer: status, headers, body text."""

    status: int
    headers: Any
    body: str


class Browserless:
    """An HTTP client with a cookie jar that does not follow redirects."""

    def __init__(self, console: RunningConsole) -> None:
        self.console = console
        self.jar = http.cookiejar.CookieJar()
        handlers: list[Any] = [
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirect(),
        ]
        if console.context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=console.context))
        self.opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> Answer:
        """GET (or POST ``form`` urlencoded, or ``method``) ``path``; any
        status is returned."""
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(
            self.console.url + path, data=data, headers=headers or {}, method=method
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return Answer(
                    response.status, response.headers, response.read().decode()
                )
        except urllib.error.HTTPError as err:
            with err:
                return Answer(
                    err.code, err.headers, err.read().decode(errors="replace")
                )

    def cookie(self, name: str) -> http.cookiejar.Cookie | None:
        """The cookie ``name`` in the jar, if set."""
        return next((c for c in self.jar if c.name == name), None)
