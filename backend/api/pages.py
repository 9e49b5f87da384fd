"""The district service page stand-in that embeds the web chat widget (for `make run`).

It is served here, not by the Rasa server, so that the page's origin differs from the
assistant's, as it will on the district's real site.
"""

from __future__ import annotations

from aiohttp import web

from backend.config import REPO_ROOT

DEMO_PAGE = REPO_ROOT / "connectors" / "webchat_static" / "demo.html"

routes = web.RouteTableDef()


@routes.get("/demo/")
async def demo_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DEMO_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
