"""Wire types shared by every role: events a camera node emits, with JSON (de)serialisation.

Every message carries ``"v"`` (protocol version). A reader accepts its own version and the one
before it (nodes one version behind keep working) and rejects anything else with
:class:`WireError`. Parsers are functions over bytes and never trust their input.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiotwin._exceptions import AiotwinError

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 0
MAX_EVENT_BYTES = 64 * 1024

EventKind = Literal["count", "health", "source"]


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


Event = CountEvent | HealthEvent
_KINDS: dict[str, type[CountEvent] | type[HealthEvent]] = {"count": CountEvent, "health": HealthEvent}


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


def decode_event(raw: bytes) -> Event:
    """Parse one event; raise :class:`WireError` on anything malformed."""
    if len(raw) > MAX_EVENT_BYTES:
        raise WireError(f"event larger than {MAX_EVENT_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WireError(f"event is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WireError("event must be a JSON object")
    version = data.pop("v", None)
    if isinstance(version, bool) or not isinstance(version, int) or not (
        MIN_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION
    ):
        raise WireError(f"unsupported protocol version {version!r}")
    kind = data.get("kind")
    if kind not in _KINDS:
        raise WireError(f"unknown event kind {kind!r}")
    cls = _KINDS[kind]
    _check_fields(cls, data)
    try:
        return cls(**data)
    except TypeError as exc:
        raise WireError(f"{cls.__name__}: {exc}") from exc


__all__ = [
    "MAX_EVENT_BYTES", "PROTOCOL_VERSION", "CountEvent", "Event", "HealthEvent", "WireError",
    "decode_event", "encode_event", "new_event_id", "utc_now_iso",
]
