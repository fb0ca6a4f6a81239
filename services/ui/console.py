"""The console's state: the registry, contracts, tables and sessions it reads."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from feast import FeatureView

from featurestore.services.contracts import ContractRegistry
from featurestore.services.contracts.feast_link import CONTRACT_TAG
from featurestore.services.contracts.registry import SAFE_NAME
from featurestore.services.offline._views import delta_path
from featurestore.services.offline.errors import OfflineStoreError, OnDemandViewError
from featurestore.services.online import OnlineReader, build_online_reader
from featurestore.services.project import Project
from featurestore.services.server.access import build_guard
from featurestore.services.server.app import _feature_store  # the server's own
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.errors import NotFoundError
from featurestore.services.ui.access import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Gate,
    Session,
    Sessions,
)
from featurestore.services.ui.oidc import OidcLogin

if TYPE_CHECKING:
    from feast.feature_service import FeatureService

    from featurestore.services.ui.settings import UiSettings

log = logging.getLogger(__name__)


class PageError(Exception):
    """A page that cannot be shown as asked: status, title and a safe message."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class Console:
    """Everything a page reads, built once per process from the settings."""

    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        self.store = _feature_store(settings)
        self.catalog = Catalog(self.store)
        self.gate = Gate(build_guard(settings, self.catalog))
        self.contracts = ContractRegistry(settings.contracts_dir)
        self.sessions = Sessions(settings.ui_session_minutes)
        self.oidc = _oidc_login(settings)
        self._reader: OnlineReader | None = None
        self._lock = threading.Lock()
        self._refreshed = time.monotonic()
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("featurestore.services.ui", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # --- registry -----------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the registry when it is older than the refresh interval."""
        now = time.monotonic()
        if now - self._refreshed < self.settings.registry_refresh_seconds:
            return
        self._refreshed = now
        try:
            self.catalog.refresh()
        except Exception:  # keep serving the last snapshot
            log.exception("registry refresh failed")

    @property
    def project(self) -> str:
        """The Feast project name."""
        return str(self.store.project)

    def services(self) -> list[FeatureService]:
        """The feature services the console offers, by name: every one in the
        registry but those reading an on-demand view (``unserved_services``),
        so every page counts and lists the same services."""
        unserved = set(self.unserved_services())
        return [s for s in self._all_services() if s.name not in unserved]

    def unserved_services(self) -> list[str]:
        """Names of the feature services that read an on-demand view, which
        the gRPC service refuses (not served): the console offers none of them.

        Judged as the service resolves them (``Catalog.resolve``); a service
        over a view no longer registered is offered, and refused when used.
        """
        unserved = []
        for service in self._all_services():
            try:
                self.catalog.resolve([], service.name)
            except OnDemandViewError:
                unserved.append(service.name)
            except NotFoundError:
                pass
        return unserved

    def _all_services(self) -> list[FeatureService]:
        services = self.store.registry.list_feature_services(
            self.project, allow_cache=True
        )
        return sorted(services, key=lambda s: s.name)

    def services_of(self, view: str) -> list[str]:
        """Names of the feature services offered that use ``view``."""
        return [
            s.name
            for s in self.services()
            if any(p.name == view for p in s.feature_view_projections)
        ]

    @property
    def reader(self) -> OnlineReader:
        """The online store reader the gRPC service uses (built on first use)."""
        with self._lock:
            if self._reader is None:
                self._reader = build_online_reader(
                    self.store.config, timeout_s=self.settings.online_timeout_seconds
                )
            return self._reader

    # --- tables ---------------------------------------------------------------

    def table_of(self, view: FeatureView) -> str | None:
        """The feature table a view reads (its Delta source's last folder)."""
        path = str(getattr(view.batch_source, "path", "") or "")
        name = PurePosixPath(path.rstrip("/")).name
        return name if name and SAFE_NAME.fullmatch(name) else None

    def contract_of(self, view: FeatureView) -> str | None:
        """The contract a view names in its ``contract`` tag."""
        return view.tags.get(CONTRACT_TAG) or None

    def tables(self) -> list[str]:
        """Feature tables the console knows: every contract's and every view's."""
        names = set(self.contracts.names())
        names |= {t for v in self.catalog.views() if (t := self.table_of(v))}
        return sorted(names)

    def table_path(self, table: str) -> str:
        """Where feature table ``table`` lives: a view's source, else the data root.

        Raises:
            PageError: 404 for a name that is neither a contract nor a view's table.
        """
        if table not in self.tables():
            raise PageError(404, "Not found", f"no feature table {table!r}")
        for view in self.catalog.views():
            if self.table_of(view) == table and view.batch_source is not None:
                try:  # the offline store's own resolution (featurestore://name)
                    return delta_path(view.batch_source, self.located).rstrip("/")
                except OfflineStoreError:
                    break
        return self.located.table_uri(table)

    @property
    def located(self) -> Project:
        """The project, with the console's data root, that resolves table names."""
        env = {**os.environ, "FS_DATA_DIR": str(self.settings.data_root)}
        return Project.load(self.settings.repo_path, env=env)

    def views_over(self, table: str) -> list[FeatureView]:
        """The feature views whose source is ``table``."""
        return [v for v in self.catalog.views() if self.table_of(v) == table]

    # --- pages ----------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        """The live session of this browser, if any (its idle timer restarted,
        and the answer then renews its cookie: ``renew_cookie``)."""
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid)
        if session is not None:
            request.state.renewed_session = sid
        return session

    def renew_cookie(self, request: Request, response: Response) -> None:
        """Re-issue the session cookie with a full max-age when this request
        renewed its session, so the cookie lasts as long as the session does
        without use (not from the sign-in). Not when the answer sets or drops
        the cookie itself (sign-in, sign-out), nor for a session gone since.
        """
        sid = getattr(request.state, "renewed_session", None)
        if not sid or not self.sessions.holds(sid):
            return
        prefix = f"{SESSION_COOKIE}="
        if any(c.startswith(prefix) for c in response.headers.getlist("set-cookie")):
            return
        self.set_cookie(response, SESSION_COOKIE, sid, self.sessions.seconds)

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page from ``template`` with the layout's common values."""
        session = self.session(request)
        # Without a session (auth off, or before sign-in) forms carry the
        # token of a CSRF cookie instead (double submit).
        cookie = request.cookies.get(CSRF_COOKIE)
        csrf = session.csrf if session else cookie or secrets.token_urlsafe(32)
        page = self.templates.get_template(template).render(
            request_path=request.url.path,
            signed_in=session.principal if session else None,
            csrf=csrf,
            auth_on=self.gate.auth_on,
            project=self.project,
            **context,
        )
        response = HTMLResponse(page, status_code=status)
        if session is None and cookie != csrf:
            self.set_cookie(response, CSRF_COOKIE, csrf, 12 * 3600)
        return response

    def set_cookie(
        self, response: Response, name: str, value: str, max_age: int
    ) -> None:
        """An HttpOnly, SameSite=Lax cookie, Secure when browsers use HTTPS."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=self.settings.browsers_use_https,
            path="/",
        )

    def drop_cookie(self, response: Response, name: str) -> None:
        """Expire cookie ``name`` with the attributes it was set with (a
        browser may ignore a deletion whose attributes differ)."""
        response.delete_cookie(
            name,
            httponly=True,
            samesite="lax",
            secure=self.settings.browsers_use_https,
            path="/",
        )

    def close(self) -> None:
        """Release the online store and the audit log."""
        if self._reader is not None:
            self._reader.close()
        guard = self.gate.guard
        if guard is not None and guard.audit is not None:
            guard.audit.close()


def _oidc_login(settings: UiSettings) -> OidcLogin | None:
    if not settings.oidc_login:
        return None
    assert settings.oidc_issuer and settings.ui_oidc_client_id  # checked at start
    return OidcLogin(
        settings.oidc_issuer,
        settings.ui_oidc_client_id,
        f"{settings.base_url}/auth/callback",
        secret_file=settings.ui_oidc_client_secret_file,
        resource=settings.ui_oidc_resource,
    )
