"""vc-serve's configuration: typed dataclasses, read from YAML and checked before anything starts.

Every problem is one `ConfigError` line that names the file and the key (`demo.yaml:
streams[1].sample_fps: expected a number, got 'fast'`); the CLI prints it and exits 2.
Relative paths in a file (the model, jsonl sinks) are relative to the file's folder, so a
config works from any working directory.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lrcn.core.errors import LrcnError
from lrcn.core.paths import STREAM_TIMEOUT_S
from lrcn.core.text import printable
from lrcn.runtime.events import EventConfig
from lrcn.runtime.motion import MotionConfig
from lrcn.runtime.sinks import SINK_SCHEMES, SINK_SPECS, display_url, shown_spec
from lrcn.runtime.sources import check_source, is_url
from lrcn.runtime.stream import StreamConfig
from lrcn.runtime.zones import MAX_ZONES, Zone, check_zones, parse_zone

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Stream names appear in URLs, metric labels and logs: a short safe alphabet."""
SMOOTH_MAX = 1000
"""A bound on `smooth` for requests from the network (the runtime asks only >= 1)."""
SHOWN_MAX = 80
"""Characters of a value an error line quotes (a YAML of nested aliases is small to load, huge to print)."""
TOKEN_ENV = "LRCN_SERVE_TOKEN"
"""The environment variable vc-serve takes its token from (a --token argument shows in `ps`)."""
TOKEN_FILE_MAX = 4096
ZONE_TEXT_MAX = 1000
"""Characters of one zone's text (a polygon of 64 points fits with room)."""


def shown(value: object) -> str:
    """A value as an error line quotes it: its type, and a printable repr cut at SHOWN_MAX characters,
    built without ever making the whole repr (a list of aliases can stand for billions of items)."""
    if isinstance(value, (list, tuple, dict, set)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)} item(s)"
    if isinstance(value, str):
        return printable(repr(value[: SHOWN_MAX + 1]))[:SHOWN_MAX] + ("..." if len(value) > SHOWN_MAX else "")
    text = printable(repr(value)) if isinstance(value, (int, float, bool)) or value is None else type(value).__name__
    return text[:SHOWN_MAX] + ("..." if len(text) > SHOWN_MAX else "")


def shown_source(source: str) -> str:
    """A stream source as logs and errors show it: a URL without user info and query, anything else printable."""
    return display_url(source) if is_url(source) else printable(source)[: 2 * SHOWN_MAX]


def checked_source(source: str, *, from_api: bool) -> int | str:
    """The runtime's `check_source` as the service applies it (SourceError in one line): digits of any
    script are always a camera index, never a file of that name; from the API (`from_api`) also no paths."""
    return check_source(source, from_api=from_api or source.isdigit())


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line naming the file and the key."""


class EventSettings(BaseModel):
    """When predictions make an event: `runtime.events.EventConfig`'s fields, checked by it (ranges live there)."""

    model_config = ConfigDict(extra="forbid")
    threshold: float = 0.5
    min_event: float = 1.0
    merge_gap: float = 1.0

    @model_validator(mode="after")
    def _runtime_checks(self) -> EventSettings:
        self.config()
        return self

    def config(self) -> EventConfig:
        """The runtime's EventConfig (ValueError naming the field when a value is out of range)."""
        return EventConfig(threshold=self.threshold, min_event=self.min_event, merge_gap=self.merge_gap)


class MotionSettings(BaseModel):
    """Motion gating (`runtime.motion.MotionConfig`'s fields, checked by it); `motion: {}` takes the defaults."""

    model_config = ConfigDict(extra="forbid")
    pixel_delta: float = Field(12.0, description="A thumbnail pixel changed when it moved by this many grey levels.")
    min_area: float = Field(0.005, description="Share of changed thumbnail pixels (0-1) under which a frame is gated.")
    max_gap: int = Field(50, description="At most this many frames in a row are gated; then the CNN runs once.")

    @model_validator(mode="after")
    def _runtime_checks(self) -> MotionSettings:
        self.config()
        return self

    def config(self) -> MotionConfig:
        return MotionConfig(pixel_delta=self.pixel_delta, min_area=self.min_area, max_gap=self.max_gap)


