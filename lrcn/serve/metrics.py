"""Prometheus metrics of the service, in their own registry (a test can run two apps in one process).

Counters that the engine already keeps (frames read, processed, dropped, predictions,
reconnects) are read at scrape time by a collector, so the inference loop pays nothing for
them; the two histograms (inference time of the batch a frame went in, capture-to-prediction
latency) are observed per prediction. Sink counts come from the sinks' own counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

STATES = ("starting", "running", "reconnecting", "failed", "ended")
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.5, 5.0)


class _StreamCollector:
    def __init__(self, manager, sinks, model=None):
        self.manager, self.sinks, self.model = manager, sinks, model

    def collect(self):
        if self.model is not None:
            info, swaps = self.model()
            if info is not None:
                served = GaugeMetricFamily(
                    "lrcn_model_info", "1 for the model served now.", labels=["name", "sha256", "version"]
                )
                served.add_metric([info.name, info.sha256, info.version or ""], 1.0)
                yield served
            yield CounterMetricFamily("lrcn_model_swaps", "Model swaps since the service started.", value=swaps)
        read = CounterMetricFamily("lrcn_frames_read", "Frames read from the source.", labels=["stream"])
        processed = CounterMetricFamily("lrcn_frames_processed", "Frames through the model.", labels=["stream"])
        dropped = CounterMetricFamily(
            "lrcn_frames_dropped",
            "Frames read but not processed (off the sampling rate, or replaced by a newer frame).",
            labels=["stream"],
        )
        preds = CounterMetricFamily("lrcn_predictions", "Predictions (full windows).", labels=["stream"])
        recon = CounterMetricFamily("lrcn_reconnects", "Reconnects after a drop.", labels=["stream"])
        events = CounterMetricFamily("lrcn_events", "Events started.", labels=["stream"])
        state = GaugeMetricFamily("lrcn_stream_state", "1 for the stream's current state.", labels=["stream", "state"])
        for e in self.manager.list():
            name = e.settings.name
            st = self.manager.stats(e)
            if st is not None:
                read.add_metric([name], st.read)
                processed.add_metric([name], st.processed)
                dropped.add_metric([name], st.dropped)
                preds.add_metric([name], st.predictions)
                recon.add_metric([name], st.reconnects)
            events.add_metric([name], self.manager.events.counts.get(name, 0))
            for s in STATES:
                state.add_metric([name, s], 1.0 if e.state == s else 0.0)
        yield from (read, processed, dropped, preds, recon, events, state)
        delivered = CounterMetricFamily("lrcn_sink_deliveries", "Records a sink delivered.", labels=["sink"])
        failed = CounterMetricFamily("lrcn_sink_failures", "Records a sink gave up on.", labels=["sink"])
        sink_dropped = CounterMetricFamily(
            "lrcn_sink_dropped", "Records dropped by a full sink queue.", labels=["sink"]
        )
        for sink in self.sinks():
            counts = sink_counts(sink)
            delivered.add_metric([sink.name], counts["delivered"])
            failed.add_metric([sink.name], counts["failed"])
            sink_dropped.add_metric([sink.name], counts["dropped"])
        yield from (delivered, failed, sink_dropped)


def sink_counts(sink) -> dict:
    """delivered/failed/dropped of a sink (its running `summary`, a runtime.sinks.SinkSummary)."""
    summary = getattr(sink, "summary", sink)
    return {k: int(getattr(summary, k, 0)) for k in ("delivered", "failed", "dropped")}


class ServeMetrics:
    def __init__(self, manager, sinks=list, model=None):
        self.registry = CollectorRegistry()
        self.registry.register(_StreamCollector(manager, sinks, model))
        self.inference = Histogram(
            "lrcn_inference_seconds",
            "Inference time of the batch each frame went in.",
            ["stream"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self.latency = Histogram(
            "lrcn_latency_seconds",
            "Capture to prediction, per processed frame.",
            ["stream"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self.classify = Counter(
            "lrcn_classify_requests", "POST /classify answers by HTTP status.", ["status"], registry=self.registry
        )

    def observe(self, entry, pred) -> None:
        """A StreamManager listener: one processed frame."""
        self.inference.labels(pred.stream).observe(pred.ms / 1e3)
        self.latency.labels(pred.stream).observe(pred.latency_ms / 1e3)

    def forget(self, stream: str) -> None:
        for h in (self.inference, self.latency):
            try:
                h.remove(stream)
            except KeyError:
                pass

    def text(self) -> bytes:
        return generate_latest(self.registry)
