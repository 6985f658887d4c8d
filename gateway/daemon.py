"""The gateway daemon of ``aiotwin-gateway start``: QEdgeProxy router, devices' CoAP uplink, FL role.

One process per gateway (QEdgeProxy runs one load balancer per node): the router
(:class:`gateway.proxy.RouterServer`) first, then the uplink (:class:`gateway.uplink.UplinkService`:
CoAP ``/events`` into the durable event store, observable ``/cfg``, announced as
``_aiotwin-gw._udp``), then, with ``[fl]`` on, the gateway's federated learning
(:class:`gateway.fl.GatewayFederation` under ``<data-dir>/fl``: edge SuperLink + ServerApp, bridge,
cloud-tier SuperNode; its gauges join the router's ``/metrics``). The ``/cfg`` document tells
devices the router's τ and ρ, so the latency budget their offload decisions use is the one the
router is judged by. Stopped in reverse order.

FL failing to start is fatal (:class:`~gateway._exceptions.FederationStartFailed`: the daemon
stops what it started); FL failing later is not: the federation's supervisors restart Flower
processes with backoff while the router and uplink keep serving. Without ``[fl]`` nothing of
:mod:`gateway.fl` (or Flower) is imported.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiotwin._exceptions import AiotwinError
from aiotwin.exitcodes import ExitCode
from aiotwin.lifecycle import run_daemon
from aiotwin.wire import DeviceDirectives
from gateway._exceptions import FederationStartFailed
from gateway.config import FlConfig
from gateway.proxy import RouterServer
from gateway.router.config import RouterConfig
from gateway.uplink import EVENTS_FILE

if TYPE_CHECKING:
    from gateway.fl import FlCollector, GatewayFederation
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


@dataclass(frozen=True)
class FlOptions:
    """The gateway's FL role: ``[fl]`` (checked by :func:`gateway.config.validate_fl`) and its work dir."""

    config: FlConfig
    work_dir: Path  # <data-dir>/fl
    gateway_id: str  # used when [fl] gateway-id is not set: the node id


class GatewayNode:
    """``start()``/``shutdown()`` for :func:`aiotwin.lifecycle.run_daemon`; see the module docstring."""

    def __init__(self, router: RouterConfig, *, policy: str | None = None, uplink: UplinkOptions | None = None,
                 fl: FlOptions | None = None) -> None:
        self.router = RouterServer(router, policy=policy)
        self.uplink_options = uplink
        self.uplink: UplinkService | None = None
        self.fl_options = fl
        self.federation: GatewayFederation | None = None
        self._fl_metrics: FlCollector | None = None

    def directives(self, node_id: str) -> DeviceDirectives:
        qos = self.router.config.qos
        return DeviceDirectives(gateway=node_id, tau_ms=qos.tau_ms, rho=qos.rho)

    async def start(self) -> None:
        await self.router.start()
        if self.uplink_options is not None:
            await self._start_uplink(self.uplink_options)
        if self.fl_options is not None:
            await self._start_fl(self.fl_options)

    async def _start_uplink(self, opts: UplinkOptions) -> None:
        from gateway.uplink import UplinkServer, UplinkService

        opts.data_dir.mkdir(parents=True, exist_ok=True)
        server = UplinkServer(opts.data_dir / EVENTS_FILE, host=opts.host, port=opts.port,
                              directives=self.directives(opts.node_id))
        service = UplinkService(server, node_id=opts.node_id, advertise=opts.advertise, interfaces=opts.interfaces)
        self.uplink = service
        await service.start()
        _LOG.info("gateway %s: uplink %s, events in %s", opts.node_id, server.url, server.store_path)

    async def _start_fl(self, opts: FlOptions) -> None:
        """The federation under ``opts.work_dir``; :class:`FederationStartFailed` (after cleaning up) if it fails."""
        from aiotwin.availability import require

        require("flower")  # BackendMissing with the install hint (exit 5), before anything is started
        from gateway.fl import FederationConfig, FlCollector, GatewayFederation

        _LOG.info("federated learning: starting the edge SuperLink on %s:%d (coordinator %s) in %s", opts.config.host,
                  opts.config.port, opts.config.coordinator, opts.work_dir)
        try:
            # owned before it starts: a shutdown during start() stops whatever it got to
            self.federation = GatewayFederation(FederationConfig.from_config(opts.config, opts.work_dir,
                                                                             opts.gateway_id))
            await self.federation.start()
        except (AiotwinError, OSError, ValueError) as exc:
            if self.federation is not None:
                await self._stop_federation(self.federation)
                self.federation = None
            raise FederationStartFailed(f"federated learning did not start: {exc} (logs under "
                                        f"{opts.work_dir})") from exc
        self._fl_metrics = FlCollector(opts.work_dir)
        self.router.metrics.registry.register(self._fl_metrics)

    @staticmethod
    async def _stop_federation(federation: GatewayFederation) -> None:
        try:
            await federation.shutdown()
        except (AiotwinError, OSError) as exc:  # stopping goes on: the router and uplink still need to stop
            _LOG.error("stopping federated learning: %s", exc)

    async def shutdown(self) -> None:
        if self._fl_metrics is not None:
            self.router.metrics.registry.unregister(self._fl_metrics)
            self._fl_metrics = None
        if self.federation is not None:
            await self._stop_federation(self.federation)
            self.federation = None
        if self.uplink is not None:
            await self.uplink.shutdown()
            self.uplink = None
        await self.router.shutdown()


def sync_main(router: RouterConfig, *, policy: str | None = None, uplink: UplinkOptions | None = None,
              fl: FlOptions | None = None) -> ExitCode:
    """Run until SIGTERM/SIGINT; return the exit code (0 after a SIGTERM shutdown)."""
    node = GatewayNode(router, policy=policy, uplink=uplink, fl=fl)
    return asyncio.run(run_daemon(node, name=NAME, logger=_LOG))


__all__ = ["NAME", "FlOptions", "GatewayNode", "UplinkOptions", "sync_main"]