class StreamSettings(BaseModel):
    """One stream of the service, as the YAML file's `streams` list and `POST /streams` both give it.

    The value ranges are the runtime's (`stream.StreamConfig`, `events.EventConfig`), checked by them."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, description="1-64 letters, digits, '_', '-' or '.'")
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="A stream URL (http, rtsp, ...) or camera index; in a config file also a video file "
        "(played in real time).",
    )
    sample_fps: float | None = Field(None, description="Frames fed per second; null: the model's rate; 0: every frame.")
    threshold: float = Field(0.0, description="Below this top-1 probability the label shows as uncertain.")
    smooth: int = Field(1, le=SMOOTH_MAX, description="Moving average of the probabilities over this many predictions.")
    events: EventSettings | None = Field(None, description="When predictions make an event (default: the config's).")
    motion: MotionSettings | None = Field(
        None,
        description="Skip the CNN on frames whose view did not change (window mode, rgb or diff models; "
        "elsewhere off with a warning in the log). {} takes the defaults.",
    )
    zones: list[str] | None = Field(
        None,
        max_length=MAX_ZONES,
        description="Regions classified as their own streams NAME/ZONE from one decode, each "
        "'zone=x0,y0,x1,y1' in fractions of the frame, optionally ':x,y,x,y,...' a mask polygon.",
    )

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if any(len(z) > ZONE_TEXT_MAX for z in v):
                raise ValueError(f"a zone is at most {ZONE_TEXT_MAX} characters")
            check_zones([parse_zone(z) for z in v])  # ValueError in one line: bad numbers, twin names
        return v

    def zone_list(self) -> list[Zone]:
        """The zones parsed (empty: the whole view is one stream)."""
        return [parse_zone(z) for z in self.zones or []]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r}: use 1-64 letters, digits, '_', '-' or '.'")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("empty")
        return v.strip()

    @model_validator(mode="after")
    def _runtime_checks(self) -> StreamSettings:
        self.stream_config()
        return self

    def stream_config(self) -> StreamConfig:
        """The runtime's StreamConfig for this stream (a service plays files in real time)."""
        return StreamConfig(
            sample_fps=self.sample_fps,
            smooth=self.smooth,
            threshold=self.threshold,
            realtime=True,
            motion=self.motion.config() if self.motion is not None else None,
        )


def one_line(e: ValidationError, where: str = "") -> str:
    """A pydantic error as one line naming the key: `streams[0].threshold: threshold must be in [0, 1], got 2.0`."""
    errors = e.errors()
    if not errors:
        return where or "invalid"
    loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in errors[0]["loc"])
    key = (where + loc).lstrip(".")
    msg = str(errors[0]["msg"]).removeprefix("Value error, ")
    return f"{key}: {msg}" if key else msg


@dataclass
class MediaSettings:
    """Event media (`runtime.event_media`): a clip and a snapshot per event in `folder`, with retention."""

    folder: str
    pre_s: float = 3.0
    post_s: float = 3.0
    days: float = 7.0
    """Media older than this is removed (0: no age limit)."""
    max_mb: float = 2000.0
    """The oldest media is removed while the folder holds more than this (0: no size limit)."""
    copy: bool = True
    """Clips of rtsp:// and .mp4/.mkv/.mov H.264 sources are their packets copied, not re-encoded."""
    ring_mb: float = 32.0
    """Per such source, the most bytes of packets kept for clips to start from."""

    def config(self):
        """The runtime's MediaConfig (ValueError naming the field when a value is out of range)."""
        from lrcn.runtime.event_media import MediaConfig

        return MediaConfig(Path(self.folder), self.pre_s, self.post_s, self.days, self.max_mb, self.copy, self.ring_mb)


@dataclass
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    """Required when host is not a loopback address; checked on every endpoint but /health."""
    token_file: str | None = None
    """A file holding the token (first line); or the LRCN_SERVE_TOKEN environment variable. Either keeps it out of `ps`."""
    allowed_hosts: list[str] = field(default_factory=list)
    """Without a token, requests must name a loopback host (127.0.0.1, localhost, ::1) or one of these in
    `Host`: a DNS-rebinding page names its own domain there."""
    docs: bool = False
    """Serve /docs (Swagger UI). Off by default: its page loads scripts from a CDN, so it needs the network."""
    max_upload_mb: float = 50.0
    """POST /classify refuses bigger uploads (413)."""
    classify_workers: int = 2
    """Uploads classified at once; more wait (bounds memory under load)."""
    max_uploads: int = 16
    """Uploads in flight (receiving, waiting or classifying); one more is answered 503 at once."""
    upload_timeout: float = 60.0
    """Seconds an upload's body may take to arrive; a slower one is answered 408 and its connection closed."""
    upload_max_pixels: int = 3840 * 2160
    """Largest frame of an upload (width x height), checked from the container before decoding (413)."""
    upload_decode_timeout: float = 30.0
    """Seconds an upload may take to decode."""
    max_connections: int = 64
    """Connections and requests at once (uvicorn's limit_concurrency); past it requests get 503."""
    keep_alive: float = 5.0
    """Seconds an idle keep-alive connection stays open."""


