"""The store's request rules, one function at a time and without a database: every
boundary of the contract (backend/openapi.yaml) on both sides, the field each refusal
names and its message. ID numbers and their check characters are written out by hand
(GB 11643: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, sum mod 11 -> 1 0 X 9 8 7 6 5 4 3 2)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date, timedelta

import pytest

from backend.errors import ApiError
from backend.validation import (
    NewApplication,
    Proof,
    age_on,
    conversation_id,
    normalize_id_number,
    normalize_phone,
    parse_applicant_search,
    parse_new_application,
    parse_proof,
    parse_transition,
    parse_withdrawal,
)

CHECK = "10X98765432"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Born 12 March 1966: 59 on 11 March 2026, 60 on the 12th.
BORN_1966 = "510304196603120028"
CHILD = "510304201006010027"  # born 1 June 2010
APPLICATION_DAY = date(2026, 3, 12)


def gb11643(first17: str) -> str:
    """The whole number with its check character, computed here from the standard."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return first17 + CHECK[total % 11]


def refusal(call, *args) -> ApiError:
    with pytest.raises(ApiError) as error:
        call(*args)
    assert error.value.status == 400
    return error.value


def body(**changes: object) -> dict[str, object]:
    """A valid low-income application; `changes` replace or (with None) remove fields."""
    fields: dict[str, object] = {
        "service_type": "subsistence_allowance",
        "applicant_name": "王秀英",
        "id_number": "51030419550701102x",
        "phone": "+86 138 1234 5678",
        "township": "牛佛镇",
        "details": {"household_size": 3},
        "channel": "wechat",
        "conversation_id": "wechat:oAbC123",
        "privacy_notice": "2026-11",
    }
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


# --- ages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(1966, 3, 12), date(2026, 3, 11), 59),
        (date(1966, 3, 12), date(2026, 3, 12), 60),
        (date(1966, 3, 12), date(2026, 2, 28), 59),
        (date(1966, 3, 12), date(2026, 4, 1), 60),
        (date(1964, 2, 29), date(2024, 2, 28), 59),
        (date(1964, 2, 29), date(2024, 2, 29), 60),
        (date(1964, 2, 29), date(2025, 2, 28), 60),  # no 29th: a year older on 1 March
        (date(1964, 2, 29), date(2025, 3, 1), 61),
    ],
)
def test_age_in_completed_years(born: date, day: date, age: int) -> None:
    assert age_on(born, day) == age


# --- ID numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "51030419621108123X",  # check character 4, not X
        "510304195507011020",  # check character X, not 0
        "510304195507011021",
        "51030419621108123x",
    ],
)
def test_a_wrong_check_character_is_refused(raw: str) -> None:
    error = refusal(normalize_id_number, raw)
    assert (error.code, error.message, error.extra) == (
        "invalid_id_number",
        "身份证号码无效",
        {"field": "id_number"},
    )


def test_the_field_named_in_the_refusal_is_the_callers() -> None:
    assert refusal(normalize_id_number, "51030419621108123X", "applicant").extra == {
        "field": "applicant"
    }
    assert refusal(normalize_id_number, None, "applicant").extra == {"field": "applicant"}
    assert refusal(normalize_id_number, "510304189912310014", "applicant").extra == {
        "field": "applicant"
    }


@pytest.mark.parametrize("raw", [None, 510304196211081234, ["510304196211081234"]])
def test_an_id_number_must_be_text(raw: object) -> None:
    error = refusal(normalize_id_number, raw)
    assert (error.code, error.message, error.extra) == (
        "invalid_field",
        "身份证号码应为文本",
        {"field": "id_number"},
    )


def test_birth_dates_from_1900_to_today() -> None:
    assert normalize_id_number("510304190001010019") == "510304190001010019"
    error = refusal(normalize_id_number, "510304189912310014")  # 31 December 1899
    assert (error.code, error.message) == ("invalid_id_number", "身份证号码无效")
    today = gb11643(f"510304{date.today():%Y%m%d}002")
    assert normalize_id_number(today) == today
    tomorrow = gb11643(f"510304{date.today() + timedelta(days=1):%Y%m%d}002")
    assert refusal(normalize_id_number, tomorrow).code == "invalid_id_number"


def test_id_numbers_are_read_in_any_width_and_case_and_trimmed() -> None:
    assert normalize_id_number("５１０３０４１９５５０７０１１０２ｘ") == "51030419550701102X"
    assert normalize_id_number(" 51030419550701102x ") == "51030419550701102X"


# --- phones and proofs ---------------------------------------------------------------------


