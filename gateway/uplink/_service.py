"""The uplink as a service of a gateway process: the CoAP server plus its ``_aiotwin-gw._udp`` advertisement."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.uplink._server import UplinkServer

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncZeroconf

    from gateway.transports.mdns import GatewayAdvertiser


class UplinkService:
    """``start()``/``shutdown()``: the server, then (``advertise``) its mDNS announcement; stopped in reverse."""

    def __init__(self, server: UplinkServer, *, node_id: str, advertise: bool, interfaces: Sequence[str] = ()) -> None:
        self.server = server
        self.node_id = node_id
        self.advertise = advertise
        self.interfaces = tuple(interfaces)
        self._zeroconf: AsyncZeroconf | None = None
        self._advertiser: GatewayAdvertiser | None = None

    async def start(self) -> None:
        await self.server.start()
        if self.advertise:
            await self._advertise()

    async def _advertise(self) -> None:
        from gateway.transports import mdns

        zc = mdns.async_open_zeroconf(self.interfaces)
        self._zeroconf = zc
        addresses = await asyncio.to_thread(mdns.advertised_addresses, self.server.host, self.interfaces)
        advertiser = mdns.GatewayAdvertiser(zc, self.node_id, self.server.port, addresses)
        self._advertiser = advertiser
        await advertiser.async_start()

    async def shutdown(self) -> None:
        from aiotwin.discovery import async_stop_all  # zeroconf only when the service runs

        await async_stop_all(self._advertiser, self._zeroconf)
        self._advertiser, self._zeroconf = None, None
        await self.server.close()


__all__ = ["UplinkService"]
