"""Starlette monitoring views and JSON API over the read models (see docs/ and DESIGN.md)."""
