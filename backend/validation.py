"""Validation of request bodies. The caller is never trusted, even the action server.

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

from backend.errors import ApiError, invalid_field
from backend.lifecycle import SERVICE_TYPES, STATUSES

MAX_DETAILS_BYTES = 4096
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
    body: dict[str, Any], field: str, *, max_length: int, multiline: bool = False
) -> str:
    value = body.get(field)
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
        raise invalid_field(unknown[0], f"未知字段 {unknown[0]}")
    return body


def parse_new_application(body: Any) -> NewApplication:
    body = json_object(body, set(NewApplication.__dataclass_fields__))
    service_type = body.get("service_type")
    if service_type not in SERVICE_TYPES:
        raise invalid_field("service_type", "未知的业务类型")
    details = body.get("details", {})
    if not isinstance(details, dict):
        raise invalid_field("details", "details 应为 JSON 对象")
    if len(json.dumps(details, ensure_ascii=False).encode()) > MAX_DETAILS_BYTES:
        raise invalid_field("details", f"details 过大（最多 {MAX_DETAILS_BYTES} 字节）")
    return NewApplication(
        service_type=service_type,
        applicant_name=required_text(body, "applicant_name", max_length=50),
        id_number=normalize_id_number(body.get("id_number")),
        phone=normalize_phone(body.get("phone")),
        township=required_text(body, "township", max_length=50),
        details=details,
        channel=required_text(body, "channel", max_length=32),
        conversation_id=required_text(body, "conversation_id", max_length=128),
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
        conversation_id=required_text(body, "conversation_id", max_length=128),
        proof=None if proof is None else parse_proof(proof),
    )


def parse_applicant_search(body: Any) -> ApplicantSearch:
    body = json_object(body, {"id_number", "phone", "conversation_id"})
    return ApplicantSearch(
        id_number=normalize_id_number(body.get("id_number")),
        phone=normalize_phone(body.get("phone")),
        conversation_id=required_text(body, "conversation_id", max_length=128),
    )
