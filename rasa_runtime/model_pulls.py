"""Models pulled from the model server load on a thread, not on the server's loop.

Rasa's `_update_model_from_server` loads a pulled model on the event loop that serves
the channels: for the seconds a model takes to load, every request to that replica
waited. Here the download stays on the loop and the load runs on a worker thread; the
agent swaps to the new processor when it is ready, turns in flight finish on the old
one (they hold it), and a model that fails to load leaves the old one answering.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import rasa.core.agent as rasa_agent
from rasa.core.agent import Agent
from rasa.nlu.utils import is_url
from rasa.utils.common import TempDirectoryPath, get_temp_dir_name
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)


async def update_model_from_server(model_server: EndpointConfig, agent: Agent) -> None:
    if not is_url(model_server.url):
        raise aiohttp.InvalidURL(model_server.url)
    with TempDirectoryPath(get_temp_dir_name()) as folder:
        try:
            fingerprint = await rasa_agent._pull_model_and_fingerprint(
                model_server, agent.fingerprint, folder
            )
            if fingerprint:
                await asyncio.to_thread(agent.load_model, folder, fingerprint)
                logger.info("Now answering with model %s from the model server", fingerprint[:12])
        except Exception:
            logger.exception("Failed to update the model: the previous model stays loaded")
