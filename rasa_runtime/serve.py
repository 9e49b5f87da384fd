"""Starts the Rasa server: `python -m rasa_runtime.serve` takes the options of `rasa run`.

What it adds to `rasa run`:
- the HTTP API's token is read from `RASA_API_TOKEN`, never from the command line,
  where every local user sees it (`ps`); `--auth-token` is refused;
- files it creates (tracker database, logs) are readable by its user only;
- ID and phone numbers are masked in every log line, Rasa's structured ones included;
- Rasa's functions are replaced where ours are needed (`rasa_runtime.patches`);
- conversations past their retention are deleted daily (`rasa_runtime.retention`);
- staff notices reach residents on their channel (`rasa_runtime.notices`), and the
  channels' connections to the store's handoff routes are closed (`connectors.handoff`);
- on SIGTERM the engine drains before the server stops (`rasa_runtime.engine`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

import rasa.utils.tensorflow.environment as tf_env
import structlog
from rasa.cli.arguments.default_arguments import add_logging_options
from rasa.cli.arguments.run import set_run_arguments
from rasa.cli.run import run
from rasa.utils.common import configure_logging_and_warnings
from rasa.utils.io import configure_colored_logging
from rasa.utils.log_utils import configure_structlog
from sanic import Sanic

from connectors import handoff
from personaldata.logs import mask_every_record, mask_structlog_event
from rasa_runtime import engine, notices, patches, retention

API_TOKEN_VARIABLE = "RASA_API_TOKEN"
# Seconds Sanic waits for connections still open after the engine drained (idle
# keep-alives, the widget's long polls) before closing them; its default is 15.
CONNECTIONS_GRACE_SECONDS = 2.0

logger = logging.getLogger(__name__)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rasa_runtime.serve",
        description="Starts the Rasa server (the options of `rasa run`; the API token "
        f"comes from {API_TOKEN_VARIABLE}).",
    )
    set_run_arguments(parser)
    add_logging_options(parser)
    args = parser.parse_args(argv)
    if args.auth_token is not None:
        parser.error(f"--auth-token is visible to every user: set {API_TOKEN_VARIABLE} instead")
    args.auth_token = os.environ.get(API_TOKEN_VARIABLE) or None
    if args.enable_api and args.auth_token is None:
        parser.error(f"--enable-api needs {API_TOKEN_VARIABLE}: the API reads conversations")
    return args


def configure_logging(args: argparse.Namespace) -> None:
    """Rasa's logging set-up (as `rasa run` does it), with personal data masked."""
    configure_logging_and_warnings(
        args.loglevel, args.logging_config_file, warn_only_once=True, filter_repeated_logs=True
    )
    configure_colored_logging(args.loglevel)
    configure_structlog(args.loglevel)
    # Before the renderer, which escapes Chinese and hides the numbers in its output.
    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[*processors[:-1], mask_structlog_event, processors[-1]])
    # At record creation: Sanic and Rasa replace the handlers later on.
    mask_every_record()


async def _after_start(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = CONNECTIONS_GRACE_SECONDS
    app.ctx.retention = asyncio.create_task(retention.run_daily(app.ctx.agent.tracker_store))
    app.ctx.notices = notices.start(getattr(app.ctx, "input_channels", []))


async def _before_stop(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
    logger.info("Stopping: draining the engine")
    app.ctx.retention.cancel()
    # The server still runs: replies of the turns finishing reach their channels.
    await engine.drain()
    if app.ctx.notices is not None:
        await app.ctx.notices.stop()
    await handoff.close_shared_desk()


def main(argv: list[str] | None = None) -> None:
    os.umask(0o077)
    args = parse_arguments(argv)
    configure_logging(args)
    tf_env.setup_tf_environment()
    patches.apply()
    args.server_listeners = [
        (_after_start, "after_server_start"),
        (_before_stop, "before_server_stop"),
    ]
    run(args)


if __name__ == "__main__":
    main()
