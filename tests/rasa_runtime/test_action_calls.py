"""An action server that cannot be reached ends the turn with a kind answer, unsaved."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
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


@pytest.fixture
async def answering_server() -> AsyncIterator[Callable[[int], Awaitable[int]]]:
    """An action server on loopback that answers every call with the given status."""
    runners: list[web.AppRunner] = []

    async def start(status: int) -> int:
        app = web.Application()
        body = {"action_name": "action_triage", "error": "refused"}
        app.router.add_post("/webhook", lambda _: web.json_response(body, status=status))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return port

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize("status", [401, 403, 404, 500, 502])
async def test_an_action_server_that_refuses_or_fails_gets_the_busy_answer(
    status: int, answering_server: Callable[[int], Awaitable[int]]
) -> None:
    # A wrong token (401) or a crashed action (500) is no fault of the resident's: before,
    # they got the fallback "没太听明白".
    output = await run_in_turn(await answering_server(status))
    assert [message["text"] for message in output.messages] == [BUSY]


async def test_a_form_rejecting_the_message_stays_rasa_s_own_business(
    answering_server: Callable[[int], Awaitable[int]],
) -> None:
    # 400 is how an action says "not mine to handle" (a form rejecting its execution).
    port = await answering_server(400)
    output = CollectingOutputChannel()
    action = RemoteAction("action_triage", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)

    async def rasa(message: UserMessage) -> None:
        tracker = DialogueStateTracker.from_events(message.sender_id, [])
        with pytest.raises(ActionExecutionRejection):
            await action.run(message.output_channel, nlg, tracker, DOMAIN)

    await handle_in_engine(rasa, UserMessage("低保咋个办", output, "resident"))
    assert output.messages == []
