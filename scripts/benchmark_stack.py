"""The assistant on loopback for the benchmark: status store, action server and Rasa
server, each a real process on a free port, with data, logs and fresh secrets in a
folder of the benchmark's own. The processes are started from the table `make run`
uses (scripts/processes.py: commands and the secrets each receives)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from scripts import processes
from scripts.local_secrets import GENERATORS
from scripts.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class Assistant:
    rasa_url: str
    store_url: str
    env: dict[str, str]


@contextmanager
def running_assistant(
    folder: Path, model: Path, channels: str, extra_env: dict[str, str], capture: bool = True
) -> Iterator[Assistant]:
    """The three processes with the given channels (credentials.yml text); stopped after.
    Without `capture` the Rasa server runs with no event broker (no inbox capture, no
    turn counts)."""
    store_port, actions_port, rasa_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        **{name: make() for name, make in GENERATORS.items()},
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "SANIC_HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{folder}/store.db",
        "STORE_PORT": str(store_port),
        "STORE_URL": f"http://127.0.0.1:{store_port}",
        "CAPTURE_OUTBOX_FOLDER": str(folder),
        **extra_env,
    }
    credentials = folder / "credentials.yml"
    credentials.write_text(channels, encoding="utf-8")
    rasa_values = {
        "model": str(model),
        "rasa_port": str(rasa_port),
        "credentials": str(credentials),
        "endpoints": str(_endpoints(folder, actions_port, capture)),
    }
    services = [
        ("store", {}, f"http://127.0.0.1:{store_port}/health"),
        ("actions", {"actions_port": str(actions_port)}, f"http://127.0.0.1:{actions_port}/health"),
        ("rasa", rasa_values, f"http://127.0.0.1:{rasa_port}/webhooks/rest/"),
    ]
    with ExitStack() as running:
        for name, values, health_url in services:
            log = folder / f"{name}.log"
            process = running.enter_context(_process(name, values, env, log))
            wait_for(health_url, process, log)
        yield Assistant(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{store_port}", env)


def _endpoints(folder: Path, actions_port: int, capture: bool) -> Path:
    """The project's endpoints.yml with this run's action server and tracker file."""
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    # The model given to Rasa, not the store's model server (benchmark_learning.py uses it).
    del config["models"]
    if not capture:
        del config["event_broker"]
    config["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
    config["tracker_store"]["db"] = str(folder / "tracker.db")
    path = folder / "endpoints.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def _process(
    name: str, values: dict[str, str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            processes.command(name, **values),
            cwd=ROOT,
            env=processes.environment(name, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        processes.stop(process, timeout=30)
