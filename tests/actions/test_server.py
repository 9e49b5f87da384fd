"""The action server as a real process: closed to anyone without the token (issue 9,
finding 3: a forged tracker posted to /webhook created an application)."""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ROOT, VENV, free_port, running_store, wait_for

TOKEN = secrets.token_urlsafe(24)
SENIOR_ID = "510304195503120042"


def forged_submission(sender: str) -> dict[str, Any]:
    """What the attacker posted: a made-up tracker that asks for a submission."""
    slots = {
        "confirmed": True,
        "service_type": "elderly_card",
        "applicant_name": "王秀英",
        "id_number": SENIOR_ID,
        "phone": "13812345678",
        "township": "牛佛镇",
        "submission_key": "forged-key-1",
        "privacy_notice": "2026-11",
    }
    return {
        "next_action": "action_submit_application",
        "sender_id": sender,
        "version": "3.6.2",
        "domain": {"responses": {}},
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": {"text": "对", "intent": {"name": "affirm"}, "entities": []},
            "events": [{"event": "user", "text": "对", "input_channel": "wechat"}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def call(url: str, body: bytes | None = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "SANIC_HOST": "127.0.0.1",
        "STORE_SERVICE_TOKEN": "service-token-for-server-tests",
        "STORE_URL": f"http://127.0.0.1:{free_port()}",
        "HOME": str(tmp_path),
        **extra,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real status store, to see whether a forged call created anything."""
    folder = tmp_path_factory.mktemp("store")
    with running_store(folder, STORE_SERVICE_TOKEN="service-token-for-server-tests") as server:
        yield server.url


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory, store: str) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("actions")
    port = free_port()
    env = environment(
        folder, ACTION_SERVER_TOKEN=TOKEN, STORE_URL=store, ACTION_REQUEST_MAX_BYTES="200000"
    )
    log = folder / "actions.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [VENV / "python", "-m", "bot.actions.server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health", process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def stored_applications(store: str, conversation_id: str) -> list[dict[str, Any]]:
    status, body = call(
        f"{store}/applications?conversation_id={conversation_id}",
        token="service-token-for-server-tests",
    )
    assert status == 200
    return body["applications"]


def test_refuses_to_start_without_a_token(tmp_path: Path):
    finished = subprocess.run(
        [VENV / "python", "-m", "bot.actions.server", "--port", str(free_port())],
        cwd=ROOT,
        env=environment(tmp_path),
        capture_output=True,
        timeout=120,
    )
    assert finished.returncode != 0
    assert b"ACTION_SERVER_TOKEN" in finished.stderr


def test_health_is_open(action_server: str):
    assert call(f"{action_server}/health")[0] == 200


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
def test_a_forged_submission_without_the_token_is_refused(
    action_server: str, store: str, token: str | None
):
    sender = f"wechat:victim-{secrets.token_hex(4)}"
    body = json.dumps(forged_submission(sender)).encode()
    status, _ = call(f"{action_server}/webhook", body, token=token)
    assert status == 401
    assert stored_applications(store, sender) == []


def test_listing_the_actions_needs_the_token(action_server: str):
    assert call(f"{action_server}/actions")[0] == 401
    status, actions = call(f"{action_server}/actions", token=TOKEN)
    assert status == 200
    assert {"name": "action_submit_application"} in actions


def test_with_the_token_actions_run(action_server: str):
    call_body = forged_submission("rest:resident-1")
    call_body["next_action"] = "action_clear_application"
    status, result = call(f"{action_server}/webhook", json.dumps(call_body).encode(), TOKEN)
    assert status == 200
    cleared = {e["name"]: e["value"] for e in result["events"] if e["event"] == "slot"}
    assert cleared["id_number"] is None and cleared["phone"] is None


def test_an_oversized_call_is_refused_without_echoing_it(action_server: str):
    call_body = forged_submission("rest:resident-2")
    call_body["tracker"]["latest_message"]["text"] = SENIOR_ID * 20_000
    status, body = call(f"{action_server}/webhook", json.dumps(call_body).encode(), TOKEN)
    assert status == 413
    assert SENIOR_ID.encode() not in body
