"""Typed configuration of the gateway role's inference instance (the ``[serve]`` table of ``gateway.toml``).

Example::

    [serve]
    bundle = "/var/lib/aiotwin/bundles/cloud"   # relative paths resolve against this file
    variant = "onnx-fp32"                      # omit: the first runnable of PREFERRED_VARIANTS
    host = "0.0.0.0"
    port = 8480
    max-batch = 8
    max-wait-ms = 2.0
    aliases = ["vehicle"]

    [serve.service-delay]                      # benchmarks: play a slower or loaded node
    ms = 25.0
    distribution = "normal"                    # constant | normal | pareto (aiotwin.netem shapes)
    sd-ms = 5.0

    [serve.mdns]
    enabled = true
    interfaces = ["192.168.1.10"]              # empty: every interface

Loading goes through :func:`aiotwin.config.load_toml`-style checks (unknown keys, types, file and
line in every message); values out of range raise :class:`~gateway._exceptions.InvalidServeConfig`,
which the loader reports with its key. Other tables of ``gateway.toml`` belong to their own loaders
(``[router]``: :mod:`gateway.router.config`, read by :func:`load_router_file`). Nothing here imports
a heavy backend or zeroconf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiotwin._exceptions import ConfigError, ConfigProblem
from aiotwin.config import load_dataclass, parse_toml
from aiotwin.netem.shape import DEFAULT_PARETO_SHAPE, DirectionShape
from gateway._exceptions import InvalidServeConfig
from gateway.router.config import RouterConfig

_T = TypeVar("_T")

DelayDistribution = Literal["constant", "normal", "pareto"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8480  # unassigned in the IANA registry; 0 picks a free port
# Micro-batching: 8 crops fill the edge model's 2-thread CPU step; 2 ms of waiting is 2.5 % of the
# 80 ms offload SLO (router default τ, docs/qedgeproxy.md) — cheap next to the network hop.
DEFAULT_MAX_BATCH = 8
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_QUEUE = 256  # requests waiting for a batch; beyond this the instance answers 503
DEFAULT_MAX_BODY_BYTES = 4 << 20  # a JPEG/PNG crop is a few kB; a 4 MiB frame is already abuse
DEFAULT_TOP_K = 3
DEFAULT_THREADS = 2  # intra-op threads of the engine (one worker thread runs the batches)
MAX_BATCH_LIMIT = 256
MAX_WAIT_LIMIT_MS = 1000.0

# Node ids and model names become DNS-SD instance names and TXT values: one DNS label each.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidServeConfig(f"{name} must be in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class ServiceDelay:
    """Added service time per batch, drawn like an :mod:`aiotwin.netem` link delay (0 = none)."""

    ms: float = 0.0
    distribution: DelayDistribution = "constant"
    jitter_ms: float = 0.0
    sd_ms: float = 0.0
    pareto_shape: float = DEFAULT_PARETO_SHAPE
    seed: int | None = None

    def __post_init__(self) -> None:
        self.shape()  # ShapeError (a ValueError) names the bad field

    def shape(self) -> DirectionShape:
        return DirectionShape(delay_ms=self.ms, jitter_ms=self.jitter_ms, distribution=self.distribution,
                              sd_ms=self.sd_ms, pareto_shape=self.pareto_shape)

    @property
    def enabled(self) -> bool:
        return self.ms > 0 or self.jitter_ms > 0


@dataclass(frozen=True)
class MdnsConfig:
    """DNS-SD advertisement of the instance (``_aiotwin-infer._tcp.local.``)."""

    enabled: bool = True
    interfaces: tuple[str, ...] = ()  # addresses to advertise and answer on; empty: every interface


@dataclass(frozen=True)
class ServeConfig:
    """One inference instance: which bundle variant it serves, where, and how it batches."""

    bundle: Path | None = None  # None: the shipped "cloud" bundle, else "edge" (logged)
    variant: str | None = None  # None: the first runnable of gateway.serve.PREFERRED_VARIANTS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    node_id: str | None = None  # None: derived from /etc/machine-id and the port
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    top_k: int = DEFAULT_TOP_K
    threads: int = DEFAULT_THREADS
    aliases: tuple[str, ...] = ()
    service_delay: ServiceDelay = field(default_factory=ServiceDelay)
    mdns: MdnsConfig = field(default_factory=MdnsConfig)

    def __post_init__(self) -> None:
        _check_range("port", self.port, 0, 65535)
        _check_range("max-batch", self.max_batch, 1, MAX_BATCH_LIMIT)
        _check_range("max-wait-ms", self.max_wait_ms, 0.0, MAX_WAIT_LIMIT_MS)
        _check_range("max-queue", self.max_queue, 1, 1 << 20)
        _check_range("max-body-bytes", self.max_body_bytes, 1024, 1 << 30)
        _check_range("top-k", self.top_k, 1, 1000)
        _check_range("threads", self.threads, 1, 256)
        if self.node_id is not None and not NODE_ID_PATTERN.fullmatch(self.node_id):
            raise InvalidServeConfig(f"node-id {self.node_id!r} must match {NODE_ID_PATTERN.pattern}")
        for alias in self.aliases:
            if not MODEL_NAME_PATTERN.fullmatch(alias):
                raise InvalidServeConfig(f"alias {alias!r} must match {MODEL_NAME_PATTERN.pattern}")


@dataclass(frozen=True)
class _ServeFile:
    """The part of ``gateway.toml`` this loader owns."""

    serve: ServeConfig = field(default_factory=ServeConfig)


@dataclass(frozen=True)
class _RouterFile:
    """The ``[router]`` table of ``gateway.toml`` (its schema lives in :mod:`gateway.router.config`)."""

    router: RouterConfig = field(default_factory=RouterConfig)


def _load_table(path: Path, table: str, cls: type[_T]) -> _T:
    """Read ``path`` and convert its ``[table]`` (only) into ``cls``; keys are reported as ``table/...``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read: {exc}")]) from exc
    data: dict[str, Any] = parse_toml(text, file=str(path))
    own = {table: data[table]} if table in data else {}
    return load_dataclass(cls, own, file=str(path), text=text, base_dir=path.parent)


def load_serve_config(path: Path) -> ServeConfig:
    """Read the ``[serve]`` table of ``path``; raise :class:`ConfigError` listing every problem."""
    return _load_table(path, "serve", _ServeFile).serve


def load_router_file(path: Path) -> RouterConfig:
    """Read the ``[router]`` table of ``path``; raise :class:`ConfigError` listing every problem."""
    return _load_table(path, "router", _RouterFile).router


__all__ = [
    "DEFAULT_HOST", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_QUEUE", "DEFAULT_MAX_WAIT_MS",
    "DEFAULT_PORT", "DEFAULT_THREADS", "DEFAULT_TOP_K", "MAX_BATCH_LIMIT", "MAX_WAIT_LIMIT_MS",
    "MODEL_NAME_PATTERN", "NODE_ID_PATTERN", "DelayDistribution", "MdnsConfig", "ServeConfig", "ServiceDelay",
    "load_router_file", "load_serve_config",
]
