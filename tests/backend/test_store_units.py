"""Pure parts of the store: configuration, masking, crypto, validation, lifecycle."""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from stdnum.cn import ric

from backend.config import REPO_ROOT, ConfigError, Settings
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.lifecycle import (
    ALLOWED_TRANSITIONS,
    NOTE_REQUIRED,
    STATUS_LABELS,
    STATUSES,
    can_transition,
)
from backend.throttling import ThrottlePolicy
from backend.tracking import format_tracking_number, local_day, normalize_tracking_number
from backend.validation import normalize_id_number, normalize_phone, parse_proof
from personaldata.logs import PersonalDataFilter
from personaldata.masks import mask_id_number, mask_name, mask_personal_data, mask_phone

KEY = Fernet.generate_key().decode()
ENV = {
    "STORE_SERVICE_TOKEN": "service-token-0123456789",
    "STORE_STAFF_TOKEN": "staff-token-0123456789",
    "STORE_ENCRYPTION_KEY": KEY,
    "STORE_HASH_KEY": "hash-key-0123456789",
}


# --- configuration -----------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = Settings.from_env(ENV)
    assert settings.database_url == f"sqlite:///{REPO_ROOT / 'var' / 'store.db'}"
    assert (settings.host, settings.port) == ("127.0.0.1", 5100)
    assert (settings.proof_max_failures, settings.proof_window_seconds) == (5, 86400)
    assert (settings.proof_backoff_base_seconds, settings.proof_backoff_max_seconds) == (2, 900)
    assert (settings.db_pool_size, settings.db_timeout_seconds) == (5, 5)
    assert settings.retention_days is None  # keep until the district confirms a period
    for secret in ENV.values():
        assert secret not in repr(settings)


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            **ENV,
            "DATABASE_URL": "postgresql://store@db.internal/store",
            "STORE_HOST": "0.0.0.0",
            "STORE_PORT": "5200",
            "STORE_PROOF_MAX_FAILURES": "3",
            "STORE_PROOF_WINDOW_SECONDS": "60",
        }
    )
    assert settings.database_url == "postgresql://store@db.internal/store"
    assert (settings.host, settings.port) == ("0.0.0.0", 5200)
    assert (settings.proof_max_failures, settings.proof_window_seconds) == (3, 60)


def test_relative_sqlite_paths_are_anchored_at_the_repository() -> None:
    settings = Settings.from_env({**ENV, "DATABASE_URL": "sqlite:///data/x.db"})
    assert Path(settings.database_url.removeprefix("sqlite:///")) == REPO_ROOT / "data" / "x.db"


@pytest.mark.parametrize("name", sorted(ENV))
def test_missing_secret_names_the_variable(name: str) -> None:
    env = {key: value for key, value in ENV.items() if key != name}
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"STORE_ENCRYPTION_KEY": "not-a-fernet-key-at-all"}, "STORE_ENCRYPTION_KEY"),
        ({"STORE_HASH_KEY": "short"}, "STORE_HASH_KEY"),
        ({"STORE_STAFF_TOKEN": ENV["STORE_SERVICE_TOKEN"]}, "STORE_STAFF_TOKEN"),
        ({"STORE_PORT": "http"}, "STORE_PORT"),
        ({"STORE_PROOF_MAX_FAILURES": "0"}, "STORE_PROOF_MAX_FAILURES"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
    ],
)
def test_unusable_settings_are_refused(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({**ENV, **overrides})


# --- masking and crypto --------------------------------------------------------------


def test_masks() -> None:
    assert mask_id_number("510304196211081234") == "5103**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("王秀英") == "王*英"
    assert mask_name("王英") == "王*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("王") == "*"


def test_encryption_round_trip_and_keyed_hash() -> None:
    cipher = FieldCipher(KEY, "hash-key-0123456789")
    token = cipher.encrypt("510304196211081234")
    assert "510304196211081234" not in token
    assert cipher.decrypt(token) == "510304196211081234"
    assert cipher.encrypt("x") != cipher.encrypt("x")  # randomised: equal values do not show
    digest = cipher.keyed_hash("phone", "13812345678")
    assert digest == cipher.keyed_hash("phone", "13812345678")
    assert digest != cipher.keyed_hash("id_number", "13812345678")
    assert digest != FieldCipher(KEY, "another-hash-key-0123").keyed_hash("phone", "13812345678")


def test_log_filter_masks_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("test_store_units.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("caller %s gave %s for DA202611270001", "13812345678", "510304196211081234")
        try:
            raise ValueError("bad id 51030419550701102X")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "138****5678" in output and "5103**********1234" in output
    assert "5103**********102X" in output
    assert "DA202611270001" in output
    for secret in ("13812345678", "510304196211081234", "51030419550701102X"):
        assert secret not in output


def test_mask_personal_data_leaves_other_numbers() -> None:
    assert mask_personal_data("DA202611270001 0813-1234567 2026") == (
        "DA202611270001 0813-1234567 2026"
    )


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("360426199101010071", "360426199101010071"),
        ("120103198806018241", "120103198806018241"),
        ("510304195003150026", "510304195003150026"),  # 大安区, born before 1983
        (" 51030419550701102x ", "51030419550701102X"),
        ("５１０３０４１９６２１１０８１２３４", "510304196211081234"),  # full-width
    ],
)
def test_valid_id_numbers(raw: str, expected: str) -> None:
    assert normalize_id_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "360426199101010072",  # check character
        "51030419621108123",  # 17 characters
        "510304199902301236",  # 30 February, valid check character
        "5103041962110812345",
        "",
    ],
)
def test_invalid_id_numbers(raw: str) -> None:
    with pytest.raises(ApiError) as error:
        normalize_id_number(raw)
    assert error.value.code == "invalid_id_number"
    assert not raw or raw not in error.value.message


