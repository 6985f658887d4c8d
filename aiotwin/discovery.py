"""DNS-SD over mDNS (python-zeroconf), shared by every role: TXT records, advertiser, browser.

- :func:`split_txt` / :func:`encode_txt` are pure functions over TXT rdata (length-prefixed strings,
  RFC 6763 §6): keys are case-insensitive, the first of duplicate keys wins (§6.4), a key without
  ``=`` has the value ``None``. Problems are :class:`~aiotwin.TxtMalformed`.
- :class:`ServiceAdvertiser` registers one service instance (SRV + A + TXT) and sends goodbyes when
  stopped.
- :class:`ServiceBrowser` keeps the discovered instances of one service type **keyed by node id**:
  rediscovery of a known node (new address, port or instance name) updates its entry and never adds a
  second one (STYLE rule 19). A goodbye or expiry removes it; a malformed TXT record is ignored.
- Gateways advertise their CoAP uplink as ``_aiotwin-gw._udp.local.`` with :class:`GatewayTxt`::

      txtvers=1  node=<gateway node id>  coap=<udp port, repeats the SRV port>  proto=<wire protocol version>

  Devices find one with :func:`gateway_browser` and talk to :attr:`FoundGateway.uri`.

Every resource is injected: the caller opens the :class:`~zeroconf.asyncio.AsyncZeroconf` on the
interfaces it wants (:func:`async_open_zeroconf`; tests use ``["127.0.0.1"]``) and closes it. Unknown
TXT keys are ignored, so later versions can add some.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from zeroconf import InterfaceChoice, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from aiotwin._exceptions import MdnsNameConflict, MdnsSocketError, TxtMalformed
from aiotwin.lifecycle import TaskSet
from aiotwin.wire import MIN_PROTOCOL_VERSION

_LOG = logging.getLogger(__name__)

GW_SERVICE_TYPE = "_aiotwin-gw._udp.local."
GW_TXT_VERSION = "1"
GW_REQUIRED_KEYS: tuple[str, ...] = ("txtvers", "node", "coap", "proto")
MAX_TXT_BYTES = 8900  # RFC 6763 §6.3: a TXT record "SHOULD NOT" exceed 8900 bytes
MAX_TXT_ITEM_BYTES = 255  # RFC 6763 §6.1: one length byte per string
RESOLVE_TIMEOUT_MS = 3000  # python-zeroconf's default ServiceInfo request timeout
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")  # one DNS label: no dots
MAX_PORT = 65535
MAX_PROTO_DIGITS = 4

Change = Literal["added", "updated", "removed"]


# -- TXT rdata ------------------------------------------------------------------------------------

def _txt_key(raw: bytes) -> str:
    if not raw or any(b < 0x20 or b > 0x7E for b in raw):
        raise TxtMalformed(f"TXT key {raw[:20]!r} is empty or not printable ASCII")
    return raw.decode("ascii").lower()


def split_txt(raw: bytes) -> dict[str, bytes | None]:
    """TXT rdata → ``{lower-case key: value}`` (``None`` for a key without ``=``); first key wins."""
    if len(raw) > MAX_TXT_BYTES:
        raise TxtMalformed(f"TXT record of {len(raw)} bytes exceeds {MAX_TXT_BYTES}")
    out: dict[str, bytes | None] = {}
    at = 0
    while at < len(raw):
        size = raw[at]
        item = raw[at + 1:at + 1 + size]
        if len(item) != size:
            raise TxtMalformed("a TXT string runs past the end of the record")
        at += 1 + size
        if not item:
            continue
        key, sep, value = item.partition(b"=")
        out.setdefault(_txt_key(key), value if sep else None)
    return out


def encode_txt(pairs: Mapping[str, str]) -> bytes:
    """``{key: value}`` → TXT rdata (length-prefixed ``key=value`` strings)."""
    out = bytearray()
    for key, value in pairs.items():
        item = f"{key}={value}".encode()
        if len(item) > MAX_TXT_ITEM_BYTES:
            raise TxtMalformed(f"TXT item {key} is longer than {MAX_TXT_ITEM_BYTES} bytes")
        out += bytes([len(item)]) + item
    return bytes(out)


def txt_text(items: Mapping[str, bytes | None], key: str) -> str:
    """The UTF-8 value of ``key``; a missing key, a key without value or bad UTF-8 is malformed."""
    value = items.get(key)
    if value is None:
        raise TxtMalformed(f"TXT key {key!r} is missing or has no value")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TxtMalformed(f"TXT key {key!r} is not UTF-8") from exc


def txt_checked(name: str, value: str, ok: bool) -> str:
    if not ok:
        raise TxtMalformed(f"TXT {name} {value[:40]!r} is malformed")
    return value


def _digits(name: str, value: str, max_digits: int) -> int:
    txt_checked(name, value, value.isascii() and value.isdigit() and 0 < len(value) <= max_digits)
    return int(value)


@dataclass(frozen=True)
class GatewayTxt:
    """The typed TXT record of a gateway's CoAP uplink (``_aiotwin-gw._udp``)."""

    node_id: str
    coap_port: int
    protocol: int

    def encode(self) -> bytes:
        return encode_txt({"txtvers": GW_TXT_VERSION, "node": self.node_id, "coap": str(self.coap_port),
                           "proto": str(self.protocol)})


