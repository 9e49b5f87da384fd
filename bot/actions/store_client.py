"""The action server's client for the status store — its only way to reach the store.

A hung store must never hold up the residents who do not need it: with the store
frozen, every turn that called it waited out the whole timeout, so Rasa's engine workers
were all busy waiting and a bystander's FAQ question took 29 s. Calls therefore have
short timeouts, and a circuit breaker stops calling a store that keeps failing: after
STORE_BREAKER_FAILURES consecutive failures (connection errors, timeouts, 5xx) every
call fails at once with StoreUnavailable, the resident hears the honest "unavailable"
answer, and after STORE_BREAKER_COOLDOWN_SECONDS one call is let through as a probe —
its success closes the breaker, its failure opens it for another cool-down.

Configuration (environment): STORE_URL (default http://127.0.0.1:5100),
STORE_SERVICE_TOKEN, STORE_TIMEOUT_SECONDS (default 3), STORE_CONNECT_TIMEOUT_SECONDS
(default 1), STORE_BREAKER_FAILURES (default 3), STORE_BREAKER_COOLDOWN_SECONDS
(default 15).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp

DEFAULT_URL = "http://127.0.0.1:5100"
# The store answers in tens of milliseconds; seconds mean it is in trouble, and a
# resident (and every turn queued behind theirs) should not wait for it.
DEFAULT_TIMEOUT_SECONDS = 3.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 1.0
DEFAULT_BREAKER_FAILURES = 3
DEFAULT_BREAKER_COOLDOWN_SECONDS = 15.0


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

    @classmethod
    def from_json(cls, data: Mapping[str, Any], replayed: bool = False) -> CreatedApplication:
        """The store may add fields; only these are read (`replayed` when it says so)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        return cls(**{"replayed": replayed, **values})


class CircuitBreaker:
    """Closed: calls go through. Open: they fail at once until the cool-down is over.
    Then one probe goes through (half-open) while the others still fail at once."""

    def __init__(
        self,
        failures_to_open: int = DEFAULT_BREAKER_FAILURES,
        cooldown_seconds: float = DEFAULT_BREAKER_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = max(1, failures_to_open)
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.cooldown_seconds:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raises StoreUnavailable instead of letting a call reach a failing store."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._probing:
            self._probing = True  # this call is the probe
            return
        raise StoreUnavailable("status store circuit open: not called")

    def succeeded(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def abandoned(self) -> None:
        """A call ended without an answer either way: a probe may be tried again."""
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failures_to_open:
            self._opened_at, self._probing = self._clock(), False


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


@dataclass(frozen=True)
class HandoffTicket:
    """Where the conversation stands after asking for a person (backend/handoff/states.py)."""

    state: str
    position: int | None  # place in the queue, 1 = next; None when not queued
    office_open: bool
    next_opening: datetime  # when staff are next at work (now, when they are)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HandoffTicket:
        return cls(
            state=data["state"],
            position=data["position"],
            office_open=data["office_open"],
            next_opening=datetime.fromisoformat(data["next_opening"]),
        )


class StoreClient:
    """Async client; create one per action server and close it on shutdown."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not token:
            raise ValueError("the status store's service token is empty (STORE_SERVICE_TOKEN)")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.connect_timeout_seconds = min(connect_timeout_seconds, timeout_seconds)
        self.breaker = breaker or CircuitBreaker()
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreClient:
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("STORE_URL") or DEFAULT_URL,
            token=env.get("STORE_SERVICE_TOKEN", ""),
            timeout_seconds=float(env.get("STORE_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS),
            connect_timeout_seconds=float(
                env.get("STORE_CONNECT_TIMEOUT_SECONDS") or DEFAULT_CONNECT_TIMEOUT_SECONDS
            ),
            breaker=CircuitBreaker(
                failures_to_open=int(env.get("STORE_BREAKER_FAILURES") or DEFAULT_BREAKER_FAILURES),
                cooldown_seconds=float(
                    env.get("STORE_BREAKER_COOLDOWN_SECONDS") or DEFAULT_BREAKER_COOLDOWN_SECONDS
                ),
            ),
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
        privacy_notice: str,
        details: Mapping[str, Any] | None = None,
    ) -> CreatedApplication:
        """Submit an application; the same idempotency key never creates a second one.

        `privacy_notice` is the version of the notice the resident was shown. A second
        application of one person and service is accepted like any other (the store
        flags it for staff).
        """
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
                "privacy_notice": privacy_notice,
            },
            headers={"Idempotency-Key": idempotency_key},
        )
        return CreatedApplication.from_json(data)

    async def find_by_key(
        self, idempotency_key: str, conversation_id: str
    ) -> CreatedApplication | None:
        """The application a create with this key made from this conversation, or None.

        Asked after a create whose answer never came (a timeout, a crash): it may have
        been committed all the same.
        """
        path = f"/applications/by-key/{quote(idempotency_key, safe='')}"
        try:
            data = await self._request("GET", path, params={"conversation_id": conversation_id})
        except StoreRejected as error:
            if error.code == "not_found":
                return None
            raise
        return CreatedApplication.from_json(data, replayed=True)

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

    async def request_handoff(
        self, conversation_id: str, reason: str, township: str | None
    ) -> HandoffTicket:
        """Queue the conversation for a person (`reason`: "asked" or "form_stopped");
        asking again while one is open returns that one."""
        body = {"conversation_id": conversation_id, "reason": reason, "township": township}
        return HandoffTicket.from_json(await self._request("POST", "/handoffs", json=body))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        self.breaker.before_call()
        try:
            data, status = await self._exchange(method, path, json, params, headers)
        except StoreUnavailable:
            self.breaker.failed()
            raise
        except BaseException:
            self.breaker.abandoned()  # cancelled: says nothing about the store
            raise
        self.breaker.succeeded()
        if status >= 400:
            error = data if isinstance(data, dict) else {}
            raise StoreRejected(
                status,
                str(error.get("error", "unknown")),
                str(error.get("message", "")),
                {k: v for k, v in error.items() if k not in ("error", "message")},
            )
        return data

    async def _exchange(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[Any, int]:
        """The decoded body and status of one request; StoreUnavailable if none came."""
        if self._session is None:
            # Created lazily: a ClientSession must be made inside the running loop.
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout_seconds, sock_connect=self.connect_timeout_seconds
                ),
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
        return data, response.status


def _summaries(data: Mapping[str, Any]) -> list[ApplicationSummary]:
    return [ApplicationSummary(**item) for item in data["applications"]]


@functools.lru_cache(maxsize=1)
def shared_client() -> StoreClient:
    """The action server's one client (and connection pool), configured from the env."""
    return StoreClient.from_env()
