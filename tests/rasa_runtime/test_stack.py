"""The processes as they run (issue 9, findings 6 and 8, clean shutdown): each holds
only its own secrets, none on a command line; files are private and hold no readable
ID or phone number; an unavailable action server gets a kind answer and loses no turn;
SIGTERM lets the turn in flight finish or leaves it untaken; a conversation is deleted
on request, and after its retention period by the Rasa server itself."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import yaml

from scripts.processes import ALL_SECRETS
from tests.e2e.rest import Resident
from tests.servers import ROOT, Stack, running_stack

ID_NUMBER, PHONE = "510304195503120042", "13812345678"
FAQ_QUESTION = "低保要带啥子材料"

# Agreement 4, written out by hand: which secrets each process may hold in this stack.
EXPECTED_SECRETS = {
    "store": {
        "STORE_SERVICE_TOKEN", "STORE_STAFF_TOKEN", "STORE_HASH_KEY", "STORE_ENCRYPTION_KEY",
        "STORE_TRAINER_TOKEN", "DATABASE_URL", "RASA_API_TOKEN",
    },
    "actions": {"STORE_SERVICE_TOKEN", "ACTION_SERVER_TOKEN"},
    "rasa-0": {
        "RASA_API_TOKEN", "RASA_TRACKER_KEY", "ACTION_SERVER_TOKEN", "WEBCHAT_SESSION_KEY",
        "STORE_SERVICE_TOKEN",
    },
}  # fmt: skip


def response_text(name: str) -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return domain["responses"][name][0]["text"]


BUSY = response_text("utter_system_busy")


@pytest.fixture(scope="module")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A stack of its own: these tests stop, freeze and restart its processes.
    credentials = "connectors.rest.RestInput:\n  authentication: none\n"
    with running_stack(tmp_path_factory.mktemp("processes"), model_path, credentials) as running:
        yield running


def pid_of(stack: Stack, name: str) -> int:
    process = stack.services[name].process
    assert process is not None and process.poll() is None
    return process.pid


def tracker(stack: Stack, sender: str) -> dict:
    conversation = quote(f"rest:{sender}", safe=":")
    # Rasa reads its API token from the query (a bearer header would be taken as a JWT).
    query = urlencode({"token": stack.api_token, "include_events": "ALL"})
    url = f"{stack.rasa_url}/conversations/{conversation}/tracker?{query}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def user_texts(stack: Stack, sender: str) -> list[str]:
    return [e["text"] for e in tracker(stack, sender)["events"] if e["event"] == "user"]


def wait_until(condition: Callable[[], bool], what: str, limit: float = 120) -> None:
    """Waits for an event of the system under test (the limit only stops a hung run)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def request_waiting_at(port: int) -> bool:
    """A request has reached the (frozen) server on `port`, unread: an established
    connection to it with bytes in its receive queue (/proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            receive_queue = int(fields[4].split(":")[1], 16)
            if local_port == port and fields[3] == "01" and receive_queue > 0:
                return True
    return False


def actions_port(stack: Stack) -> int:
    return int(stack.actions_url.rsplit(":", 1)[1])


class Frozen:
    """The action server stopped with SIGSTOP: it accepts connections, answers nothing."""

    def __init__(self, stack: Stack) -> None:
        self.pid = pid_of(stack, "actions")

    def __enter__(self) -> Frozen:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *_: object) -> None:
        self.thaw()

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def say_in_background(resident: Resident, text: str) -> tuple[threading.Thread, list]:
    replies: list = []

    def say() -> None:
        try:
            replies.append(resident.say(text))
        except OSError as error:  # the server went away without answering
            replies.append(error)

    thread = threading.Thread(target=say)
    thread.start()
    return thread, replies


def test_each_process_holds_only_its_own_secrets(stack: Stack) -> None:
    secret_values = {stack.env[name] for name in ALL_SECRETS if name in stack.env}
    for name, expected in EXPECTED_SECRETS.items():
        pid = pid_of(stack, name)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
        assert names & ALL_SECRETS == expected, name
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert not [value for value in secret_values if value in command_line], name
    rasa_command = Path(f"/proc/{pid_of(stack, 'rasa-0')}/cmdline").read_bytes().split(b"\0")
    assert rasa_command[1:3] == [b"-m", b"rasa_runtime.serve"]


def test_an_unavailable_action_server_gets_a_kind_answer_and_loses_no_turn(stack: Stack) -> None:
    resident = Resident(stack)
    resident.say("我要办老年证")
    assert "身份证" in resident.say("王秀英")

    stack.stop("actions")
    try:
        assert resident.say(ID_NUMBER) == BUSY
        # Not "没太听明白": the resident is not blamed for the outage.
        assert resident.say(FAQ_QUESTION) == BUSY
    finally:
        stack.start("actions")

    # Neither message was taken in: the same answer again continues the form.
    assert response_text("utter_ask_phone") in resident.say(ID_NUMBER)
    conversation = tracker(stack, resident.sender)
    assert conversation["slots"]["requested_slot"] == "phone"
    assert user_texts(stack, resident.sender).count(ID_NUMBER) == 1
    assert FAQ_QUESTION not in user_texts(stack, resident.sender)


def test_files_are_private_and_hold_no_readable_id_or_phone(stack: Stack) -> None:
    resident = Resident(stack)
    for text in ["我要办老年证", "王秀英", ID_NUMBER, PHONE, "牛佛", "对的"]:
        resident.say(text)
    # A hung action server: the call times out, and the resident is answered kindly.
    with Frozen(stack):
        assert resident.say(f"身份证{ID_NUMBER} 电话{PHONE}") == BUSY
    # The numbers went through the stack: the conversation holds them, decrypted.
    assert ID_NUMBER in user_texts(stack, resident.sender)

    files = [path for path in stack.folder.rglob("*") if path.is_file()]
    assert {"tracker.db", "store.db", "rasa-0.log", "actions.log", "store.log"} <= {
        path.name for path in files
    }
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        content = path.read_bytes()
        assert ID_NUMBER.encode() not in content, path.name
        assert PHONE.encode() not in content, path.name


def add_idle_conversation(stack: Stack, sender: str) -> None:
    """A conversation whose last event is a year old, as an old server stored it."""
    event = {"event": "user", "timestamp": time.time() - 365 * 24 * 3600, "text": "低保"}
    with sqlite3.connect(stack.folder / "tracker.db") as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            (sender, "user", event["timestamp"], json.dumps(event)),
        )


def stored_senders(stack: Stack) -> set[str]:
    with sqlite3.connect(stack.folder / "tracker.db") as connection:
        return {row[0] for row in connection.execute("SELECT DISTINCT sender_id FROM events")}


def test_a_conversation_is_deleted_when_the_resident_confirms(stack: Stack) -> None:
    resident = Resident(stack)
    resident.say(FAQ_QUESTION)
    assert f"rest:{resident.sender}" in stored_senders(stack)
    assert response_text("utter_ask_erase_confirmation") in resident.say("删除我的聊天记录")
    reply = resident.say("确认删除聊天记录")
    assert response_text("utter_conversation_erased") in reply
    assert f"rest:{resident.sender}" not in stored_senders(stack)


def test_sigterm_lets_the_turn_in_flight_finish(stack: Stack) -> None:
    resident = Resident(stack)
    rasa = stack.services["rasa-0"]
    with Frozen(stack) as frozen:
        thread, replies = say_in_background(resident, FAQ_QUESTION)
        wait_until(lambda: request_waiting_at(actions_port(stack)), "the turn in flight")
        assert rasa.process is not None
        earlier_lines = rasa.log.read_bytes()
        rasa.process.send_signal(signal.SIGTERM)
        wait_until(
            lambda: b"Stopping: draining" in rasa.log.read_bytes()[len(earlier_lines) :],
            "the server stopping",
        )
        frozen.thaw()
        thread.join()
        rasa.process.wait(timeout=60)
    # The reply reached the resident before the server went.
    assert replies and isinstance(replies[0], str) and replies[0] not in ("", BUSY)

    add_idle_conversation(stack, "rest:idle-for-a-year")
    stack.start("rasa-0")
    assert user_texts(stack, resident.sender) == [FAQ_QUESTION]
    # The retention job runs when the server starts (then daily).
    wait_until(lambda: "rest:idle-for-a-year" not in stored_senders(stack), "retention")
    assert f"rest:{resident.sender}" in stored_senders(stack)


def test_sigterm_leaves_a_turn_that_cannot_finish_untaken(stack: Stack) -> None:
    resident = Resident(stack)
    resident.say("你好")
    rasa = stack.services["rasa-0"]
    with Frozen(stack):
        thread, _ = say_in_background(resident, FAQ_QUESTION)
        wait_until(lambda: request_waiting_at(actions_port(stack)), "the turn in flight")
        assert rasa.process is not None
        rasa.process.send_signal(signal.SIGTERM)
        # The drain gives up on the frozen dependency, and the server exits.
        rasa.process.wait(timeout=60)
        thread.join()
    stack.start("rasa-0")
    assert user_texts(stack, resident.sender) == ["你好"]
