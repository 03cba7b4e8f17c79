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
from lrcn.runtime.events import EventConfig
from lrcn.runtime.sinks import SINK_SCHEMES, SINK_SPECS
from lrcn.runtime.sources import check_url, is_url
from lrcn.runtime.stream import StreamConfig

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Stream names appear in URLs, metric labels and logs: a short safe alphabet."""
SMOOTH_MAX = 1000
"""A bound on `smooth` for requests from the network (the runtime asks only >= 1)."""


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
        return StreamConfig(sample_fps=self.sample_fps, smooth=self.smooth, threshold=self.threshold, realtime=True)


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
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    """Required when host is not a loopback address; checked on every endpoint but /health."""
    max_upload_mb: float = 50.0
    """POST /classify refuses bigger uploads (413)."""
    classify_workers: int = 2
    """Uploads classified at once; more wait (bounds memory under load)."""


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
    http: HttpSettings = field(default_factory=HttpSettings)
    events: EventSettings = field(default_factory=EventSettings)
    streams: list[StreamSettings] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    """Sink specs as `vc-run --sink` takes them (jsonl:PATH, http://..., mqtt://...)."""


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
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
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
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(hints)})")
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
    ):
        if value is not None and value < low:
            raise ConfigError(f"{key}: must be >= {low}, got {value}")
    if not cfg.stream_timeout > 0:
        raise ConfigError(f"stream_timeout: must be > 0 seconds, got {cfg.stream_timeout}")
    if not cfg.http.max_upload_mb > 0:
        raise ConfigError(f"http.max_upload_mb: must be > 0, got {cfg.http.max_upload_mb}")
    if cfg.http.host not in LOCAL_HOSTS and not cfg.http.token:
        raise ConfigError(
            f"http.host: {cfg.http.host} is not a loopback address: give a token "
            f"(--token or http.token) so that only clients that know it are served"
        )
    for i, spec in enumerate(cfg.sinks):
        if not spec.startswith(SINK_SCHEMES):
            raise ConfigError(f"sinks[{i}]: {spec!r}: expected {SINK_SPECS}")
    seen = set()
    for i, s in enumerate(cfg.streams):
        if is_url(s.source):
            try:
                check_url(s.source)  # the runtime's own check: refused here, not when the stream starts
            except LrcnError as e:
                raise ConfigError(f"streams[{i}].source: {e}") from None
        if s.name in seen:
            raise ConfigError(f"streams[{i}].name: {s.name!r} is used twice")
        seen.add(s.name)
    return cfg


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
