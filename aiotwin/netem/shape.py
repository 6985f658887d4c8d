"""Link shapes: what a link does to traffic, per direction, and how partial updates apply.

A :class:`LinkShape` holds one :class:`DirectionShape` for ``upstream`` (client → target) and one
for ``downstream`` (target → client), plus the link-wide switches (blackhole, TCP loss emulation).
Shapes are frozen and validated on construction; an invalid value raises :class:`ShapeError`
naming the field.

A *patch* is the partial form used by ``LinkEmulator.update(name, **params)``, the HTTP
``PUT /links/{name}`` body and the TOML config: direction keys at the top level apply to both
directions, then ``upstream`` / ``downstream`` tables override one direction::

    {"delay_ms": 20, "jitter_ms": 5, "downstream": {"rate_bytes_s": 1000000}, "blackhole": false}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiotwin._exceptions import ConfigError
from aiotwin.config import load_dataclass
from aiotwin.netem._exceptions import ShapeError

Distribution = Literal["constant", "normal", "pareto"]
BlackholeConnect = Literal["hang", "refuse"]
DISTRIBUTIONS: tuple[str, ...] = ("constant", "normal", "pareto")
BLACKHOLE_CONNECT_MODES: tuple[str, ...] = ("hang", "refuse")

# Sanity ceiling for every millisecond parameter (catches seconds-vs-milliseconds mistakes).
MAX_DELAY_MS = 600_000.0
# Linux TCP_RTO_MIN (200 ms, include/net/tcp.h); RFC 6298 §2.4 recommends 1 s — Linux is what peers run.
DEFAULT_TCP_RTO_MS = 200.0
DEFAULT_PARETO_SHAPE = 2.5

_MS_FIELDS = ("delay_ms", "jitter_ms", "sd_ms")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if not _is_number(value):
        raise ShapeError(name, f"expected a number, got {value!r}")
    number = float(value)  # type: ignore[arg-type]  # checked by _is_number
    if not math.isfinite(number) or not low <= number <= high:
        raise ShapeError(name, f"must be in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class DirectionShape:
    """What one direction of a link does.

    Parameters
    ----------
    delay_ms
        Constant delay; the mean for ``normal``; the scale (minimum) for ``pareto``.
    jitter_ms
        Uniform ±jitter added to every sample (the sum is clamped at 0).
    distribution
        ``constant``, ``normal`` (``delay_ms`` ± ``sd_ms``, clamped at 0) or ``pareto``.
    sd_ms
        Standard deviation of the ``normal`` distribution.
    pareto_shape
        Shape α of the ``pareto`` tail (smaller = heavier tail; samples are ≥ ``delay_ms``).
    loss
        Probability in [0, 1]: a UDP datagram is dropped; a TCP chunk pays a retransmission timeout.
    rate_bytes_s
        Bandwidth in bytes/s; 0 means unlimited.
    burst_bytes
        Token-bucket depth: bytes that pass without pacing after an idle period (0 = pure pacing).
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    distribution: Distribution = "constant"
    sd_ms: float = 0.0
    pareto_shape: float = DEFAULT_PARETO_SHAPE
    loss: float = 0.0
    rate_bytes_s: float = 0.0
    burst_bytes: int = 0

    def __post_init__(self) -> None:
        for name in _MS_FIELDS:
            _check_number(name, getattr(self, name), 0.0, MAX_DELAY_MS)
        if self.distribution not in DISTRIBUTIONS:
            raise ShapeError("distribution", f"expected one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}")
        _check_number("pareto_shape", self.pareto_shape, 0.0, math.inf)
        if self.pareto_shape <= 0:
            raise ShapeError("pareto_shape", f"must be > 0, got {self.pareto_shape!r}")
        _check_number("loss", self.loss, 0.0, 1.0)
        _check_number("rate_bytes_s", self.rate_bytes_s, 0.0, math.inf)
        if not isinstance(self.burst_bytes, int) or isinstance(self.burst_bytes, bool) or self.burst_bytes < 0:
            raise ShapeError("burst_bytes", f"expected an integer ≥ 0, got {self.burst_bytes!r}")


def _validated_direction(prefix: str, **values: Any) -> DirectionShape:
    try:
        return DirectionShape(**values)
    except ShapeError as exc:
        raise ShapeError(f"{prefix}.{exc.field}", exc.message) from None


