"""The assistant's processes: how each is started and which secrets it receives.

The one table for `scripts/run.sh` and the tests' stacks (`tests/servers.py`). A process
gets only the secrets it needs, so one that is compromised, or prints its environment
in a crash report, cannot give away another's keys: the store never sees a Rasa key,
Rasa never sees a store key. Every other variable (ports, URLs, settings) is passed on.
Secrets travel in the environment only, never on a command line, where every local
user can read them (`ps`).

    python scripts/processes.py <service> [name=value ...]

replaces itself with the service's process (same pid), its command filled in with the
values given and its environment reduced to what the table allows.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# The status store has its own dependency set (backend/requirements.lock) and venv.
STORE_PYTHON = str(ROOT / ".venv-store" / "bin" / "python")

# The trainer's token lets its holder upload the model every replica loads: only the
# training worker and the store have it.
TRAINER_TOKEN = "STORE_TRAINER_TOKEN"
STORE_SECRETS = frozenset(
    {"STORE_SERVICE_TOKEN", "STORE_STAFF_TOKEN", "STORE_HASH_KEY", "STORE_ENCRYPTION_KEY",
     TRAINER_TOKEN}
)  # fmt: skip
# PostgreSQL and Redis URLs may carry passwords.
STORE_DATABASE = frozenset({"DATABASE_URL"})
RASA_SECRETS = frozenset(
    {"RASA_API_TOKEN", "RASA_TRACKER_KEY", "WEBCHAT_SESSION_KEY", "REST_CLIENT_SECRETS"}
)
RASA_INFRASTRUCTURE = frozenset(
    {"TRACKER_DB_PASSWORD", "REDIS_PASSWORD", "CHANNELS_REDIS_URL", "WECHAT_REDIS_URL"}
)
WECHAT_SECRETS = frozenset({"WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_SECRET"})
ACTION_SERVER_TOKEN = "ACTION_SERVER_TOKEN"


@dataclass(frozen=True)
class Service:
    """A process: its command (with `{name}` placeholders) and the secrets it gets."""

    command: tuple[str, ...]
    secrets: frozenset[str]


SERVICES: dict[str, Service] = {
    # The Rasa API token: the console shows the conversation around a question.
    "store": Service(
        (STORE_PYTHON, "-m", "backend"),
        STORE_SECRETS | STORE_DATABASE | {"RASA_API_TOKEN"},
    ),
    # The first console admin (`make admin USERNAME=…`; the password is asked for).
    "admin": Service(
        (STORE_PYTHON, "-m", "backend", "create-admin", "--username", "{username}"),
        STORE_SECRETS | STORE_DATABASE,
    ),
    # `make train`'s model into the store's registry (live unless the console's is).
    "import-model": Service(
        (STORE_PYTHON, "-m", "backend", "import-model", "--file", "{model}"),
        STORE_SECRETS | STORE_DATABASE,
    ),
    # The training worker (trainer/): data from the store, models back to it.
    "trainer": Service((PYTHON, "-m", "trainer"), frozenset({TRAINER_TOKEN})),
    "actions": Service(
        (PYTHON, "-m", "bot.actions.server", "--port", "{actions_port}"),
        frozenset({"STORE_SERVICE_TOKEN", ACTION_SERVER_TOKEN}),
    ),
    "rasa": Service(
        (PYTHON, "-m", "rasa_runtime.serve", "--model", "{model}", "--interface", "127.0.0.1",
         "--port", "{rasa_port}", "--credentials", "{credentials}",
         "--endpoints", "{endpoints}", "--enable-api"),
        # The store's service token: captured turns go to its inbox (rasa_runtime/capture.py)
        # and models are pulled from its model server (endpoints*.yml).
        RASA_SECRETS | RASA_INFRASTRUCTURE | WECHAT_SECRETS
        | {ACTION_SERVER_TOKEN, "STORE_SERVICE_TOKEN"},
    ),
}  # fmt: skip

ALL_SECRETS = frozenset().union(*(service.secrets for service in SERVICES.values()))


def command(name: str, **values: str) -> list[str]:
    """The service's command line, its placeholders filled in."""
    return [part.format(**values) for part in SERVICES[name].command]


def environment(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the secrets the service must not have."""
    allowed = SERVICES[name].secrets
    return {key: value for key, value in environ.items() if key not in ALL_SECRETS - allowed}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 480) -> None:
    """Returns once `url` answers; raises with the log's tail if the process dies first.
    The timeout is generous: a Rasa server loading its model on two busy cores takes minutes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, and SIGKILL if the process has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str]) -> None:
    name, *assignments = argv
    values = dict(assignment.split("=", 1) for assignment in assignments)
    arguments = command(name, **values)
    os.execve(arguments[0], arguments, environment(name, os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])
