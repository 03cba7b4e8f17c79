"""`vc-serve`: classify streams as a long-running service with an HTTP API, metrics and a live dashboard.

`vc-serve CONFIG.yaml`, or `vc-serve --model M.onnx --stream NAME=SOURCE ...` for a quick
start (flags override the file). The configuration is checked before anything starts: a
problem is one line naming the file and the key, exit 2. SIGTERM or Ctrl-C stop the streams,
flush the sinks within a bound and exit 0.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Annotated

import typer

from lrcn.runtime.console import fail, one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=False)

CLOSE_S = 3.0
"""Streams stop and sinks flush within this; with the HTTP server's own 1 s, SIGTERM exits within 5 s."""


def _config(config, model, streams, host, port, token, device, threads, token_file=None, docs=False, ray=None):
    from lrcn.serve.config import (
        ConfigError,
        ServeConfig,
        check,
        load,
        parse_stream_arg,
        read_token_file,
    )

    try:
        if config:
            cfg = load(config)
        elif model:
            cfg = ServeConfig(model=model)
        else:
            raise ConfigError("give a config file (vc-serve demo.yaml) or --model M.onnx with --stream NAME=SOURCE")
        if model:
            cfg.model = model
        cfg.streams += [parse_stream_arg(s) for s in streams or []]
        if token_file is not None:
            token = read_token_file(token_file)
        for key, value in (("host", host), ("port", port), ("token", token or None)):
            if value is not None:
                setattr(cfg.http, key, value)
        cfg.http.docs = cfg.http.docs or docs
        cfg.device = device or cfg.device
        cfg.threads = threads if threads is not None else cfg.threads
        cfg.ray = ray if ray is not None else cfg.ray
        where = f"{config}: " if config else ""
        try:
            return check(cfg)
        except ConfigError as e:
            raise ConfigError(f"{where}{e}" if not str(e).startswith(where) else str(e)) from None
    except ConfigError as e:
        raise fail(str(e), 2) from None


@app.command()
def main(
    config: Annotated[
        str | None, typer.Argument(help="YAML config (see the README's Serve section).", show_default=False)
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Exported M.onnx (overrides the config).")] = None,
    stream: Annotated[
        list[str] | None, typer.Option("--stream", help="NAME=SOURCE (URL, camera index or video file); repeatable.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1; any other needs a token).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="LRCN_SERVE_TOKEN",
            show_envvar=True,
            help="Required on every endpoint but /health (Authorization: Bearer TOKEN). Prefer the environment "
            "variable or --token-file: a command line shows in `ps`.",
        ),
    ] = None,
    token_file: Annotated[
        str | None, typer.Option("--token-file", help="Read the token from this file (its first line).")
    ] = None,
    docs: Annotated[
        bool,
        typer.Option(
            "--docs", help="Serve /docs (Swagger UI); its page loads scripts from a CDN, so it needs the network."
        ),
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or tensorrt.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for onnxruntime.")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Structured logs: one JSON object a line.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run the streams on a Ray cluster (the `cluster` extra): local (start one here), auto (join the "
            "running one) or HOST:PORT of its head; the API and dashboard stay here.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the model over HTTP until SIGTERM or Ctrl-C."""
    cfg = _config(config, model, stream, host, port, token, device, threads, token_file, docs, ray)
    import logging

    from lrcn.serve import logs

    logs.setup(log_json)
    log = logging.getLogger("lrcn.serve")
    stop = {"signal": None}

    def on_signal(signum, frame):  # before uvicorn runs, and after it re-raises what it caught
        stop["signal"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    from lrcn.serve.service import Service

    service = Service(cfg)
    try:
        with one_line_errors():
            service.start()
        if config is not None and hasattr(signal, "SIGHUP"):  # re-read the config, swap to its model if it changed
            path = os.path.abspath(config)

            def on_hup(signum, frame):  # the work runs in a thread: loading a model takes a while
                threading.Thread(target=service.reload_config, args=(path,), name="serve:reload", daemon=True).start()

            old.setdefault(signal.SIGHUP, signal.signal(signal.SIGHUP, on_hup))
        if stop["signal"] is None:
            _serve(service, cfg)
    finally:
        t0 = time.monotonic()
        service.close(CLOSE_S)
        for s, h in old.items():
            signal.signal(s, h)
        if service.loaded:
            log.info("stopped in %.1f s", time.monotonic() - t0, extra={"event": "stopped"})


def _serve(service, cfg) -> None:
    import uvicorn

    from lrcn.serve.api import create_app

    app_ = create_app(service, cfg.http.token)
    server = uvicorn.Server(
        uvicorn.Config(
            app_,
            host=cfg.http.host,
            port=cfg.http.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="off",
            limit_concurrency=cfg.http.max_connections,  # connections and requests at once; past it: 503
            timeout_keep_alive=cfg.http.keep_alive,
        )
    )
    try:
        server.run()
    except SystemExit as e:  # uvicorn's startup failure (it logged the reason in one line: port in use, ...)
        if e.code:
            raise typer.Exit(1) from None
        raise


if __name__ == "__main__":
    app()
