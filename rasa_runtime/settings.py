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
