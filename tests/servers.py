"""Starts the whole assistant on loopback for end-to-end tests: status store, action
server and Rasa server, each a real process on a free port with its own data folder,
started as `scripts/run.sh` starts them (scripts/processes.py: the commands and the
secrets each process receives)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import yaml
from cryptography.fernet import Fernet

from scripts import processes
from scripts.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
# Data files and logs of the stack: readable by their owner only, as in `make run`.
PRIVATE_UMASK = 0o077


@dataclass
class Service:
    kind: str  # its row in scripts/processes.py
    command: list[str]
    health_url: str
    log: Path
    process: subprocess.Popen | None = None


@dataclass
class Stack:
    folder: Path
    store_url: str
    actions_url: str
    rasa_urls: list[str]
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def logs(self) -> dict[str, Path]:
        return {name: service.log for name, service in self.services.items()}

    def start(self, *names: str) -> None:
        """Starts services (again, after `stop`) together and waits until they answer."""
        for name in names:
            service = self.services[name]
            with private_log(service.log) as log:
                service.process = subprocess.Popen(
                    service.command,
                    cwd=ROOT,
                    env=processes.environment(service.kind, self.env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    umask=PRIVATE_UMASK,
                )
        for name in names:
            service = self.services[name]
            assert service.process is not None
            wait_for(service.health_url, service.process, service.log)

    def stop(self, name: str) -> None:
        process = self.services[name].process
        if process is None:
            return
        processes.stop(process, timeout=20)

    def add(self, name: str, kind: str, command: list[str], health_url: str) -> None:
        log = self.folder / f"{name}.log"
        private_log(log).close()
        self.services[name] = Service(kind, command, health_url, log)

    def import_model(self, model: Path) -> None:
        """`make run`'s step: the model into the store's registry, live if none is."""
        subprocess.run(
            processes.command("import-model", model=str(model)),
            cwd=ROOT,
            env=processes.environment("import-model", self.env),
            check=True,
            capture_output=True,
            timeout=300,
        )

    @property
    def rasa_url(self) -> str:
        return self.rasa_urls[0]

    @property
    def staff_token(self) -> str:
        return self.env["STORE_STAFF_TOKEN"]

    @property
    def api_token(self) -> str:
        return self.env["RASA_API_TOKEN"]


def private_log(path: Path) -> BinaryIO:
    """The log opened for appending, created readable by its owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


def stack_environment(folder: Path, store_port: int) -> dict[str, str]:
    """Every variable of the stack; each process receives its share (processes.py)."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{folder}/store.db",
        "STORE_PORT": str(store_port),
        "STORE_URL": f"http://127.0.0.1:{store_port}",
        "STORE_SERVICE_TOKEN": secrets.token_urlsafe(24),
        "STORE_STAFF_TOKEN": secrets.token_urlsafe(24),
        "STORE_TRAINER_TOKEN": secrets.token_urlsafe(24),
        "STORE_MODELS_DIR": str(folder / "store-models"),
        "MODEL_SERVER_URL": f"http://127.0.0.1:{store_port}/models/active",
        "STORE_HASH_KEY": secrets.token_urlsafe(24),
        "STORE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "RASA_API_TOKEN": secrets.token_urlsafe(24),
        "RASA_TRACKER_KEY": Fernet.generate_key().decode(),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
        "WEBCHAT_SESSION_KEY": secrets.token_urlsafe(32),
        "SANIC_HOST": "127.0.0.1",
        "CAPTURE_OUTBOX_FOLDER": str(folder),
    }


def embedded_endpoints(folder: Path, model_server: bool = False) -> Path:
    """The project's endpoints.yml with this stack's action server and SQLite file; the
    model is the file given to Rasa unless it is to come from the store's model server."""
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    config["action_endpoint"]["url"] = "${ACTION_ENDPOINT_URL}"
    config["tracker_store"]["db"] = str(folder / "tracker.db")
    if model_server:
        config["models"]["url"] = "${MODEL_SERVER_URL}"
    else:
        del config["models"]
    path = folder / "endpoints.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)
    return path


