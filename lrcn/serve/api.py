"""vc-serve's HTTP API (FastAPI): JSON everywhere, errors as {"error": "one line"}, never a traceback.

Security: every route but /health needs the token when one is set (`Authorization: Bearer
TOKEN`, or `?token=` for the dashboard's own requests); no route reads a filesystem path from
the request (new streams are URLs or camera indices; uploads go to a temporary file that is
always removed).
"""

from __future__ import annotations

import hmac
import os
import re
import tempfile
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lrcn.core.errors import LrcnError
from lrcn.runtime.sources import check_url, is_url
from lrcn.serve import schemas as S
from lrcn.serve.config import StreamSettings
from lrcn.serve.upload import check_video_bytes, upload_name

EVENTS_MAX = 1000
DRAIN_MAX = 256 * 1024 * 1024
"""A refused upload up to this size is read to its end and discarded (so the client reads the 413);
past it the connection is closed."""
HEAD_BYTES = 512
"""The start of an upload kept for the container check."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


class TokenGuard:
    """ASGI middleware: every request but GET /health carries the token, or gets 401 (unknown paths and
    /docs too, so nothing about the service is shown to a client without it)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/health" and not self._ok(scope):
            response = _error(401, "missing or wrong token (Authorization: Bearer TOKEN, or ?token=)")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _ok(self, scope) -> bool:
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if given[:7].lower() == b"bearer ":
            given = given[7:]
        else:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0].encode()
        return hmac.compare_digest(given, self.token)


def create_app(service, token: str | None = None) -> FastAPI:
    app = FastAPI(title="lrcn vc-serve", version="1", docs_url="/docs", redoc_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return _error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "request refused")

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        msg = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        return _error(422, f"{where}: {msg}" if where else msg)

    @app.exception_handler(Exception)
    async def crashed(request, exc):  # a bug answers one line; the log has the type
        return _error(500, f"internal error ({type(exc).__name__})")

    if token:
        app.add_middleware(TokenGuard, token=token)
    mgr = lambda: service.manager  # noqa: E731

    @app.get("/health", response_model=S.Health)
    def health():
        return S.Health(status="ok")

    @app.get("/ready", response_model=S.Ready, responses={503: {"model": S.Error}})
    def ready():
        loaded = service.loaded
        if not (loaded and service.manager.ready()):
            return _error(503, "not ready: " + ("loading the model" if not loaded else "streams starting"))
        return S.Ready(ready=True, model=os.path.basename(service.cfg.model), streams=len(service.manager.list()))

    @app.get("/streams", response_model=S.StreamList)
    def streams():
        return S.StreamList(streams=[S.stream_info(mgr(), e) for e in mgr().list()])

    @app.get("/streams/{name}", response_model=S.StreamInfo, responses={404: {"model": S.Error}})
    def stream(name: str):
        return S.stream_info(mgr(), _entry(name))

    def _entry(name: str):
        entry = mgr().get(name)
        if entry is None:
            raise HTTPException(404, f"no stream named {name!r}")
        return entry

    @app.post(
        "/streams",
        response_model=S.StreamInfo,
        status_code=201,
        responses={409: {"model": S.Error}, 422: {"model": S.Error}},
    )
    def add_stream(body: StreamSettings):
        src = body.source
        if is_url(src):
            try:
                check_url(src)  # the runtime's own check: a scheme it would refuse is refused here, not later
            except LrcnError as e:
                raise HTTPException(422, f"source: {e}") from None
        elif not src.isdigit():
            raise HTTPException(
                422,
                "source: give a stream URL (http, rtsp, ...) or a camera index; file paths are not read over the API",
            )
        try:
            entry = service.add_stream(body)
        except ValueError as e:
            raise HTTPException(409, str(e)) from None
        return S.stream_info(mgr(), entry)

    @app.delete("/streams/{name}", response_model=S.Removed, responses={404: {"model": S.Error}})
    def remove_stream(name: str):
        if not service.remove_stream(name):
            raise HTTPException(404, f"no stream named {name!r}")
        return S.Removed(removed=name)

    @app.get("/streams/{name}/events", response_model=S.EventList, responses={404: {"model": S.Error}})
    def stream_events(name: str, since: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=EVENTS_MAX)):
        _entry(name)
        return S.EventList(events=mgr().events.since(since, stream=name, limit=limit))

    @app.get("/events", response_model=S.EventList)
    def events(limit: int = Query(100, ge=1, le=EVENTS_MAX)):
        return S.EventList(events=mgr().events.newest(limit))

    @app.get("/streams/{name}/frame.jpg", responses={404: {"model": S.Error}}, response_class=Response)
    def frame(name: str):
        data = S.frame_jpeg(mgr(), _entry(name))
        if data is None:
            raise HTTPException(404, f"stream {name!r} has no frame yet")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/metrics", response_class=Response)
    def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(service.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/classify",
        response_model=S.Classified,
        responses={400: {"model": S.Error}, 413: {"model": S.Error}, 415: {"model": S.Error}, 422: {"model": S.Error}},
    )
    async def classify(request: Request, name: str = Query("upload", max_length=200)):
        answer = await _classify(request, upload_name(name))
        service.metrics.classify.labels("200").inc()
        return answer

    async def _classify(request: Request, name: str) -> S.Classified:
        limit = int(service.cfg.http.max_upload_mb * 1024 * 1024)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/"):
            raise _refuse(415, "send the video as the request body (curl --data-binary @clip.mp4), not as a form")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(request, int(declared))
            raise _refuse(413, f"upload of {int(declared)} bytes is over the limit of {limit} bytes")
        fd, tmp = tempfile.mkstemp(prefix=".lrcn-upload-", suffix=os.path.splitext(name)[1] or ".mp4")
        try:
            size = 0
            with os.fdopen(fd, "wb") as fh:
                head = b""
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:  # read on (discarding) so that the client gets the answer, up to a bound
                        if size > DRAIN_MAX:
                            break
                        continue
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    fh.write(chunk)
            if size > limit:
                raise _refuse(413, f"upload is over the limit of {limit} bytes")
            problem = check_video_bytes(head, size)
            if problem:
                raise _refuse(415 if size else 400, f"{name}: {problem}")
            return await run_in_threadpool(_predict, tmp, name)
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    async def _drain(request: Request, size: int) -> None:
        """Read (and discard) a refused body up to DRAIN_MAX so that the client gets the 413, not a reset."""
        if size > DRAIN_MAX:
            return
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_MAX:
                return

    def _refuse(status: int, message: str) -> HTTPException:
        service.metrics.classify.labels(str(status)).inc()
        return HTTPException(status, message)

    def _predict(path: str, name: str) -> S.Classified:
        with service.classify_slots:
            try:
                row = service.clf.predict(path).to_dict()
            except LrcnError as e:
                raise _refuse(422, re.sub(re.escape(path), name, str(e))) from None
        row["source"] = name
        return S.Classified(**row)

    @app.get("/", response_class=HTMLResponse)
    def dashboard():
        from lrcn.serve.dashboard import PAGE

        return HTMLResponse(PAGE)

    return app
