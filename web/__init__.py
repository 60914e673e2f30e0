"""Starlette monitoring views and JSON API over the read models (read-only).

`web.app.create_app` builds the app `runledger web` serves: the JSON API (web/api.py,
docs/api.md), health and metrics (web/health.py), and the HTML views (web/ui,
docs/ui.md). Every route reads through `projections.MonitoringView` with the caller's
scope; operators authenticate with tokens (web/tokens.py) and, in a browser, a signed
session cookie (web/ui/session.py).
"""