@dataclass
class ServeConfig:
    model: str
    device: str = "auto"
    threads: int | None = None
    top_k: int = 5
    reconnect: int = 1000
    """Reopen attempts (with backoff) after a URL stream drops; a service keeps trying."""
    stream_timeout: float = STREAM_TIMEOUT_S
    history: int = 1000
    """Events kept in memory for /events (newest first)."""
    max_streams: int = 32
    """Streams at once; POST /streams past it is answered 429."""
    http: HttpSettings = field(default_factory=HttpSettings)
    events: EventSettings = field(default_factory=EventSettings)
    streams: list[StreamSettings] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    """Sink specs as `vc-run --sink` takes them (jsonl:PATH, http://..., mqtt://...)."""
    media: MediaSettings | None = None
    """Event clips and snapshots (GET /events/{id}/clip, /events/{id}/snapshot.jpg); None: none."""
    models_dir: str | None = None
    """POST /model may swap to a model file inside this folder (symlinks resolved)."""
    model_allow: list[str] = field(default_factory=list)
    """Model files POST /model may swap to besides those in `models_dir`."""
    ray: str | None = None
    """Run the streams on a Ray cluster (the `cluster` extra): local, auto or HOST:PORT of its head, as
    `vc-run --ray`. The API, metrics, dashboard and sinks stay here; no zones, media or model swap."""


def _type_name(tp) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(value, tp, where: str):
    """value as type tp, or ConfigError naming `where`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(value, args[0], where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp) or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return build(tp, value, where)
    ok = (
        isinstance(value, bool)
        if tp is bool
        else isinstance(value, (int, float)) and not isinstance(value, bool)
        if tp is float
        else isinstance(value, int) and not isinstance(value, bool)
        if tp is int
        else isinstance(value, tp)
    )
    if not ok:
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {shown(value)}")
    return float(value) if tp is float else value


def build(cls, data, where: str = ""):
    """A `cls` dataclass from a mapping: unknown keys, missing required keys and wrong types refused."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'top level'}: expected a mapping of keys, got {type(data).__name__}")
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        hints = {name: f.annotation for name, f in cls.model_fields.items()}
        required = {name for name, f in cls.model_fields.items() if f.is_required()}
    else:
        hints = typing.get_type_hints(cls)
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in hints:
            raise ConfigError(
                f"{prefix}{shown(key) if not isinstance(key, str) else printable(key[:SHOWN_MAX])}: unknown key (known: {', '.join(hints)})"
            )
    values = {}
    for name in hints:
        if name in data:
            values[name] = _convert(data[name], hints[name], prefix + name)
        elif name in required:
            raise ConfigError(f"{prefix}{name}: missing (required)")
    try:
        return cls(**values)
    except ValidationError as e:
        raise ConfigError(one_line(e, where)) from None


