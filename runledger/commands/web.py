"""`runledger web`: the monitoring views and JSON API over the read models (read-only)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging

from runledger.settings import Settings

STARTUP_FAILURE = 3  # the status uvicorn.run exits with when the server cannot start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", help="address to listen on (default: $RUNLEDGER_WEB_HOST or 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, help="port (default: $RUNLEDGER_WEB_PORT or 8000)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from web.app import create_app
    from web.login_links import HideLoginCodes
    from web.settings import WebSettings

    web = WebSettings.from_env(settings.environ)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    web = dataclasses.replace(web, **overrides)
    app = create_app(web)
    logging.getLogger("runledger.web").info(
        "serving %s on http://%s:%d", web.database.display(), web.host, web.port
    )
    config = uvicorn.Config(
        app,
        host=web.host,
        port=web.port,
        log_level="info",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    # After the Config, which sets up uvicorn's logging: the access log names every path,
    # and a login link's path holds its one-time code.
    logging.getLogger("uvicorn.access").addFilter(HideLoginCodes())
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started else STARTUP_FAILURE
