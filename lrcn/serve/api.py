"""vc-serve's HTTP API (FastAPI): JSON everywhere, errors as {"error": "one line"}, never a traceback.

Security (`serve.guards`): every route but /health needs the token when one is set; without one
(loopback only) `Host` must name this machine, and no other site's page may change state
(`Origin`). No route reads a filesystem path from the request (new streams are URLs or camera
indices, `check_source(from_api=True)`); uploads go to a temporary file that is always removed,
a bounded number at once, within a deadline, and frames over `http.upload_max_pixels` are refused
before they decode.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lrcn.core.errors import LrcnError
from lrcn.runtime.event_media import media_paths
from lrcn.serve import schemas as S
from lrcn.serve.config import StreamSettings, checked_source
from lrcn.serve.guards import HostGuard, SecurityHeaders, TokenGuard, page_csp
from lrcn.serve.guards import error as _error
from lrcn.serve.manager import NotOnCluster, StreamLimit
from lrcn.serve.reload import SwapRefused
from lrcn.serve.upload import UploadGate, check_video_bytes, content_type_problem, frame_size, upload_name

EVENTS_MAX = 1000
DRAIN_MAX = 256 * 1024 * 1024
"""A refused upload up to this size is read to its end and discarded (so the client reads the 413);
past it the connection is closed."""
HEAD_BYTES = 512
"""The start of an upload kept for the container check."""


class UploadError(HTTPException):
    """An upload refused; `close` ends the connection after the answer (its body was not read to the end)."""

    def __init__(self, status: int, message: str, close: bool = False):
        super().__init__(status, message)
        self.close = close


def create_app(service, token: str | None = None) -> FastAPI:
    http = service.cfg.http
    # /docs is Swagger UI, whose page loads its scripts from a CDN: off unless asked for (http.docs, --docs)
    app = FastAPI(title="lrcn vc-serve", version="1", docs_url="/docs" if http.docs else None, redoc_url=None)
    uploads = UploadGate(http.max_uploads)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return _error(exc.status_code, detail, close=getattr(exc, "close", False))

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
    app.add_middleware(HostGuard, allowed_hosts=http.allowed_hosts, check_host=not token)
    app.add_middleware(SecurityHeaders)
    mgr = lambda: service.manager  # noqa: E731

    @app.get("/health", response_model=S.Health)
    def health():
        return S.Health(status="ok")

    @app.get("/ready", response_model=S.Ready, responses={503: {"model": S.Error}})
    def ready():
        loaded = service.loaded
        if not (loaded and service.manager.ready()):
            return _error(503, "not ready: " + ("loading the model" if not loaded else "streams starting"))
        info = service.model_info
        return S.Ready(
            ready=True,
            model=info.name if info is not None else os.path.basename(service.cfg.model),
            streams=len(service.manager.list()),
            model_sha256=info.sha256 if info is not None else None,
            model_version=info.version if info is not None else None,
        )

    @app.post(
        "/model",
        response_model=S.ModelSwap,
        responses={c: {"model": S.Error} for c in (403, 409, 422, 503)},
    )
    def swap_model(body: S.ModelSwapRequest):
        if not service.loaded:
            return _error(503, "not ready: loading the model")
        try:
            return S.ModelSwap(**service.swap_model(body.path, body.force))
        except SwapRefused as e:
            return _error(e.status, str(e))

    @app.get("/streams", response_model=S.StreamList)
    def streams():
        return S.StreamList(streams=[S.stream_info(mgr(), e) for e in mgr().list()])

    # {name:path}: a zone's stream is named camera/zone. The routes under a stream come first, so
    # /streams/cam/door/events is the events of cam/door, not a stream named "cam/door/events".
    @app.get("/streams/{name:path}/events", response_model=S.EventList, responses={404: {"model": S.Error}})
    def stream_events(name: str, since: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=EVENTS_MAX)):
        _entry(name)
        return S.EventList(events=mgr().events.since(since, stream=name, limit=limit))

    @app.get("/streams/{name:path}/frame.jpg", responses={404: {"model": S.Error}}, response_class=Response)
    def frame(name: str):
        data = S.frame_jpeg(mgr(), _entry(name))
        if data is None:
            raise HTTPException(404, mgr().no_frames or f"stream {name!r} has no frame yet")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/streams/{name:path}", response_model=S.StreamInfo, responses={404: {"model": S.Error}})
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
        responses={409: {"model": S.Error}, 422: {"model": S.Error}, 429: {"model": S.Error}},
    )
    def add_stream(body: StreamSettings):
        try:  # the runtime's own check: a URL or a camera index (ASCII digits in bounds), never a path
            checked_source(body.source, from_api=True)
        except LrcnError as e:
            raise HTTPException(422, f"source: {e}") from None
        try:
            entry = service.add_stream(body)
        except StreamLimit as e:
            raise HTTPException(429, str(e)) from None
        except NotOnCluster as e:
            raise HTTPException(422, str(e)) from None
        except ValueError as e:
            raise HTTPException(409, str(e)) from None
        return S.stream_info(mgr(), entry)

    @app.delete("/streams/{name:path}", response_model=S.Removed, responses={404: {"model": S.Error}})
    def remove_stream(name: str):
        if not service.remove_stream(name):
            raise HTTPException(404, f"no stream named {name!r}")
        return S.Removed(removed=name)

    @app.get("/events", response_model=S.EventList)
    def events(limit: int = Query(100, ge=1, le=EVENTS_MAX)):
        return S.EventList(events=mgr().events.newest(limit))

    def _media_file(event_id: str, which: int) -> str:
        """An event's clip (0) or snapshot (1): only a regex-valid id, mapped by event_media.media_paths."""
        media = service.media
        if media is None:
            raise HTTPException(404, "event media is off (no `media` in the config)")
        try:
            path = media_paths(media.cfg.folder, event_id)[which]
        except ValueError:
            raise HTTPException(404, "no such event") from None
        if not path.is_file():
            raise HTTPException(404, f"no {'clip' if which == 0 else 'snapshot'} for event {event_id}")
        return str(path)

    @app.get("/events/{event_id}/clip", responses={404: {"model": S.Error}}, response_class=FileResponse)
    def event_clip(event_id: str):
        """The event's clip, H.264 in MP4 (Range requests answered with 206)."""
        return FileResponse(_media_file(event_id, 0), media_type="video/mp4")

    @app.get("/events/{event_id}/snapshot.jpg", responses={404: {"model": S.Error}}, response_class=FileResponse)
    def event_snapshot(event_id: str):
        return FileResponse(_media_file(event_id, 1), media_type="image/jpeg")

    @app.get("/metrics", response_class=Response)
    def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(service.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/classify",
        response_model=S.Classified,
        responses={c: {"model": S.Error} for c in (400, 408, 413, 415, 422, 503)},
    )
    async def classify(request: Request, name: str = Query("upload", max_length=200)):
        problem = content_type_problem(request.headers.get("content-type", ""))
        if problem:
            raise _refuse(415, problem, close=True)
        if not uploads.enter():
            raise _refuse(503, f"{uploads.limit} uploads are in flight (http.max_uploads); try again", close=True)
        try:
            answer = await _classify(request, upload_name(name))
        finally:
            uploads.leave()
        service.metrics.classify.labels("200").inc()
        return answer

    async def _classify(request: Request, name: str) -> S.Classified:
        limit = int(http.max_upload_mb * 1024 * 1024)
        deadline = asyncio.get_running_loop().time() + http.upload_timeout
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(request, int(declared), deadline)
            raise _refuse(413, f"upload of {int(declared)} bytes is over the limit of {limit} bytes", close=True)
        fd, tmp = tempfile.mkstemp(prefix=".lrcn-upload-", suffix=os.path.splitext(name)[1] or ".mp4")
        try:
            size = 0
            with os.fdopen(fd, "wb") as fh:
                head = b""
                async for chunk in _body(request, deadline):
                    size += len(chunk)
                    if size > limit:  # read on (discarding) so that the client gets the answer, up to a bound
                        if size > DRAIN_MAX:
                            break
                        continue
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    fh.write(chunk)
            if size > limit:
                raise _refuse(413, f"upload is over the limit of {limit} bytes", close=size > DRAIN_MAX)
            problem = check_video_bytes(head, size)
            if problem:
                raise _refuse(415 if size else 400, f"{name}: {problem}")
            return await run_in_threadpool(_predict, tmp, name)
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    async def _body(request: Request, deadline: float):
        """The request body's chunks, the whole body within `deadline` (loop time), else 408 and close."""
        chunks = request.stream().__aiter__()
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), max(0.0, deadline - loop.time()))
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _refuse(
                    408, f"the upload did not arrive within {http.upload_timeout:g} s (http.upload_timeout)", True
                ) from None
            yield chunk

    async def _drain(request: Request, size: int, deadline: float) -> None:
        """Read (and discard) a refused body up to DRAIN_MAX so that the client gets the 413, not a reset."""
        if size > DRAIN_MAX:
            return
        try:
            async for chunk in _body(request, deadline):
                size += len(chunk)
                if size > DRAIN_MAX:
                    return
        except UploadError:
            return

    def _refuse(status: int, message: str, close: bool = False) -> UploadError:
        service.metrics.classify.labels(str(status)).inc()
        return UploadError(status, message, close)

    def _predict(path: str, name: str) -> S.Classified:
        with service.classify_slots:
            size = frame_size(path)  # from the container, before a frame decodes: a huge frame costs nothing
            if size is not None and size[0] * size[1] > http.upload_max_pixels:
                raise _refuse(
                    413,
                    f"{name}: frames of {size[0]}x{size[1]} pixels are over the upload limit of "
                    f"{http.upload_max_pixels:,} pixels (http.upload_max_pixels)",
                )
            try:
                row = service.clf.predict(path).to_dict()
            except LrcnError as e:
                raise _refuse(422, re.sub(re.escape(path), name, str(e))) from None
        row["source"] = name
        return S.Classified(**row)

    @app.get("/", response_class=HTMLResponse)
    def dashboard():
        from lrcn.serve.dashboard import PAGE

        return HTMLResponse(PAGE, headers={"Content-Security-Policy": page_csp(PAGE), "Cache-Control": "no-store"})

    return app
