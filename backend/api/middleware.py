"""Authentication and error handling for every route."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from backend.api.common import SETTINGS, json_response
from backend.crypto import constant_time_equals
from backend.errors import ApiError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC_PATHS = frozenset({"/health", "/openapi.yaml", "/demo/"})
STAFF_PREFIX = "/staff/"
# The training worker's routes: its own token (it uploads models every replica loads).
TRAINER_PREFIX = "/training/"
# The console signs staff in with its own sessions (backend/console/security.py).
CONSOLE_PREFIX = "/console/"

_HTTP_CODES = {
    404: ("not_found", "没有这个接口"),
    405: ("method_not_allowed", "接口不支持该请求方法"),
    413: ("payload_too_large", "请求体过大"),
}


def _error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


def _bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return _error_response(error)
    except web.HTTPException as exc:
        if exc.status in _HTTP_CODES:
            code, message = _HTTP_CODES[exc.status]
            error = ApiError(exc.status, code, message)
            if "Allow" in exc.headers:
                error.headers["Allow"] = exc.headers["Allow"]
            return _error_response(error)
        raise
    except (OperationalError, InterfaceError, OSError, PoolTimeout) as exc:
        # asyncpg raises plain OSError when it cannot connect at all; a pool timeout
        # means every connection stayed busy for STORE_DB_POOL_TIMEOUT_SECONDS.
        logger.error("database unavailable: %s", type(exc).__name__)
        return _error_response(ApiError(503, "database_unavailable", "数据库暂时不可用"))
    except Exception:
        # The traceback goes to the log, never to the caller. Request bodies are not
        # logged, so it holds no personal data beyond what the log filter masks.
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return _error_response(ApiError(500, "internal_error", "服务器内部错误"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every matched route needs a token unless it is public: new routes are protected."""
    resource = request.match_info.route.resource
    if resource is None:
        return await handler(request)  # unmatched: the router's 404/405, nothing to protect
    path = resource.canonical
    if path in PUBLIC_PATHS or path.startswith(CONSOLE_PREFIX):
        return await handler(request)
    settings = request.app[SETTINGS]
    expected = settings.service_token
    if path.startswith(STAFF_PREFIX):
        expected = settings.staff_token
    elif path.startswith(TRAINER_PREFIX):
        expected = settings.trainer_token
    if expected is None or not constant_time_equals(_bearer_token(request), expected):
        error = ApiError(401, "unauthorized", "缺少或无效的访问令牌")
        error.headers["WWW-Authenticate"] = "Bearer"
        raise error
    return await handler(request)