def parse_gateway_txt(raw: bytes) -> GatewayTxt:
    """Strictly parse a ``_aiotwin-gw`` TXT record; any problem is a :class:`TxtMalformed`."""
    items = split_txt(raw)
    fields = {key: txt_text(items, key) for key in GW_REQUIRED_KEYS}
    if fields["txtvers"] != GW_TXT_VERSION:
        raise TxtMalformed(f"TXT txtvers {fields['txtvers'][:10]!r}: this reader knows {GW_TXT_VERSION}")
    port = _digits("coap", fields["coap"], len(str(MAX_PORT)))
    txt_checked("coap", fields["coap"], 0 < port <= MAX_PORT)
    proto = _digits("proto", fields["proto"], MAX_PROTO_DIGITS)
    txt_checked("proto", fields["proto"], proto >= MIN_PROTOCOL_VERSION)
    node = txt_checked("node", fields["node"], NODE_ID_PATTERN.fullmatch(fields["node"]) is not None)
    return GatewayTxt(node_id=node, coap_port=port, protocol=proto)


# -- zeroconf plumbing ----------------------------------------------------------------------------

def async_open_zeroconf(interfaces: Sequence[str] = ()) -> AsyncZeroconf:
    """An :class:`AsyncZeroconf` on ``interfaces`` (empty: all), attached to the running loop."""
    choice: list[str | int] | InterfaceChoice = list(interfaces) if interfaces else InterfaceChoice.All
    try:
        return AsyncZeroconf(interfaces=choice)
    except OSError as exc:
        where = ", ".join(interfaces) or "all interfaces"
        raise MdnsSocketError(f"cannot open mDNS sockets on {where}: {exc}") from exc


class _Txt(Protocol):
    @property
    def node_id(self) -> str: ...


_T = TypeVar("_T", bound=_Txt)


@dataclass(frozen=True)
class Discovered(Generic[_T]):
    """A service instance found by :class:`ServiceBrowser`: its TXT facts and where it answers now."""

    txt: _T
    addresses: tuple[str, ...]
    port: int
    service_name: str

    @property
    def node_id(self) -> str:
        return self.txt.node_id

    def host_port(self) -> str:
        host = self.addresses[0]
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


@dataclass(frozen=True)
class FoundGateway(Discovered[GatewayTxt]):
    """A gateway's CoAP uplink found by mDNS."""

    @property
    def uri(self) -> str:
        return f"coap://{self.host_port()}"


_R = TypeVar("_R", bound="Discovered[Any]")


class ServiceAdvertiser:
    """Registers one instance ``<node id>.<service type>`` on an injected :class:`AsyncZeroconf`."""

    def __init__(self, aiozc: AsyncZeroconf, service_type: str, node_id: str, *, txt: bytes, port: int,
                 addresses: Sequence[str]) -> None:
        self._aiozc = aiozc
        self._info = AsyncServiceInfo(service_type, f"{node_id}.{service_type}", port=port, properties=txt,
                                      server=f"{node_id}.local.", parsed_addresses=list(addresses))
        self._registered = False

    @property
    def service_name(self) -> str:
        return self._info.name

    async def async_start(self) -> None:
        """Probe, announce, and return when the announcements went out."""
        try:
            await (await self._aiozc.async_register_service(self._info))
        except NonUniqueNameException as exc:
            raise MdnsNameConflict(f"{self._info.name} is already advertised") from exc
        self._registered = True
        _LOG.info("advertising %s on mDNS", self._info.name)

    async def async_stop(self) -> None:
        """Send goodbyes (TTL 0) so browsers drop the instance now, not at expiry."""
        if self._registered:
            self._registered = False
            await (await self._aiozc.async_unregister_service(self._info))


