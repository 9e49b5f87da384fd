"""Proof throttling: how often someone may try to prove they are an applicant.

A proof (the last 4 characters of the ID number, or the phone number) is tried in a
lookup or a withdrawal by tracking number, and an ID number with a phone in a search by
applicant. A failure is an unknown tracking number, a wrong proof or a search that finds
nothing. (Creates are never refused for an open application of the same person, so they
tell nothing and are not counted: backend/store.py flags them for staff.) Failures are
stored (backend.models.ProofFailure), so every instance of the store counts the same
ones. The policy, also described in backend/openapi.yaml:

- Per conversation (the caller): after `max_failures` failures within `window`, the
  conversation's attempts are refused until enough of them have left the window. The
  channels bind a conversation id to an identity they have checked (a WeChat OpenID, a
  server-issued widget session, an authenticated REST client), so an attacker cannot
  name someone else's conversation; a fresh widget session is cheap, though, which is
  why the limits per subject and per proof exist.
- Per subject (the tracking number, or the ID number of a search), whoever asks: after
  `max_failures` failures within `window`, each further attempt has to wait after the
  latest failure, `backoff_base` doubled for each further failure and at most
  `backoff_max`. Failures older than `window` stop counting, so the delay decays. The
  subject is never locked: however many failures an attacker piles up, one attempt per
  `backoff_max` gets through.
- Per proof (the phone number or last four ID characters offered), whatever it is
  offered for, with the same backoff: someone who knows a resident's phone number
  cannot try it on every (sequential) tracking number from ever new conversations
  (a fresh widget session costs nothing) to find that resident's applications.
- The conversation that submitted an application is never held back by the failures of
  others on its tracking number (only by its own, per conversation): an attacker
  cannot lock the owner out of their own application.

An attempt is recorded as a failure before its proof is checked, so that concurrent
guesses cannot all pass the limit before any of them is counted; a refused attempt
checked nothing and is removed, and a successful one removes its own record only (a
success by someone who filed an application with their own phone and a victim's ID
number must not wipe the failures of that ID number).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.config import Settings

# 2**30 times any base is years: further doublings cannot matter once capped.
_MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    window: timedelta
    backoff_base: timedelta
    backoff_max: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures=settings.proof_max_failures,
            window=timedelta(seconds=settings.proof_window_seconds),
            backoff_base=timedelta(seconds=settings.proof_backoff_base_seconds),
            backoff_max=timedelta(seconds=settings.proof_backoff_max_seconds),
        )

    @classmethod
    def for_logins(cls, settings: Settings) -> ThrottlePolicy:
        """Console logins (backend/console/accounts.py): per account name and per client,
        with the same backoff that never locks anyone out for good."""
        return cls(
            max_failures=settings.login_max_failures,
            window=timedelta(seconds=settings.login_window_seconds),
            backoff_base=timedelta(seconds=settings.login_backoff_base_seconds),
            backoff_max=timedelta(seconds=settings.login_backoff_max_seconds),
        )

    def caller_retry_after(self, failures: Sequence[datetime], now: datetime) -> int:
        """Seconds the caller must wait, given its other failures in the window (oldest
        first); 0 if it may try now."""
        if len(failures) < self.max_failures:
            return 0
        # Attempts become possible again once enough failures have left the window.
        return _seconds_until(failures[len(failures) - self.max_failures] + self.window, now)

    def subject_retry_after(self, failures: Sequence[datetime], now: datetime) -> int:
        """Seconds anyone but the owner must wait to try this subject again, given its
        other failures in the window (oldest first); 0 if they may try now."""
        if len(failures) < self.max_failures:
            return 0
        return _seconds_until(failures[-1] + self.backoff(len(failures)), now)

    def backoff(self, failures: int) -> timedelta:
        """The wait after the latest of `failures` failures (at least `max_failures`)."""
        doublings = min(failures - self.max_failures, _MAX_DOUBLINGS)
        return min(self.backoff_base * 2**doublings, self.backoff_max)


def _seconds_until(moment: datetime, now: datetime) -> int:
    remaining = (moment - now).total_seconds()
    return max(1, math.ceil(remaining)) if remaining > 0 else 0
