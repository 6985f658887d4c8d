"""The gateway's uplink component: a CoAP server over the durable :class:`EventStore`.

Lifecycle (aiocoap ``AsyncCLIDaemon`` shape): :meth:`UplinkServer.start` opens the store, binds UDP
and returns when requests are served; :meth:`UplinkServer.close` (alias :meth:`shutdown`) stops
serving, then closes the store. ``aiotwin-gateway start`` runs one; ``python -m gateway.uplink``
runs one alone.

The directives devices observe on ``/cfg`` come from an injected provider (a callable, or a fixed
:class:`~aiotwin.wire.DeviceDirectives`); :meth:`UplinkServer.set_directives` replaces them and
:meth:`UplinkServer.directives_changed` re-reads the provider; either notifies observers when the
document changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiotwin._exceptions import BackendMissing
from aiotwin.wire import MAX_BATCH_BYTES, DeviceDirectives, Event, encode_directives
from gateway._exceptions import UplinkBindError, UplinkStoreError
from gateway.uplink._store import EventStore, PutResult

if TYPE_CHECKING:
    from gateway.uplink._coap import CfgResource, IngressCounters

_LOG = logging.getLogger("gateway.uplink")

DEFAULT_COAP_PORT = 5683  # RFC 7252 §6.1: the default port of coap://
DEFAULT_BIND_HOST = "::"  # every IPv6 and (v4-mapped) IPv4 address
DirectivesProvider = Callable[[], DeviceDirectives]


@dataclass(frozen=True)
class UplinkStats:
    """Counters of this process (for the gateway's /metrics) and rows in the store."""

    batches: int
    events_stored: int
    events_duplicate: int
    malformed: int
    too_large: int
    unsupported_format: int
    store_failures: int
    store_rows: int
    observers_notified: int


def _provider(directives: DeviceDirectives | DirectivesProvider | None) -> DirectivesProvider:
    if directives is None:
        default = DeviceDirectives()
        return lambda: default
    if isinstance(directives, DeviceDirectives):
        return lambda: directives
    return directives


class UplinkServer:
    """CoAP ``/events`` + observable ``/cfg`` over a durable event store; see the module docstring.

    ``port=0`` binds a free port (read :attr:`port` after :meth:`start`). ``max_batch_bytes`` bounds
    one ``POST /events`` body (4.13 beyond it).
    """

    def __init__(self, store_path: Path, *, host: str = DEFAULT_BIND_HOST, port: int = DEFAULT_COAP_PORT,
                 directives: DeviceDirectives | DirectivesProvider | None = None,
                 max_batch_bytes: int = MAX_BATCH_BYTES) -> None:
        self.store_path = store_path
        self.host = host
        self.port = port
        self.max_batch_bytes = max_batch_bytes
        self._provider = _provider(directives)
        self._published = b""
        self._store: EventStore | None = None
        self._context: Any = None
        self._cfg: CfgResource | None = None
        self._counters: IngressCounters | None = None
        self._notified = 0

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise RuntimeError("UplinkServer.start() has not run")
        return self._store

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104 - display only
        return f"coap://[{host}]:{self.port}" if ":" in host else f"coap://{host}:{self.port}"

    @property
    def directives(self) -> DeviceDirectives:
        return self._provider()

    async def start(self) -> None:
        """Open the store, bind UDP, serve; return when ready."""
        try:
            from gateway.uplink import _coap
        except ImportError as exc:
            raise BackendMissing("coap", ["aiocoap"], "gateway") from exc

        self._store = await asyncio.to_thread(EventStore.open, self.store_path)
        self._counters = _coap.IngressCounters()
        self._published = encode_directives(self._provider())
        site, self._cfg = _coap.build_site(self, lambda: self._published, max_bytes=self.max_batch_bytes,
                                           counters=self._counters)
        try:
            self._context, self.port = await _coap.async_create_context(site, self.host, self.port)
        except OSError as exc:
            await self._close_store()
            raise UplinkBindError(f"cannot bind CoAP on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        except BaseException:
            await self._close_store()
            raise
        _LOG.info("CoAP uplink listening on %s (store %s)", self.url, self.store_path)

    async def async_ingest(self, events: list[Event], node: str | None) -> PutResult:
        """Store a parsed batch durably (in a thread); the 2.04 goes out after this returns."""
        store = self._store
        if store is None:
            raise UplinkStoreError("the uplink is stopping")
        return await asyncio.to_thread(store.put, events, node)

    def set_directives(self, directives: DeviceDirectives) -> bool:
        """Replace the directives; notify observers if the document changed. Return whether it did."""
        self._provider = _provider(directives)
        return self.directives_changed()

    def directives_changed(self) -> bool:
        """Re-read the provider; notify ``/cfg`` observers if the document changed (on the loop)."""
        new = encode_directives(self._provider())
        if new == self._published:
            return False
        self._published = new
        if self._cfg is not None:
            self._notified += 1
            self._cfg.async_notify()
        _LOG.info("device directives changed: %s", new.decode())
        return True

    def stats(self) -> UplinkStats:
        """Counters and the store's row count (blocking: reads SQLite; call from a thread)."""
        c = asdict(self._counters) if self._counters is not None else dict.fromkeys(
            ("batches", "events_stored", "events_duplicate", "malformed", "too_large", "unsupported_format",
             "store_failures"), 0)
        rows = self._store.count() if self._store is not None else 0
        return UplinkStats(**c, store_rows=rows, observers_notified=self._notified)

    async def close(self) -> None:
        """Stop serving, then close the store. Idempotent; safe after a failed start."""
        if self._context is not None:
            ctx, self._context = self._context, None
            await ctx.shutdown()
        await self._close_store()

    async def shutdown(self) -> None:
        """:meth:`close`, under the name :func:`aiotwin.lifecycle.run_daemon` calls."""
        await self.close()

    async def _close_store(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await asyncio.to_thread(store.close)


__all__ = ["DEFAULT_BIND_HOST", "DEFAULT_COAP_PORT", "DirectivesProvider", "UplinkServer", "UplinkStats"]
