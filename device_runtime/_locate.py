"""Where the device's gateway is: mDNS (``_aiotwin-gw._udp``) first, else the configured URI.

:func:`parse_gateway_uri` is pure (config validation uses it); :class:`GatewayLocator` wraps an
:func:`aiotwin.discovery.gateway_browser` on an injected zeroconf and answers :meth:`current`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncZeroconf

    from aiotwin.discovery import Change, FoundGateway, ServiceBrowser

_LOG = logging.getLogger("device_runtime.uplink")

COAP_DEFAULT_PORT = 5683  # RFC 7252 §6.1


def parse_gateway_uri(text: str) -> str:
    """``coap://host[:port]`` → normalised ``coap://host:port``; raise ValueError with the reason."""
    parts = urlsplit(text.strip())
    if parts.scheme != "coap":
        raise ValueError(f"{text!r}: expected coap://host[:port] (the uplink speaks CoAP over UDP)")
    try:
        port = parts.port or COAP_DEFAULT_PORT
    except ValueError as exc:
        raise ValueError(f"{text!r}: bad port") from exc
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"{text!r}: expected coap://host[:port] without path, query or user")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"coap://{host}:{port}"


class GatewayLocator:
    """The gateway to talk to now: mDNS (if a browser is given) first, else the configured URI."""

    def __init__(self, fallback: str | None, prefer: str | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self._fallback = parse_gateway_uri(fallback) if fallback else None
        self._prefer = prefer
        self._on_change = on_change
        self._browser: ServiceBrowser[FoundGateway] | None = None
        self._last: str | None = None

    async def async_start(self, aiozc: AsyncZeroconf | None) -> None:
        if aiozc is None:
            return
        from aiotwin.discovery import gateway_browser

        self._browser = gateway_browser(aiozc, on_change=self._async_changed)
        await self._browser.async_start()

    async def async_stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_stop()
            self._browser = None

    def current(self) -> str | None:
        from aiotwin.discovery import pick_gateway

        found = pick_gateway(self._browser.instances, self._prefer) if self._browser is not None else None
        return found.uri if found is not None else self._fallback

    def _async_changed(self, change: Change, gateway: FoundGateway) -> None:
        now = self.current()
        if now != self._last:
            _LOG.info("uplink: gateway is now %s (mDNS: %s %s)", now, change, gateway.node_id)
            self._last = now
            if self._on_change is not None:
                self._on_change()


__all__ = ["COAP_DEFAULT_PORT", "GatewayLocator", "parse_gateway_uri"]
