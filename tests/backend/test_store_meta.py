"""Health check, the OpenAPI document (kept true to the routes) and the migrations."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import (
    PHONE,
    SERVICE_HEADERS,
    SPEC,
    STAFF_HEADERS,
    assert_matches_schema,
    create,
    lookup,
    transition,
)

from backend.api.middleware import CONSOLE_PREFIX
from backend.app import create_app
from backend.config import Settings
from backend.db import create_sync_engine, upgrade_database
from backend.models import metadata

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def spec_operations() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in SPEC["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def app_operations(app: web.Application) -> set[tuple[str, str]]:
    # aiohttp adds HEAD to every GET route by itself; it is not part of the contract, and
    # neither is the staff console (HTML pages under /console/, signed in by session).
    return {
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.method != "HEAD" and not route.resource.canonical.startswith(CONSOLE_PREFIX)
    }


def test_openapi_paths_match_the_routes(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/unused.db",  # never opened: the app is not started
        service_token="s" * 16,
        staff_token="t" * 16,
        encryption_key=Fernet.generate_key().decode(),
        hash_key="h" * 16,
    )
    assert spec_operations() == app_operations(create_app(settings))


def test_openapi_schemas_are_valid_json_schema() -> None:
    assert SPEC["openapi"].startswith("3.1")
    for schema in SPEC["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.asyncio
async def test_responses_follow_the_openapi_schemas(client: TestClient) -> None:
    created = await create(client)
    assert_matches_schema(created, "Created")
    number = created["tracking_number"]
    await transition(client, number, "township_review")
    response = await transition(client, number, "returned", note="缺材料")
    assert_matches_schema(await response.json(), "StaffDetail")
    assert_matches_schema(await (await lookup(client, number, PHONE)).json(), "ResidentDetail")
    listing = await client.get(
        "/applications", params={"conversation_id": "rest:conv-1"}, headers=SERVICE_HEADERS
    )
    for item in (await listing.json())["applications"]:
        assert_matches_schema(item, "ApplicationSummary")
    search = await client.post("/staff/applications/search", json={}, headers=STAFF_HEADERS)
    assert_matches_schema(await search.json(), "SearchResult")
    refused = await transition(client, number, "approved")
    assert_matches_schema(await refused.json(), "Error")
    assert_matches_schema(await (await client.get("/health")).json(), "Health")


@pytest.mark.asyncio
async def test_openapi_is_served_without_auth(client: TestClient) -> None:
    response = await client.get("/openapi.yaml")
    assert response.status == 200
    assert response.content_type == "application/yaml"
    assert yaml.safe_load(await response.text()) == SPEC


@pytest.mark.asyncio
async def test_health_checks_the_database(client: TestClient) -> None:
    # The outage itself is test_store_outage.py: a real database stopped and restarted.
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.asyncio
async def test_unknown_routes_answer_json(client: TestClient) -> None:
    response = await client.get("/nothing-here", headers=SERVICE_HEADERS)
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    response = await client.delete("/applications", headers=SERVICE_HEADERS)
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"


@pytest.mark.asyncio
async def test_oversized_bodies_are_refused(client: TestClient) -> None:
    response = await client.post(
        "/applications",
        data=b"{" + b" " * 100_000 + b"}",
        headers={**SERVICE_HEADERS, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"


def test_migrations_produce_the_models_schema(raw_db: Engine) -> None:
    with raw_db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/folder/store.db"
    upgrade_database(url)  # also creates the missing folders
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()
