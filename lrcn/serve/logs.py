"""vc-serve's log: one line per event of note on stderr; `--log-json` makes each a JSON object."""

from __future__ import annotations

import json
import logging
import sys
import time

_FIELDS = ("event", "stream", "sink")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        out.update({k: getattr(record, k) for k in _FIELDS if getattr(record, k, None) is not None})
        return json.dumps(out, separators=(",", ":"))


def setup(json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    for name in ("lrcn.serve", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