def test_id_number_with_future_birth_date_is_invalid() -> None:
    base = f"510304{date.today().year + 1}0101001"
    with pytest.raises(ApiError):
        normalize_id_number(base + ric.calc_check_digit(base + "0"))


@pytest.mark.parametrize(
    "raw", ["13812345678", "+86 138 1234 5678", "138-1234-5678", "8613812345678"]
)
def test_valid_phones(raw: str) -> None:
    assert normalize_phone(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw", ["12345678901", "0813-2201234", "1381234567", "+1 650 253 0000", "x"]
)
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(ApiError) as error:
        normalize_phone(raw)
    assert error.value.code == "invalid_phone"


def test_proofs() -> None:
    assert parse_proof("102x") == parse_proof(" 102X")
    assert parse_proof("102X").kind == "id_last4"
    assert parse_proof("+86 13812345678").value == "13812345678"
    for raw in ("12", "abcd", "12345"):
        with pytest.raises(ApiError):
            parse_proof(raw)


# --- tracking numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "DA202611270001",
        "da202611270001",
        "DA 2026 1127 0001",
        "da-20261127-0001",
        "ＤＡ２０２６１１２７０００１",
    ],
)
def test_tracking_numbers_normalise(raw: str) -> None:
    assert normalize_tracking_number(raw) == "DA202611270001"


@pytest.mark.parametrize(
    "raw", ["DA20261127001", "DB202611270001", "DA202602300001", "DA202611270000"]
)
def test_malformed_tracking_numbers(raw: str) -> None:
    assert normalize_tracking_number(raw) is None


def test_tracking_date_is_the_local_date_in_china() -> None:
    late_evening_utc = datetime(2026, 11, 27, 17, 30, tzinfo=timezone.utc)  # 01:30 in Zigong
    assert format_tracking_number(local_day(late_evening_utc), 7) == "DA202611280007"


# --- lifecycle -------------------------------------------------------------------------


def test_statuses_and_labels_match_the_contract() -> None:
    assert STATUS_LABELS == {
        "submitted": "已提交",
        "township_review": "乡镇预审",
        "district_review": "区级审核",
        "approved": "已办结",
        "ready_for_pickup": "待领取",
        "collected": "已领取",
        "returned": "退回补正",
        "rejected": "不予受理",
        "withdrawn": "已撤回",
    }
    assert set(ALLOWED_TRANSITIONS) == set(STATUSES)
    assert {"returned", "rejected"} == NOTE_REQUIRED


def test_transition_rules() -> None:
    before_approval = {"submitted", "township_review", "district_review", "returned"}
    for status in STATUSES:
        assert can_transition(status, "withdrawn") == (status in before_approval)
        assert can_transition(status, "returned") == (
            status in {"township_review", "district_review"}
        )
    for terminal in ("collected", "rejected", "withdrawn"):
        assert not ALLOWED_TRANSITIONS[terminal]
    assert can_transition("returned", "township_review")
    assert not can_transition("submitted", "approved")


def test_several_encryption_keys_newest_first() -> None:
    newest = Fernet.generate_key().decode()
    settings = Settings.from_env({**ENV, "STORE_ENCRYPTION_KEY": f"{newest}, {KEY}"})
    cipher = FieldCipher(settings.encryption_key, "h" * 16)
    token = cipher.encrypt("王秀英")
    assert FieldCipher(newest, "h" * 16).decrypt(token) == "王秀英"
    assert cipher.decrypt(FieldCipher(KEY, "h" * 16).encrypt("旧")) == "旧"
    with pytest.raises(ConfigError, match="key 2"):
        Settings.from_env({**ENV, "STORE_ENCRYPTION_KEY": f"{newest},not-a-key"})


def test_the_backoff_doubles_and_is_capped() -> None:
    policy = ThrottlePolicy(
        max_failures=3,
        window=timedelta(days=1),
        backoff_base=timedelta(seconds=2),
        backoff_max=timedelta(seconds=900),
    )
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    # Waits after 3, 4, 5 … failures, worked out by hand: 2, 4, 8 … 512, then 900.
    expected = [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    for failures, wait in enumerate(expected, start=3):
        assert policy.subject_retry_after([now] * failures, now) == wait
    assert policy.subject_retry_after([now] * 2, now) == 0
    assert policy.subject_retry_after([now] * 10_000, now) == 900
    # Counted from the latest failure: 100 s after it, 412 s of 512 remain.
    assert policy.subject_retry_after([now] * 11, now + timedelta(seconds=100)) == 412


@pytest.mark.parametrize(
    "written",
    [
        "510304195503120042",
        "510304 19550312 0042",
        "510-304-1955-0312-0042",
        "ID510304195503120042",
        "５１０３０４１９５５０３１２００４２",
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 13812345678",
        "008613812345678",
        "１３８１２３４５６７８",
    ],
)
def test_numbers_are_masked_as_residents_write_them(written: str) -> None:
    """Spaced, dashed, full-width, prefixed: each leaves only its ends readable."""
    masked = mask_personal_data(f"我的号码是{written}，记一下")
    digits = sum(c.isdigit() for c in masked)
    assert "*" in masked and digits <= 11, masked
    assert masked.startswith("我的号码是") and masked.endswith("，记一下")