def test_phones() -> None:
    assert normalize_phone("+86 138 1234 5678") == "13812345678"
    assert normalize_phone("１３８１２３４５６７８") == "13812345678"
    error = refusal(normalize_phone, "x")  # not a number at all
    assert (error.code, error.message, error.extra) == (
        "invalid_phone",
        "手机号码无效",
        {"field": "phone"},
    )
    for raw in ("0813-2201234", "+852 5123 4567", "+1 650 253 0000"):
        error = refusal(normalize_phone, raw, "contact")
        assert (error.code, error.message, error.extra) == (
            "invalid_phone",
            "手机号码无效（需为大陆手机号）",
            {"field": "contact"},
        )
    error = refusal(normalize_phone, 13812345678)
    assert (error.code, error.message, error.extra) == (
        "invalid_field",
        "手机号码应为文本",
        {"field": "phone"},
    )


@pytest.mark.parametrize(
    ("raw", "proof"),
    [
        ("102x", Proof("id_last4", "102X")),
        (" 1 0-2 X ", Proof("id_last4", "102X")),
        ("１０２３", Proof("id_last4", "1023")),
        ("138-1234-5678", Proof("phone", "13812345678")),
        ("+86 13812345678", Proof("phone", "13812345678")),
    ],
)
def test_proofs(raw: str, proof: Proof) -> None:
    assert parse_proof(raw) == proof


@pytest.mark.parametrize("raw", ["X102", "102", "10234", "abcd", "", None, 1023])
def test_unusable_proofs(raw: object) -> None:
    error = refusal(parse_proof, raw)
    assert (error.code, error.message, error.extra) == (
        "invalid_proof",
        "请提供身份证号后4位或完整手机号",
        {},
    )


# --- conversation ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["rest:a", "socketio:x1", "wechat:oAbC", "rest:client:sender", "rest:" + "a" * 250]
)
def test_conversation_ids_of_known_channels(value: str) -> None:
    assert conversation_id(value) == value


@pytest.mark.parametrize("value", [None, 7, "rest:" + "a" * 251])
def test_conversation_ids_must_be_bounded_text(value: object) -> None:
    error = refusal(conversation_id, value, "cid")
    assert (error.code, error.message, error.extra) == (
        "invalid_field",
        "cid 应为不超过 255 个字符的文本",
        {"field": "cid"},
    )


@pytest.mark.parametrize(
    "value", ["sms:1", "rest", "rest:", ":x", "REST:x", "rest:a\x00", "rest:\x7f"]
)
def test_conversation_ids_name_a_channel_and_an_id(value: str) -> None:
    error = refusal(conversation_id, value)
    assert (error.code, error.message, error.extra) == (
        "invalid_field",
        "conversation_id 应为“渠道名:会话号”，渠道为 rest、socketio、wechat",
        {"field": "conversation_id"},
    )


# --- new applications ----------------------------------------------------------------------


def test_a_valid_application_is_normalised() -> None:
    application = parse_new_application(body(), APPLICATION_DAY)
    assert application == NewApplication(
        service_type="subsistence_allowance",
        applicant_name="王秀英",
        id_number="51030419550701102X",
        phone="13812345678",
        township="牛佛镇",
        details={"household_size": 3},
        channel="wechat",
        conversation_id="wechat:oAbC123",
        privacy_notice="2026-11",
    )
    assert application.fingerprint_source() == (
        '{"applicant_name": "王秀英", "channel": "wechat", "conversation_id": "wechat:oAbC123",'
        ' "details": {"household_size": 3}, "id_number": "51030419550701102X",'
        ' "phone": "13812345678", "privacy_notice": "2026-11",'
        ' "service_type": "subsistence_allowance", "township": "牛佛镇"}'
    )


