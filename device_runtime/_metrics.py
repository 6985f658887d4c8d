"""Prometheus metrics of one camera node, in the node's own :class:`CollectorRegistry`.

Worker threads update the per-frame metrics directly (prometheus_client metrics are thread-safe).
Numbers another component already keeps (outbox counters and depth, capture-queue drops and source
reconnects) are read at scrape time by collectors, so they are never double-booked. Rendering runs
those collectors and may touch SQLite: call :meth:`NodeMetrics.render` from a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from device_runtime.outbox import DEFAULT_DEST, OutboxStats

if TYPE_CHECKING:
    from device_runtime.uplink import UplinkStats

NAMESPACE = "aiotwin"
CAMERA_STATES = ("connecting", "streaming", "reconnecting", "ended")
# Per-stage latencies of a 10–30 fps pipeline: 0.25 ms … 1 s.
LATENCY_BUCKETS_S = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class CaptureCounters:
    """Counters one camera's capture thread keeps, read at scrape time."""

    camera_id: str
    frames_read: int
    frames_dropped: int
    reconnects: int


class _PullCollector(Collector):  # type: ignore[misc]
    """Outbox and capture numbers, pulled from their owners when Prometheus scrapes."""

    def __init__(self, outbox_stats: Callable[[], OutboxStats | None],
                 capture: Callable[[], Iterable[CaptureCounters]]) -> None:
        self._outbox_stats = outbox_stats
        self._capture = capture

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield from self._outbox()
        yield from self._captures()

    def _outbox(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self._outbox_stats()
        if stats is None:
            return
        depth = GaugeMetricFamily(f"{NAMESPACE}_outbox_depth", "Events waiting in the outbox.",
                                  labels=["dest"])
        for dest, n in sorted({DEFAULT_DEST: 0, **stats.depth_by_dest}.items()):
            depth.add_metric([dest], n)
        yield depth
        counters = {
            "stored": ("Events newly stored in the outbox.", stats.stored),
            "duplicate": ("Events already in the outbox (idempotent redelivery).", stats.duplicates),
            "dropped": ("Oldest events dropped because the outbox was full (drop-oldest).", stats.dropped),
            "rejected": ("New events rejected because the outbox was full (reject-new).", stats.rejected),
            "expired": ("Events purged after their TTL.", stats.expired),
            "acked": ("Events delivered and acknowledged.", stats.acked),
        }
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(f"{NAMESPACE}_outbox_events_{name}", doc, value=value)

    def _captures(self) -> Iterator[CounterMetricFamily]:
        cams = list(self._capture())
        specs = (
            ("frames_read", "Frames read from the camera source.", "frames_read"),
            ("frames_dropped", "Frames dropped by the bounded capture queue (drop-oldest).", "frames_dropped"),
            ("source_reconnects", "Reconnects of the camera source.", "reconnects"),
        )
        for name, doc, attr in specs:
            fam = CounterMetricFamily(f"{NAMESPACE}_{name}", doc, labels=["camera"])
            for c in cams:
                fam.add_metric([c.camera_id], getattr(c, attr))
            yield fam


class _UplinkCollector(Collector):  # type: ignore[misc]
    """The CoAP uplink's counters, pulled from :meth:`device_runtime.uplink.Uplink.stats` at scrape time."""

    def __init__(self, stats: Callable[[], UplinkStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._stats()
        if s is None:
            return
        c = s.counters
        counters = {
            "events_sent": ("Events put in a CoAP POST to the gateway (re-sends count again).", c.sent),
            "events_acked": ("Events the gateway acknowledged (2.04) and the outbox released.", c.acked),
            "events_rejected": ("Events the gateway refused for good (4.xx), logged and removed.", c.rejected),
            "failures": ("POSTs that timed out, hit a network error or got a 5.xx.", c.failures),
            "bytes_sent": ("Payload bytes of event POSTs.", c.bytes_sent),
            "directives_updates": ("Changed /cfg documents received from the gateway.", c.directives_updates),
        }
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(f"{NAMESPACE}_uplink_{name}", doc, value=value)
        gauges = {
            "events_pending": ("Events waiting in the outbox for the gateway.", s.pending),
            "connected": ("1 when the last POST reached the gateway.", 1 if s.connected else 0),
            "budget_available_bytes": ("Upstream bytes left for non-event traffic.", s.budget_available),
            "budget_bytes_per_hour": ("Upstream byte budget per hour.", s.budget_per_h),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(f"{NAMESPACE}_uplink_{name}", doc, value=value)


class NodeMetrics:
    """Every metric of one node. One registry per node, never the process-global one."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.frames_processed = Counter("frames_processed", "Frames run through the pipeline.",
                                        ["camera"], namespace=NAMESPACE, registry=reg)
        self.fps = Gauge("camera_fps", "Frames processed per second (recent window).", ["camera"],
                         namespace=NAMESPACE, registry=reg)
        self.stage_latency = Histogram("stage_latency_seconds", "Pipeline stage latency per frame.",
                                       ["camera", "stage"], namespace=NAMESPACE, registry=reg,
                                       buckets=LATENCY_BUCKETS_S)
        self.inference_latency = Histogram("inference_latency_seconds",
                                           "Engine classify() call latency (one batch, every camera).",
                                           namespace=NAMESPACE, registry=reg, buckets=LATENCY_BUCKETS_S)
        self.counts = Counter("vehicle_counts", "Line crossings per class and direction.",
                              ["camera", "cls", "direction"], namespace=NAMESPACE, registry=reg)
        self.health_events = Counter("health_events", "Health events emitted.", ["camera", "condition"],
                                     namespace=NAMESPACE, registry=reg)
        self.camera_state = Enum("camera_state", "Camera source state.", ["camera"], states=list(CAMERA_STATES),
                                 namespace=NAMESPACE, registry=reg)
        self.model_info = Info("model", "The running model: bundle name, version, variant, provider.",
                               namespace=NAMESPACE, registry=reg)
        self.bundle_swaps = Counter("bundle_swaps", "Model bundle swaps by result (ok, rejected).",
                                    ["result"], namespace=NAMESPACE, registry=reg)
        self.outbox_errors = Counter("outbox_errors", "Event batches the outbox failed to store.",
                                     namespace=NAMESPACE, registry=reg)
        self.drift_divergence = Gauge("drift_divergence", "Divergence of the recent predictions from the reference "
                                      "(classes, confidence).", ["camera", "distribution"], namespace=NAMESPACE,
                                      registry=reg)
        self.drift_active = Gauge("drift_active", "1 while a drift episode lasts.", ["camera"], namespace=NAMESPACE,
                                  registry=reg)
        self.drift_reports = Counter("drift_reports", "Drift episodes reported (drift events).", ["camera"],
                                     namespace=NAMESPACE, registry=reg)
        self.uptime = Gauge("uptime_seconds", "Seconds since the node became ready.", namespace=NAMESPACE,
                            registry=reg)
        ProcessCollector(registry=reg)

    def add_pull(self, outbox_stats: Callable[[], OutboxStats | None],
                 capture: Callable[[], Iterable[CaptureCounters]]) -> None:
        """Register the scrape-time collector for outbox and capture numbers."""
        self.registry.register(_PullCollector(outbox_stats, capture))

    def add_uplink_pull(self, stats: Callable[[], UplinkStats | None]) -> None:
        """Register the scrape-time collector for the CoAP uplink (blocking: reads the outbox)."""
        self.registry.register(_UplinkCollector(stats))

    def set_drift(self, camera: str, divergences: tuple[float, float] | None, active: bool) -> None:
        """The drift gauges of one camera (divergences: classes, confidence; None until the window is full)."""
        if divergences is not None:
            self.drift_divergence.labels(camera, "classes").set(divergences[0])
            self.drift_divergence.labels(camera, "confidence").set(divergences[1])
        self.drift_active.labels(camera).set(1 if active else 0)

    def set_model(self, info: Mapping[str, str]) -> None:
        self.model_info.info(dict(info))

    def render(self) -> bytes:
        """The Prometheus text exposition (blocking: runs collectors; call from a thread)."""
        return bytes(generate_latest(self.registry))


__all__ = ["CAMERA_STATES", "LATENCY_BUCKETS_S", "CaptureCounters", "NodeMetrics"]
