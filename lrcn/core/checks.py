"""Validation of typed configs: problems named by the library's own parameter names, collected
and raised as one ValueError; and the one mapping of those names to a CLI's flags.

A Python caller reads `threads must be >= 1, got 0`; vc-bench's user reads `--threads must be
>= 1, got 0`, because the CLI passes the message through `with_flags`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def at_least(obj, **floors: float) -> list[str]:
    """One problem per field of `obj` below its floor; a None field is left alone (unset)."""
    return [
        f"{k} must be >= {low}, got {getattr(obj, k)}"
        for k, low in floors.items()
        if getattr(obj, k) is not None and getattr(obj, k) < low
    ]


IMG_SIZE_MIN, IMG_SIZE_MAX = 16, 1024
"""The frame size a model trains at (pixels a side): the one owner of the range. ModelConfig and
DataConfig check it; the runtime refuses metadata above IMG_SIZE_MAX (a model trained past it
could not be run)."""


WIDTH_MAX = 1 << 16
"""A model's per-frame features and LSTM state, all members side by side: the one owner of the
bound. ModelConfig checks it; the runtime refuses metadata above it (a wider model could not be run)."""


def img_size_problems(obj) -> list[str]:
    """`obj.img_size` outside IMG_SIZE_MIN..IMG_SIZE_MAX, as one problem (none when in range)."""
    v = obj.img_size
    if v < IMG_SIZE_MIN:
        return [f"img_size must be >= {IMG_SIZE_MIN}, got {v}"]
    if v > IMG_SIZE_MAX:
        return [f"img_size must be <= {IMG_SIZE_MAX}, got {v}"]
    return []


def one_of(obj, **choices: Iterable[str]) -> list[str]:
    """One problem per field of `obj` whose value is not among its choices."""
    out = []
    for k, allowed in choices.items():
        allowed = tuple(allowed)
        if getattr(obj, k) not in allowed:
            out.append(f"{k} must be one of {', '.join(allowed)}, got {getattr(obj, k)!r}")
    return out


def refuse(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


def with_flags(message: str, flags: dict[str, str]) -> str:
    """A config error in a CLI's words: each problem that starts with a parameter of `flags`
    (parameter -> flag) starts with the flag instead, and so does every snake_case parameter
    named later in it ("val_fraction and test_fraction must ..."). Plain words such as `name`
    are mapped only at the head, where they cannot be prose."""

    def word(m: re.Match) -> str:
        return flags.get(m[0], m[0]) if "_" in m[0] else m[0]

    def one(problem: str) -> str:
        head, sep, rest = problem.partition(" ")
        return (
            (flags.get(head, head) + sep + re.sub(r"\b[a-z]+(?:_[a-z0-9]+)+\b", word, rest))
            if head in flags
            else re.sub(r"\b[a-z]+(?:_[a-z0-9]+)+\b", word, problem)
        )

    return "; ".join(one(p) for p in message.split("; "))


def from_dict(cls, d: dict):
    """A config dataclass from a saved dict, ignoring keys this version does not know. A key the
    dict lacks takes the class's `LEGACY_DEFAULTS` value where it has one (what runs saved before
    the field existed did), else the field's default."""
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in d.items() if k in names}
    for k, v in getattr(cls, "LEGACY_DEFAULTS", {}).items():
        kwargs.setdefault(k, v)
    return cls(**kwargs)
