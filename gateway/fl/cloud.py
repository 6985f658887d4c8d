"""The gateway's cloud tier: a SuperNode of the coordinator's SuperLink, bridged to the edge loop.

:class:`CloudBridge` serves the bridge queue (``<work>/bridge/``, :mod:`aiotwin.flower.cloud`): for
each global round the cloud-tier ClientApp queues an edge job holding the global model; the bridge
runs it with :meth:`gateway.fl.EdgeAggregator.run_job` (``local_rounds`` rounds with this gateway's
cameras through its own SuperLink) and writes the aggregate and the summed example count back for
the ClientApp's reply. Gateway-local settings override the request: the cameras it waits for
(``min_nodes``, ``wait_nodes_s``) and an optional holdout.

:class:`GatewayFederation` is the whole FL part of a gateway: the edge aggregator, the bridge and a
supervised cloud-tier SuperNode (:class:`aiotwin.flower.supernode.SuperNodeSupervisor`) whose
node config names the bridge. ``aiotwin-gateway start`` runs it under ``<data-dir>/fl/`` when ``[fl]``
is on (:class:`FederationConfig.from_config`), ``python -m gateway.fl serve`` on its own. Once up it
writes ``federation.json`` (gateway id, edge SuperLink, coordinator, pid), which
``aiotwin-gateway fl status`` reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiotwin._exceptions import AiotwinError
from aiotwin.flower.cloud import NODE_BRIDGE_DIR, NODE_GATEWAY_ID, finish_bridge_job
from aiotwin.flower.job import DEFAULT_WAIT_NODES_S, EdgeJob, JobQueue, RunDir, load_weights, write_json
from aiotwin.flower.pki import NodeKey, ServerTls, write_node_key
from aiotwin.flower.supernode import SuperNodeSupervisor
from aiotwin.lifecycle import TaskSet
from aiotwin.retry import Backoff
from gateway.config import FlConfig
from gateway.fl.aggregator import DEFAULT_SUPERLINK_PORT, EdgeAggregator, EdgeAggregatorConfig

_LOG = logging.getLogger("gateway.fl.cloud")

BRIDGE_DIR = "bridge"
EDGE_DIR = "edge"
CLOUD_DIR = "cloud-supernode"
CLOUD_KEY = "flwr-node"  # <work>/cloud-supernode/keys/flwr-node(.pub): the gateway's key at the coordinator
BRIDGE_POLL_S = 0.25  # how soon a queued global round starts on this gateway
BRIDGE_BEAT_S = 1.0  # heartbeat period (the ClientApp treats a beat older than 30 s as a dead bridge)
BRIDGE_MARGIN_S = 2.0  # the edge job gives up this much before the bridge timeout: the error still gets out
DEFAULT_CLOUD_RUNTIME_PORT = 9095
FEDERATION_FILE = "federation.json"  # <work>/federation.json: what runs where (``fl status``)


def cloud_key(work_dir: Path) -> NodeKey:
    """The gateway's Flower key at the coordinator, under a federation's ``work_dir``."""
    keys = work_dir / CLOUD_DIR / "keys"
    return NodeKey(keys / CLOUD_KEY, keys / f"{CLOUD_KEY}.pub")


@dataclass(frozen=True)
class EdgeDefaults:
    """The gateway's own settings for every edge job it runs for the coordinator."""

    min_nodes: int = 1
    wait_nodes_s: float = DEFAULT_WAIT_NODES_S
    holdout_npz: Path | None = None

    def apply(self, job: EdgeJob) -> EdgeJob:
        return dataclasses.replace(job, min_nodes=self.min_nodes, wait_nodes_s=self.wait_nodes_s,
                                   holdout_npz=self.holdout_npz)


