"""The package's own CSS, JavaScript and icons at /static: nothing comes from elsewhere.

Pages link each file with a content hash (`render.static_url`), so a versioned URL is
cached for a year and a deploy that changes a file changes its URL; an unversioned
request revalidates every time.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["PackageStatic", "static_mount"]

_FOREVER = "public, max-age=31536000, immutable"


class PackageStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = _FOREVER if versioned else "no-cache"
        return response


def static_mount() -> Mount:
    return Mount("/static", app=PackageStatic(packages=[("web", "static")]), name="static")
