"""`python -m trainer`: the training worker, started by `make run` (scripts/processes.py).

It runs at the lowest CPU priority: training shares the cores with the live assistant,
which must keep answering residents while a model trains.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from personaldata.logs import mask_every_record
from trainer.client import StoreClient
from trainer.settings import SettingsError, TrainerSettings
from trainer.worker import Worker


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    mask_every_record()
    try:
        settings = TrainerSettings.from_environment()
        settings.require_token()
    except SettingsError as error:
        logging.getLogger("trainer").error("%s", error)
        return 2
    # The rasa subprocesses inherit the niceness; nothing the worker does is urgent.
    os.nice(settings.niceness)
    # Rasa in this process (loading models to score them) must not report anywhere,
    # and TensorFlow's informational lines would fill the worker's log.
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The config's dictionary and misspellings paths are relative to the repository.
    os.chdir(settings.root)
    client = StoreClient(
        settings.store_url,
        settings.token,
        settings.request_timeout_seconds,
        settings.transfer_timeout_seconds,
    )
    worker = Worker(settings, client)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("trainer").info("signal %s: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("trainer").info("training worker polling %s", settings.store_url)
    worker.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
