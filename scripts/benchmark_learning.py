"""Benchmark: the learning loop on these cores, in the production profile (two Rasa
replicas pulling models from the store, PostgreSQL, Redis) with the training worker.

A question the live model only clarifies is asked, captured and assigned in the
console; an admin starts a training. Measured, all in one run:
- REST latency (p50/p99) with the replicas idle — the baseline — and while the training
  runs beside them (the worker at nice 19), one request after another on both replicas;
- the training cycle: queued until trained (validate, train, score both models, upload);
- from activation until every replica answers with the new model (their pulls every
  `wait_time_between_pulls` seconds, then the load).
Figures go to stdout and results/benchmark_learning.json.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.benchmark import newest, summary  # noqa: E402
from tests.e2e.production import fresh_databases, production_environment  # noqa: E402
from tests.e2e.rest import RestClient, post_json  # noqa: E402
from tests.servers import Stack, running_stack, training_worker  # noqa: E402
from tests.staff_console import StaffConsole, create_admin  # noqa: E402
from tests.trainingdata import responses  # noqa: E402

QUESTION = "老年人补贴好多钱"
TOPIC = "faq/senior_allowance"
ANSWER = responses()[f"utter_{TOPIC}"][0]["text"]
LOAD = ["低保要带啥子材料", "老年证咋个办", "便民服务中心几点上班", "医保咋个报销", "你好"]
IDLE_REQUESTS = 150
INTEGRATION = RestClient("bench", uuid.uuid4().hex + uuid.uuid4().hex)


def ask(replica: str, text: str) -> tuple[str, float]:
    started = time.perf_counter()
    replies = post_json(
        f"{replica}/webhooks/rest/webhook",
        {"sender": f"bench-{uuid.uuid4().hex[:10]}", "message": text},
        client=INTEGRATION,
    )
    elapsed = (time.perf_counter() - started) * 1000
    return "\n".join(reply.get("text") or "" for reply in replies), elapsed


def latencies(stack: Stack, stop: threading.Event | None, count: int = 0) -> list[float]:
    """Requests one after another, alternating replicas, `count` of them or until `stop`."""
    times, sent = [], 0
    while (stop is None and sent < count) or (stop is not None and not stop.is_set()):
        replica = stack.rasa_urls[sent % len(stack.rasa_urls)]
        times.append(ask(replica, LOAD[sent % len(LOAD)])[1])
        sent += 1
    return times


async def cycle(stack: Stack) -> dict[str, float | dict]:
    password = create_admin(stack, "bench-admin")
    async with StaffConsole(stack.store_url) as console:
        await console.log_in("bench-admin", password)
        ask(stack.rasa_url, QUESTION)
        group = None
        while group is None:
            await asyncio.sleep(1)
            group = await console.inbox_group(QUESTION)
        page = f"/console/inbox/{group}"
        await console.submit(page, page, action="assign", label=TOPIC)

        stop = threading.Event()
        during: list[float] = []
        load = threading.Thread(target=lambda: during.extend(latencies(stack, stop)))
        queued = time.monotonic()
        run_path = await console.submit("/console/learning/train", "/console/learning")
        load.start()
        while (await console.json(f"{run_path}/status.json"))["state"] in ("queued", "running"):
            await asyncio.sleep(1)
        trained = time.monotonic()
        stop.set()
        load.join()
        status = await console.json(f"{run_path}/status.json")
        assert status["state"] == "trained", status["log_tail"]
        run_page = await console.page(run_path)
        model_id = int(run_page.split("/console/learning/models/")[1].split("/")[0])

        activated = time.monotonic()
        await console.submit(f"/console/learning/models/{model_id}/activate", run_path)
        waiting = set(stack.rasa_urls)
        while waiting:
            waiting = {r for r in waiting if ANSWER not in ask(r, QUESTION)[0]}
            await asyncio.sleep(0.5)
        everywhere = time.monotonic()
    return {
        "rest_during_training": summary(during),
        "requests_during_training": len(during),
        "training_seconds (queued to trained)": round(trained - queued, 1),
        "activation_to_every_replica_seconds": round(everywhere - activated, 1),
        "cycle_seconds (train + activate)": round(everywhere - queued, 1),
    }


def main() -> None:
    model = newest(ROOT / "bot" / "models")
    pulls = yaml.safe_load((ROOT / "endpoints.production.yml").read_text(encoding="utf-8"))
    channels = (ROOT / "credentials.production.yml").read_text(encoding="utf-8")
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_databases("bench_trackers", "bench_store") as (trackers, store),
        running_stack(
            Path(tmp),
            model,
            channels,
            production_environment(trackers, store, INTEGRATION),
            ROOT / "endpoints.production.yml",
            rasa_replicas=2,
        ) as stack,
        training_worker(stack),
    ):
        idle = summary(latencies(stack, None, IDLE_REQUESTS))
        figures = asyncio.run(cycle(stack))
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "replicas": 2,
        "wait_time_between_pulls_seconds": pulls["models"]["wait_time_between_pulls"],
        "rest_idle (baseline)": idle,
        **figures,
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "benchmark_learning.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
