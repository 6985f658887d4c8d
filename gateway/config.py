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

    [fl]                                       # aiotwin-gateway start: the gateway's FL role (docs/fl.md)
    enabled = true
    coordinator = "10.0.0.1:9192"              # the coordinator's SuperLink
    host = "0.0.0.0"                           # the edge SuperLink: cameras dial host:port
    port = 9092
    ssl-ca-certfile = "pki/ca.pem"             # the edge SuperLink's TLS files
    ssl-certfile = "pki/gw0.pem"
    ssl-keyfile = "pki/gw0.key"
    coordinator-ca = "pki/ca.pem"              # CA of the coordinator's SuperLink certificate

Loading goes through :func:`aiotwin.config.load_toml`-style checks (unknown keys, types, file and
line in every message); values out of range raise :class:`~gateway._exceptions.InvalidServeConfig`,
which the loader reports with its key. Other tables of ``gateway.toml`` belong to their own loaders
(``[router]``: :mod:`gateway.router.config`, read by :func:`load_router_file`). ``[fl]``
(:class:`FlConfig`, :func:`load_fl_file`) gets a second, cross-key pass once the command-line
overrides are in (:func:`validate_fl`). Nothing here imports a heavy backend, flwr or zeroconf.
"""

from __future__ import annotations

import contextlib
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


# --- [fl]: the gateway's federated learning (docs/fl.md) -----------------------------------------
FL_DIR = "fl"  # <data-dir>/fl/: edge/, bridge/, cloud-supernode/, federation.json
DEFAULT_FL_HOST = "127.0.0.1"  # the edge SuperLink; "0.0.0.0" (or an address) for cameras on the LAN
DEFAULT_FL_PORT = 9092  # = aiotwin.flower.host.DEFAULT_SUPERLINK_PORT: Flower's conventional Fleet API port
DEFAULT_FL_CLOUD_RUNTIME_PORT = 9095  # = gateway.fl.cloud.DEFAULT_CLOUD_RUNTIME_PORT (127.0.0.1 only)
DEFAULT_FL_WAIT_NODES_S = 120.0  # = aiotwin.flower.job.DEFAULT_WAIT_NODES_S: cameras reconnect within it
DEFAULT_FL_RESTART_MAX_S = 30.0  # backoff cap between restarts of a dead Flower process (aiotwin.retry)
_MAX_PORT = 65535


@dataclass(frozen=True)
class FlConfig:
    """The gateway's FL role: its edge SuperLink (cameras) and its SuperNode at the coordinator.

    Off unless ``enabled`` (or ``--fl-coordinator``). Both tiers use TLS with SuperNode
    authentication: the edge SuperLink serves ``ssl-*``, the cloud-tier SuperNode verifies the
    coordinator with ``coordinator-ca`` and signs in with the gateway's own key
    (``<data-dir>/fl/cloud-supernode/keys/flwr-node``, made on first start; ``aiotwin-gateway fl
    node-key``). ``insecure = true`` (plain HTTP, no keys, both tiers) is for local experiments.
    """

    enabled: bool = False
    coordinator: str | None = None  # host:port of the coordinator's SuperLink
    gateway_id: str | None = None  # None: the gateway's node id
    host: str = DEFAULT_FL_HOST
    port: int = DEFAULT_FL_PORT
    cloud_runtime_port: int = DEFAULT_FL_CLOUD_RUNTIME_PORT
    min_nodes: int = 1  # cameras an edge round waits for
    wait_nodes_s: float = DEFAULT_FL_WAIT_NODES_S
    holdout_npz: Path | None = None  # x/y arrays the edge ServerApp evaluates every model on
    ssl_ca_certfile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    coordinator_ca: Path | None = None
    insecure: bool = False
    restart_max_s: float = DEFAULT_FL_RESTART_MAX_S

    @property
    def tls_files(self) -> tuple[Path | None, Path | None, Path | None]:
        """CA, certificate and key of the edge SuperLink (all ``None`` when insecure)."""
        return self.ssl_ca_certfile, self.ssl_certfile, self.ssl_keyfile


def _host_port(address: str | None) -> bool:
    host, _, port = (address or "").rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) <= _MAX_PORT


def _fl_range_problems(cfg: FlConfig) -> list[tuple[str, str]]:
    out = [(key, f"must be 1..{_MAX_PORT}") for key, port in (("port", cfg.port),
                                                              ("cloud-runtime-port", cfg.cloud_runtime_port))
           if not 0 < port <= _MAX_PORT]
    if cfg.min_nodes < 1:
        out.append(("min-nodes", "must be >= 1"))
    out += [(key, "must be > 0") for key, value in (("wait-nodes-s", cfg.wait_nodes_s),
                                                     ("restart-max-s", cfg.restart_max_s)) if not value > 0]
    if cfg.gateway_id is not None and not NODE_ID_PATTERN.fullmatch(cfg.gateway_id):
        out.append(("gateway-id", f"{cfg.gateway_id!r} must match {NODE_ID_PATTERN.pattern}"))
    if cfg.holdout_npz is not None and not cfg.holdout_npz.is_file():
        out.append(("holdout-npz", f"no such file: {cfg.holdout_npz}"))
    return out


def _fl_security_problems(cfg: FlConfig) -> list[tuple[str, str]]:
    named = dict(zip(("ssl-ca-certfile", "ssl-certfile", "ssl-keyfile", "coordinator-ca"),
                     (*cfg.tls_files, cfg.coordinator_ca), strict=True))
    if cfg.insecure:
        return [(key, "insecure = true (--fl-insecure) runs plain HTTP without keys: drop this key, or drop "
                 "insecure to use TLS and node authentication") for key, path in named.items() if path is not None]
    out = [(key, "TLS needs this file (or insecure = true for local experiments only; docs/fl.md)")
           for key, path in named.items() if path is None]
    return out + [(key, f"no such file: {path}") for key, path in named.items()
                  if path is not None and not path.is_file()]


def fl_problems(cfg: FlConfig) -> list[tuple[str, str]]:
    """``(key, message)`` for every problem of ``cfg`` (what FL needs to start only when it is enabled)."""
    out = _fl_range_problems(cfg)
    if not cfg.enabled:
        return out
    if not _host_port(cfg.coordinator):
        out.append(("coordinator", 'federated learning needs coordinator = "HOST:PORT" (or --fl-coordinator), '
                    f"got {cfg.coordinator!r}"))
    return out + _fl_security_problems(cfg)


def _fl_line(text: str, key: str) -> int | None:
    """Line of ``key`` in the ``[fl]`` table of ``text``, else of the table's header."""
    table, header = "", None
    for i, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped.strip("[] ")
            header = i if table == "fl" else header
        elif table == "fl" and re.match(rf"{re.escape(key)}\s*=", stripped):
            return i
    return header


