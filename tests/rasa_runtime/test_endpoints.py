"""The project's endpoint files, read as Rasa reads them, send the action server's token
and pull models from the store with the service token.

Rasa expands `${VAR}` only in plain YAML scalars: a quoted "Bearer ${…}" reached the
action server literally and every action call was refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.utils import read_endpoints_from_path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_SETTINGS = {
    "ACTION_ENDPOINT_URL": "http://actions.internal:5055/webhook",
    "TRACKER_DB_HOST": "db",
    "TRACKER_DB_PORT": "5432",
    "TRACKER_DB_NAME": "rasa",
    "TRACKER_DB_USER": "rasa",
    "TRACKER_DB_PASSWORD": "secret",
    "REDIS_HOST": "redis",
    "REDIS_PORT": "6379",
    "MODEL_SERVER_URL": "http://store.internal:5100/models/active",
    "STORE_SERVICE_TOKEN": "st0re-token-of-this-test",
}


@pytest.mark.parametrize("name", ["endpoints.yml", "endpoints.production.yml"])
def test_the_action_server_token_is_sent_as_a_bearer_header(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in PRODUCTION_SETTINGS.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "t0ken-of-this-test")
    endpoints = read_endpoints_from_path(ROOT / name)
    assert endpoints.action.headers == {"Authorization": "Bearer t0ken-of-this-test"}


@pytest.mark.parametrize("name", ["endpoints.yml", "endpoints.production.yml"])
def test_models_are_pulled_from_the_store_with_its_service_token(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in PRODUCTION_SETTINGS.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "t0ken-of-this-test")
    endpoints = read_endpoints_from_path(ROOT / name)
    assert endpoints.model.url.endswith("/models/active")
    assert endpoints.model.headers == {"Authorization": "Bearer st0re-token-of-this-test"}
    assert 0 < int(endpoints.model.kwargs["wait_time_between_pulls"]) <= 30
