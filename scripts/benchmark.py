"""Benchmark: this assistant against the vanilla `rasa init` bot, measured in one run.

Prints model load time, NLU parse latency, REST round trips (sequential and with
concurrent senders), messages per second and the Rasa server's resident memory, then
the status store's create/lookup throughput and a complete application conversation.
Run with `make benchmark`; figures go to stdout and results/benchmark.json.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import aiohttp
import psutil
import socketio
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.benchmark_stack import VENV, free_port, running_assistant, wait_for  # noqa: E402
from scripts.id_numbers import resident_id_number  # noqa: E402
from scripts.wechat_fake import FakeApi, FakePlatform  # noqa: E402

QUESTIONS = [
    "低保要带啥子材料", "老年证好多岁能办", "医保今年交好多", "危房改造补助好多钱",
    "便民服务中心几点上班", "养老金每个月好多钱", "社保卡丢了咋办", "你好",
    "临时救助哪些人能申请", "高龄津贴咋个领", "法律援助咋个申请", "谢谢",
]  # fmt: skip
# The version of the privacy notice residents are shown (domain.yml), sent with each create.
PRIVACY_NOTICE = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"][
    "utter_privacy_notice"
][0]["metadata"]["version"]
# The complete application's applicant: a person the store run does not apply for.
CONVERSATION_ID_NUMBER = resident_id_number(999_999)
BASELINE_QUESTIONS = ["hello", "I am sad", "yes", "are you a bot?", "goodbye", "great"]
SEQUENTIAL = 200
CONCURRENT_SENDERS, PER_SENDER = 10, 30


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(milliseconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(milliseconds, 0.5), 1),
        "p99_ms": round(percentile(milliseconds, 0.99), 1),
        "mean_ms": round(statistics.mean(milliseconds), 1),
    }


NLU_PROBE = """
import json, logging, sys, time
import psutil
from rasa.utils.log_utils import configure_structlog
configure_structlog(logging.WARNING)
from rasa.core.agent import Agent
import asyncio
start = time.perf_counter()
agent = Agent.load(sys.argv[1])
load = time.perf_counter() - start
questions = json.loads(sys.argv[2])
loop = asyncio.new_event_loop()
times = []
for i in range(300):
    t = time.perf_counter()
    loop.run_until_complete(agent.parse_message(questions[i % len(questions)]))
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"load_s": load, "parse_ms": times[20:],
                  "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""


