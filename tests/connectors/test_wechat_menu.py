"""The custom menu: within the platform's limits, and published with the shared token."""

from __future__ import annotations

from wechat_harness import APP_ID, APP_SECRET, fake_wechat_api

from connectors.wechat.menu import MENU_ITEMS, menu, publish
from connectors.wechat.settings import WeChatSettings


def test_menu_fits_the_platform_limits() -> None:
    buttons = menu()["button"]
    assert 1 <= len(buttons) <= 3
    for top in buttons:
        assert len(top["name"].encode()) <= 16
        assert 1 <= len(top["sub_button"]) <= 5
        for item in top["sub_button"]:
            assert item["type"] == "click"
            assert len(item["name"].encode()) <= 60
            assert 0 < len(item["key"].encode()) <= 128
    keys = [key for items in MENU_ITEMS.values() for _, key in items]
    assert len(keys) == len(set(keys))


async def test_menu_is_published_through_the_api() -> None:
    async with fake_wechat_api() as (api, base):
        settings = WeChatSettings(app_id=APP_ID, app_secret=APP_SECRET, api_base=base)
        await publish(settings)
    assert api.menu == menu()
    assert api.token_requests == 1
