"""The Official Account's custom menu (自定义菜单).

Every item is a question as residents ask it: a click pushes the item's key, which the
channel hands to Rasa as the resident's own words. Keys are training examples, so the
model understands them (tests/data). Publish the menu with `make wechat-menu`
(WECHAT_APP_ID and WECHAT_APP_SECRET set; WECHAT_REDIS_URL too in production, so the
channel's access token is reused rather than replaced).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from connectors.wechat.api_client import WeChatClient
from connectors.wechat.settings import Limits, Timing, WeChatSettings
from connectors.wechat.state import state_for

# Top-level name → (item name, key). The platform allows 3 × 5 items, names of at most
# 4 (top) or 8 (item) Chinese characters and keys of at most 128 bytes.
MENU_ITEMS: dict[str, list[tuple[str, str]]] = {
    "办事指南": [
        ("老年证", "老年证办理条件"),
        ("低保", "低保咋个申请"),
        ("危房改造", "危房改造咋个申请"),
        ("医保交费", "医保交费"),
        ("高龄津贴", "高龄津贴咋个领"),
    ],
    "在线办理": [
        ("申请老年证", "我要办老年证"),
        ("申请低保", "我要申请低保"),
        ("申请危房改造", "我要申请危房改造"),
        ("申请临时救助", "我要申请临时救助"),
        ("查办件进度", "查进度"),
    ],
    "便民服务": [
        ("服务中心在哪", "便民服务中心在哪儿"),
        ("上班时间", "便民服务中心几点上班"),
        ("评价服务", "我要评价"),
        ("转人工", "转人工"),
    ],
}


def menu() -> dict[str, Any]:
    """The menu as `cgi-bin/menu/create` takes it."""
    return {
        "button": [
            {
                "name": top,
                "sub_button": [{"type": "click", "name": name, "key": key} for name, key in items],
            }
            for top, items in MENU_ITEMS.items()
        ]
    }


async def publish(settings: WeChatSettings) -> None:
    limits = Limits()
    state = state_for(settings, limits)
    client = WeChatClient(
        settings.api_base, str(settings.app_id), str(settings.app_secret), state, Timing()
    )
    try:
        await client.create_menu(menu())
    finally:
        await client.close()
        await state.close()


def main() -> None:
    settings = WeChatSettings.from_sources(None)
    if not settings.customer_service:
        sys.exit("Set WECHAT_APP_ID and WECHAT_APP_SECRET to publish the menu.")
    asyncio.run(publish(settings))
    print("WeChat menu published.")


if __name__ == "__main__":
    main()
