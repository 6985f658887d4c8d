"""Configuration of the router's HTTP hop: ``[router.http]``, ``[router.mdns]``, ``[[router.instances]]``.

These sections are part of :class:`gateway.router.config.RouterConfig` (one ``[router]`` table), but
only the hop (:mod:`gateway.proxy`) reads them; the routing policies never do. Pure data: nothing
here opens a socket.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway._exceptions import InvalidRouterConfig

# --- the HTTP hop (read by gateway.proxy only) --------------------------------------------------
DEFAULT_ROUTER_HOST = "127.0.0.1"
DEFAULT_ROUTER_PORT = 8470  # unassigned in the IANA registry; instances default to 8480
DEFAULT_UPSTREAM_TIMEOUT_MS = 1000.0  # assumed: = failure-latency-ms; a reply after 12.5 τ is a failure
DEFAULT_MAX_CONNECTIONS = 100  # aiohttp TCPConnector's default limit of pooled connections
DEFAULT_ROUTER_MAX_BODY_BYTES = 4 << 20  # as an instance's max-body-bytes (a crop is a few kB)
# Instance ids become metric labels and JSON keys; mDNS node ids and derived "host:port" ids match.
INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9\[][A-Za-z0-9._:\[\]-]{0,127}")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidRouterConfig(message)


@dataclass(frozen=True)
class HttpConfig:
    """Where ``aiotwin-gateway start`` listens and how it talks to instances."""

    host: str = DEFAULT_ROUTER_HOST
    port: int = DEFAULT_ROUTER_PORT
    timeout_ms: float = DEFAULT_UPSTREAM_TIMEOUT_MS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_body_bytes: int = DEFAULT_ROUTER_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, f"port must be in [0, 65535], got {self.port}")
        _check(0 < self.timeout_ms < math.inf, f"timeout-ms must be > 0 and finite, got {self.timeout_ms}")
        _check(self.max_connections >= 1, f"max-connections must be ≥ 1, got {self.max_connections}")
        _check(self.max_body_bytes >= 1024, f"max-body-bytes must be ≥ 1024, got {self.max_body_bytes}")


@dataclass(frozen=True)
class RouterMdnsConfig:
    """Discovery of ``_aiotwin-infer._tcp`` instances by mDNS."""

    enabled: bool = True
    interfaces: tuple[str, ...] = ()  # addresses to browse on; empty: every interface


@dataclass(frozen=True)
class StaticInstance:
    """An instance given by configuration (``[[router.instances]]`` or ``--instance [ID=]URL``)."""

    url: str
    id: str | None = None  # None: "host:port" of the URL
    rtt_ms: float | None = None  # the gateway's RTT to it, for the proximity baseline

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        _check(parts.scheme in {"http", "https"} and bool(parts.hostname) and not parts.query
               and not parts.fragment and parts.path in {"", "/"},
               f"instance url {self.url!r} must be http(s)://HOST[:PORT] with no path")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise InvalidRouterConfig(f"instance url {self.url!r}: {exc}") from exc
        _check(INSTANCE_ID_PATTERN.fullmatch(self.instance_id) is not None,
               f"instance id {self.instance_id!r} must match {INSTANCE_ID_PATTERN.pattern}")
        _check(self.rtt_ms is None or self.rtt_ms >= 0, f"rtt-ms must be ≥ 0, got {self.rtt_ms}")

    @classmethod
    def parse(cls, spec: str) -> StaticInstance:
        """``URL`` or ``ID=URL`` (the ``--instance`` option)."""
        ident, sep, url = spec.partition("=")
        if sep and "://" not in ident:
            return cls(url=url, id=ident)
        return cls(url=spec)

    @property
    def instance_id(self) -> str:
        if self.id is not None:
            return self.id
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_ROUTER_HOST",
    "DEFAULT_ROUTER_MAX_BODY_BYTES",
    "DEFAULT_ROUTER_PORT",
    "DEFAULT_UPSTREAM_TIMEOUT_MS",
    "INSTANCE_ID_PATTERN",
    "HttpConfig",
    "RouterMdnsConfig",
    "StaticInstance",
]