class ServiceBrowser(Generic[_R]):
    """Discovers instances of one service type; see the module docstring.

    ``parse`` turns TXT rdata into the typed record (raising :class:`TxtMalformed`); ``record`` builds
    the discovered entry from it, its addresses, port and instance name.
    """

    def __init__(self, aiozc: AsyncZeroconf, service_type: str, parse: Callable[[bytes], _Txt],
                 record: Callable[..., _R], *, on_change: Callable[[Change, _R], None] | None = None,
                 resolve_timeout_ms: int = RESOLVE_TIMEOUT_MS) -> None:
        self._aiozc = aiozc
        self._type = service_type
        self._parse = parse
        self._record = record
        self._on_change = on_change
        self._timeout_ms = resolve_timeout_ms
        self._instances: dict[str, _R] = {}
        self._names: dict[str, str] = {}  # service name → node id
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._tasks = TaskSet()
        self._waiters: set[asyncio.Future[None]] = set()
        self._browser: AsyncServiceBrowser | None = None

    @property
    def instances(self) -> Mapping[str, _R]:
        """Node id → instance (a copy)."""
        return dict(self._instances)

    async def async_start(self) -> None:
        self._browser = AsyncServiceBrowser(self._aiozc.zeroconf, self._type, handlers=[self._async_on_state])

    async def async_stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        await self._tasks.close()
        self._resolving.clear()

    async def wait_until(self, predicate: Callable[[Mapping[str, _R]], bool]) -> None:
        """Return once ``predicate(instances)`` holds (bound it with ``asyncio.timeout``)."""
        loop = asyncio.get_running_loop()
        while not predicate(self._instances):
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)

    def _async_on_state(self, zeroconf: Zeroconf, service_type: str, name: str,
                        state_change: ServiceStateChange) -> None:
        pending = self._resolving.pop(name, None)
        if pending is not None:
            pending.cancel()
        if state_change is ServiceStateChange.Removed:
            self._async_remove(name)
            return
        task = self._tasks.spawn(self._resolve(name), name=f"mdns-resolve {name}")
        self._resolving[name] = task
        task.add_done_callback(lambda t: self._resolving.pop(name, None) if self._resolving.get(name) is t
                               else None)

    async def _resolve(self, name: str) -> None:
        info = AsyncServiceInfo(self._type, name)
        if not await info.async_request(self._aiozc.zeroconf, self._timeout_ms):
            _LOG.debug("mDNS: %s did not resolve", name)
            return
        try:
            txt = self._parse(info.text or b"")
        except TxtMalformed as exc:
            _LOG.debug("mDNS: ignoring %s: %s", name, exc)
            return
        addresses = tuple(info.parsed_addresses())
        if not addresses or not info.port:
            _LOG.debug("mDNS: ignoring %s: no address or port", name)
            return
        self._async_upsert(self._record(txt, addresses, info.port, name))

    def _async_upsert(self, found: _R) -> None:
        old = self._instances.get(found.node_id)
        if old is not None and old.service_name != found.service_name:
            self._names.pop(old.service_name, None)
        self._names[found.service_name] = found.node_id
        self._instances[found.node_id] = found
        if old != found:
            self._async_notify("added" if old is None else "updated", found)

    def _async_remove(self, name: str) -> None:
        node_id = self._names.pop(name, None)
        gone = self._instances.get(node_id) if node_id is not None else None
        if gone is not None and gone.service_name == name:
            del self._instances[gone.node_id]
            self._async_notify("removed", gone)

    def _async_notify(self, change: Change, instance: _R) -> None:
        _LOG.debug("mDNS: %s %s at %s", change, instance.node_id, instance.host_port())
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._on_change is not None:
            self._on_change(change, instance)


def gateway_browser(aiozc: AsyncZeroconf, *, on_change: Callable[[Change, FoundGateway], None] | None = None,
                    resolve_timeout_ms: int = RESOLVE_TIMEOUT_MS) -> ServiceBrowser[FoundGateway]:
    """A browser for gateways' CoAP uplinks (``_aiotwin-gw._udp``), keyed by gateway node id."""
    return ServiceBrowser(aiozc, GW_SERVICE_TYPE, parse_gateway_txt, FoundGateway, on_change=on_change,
                          resolve_timeout_ms=resolve_timeout_ms)


def pick_gateway(found: Mapping[str, FoundGateway], prefer: str | None = None) -> FoundGateway | None:
    """The preferred gateway if found, else the one with the smallest node id (deterministic), else None."""
    if prefer and prefer in found:
        return found[prefer]
    return found[min(found)] if found else None


class _Stoppable(Protocol):
    async def async_stop(self) -> None: ...


async def async_stop_all(service: _Stoppable | None, zeroconf: AsyncZeroconf | None) -> None:
    """Withdraw ``service`` (advertiser or browser), then close ``zeroconf``; either may be None."""
    if service is not None:
        await service.async_stop()
    if zeroconf is not None:
        await zeroconf.async_close()


__all__ = [
    "GW_REQUIRED_KEYS",
    "GW_SERVICE_TYPE",
    "GW_TXT_VERSION",
    "MAX_PORT",
    "MAX_PROTO_DIGITS",
    "MAX_TXT_BYTES",
    "MAX_TXT_ITEM_BYTES",
    "NODE_ID_PATTERN",
    "RESOLVE_TIMEOUT_MS",
    "Change",
    "Discovered",
    "FoundGateway",
    "GatewayTxt",
    "ServiceAdvertiser",
    "ServiceBrowser",
    "async_open_zeroconf",
    "async_stop_all",
    "encode_txt",
    "gateway_browser",
    "parse_gateway_txt",
    "pick_gateway",
    "split_txt",
    "txt_checked",
    "txt_text",
]
