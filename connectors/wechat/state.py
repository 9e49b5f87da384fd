"""Where the WeChat channel keeps its state: in memory, or in Redis shared by replicas.

Seen MsgIds, who delivers each answer, finished answers, numbered options,
undelivered answers, bodies bound to signed queries and the access token
(connectors/state.py). With several workers or replicas a retry of a MsgId landing on
another process would otherwise run Rasa twice and a digit would miss the options it
answers: there they live in Redis (`WECHAT_REDIS_URL`).
"""

from __future__ import annotations

from connectors.state import ChannelState, MemoryState, RedisState
from connectors.wechat.settings import Limits, WeChatSettings


def state_for(settings: WeChatSettings, limits: Limits) -> ChannelState:
    if settings.redis_url:
        # Per account, so several Official Accounts can share one Redis.
        return RedisState(settings.redis_url, prefix=f"wechat:{settings.app_id or 'plain'}:")
    return MemoryState(limits.max_entries)