@dataclass(frozen=True)
class LinkShape:
    """The whole shape of a link: both directions and the link-wide switches.

    ``blackhole`` drops every UDP datagram and stalls every TCP connection (nothing is lost: data
    flows again when it is switched off). ``blackhole_connect`` says what a new TCP connection gets
    while it is on: ``hang`` (accepted, then held until the blackhole ends) or ``refuse`` (reset).
    ``tcp_rto_ms`` is the retransmission timeout a "lost" TCP chunk pays (see :mod:`.delay`).
    """

    upstream: DirectionShape = field(default_factory=DirectionShape)
    downstream: DirectionShape = field(default_factory=DirectionShape)
    blackhole: bool = False
    blackhole_connect: BlackholeConnect = "hang"
    tcp_rto_ms: float = DEFAULT_TCP_RTO_MS

    def __post_init__(self) -> None:
        for name in ("upstream", "downstream"):
            if not isinstance(getattr(self, name), DirectionShape):
                raise ShapeError(name, f"expected a DirectionShape, got {getattr(self, name)!r}")
        if not isinstance(self.blackhole, bool):
            raise ShapeError("blackhole", f"expected true or false, got {self.blackhole!r}")
        if self.blackhole_connect not in BLACKHOLE_CONNECT_MODES:
            raise ShapeError("blackhole_connect", f"expected hang or refuse, got {self.blackhole_connect!r}")
        _check_number("tcp_rto_ms", self.tcp_rto_ms, 0.0, MAX_DELAY_MS)

    @classmethod
    def from_params(cls, **params: Any) -> LinkShape:
        """Build a shape from patch keywords, e.g. ``LinkShape.from_params(delay_ms=20, loss=0.01)``."""
        return cls().updated(**params)

    def updated(self, **params: Any) -> LinkShape:
        """Return a copy with the patch ``params`` applied (see the module docstring)."""
        return apply_patch(self, parse_patch(params))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (snake_case keys, as the control API uses)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class DirectionPatch:
    """Partial :class:`DirectionShape`: ``None`` leaves a value unchanged."""

    delay_ms: float | None = None
    jitter_ms: float | None = None
    distribution: Distribution | None = None
    sd_ms: float | None = None
    pareto_shape: float | None = None
    loss: float | None = None
    rate_bytes_s: float | None = None
    burst_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class ShapePatch(DirectionPatch):
    """Partial :class:`LinkShape`: top-level direction keys apply to both directions."""

    # Not Optional: the config loader then reports nested problems with their full path.
    upstream: DirectionPatch = field(default_factory=DirectionPatch)
    downstream: DirectionPatch = field(default_factory=DirectionPatch)
    blackhole: bool | None = None
    blackhole_connect: BlackholeConnect | None = None
    tcp_rto_ms: float | None = None


_DIRECTION_KEYS = tuple(f.name for f in dataclasses.fields(DirectionPatch))
_LINK_KEYS = ("blackhole", "blackhole_connect", "tcp_rto_ms")


def parse_patch(data: Mapping[str, Any], *, source: str = "<params>") -> ShapePatch:
    """Check a mapping strictly (unknown keys, wrong types) and return the :class:`ShapePatch`.

    Raises :class:`ShapeError` carrying every problem found.
    """
    try:
        return load_dataclass(ShapePatch, data, file=source)
    except ConfigError as exc:
        problems = [(p.key, p.message) for p in exc.problems]
        raise ShapeError(problems[0][0], problems[0][1], problems) from exc


def _set_values(patch: DirectionPatch) -> dict[str, Any]:
    return {k: getattr(patch, k) for k in _DIRECTION_KEYS if getattr(patch, k) is not None}


def _direction(prefix: str, current: DirectionShape, *patches: DirectionPatch) -> DirectionShape:
    values = dataclasses.asdict(current)
    for patch in patches:
        values.update(_set_values(patch))
    return _validated_direction(prefix, **values)


def apply_patch(shape: LinkShape, patch: ShapePatch) -> LinkShape:
    """Pure: the shape after ``patch``; raises :class:`ShapeError` naming the offending field."""
    link_values = {k: getattr(patch, k) for k in _LINK_KEYS if getattr(patch, k) is not None}
    return dataclasses.replace(
        shape,
        upstream=_direction("upstream", shape.upstream, patch, patch.upstream),
        downstream=_direction("downstream", shape.downstream, patch, patch.downstream),
        **link_values,
    )


__all__ = [
    "BLACKHOLE_CONNECT_MODES",
    "DEFAULT_PARETO_SHAPE",
    "DEFAULT_TCP_RTO_MS",
    "DISTRIBUTIONS",
    "MAX_DELAY_MS",
    "BlackholeConnect",
    "DirectionPatch",
    "DirectionShape",
    "Distribution",
    "LinkShape",
    "ShapePatch",
    "apply_patch",
    "parse_patch",
]