def check(cfg: ServeConfig) -> ServeConfig:
    """Value checks beyond types; the model file must exist."""
    from lrcn.runtime.session import DEVICES

    if not Path(cfg.model).is_file():
        raise ConfigError(f"model: {cfg.model}: no such file")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device: must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
    for key, value, low in (
        ("threads", cfg.threads, 1),
        ("top_k", cfg.top_k, 1),
        ("reconnect", cfg.reconnect, 0),
        ("history", cfg.history, 1),
        ("http.port", cfg.http.port, 0),
        ("http.classify_workers", cfg.http.classify_workers, 1),
        ("http.max_uploads", cfg.http.max_uploads, 1),
        ("http.upload_max_pixels", cfg.http.upload_max_pixels, 1),
        ("http.max_connections", cfg.http.max_connections, 1),
        ("max_streams", cfg.max_streams, 1),
    ):
        if value is not None and value < low:
            raise ConfigError(f"{key}: must be >= {low}, got {value}")
    if not cfg.stream_timeout > 0:
        raise ConfigError(f"stream_timeout: must be > 0 seconds, got {cfg.stream_timeout}")
    positive: tuple[tuple[str, float], ...] = (
        ("http.max_upload_mb", cfg.http.max_upload_mb),
        ("http.upload_timeout", cfg.http.upload_timeout),
        ("http.upload_decode_timeout", cfg.http.upload_decode_timeout),
        ("http.keep_alive", cfg.http.keep_alive),
    )
    for what, amount in positive:
        if not amount > 0:
            raise ConfigError(f"{what}: must be > 0, got {amount}")
    if cfg.http.token_file and not cfg.http.token:
        cfg.http.token = read_token_file(cfg.http.token_file)
    if cfg.http.host not in LOCAL_HOSTS and not cfg.http.token:
        raise ConfigError(
            f"http.host: {printable(cfg.http.host[:SHOWN_MAX])} is not a loopback address: give a token "
            f"({TOKEN_ENV}, --token-file or http.token_file) so that only clients that know it are served"
        )
    for i, spec in enumerate(cfg.sinks):
        if not spec.startswith(SINK_SCHEMES):
            raise ConfigError(f"sinks[{i}]: {shown(shown_spec(spec))}: expected {SINK_SPECS}")
    if cfg.media is not None:
        try:
            cfg.media.config()
        except ValueError as e:
            raise ConfigError(f"media: {str(e).removeprefix('--media ')}") from None
    if cfg.ray is not None:
        check_cluster(cfg)
    if len(cfg.streams) > cfg.max_streams:
        raise ConfigError(f"streams: {len(cfg.streams)} streams, over max_streams ({cfg.max_streams})")
    seen = set()
    for i, s in enumerate(cfg.streams):
        try:
            checked_source(s.source, from_api=False)  # the runtime's own check: refused here, not when it starts
        except LrcnError as e:
            raise ConfigError(f"streams[{i}].source: {e}") from None
        if s.name in seen:
            raise ConfigError(f"streams[{i}].name: {s.name!r} is used twice")
        seen.add(s.name)
    return cfg


def check_cluster(cfg: ServeConfig) -> None:
    """`ray`: an address `runtime.ray_cluster` accepts, and nothing the cluster's streams do not offer."""
    from lrcn.runtime.ray_cluster import check_address

    assert cfg.ray is not None
    try:
        cfg.ray = check_address(cfg.ray)
    except ValueError as e:
        raise ConfigError(f"ray: {str(e).removeprefix('--ray ')}") from None
    if cfg.media is not None:
        raise ConfigError("media: not available with ray (frames stay on the nodes)")
    for i, s in enumerate(cfg.streams):
        if s.zones:
            raise ConfigError(f"streams[{i}].zones: not available with ray (each stream runs whole on a node)")


def read_token_file(path: str) -> str:
    """The token in `path` (its first line, at most TOKEN_FILE_MAX bytes); ConfigError naming the file."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(TOKEN_FILE_MAX + 1)
    except OSError as e:
        raise ConfigError(f"http.token_file: {printable(path)}: cannot be read ({e.strerror or e})") from None
    lines = data.decode("utf-8", "replace").splitlines()
    token = lines[0].strip() if lines else ""
    if len(data) > TOKEN_FILE_MAX or not token or printable(token) != token:
        raise ConfigError(f"http.token_file: {printable(path)}: expected one line of printable text (the token)")
    return token


def load(path: str | Path) -> ServeConfig:
    """Read and check a YAML config; ConfigError (one line, naming the file) on any problem."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or e})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    try:
        cfg = build(ServeConfig, data if data is not None else {})
        base = path.resolve().parent
        cfg.model = str(base / cfg.model) if not Path(cfg.model).is_absolute() else cfg.model
        if cfg.models_dir and not Path(cfg.models_dir).is_absolute():
            cfg.models_dir = str(base / cfg.models_dir)
        cfg.model_allow = [a if Path(a).is_absolute() else str(base / a) for a in cfg.model_allow]
        if cfg.http.token_file and not Path(cfg.http.token_file).is_absolute():
            cfg.http.token_file = str(base / cfg.http.token_file)
        cfg.sinks = [
            f"jsonl:{base / s[6:]}" if s.startswith("jsonl:") and not Path(s[6:]).is_absolute() else s
            for s in cfg.sinks
        ]
        for s in cfg.streams:  # a video file named in the config runs relative to it too
            if not ("://" in s.source or s.source.isdigit()) and not Path(s.source).is_absolute():
                s.source = str(base / s.source)
        return check(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def parse_stream_arg(text: str, where: str = "--stream") -> StreamSettings:
    """`NAME=SOURCE` from the command line."""
    name, sep, source = text.partition("=")
    if not sep or not name.strip() or not source.strip():
        raise ConfigError(f"{where}: expected NAME=SOURCE, got {text!r}")
    try:
        return StreamSettings(name=name.strip(), source=source.strip())
    except ValidationError as e:
        raise ConfigError(f"{where}: {one_line(e)}") from None
