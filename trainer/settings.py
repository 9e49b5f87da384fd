"""The training worker's tunables, all read from the environment here and nowhere else.

STORE_URL and STORE_TRAINER_TOKEN are the store's address and the secret only the worker
and the store hold (the contract of the learning loop); TRAINER_* tune the worker.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The rasa of the venv the worker runs in (the one its Python belongs to).
RASA = Path(sys.executable).with_name("rasa")


class SettingsError(RuntimeError):
    """A setting the worker cannot run with (said at start, not in the middle of a run)."""


@dataclass(frozen=True)
class TrainerSettings:
    store_url: str = "http://127.0.0.1:5100"
    token: str = field(default="", repr=False)
    # How often an idle worker asks for a queued run.
    poll_seconds: float = 5.0
    # The store renews the lease (120 s) on each report; the contract asks for one at
    # least every 30 s, so a late heartbeat still leaves margin.
    heartbeat_seconds: float = 15.0
    # The longest wait between attempts while the store cannot be reached.
    retry_max_seconds: float = 60.0
    request_timeout_seconds: float = 30.0
    # A model is tens of megabytes: its transfer gets longer than a JSON call.
    transfer_timeout_seconds: float = 300.0
    # The checkout whose bot/data, domain.yml and config.yml are trained (TRAINER_REPOSITORY:
    # a deployment may train from a checkout it pulls, apart from the running code); rasa
    # runs there because the config's dictionary and misspellings paths are relative to it.
    root: Path = ROOT
    workspaces: Path = ROOT / "var" / "training"
    rasa: Path = RASA
    # `make train` holds a lock on its script while it trains: both share Rasa's training
    # cache (.rasa/cache), so the worker waits for it instead of training beside it.
    train_lock: Path = ROOT / "scripts" / "train.sh"
    # Added to the worker's niceness at start: the live assistant on the same cores
    # keeps answering, and the rasa subprocesses inherit it.
    niceness: int = 19
    # The same cache budget as `make train` (Makefile), both writing one cache.
    rasa_cache_mb: int = 500
    heldout_files: tuple[Path, ...] = (
        ROOT / "tests" / "nlu" / "heldout.yml",
        ROOT / "tests" / "nlu" / "heldout_residents.yml",
    )

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> TrainerSettings:
        return cls(
            store_url=env.get("STORE_URL", cls.store_url).rstrip("/"),
            token=env.get("STORE_TRAINER_TOKEN", "").strip(),
            poll_seconds=_number(env, "TRAINER_POLL_SECONDS", cls.poll_seconds),
            heartbeat_seconds=min(
                _number(env, "TRAINER_HEARTBEAT_SECONDS", cls.heartbeat_seconds), 30.0
            ),
            retry_max_seconds=_number(env, "TRAINER_RETRY_MAX_SECONDS", cls.retry_max_seconds),
            request_timeout_seconds=_number(
                env, "TRAINER_REQUEST_TIMEOUT_SECONDS", cls.request_timeout_seconds
            ),
            transfer_timeout_seconds=_number(
                env, "TRAINER_TRANSFER_TIMEOUT_SECONDS", cls.transfer_timeout_seconds
            ),
            root=_path(env, "TRAINER_REPOSITORY", cls.root),
            workspaces=_path(env, "TRAINER_WORKSPACES", cls.workspaces),
            rasa=_path(env, "TRAINER_RASA", cls.rasa),
            niceness=int(_number(env, "TRAINER_NICENESS", cls.niceness)),
            rasa_cache_mb=int(_number(env, "RASA_MAX_CACHE_SIZE", cls.rasa_cache_mb)),
        )

    def require_token(self) -> None:
        """Without the token every call is refused: better said once at start."""
        if not self.token:
            raise SettingsError("STORE_TRAINER_TOKEN is not set: the store refuses the worker")

    def rasa_environment(self, env: Mapping[str, str] = os.environ) -> dict[str, str]:
        """The environment of the rasa subprocesses: the repository importable (the
        tokenizer is bot.nlu.tokenizer), no telemetry (nothing may reach the internet),
        the cache budget of `make train`, and the worker's token left out (rasa has no
        use for it)."""
        python_path = [str(self.root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        return {
            # The run's log is for the admin: library deprecations and TensorFlow's
            # informational lines would bury Rasa's own.
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **{key: value for key, value in env.items() if key != "STORE_TRAINER_TOKEN"},
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
            "RASA_TELEMETRY_ENABLED": "false",
            "RASA_MAX_CACHE_SIZE": str(self.rasa_cache_mb),
        }


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if number < 0:
        raise SettingsError(f"{name} must not be negative")
    return number


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    if not value:
        return default
    path = Path(value)
    return path if path.is_absolute() else ROOT / path
