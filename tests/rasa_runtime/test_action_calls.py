"""An action server that cannot be reached ends the turn with a kind answer, unsaved."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from rasa_runtime import action_calls, patches
from rasa_runtime.engine import handle_in_engine
from tests.servers import free_port

BUSY = "系统有点忙，请稍后再发。"
DOMAIN = Domain.from_yaml(f"version: '3.1'\nresponses:\n  utter_system_busy:\n  - text: {BUSY}\n")


@pytest.fixture(autouse=True)
def applied() -> None:
    patches.apply()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections (the kernel does) and never answers: a hung action server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def run_in_turn(port: int) -> CollectingOutputChannel:
    output = CollectingOutputChannel()
    action = RemoteAction("action_triage", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))

    async def rasa(message: UserMessage) -> None:
        tracker = DialogueStateTracker.from_events(message.sender_id, [])
        nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
        await action.run(message.output_channel, nlg, tracker, DOMAIN)
        raise AssertionError("the turn must end at the failed call")

    await handle_in_engine(rasa, UserMessage("低保咋个办", output, "resident"))
    return output


async def test_nothing_listening_gets_the_busy_answer() -> None:
    output = await run_in_turn(free_port())
    assert [message["text"] for message in output.messages] == [BUSY]


async def test_a_hung_action_server_gets_the_busy_answer(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(action_calls, "ACTION_SERVER_TIMEOUT_SECONDS", 0.5)
    output = await run_in_turn(silent_server)
    assert [message["text"] for message in output.messages] == [BUSY]


async def test_outside_a_turn_rasa_behaves_as_its_own() -> None:
    # The HTTP API's calls are not abandoned: Rasa reports the error as it always did.
    output = CollectingOutputChannel()
    action = RemoteAction("action_triage", EndpointConfig(f"http://127.0.0.1:{free_port()}/x"))
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    with pytest.raises(RasaException, match="Couldn't connect"):
        await action.run(output, nlg, DialogueStateTracker.from_events("r", []), DOMAIN)
    assert output.messages == []
