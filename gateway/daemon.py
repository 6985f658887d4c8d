"""The gateway daemon of ``aiotwin-gateway start``: the QEdgeProxy router and the devices' CoAP uplink.

One process per gateway (QEdgeProxy runs one load balancer per node): the router
(:class:`gateway.proxy.RouterServer`) first, then the uplink (:class:`gateway.uplink.UplinkService`:
CoAP ``/events`` into the durable event store, observable ``/cfg``, announced as
``_aiotwin-gw._udp``). The ``/cfg`` document tells devices the router's τ and ρ, so the latency
budget their offload decisions use is the one the router is judged by. Stopped in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiotwin.exitcodes import ExitCode
from aiotwin.lifecycle import run_daemon
from aiotwin.wire import DeviceDirectives
from gateway.proxy import RouterServer
from gateway.router.config import RouterConfig
from gateway.uplink import EVENTS_FILE

if TYPE_CHECKING:
    from gateway.uplink import UplinkService

_LOG = logging.getLogger("gateway.daemon")

NAME = "aiotwin-gateway"


@dataclass(frozen=True)
class UplinkOptions:
    """Where the CoAP uplink listens and keeps events, and how it announces itself."""

    data_dir: Path
    node_id: str
    host: str = "::"
    port: int = 5683
    advertise: bool = True
    interfaces: tuple[str, ...] = ()


class GatewayNode:
    """``start()``/``shutdown()`` for :func:`aiotwin.lifecycle.run_daemon`; see the module docstring."""

    def __init__(self, router: RouterConfig, *, policy: str | None = None, uplink: UplinkOptions | None = None) -> None:
        self.router = RouterServer(router, policy=policy)
        self.uplink_options = uplink
        self.uplink: UplinkService | None = None

    def directives(self, node_id: str) -> DeviceDirectives:
        qos = self.router.config.qos
        return DeviceDirectives(gateway=node_id, tau_ms=qos.tau_ms, rho=qos.rho)

    async def start(self) -> None:
        await self.router.start()
        opts = self.uplink_options
        if opts is None:
            return
        from gateway.uplink import UplinkServer, UplinkService

        opts.data_dir.mkdir(parents=True, exist_ok=True)
        server = UplinkServer(opts.data_dir / EVENTS_FILE, host=opts.host, port=opts.port,
                              directives=self.directives(opts.node_id))
        service = UplinkService(server, node_id=opts.node_id, advertise=opts.advertise, interfaces=opts.interfaces)
        self.uplink = service
        await service.start()
        _LOG.info("gateway %s: uplink %s, events in %s", opts.node_id, server.url, server.store_path)

    async def shutdown(self) -> None:
        if self.uplink is not None:
            await self.uplink.shutdown()
            self.uplink = None
        await self.router.shutdown()


def sync_main(router: RouterConfig, *, policy: str | None = None, uplink: UplinkOptions | None = None) -> ExitCode:
    """Run until SIGTERM/SIGINT; return the exit code (0 after a SIGTERM shutdown)."""
    return asyncio.run(run_daemon(GatewayNode(router, policy=policy, uplink=uplink), name=NAME, logger=_LOG))


__all__ = ["NAME", "GatewayNode", "UplinkOptions", "sync_main"]