def test_the_elderly_card_from_60() -> None:
    elderly = {"service_type": "elderly_card", "details": {}, "id_number": BORN_1966}
    assert parse_new_application(body(**elderly), APPLICATION_DAY).id_number == BORN_1966
    error = refusal(parse_new_application, body(**elderly), APPLICATION_DAY - timedelta(days=1))
    assert (error.code, error.message, error.extra) == (
        "not_eligible",
        "老年人优待证需年满 60 周岁",
        {"field": "id_number"},
    )
    # Other services have no age rule: a child's number is the applicant's business.
    assert parse_new_application(body(id_number=CHILD), APPLICATION_DAY).id_number == CHILD


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"service_type": "passport"}, "service_type", "未知的业务类型"),
        ({"service_type": None}, "service_type", "未知的业务类型"),
        ({"channel": "sms"}, "channel", "渠道应为 rest、socketio、wechat 之一"),
        ({"channel": "rest"}, "conversation_id", "会话号应以渠道名和冒号开头"),
        ({"conversation_id": "wechatx:o1"}, "conversation_id", None),
        ({"township": "Atlantis<script>"}, "township", "应为大安区的街道或镇（全称）"),
        ({"township": "牛佛"}, "township", "应为大安区的街道或镇（全称）"),
        ({"applicant_name": "王"}, "applicant_name", "姓名应为汉字（少数民族姓名可用 · 分隔）"),
        ({"applicant_name": "Wang Xiuying"}, "applicant_name", None),
        ({"applicant_name": "王" * 51}, "applicant_name", "applicant_name 过长（最多 50 个字符）"),
        ({"applicant_name": "  "}, "applicant_name", "applicant_name 不能为空"),
        ({"applicant_name": 12}, "applicant_name", "applicant_name 不能为空"),
        ({"privacy_notice": None}, "privacy_notice", "需要居民已阅读的隐私告知版本（如 2026-11）"),
        ({"privacy_notice": "2026 11"}, "privacy_notice", None),
        ({"privacy_notice": "1" * 33}, "privacy_notice", None),
        ({"privacy_notice": 202611}, "privacy_notice", None),
        ({"details": [3]}, "details", "details 应为 JSON 对象"),
        ({"details": {"household_size": 3, "x": 1}}, "details.x", "该业务不需要此项"),
        ({"details": {"household_size": True}}, "details.household_size", None),
        ({"details": {"household_size": "3"}}, "details.household_size", None),
        ({"details": {"household_size": 0}}, "details.household_size", None),
        ({"details": {"household_size": 21}}, "details.household_size", None),
        ({"details": {}}, "details.household_size", "details.household_size 应为整数"),
        ({"surprise": 1}, "surprise", "含有未知字段"),
    ],
)
def test_refused_applications_name_the_field(
    changes: dict[str, object], field: str, message: str | None
) -> None:
    error = refusal(parse_new_application, body(**changes), APPLICATION_DAY)
    assert (error.code, error.extra) == ("invalid_field", {"field": field})
    if message is not None:
        assert error.message == message


def test_household_size_bounds_in_the_message() -> None:
    error = refusal(parse_new_application, body(details={"household_size": 21}), APPLICATION_DAY)
    assert error.message == "details.household_size 应在 1 到 20 之间"
    for size in (1, 20):
        details = {"household_size": size}
        assert parse_new_application(body(details=details), APPLICATION_DAY).details == details


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("屋顶漏雨", "屋顶漏雨"),
        ("  墙裂了\n屋顶漏雨\t\r ", "墙裂了\n屋顶漏雨"),  # lines and tabs are kept, ends trimmed
        ("危" * 300, "危" * 300),
    ],
)
def test_free_text_details(text: str, stored: str) -> None:
    changes = {"service_type": "housing_renovation", "details": {"house_condition": text}}
    assert parse_new_application(body(**changes), APPLICATION_DAY).details == {
        "house_condition": stored
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("危" * 301, "details.house_condition 过长（最多 300 个字符）"),
        ("墙\x0b裂了", "details.house_condition 含有控制字符"),
        ("墙\x00裂了", "details.house_condition 含有控制字符"),
        (" ", "details.house_condition 不能为空"),
    ],
)
def test_unusable_free_text_details(text: str, message: str) -> None:
    changes = {"service_type": "housing_renovation", "details": {"house_condition": text}}
    error = refusal(parse_new_application, body(**changes), APPLICATION_DAY)
    assert (error.code, error.message, error.extra) == (
        "invalid_field",
        message,
        {"field": "details.house_condition"},
    )


def test_names_and_notices_within_their_bounds() -> None:
    for name in ("王英", "阿依·木合", "欧阳" + "娜" * 48):
        assert parse_new_application(body(applicant_name=name), APPLICATION_DAY).applicant_name == (
            name
        )
    for notice in ("2026-11", "v1.2_b", "1" * 32):
        assert parse_new_application(
            body(privacy_notice=notice), APPLICATION_DAY
        ).privacy_notice == (notice)


def test_elderly_card_takes_no_details() -> None:
    elderly = {"service_type": "elderly_card", "id_number": BORN_1966}
    assert parse_new_application(body(**elderly, details={}), APPLICATION_DAY).details == {}
    error = refusal(parse_new_application, body(**elderly, details={"x": 1}), APPLICATION_DAY)
    assert error.extra == {"field": "details.x"}


