"""Rasa runtime configuration: every tunable read from the environment, in one place."""

from __future__ import annotations

import os

# Two keep Rasa busy while the other message waits on the action server.
MESSAGES_IN_FLIGHT = max(1, int(os.environ.get("RASA_MESSAGES_IN_FLIGHT", "2")))

# Longer than an action's own store call and its check by key (5 s each by default),
# so an action that is slow because the store is slow still finishes and tells the
# truth; shorter than a resident's patience.
ACTION_SERVER_TIMEOUT_SECONDS = float(os.environ.get("ACTION_SERVER_TIMEOUT_SECONDS", "15"))

# How long a stopping server lets turns in flight finish. Orchestrators send SIGKILL
# after 30 s by default; a turn takes well under a second unless a dependency hangs.
DRAIN_SECONDS = float(os.environ.get("RASA_DRAIN_SECONDS", "8"))

# Conversations are kept this long after their last event, then deleted. Half a year
# covers a 低保 or 危房改造 application from first question to decision (district
# review and publicity take up to about 3 months) and a follow-up question after it;
# the application itself is kept by the status store under the records rules.
CONVERSATION_RETENTION_DAYS = float(os.environ.get("CONVERSATION_RETENTION_DAYS", "180"))
RETENTION_INTERVAL_SECONDS = 24 * 60 * 60

# Capture of the turns the assistant could not answer well (rasa_runtime/capture.py).
# The status store's service API; the service token is a secret, read where it is used.
STORE_URL = os.environ.get("STORE_URL", "http://127.0.0.1:5100").rstrip("/")
# One outbox file per Rasa server process, named after its port: two replicas on one
# machine must not send each other's items.
CAPTURE_OUTBOX_FOLDER = os.environ.get("CAPTURE_OUTBOX_FOLDER", "var")
# A delivery that takes longer is retried: the store answers in milliseconds when up.
CAPTURE_TIMEOUT_SECONDS = float(os.environ.get("CAPTURE_TIMEOUT_SECONDS", "3"))
# Waits between attempts while the store is down double from the first to the cap: a
# store back after a restart gets its items within a minute, a store down for hours is
# not called more than once a minute.
CAPTURE_RETRY_FIRST_SECONDS = float(os.environ.get("CAPTURE_RETRY_FIRST_SECONDS", "1"))
CAPTURE_RETRY_MAX_SECONDS = float(os.environ.get("CAPTURE_RETRY_MAX_SECONDS", "60"))


# Turn counts (rasa_runtime/turn_counts.py) are sealed into a batch for the store this
# often: the dashboard's day figures lag by at most this much.
TURN_COUNTS_FLUSH_SECONDS = float(os.environ.get("TURN_COUNTS_FLUSH_SECONDS", "60"))


def capture_outbox_path(port: int) -> str:
    """The outbox file of the Rasa server listening on `port`."""
    return os.path.join(CAPTURE_OUTBOX_FOLDER, f"capture-outbox-{port}.db")


# Notices for residents from the store's outbox (rasa_runtime/notices.py): how often this
# server looks for due ones, how many it takes at a time, and how long each is leased
# to it (another replica takes a notice over only after that: longer than a delivery).
NOTICE_POLL_SECONDS = float(os.environ.get("NOTICE_POLL_SECONDS", "3"))
NOTICE_BATCH = int(os.environ.get("NOTICE_BATCH", "20"))
NOTICE_LEASE_SECONDS = int(os.environ.get("NOTICE_LEASE_SECONDS", "60"))
# Store calls of the background delivery; the look-up made while a resident waits for
# an answer (their message, their widget connecting) gets less, and after a failed
# call none is made for a poll interval, so a store down costs residents nothing.
NOTICE_STORE_TIMEOUT_SECONDS = float(os.environ.get("NOTICE_STORE_TIMEOUT_SECONDS", "5"))
NOTICE_TAKE_TIMEOUT_SECONDS = float(os.environ.get("NOTICE_TAKE_TIMEOUT_SECONDS", "1"))

# Every resident message is routed by the store's handoff state before the assistant sees
# it (connectors/handoff.py): the store answers in milliseconds, so a store slower than
# this is skipped and the assistant answers (fail open), and after a failure the store is
# not asked for a while, so an outage costs residents nothing.
HANDOFF_ROUTE_TIMEOUT_SECONDS = float(os.environ.get("HANDOFF_ROUTE_TIMEOUT_SECONDS", "1"))
HANDOFF_ROUTE_PAUSE_SECONDS = float(os.environ.get("HANDOFF_ROUTE_PAUSE_SECONDS", "3"))
