"""Validation of request bodies. The caller is never trusted, even the action server.

The store checks its own rules on every application, whoever sends it: the service
type and exactly the details it requires, the applicant's age for the elderly card, one
of the district's places, a known channel and a conversation id of that channel, the ID
number's check character and a mainland mobile number (backend/contract.py reads the
shared lists from backend/openapi.yaml).

The elderly card's age rule is the national one: residents aged 60 and over
(shared/reference/policy_facts.md; Sichuan's own rule was not found), counted on the
application's local day from the birth date in the ID number.

Error messages name the field but never repeat its value: values are personal data.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from backend.contract import (
    APPLICANT_NAME,
    CHANNELS,
    CONVERSATION_ID_MAX_LENGTH,
    DETAILS,
    PRIVACY_NOTICE,
    PRIVACY_NOTICE_MAX_LENGTH,
    SERVICE_TYPES,
    TOWNSHIPS,
)
from backend.errors import ApiError, invalid_field
from backend.lifecycle import STATUSES

ELDERLY_CARD = "elderly_card"
ELDERLY_CARD_MIN_AGE = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_ID_LAST4 = re.compile(r"[0-9]{3}[0-9X]")
_PROOF_NOISE = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class NewApplication:
    service_type: str
    applicant_name: str
    id_number: str
    phone: str
    township: str
    details: dict[str, Any]
    channel: str
    conversation_id: str
    privacy_notice: str

    def fingerprint_source(self) -> str:
        """A canonical text of the request, to detect a reused idempotency key."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Proof:
    kind: str  # "id_last4" or "phone"
    value: str


@dataclass(frozen=True)
class Transition:
    status: str
    note: str | None
    actor: str


@dataclass(frozen=True)
class Withdrawal:
    conversation_id: str
    proof: Proof | None  # not needed from the conversation that submitted the application


@dataclass(frozen=True)
class ApplicantSearch:
    id_number: str
    phone: str
    conversation_id: str


def age_on(birth_date: date, day: date) -> int:
    """Completed years on `day`; someone born on 29 February turns a year older on 1 March."""
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


def normalize_id_number(value: Any, field: str = "id_number") -> str:
    """18 characters, check character, a real birth date.

    Not `ric.validate`: it also requires the address code to have existed in the birth
    year, which rejects everyone in 大安区 (510304, created 1983) born before 1983, i.e.
    every elderly-card applicant.
    """
    if not isinstance(value, str):
        raise invalid_field(field, "身份证号码应为文本")
    number = ric.compact(unicodedata.normalize("NFKC", value)).upper()
    try:
        if not _ID_NUMBER.fullmatch(number) or number[-1] != ric.calc_check_digit(number):
            raise ValidationError()
        birth_date = ric.get_birth_date(number)
    except ValidationError as exc:
        raise ApiError(400, "invalid_id_number", "身份证号码无效", field=field) from exc
    if not date(1900, 1, 1) <= birth_date <= date.today():
        raise ApiError(400, "invalid_id_number", "身份证号码无效", field=field)
    return number


def normalize_phone(value: Any, field: str = "phone") -> str:
    """A mainland mobile number as its 11 national digits."""
    if not isinstance(value, str):
        raise invalid_field(field, "手机号码应为文本")
    try:
        parsed = phonenumbers.parse(unicodedata.normalize("NFKC", value), "CN")
    except phonenumbers.NumberParseException as exc:
        raise ApiError(400, "invalid_phone", "手机号码无效", field=field) from exc
    mobile_types = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if (
        parsed.country_code != 86
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed) not in mobile_types
    ):
        raise ApiError(400, "invalid_phone", "手机号码无效（需为大陆手机号）", field=field)
    return str(parsed.national_number)


def parse_proof(value: Any) -> Proof:
    """The last 4 characters of the ID number, or the full mobile number."""
    if not isinstance(value, str):
        raise ApiError(400, "invalid_proof", "请提供身份证号后4位或完整手机号")
    text = _PROOF_NOISE.sub("", unicodedata.normalize("NFKC", value)).upper()
    if _ID_LAST4.fullmatch(text):
        return Proof("id_last4", text)
    try:
        return Proof("phone", normalize_phone(text))
    except ApiError as exc:
        raise ApiError(400, "invalid_proof", "请提供身份证号后4位或完整手机号") from exc


def required_text(
    body: dict[str, Any],
    key: str,
    *,
    max_length: int,
    multiline: bool = False,
    field: str | None = None,
) -> str:
    """The trimmed text at `key`; `field` names it in errors when it is nested."""
    field = field or key
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid_field(field, f"{field} 不能为空")
    value = value.strip()
    if len(value) > max_length:
        raise invalid_field(field, f"{field} 过长（最多 {max_length} 个字符）")
    control = _CONTROL_MULTILINE if multiline else _CONTROL
    if control.search(value):
        raise invalid_field(field, f"{field} 含有控制字符")
    return value


def optional_text(
    body: dict[str, Any], field: str, *, max_length: int, multiline: bool = False
) -> str | None:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return required_text(body, field, max_length=max_length, multiline=multiline)


