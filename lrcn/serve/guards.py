"""vc-serve's request guards (ASGI middleware): who may call the API, from which page, with which headers.

- `TokenGuard`: with a token, every request but GET /health carries it (`Authorization: Bearer
  TOKEN`; `?token=` only on GET and HEAD, the dashboard's reads, so a link cannot change state),
  compared in constant time.
- `HostGuard`: without a token (loopback only), `Host` must name a loopback host or one configured
  (`http.allowed_hosts`): a DNS-rebinding page reaches 127.0.0.1 under its own domain name, which
  shows there. On every request that changes state, an `Origin` other than the service's own is
  refused, so no other page in a browser can add streams or upload.
- `nosniff` on every answer; the dashboard's page gets its own CSP (`page_csp`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from urllib.parse import parse_qs, urlsplit

from fastapi.responses import JSONResponse

READS = ("GET", "HEAD")
LOOPBACK_NAMES = ("localhost", "localhost.")


def error(status: int, message: str, close: bool = False) -> JSONResponse:
    """The API's one error shape: {"error": "one line"}; `close` ends the connection after it."""
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value
    return None


class TokenGuard:
    """Every request but GET /health carries the token, or gets 401 (unknown paths and /docs too, so
    nothing about the service is shown to a client without it)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/health" and not self._ok(scope):
            reads = "Authorization: Bearer TOKEN, or ?token= on GET"
            await error(401, f"missing or wrong token ({reads})")(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _ok(self, scope) -> bool:
        given = _header(scope, b"authorization") or b""
        if given[:7].lower() == b"bearer ":
            given = given[7:]
        elif scope.get("method") in READS:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0].encode()
        else:  # a state-changing request takes the token from its header only
            given = b""
        return hmac.compare_digest(given, self.token)


def host_name(value: str) -> str:
    """The host of a `Host` header value (`name[:port]`, `[v6]:port`), lower case; '' when malformed."""
    try:
        return (urlsplit("//" + value).hostname or "").lower()
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostGuard:
    """Refuses (400) a `Host` that is not loopback or configured, when `check_host`; refuses (403) a
    foreign `Origin` on state-changing requests always."""

    def __init__(self, app, allowed_hosts=(), check_host: bool = True):
        self.app, self.check_host = app, check_host
        self.allowed = {h.lower().rstrip(".") for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            problem = self._problem(scope)
            if problem is not None:
                await error(*problem, close=True)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _problem(self, scope) -> tuple[int, str] | None:
        raw = (_header(scope, b"host") or b"").decode("latin-1")
        if self.check_host:
            host = host_name(raw)
            if not (is_loopback(host) or host.rstrip(".") in self.allowed):
                return 400, (
                    "Host must name this machine (127.0.0.1, localhost, ::1) or one of http.allowed_hosts; "
                    "without a token the service answers no other name"
                )
        origin = _header(scope, b"origin")
        if origin is not None and scope.get("method") not in READS:
            try:
                netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
            except ValueError:
                netloc = ""
            if not netloc or netloc != raw.lower():
                return 403, "requests that change state are refused from another site's page (Origin)"
        return None


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-content-type-options"]
                message = {**message, "headers": [*headers, (b"x-content-type-options", b"nosniff")]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def page_csp(html: str) -> str:
    """A Content-Security-Policy for a self-contained page: its inline <script>s and <style>s by hash,
    everything else from this service only, no frames, no forms, no plugins."""

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        digests = [base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in found]
        return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; img-src 'self'; "
        "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
