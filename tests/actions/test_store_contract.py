"""The assistant's side of the contracts it shares with the status store, checked against
their one source, backend/openapi.yaml: service types and their details, the fields of a
create, the paths the client calls, the district's places, channel names and the
tracking-number format."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.actions import places, store_client, validation
from bot.actions.applications import DETAIL_SLOTS
from bot.actions.store_client import StoreClient
from bot.actions.validation import InvalidValue

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "backend" / "openapi.yaml").read_text("utf-8"))
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
TRACKING_PATTERN = SCHEMAS["TrackingNumber"]["pattern"]


def schema(reference: str) -> dict[str, Any]:
    return SCHEMAS[reference.rsplit("/", 1)[-1]]


def details_schema(service: str) -> dict[str, Any]:
    application = schema(SCHEMAS["NewApplication"]["discriminator"]["mapping"][service])
    return schema(application["properties"]["details"]["$ref"])


def test_the_services_are_the_stores() -> None:
    assert set(DETAIL_SLOTS) == set(SCHEMAS["ServiceType"]["enum"])
    assert set(SCHEMAS["NewApplication"]["discriminator"]["mapping"]) == set(DETAIL_SLOTS)


@pytest.mark.parametrize("service", sorted(DETAIL_SLOTS))
def test_each_service_sends_exactly_the_details_the_store_requires(service: str) -> None:
    details = details_schema(service)
    assert set(DETAIL_SLOTS[service]) == set(details.get("required", []))
    assert set(DETAIL_SLOTS[service]) == set(details.get("properties", {}))


def test_the_household_size_is_read_within_the_stores_bounds() -> None:
    bounds = details_schema("subsistence_allowance")["properties"]["household_size"]
    assert bounds["type"] == "integer"
    assert validation.household_size(str(bounds["minimum"])) == bounds["minimum"]
    assert validation.household_size(str(bounds["maximum"])) == bounds["maximum"]
    for outside in (bounds["minimum"] - 1, bounds["maximum"] + 1):
        with pytest.raises(InvalidValue):
            validation.household_size(str(outside))


@pytest.mark.parametrize(
    ("service", "field", "read"),
    [
        ("housing_renovation", "house_condition", validation.house_condition),
        ("temporary_relief", "incident", validation.incident),
    ],
)
def test_free_texts_are_read_within_the_stores_bounds(service: str, field: str, read: Any) -> None:
    longest = details_schema(service)["properties"][field]["maxLength"]
    with pytest.raises(InvalidValue):
        read("房子墙体开裂漏雨" * (longest // 8 + 1))


def test_a_create_sends_every_field_the_store_requires() -> None:
    parameters = set(inspect.signature(StoreClient.create_application).parameters)
    required = set(SCHEMAS["ApplicationFields"]["required"])
    assert required <= parameters | {"details"}
    assert "idempotency_key" in parameters


def test_the_client_calls_only_documented_paths() -> None:
    source = inspect.getsource(store_client)
    called = {
        re.sub(r"\{[^}]*\}", "{}", path)
        for path in re.findall(r'f?"(/applications[^"?]*)"', source)
    }
    documented = {re.sub(r"\{[^}]*\}", "{}", path) for path in SPEC["paths"]}
    assert called and called <= documented
    assert "/applications/by-key/{}" in called


def test_the_places_are_the_districts_15_units() -> None:
    assert [full for full, _ in places._units()] == SCHEMAS["Township"]["enum"]
    for spelling, unit in places.township_names().items():
        assert places.township(spelling) == unit
        assert unit in SCHEMAS["Township"]["enum"]


def test_the_channels_are_the_stores() -> None:
    from connectors.rest import RestInput
    from connectors.wechat.identity import CHANNEL_NAME

    channels = set(SCHEMAS["Channel"]["enum"])
    assert {RestInput.name(), CHANNEL_NAME} <= channels
    assert channels == {"rest", "socketio", "wechat"}
    assert re.fullmatch(r"\^\((\w+(?:\|\w+)*)\):.*", SCHEMAS["ConversationId"]["pattern"])
    prefixes = SCHEMAS["ConversationId"]["pattern"].split("(", 1)[1].split(")", 1)[0]
    assert set(prefixes.split("|")) == channels


@given(st.from_regex(TRACKING_PATTERN, fullmatch=True))
def test_the_bot_reads_every_tracking_number_of_the_contract(number: str) -> None:
    assert validation.tracking_number(number) == number
    assert validation.tracking_number(number.lower()) == number


def test_the_nlu_tracking_number_regex_matches_the_contract() -> None:
    data = yaml.safe_load((ROOT / "bot/data/core/regexes.yml").read_text("utf-8"))
    (block,) = [item for item in data["nlu"] if item.get("regex") == "tracking_number"]
    nlu_pattern = block["examples"].strip().removeprefix("- ")
    for number in ("DA202611270001", "DA209912319999"):
        assert re.fullmatch(TRACKING_PATTERN, number)
        assert re.search(nlu_pattern, f"查一下{number}进度").group(0) == number
    for wrong in ("DA20261127001", "DB202611270001"):
        assert not re.fullmatch(TRACKING_PATTERN, wrong)
        assert not re.search(nlu_pattern, f"查一下{wrong}进度")
