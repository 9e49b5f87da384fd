"""Keys under which the console keeps its services on the application."""

from __future__ import annotations

from aiohttp import web

from backend.console.accounts import Accounts
from backend.console.audit import AuditLog
from backend.console.conversations import Conversations
from backend.console.labels import Label

ACCOUNTS = web.AppKey("accounts", Accounts)
AUDIT = web.AppKey("audit", AuditLog)
CONVERSATIONS = web.AppKey("conversations", Conversations)
LABELS = web.AppKey("labels", tuple[Label, ...])