def json_object(body: Any, known: set[str]) -> dict[str, Any]:
    """The request body, if it is a JSON object with no fields but the known ones."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "请求体应为 JSON 对象")
    unknown = sorted(set(body) - known)
    if unknown:
        raise invalid_field(unknown[0], "含有未知字段")
    return body


def conversation_id(value: Any, field: str = "conversation_id") -> str:
    """`<channel>:<the channel's own id>`, the channel one the store knows."""
    if not isinstance(value, str) or len(value) > CONVERSATION_ID_MAX_LENGTH:
        raise invalid_field(field, f"{field} 应为不超过 {CONVERSATION_ID_MAX_LENGTH} 个字符的文本")
    channel, separator, own_id = value.partition(":")
    if channel not in CHANNELS or not separator or not own_id or _CONTROL.search(own_id):
        raise invalid_field(field, f"{field} 应为“渠道名:会话号”，渠道为 {'、'.join(CHANNELS)}")
    return value


def _choice(body: dict[str, Any], field: str, choices: tuple[str, ...], message: str) -> str:
    value = body.get(field)
    if value not in choices:
        raise invalid_field(field, message)
    return value


def _applicant_name(body: dict[str, Any]) -> str:
    name = required_text(body, "applicant_name", max_length=50)
    if not APPLICANT_NAME.fullmatch(name) or len(name) < 2:
        raise invalid_field("applicant_name", "姓名应为汉字（少数民族姓名可用 · 分隔）")
    return name


def _details(service_type: str, value: Any) -> dict[str, Any]:
    """Exactly the details the service requires, each within its bounds."""
    if not isinstance(value, dict):
        raise invalid_field("details", "details 应为 JSON 对象")
    fields = DETAILS[service_type]
    unknown = sorted(set(value) - {item.name for item in fields})
    if unknown:
        raise invalid_field(f"details.{unknown[0]}", "该业务不需要此项")
    details: dict[str, Any] = {}
    for item in fields:
        name = f"details.{item.name}"
        entry = value.get(item.name)
        if item.kind == "integer":
            if isinstance(entry, bool) or not isinstance(entry, int):
                raise invalid_field(name, f"{name} 应为整数")
            if not item.minimum <= entry <= item.maximum:
                raise invalid_field(name, f"{name} 应在 {item.minimum} 到 {item.maximum} 之间")
            details[item.name] = entry
        else:
            details[item.name] = required_text(
                value, item.name, max_length=item.maximum, multiline=True, field=name
            )
    return details


def _privacy_notice(body: dict[str, Any]) -> str:
    value = body.get("privacy_notice")
    if (
        not isinstance(value, str)
        or len(value) > PRIVACY_NOTICE_MAX_LENGTH
        or not PRIVACY_NOTICE.fullmatch(value)
    ):
        raise invalid_field("privacy_notice", "需要居民已阅读的隐私告知版本（如 2026-11）")
    return value


def parse_new_application(body: Any, today: date) -> NewApplication:
    """A create request checked against the contract; `today` is the local day of the
    application, on which an elderly-card applicant must be 60 or over."""
    body = json_object(body, set(NewApplication.__dataclass_fields__))
    service_type = _choice(body, "service_type", SERVICE_TYPES, "未知的业务类型")
    id_number = normalize_id_number(body.get("id_number"))
    if (
        service_type == ELDERLY_CARD
        and age_on(ric.get_birth_date(id_number), today) < ELDERLY_CARD_MIN_AGE
    ):
        raise ApiError(
            400,
            "not_eligible",
            f"老年人优待证需年满 {ELDERLY_CARD_MIN_AGE} 周岁",
            field="id_number",
        )
    channel = _choice(body, "channel", CHANNELS, f"渠道应为 {'、'.join(CHANNELS)} 之一")
    conversation = conversation_id(body.get("conversation_id"))
    if not conversation.startswith(f"{channel}:"):
        raise invalid_field("conversation_id", "会话号应以渠道名和冒号开头")
    return NewApplication(
        service_type=service_type,
        applicant_name=_applicant_name(body),
        id_number=id_number,
        phone=normalize_phone(body.get("phone")),
        township=_choice(body, "township", TOWNSHIPS, "应为大安区的街道或镇（全称）"),
        details=_details(service_type, body.get("details")),
        channel=channel,
        conversation_id=conversation,
        privacy_notice=_privacy_notice(body),
    )


def parse_transition(body: Any) -> Transition:
    body = json_object(body, {"status", "note", "actor"})
    status = body.get("status")
    if status not in STATUSES:
        raise invalid_field("status", "未知的状态")
    return Transition(
        status=status,
        note=optional_text(body, "note", max_length=500, multiline=True),
        actor=required_text(body, "actor", max_length=64),
    )


def parse_withdrawal(body: Any) -> Withdrawal:
    body = json_object(body, {"conversation_id", "proof"})
    proof = body.get("proof")
    return Withdrawal(
        conversation_id=conversation_id(body.get("conversation_id")),
        proof=None if proof is None else parse_proof(proof),
    )


def parse_applicant_search(body: Any) -> ApplicantSearch:
    body = json_object(body, {"id_number", "phone", "conversation_id"})
    return ApplicantSearch(
        id_number=normalize_id_number(body.get("id_number")),
        phone=normalize_phone(body.get("phone")),
        conversation_id=conversation_id(body.get("conversation_id")),
    )
