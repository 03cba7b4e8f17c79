"""`http(s)://...`: POST each record as JSON from a worker thread, with a timeout, retries and a bounded queue.

The caller only appends to a deque (drop-oldest when full, drops counted), so a slow or dead
endpoint costs inference nothing. A 2xx is delivered; a 5xx, 408, 429 or a network error is
retried with exponential backoff, then counted as failed; any other 4xx fails at once (sending
the same body again will not help). Redirects are never followed: a 3xx fails at once (urllib
would turn the POST into an empty GET elsewhere and count it delivered).

Credentials (`user:password@` in the URL, `auth_env`, `token_env`) go in an Authorization header;
the request URL and the sink's name carry no user info, the name no query either.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from urllib.parse import urlsplit, urlunsplit

from lrcn.runtime.sinks.base import SinkSummary, display_url, parse_options, url_credentials

RETRYABLE = {408, 429}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Every 3xx answer becomes an HTTPError: an event is delivered where it was sent, or it failed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect)


def _without_userinfo(url: str) -> str:
    u = urlsplit(url)
    netloc = u.netloc.rpartition("@")[2]
    return urlunsplit((u.scheme, netloc, u.path, u.query, ""))


class HttpSink:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        retries: int = 3,
        backoff: float = 0.25,
        queue: int = 1000,
        predictions: float = 0.0,
        auth_env: str | None = None,
        token_env: str | None = None,
    ):
        if not timeout > 0:
            raise ValueError(f"http sink: timeout must be > 0 seconds, got {timeout}")
        if retries < 0 or queue < 1 or predictions < 0:
            raise ValueError("http sink: retries >= 0, queue >= 1 and predictions >= 0 are required")
        self.name = display_url(url)
        """The URL without user info, query and fragment: what summaries, warnings and metrics show."""
        self.url, self.timeout, self.retries, self.backoff = _without_userinfo(url), timeout, retries, backoff
        self._headers = {"Content-Type": "application/json"}
        user, password = url_credentials(url, auth_env)
        if user is not None:
            basic = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {basic}"
        elif token_env:
            token = os.environ.get(token_env)
            if token is None:
                raise ValueError(f"--sink {self.name}: token_env={token_env}, but that environment variable is unset")
            self._headers["Authorization"] = f"Bearer {token}"
        self._open = _opener().open
        self.wants_predictions = predictions > 0
        self._min_gap = 1.0 / predictions if predictions > 0 else 0.0
        self._last_pred: dict[str, float] = {}
        self.summary = SinkSummary(self.name)
        self._queue: deque[bytes] = deque()
        self._cap = queue
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._busy = False
        self._worker = threading.Thread(target=self._run, name="lrcn-http-sink", daemon=True)
        self._worker.start()

    @classmethod
    def from_spec(cls, spec: str) -> HttpSink:
        url, opts = parse_options(
            spec,
            {
                "timeout": float,
                "retries": int,
                "backoff": float,
                "queue": int,
                "predictions": float,
                "auth_env": str,
                "token_env": str,
            },
        )
        return cls(url, **opts)

    def emit(self, record: dict) -> None:
        if record.get("type") == "prediction":
            if not self._min_gap:
                return
            now, stream = time.monotonic(), str(record.get("stream"))
            if now - self._last_pred.get(stream, -1e9) < self._min_gap:
                return
            self._last_pred[stream] = now
        body = json.dumps(record, separators=(",", ":"), default=str).encode("utf-8")
        with self._cond:
            if self._closing.is_set():
                self.summary.dropped += 1
                return
            if len(self._queue) >= self._cap:
                self._queue.popleft()
                self.summary.dropped += 1
            self._queue.append(body)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing.is_set():
                    self._cond.wait()
                if not self._queue or time.monotonic() >= self._deadline:
                    return
                body = self._queue.popleft()
                self._busy = True
            ok = self._deliver(body)
            with self._cond:
                self._busy = False
                if ok:
                    self.summary.delivered += 1
                elif ok is False:
                    self.summary.failed += 1
                else:  # the close deadline came first: it goes back to be counted as unsent
                    self._queue.appendleft(body)
                self._cond.notify_all()

    def _deliver(self, body: bytes) -> bool | None:
        """True: delivered; False: given up; None: stopped by the close deadline."""
        for attempt in range(self.retries + 1):
            left = self._deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                req = urllib.request.Request(self.url, body, self._headers, method="POST")
                with self._open(req, timeout=min(self.timeout, left)) as resp:
                    resp.read(64 * 1024)  # the answer is not used: never read more than this
                return True
            except urllib.error.HTTPError as e:
                e.close()
                redirect = " (a redirect: not followed)" if 300 <= e.code < 400 else ""
                self.summary.note = f"last error: HTTP {e.code}{redirect}"
                if e.code < 500 and e.code not in RETRYABLE:
                    return False
            except (OSError, ValueError) as e:  # refused, reset, timed out, bad URL
                self.summary.note = f"last error: {getattr(e, 'reason', None) or e}"
            if attempt < self.retries:
                if not self._pause(min(self.backoff * 2**attempt, 5.0)):
                    return None
        return False

    def _pause(self, seconds: float) -> bool:
        """Back off for `seconds`, cut short by the close deadline (then False)."""
        end = time.monotonic() + seconds
        with self._cond:
            while True:
                now = time.monotonic()
                if now >= self._deadline:
                    return False
                if now >= end:
                    return True
                self._cond.wait(min(end, self._deadline) - now)

    def close(self, timeout: float = 2.0) -> SinkSummary:
        with self._cond:
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._closing.set()
            self._cond.notify_all()
        self._worker.join(max(0.0, timeout) + 0.5)
        with self._cond:
            self.summary.unsent = len(self._queue) + (1 if self._busy else 0)
            self._queue.clear()
        if self.summary.failed == 0 and self.summary.unsent == 0:
            self.summary.note = ""
        return self.summary
