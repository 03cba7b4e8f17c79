"""vc-serve: the classifier as a long-running service (HTTP API, Prometheus metrics, live dashboard).

Needs the `serve` extra (fastapi, uvicorn, prometheus-client, pyyaml). Built on the runtime's
multi-stream engine; the runtime never imports this package.
"""