@contextmanager
def running_stack(
    folder: Path,
    model: Path,
    credentials: str,
    extra_env: dict[str, str] | None = None,
    endpoints: Path | None = None,
    rasa_replicas: int = 1,
    model_server: bool = False,
) -> Iterator[Stack]:
    """Start store, action server and Rasa with the given channels; stop them after.

    Without `endpoints`, conversations go to SQLite in `folder` (the embedded default);
    an endpoints file may read the action server's URL from ACTION_ENDPOINT_URL.
    Several Rasa replicas need shared trackers and locks (the production profile).
    When the endpoints pull models from the store (`models:`, as `make run` and the
    production profile do), `model` is imported into the store's registry first.
    """
    store_port, actions_port = free_port(), free_port()
    rasa_ports = [free_port() for _ in range(rasa_replicas)]
    env = {
        **stack_environment(folder, store_port),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
        # The console reads conversations from the (first) Rasa server.
        "STORE_RASA_URL": f"http://127.0.0.1:{rasa_ports[0]}",
        **(extra_env or {}),
    }
    (folder / "credentials.yml").write_text(credentials, encoding="utf-8")
    (folder / "credentials.yml").chmod(0o600)
    if endpoints is None:
        endpoints = embedded_endpoints(folder, model_server)
    stack = Stack(
        folder=folder,
        store_url=f"http://127.0.0.1:{store_port}",
        actions_url=f"http://127.0.0.1:{actions_port}",
        rasa_urls=[f"http://127.0.0.1:{port}" for port in rasa_ports],
        env=env,
    )
    stack.add("store", "store", processes.command("store"), f"{stack.store_url}/health")
    actions = processes.command("actions", actions_port=str(actions_port))
    stack.add("actions", "actions", actions, f"{stack.actions_url}/health")
    for i, port in enumerate(rasa_ports):
        rasa = processes.command(
            "rasa", model=str(model), rasa_port=str(port),
            credentials=str(folder / "credentials.yml"), endpoints=str(endpoints),
        )  # fmt: skip
        stack.add(f"rasa-{i}", "rasa", rasa, f"http://127.0.0.1:{port}/webhooks/rest/")
    try:
        if "models" in yaml.safe_load(endpoints.read_text(encoding="utf-8")):
            stack.import_model(model)
        stack.start(*stack.services)
        yield stack
    finally:
        for name in stack.services:
            stack.stop(name)


@dataclass
class StoreProcess:
    """The status store alone, a real process in its own venv as `make run` starts it.

    Tests outside tests/backend use the store this way: its dependencies (.venv-store)
    are not those of the main venv, so it cannot run inside their process."""

    url: str
    stack: Stack

    def stop(self) -> None:
        self.stack.stop("store")


def start_store(folder: Path, port: int | None = None, **variables: str) -> StoreProcess:
    """Start the store on `port` or a free one and wait until it answers. `variables`
    (STORE_SERVICE_TOKEN, STORE_PROOF_MAX_FAILURES...) override the stack's fresh
    secrets and defaults."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    stack = Stack(folder, url, "", [], {**stack_environment(folder, port), **variables})
    stack.add("store", "store", processes.command("store"), f"{url}/health")
    stack.start("store")
    return StoreProcess(url, stack)


@contextmanager
def running_store(
    folder: Path, port: int | None = None, **variables: str
) -> Iterator[StoreProcess]:
    """`start_store`, stopped after."""
    store = start_store(folder, port, **variables)
    try:
        yield store
    finally:
        store.stop()


@contextmanager
def training_worker(stack: Stack, **variables: str) -> Iterator[subprocess.Popen]:
    """`python -m trainer` as `make run` starts it, polling every second; `variables`
    (TRAINER_REPOSITORY …) are added to its environment."""
    env = {
        **processes.environment("trainer", stack.env),
        "TRAINER_POLL_SECONDS": "1",
        "TRAINER_WORKSPACES": str(stack.folder / "training"),
        **variables,
    }
    with private_log(stack.folder / "trainer.log") as log:
        worker = subprocess.Popen(
            processes.command("trainer"), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield worker
    finally:
        processes.stop(worker, timeout=20)
