"""The contracts the store shares with the assistant, read from backend/openapi.yaml.

The OpenAPI document is their one source: service types and the details each requires,
channel names, the district's places, the tracking-number format and the privacy-notice
version format. The store validates against what is read here, and
tests/actions/test_store_contract.py checks the assistant's side against the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]


@dataclass(frozen=True)
class DetailField:
    """One field of an application's `details`: an integer or a text, with its bounds."""

    name: str
    kind: str  # "integer" or "string"
    minimum: int
    maximum: int


def _schema(reference: str) -> dict[str, Any]:
    return SCHEMAS[reference.rsplit("/", 1)[-1]]


def _detail_field(name: str, schema: dict[str, Any]) -> DetailField:
    if schema["type"] == "integer":
        return DetailField(name, "integer", schema["minimum"], schema["maximum"])
    return DetailField(name, "string", schema["minLength"], schema["maxLength"])


def _details_by_service() -> dict[str, tuple[DetailField, ...]]:
    mapping = SCHEMAS["NewApplication"]["discriminator"]["mapping"]
    details = {}
    for service, reference in mapping.items():
        schema = _schema(_schema(reference)["properties"]["details"]["$ref"])
        fields = schema.get("properties", {})
        if set(schema.get("required", ())) != set(fields):
            raise ValueError(f"{OPENAPI_PATH}: every detail of {service} must be required")
        details[service] = tuple(_detail_field(name, spec) for name, spec in fields.items())
    return details


SERVICE_TYPES: tuple[str, ...] = tuple(SCHEMAS["ServiceType"]["enum"])
DETAILS: dict[str, tuple[DetailField, ...]] = _details_by_service()
CHANNELS: tuple[str, ...] = tuple(SCHEMAS["Channel"]["enum"])
CAPTURE_REASONS: tuple[str, ...] = tuple(SCHEMAS["CaptureReason"]["enum"])
TOWNSHIPS: tuple[str, ...] = tuple(SCHEMAS["Township"]["enum"])
TRACKING_NUMBER = re.compile(SCHEMAS["TrackingNumber"]["pattern"])
PRIVACY_NOTICE = re.compile(SCHEMAS["PrivacyNotice"]["pattern"])
PRIVACY_NOTICE_MAX_LENGTH: int = SCHEMAS["PrivacyNotice"]["maxLength"]
APPLICANT_NAME = re.compile(SCHEMAS["ApplicantName"]["pattern"])
CONVERSATION_ID_MAX_LENGTH: int = SCHEMAS["ConversationId"]["maxLength"]

if set(DETAILS) != set(SERVICE_TYPES):
    raise ValueError(f"{OPENAPI_PATH}: the NewApplication mapping must name every service type")