def validate_fl(cfg: FlConfig, source: Path | None = None) -> None:
    """Raise :class:`ConfigError` listing every problem of ``cfg`` as ``file:line fl/key``.

    ``source`` is the config file ``cfg`` came from (``None``: the command line alone).
    """
    problems = fl_problems(cfg)
    if not problems:
        return
    text = ""
    if source is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = source.read_text(encoding="utf-8")
    file = str(source) if source is not None else "<command line>"
    raise ConfigError([ConfigProblem(file, f"fl/{key}", message, _fl_line(text, key)) for key, message in problems])


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


@dataclass(frozen=True)
class _FlFile:
    """The ``[fl]`` table of ``gateway.toml``."""

    fl: FlConfig = field(default_factory=FlConfig)


def load_serve_config(path: Path) -> ServeConfig:
    """Read the ``[serve]`` table of ``path``; raise :class:`ConfigError` listing every problem."""
    return _load_table(path, "serve", _ServeFile).serve


def load_router_file(path: Path) -> RouterConfig:
    """Read the ``[router]`` table of ``path``; raise :class:`ConfigError` listing every problem."""
    return _load_table(path, "router", _RouterFile).router


def load_fl_file(path: Path) -> FlConfig:
    """Read the ``[fl]`` table of ``path`` (keys and types); :func:`validate_fl` checks the rest."""
    return _load_table(path, "fl", _FlFile).fl


__all__ = [
    "DEFAULT_FL_CLOUD_RUNTIME_PORT", "DEFAULT_FL_HOST", "DEFAULT_FL_PORT", "DEFAULT_FL_RESTART_MAX_S",
    "DEFAULT_FL_WAIT_NODES_S", "DEFAULT_HOST", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_WAIT_MS", "DEFAULT_PORT", "DEFAULT_THREADS", "DEFAULT_TOP_K", "FL_DIR", "MAX_BATCH_LIMIT",
    "MAX_WAIT_LIMIT_MS", "MODEL_NAME_PATTERN", "NODE_ID_PATTERN", "DelayDistribution", "FlConfig", "MdnsConfig",
    "ServeConfig", "ServiceDelay", "fl_problems", "load_fl_file", "load_router_file", "load_serve_config",
    "validate_fl",
]
