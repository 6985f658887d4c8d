"""DNS-SD over mDNS (python-zeroconf) for inference instances: ``_aiotwin-infer._tcp.local.``.

- :class:`Advertiser` registers one instance (SRV + A + TXT) and sends goodbyes when stopped.
- :class:`Browser` keeps a dict of discovered instances **keyed by node id**: rediscovery of a known
  node (new address, new port, new service name) updates its entry and never adds a second one
  (STYLE rule 19). A goodbye or expiry removes it.
- TXT parsing is pure: :func:`parse_txt` turns the raw TXT rdata (length-prefixed strings, RFC 6763
  §6) into a typed :class:`InferTxt` or raises :class:`~gateway._exceptions.TxtRecordError`; the
  browser ignores such instances with a debug log.

TXT keys (RFC 6763 §6.4: case-insensitive; the first of duplicate keys wins, §6.4)::

    txtvers=1  node=<node id>  model=<manifest name>  version=<int>  variant=<variant id>

Every resource is injected: the caller opens the :class:`~zeroconf.asyncio.AsyncZeroconf` on the
interfaces it wants (:func:`async_open_zeroconf`; tests use ``["127.0.0.1"]``) and closes it.
Unknown TXT keys are ignored, so later versions can add some.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from zeroconf import InterfaceChoice, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from aiotwin.lifecycle import TaskSet
from gateway._exceptions import DiscoveryError, MdnsUnavailable, TxtRecordError
from gateway.config import MODEL_NAME_PATTERN, NODE_ID_PATTERN

_LOG = logging.getLogger(__name__)

SERVICE_TYPE = "_aiotwin-infer._tcp.local."
TXT_VERSION = "1"
REQUIRED_KEYS: tuple[str, ...] = ("txtvers", "node", "model", "version", "variant")
MAX_TXT_BYTES = 8900  # RFC 6763 §6.3: a TXT record "SHOULD NOT" exceed 8900 bytes
MAX_VERSION_DIGITS = 9
VARIANT_MAX_CHARS = 32
RESOLVE_TIMEOUT_MS = 3000  # python-zeroconf's default ServiceInfo request timeout
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - recognised, never bound here

Change = Literal["added", "updated", "removed"]


@dataclass(frozen=True)
class InferTxt:
    """The typed TXT record of one inference instance."""

    node_id: str
    model: str
    version: int
    variant: str

    def encode(self) -> bytes:
        """TXT rdata: length-prefixed ``key=value`` strings."""
        pairs = {"txtvers": TXT_VERSION, "node": self.node_id, "model": self.model,
                 "version": str(self.version), "variant": self.variant}
        out = bytearray()
        for key, value in pairs.items():
            item = f"{key}={value}".encode()
            if len(item) > 255:
                raise TxtRecordError(f"TXT item {key} is longer than 255 bytes")
            out += bytes([len(item)]) + item
        return bytes(out)


@dataclass(frozen=True)
class DiscoveredInstance:
    """An instance found by :class:`Browser`: its TXT facts and where it answers now."""

    txt: InferTxt
    addresses: tuple[str, ...]
    port: int
    service_name: str

    @property
    def node_id(self) -> str:
        return self.txt.node_id

    @property
    def url(self) -> str:
        host = self.addresses[0]
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def _txt_key(raw: bytes) -> str:
    if not raw or any(b < 0x20 or b > 0x7E for b in raw):
        raise TxtRecordError(f"TXT key {raw[:20]!r} is empty or not printable ASCII")
    return raw.decode("ascii").lower()


def split_txt(raw: bytes) -> dict[str, bytes | None]:
    """TXT rdata → ``{lower-case key: value}`` (``None`` for a key without ``=``); first key wins."""
    if len(raw) > MAX_TXT_BYTES:
        raise TxtRecordError(f"TXT record of {len(raw)} bytes exceeds {MAX_TXT_BYTES}")
    out: dict[str, bytes | None] = {}
    at = 0
    while at < len(raw):
        size = raw[at]
        item = raw[at + 1:at + 1 + size]
        if len(item) != size:
            raise TxtRecordError("a TXT string runs past the end of the record")
        at += 1 + size
        if not item:
            continue
        key, sep, value = item.partition(b"=")
        out.setdefault(_txt_key(key), value if sep else None)
    return out


def _text(items: Mapping[str, bytes | None], key: str) -> str:
    value = items.get(key)
    if value is None:
        raise TxtRecordError(f"TXT key {key!r} is missing or has no value")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TxtRecordError(f"TXT key {key!r} is not UTF-8") from exc


def _checked(name: str, value: str, ok: bool) -> str:
    if not ok:
        raise TxtRecordError(f"TXT {name} {value[:40]!r} is malformed")
    return value


def parse_txt(raw: bytes) -> InferTxt:
    """Strictly parse an ``_aiotwin-infer`` TXT record; any problem is a :class:`TxtRecordError`."""
    items = split_txt(raw)
    fields = {key: _text(items, key) for key in REQUIRED_KEYS}
    if fields["txtvers"] != TXT_VERSION:
        raise TxtRecordError(f"TXT txtvers {fields['txtvers'][:10]!r}: this reader knows {TXT_VERSION}")
    version = fields["version"]
    _checked("version", version, version.isascii() and version.isdigit() and len(version) <= MAX_VERSION_DIGITS)
    variant = fields["variant"]
    variant_ok = 0 < len(variant) <= VARIANT_MAX_CHARS and all(c.isascii() and (c.isalnum() or c == "-")
                                                                  for c in variant)
    return InferTxt(
        node_id=_checked("node", fields["node"], NODE_ID_PATTERN.fullmatch(fields["node"]) is not None),
        model=_checked("model", fields["model"], MODEL_NAME_PATTERN.fullmatch(fields["model"]) is not None),
        version=int(version),
        variant=_checked("variant", variant, variant_ok),
    )


def async_open_zeroconf(interfaces: Sequence[str] = ()) -> AsyncZeroconf:
    """An :class:`AsyncZeroconf` on ``interfaces`` (empty: all), attached to the running loop."""
    choice: list[str | int] | InterfaceChoice = list(interfaces) if interfaces else InterfaceChoice.All
    try:
        return AsyncZeroconf(interfaces=choice)
    except OSError as exc:
        where = ", ".join(interfaces) or "all interfaces"
        raise MdnsUnavailable(f"cannot open mDNS sockets on {where}: {exc}: fix multicast or pass --no-mdns") from exc


def local_addresses() -> list[str]:
    """IPv4 addresses of this host's non-loopback interfaces (blocking: reads the interface list)."""
    import ifaddr

    found = [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)]
    return [a for a in dict.fromkeys(found) if not ipaddress.ip_address(a).is_loopback] or ["127.0.0.1"]


