"""The production profile: conversations in PostgreSQL, locks and the WeChat channel's
state in Redis, the store on PostgreSQL, two Rasa replicas — the same code as the
embedded default, configured by environment only."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psycopg2
import pytest
import redis
from cryptography.fernet import Fernet

from tests.conftest import ROOT
from tests.connectors.wechat_platform import SimulatedPlatform
from tests.e2e.production import fresh_databases, production_environment
from tests.e2e.rest import Resident, RestClient, post_json, tracking_number_in
from tests.e2e.test_handoff_flow import handed_to_a_person_and_back
from tests.servers import Stack, running_stack


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, ...]]:
    with fresh_databases("trackers", "store") as names:
        yield names


# An AppID of this run's own: the channel's Redis keys are per account.
WECHAT = {
    "WECHAT_TOKEN": "production-profile-token",
    "WECHAT_APP_ID": f"wx{uuid.uuid4().hex[:16]}",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_REDIS_URL": "redis://127.0.0.1:6379/0",
}
# The district's other system talking through the signed REST channel.
INTEGRATION = RestClient("hotline", uuid.uuid4().hex + uuid.uuid4().hex)


@pytest.fixture(scope="module")
def production(
    model_path: Path, databases: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    trackers, store = databases
    env = {
        **WECHAT,
        **production_environment(trackers, store, INTEGRATION),
        "WEBCHAT_ALLOWED_ORIGINS": "https://www.example.gov.cn",
    }
    folder = tmp_path_factory.mktemp("production")
    channels = (ROOT / "credentials.production.yml").read_text(encoding="utf-8")
    endpoints = ROOT / "endpoints.production.yml"
    try:
        with running_stack(folder, model_path, channels, env, endpoints, rasa_replicas=2) as stack:
            yield stack
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(f"wechat:{WECHAT['WECHAT_APP_ID']}:*"))
        if keys:
            client.delete(*keys)


def count(database: str, sql: str, value: str) -> int:
    with psycopg2.connect(f"host=127.0.0.1 user=postgres dbname={database}") as connection:
        cursor = connection.cursor()
        cursor.execute(sql, (value,))
        return cursor.fetchone()[0]


def redis_commands() -> int:
    return redis.Redis(host="127.0.0.1", port=6379).info("stats")["total_commands_processed"]


def test_an_application_is_kept_in_postgresql_with_redis_locks(
    production: Stack, databases: tuple[str, str]
):
    trackers, store = databases
    commands_before = redis_commands()
    resident = Resident(production, client=INTEGRATION)
    for text in ["我要办老年证", "王秀英", "510304195503120042", "13812345678", "牛佛"]:
        resident.say(text)
    tracking_number = tracking_number_in(resident.say("对的"))

    events = "SELECT count(*) FROM events WHERE sender_id = %s"
    assert count(trackers, events, resident.conversation_id) > 10
    # Stored encrypted: the ID number is nowhere in the events' data.
    in_clear = "SELECT count(*) FROM events WHERE data LIKE '%%' || %s || '%%'"
    assert count(trackers, in_clear, "510304195503120042") == 0
    assert "510304195503120042" in stored_user_texts(production, trackers, resident.conversation_id)
    applications = "SELECT count(*) FROM applications WHERE tracking_number = %s"
    assert count(store, applications, tracking_number) == 1
    # Each of the six messages took and released a conversation lock in Redis.
    assert redis_commands() - commands_before >= 6 * 2


def stored_user_texts(stack: Stack, database: str, sender: str) -> list[str]:
    """What the resident said, as stored: decrypted with the stack's tracker key."""
    cipher = Fernet(stack.env["RASA_TRACKER_KEY"])
    with psycopg2.connect(f"host=127.0.0.1 user=postgres dbname={database}") as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT data FROM events WHERE sender_id = %s AND type_name = 'user' ORDER BY id",
            (sender,),
        )
        rows = cursor.fetchall()
    return [json.loads(cipher.decrypt(data.encode()))["text"] for (data,) in rows]


async def test_wechat_residents_can_move_between_replicas(
    production: Stack, databases: tuple[str, str]
) -> None:
    trackers, _ = databases
    wechat = SimulatedPlatform(
        WECHAT["WECHAT_TOKEN"], WECHAT["WECHAT_APP_ID"], WECHAT["WECHAT_ENCODING_AES_KEY"]
    )
    first, second = (f"{url}/webhooks/wechat/webhook" for url in production.rasa_urls)
    openid = f"oReplicas{uuid.uuid4().hex[:19]}"

    async with aiohttp.ClientSession() as http:

        async def post(url: str, message: tuple[dict[str, str], bytes]) -> dict | None:
            query, body = message
            async with http.post(url, params=query, data=body) as response:
                return wechat.read_reply(await response.text())

        greeting = await post(first, wechat.text(openid, "你好", 1))
        assert "2. 查办件进度" in greeting["Content"]
        # The digit reaches the other replica, which knows the options offered.
        await post(second, wechat.text(openid, "2", 2))
        # The platform's retry of one message lands on both replicas at once.
        same = wechat.text(openid, "老年证咋个办", 3)
        replies = await asyncio.gather(post(first, same), post(second, same))

    texts = stored_user_texts(production, trackers, f"wechat:{openid}")
    assert texts == ["你好", "查进度", "老年证咋个办"]
    assert sum(bool(reply and reply.get("Content")) for reply in replies) == 1


def test_a_rest_digit_is_understood_on_the_other_replica(
    production: Stack, databases: tuple[str, str]
) -> None:
    trackers, _ = databases
    resident = Resident(production, client=INTEGRATION)
    resident.say("你好")  # the welcome menu, answered by the first replica
    second = f"{production.rasa_urls[1]}/webhooks/rest/webhook"
    assert post_json(second, {"sender": resident.sender, "message": "1"}, client=INTEGRATION)
    assert stored_user_texts(production, trackers, resident.conversation_id)[-1] == "办老年证"


async def test_a_handoff_silences_both_replicas_and_the_hand_back_resumes(
    production: Stack,
) -> None:
    # Each message goes to the other replica: the store alone decides where it goes.
    resident = Resident(production, client=INTEGRATION)
    await handed_to_a_person_and_back(production, resident, "production-staff")
