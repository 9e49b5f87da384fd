"""The store checks its own business rules, whoever calls (finding 10): a child's
elderly card, a place outside the district, an unknown channel are refused with 400."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from store_helpers import (
    DETAILS,
    SERVICE_HEADERS,
    STAFF_HEADERS,
    FakeClock,
    application_body,
    create,
)

from scripts.id_numbers import resident_id_number


async def refused(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/applications",
        json=application_body(**overrides),
        headers={**SERVICE_HEADERS, "Idempotency-Key": "rules"},
    )
    assert response.status == 400, await response.text()
    return await response.json()


# Worked by hand with GB 11643 (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, sum mod 11
# indexes "10X98765432"):
# 51030419621108123?: 35+9+0+15+0+16+2+9+36+6+7+9+0+40+8+8+6 = 206, 206 mod 11 = 8 -> "4".
# 51030419550512002?: 35+9+0+15+0+16+2+9+30+15+0+45+10+10+0+0+4 = 200, 200 mod 11 = 2 -> "X".
ID_ENDING_IN_4 = "510304196211081234"
ID_ENDING_IN_X = "51030419550512002X"


@pytest.mark.asyncio
async def test_a_wrong_final_x_is_refused(client: TestClient) -> None:
    body = await refused(client, id_number="51030419621108123X")
    assert (body["error"], body["field"]) == ("invalid_id_number", "id_number")
    assert (await refused(client, id_number="51030419621108123x"))["error"] == "invalid_id_number"
    assert (await refused(client, id_number="510304195505120021"))["error"] == "invalid_id_number"


@pytest.mark.asyncio
async def test_right_check_characters_are_accepted(client: TestClient) -> None:
    await create(client, key="four", id_number=ID_ENDING_IN_4)
    await create(client, key="x", id_number=ID_ENDING_IN_X, phone="13987654321")
    await create(
        client,
        key="lower-x",
        id_number=ID_ENDING_IN_X.lower(),
        phone="13987654322",
        service_type="temporary_relief",  # the same person: another service
    )


@pytest.mark.asyncio
async def test_an_elderly_card_for_a_child_is_refused(client: TestClient) -> None:
    body = await refused(client, id_number="510304201001010001")  # born 2010
    assert (body["error"], body["field"]) == ("not_eligible", "id_number")
    # The same person may apply for the services that have no age rule.
    await create(client, id_number="510304201001010001", service_type="temporary_relief")


@pytest.mark.asyncio
async def test_the_elderly_card_age_is_counted_on_the_application_day(
    client: TestClient, clock: FakeClock
) -> None:
    # Born 1966-12-01 (check character worked out as above: sum 172, mod 11 = 7 -> "5").
    born_1966_12_01 = "510304196612010015"
    clock.now = datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc)  # 23:59 in Zigong
    assert (await refused(client, id_number=born_1966_12_01))["error"] == "not_eligible"
    clock.now = datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)  # 1 December, 00:00
    await create(client, id_number=born_1966_12_01)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "township",
    ["Atlantis<script>alert(1)</script>", "自流井区", "牛佛", "永嘉乡", "大安区", ""],
)
async def test_places_outside_the_districts_15_units_are_refused(
    client: TestClient, township: str
) -> None:
    body = await refused(client, township=township)
    assert (body["error"], body["field"]) == ("invalid_field", "township")
    assert "Atlantis" not in str(body)


@pytest.mark.asyncio
async def test_every_unit_of_the_district_is_accepted(client: TestClient) -> None:
    units = [
        "大安街道", "龙井街道", "马冲口街道", "凉高山街道", "和平街道", "凤凰街道",
        "大山铺镇", "团结镇", "三多寨镇", "何市镇", "新店镇", "新民镇", "牛佛镇", "庙坝镇",
        "回龙镇",
    ]  # fmt: skip
    for index, unit in enumerate(units):
        await create(
            client, key=f"unit-{index}", township=unit, id_number=resident_id_number(index)
        )
    response = await client.post(
        "/staff/applications/search", json={"limit": 200}, headers=STAFF_HEADERS
    )
    assert sorted(item["township"] for item in (await response.json())["applications"]) == sorted(
        units
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("channel", "conversation_id"),
    [
        ("x", "x:1"),
        ("REST", "REST:1"),
        ("wechat", "rest:someone"),  # another channel's conversation
        ("wechat", "wechat:"),
        ("wechat", "wechatopenid"),
        ("socketio", "socketio:\u0000"),
    ],
)
async def test_unknown_channels_and_foreign_conversations_are_refused(
    client: TestClient, channel: str, conversation_id: str
) -> None:
    body = await refused(client, channel=channel, conversation_id=conversation_id)
    assert body["error"] == "invalid_field"
    assert body["field"] in {"channel", "conversation_id"}


@pytest.mark.asyncio
@pytest.mark.parametrize("channel", ["rest", "socketio", "wechat"])
async def test_each_channel_with_its_own_conversations(client: TestClient, channel: str) -> None:
    await create(client, channel=channel, conversation_id=f"{channel}:resident-1")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("service_type", "details", "field"),
    [
        ("subsistence_allowance", {}, "details.household_size"),
        ("subsistence_allowance", {"household_size": 0}, "details.household_size"),
        ("subsistence_allowance", {"household_size": 21}, "details.household_size"),
        ("subsistence_allowance", {"household_size": "3"}, "details.household_size"),
        ("subsistence_allowance", {"household_size": True}, "details.household_size"),
        ("subsistence_allowance", {"household_size": 2.5}, "details.household_size"),
        ("housing_renovation", {"house_condition": " "}, "details.house_condition"),
        ("housing_renovation", {"house_condition": "裂" * 301}, "details.house_condition"),
        ("temporary_relief", {"house_condition": "漏雨"}, "details.house_condition"),
        ("temporary_relief", {}, "details.incident"),
        ("elderly_card", {"proxy": False}, "details.proxy"),
        ("elderly_card", None, "details"),
    ],
)
async def test_each_service_gets_exactly_its_details(
    client: TestClient, service_type: str, details: Any, field: str
) -> None:
    body = await refused(client, service_type=service_type, details=details)
    assert (body["error"], body["field"]) == ("invalid_field", field)


@pytest.mark.asyncio
@pytest.mark.parametrize("service_type", sorted(DETAILS))
async def test_each_service_with_its_details_is_stored(
    client: TestClient, service_type: str
) -> None:
    number = (await create(client, service_type=service_type))["tracking_number"]
    response = await client.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)
    assert (await response.json())["details"] == DETAILS[service_type]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["王", "Wang Xiuying", "王秀英<b>", "王 秀英", "·王", "王·"])
async def test_names_are_chinese_characters(client: TestClient, name: str) -> None:
    body = await refused(client, applicant_name=name)
    assert body["field"] == "applicant_name"


@pytest.mark.asyncio
async def test_minority_names_with_a_dot_are_accepted(client: TestClient) -> None:
    await create(client, applicant_name="阿依古丽·买买提")


@pytest.mark.asyncio
@pytest.mark.parametrize("notice", [None, "", "2026 11", "x" * 33, 202611])
async def test_a_create_without_the_privacy_notice_shown_is_refused(
    client: TestClient, notice: Any
) -> None:
    body = application_body()
    if notice is None:
        del body["privacy_notice"]
    else:
        body["privacy_notice"] = notice
    response = await client.post(
        "/applications", json=body, headers={**SERVICE_HEADERS, "Idempotency-Key": "k"}
    )
    assert response.status == 400
    assert (await response.json())["field"] == "privacy_notice"


@pytest.mark.asyncio
async def test_the_privacy_notice_is_stored_with_the_application(client: TestClient) -> None:
    number = (await create(client, privacy_notice="2026-11"))["tracking_number"]
    response = await client.get(f"/staff/applications/{number}", headers=STAFF_HEADERS)
    assert (await response.json())["privacy_notice"] == "2026-11"
