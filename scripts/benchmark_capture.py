"""Benchmark: what inbox capture costs a resident's turn.

Two copies of the assistant run side by side, the same model and channels, one with the
capture broker (endpoints.yml: inbox capture, turn counts, the local outbox) and one
without an event broker. Short conversations go to both in turn, message by message
(the order alternating each round), so both see the same questions under the same load;
two in ten of each conversation's messages are captured (a fallback, a referral).
Prints REST p50/p99 for each and the store's inbox afterwards; figures also go to
results/benchmark_capture.json. Run with `make benchmark`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.benchmark import CHANNELS, newest, summary  # noqa: E402
from scripts.benchmark_stack import Assistant, running_assistant  # noqa: E402

# A resident's conversation: eight answers, a fallback and a referral (captured).
CONVERSATION = [
    "低保要带啥子材料", "老年证好多岁能办", "呜呜呜", "医保今年交好多", "危房改造补助好多钱",
    "便民服务中心几点上班", "今天天气好不好", "社保卡丢了咋办", "临时救助哪些人能申请", "谢谢",
]  # fmt: skip
CAPTURED = 2
CONVERSATIONS = 40
DELIVERY_WAIT_SECONDS = 30


async def turn(
    session: aiohttp.ClientSession, assistant: Assistant, sender: str, text: str
) -> float:
    start = time.perf_counter()
    async with session.post(
        f"{assistant.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
    ) as reply:
        await reply.read()
        assert reply.status == 200, reply.status
    return (time.perf_counter() - start) * 1000


async def side_by_side(with_capture: Assistant, without: Assistant) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"with capture": [], "without capture": []}
    sides = [("with capture", with_capture), ("without capture", without)]
    async with aiohttp.ClientSession() as session:
        for text in CONVERSATION:  # warm-up: first calls trace TensorFlow functions
            for _, assistant in sides:
                await turn(session, assistant, "warm-up", text)
        for number in range(CONVERSATIONS):
            sender = f"bench-{number}-{uuid.uuid4().hex[:6]}"
            for i, text in enumerate(CONVERSATION):
                ordered = sides if (number + i) % 2 == 0 else sides[::-1]
                for name, assistant in ordered:
                    times[name].append(await turn(session, assistant, sender, text))
    return times


def inbox_items(folder: Path) -> int:
    with sqlite3.connect(folder / "store.db") as db:
        return db.execute("SELECT count(*) FROM inbox_items").fetchone()[0]


def captured_all(folder: Path, expected: int) -> int:
    """The store's inbox items once the outbox delivered (or after a wait)."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while (count := inbox_items(folder)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


def main() -> None:
    model = newest(ROOT / "bot" / "models")
    with tempfile.TemporaryDirectory() as tmp:
        folders = {name: Path(tmp) / name for name in ("with", "without")}
        for folder in folders.values():
            folder.mkdir()
        with (
            running_assistant(folders["with"], model, CHANNELS, {}) as with_capture,
            running_assistant(folders["without"], model, CHANNELS, {}, capture=False) as without,
        ):
            times = asyncio.run(side_by_side(with_capture, without))
            expected = CONVERSATIONS * CAPTURED + CAPTURED  # and the warm-up's
            items = {name: inbox_items(folder) for name, folder in folders.items()}
            items["with"] = captured_all(folders["with"], expected)
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "messages_per_side": len(times["with capture"]),
        "captured_share": CAPTURED / len(CONVERSATION),
        **{name: summary(values) for name, values in times.items()},
        "inbox_items": {"with capture": items["with"], "without capture": items["without"]},
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "benchmark_capture.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