class CloudBridge:
    """Serves the bridge queue with the edge aggregator; ``async start()``/``async shutdown()``."""

    def __init__(self, aggregator: EdgeAggregator, bridge_dir: Path, *, defaults: EdgeDefaults | None = None) -> None:
        self.aggregator = aggregator
        self.queue = JobQueue(bridge_dir)
        self.defaults = defaults or EdgeDefaults()
        self.served = 0
        self._tasks = TaskSet()
        self._prepared = False

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare)
        self._prepared = True
        self._tasks.spawn(self._async_beat(), name="bridge-beat")
        self._tasks.spawn(self._async_serve(), name="bridge-serve")

    def _prepare(self) -> None:
        self.queue.ensure()
        self.queue.clear_stop()
        for stale in self.queue.queue.glob("[0-9]*"):  # requests of a previous life: their ClientApp is gone
            stale.unlink(missing_ok=True)
        self._beat("idle")

    def _beat(self, state: str, run_id: str | None = None) -> None:
        nodes = [int(n) for n in self.aggregator.connected_nodes()]
        self.queue.heartbeat(nodes=nodes, state=state, run_id=run_id)

    async def _async_beat(self) -> None:
        while True:
            await asyncio.to_thread(self._beat, "serving")
            await asyncio.sleep(BRIDGE_BEAT_S)

    async def _async_serve(self) -> None:
        while True:
            run = await asyncio.to_thread(self.queue.claim)
            if run is None:
                await asyncio.sleep(BRIDGE_POLL_S)
                continue
            await self.async_run(run)
            self.served += 1

    async def async_run(self, run: RunDir) -> None:
        """One global round on this gateway: the edge job, then its result (never raises)."""
        t0 = time.monotonic()
        try:
            job, meta = await asyncio.to_thread(_read, run)
            weights = await asyncio.to_thread(load_weights, run.path / RunDir.INITIAL)
            await asyncio.to_thread(run.write_status, "running")
            timeout = max(float(meta.get("bridge-timeout-s", 0)) - BRIDGE_MARGIN_S, 1.0)
            _LOG.info("global round %s/%s: %d local round(s) from version %s", meta.get("cloud-run"),
                      meta.get("cloud-round"), job.rounds, job.base_version)
            result = await self.aggregator.run_job(self.defaults.apply(job), weights, timeout_s=timeout)
        except AiotwinError as exc:
            _LOG.error("edge job for %s failed: %s", run.run_id, exc)
            await asyncio.to_thread(run.write_status, "failed", error=str(exc))
            return
        await asyncio.to_thread(finish_bridge_job, run, result.weights, result.rounds, time.monotonic() - t0,
                                result.run_id)

    async def shutdown(self) -> None:
        await self._tasks.close()
        if self._prepared:
            await asyncio.to_thread(self.queue.heartbeat, nodes=[], state="stopped")


def _read(run: RunDir) -> tuple[EdgeJob, dict[str, Any]]:
    meta = json.loads((run.path / RunDir.JOB).read_text(encoding="utf-8"))
    return run.read_job(), meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class FederationConfig:
    """A gateway's FL settings: its edge SuperLink and its place in the cloud tier."""

    work_dir: Path
    coordinator: str  # host:port of the coordinator's SuperLink
    gateway_id: str
    host: str = "127.0.0.1"  # edge SuperLink listen address
    port: int = DEFAULT_SUPERLINK_PORT
    cloud_runtime_port: int = DEFAULT_CLOUD_RUNTIME_PORT  # the cloud-tier SuperNode's local runtime API
    edge: EdgeDefaults = dataclasses.field(default_factory=EdgeDefaults)
    restart_max_s: float = 30.0
    tls: ServerTls | None = None  # the edge SuperLink's TLS files (cameras verify them with their CA)
    coordinator_ca: Path | None = None  # the CA of the coordinator's SuperLink certificate
    insecure: bool = False  # both tiers plain HTTP, no node authentication: local experiments only

    @property
    def cloud_key(self) -> NodeKey:
        """The gateway's Flower key at the coordinator (created at start if missing)."""
        return cloud_key(self.work_dir)

    @classmethod
    def from_config(cls, cfg: FlConfig, work_dir: Path, gateway_id: str) -> FederationConfig:
        """The federation of ``[fl]`` (checked by :func:`gateway.config.validate_fl`) under ``work_dir``."""
        ca, cert, key = (p.resolve() if p is not None else None for p in cfg.tls_files)
        tls = ServerTls(ca, cert, key) if ca is not None and cert is not None and key is not None else None
        edge = EdgeDefaults(min_nodes=cfg.min_nodes, wait_nodes_s=cfg.wait_nodes_s,
                            holdout_npz=cfg.holdout_npz.resolve() if cfg.holdout_npz else None)
        assert cfg.coordinator is not None, "validate_fl() requires a coordinator"
        return cls(work_dir.resolve(), cfg.coordinator, cfg.gateway_id or gateway_id, host=cfg.host, port=cfg.port,
                   cloud_runtime_port=cfg.cloud_runtime_port, edge=edge, restart_max_s=cfg.restart_max_s, tls=tls,
                   coordinator_ca=cfg.coordinator_ca.resolve() if cfg.coordinator_ca else None,
                   insecure=cfg.insecure)


