"""Unauthenticated endpoints: health check and the API description."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from backend.api.common import OPENAPI_SPEC, SETTINGS, STORE, json_response

routes = web.RouteTableDef()
logger = logging.getLogger(__name__)


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    # As long as any request may wait for the database (STORE_DB_TIMEOUT_SECONDS): a store
    # busy within that bound is up, one that cannot answer within it is not.
    try:
        await asyncio.wait_for(request.app[STORE].ping(), request.app[SETTINGS].db_timeout_seconds)
    except Exception as exc:
        logger.warning("health check: database unreachable (%s)", type(exc).__name__)
        return json_response({"status": "unavailable", "database": "error"}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@routes.get("/openapi.yaml")
async def openapi_spec(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_SPEC], content_type="application/yaml")
