"""Console accounts: argon2 password hashes, login throttling, sessions that can be ended.

Logins are throttled per account name and per client (backend/throttling.py): after
`login_max_failures` failures in the window each further try waits, doubling up to
`login_backoff_max_seconds`; the client limit is four times the account limit, because
behind a reverse proxy many staff share one address. Someone who knows a name could keep
its owner waiting that way, so a browser the account signed in with before carries a
device cookie (OWASP's "device cookies") and is throttled on its own failures only. A try
is recorded as a failure before the password is checked, so that concurrent guesses all
count.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.console.audit import Actor, add_entry
from backend.console.roles import ADMIN, ROLES
from backend.contract import TOWNSHIPS
from backend.crypto import FieldCipher
from backend.errors import ApiError, invalid_field
from backend.models import ProofFailure, StaffAccount
from backend.throttling import ThrottlePolicy

Clock = Callable[[], datetime]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
ACCOUNT_SCOPE = "login_account"
CLIENT_SCOPE = "login_client"
DEVICE_SCOPE = "login_device"
CLIENT_ALLOWANCE = 4
UNKNOWN_NAME = "（不存在的用户名）"
_HASHER = PasswordHasher()
# Verified when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("no such account, no such password")


@dataclass(frozen=True)
class Staff:
    """A signed-in account as the console uses it."""

    id: int
    username: str
    display_name: str
    role: str
    township: str | None
    active: bool
    session_epoch: int

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def place_label(self) -> str:
        return self.township or "全区"


class LoginRefused(Exception):
    """Wrong name or password (the same answer for both), or throttled."""

    def __init__(self, retry_after: int = 0) -> None:
        super().__init__("login refused")
        self.retry_after = retry_after


def _staff(row: StaffAccount) -> Staff:
    return Staff(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        township=row.township,
        active=row.active,
        session_epoch=row.session_epoch,
    )


def normalise_username(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lower()


def check_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise invalid_field("password", f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    if len(set(password)) < 4:
        raise invalid_field("password", "密码太简单，请混用不同的字符")
    return password


def check_new_account(
    username: str, display_name: str, role: str, township: str | None
) -> tuple[str, str]:
    name = normalise_username(username)
    if not 2 <= len(name) <= 64 or not all(c.isalnum() or c in "._-" for c in name):
        raise invalid_field("username", "用户名为 2–64 个字母、数字或 . _ -")
    display = display_name.strip()
    if not 1 <= len(display) <= 64:
        raise invalid_field("display_name", "请填写姓名（最多 64 个字）")
    if role not in ROLES:
        raise invalid_field("role", "未知的角色")
    if township is not None and township not in TOWNSHIPS:
        raise invalid_field("township", "不是大安区的乡镇（街道）")
    return name, display


class Accounts:
    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        policy: ThrottlePolicy,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._policy = policy
        self._client_policy = replace(policy, max_failures=policy.max_failures * CLIENT_ALLOWANCE)
        self._clock = clock

    async def create(
        self,
        username: str,
        display_name: str,
        password: str,
        role: str,
        township: str | None,
        by: Actor,
    ) -> Staff:
        name, display = check_new_account(username, display_name, role, township)
        password_hash = await asyncio.to_thread(_HASHER.hash, check_password(password))
        now = self._clock()
        account = StaffAccount(
            username=name,
            display_name=display,
            password_hash=password_hash,
            role=role,
            township=township,
            active=True,
            session_epoch=0,
            created_at=now,
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(account)
                await session.flush()
                add_entry(session, by, "account_created", now, target=f"account:{account.id}")
        except IntegrityError:
            raise ApiError(409, "username_taken", "这个用户名已经有人用了") from None
        return _staff(account)

    async def count(self) -> int:
        async with self._sessions() as session:
            return len((await session.scalars(select(StaffAccount.id))).all())

    async def login(
        self, username: str, password: str, client: Actor, device: str | None = None
    ) -> Staff:
        """The account, if the name and password match; LoginRefused otherwise.

        `device` is the nonce of a device cookie this account signed in with before
        (backend/console/security.py): such a browser is throttled on its own failures
        only, so that nobody who knows a staff member's name can keep them out.
        """
        name = normalise_username(username)
        now = self._clock()
        failures = self._attempt(name, client, device, now)
        async with self._sessions() as session:
            async with session.begin():
                session.add_all(row for row, _ in failures)
            async with session.begin():
                retry_after = await self._retry_after(session, failures, now)
                account = await session.scalar(
                    select(StaffAccount).where(StaffAccount.username == name)
                )
                if retry_after:
                    await self._forget(session, failures)
                    tried = name if account is not None else UNKNOWN_NAME
                    add_entry(session, client, "login_throttled", now, target=f"user:{tried}")
                stored_hash = _DUMMY_HASH if account is None else account.password_hash
            if retry_after:
                raise LoginRefused(retry_after)
            # Outside any transaction: hashing takes a while and holds no lock.
            matches = await asyncio.to_thread(_verify, stored_hash, password)
            async with session.begin():
                account = None if account is None else await session.get(StaffAccount, account.id)
                if account is None or not matches or not account.active:
                    # A name no account has may be a password typed in the wrong box.
                    tried = name if account is not None else UNKNOWN_NAME
                    add_entry(session, client, "login_failed", now, target=f"user:{tried}")
                    failed = True
                else:
                    failed = False
                    await self._forget(session, failures)
                    account.last_login_at = now
                    add_entry(
                        session, Actor(account.id, account.username, client.client), "login", now
                    )
                    staff = _staff(account)
            if failed:
                raise LoginRefused()
            return staff

    async def current(self, account_id: int, epoch: int) -> Staff | None:
        """The account of a session, unless it was disabled or its sessions ended."""
        async with self._sessions() as session:
            account = await session.get(StaffAccount, account_id)
        if account is None or not account.active or account.session_epoch != epoch:
            return None
        return _staff(account)

    async def get(self, account_id: int) -> Staff:
        async with self._sessions() as session:
            account = await session.get(StaffAccount, account_id)
        if account is None:
            raise ApiError(404, "not_found", "没有这个账号")
        return _staff(account)

    async def all(self) -> list[Staff]:
        async with self._sessions() as session:
            rows = await session.scalars(select(StaffAccount).order_by(StaffAccount.username))
            return [_staff(row) for row in rows.all()]

    async def end_sessions(self, account_id: int, by: Actor, action: str = "logout") -> None:
        await self._change(account_id, by, action)

    async def set_active(self, account_id: int, active: bool, by: Actor) -> None:
        action = "account_enabled" if active else "account_disabled"
        await self._change(account_id, by, action, active=active)

    async def set_password(
        self, account_id: int, password: str, by: Actor, action: str = "password_reset"
    ) -> None:
        password_hash = await asyncio.to_thread(_HASHER.hash, check_password(password))
        await self._change(account_id, by, action, password_hash=password_hash)

    async def verify_password(self, account_id: int, password: str) -> bool:
        async with self._sessions() as session:
            account = await session.get(StaffAccount, account_id)
        return account is not None and await asyncio.to_thread(
            _verify, account.password_hash, password
        )

    async def _change(self, account_id: int, by: Actor, action: str, **values: object) -> None:
        """Apply a change and end the account's sessions, recorded in one transaction."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(StaffAccount)
                .where(StaffAccount.id == account_id)
                .values(session_epoch=StaffAccount.session_epoch + 1, **values)
            )
            if result.rowcount != 1:
                raise ApiError(404, "not_found", "没有这个账号")
            add_entry(session, by, action, self._clock(), target=f"account:{account_id}")

    def _attempt(
        self, name: str, client: Actor, device: str | None, now: datetime
    ) -> list[tuple[ProofFailure, ThrottlePolicy]]:
        """The failures this try counts as, each with the policy that limits it."""
        if device is not None:
            subject = self._subject("device", device)
            return [
                (ProofFailure(scope=DEVICE_SCOPE, subject=subject, failed_at=now), self._policy)
            ]
        account = self._subject("account", name)
        origin = self._subject("client", client.client)
        return [
            (ProofFailure(scope=ACCOUNT_SCOPE, subject=account, failed_at=now), self._policy),
            (ProofFailure(scope=CLIENT_SCOPE, subject=origin, failed_at=now), self._client_policy),
        ]

    def _subject(self, purpose: str, value: str | None) -> str:
        return self._cipher.keyed_hash(f"login_{purpose}", value or "")

    async def _retry_after(
        self,
        session: AsyncSession,
        failures: list[tuple[ProofFailure, ThrottlePolicy]],
        now: datetime,
    ) -> int:
        waits = []
        for failure, policy in failures:
            others = await session.scalars(
                select(ProofFailure.failed_at)
                .where(
                    ProofFailure.scope == failure.scope,
                    ProofFailure.subject == failure.subject,
                    ProofFailure.failed_at > now - policy.window,
                    ProofFailure.id != failure.id,
                )
                .order_by(ProofFailure.failed_at)
            )
            waits.append(policy.subject_retry_after(list(others.all()), now))
        return max(waits)

    async def _forget(
        self, session: AsyncSession, failures: list[tuple[ProofFailure, ThrottlePolicy]]
    ) -> None:
        ids = [row.id for row, _ in failures]
        await session.execute(delete(ProofFailure).where(ProofFailure.id.in_(ids)))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
