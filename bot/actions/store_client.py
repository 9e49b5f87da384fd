"""The action server's client for the status store — its only way to reach the store.

Configuration (environment): STORE_URL (default http://127.0.0.1:5100),
STORE_SERVICE_TOKEN, STORE_TIMEOUT_SECONDS (default 5).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

DEFAULT_URL = "http://127.0.0.1:5100"
DEFAULT_TIMEOUT_SECONDS = 5.0


class StoreError(Exception):
    """Base of the errors raised by StoreClient."""


class StoreUnavailable(StoreError):
    """The store could not answer: connection error, timeout or a 5xx response.

    Safe to retry; a create retried with the same idempotency key is not duplicated.
    """


class StoreRejected(StoreError):
    """The store refused the request (4xx). `code` is the store's error code."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: Mapping[str, Any] = details or {}


@dataclass(frozen=True)
class CreatedApplication:
    tracking_number: str
    status: str
    status_label: str
    created_at: str
    replayed: bool


@dataclass(frozen=True)
class HistoryEntry:
    status: str
    status_label: str
    changed_at: str
    note: str | None


@dataclass(frozen=True)
class ApplicationSummary:
    tracking_number: str
    service_type: str
    service_label: str
    status: str
    status_label: str
    status_changed_at: str
    created_at: str
    township: str
    applicant_name: str  # masked, e.g. 王*英


@dataclass(frozen=True)
class ApplicationStatus(ApplicationSummary):
    """An application as its applicant may see it; personal data arrives masked."""

    id_number: str
    phone: str
    history: tuple[HistoryEntry, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApplicationStatus:
        applicant = data["applicant"]
        return cls(
            tracking_number=data["tracking_number"],
            service_type=data["service_type"],
            service_label=data["service_label"],
            status=data["status"],
            status_label=data["status_label"],
            status_changed_at=data["status_changed_at"],
            created_at=data["created_at"],
            township=data["township"],
            applicant_name=applicant["name"],
            id_number=applicant["id_number"],
            phone=applicant["phone"],
            history=tuple(HistoryEntry(**entry) for entry in data["history"]),
        )


class StoreClient:
    """Async client; create one per action server and close it on shutdown."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not token:
            raise ValueError("the status store's service token is empty (STORE_SERVICE_TOKEN)")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreClient:
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("STORE_URL") or DEFAULT_URL,
            token=env.get("STORE_SERVICE_TOKEN", ""),
            timeout_seconds=float(env.get("STORE_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS),
        )

    async def __aenter__(self) -> StoreClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def create_application(
        self,
        *,
        service_type: str,
        applicant_name: str,
        id_number: str,
        phone: str,
        township: str,
        channel: str,
        conversation_id: str,
        idempotency_key: str,
        details: Mapping[str, Any] | None = None,
    ) -> CreatedApplication:
        """Submit an application; the same idempotency key never creates a second one."""
        data = await self._request(
            "POST",
            "/applications",
            json={
                "service_type": service_type,
                "applicant_name": applicant_name,
                "id_number": id_number,
                "phone": phone,
                "township": township,
                "details": dict(details or {}),
                "channel": channel,
                "conversation_id": conversation_id,
            },
            headers={"Idempotency-Key": idempotency_key},
        )
        return CreatedApplication(**data)

    async def lookup(
        self, tracking_number: str, proof: str, conversation_id: str
    ) -> ApplicationStatus | None:
        """The application, or None when the number is unknown or the proof is wrong.

        The store does not say which of the two it was. Too many failures raise
        StoreRejected with code "too_many_attempts" (details["retry_after"] in seconds).
        """
        try:
            data = await self._request(
                "POST",
                "/applications/lookup",
                json={
                    "tracking_number": tracking_number,
                    "proof": proof,
                    "conversation_id": conversation_id,
                },
            )
        except StoreRejected as error:
            if error.code == "not_found":
                return None
            raise
        return ApplicationStatus.from_json(data)

    async def withdraw(
        self, tracking_number: str, conversation_id: str, proof: str | None = None
    ) -> ApplicationStatus:
        """Withdraw an application that has not been decided yet; returns it withdrawn.

        The conversation that submitted it needs no proof; any other one needs the
        lookup's proof. Refusals raise StoreRejected with code "not_found" (unknown
        number or wrong proof, the store does not say which), "not_withdrawable"
        (details["current_status"], "withdrawn" when it already is, and its Chinese
        label details["current_status_label"]) or "too_many_attempts"
        (details["retry_after"] in seconds).
        """
        body = {"conversation_id": conversation_id}
        if proof is not None:
            body["proof"] = proof
        # Typed by the resident: quoted whole, so that no character can change the path.
        path = f"/applications/{quote(tracking_number, safe='')}/withdraw"
        return ApplicationStatus.from_json(await self._request("POST", path, json=body))

    async def find_by_applicant(
        self, id_number: str, phone: str, conversation_id: str
    ) -> list[ApplicationStatus]:
        """The applications of this ID number given with this phone, newest first.

        Empty when none match both. Empty searches count as failed proofs: too many
        raise StoreRejected with code "too_many_attempts" (details["retry_after"]).
        """
        data = await self._request(
            "POST",
            "/applications/find",
            json={"id_number": id_number, "phone": phone, "conversation_id": conversation_id},
        )
        return [ApplicationStatus.from_json(item) for item in data["applications"]]

    async def list_for_conversation(self, conversation_id: str) -> list[ApplicationSummary]:
        data = await self._request(
            "GET", "/applications", params={"conversation_id": conversation_id}
        )
        return _summaries(data)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        if self._session is None:
            # Created lazily: a ClientSession must be made inside the running loop.
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            )
        try:
            async with self._session.request(
                method, self.base_url + path, json=json, params=params, headers=headers
            ) as response:
                if response.status >= 500:
                    raise StoreUnavailable(f"status store answered {response.status}")
                try:
                    data = await response.json(content_type=None)
                except ValueError as exc:
                    raise StoreUnavailable("status store sent a non-JSON response") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise StoreUnavailable(f"status store unreachable: {type(exc).__name__}") from exc
        if response.status >= 400:
            error = data if isinstance(data, dict) else {}
            raise StoreRejected(
                response.status,
                str(error.get("error", "unknown")),
                str(error.get("message", "")),
                {k: v for k, v in error.items() if k not in ("error", "message")},
            )
        return data


def _summaries(data: Mapping[str, Any]) -> list[ApplicationSummary]:
    return [ApplicationSummary(**item) for item in data["applications"]]


@functools.lru_cache(maxsize=1)
def shared_client() -> StoreClient:
    """The action server's one client (and connection pool), configured from the env."""
    return StoreClient.from_env()
