"""What every sink shares: the summary, the interface, the spec options (the transports import this, not the package)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

from lrcn.core.text import printable

SINK_SCHEMES = ("jsonl:", "http://", "https://", "mqtt://", "mqtts://")
"""How a sink spec starts (`open_sink` dispatches on it; vc-serve checks its config with it)."""
SINK_SPECS = "jsonl:PATH, http(s)://URL or mqtt(s)://host[:port]/topic"


@dataclass
class SinkSummary:
    """What a sink did: delivered (acknowledged), failed (given up after retries), dropped (queue full),
    unsent (still queued when close timed out)."""

    name: str
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    unsent: int = 0
    note: str = ""

    def line(self) -> str:
        text = f"{self.name}: delivered {self.delivered}, failed {self.failed}, dropped {self.dropped}"
        if self.unsent:
            text += f", {self.unsent} not delivered before the close timeout"
        return text + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict:
        return {
            "sink": self.name,
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "unsent": self.unsent,
            "note": self.note,
        }


class Sink(Protocol):
    name: str
    wants_predictions: bool

    def emit(self, record: dict) -> None:
        """Hand over one record; returns at once (queued or written)."""

    def close(self, timeout: float = 2.0) -> SinkSummary:
        """Deliver what can be delivered within `timeout` seconds, stop, and say what happened."""


def topic_part(name: str) -> str:
    """A stream name as one topic level (MQTT) or file name part: no wildcards, no separators."""
    return "".join("_" if c in "+#/" else c for c in name) or "_"


def display_url(url: str) -> str:
    """`url` without user info, query and fragment: scheme://host[:port]/path, printable (a sink's name)."""
    try:
        u = urlsplit(url)
        host = u.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        netloc = f"{host}:{u.port}" if u.port else host
    except ValueError:
        return printable(url.split("://", 1)[0] + "://?")
    return printable(f"{u.scheme}://{netloc}{u.path}")


def shown_spec(target: str) -> str:
    """A sink spec as lines may show it: a URL without its secrets, anything else printable."""
    return display_url(target) if "://" in target else printable(target)


def url_credentials(url: str, auth_env: str | None = None) -> tuple[str | None, str | None]:
    """(user, password) from `user:password@` in the URL, else from the environment variable `auth_env`
    (`user:password`). Raises ValueError (never naming the secret) when that variable is unset."""
    u = urlsplit(url)
    if u.username is not None:
        return unquote(u.username), None if u.password is None else unquote(u.password)
    if auth_env:
        value = os.environ.get(auth_env)
        if value is None:
            raise ValueError(f"--sink {display_url(url)}: auth_env={auth_env}, but that environment variable is unset")
        user, sep, password = value.partition(":")
        return user, password if sep else None
    return None, None


def parse_options(spec: str, allowed: dict[str, type]) -> tuple[str, dict]:
    """'target#a=1,b=2' -> ('target', {'a': 1, 'b': 2}); unknown keys and bad values raise ValueError."""
    target, _, frag = spec.partition("#")
    opts: dict = {}
    for item in filter(None, frag.split(",")):
        key, eq, value = item.partition("=")
        if key not in allowed or not eq:
            raise ValueError(f"--sink {shown_spec(target)}: unknown option {key!r} (options: {', '.join(allowed)})")
        try:
            opts[key] = allowed[key](value)
        except ValueError:
            raise ValueError(
                f"--sink {shown_spec(target)}: {key} must be a {allowed[key].__name__}, got {value!r}"
            ) from None
    return target, opts
