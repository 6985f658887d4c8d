"""DNS-SD over mDNS (python-zeroconf) for the gateway: inference instances and the CoAP uplink.

- ``_aiotwin-infer._tcp.local.``: :class:`Advertiser` registers one inference instance (SRV + A + TXT)
  and sends goodbyes when stopped; :class:`Browser` keeps the discovered instances **keyed by node
  id** (rediscovery updates, never duplicates: STYLE rule 19).
- ``_aiotwin-gw._udp.local.``: :class:`GatewayAdvertiser` announces this gateway's CoAP uplink
  (TXT :class:`~aiotwin.discovery.GatewayTxt`); devices find it with
  :func:`aiotwin.discovery.gateway_browser` (the shared half lives in the core, so devices never
  import the gateway).
- TXT parsing is pure: :func:`parse_txt` turns the raw TXT rdata (length-prefixed strings, RFC 6763
  §6) into a typed :class:`InferTxt` or raises :class:`~gateway._exceptions.TxtRecordError`; the
  browser ignores such instances with a debug log.

Infer TXT keys (RFC 6763 §6.4: case-insensitive; the first of duplicate keys wins, §6.4)::

    txtvers=1  node=<node id>  model=<manifest name>  version=<int>  variant=<variant id>

The generic advertiser, browser and TXT splitting are :mod:`aiotwin.discovery`. Every resource is
injected: the caller opens the :class:`~zeroconf.asyncio.AsyncZeroconf` on the interfaces it wants
(:func:`async_open_zeroconf`; tests use ``["127.0.0.1"]``) and closes it. Unknown TXT keys are ignored,
so later versions can add some.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zeroconf.asyncio import AsyncZeroconf

from aiotwin._exceptions import MdnsNameConflict, MdnsSocketError, TxtMalformed
from aiotwin.discovery import (
    GW_SERVICE_TYPE,
    MAX_TXT_BYTES,
    RESOLVE_TIMEOUT_MS,
    Change,
    Discovered,
    GatewayTxt,
    ServiceAdvertiser,
    ServiceBrowser,
    encode_txt,
    split_txt,
    txt_checked,
    txt_text,
)
from aiotwin.discovery import async_open_zeroconf as _open_zeroconf
from aiotwin.wire import PROTOCOL_VERSION
from gateway._exceptions import DiscoveryError, MdnsUnavailable, TxtRecordError
from gateway.config import MODEL_NAME_PATTERN, NODE_ID_PATTERN

SERVICE_TYPE = "_aiotwin-infer._tcp.local."
TXT_VERSION = "1"
REQUIRED_KEYS: tuple[str, ...] = ("txtvers", "node", "model", "version", "variant")
MAX_VERSION_DIGITS = 9
VARIANT_MAX_CHARS = 32
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - recognised, never bound here


@dataclass(frozen=True)
class InferTxt:
    """The typed TXT record of one inference instance."""

    node_id: str
    model: str
    version: int
    variant: str

    def encode(self) -> bytes:
        """TXT rdata: length-prefixed ``key=value`` strings."""
        try:
            return encode_txt({"txtvers": TXT_VERSION, "node": self.node_id, "model": self.model,
                               "version": str(self.version), "variant": self.variant})
        except TxtMalformed as exc:
            raise TxtRecordError(str(exc)) from exc


@dataclass(frozen=True)
class DiscoveredInstance(Discovered[InferTxt]):
    """An instance found by :class:`Browser`: its TXT facts and where it answers now."""

    @property
    def url(self) -> str:
        return f"http://{self.host_port()}"


def _parse(raw: bytes) -> InferTxt:
    items = split_txt(raw)
    fields = {key: txt_text(items, key) for key in REQUIRED_KEYS}
    if fields["txtvers"] != TXT_VERSION:
        raise TxtMalformed(f"TXT txtvers {fields['txtvers'][:10]!r}: this reader knows {TXT_VERSION}")
    version = fields["version"]
    txt_checked("version", version, version.isascii() and version.isdigit() and len(version) <= MAX_VERSION_DIGITS)
    variant = fields["variant"]
    variant_ok = 0 < len(variant) <= VARIANT_MAX_CHARS and all(c.isascii() and (c.isalnum() or c == "-")
                                                                  for c in variant)
    return InferTxt(
        node_id=txt_checked("node", fields["node"], NODE_ID_PATTERN.fullmatch(fields["node"]) is not None),
        model=txt_checked("model", fields["model"], MODEL_NAME_PATTERN.fullmatch(fields["model"]) is not None),
        version=int(version),
        variant=txt_checked("variant", variant, variant_ok),
    )


def parse_txt(raw: bytes) -> InferTxt:
    """Strictly parse an ``_aiotwin-infer`` TXT record; any problem is a :class:`TxtRecordError`."""
    try:
        return _parse(raw)
    except TxtMalformed as exc:
        raise TxtRecordError(str(exc)) from exc


def async_open_zeroconf(interfaces: Sequence[str] = ()) -> AsyncZeroconf:
    """An :class:`AsyncZeroconf` on ``interfaces`` (empty: all), attached to the running loop."""
    try:
        return _open_zeroconf(interfaces)
    except MdnsSocketError as exc:
        raise MdnsUnavailable(f"{exc}: fix multicast or pass --no-mdns") from exc


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


class Advertiser(ServiceAdvertiser):
    """Registers one inference instance on an injected :class:`AsyncZeroconf`; see the module docstring."""

    def __init__(self, aiozc: AsyncZeroconf, txt: InferTxt, port: int, addresses: Sequence[str]) -> None:
        super().__init__(aiozc, SERVICE_TYPE, txt.node_id, txt=txt.encode(), port=port, addresses=addresses)

    async def async_start(self) -> None:
        """Probe, announce, and return when the announcements went out."""
        try:
            await super().async_start()
        except MdnsNameConflict as exc:
            raise DiscoveryError(f"{self.service_name} is already advertised: give this instance a unique "
                                 "--node-id") from exc


class GatewayAdvertiser(ServiceAdvertiser):
    """Announces this gateway's CoAP uplink as ``<node id>._aiotwin-gw._udp.local.``."""

    def __init__(self, aiozc: AsyncZeroconf, node_id: str, coap_port: int, addresses: Sequence[str],
                 protocol: int = PROTOCOL_VERSION) -> None:
        self.txt = GatewayTxt(node_id, coap_port, protocol)
        try:
            raw = self.txt.encode()
        except TxtMalformed as exc:
            raise TxtRecordError(str(exc)) from exc
        super().__init__(aiozc, GW_SERVICE_TYPE, node_id, txt=raw, port=coap_port, addresses=addresses)

    async def async_start(self) -> None:
        """Probe, announce, and return when the announcements went out."""
        try:
            await super().async_start()
        except MdnsNameConflict as exc:
            raise DiscoveryError(f"{self.service_name} is already advertised: give this gateway a unique "
                                 "node id") from exc


class Browser(ServiceBrowser[DiscoveredInstance]):
    """Discovers inference instances on an injected :class:`AsyncZeroconf`; see the module docstring."""

    def __init__(self, aiozc: AsyncZeroconf, *, on_change: Callable[[Change, DiscoveredInstance], None] | None
                 = None, resolve_timeout_ms: int = RESOLVE_TIMEOUT_MS) -> None:
        super().__init__(aiozc, SERVICE_TYPE, parse_txt, DiscoveredInstance, on_change=on_change,
                         resolve_timeout_ms=resolve_timeout_ms)


__all__ = [
    "GW_SERVICE_TYPE", "MAX_TXT_BYTES", "MAX_VERSION_DIGITS", "REQUIRED_KEYS", "RESOLVE_TIMEOUT_MS", "SERVICE_TYPE",
    "TXT_VERSION", "VARIANT_MAX_CHARS", "WILDCARD_HOSTS", "Advertiser", "Browser", "Change", "DiscoveredInstance",
    "GatewayAdvertiser", "InferTxt", "advertised_addresses", "async_open_zeroconf", "local_addresses", "parse_txt",
    "split_txt",
]
