"""The store's access log: who called what, without the identities in query strings.

`GET /applications?conversation_id=wechat:<OpenID>` would put a resident's OpenID into
every log line; query values are logged as pseudonyms (personaldata.masks.pseudonym),
which still let one conversation's requests be followed.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from personaldata.masks import pseudonym

# Polls that found nothing: every replica asks for a new model every 10 s and the
# training worker for a run every 5 s — a day of them would bury the requests that matter.
QUIET_POLLS = frozenset({("/models/active", 304), ("/training/claim", 204)})


def loggable_target(request: web.BaseRequest) -> str:
    """The path with every query value replaced by its pseudonym."""
    if not request.query:
        return request.path
    query = "&".join(f"{name}={pseudonym(value)}" for name, value in request.query.items())
    return f"{request.path}?{query}"


class PseudonymousAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if (request.path, response.status) in QUIET_POLLS:
            return
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            request.remote,
            request.method,
            loggable_target(request),
            response.status,
            time,
        )
