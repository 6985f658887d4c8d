"""Wire types shared by every role: events a camera node emits, with JSON (de)serialisation.

Every message carries ``"v"`` (protocol version). A reader accepts its own version and the one
before it (nodes one version behind keep working) and rejects anything else with
:class:`WireError`. Parsers are functions over bytes and never trust their input.

Event kinds: ``count`` (a line crossing), ``health`` (camera/source conditions) and ``drift`` (the
edge model's predictions moved away from their reference). A new kind is additive, not a new
protocol version: a gateway that predates it refuses just those events (4.00), and the device's
uplink isolates and drops them without holding back the rest.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiotwin._exceptions import AiotwinError

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 0
MAX_EVENT_BYTES = 64 * 1024

EventKind = Literal["count", "health", "drift"]


class WireError(AiotwinError):
    """A wire message is malformed, too large, or of an unsupported protocol version."""


def new_event_id() -> str:
    """A fresh idempotency id (uuid4 hex): redelivery of the same event carries the same id."""
    return uuid.uuid4().hex


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class CountEvent:
    """One vehicle crossing a counting line."""

    camera_id: str
    line_id: str
    direction: Literal["in", "out"]
    cls: str
    confidence: float
    track_id: int
    model: Literal["edge", "offload"]
    model_version: int
    variant: str
    lane: str | None = None
    ts: str = field(default_factory=utc_now_iso)
    id: str = field(default_factory=new_event_id)
    kind: Literal["count"] = "count"


@dataclass(frozen=True)
class HealthEvent:
    """Camera or source health: frozen, black, occluded/defocused frames; source lost/restored."""

    camera_id: str
    condition: str  # frozen | black | occluded | source_lost | source_restored | ...
    active: bool
    detail: str = ""
    ts: str = field(default_factory=utc_now_iso)
    id: str = field(default_factory=new_event_id)
    kind: Literal["health"] = "health"


DriftDistribution = Literal["classes", "confidence", "both"]
DriftMetric = Literal["psi", "js"]


@dataclass(frozen=True)
class DriftEvent:
    """The edge model's predictions on one camera moved away from their reference (once per episode).

    ``distribution`` says which moved past ``threshold``: the predicted classes, the confidences,
    or both; ``divergence`` is the larger of ``class_divergence`` and ``confidence_divergence``
    (``metric``: population stability index or Jensen–Shannon divergence, docs/device.md).
    ``reference_size`` predictions made the reference, the last ``window_size`` were compared with it.
    """

    camera_id: str
    model_version: int
    distribution: DriftDistribution
    divergence: float
    class_divergence: float
    confidence_divergence: float
    metric: DriftMetric
    threshold: float
    reference_size: int
    window_size: int
    ts: str = field(default_factory=utc_now_iso)
    id: str = field(default_factory=new_event_id)
    kind: Literal["drift"] = "drift"


Event = CountEvent | HealthEvent | DriftEvent
_KINDS: dict[str, type[CountEvent] | type[HealthEvent] | type[DriftEvent]] = {
    "count": CountEvent, "health": HealthEvent, "drift": DriftEvent,
}
_DRIFT_CHOICES = {"distribution": ("classes", "confidence", "both"), "metric": ("psi", "js")}
MAX_DIVERGENCE = 1e6  # PSI grows without bound on empty bins; anything larger is nonsense


def encode_event(event: Event) -> bytes:
    data = asdict(event)
    data["v"] = PROTOCOL_VERSION
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def _check_fields(cls: type[Any], data: dict[str, Any]) -> None:
    hints = cls.__annotations__
    unknown = set(data) - set(hints)
    if unknown:
        raise WireError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    str_keys = {"camera_id", "line_id", "cls", "variant", "ts", "id", "condition", "detail"}
    for key, value in data.items():
        if key in str_keys and not isinstance(value, str):
            raise WireError(f"{cls.__name__}.{key}: expected a string")
        if key in {"track_id", "model_version"} and (isinstance(value, bool) or not isinstance(value, int)):
            raise WireError(f"{cls.__name__}.{key}: expected an integer")
    if "confidence" in data:
        c = data["confidence"]
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0.0 <= c <= 1.0:
            raise WireError(f"{cls.__name__}.confidence: expected a number in [0, 1]")
    if data.get("direction", "in") not in ("in", "out"):
        raise WireError(f"{cls.__name__}.direction: expected 'in' or 'out'")
    if data.get("model", "edge") not in ("edge", "offload"):
        raise WireError(f"{cls.__name__}.model: expected 'edge' or 'offload'")
    if "active" in data and not isinstance(data["active"], bool):
        raise WireError(f"{cls.__name__}.active: expected a boolean")
    if cls is DriftEvent:
        _check_drift(data)


def _check_drift(data: dict[str, Any]) -> None:
    for key, choices in _DRIFT_CHOICES.items():
        if key in data and data[key] not in choices:
            raise WireError(f"DriftEvent.{key}: expected one of {list(choices)}")
    for key in ("divergence", "class_divergence", "confidence_divergence", "threshold"):
        v = data.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= MAX_DIVERGENCE:
            raise WireError(f"DriftEvent.{key}: expected a number in [0, {MAX_DIVERGENCE:g}]")
    for key in ("reference_size", "window_size"):
        v = data.get(key, 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise WireError(f"DriftEvent.{key}: expected a positive integer")


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise WireError(f"{what} is not valid JSON: {exc}") from exc


def _check_version(version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or not (
        MIN_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION
    ):
        raise WireError(f"unsupported protocol version {version!r}")


def event_from_json(obj: object) -> Event:
    """Build one event from parsed JSON (a dict with ``"v"``); raise :class:`WireError` if malformed."""
    if not isinstance(obj, dict):
        raise WireError("event must be a JSON object")
    data = dict(obj)
    _check_version(data.pop("v", None))
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise WireError(f"unknown event kind {kind!r}")
    cls = _KINDS[kind]
    _check_fields(cls, data)
    try:
        return cls(**data)
    except TypeError as exc:
        raise WireError(f"{cls.__name__}: {exc}") from exc


def decode_event(raw: bytes) -> Event:
    """Parse one event; raise :class:`WireError` on anything malformed."""
    if len(raw) > MAX_EVENT_BYTES:
        raise WireError(f"event larger than {MAX_EVENT_BYTES} bytes")
    return event_from_json(_json(raw, "event"))


# -- event batches (the CoAP uplink's ``POST /events`` payload) ----------------------------------

MAX_BATCH_BYTES = 64 * 1024
MAX_BATCH_EVENTS = 512


def encode_event_batch(events: Sequence[Event]) -> bytes:
    """A JSON array of wire events (each with its own ``"v"``)."""
    return b"[" + b",".join(encode_event(e) for e in events) + b"]"


def decode_event_batch(raw: bytes, *, max_events: int = MAX_BATCH_EVENTS) -> list[Event]:
    """Parse a batch: a JSON array of events, or one event object (a batch of one).

    All or nothing: any malformed event rejects the whole batch with a :class:`WireError` that
    names its index. Ids repeated inside the batch are kept once (the first).
    """
    data = _json(raw, "batch")
    items = data if isinstance(data, list) else [data]
    if not items:
        raise WireError("batch is empty")
    if len(items) > max_events:
        raise WireError(f"batch of {len(items)} events exceeds {max_events}")
    out: dict[str, Event] = {}
    for i, item in enumerate(items):
        try:
            event = event_from_json(item)
        except WireError as exc:
            raise WireError(f"event [{i}]: {exc}") from exc
        out.setdefault(event.id, event)
    return list(out.values())


# -- the gateway's directives to its devices (the CoAP uplink's observable ``/cfg``) -------------

DEFAULT_TAU_MS = 80.0  # QEdgeProxy latency target τ (docs/architecture.md)
DEFAULT_RHO = 0.95  # QEdgeProxy QoS threshold ρ (docs/architecture.md)
DEFAULT_OFFLOAD_THRESHOLD = 0.6  # confidence below which a crop is an offload candidate
DEFAULT_BYTE_BUDGET_PER_H = 2_000_000  # ~1.4 GB/month: a typical cellular IoT data plan per camera


@dataclass(frozen=True)
class DeviceDirectives:
    """What a gateway wants its devices to use; devices observe it (``GET /cfg`` with Observe).

    ``byte_budget_per_h`` bounds a device's upstream bytes per hour; events always go first,
    other traffic (offloads, training samples) gets what is left. ``model_version`` ``None``: no
    preference.
    """

    gateway: str = ""
    offload_threshold: float = DEFAULT_OFFLOAD_THRESHOLD
    tau_ms: float = DEFAULT_TAU_MS
    rho: float = DEFAULT_RHO
    model_version: int | None = None
    byte_budget_per_h: int = DEFAULT_BYTE_BUDGET_PER_H

    def __post_init__(self) -> None:
        _check_directives(self)


def _number(value: object, name: str, low: float, high: float, *, integer: bool = False) -> None:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:  # type: ignore[operator]
        what = "an integer" if integer else "a number"
        raise WireError(f"directives.{name}: expected {what} in [{low}, {high}], got {value!r}")


def _check_directives(d: DeviceDirectives) -> None:
    if not isinstance(d.gateway, str) or len(d.gateway) > 63:
        raise WireError("directives.gateway: expected a node id (a string of at most 63 characters)")
    _number(d.offload_threshold, "offload_threshold", 0.0, 1.0)
    _number(d.tau_ms, "tau_ms", 0.001, 3_600_000.0)
    _number(d.rho, "rho", 0.0, 1.0)
    if d.model_version is not None:
        _number(d.model_version, "model_version", 0, 2**31 - 1, integer=True)
    _number(d.byte_budget_per_h, "byte_budget_per_h", 0, 2**53, integer=True)


def encode_directives(d: DeviceDirectives) -> bytes:
    data = asdict(d)
    data["v"] = PROTOCOL_VERSION
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def decode_directives(raw: bytes) -> DeviceDirectives:
    """Parse ``/cfg``; unknown keys are ignored, so a gateway may add directives older devices skip."""
    if len(raw) > MAX_EVENT_BYTES:
        raise WireError(f"directives larger than {MAX_EVENT_BYTES} bytes")
    data = _json(raw, "directives")
    if not isinstance(data, dict):
        raise WireError("directives must be a JSON object")
    _check_version(data.get("v"))
    known = {k: v for k, v in data.items() if k in DeviceDirectives.__dataclass_fields__}
    return DeviceDirectives(**known)


__all__ = [
    "DEFAULT_BYTE_BUDGET_PER_H", "DEFAULT_OFFLOAD_THRESHOLD", "DEFAULT_RHO", "DEFAULT_TAU_MS", "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS", "MAX_DIVERGENCE", "MAX_EVENT_BYTES", "MIN_PROTOCOL_VERSION", "PROTOCOL_VERSION",
    "CountEvent", "DeviceDirectives", "DriftDistribution", "DriftEvent", "DriftMetric", "Event", "EventKind",
    "HealthEvent", "WireError", "decode_directives", "decode_event", "decode_event_batch", "encode_directives",
    "encode_event", "encode_event_batch", "event_from_json", "new_event_id", "utc_now_iso",
]
