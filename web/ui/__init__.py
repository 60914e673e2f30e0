"""The HTML monitoring views: login, the operations index and detail, the audit log.

`routes()` is what web/app.py mounts. Every page reads through `MonitoringView` with the
viewer's scope (web/ui/access.py) and renders the JSON API's own documents
(projections.document), so a page and the API never disagree. Templates live in
web/templates, assets in web/static (package data); docs/ui.md shows the pages.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Route

from web.ui.audit_pages import audit_entry_page, audit_page
from web.ui.login import login_form, login_submit, logout
from web.ui.login_link import login_link_form, login_link_submit
from web.ui.operations import operations_index, operations_live
from web.ui.run_page import run_page
from web.ui.static import static_mount

__all__ = ["routes"]


def _home(request: Request) -> RedirectResponse:
    return RedirectResponse("/operations", status_code=303)


def routes() -> list[BaseRoute]:
    """The HTML routes; `/operations/live` comes before the run page it would match."""
    return [
        Route("/", _home, name="ui_home"),
        Route("/login", login_form, methods=["GET"], name="ui_login"),
        Route("/login", login_submit, methods=["POST"], name="ui_login_submit"),
        Route("/logout", logout, methods=["POST"], name="ui_logout"),
        Route("/login/link/{code}", login_link_form, methods=["GET"], name="ui_login_link"),
        Route("/login/link/{code}", login_link_submit, methods=["POST"], name="ui_login_link_use"),
        Route("/operations", operations_index, name="ui_operations"),
        Route("/operations/live", operations_live, name="ui_operations_live"),
        Route("/operations/{run_id}", run_page, name="ui_run"),
        Route("/audit", audit_page, name="ui_audit"),
        Route("/audit/{position}", audit_entry_page, name="ui_audit_entry"),
        static_mount(),
    ]
