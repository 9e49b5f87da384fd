"""Request signatures of the WeChat message push, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac


def sign(*parts: str) -> str:
    """sha1 of the lexicographically sorted concatenation, as the platform computes it."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify(given: str | None, *parts: str) -> bool:
    """Whether `given` is the signature of `parts`, without leaking timing."""
    if not given:
        return False
    # Bytes, because compare_digest refuses non-ASCII str and the query is attacker-chosen.
    return hmac.compare_digest(sign(*parts).encode(), given.encode(errors="replace"))


def is_fresh(timestamp: str | None, now: float, window: float) -> bool:
    """Whether a request timestamp is within `window` seconds of now, either way.

    The future side matters too: a far-future timestamp would otherwise stay "fresh"
    for longer than the dedup cache remembers the request.
    """
    if not timestamp or len(timestamp) > 12 or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    return abs(now - int(timestamp)) <= window
