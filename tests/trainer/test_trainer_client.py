"""The worker's store client against a local HTTP stand-in: what it sends, and how each
kind of answer reaches the worker (nothing queued, lease lost, store down)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scripts.processes import free_port
from trainer.client import Claim, LeaseLost, LiveModel, StoreClient, StoreRefused, StoreUnavailable

TOKEN = "trainer-secret"
MODEL_BYTES = b"\x1f\x8b model bytes" * 1000


@dataclass
class Store:
    """Answers as the contract says; `answers` sets a path's status and body."""

    url: str = ""
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                store.answer(self)

            do_PUT = do_GET = do_POST

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        self.received.append(
            {
                "method": request.command,
                "path": request.path,
                "headers": dict(request.headers),
                "body": request.rfile.read(length),
            }
        )
        status, answer = self.answers.get(request.path, (200, {"ok": True}))
        payload = (
            b""
            if status == 204
            else answer
            if isinstance(answer, bytes)
            else json.dumps(answer).encode()
        )
        request.send_response(status)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


@pytest.fixture
def store() -> Iterator[Store]:
    stand_in = Store()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), stand_in.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in.url = f"http://127.0.0.1:{server.server_port}"
    yield stand_in
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(store: Store) -> StoreClient:
    return StoreClient(store.url, TOKEN, timeout=5)


def test_nothing_queued_is_none(store: Store, client: StoreClient):
    store.answers["/training/claim"] = (204, b"")
    assert client.claim("host:1") is None
    [request] = store.received
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request["body"]) == {"worker": "host:1"}


def test_a_claimed_run_with_its_live_model(store: Store, client: StoreClient):
    run = {"id": 7, "lease_seconds": 120, "console_data": "nlu: []\n"}
    store.answers["/training/claim"] = (
        200,
        {"run": {**run, "live_model": {"id": 3, "sha256": "ab"}}},
    )
    assert client.claim("host:1") == Claim(7, 120, "nlu: []\n", LiveModel(3, "ab"))
    store.answers["/training/claim"] = (200, {"run": {**run, "live_model": None}})
    assert client.claim("host:1") == Claim(7, 120, "nlu: []\n", None)


def test_a_lost_lease_is_its_own_exception(store: Store, client: StoreClient):
    store.answers["/training/runs/7/progress"] = (409, {"error": "lease_lost", "message": "…"})
    with pytest.raises(LeaseLost):
        client.progress(7, "train", 40, "Epochs 10/40\n")
    assert json.loads(store.received[0]["body"]) == {
        "stage": "train",
        "percent": 40,
        "log": "Epochs 10/40\n",
    }


def test_a_failing_store_can_be_tried_again_a_refusal_cannot(store: Store, client: StoreClient):
    store.answers["/training/runs/7/fail"] = (503, {"error": "unavailable"})
    with pytest.raises(StoreUnavailable):
        client.fail(7, "validate", "训练数据校验没通过：…", "")
    store.answers["/training/runs/7/fail"] = (400, {"error": "invalid_field"})
    with pytest.raises(StoreRefused, match="invalid_field"):
        client.fail(7, "validate", "训练数据校验没通过：…", "")


def test_an_unreachable_store_is_unavailable():
    with pytest.raises(StoreUnavailable):
        StoreClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2).claim("host:1")


def test_the_model_goes_up_with_its_manifest(store: Store, client: StoreClient, tmp_path: Path):
    model = tmp_path / "run-7.tar.gz"
    model.write_bytes(MODEL_BYTES)
    store.answers["/training/runs/7/model"] = (200, {"model_id": 12})
    manifest = {"git_commit": "abc", "git_dirty": False, "data_digest": "d", "console_digest": "c"}
    assert client.upload_model(7, model, manifest) == 12
    [request] = store.received
    assert request["method"] == "PUT"
    assert request["body"] == MODEL_BYTES
    assert request["headers"]["Content-Type"] == "application/gzip"
    header = request["headers"]["X-Data-Manifest"]
    assert header.isascii() and json.loads(header) == manifest


def test_the_live_model_comes_down_with_its_digest(
    store: Store, client: StoreClient, tmp_path: Path
):
    store.answers["/training/models/3/file"] = (200, MODEL_BYTES)
    target = tmp_path / "live.tar.gz"
    assert client.download_model(3, target) == hashlib.sha256(MODEL_BYTES).hexdigest()
    assert target.read_bytes() == MODEL_BYTES


def test_finishing_sends_both_evaluations_and_returns_the_gate(store: Store, client: StoreClient):
    gate = {"allowed": True, "reasons": ["不比正在使用的模型差"], "labels": []}
    store.answers["/training/runs/7/finish"] = (200, {"gate": gate})
    candidate = {"accuracy": 0.95, "labels": {}}
    assert client.finish(7, 12, candidate, None) == gate
    assert json.loads(store.received[0]["body"]) == {
        "model_id": 12,
        "candidate": candidate,
        "live": None,
    }
