"""Property-based API tests: schemathesis generates requests from backend/openapi.yaml for
every operation (about 100 examples each: a third sent with the service token, a third
with the staff token, a third with no token) against a real store process; no answer may be a server error, every answer
must match the documented schema and status codes, and a 405 must carry Allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from store_helpers import SERVICE_TOKEN, STAFF_TOKEN

from backend.contract import OPENAPI_PATH
from tests.servers import running_store

EXAMPLES_PER_TOKEN = 34
TOKENS = {"service": SERVICE_TOKEN, "staff": STAFF_TOKEN, "none": None}

schema = schemathesis.openapi.from_path(OPENAPI_PATH)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    with running_store(
        folder, STORE_SERVICE_TOKEN=SERVICE_TOKEN, STORE_STAFF_TOKEN=STAFF_TOKEN
    ) as store:
        yield store.url


@pytest.mark.parametrize("token", list(TOKENS))
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_TOKEN,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract(case: schemathesis.Case, store_url: str, token: str) -> None:
    headers = {} if TOKENS[token] is None else {"Authorization": f"Bearer {TOKENS[token]}"}
    case.call_and_validate(
        base_url=store_url,
        headers=headers,
        checks=[
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
            allow_header_conformance,
        ],
    )
