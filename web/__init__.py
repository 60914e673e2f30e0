"""Starlette monitoring views and JSON API over the read models.

Not built yet: this package is empty. The read API it will serve is
`projections.MonitoringView` (docs/projections.md).
"""
