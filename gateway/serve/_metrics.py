"""Prometheus metrics of one inference instance, in its own :class:`CollectorRegistry`.

Queue depth and in-flight requests are read from the batcher at scrape time (gauge functions), so
they are never double-booked. :meth:`ServeMetrics.render` runs collectors that read ``/proc``:
call it from a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.process_collector import ProcessCollector

NAMESPACE = "aiotwin_gateway"
# Server time of one offloaded crop: 0.5 ms … 2.5 s around the 80 ms offload SLO (docs/qedgeproxy.md).
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """Every metric of one instance. One registry per instance, never the process-global one."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter("infer_requests", "Inference requests by HTTP status.", ["code"],
                                namespace=NAMESPACE, registry=reg)
        self.server_latency = Histogram("infer_server_latency_seconds",
                                        "Time in the server per answered request, queueing included.",
                                        namespace=NAMESPACE, registry=reg, buckets=LATENCY_BUCKETS_S)
        self.batch_size = Histogram("batch_size", "Requests per engine batch.", namespace=NAMESPACE, registry=reg,
                                    buckets=BATCH_SIZE_BUCKETS)
        self.batch_latency = Histogram("batch_latency_seconds", "Worker time per batch (decode, classify, delay).",
                                       namespace=NAMESPACE, registry=reg, buckets=LATENCY_BUCKETS_S)
        self.queue_depth = Gauge("queue_depth", "Requests waiting for a batch.", namespace=NAMESPACE, registry=reg)
        self.in_flight = Gauge("in_flight", "Requests accepted and not yet answered.", namespace=NAMESPACE,
                               registry=reg)
        self.model = Info("model", "The served model: name, version, variant, provider, node id.",
                          namespace=NAMESPACE, registry=reg)
        ProcessCollector(registry=reg)

    def bind_load(self, queued: Callable[[], int], in_flight: Callable[[], int]) -> None:
        self.queue_depth.set_function(queued)
        self.in_flight.set_function(in_flight)

    def set_model(self, info: Mapping[str, str]) -> None:
        self.model.info(dict(info))

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.labels(code=str(status)).inc()
        if status == 200:
            self.server_latency.observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_latency.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition (blocking: reads /proc; call from a thread)."""
        return bytes(generate_latest(self.registry))


__all__ = ["BATCH_SIZE_BUCKETS", "LATENCY_BUCKETS_S", "NAMESPACE", "ServeMetrics"]
