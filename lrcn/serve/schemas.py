"""The API's request and answer models (pydantic), and the snapshot of a stream they are made from."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lrcn.serve.config import shown_source
from lrcn.serve.frames import annotate, jpeg


class Error(BaseModel):
    error: str


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    ready: bool
    model: str
    streams: int
    model_sha256: str | None = None
    model_version: str | None = None


class ModelSwapRequest(BaseModel):
    path: str = Field(max_length=4096)
    """A model file inside the config's models_dir or in its model_allow list."""
    force: bool = False
    """Swap even to other classes or preprocessing (every stream's labels change)."""


class ModelSwap(BaseModel):
    model: str
    """The file name now served."""
    sha256: str
    version: str | None
    reset: list[str]
    """Streams whose state started afresh."""
    forced: bool


class StreamInfo(BaseModel):
    name: str
    source: str
    state: str = Field(description="starting, running, reconnecting, failed or ended")
    fps: float = Field(description="Processed frames per second over the last 5 s.")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    label: str | None
    probability: float | None
    uncertain: bool
    frames_read: int
    frames_processed: int
    frames_dropped: int
    predictions: int
    reconnects: int
    events: int
    error: str | None
    node: str | None = Field(None, description="The Ray node the stream runs on (vc-serve --ray); null: here.")


class StreamList(BaseModel):
    streams: list[StreamInfo]


class Removed(BaseModel):
    removed: str


class EventList(BaseModel):
    events: list[dict]


class Classified(BaseModel):
    """The same fields as one `vc-run --json` row in clip mode."""

    source: str
    label: str
    probability: float
    top_k: list[tuple[str, float]]
    clips: int
    frames: int
    ms: dict[str, float]


def stream_info(manager, e) -> StreamInfo:
    st = manager.stats(e)
    last = e.last
    prob = None if last is None else round(float(last.probability), 6)
    return StreamInfo(
        name=e.settings.name,
        source=shown_source(e.settings.source),  # a URL without its user info and query
        state=e.state,
        fps=round(manager.fps(e), 2),
        latency_p50_ms=None if st is None or st.latency_p50_ms is None else round(st.latency_p50_ms, 2),
        latency_p95_ms=None if st is None or st.latency_p95_ms is None else round(st.latency_p95_ms, 2),
        label=None if last is None else last.label,
        probability=prob,
        uncertain=last is not None and last.uncertain,
        frames_read=0 if st is None else st.read,
        frames_processed=0 if st is None else st.processed,
        frames_dropped=0 if st is None else st.dropped,
        predictions=0 if st is None else st.predictions,
        reconnects=0 if st is None else st.reconnects,
        events=manager.events.counts.get(e.settings.name, 0),
        error=e.error,
        node=manager.node(e),
    )


def frame_jpeg(manager, e) -> bytes | None:
    """The newest frame, annotated; encoded once per processed frame however many clients ask."""
    frame, index, cached = e.frame, e.frame_index, e.jpeg
    if frame is None:
        return None
    if cached is not None and cached[0] == index:
        return cached[1]
    last = e.last
    if last is None:
        label, prob = "(window filling)", None
    elif last.uncertain:
        label, prob = "uncertain", last.probability
    else:
        label, prob = last.label, last.probability
    data = jpeg(annotate(frame, label, prob, manager.fps(e)))
    e.jpeg = (index, data)
    return data