class GatewayFederation:
    """Edge aggregator + bridge + cloud-tier SuperNode; ``async start()``/``async shutdown()``."""

    def __init__(self, config: FederationConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        work = config.work_dir
        self.aggregator = EdgeAggregator(EdgeAggregatorConfig(work / EDGE_DIR, host=config.host, port=config.port,
                                                              restart_max_s=config.restart_max_s, tls=config.tls,
                                                              insecure=config.insecure), env=env)
        self.bridge = CloudBridge(self.aggregator, work / BRIDGE_DIR, defaults=config.edge)
        node_config: dict[str, str | int | float | bool] = {
            NODE_GATEWAY_ID: config.gateway_id, NODE_BRIDGE_DIR: str((work / BRIDGE_DIR).resolve())}
        self.supernode = SuperNodeSupervisor(config.coordinator, work / CLOUD_DIR,
                                             runtime_port=config.cloud_runtime_port, node_config=node_config,
                                             backoff=Backoff(cap_s=config.restart_max_s), env=env,
                                             insecure=config.insecure, root_certificates=config.coordinator_ca,
                                             auth_key=None if config.insecure else config.cloud_key.private)

    @property
    def edge_address(self) -> str:
        """Where this gateway's cameras point their SuperNodes."""
        return self.aggregator.address

    async def start(self) -> None:
        """Edge SuperLink and ServerApp first, then the bridge, then join the coordinator."""
        if not self.config.insecure:
            key = self.config.cloud_key
            await asyncio.to_thread(write_node_key, key.private.parent, name=key.private.name)
        await self.aggregator.start()
        await self.bridge.start()
        await self.supernode.start()
        await asyncio.to_thread(self._write_state, "running")
        _LOG.info("gateway %s in the federation: edge SuperLink %s, coordinator %s", self.config.gateway_id,
                  self.edge_address, self.config.coordinator)

    def _write_state(self, state: str) -> None:
        cfg = self.config
        write_json(cfg.work_dir / FEDERATION_FILE, {
            "state": state, "time": time.time(), "pid": os.getpid(), "gateway-id": cfg.gateway_id,
            "edge-superlink": self.edge_address, "coordinator": cfg.coordinator, "insecure": cfg.insecure,
            "cloud-runtime-port": cfg.cloud_runtime_port})

    async def shutdown(self) -> None:
        """Leave the coordinator first, then the bridge, then the edge SuperLink (safe after a failed start)."""
        await self.supernode.shutdown()
        await self.bridge.shutdown()
        await self.aggregator.shutdown()
        if (self.config.work_dir / FEDERATION_FILE).exists():
            await asyncio.to_thread(self._write_state, "stopped")


__all__ = ["BRIDGE_DIR", "CLOUD_DIR", "CLOUD_KEY", "DEFAULT_CLOUD_RUNTIME_PORT", "EDGE_DIR", "FEDERATION_FILE",
           "CloudBridge", "EdgeDefaults", "FederationConfig", "GatewayFederation", "cloud_key"]