@pytest.mark.parametrize("raw", [[], "{}", None, 1])
def test_a_body_must_be_an_object(raw: object) -> None:
    error = refusal(parse_new_application, raw, APPLICATION_DAY)
    assert (error.code, error.message, error.extra) == ("invalid_json", "请求体应为 JSON 对象", {})


def test_the_first_unknown_field_in_order_is_named() -> None:
    error = refusal(parse_transition, {"status": "approved", "actor": "a", "zeta": 1, "alpha": 2})
    assert error.extra == {"field": "alpha"}


# --- transitions, withdrawals and searches -------------------------------------------------


def test_transitions() -> None:
    transition = parse_transition(
        {"status": "returned", "note": "  缺户口本\n请补交 ", "actor": " s1 "}
    )
    assert (transition.status, transition.note, transition.actor) == (
        "returned",
        "缺户口本\n请补交",
        "s1",
    )
    assert parse_transition({"status": "approved", "actor": "s1", "note": "  "}).note is None
    assert parse_transition({"status": "approved", "actor": "s1"}).note is None
    assert parse_transition({"status": "approved", "actor": "a" * 64}).actor == "a" * 64
    assert parse_transition({"status": "approved", "actor": "s", "note": "n" * 500}).note == (
        "n" * 500
    )


@pytest.mark.parametrize(
    ("transition", "field", "message"),
    [
        ({"status": "archived", "actor": "s1"}, "status", "未知的状态"),
        ({"status": "approved"}, "actor", "actor 不能为空"),
        ({"status": "approved", "actor": "a" * 65}, "actor", "actor 过长（最多 64 个字符）"),
        ({"status": "approved", "actor": "s\n1"}, "actor", "actor 含有控制字符"),
        (
            {"status": "approved", "actor": "s1", "note": "n" * 501},
            "note",
            "note 过长（最多 500 个字符）",
        ),
        ({"status": "approved", "actor": "s1", "note": "a\x1b"}, "note", "note 含有控制字符"),
        ({"status": "approved", "actor": "s1", "note": 5}, "note", "note 不能为空"),
    ],
)
def test_refused_transitions(transition: dict[str, object], field: str, message: str) -> None:
    error = refusal(parse_transition, transition)
    assert (error.code, error.message, error.extra) == ("invalid_field", message, {"field": field})


def test_withdrawals() -> None:
    assert parse_withdrawal({"conversation_id": "rest:a"}).proof is None
    withdrawal = parse_withdrawal({"conversation_id": "socketio:s", "proof": "102x"})
    assert (withdrawal.conversation_id, withdrawal.proof) == (
        "socketio:s",
        Proof("id_last4", "102X"),
    )
    assert refusal(parse_withdrawal, {"conversation_id": "rest:a", "proof": "1"}).code == (
        "invalid_proof"
    )
    assert refusal(parse_withdrawal, {"conversation_id": "x:a"}).extra == {
        "field": "conversation_id"
    }
    assert refusal(parse_withdrawal, {"conversation_id": "rest:a", "id_number": "1"}).extra == {
        "field": "id_number"
    }


def test_applicant_searches() -> None:
    search = parse_applicant_search(
        {"id_number": "51030419550701102x", "phone": "138 1234 5678", "conversation_id": "rest:a"}
    )
    assert (search.id_number, search.phone, search.conversation_id) == (
        "51030419550701102X",
        "13812345678",
        "rest:a",
    )
    wrong_x = {
        "id_number": "51030419621108123X",
        "phone": "13812345678",
        "conversation_id": "rest:a",
    }
    assert refusal(parse_applicant_search, wrong_x).code == "invalid_id_number"
    assert refusal(
        parse_applicant_search, {**wrong_x, "id_number": BORN_1966, "phone": "1"}
    ).code == ("invalid_phone")
    assert refusal(parse_applicant_search, {**wrong_x, "id_number": BORN_1966, "x": 1}).extra == {
        "field": "x"
    }


def test_checked_values_cannot_be_changed_afterwards() -> None:
    # What passed the rules is what gets stored: no later step can alter a checked value.
    checked = [
        parse_new_application(body(), APPLICATION_DAY),
        parse_proof("102x"),
        parse_transition({"status": "approved", "actor": "s1"}),
        parse_withdrawal({"conversation_id": "rest:a"}),
        parse_applicant_search(
            {"id_number": BORN_1966, "phone": "13812345678", "conversation_id": "rest:a"}
        ),
    ]
    for value in checked:
        with pytest.raises(FrozenInstanceError):
            value.conversation_id = "wechat:someone-else"  # type: ignore[misc]