def measure_nlu(model: Path, questions: list[str]) -> dict[str, float]:
    """Load and parse in a fresh process, so load time and memory are the model's own."""
    output = subprocess.run(
        [VENV / "python", "-c", NLU_PROBE, str(model), json.dumps(questions)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    data = json.loads(output.strip().splitlines()[-1])
    return {
        "model_load_s": round(data["load_s"], 1),
        **{f"parse_{k}": v for k, v in summary(data["parse_ms"]).items()},
        "nlu_process_rss_mb": round(data["rss_mb"]),
    }


async def rest_round_trips(url: str, questions: list[str]) -> dict[str, float]:
    webhook = f"{url}/webhooks/rest/webhook"
    async with aiohttp.ClientSession() as session:

        async def send(sender: str, text: str) -> float:
            start = time.perf_counter()
            async with session.post(webhook, json={"sender": sender, "message": text}) as reply:
                await reply.read()
                assert reply.status == 200
            return (time.perf_counter() - start) * 1000

        for text in questions:  # warm-up: first calls trace TensorFlow functions
            await send("warm-up", text)
        sequential = [await send("seq", questions[i % len(questions)]) for i in range(SEQUENTIAL)]

        async def sender(number: int) -> list[float]:
            name = f"sender-{number}-{uuid.uuid4().hex[:6]}"
            return [await send(name, questions[i % len(questions)]) for i in range(PER_SENDER)]

        start = time.perf_counter()
        batches = await asyncio.gather(*(sender(n) for n in range(CONCURRENT_SENDERS)))
        elapsed = time.perf_counter() - start
    concurrent = [t for batch in batches for t in batch]
    return {
        **{f"rest_sequential_{k}": v for k, v in summary(sequential).items()},
        **{f"rest_concurrent_{k}": v for k, v in summary(concurrent).items()},
        "rest_concurrent_messages_per_s": round(len(concurrent) / elapsed, 1),
    }


def server_rss_mb(port: int) -> int:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        # `rasa run` for the baseline, `python -m rasa_runtime.serve` for this assistant.
        if str(port) in cmdline and ("run" in cmdline or "rasa_runtime.serve" in cmdline):
            return round(process.memory_info().rss / 2**20)
    return -1


def newest(folder: Path) -> Path:
    return max(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)


def baseline(folder: Path) -> dict[str, float]:
    """The vanilla `rasa init` bot, trained and served the same way."""
    project = folder / "init-bot"
    project.mkdir()
    start = time.perf_counter()
    subprocess.run(
        [VENV / "rasa", "init", "--no-prompt", "--init-dir", str(project)],
        check=True, capture_output=True, cwd=folder,
    )  # fmt: skip
    figures = {"train_s": round(time.perf_counter() - start, 1)}
    model = newest(project / "models")
    figures |= measure_nlu(model, BASELINE_QUESTIONS)
    port = free_port()
    log = folder / "init-bot.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [VENV / "rasa", "run", "--model", str(model), "--port", str(port)]
            + ["--interface", "127.0.0.1"],
            cwd=project, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/webhooks/rest/", server, log)
        figures |= asyncio.run(rest_round_trips(f"http://127.0.0.1:{port}", BASELINE_QUESTIONS))
        figures["rasa_server_rss_mb"] = server_rss_mb(port)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return figures


async def store_throughput(store_url: str, token: str, clients: int = 20, each: int = 25) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    created: list[tuple[str, str]] = []  # tracking number, ID number

    async def create(session: aiohttp.ClientSession, n: int) -> float:
        # One person each: the store takes one open application per person and service.
        id_number = resident_id_number(n)
        body = {
            "service_type": "elderly_card", "applicant_name": "王秀英",
            "id_number": id_number, "phone": "13812345678", "township": "牛佛镇",
            "details": {}, "channel": "rest", "conversation_id": f"rest:bench-{n % 50}",
            "privacy_notice": PRIVACY_NOTICE,
        }  # fmt: skip
        start = time.perf_counter()
        async with session.post(
            f"{store_url}/applications", json=body,
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        ) as reply:  # fmt: skip
            created.append(((await reply.json())["tracking_number"], id_number))
        return (time.perf_counter() - start) * 1000

    async def lookup(session: aiohttp.ClientSession, n: int) -> float:
        number, id_number = created[n % len(created)]
        body = {"tracking_number": number, "proof": id_number[-4:],
                "conversation_id": f"rest:bench-lookup-{n}"}  # fmt: skip
        start = time.perf_counter()
        async with session.post(
            f"{store_url}/applications/lookup", json=body, headers=headers
        ) as r:
            await r.read()
        return (time.perf_counter() - start) * 1000

    figures = {}
    async with aiohttp.ClientSession() as session:
        for name, call in (("create", create), ("lookup", lookup)):

            async def client(c: int, call=call) -> list[float]:
                return [await call(session, c * each + i) for i in range(each)]

            start = time.perf_counter()
            batches = await asyncio.gather(*(client(c) for c in range(clients)))
            elapsed = time.perf_counter() - start
            times = [t for batch in batches for t in batch]
            figures[f"store_{name}_per_s"] = round(len(times) / elapsed, 1)
            figures[f"store_{name}_p99_ms"] = round(percentile(times, 0.99), 1)
    return figures


async def application_conversation(rasa_url: str) -> float:
    steps = ["我要办老年证", "王秀英", CONVERSATION_ID_NUMBER, "13812345678", "牛佛", "对的"]
    sender = f"bench-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        for text in steps:
            async with session.post(
                f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
            ) as reply:
                answer = await reply.json()
        elapsed = time.perf_counter() - start
    assert "DA" in json.dumps(answer, ensure_ascii=False), answer
    return round(elapsed, 2)


WECHAT = {
    "WECHAT_TOKEN": "benchmark-token",
    "WECHAT_APP_ID": "wx0000000000000000",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_APP_SECRET": "benchmark-secret",
}
# The project's channels as `make run` configures them (open REST on loopback).
CHANNELS = (ROOT / "credentials.yml").read_text(encoding="utf-8")


async def wechat_round_trips(
    api_port: int, rasa_url: str, residents: int = 50, each: int = 4
) -> dict:
    """Signed, AES-encrypted pushes from residents who all write at once.

    Each resident waits for the answer (the passive reply, or a customer-service
    message from the simulated WeChat API when the reply was "success") before the
    next question.
    """
    platform = FakePlatform(
        WECHAT["WECHAT_TOKEN"], WECHAT["WECHAT_APP_ID"], WECHAT["WECHAT_ENCODING_AES_KEY"]
    )
    api = FakeApi()
    responses: list[float] = []
    answers: list[float] = []
    passive: list[bool] = []

    async def resident(session: aiohttp.ClientSession, number: int) -> None:
        openid = f"o-bench-{number}"
        for i in range(each):
            query, body = platform.text(
                openid, QUESTIONS[(number + i) % len(QUESTIONS)], number * 100 + i
            )
            start = time.perf_counter()
            async with session.post(
                f"{rasa_url}/webhooks/wechat/webhook", params=query, data=body
            ) as r:
                reply = platform.reply_text(await r.text())
            responses.append((time.perf_counter() - start) * 1000)
            passive.append(reply is not None)
            if not passive[-1]:
                await asyncio.wait_for(api.inboxes[openid].get(), timeout=120)
            answers.append((time.perf_counter() - start) * 1000)

    async with api.serving(api_port), aiohttp.ClientSession() as session:
        start = time.perf_counter()
        await asyncio.gather(*(resident(session, n) for n in range(residents)))
        elapsed = time.perf_counter() - start
    return {
        **{f"wechat_{residents}_residents_response_{k}": v for k, v in summary(responses).items()},
        "wechat_share_responses_under_5s": round(
            sum(t < 5000 for t in responses) / len(responses), 3
        ),
        "wechat_share_answered_in_reply": round(sum(passive) / len(passive), 3),
        **{f"wechat_{residents}_residents_answer_{k}": v for k, v in summary(answers).items()},
        "wechat_messages_per_s": round(len(responses) / elapsed, 1),
    }


def widget_round_trips(rasa_url: str, messages: int = 60) -> dict:
    """user_uttered → first bot_uttered through the socket.io channel, as the widget does."""
    client = socketio.Client(websocket_extra_options={"suppress_origin": True})
    received, confirmed = threading.Event(), threading.Event()
    client.on("bot_uttered", lambda _data: received.set())
    # The server issues the session (with a token the widget keeps for reloads).
    client.on("session_confirm", lambda _session: confirmed.set())
    client.connect(rasa_url, transports=["websocket"], socketio_path="/socket.io")
    client.emit("session_request", {})
    if not confirmed.wait(timeout=10):
        raise RuntimeError("no session_confirm from the socket.io channel")
    replies: list[float] = []
    try:
        for i in range(messages):
            received.clear()
            start = time.perf_counter()
            text = QUESTIONS[i % len(QUESTIONS)]
            client.emit("user_uttered", {"message": text})
            if not received.wait(timeout=15):
                raise RuntimeError("no bot_uttered from the socket.io channel")
            replies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.3)  # let the remaining bubbles of a multi-part answer arrive
    finally:
        client.disconnect()
    return {f"widget_first_reply_{k}": v for k, v in summary(replies[5:]).items()}


def ours(folder: Path) -> dict[str, float]:
    start = time.perf_counter()
    subprocess.run(["make", "--no-print-directory", "train"], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    figures = {"train_s (0 when data unchanged)": round(time.perf_counter() - start, 1)}
    model = newest(ROOT / "bot" / "models")
    figures["model_mb"] = round(model.stat().st_size / 2**20, 1)
    figures |= measure_nlu(model, QUESTIONS)
    api_port = free_port()
    wechat = {**WECHAT, "WECHAT_API_BASE": f"http://127.0.0.1:{api_port}"}
    with running_assistant(folder / "stack", model, CHANNELS, wechat) as stack:
        figures |= asyncio.run(rest_round_trips(stack.rasa_url, QUESTIONS))
        figures["rasa_server_rss_mb"] = server_rss_mb(int(stack.rasa_url.rsplit(":", 1)[1]))
        figures |= asyncio.run(store_throughput(stack.store_url, stack.env["STORE_SERVICE_TOKEN"]))
        figures["application_conversation_s"] = asyncio.run(
            application_conversation(stack.rasa_url)
        )
        figures |= widget_round_trips(stack.rasa_url)
        figures |= asyncio.run(wechat_round_trips(api_port, stack.rasa_url))
    # The same residents with every message admitted to Rasa at once (no first come,
    # first served): what the engine's few workers are for.
    (folder / "all-at-once").mkdir()
    all_at_once = {**wechat, "RASA_MESSAGES_IN_FLIGHT": "1000"}
    with running_assistant(folder / "all-at-once", model, CHANNELS, all_at_once) as stack:
        crowd = asyncio.run(wechat_round_trips(api_port, stack.rasa_url))
    figures |= {f"{name} (all admitted at once)": value for name, value in crowd.items()}
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "stack").mkdir()
        results = {"baseline (rasa init)": baseline(folder), "this assistant": ours(folder)}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "benchmark.json").write_text(json.dumps(results, indent=2))
    names = sorted({k for figures in results.values() for k in figures})
    print(f"{'figure':40} {'baseline':>12} {'this':>12}")
    for name in names:
        row = [results[side].get(name, "") for side in results]
        print(f"{name:40} {row[0]!s:>12} {row[1]!s:>12}")


if __name__ == "__main__":
    main()
