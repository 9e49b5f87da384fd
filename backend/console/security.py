"""Sessions, sign-in, CSRF and response headers of the console.

- The session is an encrypted cookie (aiohttp-session, Fernet), `HttpOnly`,
  `SameSite=Strict`, `Secure` when STORE_CONSOLE_SECURE_COOKIES=1 (behind TLS), with no
  expiry of its own: it holds the account id, the account's session epoch (raised on
  logout, password change or deactivation, which ends every session of the account on
  every instance of the store), a CSRF token and when it was last used. A session idle
  longer than STORE_CONSOLE_IDLE_MINUTES, or older than MAX_SESSION_HOURS, is over.
- A browser an account signed in with keeps a device cookie (signed, 90 days): its login
  tries are throttled on their own, so others' failures never keep that staff member out.
- Every state-changing request needs the session's CSRF token (form field `csrf_token`
  or header `X-CSRF-Token`) and, when the browser sends `Origin`, the console's own.
- Pages are not cached, may not be framed and run only the console's own scripts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from backend.api.common import SETTINGS, STORE
from backend.config import Settings
from backend.console.accounts import Staff
from backend.console.keys import ACCOUNTS
from backend.errors import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE_NAME = "daan_console"
DEVICE_COOKIE = "daan_console_device"
DEVICE_DAYS = 90
MAX_SESSION_HOURS = 12
STAFF = web.RequestKey("staff", Staff)  # the signed-in account
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/console/login"
STATIC_PREFIX = "/console/static/"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


def public(handler: Handler) -> Handler:
    """Mark a console handler as open without signing in (the login page)."""
    handler.console_public = True  # type: ignore[attr-defined]
    return handler


def session_key(settings: Settings) -> bytes:
    # Derived from the hash key so that the console adds no secret to manage; the
    # purpose string keeps it apart from every other use of that key.
    return hmac.new(settings.hash_key.encode(), b"console-session", hashlib.sha256).digest()


def sessions(settings: Settings) -> web.Middleware:
    storage = EncryptedCookieStorage(
        session_key(settings),
        cookie_name=COOKIE_NAME,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=settings.console_secure_cookies,
        max_age=None,
    )
    return session_middleware(storage)


def _device_mac(settings: Settings, name: str, nonce: str) -> str:
    key = hmac.new(settings.hash_key.encode(), b"console-device", hashlib.sha256).digest()
    return hmac.new(key, f"{name}|{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def device_cookie(settings: Settings, name: str) -> str:
    """A browser's proof that this account signed in with it before."""
    nonce = secrets.token_urlsafe(16)
    return f"{name}.{nonce}.{_device_mac(settings, name, nonce)}"


def trusted_device(settings: Settings, cookie: str | None, name: str) -> str | None:
    """The device's nonce when `cookie` is one this account was given; None otherwise."""
    parts = (cookie or "").rsplit(".", 2)
    if len(parts) != 3 or parts[0] != name:
        return None
    expected = _device_mac(settings, name, parts[1])
    return parts[1] if hmac.compare_digest(parts[2], expected) else None


def set_device_cookie(response: web.StreamResponse, settings: Settings, name: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie(settings, name),
        max_age=DEVICE_DAYS * 86400,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=settings.console_secure_cookies,
    )


def csrf_token(session: Session) -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def _now(request: web.Request) -> int:
    """Seconds by the store's clock (tests move it to let sessions idle out)."""
    return int(request.config_dict[STORE].clock().timestamp())


def start_session(request: web.Request, session: Session, staff: Staff) -> None:
    """Fill a new session for a signed-in account (a new CSRF token too: no fixation)."""
    now = _now(request)
    session.update({"account": staff.id, "epoch": staff.session_epoch, "since": now, "seen": now})
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def _expired(session: Session, idle_seconds: int, now: int) -> bool:
    return (
        now - int(session.get("seen", 0)) > idle_seconds
        or now - int(session.get("since", 0)) > MAX_SESSION_HOURS * 3600
    )


def _is_public(request: web.Request) -> bool:
    if request.path.startswith(STATIC_PREFIX):
        return True
    return getattr(request.match_info.handler, "console_public", False)


def _to_login(request: web.Request, notice: str) -> web.StreamResponse:
    if request.method not in SAFE_METHODS or request.path.endswith(".json"):
        raise web.HTTPUnauthorized(text="请重新登录")
    target = request.path_qs if request.method == "GET" else "/console/"
    raise web.HTTPFound(f"{LOGIN_PATH}?notice={notice}&next={quote(target, safe='')}")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path, never another site."""
    if not target or not target.startswith("/console/") or target.startswith("//"):
        return "/console/"
    parts = urlsplit(target)
    return "/console/" if parts.scheme or parts.netloc else target


@web.middleware
async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_public(request):
        return await handler(request)
    session = await get_session(request)
    settings = request.config_dict[SETTINGS]
    now = _now(request)
    if "account" not in session:
        return _to_login(request, "login")
    if _expired(session, settings.console_idle_minutes * 60, now):
        session.invalidate()
        return _to_login(request, "idle")
    staff = await request.config_dict[ACCOUNTS].current(session["account"], session["epoch"])
    if staff is None:
        session.invalidate()
        return _to_login(request, "ended")
    if not request.path.endswith(".json"):
        # A page a person opened; a tab polling by itself is not someone at work.
        session["seen"] = now
    request[STAFF] = staff
    return await handler(request)


@web.middleware
async def require_csrf_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    origin = request.headers.get("Origin")
    # Behind the TLS proxy the browser is on https while the store serves plain http.
    scheme = "https" if request.config_dict[SETTINGS].console_secure_cookies else request.scheme
    if origin is not None and origin != f"{scheme}://{request.host}":
        raise web.HTTPForbidden(text="来源不对，请从工作台页面操作")
    session = await get_session(request)
    expected = session.get(CSRF_FIELD, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sent = (await request.post()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise web.HTTPForbidden(text="页面已过期，请刷新后再操作")
    return await handler(request)


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The store's refusals as a page, not JSON, inside the console."""
    try:
        return await handler(request)
    except ApiError as error:
        response = aiohttp_jinja2.render_template("error.html", request, {"message": error.message})
        response.set_status(error.status)
        return response


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith(STATIC_PREFIX):
        # Pages show personal data: never kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    return response


def admin_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not request[STAFF].is_admin:
            raise web.HTTPForbidden(text="只有管理员可以做这件事")
        return await handler(request)

    return guarded
