"""``aiotwin-gateway start``: the QEdgeProxy router's HTTP hop in front of the inference instances.

Pieces (private modules, public names re-exported here):

- :mod:`._wire` — request headers and how an instance's answer counts, pure;
- :mod:`._registry` — static and mDNS-discovered instances, pure;
- :mod:`._forward` — choose → forward → observe → retry within the budget (injected session, clock);
- :mod:`._metrics` — Prometheus metrics and per-client QoS satisfaction over W;
- :mod:`._http` — aiohttp routes ``/v1/infer/{model}``, ``/v1/qos/{client}``, ``/v1/instances``,
  ``/healthz``, ``/metrics``;
- :mod:`._server` — :class:`RouterServer`, the daemon composing them (+ mDNS browsing).

Routing decisions are the pure policies of :mod:`gateway.router`; this package is thin I/O around
them. See ``docs/gateway-router.md``. Importing it imports neither zeroconf nor any inference runtime.
"""

from gateway.proxy._forward import MIN_ATTEMPT_S, Attempt, AttemptHook, AttemptKind, Forwarder, Request, Routed
from gateway.proxy._http import FORWARDED_HEADERS, SHUTDOWN_TIMEOUT_S, RouterCore, build_app
from gateway.proxy._metrics import LATENCY_BUCKETS_S, NAMESPACE, QosTracker, RouterMetrics
from gateway.proxy._registry import InstanceRegistry, Source, Upstream
from gateway.proxy._server import EJECTION_CHECK_S, NAME, SUMMARY_INTERVAL_S, RouterServer, sync_main
from gateway.proxy._wire import (
    ATTEMPTS_HEADER,
    CLIENT_ID_HEADER,
    CLIENT_ID_PATTERN,
    DEADLINE_HEADER,
    DEADLINE_PATTERN,
    INSTANCE_HEADER,
    MAX_DEADLINE_MS,
    TENSOR_SHAPE_HEADER,
    Outcome,
    classify,
    finite,
    parse_client_id,
    parse_deadline_ms,
    with_instance,
)

__all__ = [
    "ATTEMPTS_HEADER",
    "CLIENT_ID_HEADER",
    "CLIENT_ID_PATTERN",
    "DEADLINE_HEADER",
    "DEADLINE_PATTERN",
    "EJECTION_CHECK_S",
    "FORWARDED_HEADERS",
    "INSTANCE_HEADER",
    "LATENCY_BUCKETS_S",
    "MAX_DEADLINE_MS",
    "MIN_ATTEMPT_S",
    "NAME",
    "NAMESPACE",
    "SHUTDOWN_TIMEOUT_S",
    "SUMMARY_INTERVAL_S",
    "TENSOR_SHAPE_HEADER",
    "Attempt",
    "AttemptHook",
    "AttemptKind",
    "Forwarder",
    "InstanceRegistry",
    "Outcome",
    "QosTracker",
    "Request",
    "Routed",
    "RouterCore",
    "RouterMetrics",
    "RouterServer",
    "Source",
    "Upstream",
    "build_app",
    "classify",
    "finite",
    "parse_client_id",
    "parse_deadline_ms",
    "sync_main",
    "with_instance",
]
