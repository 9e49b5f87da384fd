"""The store's operations without HTTP, on a migrated SQLite file and a clock the test
moves: idempotent creates and lookups by key, the proof (all four last characters, or
the phone), throttling by caller and by number with the owner never held back,
withdrawal, transitions and searches. Expected numbers, waits and texts are worked out
by hand from the contract (backend/openapi.yaml) and the policy (backend/throttling.py)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from backend.config import Settings
from backend.crypto import FieldCipher
from backend.db import create_async_db_engine, session_factory, upgrade_database
from backend.errors import ApiError
from backend.models import Application, ProofFailure, TrackingCounter
from backend.store import SearchFilters, Store
from backend.validation import NewApplication, Proof, Transition

ID_NUMBER, PHONE = "510304196211081234", "13812345678"
OTHER_ID, OTHER_PHONE = "51030419550701102X", "13987654321"
THIRD_ID = "510304194805200019"
# 04:00 UTC is noon in 大安区: the tracking numbers of this day are DA20261130….
START = datetime(2026, 11, 30, 4, 0, tzinfo=timezone.utc)
NOT_FOUND = ("not_found", "未找到该办件，或验证信息不匹配")
SETTINGS = dict(
    service_token="s" * 20,
    staff_token="t" * 20,
    encryption_key=Fernet.generate_key().decode(),
    hash_key="h" * 20,
    # 3 failures in 10 minutes; then 30 s, doubled per further failure, at most 8 min.
    proof_max_failures=3,
    proof_window_seconds=600,
    proof_backoff_base_seconds=30,
    proof_backoff_max_seconds=480,
)
NEW = NewApplication(
    service_type="subsistence_allowance",
    applicant_name="王秀英",
    id_number=ID_NUMBER,
    phone=PHONE,
    township="牛佛镇",
    details={"household_size": 3},
    channel="wechat",
    conversation_id="wechat:owner",
    privacy_notice="2026-11",
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Harness:
    """A store on its own database, run synchronously (no event-loop plugin needed)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = create_async_db_engine(url)
        self.clock = Clock()
        self.cipher = FieldCipher(SETTINGS["encryption_key"], SETTINGS["hash_key"])
        settings = Settings(database_url=url, **SETTINGS)
        self.store = Store(session_factory(self.engine), self.cipher, settings, self.clock)

    def run(self, call: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        return self.loop.run_until_complete(call(*args))

    def refused(self, call: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> ApiError:
        with pytest.raises(ApiError) as error:
            self.run(call, *args)
        return error.value

    def failures(self) -> int:
        async def count() -> int:
            async with session_factory(self.engine)() as session:
                return await session.scalar(select(func.count()).select_from(ProofFailure))

        return self.run(count)

    def execute(self, statement: Any) -> None:
        async def execute() -> None:
            async with session_factory(self.engine)() as session, session.begin():
                await session.execute(statement)

        self.run(execute)

    def create(self, key: str, **changes: Any) -> Application:
        application, created = self.run(self.store.create, replace(NEW, **changes), key)
        assert created
        return application

    def close(self) -> None:
        self.run(self.engine.dispose)
        self.loop.close()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def store(migrated: Path, tmp_path: Path) -> Iterator[Harness]:
    shutil.copy(migrated, tmp_path / "store.db")
    harness = Harness(f"sqlite:///{tmp_path / 'store.db'}")
    yield harness
    harness.close()


# --- creating, idempotency -----------------------------------------------------------------


def test_create_stores_the_application_encrypted_with_its_first_status(store: Harness) -> None:
    application = store.create("key-1")
    assert application.tracking_number == "DA202611300001"
    assert (application.status, application.service_type, application.township) == (
        "submitted",
        "subsistence_allowance",
        "牛佛镇",
    )
    assert (application.channel, application.conversation_id, application.privacy_notice) == (
        "wechat",
        "wechat:owner",
        "2026-11",
    )
    assert application.idempotency_key == "key-1"
    assert application.created_at == application.status_changed_at == START
    cipher = store.cipher
    assert cipher.decrypt(application.applicant_name_enc) == "王秀英"
    assert cipher.decrypt(application.id_number_enc) == ID_NUMBER
    assert cipher.decrypt(application.phone_enc) == PHONE
    assert cipher.decrypt_json(application.details_enc) == {"household_size": 3}
    assert application.id_number_hash == cipher.keyed_hash("id_number", ID_NUMBER)
    assert application.phone_hash == cipher.keyed_hash("phone", PHONE)
    [change] = application.history
    assert (change.from_status, change.to_status, change.actor, change.note) == (
        None,
        "submitted",
        "resident",
        None,
    )
    assert change.changed_at == START


def test_tracking_numbers_count_per_local_day(store: Harness) -> None:
    assert store.create("a").tracking_number == "DA202611300001"
    assert store.create("b", id_number=OTHER_ID).tracking_number == "DA202611300002"
    store.clock.advance(13 * 3600)  # 17:00 UTC is 01:00 on 1 December in 大安区
    assert store.create("c", id_number=THIRD_ID).tracking_number == "DA202612010001"


def test_the_last_number_of_a_day_and_then_none(store: Harness) -> None:
    store.create("a")
    store.execute(update(TrackingCounter).values(last_value=9998))
    assert store.create("b", id_number=OTHER_ID).tracking_number == "DA202611309999"
    error = store.refused(store.store.create, replace(NEW, id_number=THIRD_ID), "c")
    assert (error.status, error.code, error.message) == (
        503,
        "tracking_numbers_exhausted",
        "今日受理编号已用完，请明日再试",
    )


def test_the_same_key_replays_and_another_request_under_it_conflicts(store: Harness) -> None:
    first = store.create("key-1")
    again, created = store.run(store.store.create, NEW, "key-1")
    assert (again.tracking_number, created) == (first.tracking_number, False)
    error = store.refused(store.store.create, replace(NEW, phone=OTHER_PHONE), "key-1")
    assert (error.status, error.code, error.message) == (
        409,
        "idempotency_conflict",
        "该幂等键已用于另一份不同的申请",
    )


def test_a_second_open_application_of_one_person_is_accepted_and_flagged(
    store: Harness,
) -> None:
    first = store.create("a")
    # A relative, from another conversation with another phone: accepted as any other,
    # and marked for staff with the application it may repeat.
    relative = replace(NEW, phone=OTHER_PHONE, conversation_id="rest:son")
    second, created = store.run(store.store.create, relative, "b")
    assert (second.tracking_number, created) == ("DA202611300002", True)
    assert (first.possible_duplicate_of, second.possible_duplicate_of) == (
        None,
        first.tracking_number,
    )
    again, created = store.run(store.store.create, NEW, "a")  # its own key: a replay
    assert (again.tracking_number, created) == (first.tracking_number, False)
    assert store.failures() == 0
    assert store.create("c", service_type="elderly_card", details={}).possible_duplicate_of is None
    assert store.create("d", id_number=OTHER_ID).possible_duplicate_of is None


def test_a_closed_application_is_no_longer_named(store: Harness) -> None:
    number = store.create("a").tracking_number
    store.run(store.store.transition, number, Transition("township_review", None, "李科员"))
    store.run(store.store.transition, number, Transition("rejected", "不符合条件", "李科员"))
    assert store.create("b").possible_duplicate_of is None


def test_by_key_only_from_the_conversation_that_created_it(store: Harness) -> None:
    created = store.create("key-1")
    assert store.run(store.store.by_key, "key-1", "wechat:owner").id == created.id
    for key, conversation in (
        ("key-1", "wechat:other"),
        ("key-1", "rest:owner"),
        ("k2", "wechat:owner"),
    ):
        error = store.refused(store.store.by_key, key, conversation)
        assert (error.status, error.code, error.message) == (404, *NOT_FOUND)


# --- proofs --------------------------------------------------------------------------------


def test_the_proof_is_all_four_last_characters_or_the_phone(store: Harness) -> None:
    number = store.create("k").tracking_number
    for proof in (Proof("id_last4", "1234"), Proof("phone", PHONE)):
        assert store.run(store.store.lookup, number, proof, "rest:a").tracking_number == number
    for proof in (
        Proof("id_last4", "0234"),  # the last three right, the fourth wrong
        Proof("id_last4", "1235"),
        Proof("id_last4", "8123"),
        Proof("phone", OTHER_PHONE),
        Proof("phone", "1234"),
    ):
        error = store.refused(store.store.lookup, number, proof, "rest:b")
        assert (error.status, error.code, error.message) == (404, *NOT_FOUND)
        store.clock.advance(600)  # out of the window: each guess is judged on its own


def test_an_id_number_ending_in_x_is_proved_with_x(store: Harness) -> None:
    number = store.create("k", id_number=OTHER_ID).tracking_number
    assert store.run(store.store.lookup, number, Proof("id_last4", "102X"), "rest:a")
    error = store.refused(store.store.lookup, number, Proof("id_last4", "1020"), "rest:a")
    assert error.code == "not_found"


def test_unknown_numbers_are_not_found(store: Harness) -> None:
    error = store.refused(store.store.lookup, "DA202611309999", Proof("phone", PHONE), "rest:a")
    assert (error.status, error.code) == (404, "not_found")
    assert store.refused(store.store.get, "DA202611309999").code == "not_found"


# --- throttling ----------------------------------------------------------------------------


def test_a_caller_is_refused_after_three_failures_in_the_window(store: Harness) -> None:
    number = store.create("k").tracking_number
    wrong = Proof("id_last4", "0000")
    for _ in range(3):
        assert store.refused(store.store.lookup, number, wrong, "rest:guesser").code == "not_found"
        store.clock.advance(10)
    # Failures at 0, 10 and 20 s; now 30 s: the one at 0 leaves the window at 600 s.
    error = store.refused(store.store.lookup, number, Proof("phone", PHONE), "rest:guesser")
    assert (error.status, error.code, error.message) == (
        429,
        "too_many_attempts",
        "验证失败次数过多，请稍后再试",
    )
    assert (error.extra, error.headers) == ({"retry_after": 570}, {"Retry-After": "570"})
    assert store.failures() == 9  # three per caller, number and proof; the refused one is not
    store.clock.advance(570)
    assert store.run(store.store.lookup, number, Proof("phone", PHONE), "rest:guesser")


def test_a_number_backs_off_for_everyone_but_its_owner(store: Harness) -> None:
    number = store.create("k").tracking_number
    wrong = Proof("id_last4", "0000")
    for caller in ("rest:1", "rest:2", "rest:3"):
        assert store.refused(store.store.lookup, number, wrong, caller).code == "not_found"
        store.clock.advance(5)
    # Three failures, the latest 5 s ago: 30 s after it, 25 s from now.
    error = store.refused(store.store.lookup, number, Proof("phone", PHONE), "rest:4")
    assert (error.code, error.extra) == ("too_many_attempts", {"retry_after": 25})
    # The conversation that submitted it is not held back by others' failures.
    own = store.run(store.store.lookup, number, Proof("phone", PHONE), "wechat:owner")
    assert own.tracking_number == number
    store.clock.advance(25)
    assert store.run(store.store.lookup, number, Proof("phone", PHONE), "rest:4")


def test_a_success_forgets_only_its_own_attempt(store: Harness) -> None:
    number = store.create("k").tracking_number
    assert store.refused(store.store.lookup, number, Proof("phone", OTHER_PHONE), "rest:a")
    assert store.failures() == 3  # one row for the number, one for the caller, one for the proof
    assert store.run(store.store.lookup, number, Proof("phone", PHONE), "rest:b")
    assert store.failures() == 3


def test_failures_older_than_the_window_are_pruned(store: Harness) -> None:
    number = store.create("k").tracking_number
    store.refused(store.store.lookup, number, Proof("phone", OTHER_PHONE), "rest:a")
    store.clock.advance(600)
    store.refused(store.store.lookup, number, Proof("phone", OTHER_PHONE), "rest:b")
    assert store.failures() == 3


def test_searches_by_applicant_are_throttled_by_id_number(store: Harness) -> None:
    store.create("a")
    store.clock.advance(1)
    store.create("b", service_type="elderly_card", details={})
    found = store.run(store.store.find_by_applicant, ID_NUMBER, PHONE, "rest:a", 10)
    assert [item.idempotency_key for item in found] == ["b", "a"]  # newest first
    assert store.failures() == 0
    assert len(store.run(store.store.find_by_applicant, ID_NUMBER, PHONE, "rest:a", 1)) == 1
    for caller in ("rest:1", "rest:2", "rest:3"):
        assert store.run(store.store.find_by_applicant, ID_NUMBER, OTHER_PHONE, caller, 10) == []
    error = store.refused(store.store.find_by_applicant, ID_NUMBER, PHONE, "rest:4", 10)
    assert (error.code, error.extra) == ("too_many_attempts", {"retry_after": 30})
    # Another ID number is a subject of its own.
    assert store.run(store.store.find_by_applicant, OTHER_ID, PHONE, "rest:4", 10) == []


# --- withdrawal and transitions ------------------------------------------------------------


def test_the_owner_withdraws_without_proof_others_need_it(store: Harness) -> None:
    first = store.create("a").tracking_number
    second = store.create("b", service_type="elderly_card", details={}).tracking_number
    error = store.refused(store.store.withdraw, first, None, "rest:other")
    assert (error.status, error.code) == (404, "not_found")
    error = store.refused(store.store.withdraw, first, Proof("id_last4", "0234"), "rest:other")
    assert error.code == "not_found"
    store.clock.advance(60)
    withdrawn = store.run(store.store.withdraw, first, None, "wechat:owner")
    assert (withdrawn.status, withdrawn.status_changed_at) == (
        "withdrawn",
        START + timedelta(seconds=60),
    )
    change = withdrawn.history[-1]
    assert (change.from_status, change.to_status, change.actor, change.note) == (
        "submitted",
        "withdrawn",
        "resident",
        "居民撤回",
    )
    by_proof = store.run(store.store.withdraw, second, Proof("id_last4", "1234"), "rest:other")
    assert by_proof.status == "withdrawn"
    error = store.refused(store.store.withdraw, first, None, "wechat:owner")
    assert (error.status, error.code, error.message) == (409, "not_withdrawable", "该办件已撤回")
    assert error.extra == {"current_status": "withdrawn", "current_status_label": "已撤回"}


def test_a_decided_application_cannot_be_withdrawn(store: Harness) -> None:
    number = store.create("a").tracking_number
    for status in ("township_review", "district_review", "approved"):
        store.run(store.store.transition, number, Transition(status, None, "staff-1"))
    error = store.refused(store.store.withdraw, number, None, "wechat:owner")
    assert (error.status, error.code, error.message) == (
        409,
        "not_withdrawable",
        "该办件当前为“已办结”，已不能撤回",
    )
    assert error.extra == {"current_status": "approved", "current_status_label": "已办结"}
    assert store.refused(store.store.withdraw, "DA202611309999", None, "rest:a").code == "not_found"


def test_transitions_follow_the_lifecycle_and_record_who_and_why(store: Harness) -> None:
    number = store.create("a").tracking_number
    error = store.refused(store.store.transition, number, Transition("district_review", None, "s"))
    assert (error.status, error.code, error.message) == (
        409,
        "invalid_transition",
        "不能从“已提交”变更为“区级审核”",
    )
    assert error.extra == {
        "current_status": "submitted",
        "allowed": ["township_review", "withdrawn"],
    }
    store.run(store.store.transition, number, Transition("township_review", None, "s1"))
    error = store.refused(store.store.transition, number, Transition("returned", None, "s1"))
    assert (error.status, error.code, error.message, error.extra) == (
        400,
        "note_required",
        "变更为“退回补正”需要填写原因（note）",
        {"field": "note"},
    )
    store.clock.advance(30)
    returned = store.run(store.store.transition, number, Transition("returned", "缺户口本", "s2"))
    assert (returned.status, returned.status_changed_at) == (
        "returned",
        START + timedelta(seconds=30),
    )
    change = returned.history[-1]
    assert (change.from_status, change.to_status, change.actor, change.note) == (
        "township_review",
        "returned",
        "s2",
        "缺户口本",
    )
    assert [c.to_status for c in store.run(store.store.get, number).history] == [
        "submitted",
        "township_review",
        "returned",
    ]
    error = store.refused(
        store.store.transition, "DA202611309999", Transition("approved", None, "s")
    )
    assert error.code == "not_found"


# --- listing and searching -----------------------------------------------------------------


def test_listing_and_searching(store: Harness) -> None:
    store.create("a")
    store.clock.advance(1)
    store.create(
        "b",
        service_type="housing_renovation",
        details={"house_condition": "墙裂了"},
        township="回龙镇",
        conversation_id="wechat:other",
    )
    store.clock.advance(1)
    store.create(
        "c", service_type="elderly_card", details={}, id_number=OTHER_ID, phone=OTHER_PHONE
    )
    owner = store.run(store.store.list_for_conversation, "wechat:owner", 10)
    assert [item.idempotency_key for item in owner] == ["c", "a"]
    assert len(store.run(store.store.list_for_conversation, "wechat:owner", 1)) == 1

    def keys(limit: int = 10, offset: int = 0, **filters: str) -> tuple[list[str], int]:
        found, total = store.run(store.store.search, SearchFilters(**filters), limit, offset)
        return [item.idempotency_key for item in found], total

    assert keys() == (["c", "b", "a"], 3)
    assert keys(limit=1, offset=1) == (["b"], 3)
    assert keys(status="submitted", township="回龙镇") == (["b"], 1)
    assert keys(service_type="elderly_card") == (["c"], 1)
    assert keys(id_number=ID_NUMBER) == (["b", "a"], 2)
    assert keys(phone=OTHER_PHONE) == (["c"], 1)
    assert keys(status="approved") == ([], 0)


def test_withdrawals_are_throttled_like_lookups_but_never_the_owners(store: Harness) -> None:
    number = store.create("a").tracking_number
    for caller in ("rest:1", "rest:2", "rest:3"):
        wrong = Proof("id_last4", "0000")
        assert store.refused(store.store.withdraw, number, wrong, caller).code == "not_found"
    # Three failures on the number, the latest just now: 30 s for anyone else.
    error = store.refused(store.store.withdraw, number, Proof("id_last4", "1234"), "rest:4")
    assert (error.code, error.extra) == ("too_many_attempts", {"retry_after": 30})
    assert store.run(store.store.withdraw, number, None, "wechat:owner").status == "withdrawn"
