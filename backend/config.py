"""Status-store configuration: every setting read from the environment, in one place.

Secrets: STORE_SERVICE_TOKEN, STORE_STAFF_TOKEN, STORE_HASH_KEY and STORE_ENCRYPTION_KEY
(one Fernet key, or several separated by commas, newest first: new data is encrypted with
the first, every one of them decrypts; `python -m backend rotate-keys` re-encrypts
everything with the first so that the others can be dropped).

Tunables: STORE_DB_POOL_SIZE and STORE_DB_TIMEOUT_SECONDS (connections to PostgreSQL, and
how long a request waits for one or for a lock); STORE_PROOF_* (proof throttling, see
backend/throttling.py); STORE_RETENTION_DAYS (see backend/retention.py);
STORE_SHUTDOWN_SECONDS (how long requests in flight may finish after SIGTERM);
STORE_CONVERSATION_RETENTION_DAYS (see backend/retention.py);
STORE_NOTICE_* (the notification outbox's retries, see backend/notifications/operations.py);
STORE_DUE_WORKING_DAYS (when an open application is overdue),
STORE_CALLBACK_WORKING_DAYS and STORE_RECTIFY_WORKING_DAYS (差评 follow-up deadlines);
STORE_OFFICE_HOURS (when staff answer
handoffs, on China's working days: backend/handoff/calendar.py); STORE_CONSOLE_* and
STORE_LOGIN_* (the staff console's sessions and login throttling, see
backend/console/); STORE_RASA_URL and RASA_API_TOKEN (the console reads conversations from
the Rasa server's HTTP API); STORE_TRAINER_TOKEN (the training worker's routes, which
upload models: unset, training is off) and STORE_MODELS_DIR (where model files are kept,
var/store-models by default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from backend.handoff.calendar import parse_periods

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite:///var/store.db"

# Tokens and the hash key are guessable below this length; refusing them at startup is
# cheaper than discovering a weak secret in production.
MIN_SECRET_LENGTH = 16


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    service_token: str = field(repr=False)
    staff_token: str = field(repr=False)
    encryption_key: str = field(repr=False)
    hash_key: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 5100
    db_pool_size: int = 5
    db_timeout_seconds: float = 5.0
    proof_max_failures: int = 5
    proof_window_seconds: int = 86400
    proof_backoff_base_seconds: int = 2
    proof_backoff_max_seconds: int = 900
    retention_days: int | None = None
    # What residents said and were sent (questions, handoff messages, notices, rating
    # comments) is kept as long as the Rasa server keeps idle conversations.
    conversation_retention_days: int = 180
    shutdown_seconds: float = 5.0
    # A console session ends after this long without a request; cookies get `Secure`
    # when the console is served over TLS (behind the reverse proxy).
    console_idle_minutes: int = 30
    console_secure_cookies: bool = False
    login_max_failures: int = 5
    login_window_seconds: int = 900
    login_backoff_base_seconds: int = 30
    login_backoff_max_seconds: int = 900
    rasa_url: str | None = None
    # When staff answer handoffs (backend/handoff/calendar.py), on China's working days.
    office_hours: str = "09:00-12:00,14:00-17:30"
    # An open application is overdue this many working days after submission (the
    # district's time limits per service are to be confirmed; one figure for all).
    due_working_days: int = 20
    # A 差评 must be called back within this many working days and put right within the
    # next figure (the national 好差评 rules: 1 and 15 working days).
    callback_working_days: int = 1
    rectify_working_days: int = 15
    rasa_token: str | None = field(default=None, repr=False)
    trainer_token: str | None = field(default=None, repr=False)
    models_dir: Path = REPO_ROOT / "var" / "store-models"
    # A failed delivery is tried again after base * 2^(attempts - 1) seconds, at most
    # max; a notice is dead after max_attempts failures or max_age_days. A resident who
    # cannot be reached now (WeChat's 48-hour window, a closed widget) is looked for
    # again after defer_seconds, and their next message or visit gets it anyway.
    notice_max_attempts: int = 12
    notice_max_age_days: int = 30
    notice_backoff_base_seconds: int = 30
    notice_backoff_max_seconds: int = 3600
    notice_defer_seconds: int = 6 * 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        service_token = _secret(env, "STORE_SERVICE_TOKEN")
        staff_token = _secret(env, "STORE_STAFF_TOKEN")
        if service_token == staff_token:
            # With equal tokens the action server could act as staff.
            raise ConfigError("STORE_STAFF_TOKEN must differ from STORE_SERVICE_TOKEN")
        trainer_token = _optional_secret(env, "STORE_TRAINER_TOKEN")
        if trainer_token in (service_token, staff_token):
            # The service token is every replica's: with it one could upload a model.
            raise ConfigError("STORE_TRAINER_TOKEN must differ from the other tokens")
        return cls(
            database_url=database_url_from_env(env),
            host=env.get("STORE_HOST", "127.0.0.1"),
            port=_int(env, "STORE_PORT", 5100, minimum=0),
            service_token=service_token,
            staff_token=staff_token,
            encryption_key=_fernet_keys(env, "STORE_ENCRYPTION_KEY"),
            hash_key=_secret(env, "STORE_HASH_KEY"),
            db_pool_size=_int(env, "STORE_DB_POOL_SIZE", cls.db_pool_size, minimum=1),
            db_timeout_seconds=_int(env, "STORE_DB_TIMEOUT_SECONDS", 5, minimum=1),
            proof_max_failures=_int(env, "STORE_PROOF_MAX_FAILURES", 5, minimum=1),
            proof_window_seconds=_int(
                env, "STORE_PROOF_WINDOW_SECONDS", cls.proof_window_seconds, minimum=1
            ),
            proof_backoff_base_seconds=_int(
                env, "STORE_PROOF_BACKOFF_BASE_SECONDS", cls.proof_backoff_base_seconds, minimum=1
            ),
            proof_backoff_max_seconds=_int(
                env, "STORE_PROOF_BACKOFF_MAX_SECONDS", cls.proof_backoff_max_seconds, minimum=1
            ),
            retention_days=_optional_int(env, "STORE_RETENTION_DAYS", minimum=1),
            conversation_retention_days=_int(
                env,
                "STORE_CONVERSATION_RETENTION_DAYS",
                cls.conversation_retention_days,
                minimum=1,
            ),
            shutdown_seconds=_int(env, "STORE_SHUTDOWN_SECONDS", 5, minimum=1),
            console_idle_minutes=_int(
                env, "STORE_CONSOLE_IDLE_MINUTES", cls.console_idle_minutes, minimum=1
            ),
            console_secure_cookies=env.get("STORE_CONSOLE_SECURE_COOKIES", "").strip() == "1",
            login_max_failures=_int(
                env, "STORE_LOGIN_MAX_FAILURES", cls.login_max_failures, minimum=1
            ),
            login_window_seconds=_int(
                env, "STORE_LOGIN_WINDOW_SECONDS", cls.login_window_seconds, minimum=1
            ),
            login_backoff_base_seconds=_int(
                env, "STORE_LOGIN_BACKOFF_BASE_SECONDS", cls.login_backoff_base_seconds, minimum=1
            ),
            login_backoff_max_seconds=_int(
                env, "STORE_LOGIN_BACKOFF_MAX_SECONDS", cls.login_backoff_max_seconds, minimum=1
            ),
            rasa_url=env.get("STORE_RASA_URL", "").strip() or None,
            office_hours=_office_hours(env),
            due_working_days=_int(env, "STORE_DUE_WORKING_DAYS", cls.due_working_days, minimum=1),
            callback_working_days=_int(
                env, "STORE_CALLBACK_WORKING_DAYS", cls.callback_working_days, minimum=1
            ),
            rectify_working_days=_int(
                env, "STORE_RECTIFY_WORKING_DAYS", cls.rectify_working_days, minimum=1
            ),
            rasa_token=env.get("RASA_API_TOKEN", "").strip() or None,
            trainer_token=trainer_token,
            models_dir=_path(env, "STORE_MODELS_DIR", cls.models_dir),
            notice_max_attempts=_int(
                env, "STORE_NOTICE_MAX_ATTEMPTS", cls.notice_max_attempts, minimum=1
            ),
            notice_max_age_days=_int(
                env, "STORE_NOTICE_MAX_AGE_DAYS", cls.notice_max_age_days, minimum=1
            ),
            notice_backoff_base_seconds=_int(
                env, "STORE_NOTICE_BACKOFF_BASE_SECONDS", cls.notice_backoff_base_seconds, minimum=1
            ),
            notice_backoff_max_seconds=_int(
                env, "STORE_NOTICE_BACKOFF_MAX_SECONDS", cls.notice_backoff_max_seconds, minimum=1
            ),
            notice_defer_seconds=_int(
                env, "STORE_NOTICE_DEFER_SECONDS", cls.notice_defer_seconds, minimum=1
            ),
        )


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL with relative SQLite paths anchored at the repository root.

    Migrations run from the CLI need only this, not the secrets, hence a separate function.
    """
    env = os.environ if environ is None else environ
    raw = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    try:
        url = make_url(raw)
    except Exception as exc:
        raise ConfigError("DATABASE_URL is not a valid database URL") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            # The migrations and the app use separate connections: an in-memory
            # database would be migrated and then thrown away.
            raise ConfigError("DATABASE_URL: in-memory SQLite is not supported, use a file")
        path = Path(url.database)
        if not path.is_absolute():
            path = REPO_ROOT / path
        return str(url.set(database=str(path)))
    if backend not in ("postgresql", "postgres"):
        raise ConfigError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
    return raw


def _office_hours(env: Mapping[str, str]) -> str:
    value = env.get("STORE_OFFICE_HOURS", "").strip() or Settings.office_hours
    try:
        parse_periods(value)
    except ValueError as exc:
        raise ConfigError(f"STORE_OFFICE_HOURS: {exc}") from exc
    return value


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
    return value


def _optional_secret(env: Mapping[str, str], name: str) -> str | None:
    return _secret(env, name) if env.get(name, "").strip() else None


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    if not value:
        return default
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


def _fernet_keys(env: Mapping[str, str], name: str) -> str:
    """One Fernet key or several, comma-separated, newest first (checked, kept as given)."""
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"{name} is not set (generate one with: python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
        )
    for position, key in enumerate(value.split(","), start=1):
        try:
            Fernet(key.strip())
        except ValueError as exc:
            raise ConfigError(
                f"{name}: key {position} is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc
    return value


def _optional_int(env: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    if not env.get(name, "").strip():
        return None
    return _int(env, name, minimum, minimum=minimum)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value
