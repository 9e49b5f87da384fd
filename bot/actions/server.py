"""The action server, closed to strangers: `python -m bot.actions.server`.

rasa_sdk's own server runs any action for anyone who can reach it, with any tracker the
caller makes up (a forged `action_submit_application` created an application; a forged
`action_check_status` read another resident's). Loopback is no boundary in the
production profile, so every request except `GET /health` must carry
`Authorization: Bearer <ACTION_SERVER_TOKEN>`, the secret Rasa sends from
`endpoints*.yml` (`action_endpoint.headers`). The token is read from the environment
only, never from the command line (where `ps` shows it); without it the server refuses
to start. The same options as `python -m rasa_sdk` (port, actions package, logging).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
import types

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser, create_ssl_context
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.actions.settings import settings
from personaldata.logs import mask_every_record

TOKEN_VARIABLE = "ACTION_SERVER_TOKEN"
DEFAULT_ACTIONS = "bot.actions"
# Open for the health checks of process managers and tests; they learn nothing else.
OPEN_PATHS = frozenset({"/health"})

logger = logging.getLogger(__name__)


class MissingToken(RuntimeError):
    """The server would be open to anyone: ACTION_SERVER_TOKEN is not set."""


def token_from_environment(environ: dict[str, str] | os._Environ = os.environ) -> str:
    token = environ.get(TOKEN_VARIABLE, "")
    if not token.strip():
        raise MissingToken(f"{TOKEN_VARIABLE} is not set: the action server will not start open")
    return token


def authorized(request: Request, token: str) -> bool:
    """The request carries the token; compared in constant time so that response times
    tell a prober nothing about how much of a guess was right."""
    scheme, _, presented = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def create_protected_app(
    token: str,
    actions: str | types.ModuleType = DEFAULT_ACTIONS,
    cors_origins: str | list[str] | None = None,
) -> Sanic:
    """rasa_sdk's app with the token check, a bounded body and quiet errors."""
    if not token.strip():
        raise MissingToken(f"{TOKEN_VARIABLE} is empty")
    app = create_app(actions, cors_origins=cors_origins)
    # A tracker of a long conversation is a few hundred kB; far more is an attack.
    app.config.REQUEST_MAX_SIZE = settings.action_request_max_bytes

    @app.middleware("request")
    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return None
        if not authorized(request, token):
            return response.json(
                {"error": "unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="actions"'},
            )
        return None

    # Replaces rasa_sdk's handler, which answers every error (a 413 or 404 too) with 500
    # and echoes the whole request, residents' answers included, back to the caller.
    @app.exception(Exception)
    async def quiet_errors(request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicException):
            return response.json({"error": type(exception).__name__}, exception.status_code)
        logger.error("action call failed on %s", request.path, exc_info=exception)
        return response.json({"error": "internal error"}, status=500)

    return app


def configure_logging(args: argparse.Namespace) -> None:
    """rasa_sdk's logging; every record is masked as it is made, since Sanic replaces
    handlers after start-up."""
    utils.configure_colored_logging(args.loglevel)
    sdk_logger = logging.getLogger(APPLICATION_ROOT_LOGGER_NAME)
    utils.configure_file_logging(sdk_logger, args.log_file, args.loglevel, args.logging_config_file)
    utils.update_sanic_log_level()
    mask_every_record()


def main(argv: list[str] | None = None) -> None:
    # Log files this process creates are readable by its owner only.
    os.umask(0o077)
    args = create_argument_parser().parse_args(argv)
    try:
        token = token_from_environment()
    except MissingToken as error:
        sys.exit(str(error))
    configure_logging(args)
    app = create_protected_app(token, args.actions or DEFAULT_ACTIONS, args.cors)
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = os.environ.get("SANIC_HOST", "127.0.0.1")
    logger.info("action server on %s:%s (token required)", host, args.port)
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
