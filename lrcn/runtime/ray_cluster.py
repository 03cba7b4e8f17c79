"""`vc-run --ray ADDRESS`: join (or start) the Ray cluster that runs the work, and leave it after.

Ray is optional (the `cluster` extra) and imported here only, when --ray is given: the rest of
the runtime neither needs nor imports it. ADDRESS is `local` (start a one-machine cluster in
this process, bound to 127.0.0.1, and stop it at the end), `auto` (join the cluster `ray start`
made on this machine, or RAY_ADDRESS) or `host:port` of a running head.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from lrcn.core.errors import LrcnError

EXTRA_HINT = "pip install 'lrcn[cluster]'"


def import_ray() -> Any:
    """The `ray` module, or one line saying which extra brings it."""
    try:
        import ray
    except ImportError:
        raise LrcnError(f"--ray needs Ray, which is not installed: {EXTRA_HINT}") from None
    return ray


def check_address(address: str) -> str:
    """`local`, `auto`, `ray://host:port` or `host:port`; anything else is refused before Ray starts."""
    a = address.strip()
    if a in ("local", "auto") or a.startswith("ray://"):
        return a
    host, sep, port = a.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--ray must be local, auto or HOST:PORT of a Ray head, got {address!r}")
    return a


@contextmanager
def cluster(address: str) -> Iterator[Any]:
    """Connected to the cluster at `address` (see the module's doc); yields the `ray` module.

    Ray's own INFO lines are kept off the console; a cluster that cannot be joined is one line.
    While connected, `sys.stdout` is stderr: Ray's driver prints the workers' failures ("(raylet)
    Task ... failed") to sys.stdout from a thread of its own, even with log_to_driver off, and a
    line of ours written between its text and its newline is torn. A caller with output of its
    own takes `sys.stdout` before entering and writes there.
    """
    address = check_address(address)
    ray = import_ray()
    # a cluster started here sends nothing anywhere; a user's setting (1) wins for a joined one too
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False, "configure_logging": True}
    if address == "local":
        options |= {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    with redirect_stdout(sys.stderr):
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise LrcnError(f"cannot join the Ray cluster at {address}: {str(e).strip().splitlines()[0]}") from None
        finally:
            if callable(sigterm):  # ray.init sets one that exits at once: a caller's own (a service flushing its
                signal.signal(signal.SIGTERM, sigterm)  # sinks) is put back; without one, Ray's exit runs its cleanup
        try:
            yield ray
        finally:
            ray.shutdown()  # leaves a joined cluster running; stops one started here
