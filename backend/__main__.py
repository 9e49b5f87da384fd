"""`python -m backend`: migrate the database and serve the status store."""

from __future__ import annotations

import argparse
import sys

from aiohttp import web

from backend.app import create_app
from backend.config import ConfigError, Settings
from backend.log import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    parser.add_argument("--host", help="overrides STORE_HOST")
    parser.add_argument("--port", type=int, help="overrides STORE_PORT")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"status store: configuration error: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        create_app(settings),
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
