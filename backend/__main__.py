"""`python -m backend`: migrate the database and serve the status store.

Commands (all read the store's settings from the environment, backend/config.py):
  serve (default)  migrate, then serve the API until SIGTERM or SIGINT
  rotate-keys      re-encrypt every stored field with the newest STORE_ENCRYPTION_KEY
                   key (backend/keys.py explains the whole rotation)
  purge            delete conversation data older than STORE_CONVERSATION_RETENTION_DAYS;
                   anonymise closed applications older than STORE_RETENTION_DAYS
                   (backend/retention.py; applications are kept while it is unset)
  create-admin     create a console admin (--username, --display-name); the password
                   is read from STORE_ADMIN_PASSWORD or asked for twice, never echoed
  import-model     register `make train`'s model (--file): live when no model is, or
                   when the live one was also built from the repository alone
                   (backend/learning/registry.py)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from backend.api.access_log import PseudonymousAccessLogger
from backend.app import create_app
from backend.config import REPO_ROOT, ConfigError, Settings
from backend.console.accounts import Accounts, Staff
from backend.console.audit import Actor
from backend.console.roles import ADMIN
from backend.crypto import FieldCipher
from backend.db import create_async_db_engine, session_factory, upgrade_database
from backend.errors import ApiError
from backend.keys import rotate_keys
from backend.learning.registry import Registry, repository_state
from backend.log import configure_logging
from backend.retention import purge, purge_conversations
from backend.store import utc_now
from backend.throttling import ThrottlePolicy

logger = logging.getLogger("backend")

MaintenanceTask = Callable[[Any, FieldCipher], Awaitable[Any]]
# Who the audit log names for accounts made by the command.
COMMAND_LINE = Actor(None, "command-line", None)

# Files the store creates (the SQLite database, its WAL, anything else) are its own.
PRIVATE_UMASK = 0o077


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=("serve", "rotate-keys", "purge", "create-admin", "import-model"),
    )
    parser.add_argument("--host", help="overrides STORE_HOST (serve)")
    parser.add_argument("--port", type=int, help="overrides STORE_PORT (serve)")
    parser.add_argument("--username", help="the new admin's login name (create-admin)")
    parser.add_argument("--display-name", help="the new admin's name as shown (create-admin)")
    parser.add_argument("--file", type=Path, help="the model file (import-model)")
    args = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)
    configure_logging()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"status store: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        serve(settings, args.host, args.port)
    elif args.command == "create-admin":
        return create_admin(settings, args.username, args.display_name)
    elif args.command == "import-model":
        return import_model(settings, args.file)
    elif args.command == "rotate-keys":
        count = asyncio.run(_maintain(settings, rotate_keys))
        logger.info("rotate-keys: %d rows re-encrypted with the newest key", count)
    else:
        now = utc_now()
        task = partial(
            purge_conversations, retention_days=settings.conversation_retention_days, now=now
        )
        count = asyncio.run(_maintain(settings, lambda sessions, _cipher: task(sessions)))
        logger.info("purge: %d rows of conversation data past retention deleted", count)
        if settings.retention_days is None:
            logger.info("purge: STORE_RETENTION_DAYS is not set, applications are kept")
        else:
            task = partial(purge, retention_days=settings.retention_days, now=now)
            count = asyncio.run(_maintain(settings, task))
            logger.info("purge: %d closed applications anonymised", count)
    return 0


def serve(settings: Settings, host: str | None, port: int | None) -> None:
    # On SIGTERM, requests in flight get `shutdown_seconds` to finish; the rest are cut
    # off and their open transactions rolled back when the engine closes.
    web.run_app(
        create_app(settings),
        host=host or settings.host,
        port=settings.port if port is None else port,
        shutdown_timeout=settings.shutdown_seconds,
        access_log_class=PseudonymousAccessLogger,
        print=None,
    )


def create_admin(settings: Settings, username: str | None, display_name: str | None) -> int:
    if not username:
        print("create-admin: --username is required", file=sys.stderr)
        return 2
    password = os.environ.get("STORE_ADMIN_PASSWORD") or _ask_password()
    if password is None:
        print("create-admin: the two passwords differ", file=sys.stderr)
        return 2

    async def task(sessions: Any, cipher: FieldCipher) -> Staff:
        accounts = Accounts(sessions, cipher, ThrottlePolicy.for_logins(settings), utc_now)
        return await accounts.create(
            username, display_name or username, password, ADMIN, None, COMMAND_LINE
        )

    try:
        staff = asyncio.run(_maintain(settings, task))
    except ApiError as refused:
        print(f"create-admin: {refused.message}", file=sys.stderr)
        return 1
    logger.info("create-admin: admin account %s created", staff.username)
    return 0


def _ask_password() -> str | None:
    first = getpass.getpass("新管理员的密码（至少 10 个字符）: ")
    return first if getpass.getpass("再输一遍: ") == first else None


def import_model(settings: Settings, path: Path | None) -> int:
    if path is None or not path.is_file():
        print("import-model: --file must name a model file", file=sys.stderr)
        return 2
    manifest = {"file": path.name, **repository_state(REPO_ROOT)}

    async def task(sessions: Any, _cipher: FieldCipher) -> Any:
        registry = Registry(sessions, settings.models_dir, utc_now)
        return await registry.import_repository_model(path, manifest)

    model = asyncio.run(_maintain(settings, task))
    logger.info("import-model: model %d (%s) is %s", model.id, model.sha256[:12], model.state)
    return 0


async def _maintain(settings: Settings, task: MaintenanceTask) -> int:
    """Run a maintenance task on the migrated database with the store's keys."""
    await asyncio.to_thread(upgrade_database, settings.database_url, settings.encryption_key)
    engine = create_async_db_engine(
        settings.database_url, timeout_seconds=settings.db_timeout_seconds
    )
    try:
        return await task(
            session_factory(engine), FieldCipher(settings.encryption_key, settings.hash_key)
        )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
