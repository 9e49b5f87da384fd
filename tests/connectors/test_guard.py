"""One sender's messages reach Rasa one at a time and in order; a flood is refused."""

from __future__ import annotations

import asyncio

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors.guard import MAX_PENDING_PER_SENDER, TOO_FAST_REPLY, guarded
from connectors.options import OptionMemory
from connectors.state import MemoryState


class SlowRasa:
    """Holds the flooder's messages until released; records what reaches it and how
    many of one sender's messages it holds at once."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, str]] = []
        self.release = asyncio.Event()
        self._test_loop = asyncio.get_running_loop()
        self._in_flight: dict[str, int] = {}
        self.most_at_once = 0

    async def __call__(self, message: UserMessage) -> None:
        sender = message.sender_id
        self._in_flight[sender] = self._in_flight.get(sender, 0) + 1
        self.most_at_once = max(self.most_at_once, self._in_flight[sender])
        if sender == "flooder":
            # Runs on the engine's loop; the event belongs to the test's loop.
            released = asyncio.run_coroutine_threadsafe(self.release.wait(), self._test_loop)
            await asyncio.wrap_future(released)
        self.handled.append((sender, message.text))
        self._in_flight[sender] -= 1


def message(sender: str, text: str) -> tuple[UserMessage, CollectingOutputChannel]:
    output = CollectingOutputChannel()
    return UserMessage(text, output, sender), output


async def test_a_flood_from_one_sender_is_refused_and_the_rest_kept_in_order() -> None:
    rasa = SlowRasa()
    handle = guarded(rasa, OptionMemory(MemoryState(100)))
    sent = [message("flooder", f"第{i}条") for i in range(MAX_PENDING_PER_SENDER + 2)]
    other, _ = message("neighbour", "老年证咋个办")

    tasks = [asyncio.ensure_future(handle(m)) for m, _ in sent]
    await asyncio.sleep(0.1)
    refused = [i for i, (_, output) in enumerate(sent) if output.messages]
    assert refused == [MAX_PENDING_PER_SENDER, MAX_PENDING_PER_SENDER + 1]
    assert sent[-1][1].messages[0]["text"] == TOO_FAST_REPLY

    # Another resident is answered while the flooder's messages wait.
    await asyncio.wait_for(handle(other), timeout=5)
    assert rasa.handled == [("neighbour", "老年证咋个办")]

    rasa.release.set()
    await asyncio.gather(*tasks)
    flooder = [text for sender, text in rasa.handled if sender == "flooder"]
    assert flooder == [f"第{i}条" for i in range(MAX_PENDING_PER_SENDER)]
    assert rasa.most_at_once == 1

    # Once answered, the sender may write again.
    again, output = message("flooder", "还有一个问题")
    await handle(again)
    assert rasa.handled[-1] == ("flooder", "还有一个问题")
    assert output.messages == []