def advertised_addresses(host: str, interfaces: Sequence[str]) -> list[str]:
    """What to put in the A records: the bound host, else the mDNS interfaces, else every address."""
    if host not in WILDCARD_HOSTS:
        return [host]
    return list(interfaces) if interfaces else local_addresses()


class Advertiser:
    """Registers one instance on an injected :class:`AsyncZeroconf`; see the module docstring."""

    def __init__(self, aiozc: AsyncZeroconf, txt: InferTxt, port: int, addresses: Sequence[str]) -> None:
        self._aiozc = aiozc
        self._info = AsyncServiceInfo(
            SERVICE_TYPE, f"{txt.node_id}.{SERVICE_TYPE}", port=port, properties=txt.encode(),
            server=f"{txt.node_id}.local.", parsed_addresses=list(addresses),
        )
        self._registered = False

    @property
    def service_name(self) -> str:
        return self._info.name

    async def async_start(self) -> None:
        """Probe, announce, and return when the announcements went out."""
        try:
            await (await self._aiozc.async_register_service(self._info))
        except NonUniqueNameException as exc:
            raise DiscoveryError(f"{self._info.name} is already advertised: give this instance a unique "
                                 "--node-id") from exc
        self._registered = True
        _LOG.info("advertising %s on mDNS", self._info.name)

    async def async_stop(self) -> None:
        """Send goodbyes (TTL 0) so browsers drop the instance now, not at expiry."""
        if self._registered:
            self._registered = False
            await (await self._aiozc.async_unregister_service(self._info))


class Browser:
    """Discovers instances on an injected :class:`AsyncZeroconf`; see the module docstring."""

    def __init__(self, aiozc: AsyncZeroconf, *, on_change: Callable[[Change, DiscoveredInstance], None] | None
                 = None, resolve_timeout_ms: int = RESOLVE_TIMEOUT_MS) -> None:
        self._aiozc = aiozc
        self._on_change = on_change
        self._timeout_ms = resolve_timeout_ms
        self._instances: dict[str, DiscoveredInstance] = {}
        self._names: dict[str, str] = {}  # service name → node id
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._tasks = TaskSet()
        self._waiters: set[asyncio.Future[None]] = set()
        self._browser: AsyncServiceBrowser | None = None

    @property
    def instances(self) -> Mapping[str, DiscoveredInstance]:
        """Node id → instance (a copy)."""
        return dict(self._instances)

    async def async_start(self) -> None:
        self._browser = AsyncServiceBrowser(self._aiozc.zeroconf, SERVICE_TYPE, handlers=[self._async_on_state])

    async def async_stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        await self._tasks.close()
        self._resolving.clear()

    async def wait_until(self, predicate: Callable[[Mapping[str, DiscoveredInstance]], bool]) -> None:
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
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self._aiozc.zeroconf, self._timeout_ms):
            _LOG.debug("mDNS: %s did not resolve", name)
            return
        try:
            txt = parse_txt(info.text or b"")
        except TxtRecordError as exc:
            _LOG.debug("mDNS: ignoring %s: %s", name, exc)
            return
        addresses = tuple(info.parsed_addresses())
        if not addresses or not info.port:
            _LOG.debug("mDNS: ignoring %s: no address or port", name)
            return
        self._async_upsert(DiscoveredInstance(txt, addresses, info.port, name))

    def _async_upsert(self, found: DiscoveredInstance) -> None:
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

    def _async_notify(self, change: Change, instance: DiscoveredInstance) -> None:
        _LOG.debug("mDNS: %s %s at %s", change, instance.node_id, instance.url)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._on_change is not None:
            self._on_change(change, instance)


__all__ = [
    "MAX_TXT_BYTES", "MAX_VERSION_DIGITS", "REQUIRED_KEYS", "RESOLVE_TIMEOUT_MS", "SERVICE_TYPE", "TXT_VERSION",
    "VARIANT_MAX_CHARS", "WILDCARD_HOSTS", "Advertiser", "Browser", "Change", "DiscoveredInstance", "InferTxt",
    "advertised_addresses", "async_open_zeroconf", "local_addresses", "parse_txt", "split_txt",
]
