"""The camera-node daemon behind ``aiotwin-device start``.

Threads and the loop
--------------------
- Per camera: a :class:`~device_runtime.camera.CaptureThread` (reads, bounded drop-oldest queue,
  reconnects) and a :class:`~device_runtime._worker.CameraWorker` thread (``CameraPipeline.process``,
  then ``Outbox.put`` of the frame's events, then metrics). Inference and camera reads never run on
  the loop.
- All cameras share one :class:`~device_runtime._model.EngineSlot` (one loaded model in memory);
  :meth:`DeviceNode.swap_bundle` verifies and loads a new bundle in a thread before switching.
- The asyncio loop only serves ``/healthz`` and ``/metrics`` (metrics render in a thread), draws the
  live view, purges expired outbox events (in a thread) and reacts to workers finishing.

Lifecycle: :meth:`DeviceNode.start` returns when every camera is started and the HTTP endpoint
listens; :func:`aiotwin.lifecycle.run_daemon` logs ``ready`` and waits for SIGTERM/SIGINT or
:meth:`DeviceNode.wait_finished` (every camera ended, e.g. ``--frames N``); :meth:`DeviceNode.shutdown`
stops captures, drains and flushes the pipelines, stops HTTP, closes the model and the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiotwin._exceptions import AiotwinError
from aiotwin.bundle import default_bundle_dir
from aiotwin.exitcodes import ExitCode
from aiotwin.lifecycle import TaskSet, run_daemon
from aiotwin.wire import Event
from device_runtime._exceptions import DataDirError
from device_runtime._http import HttpEndpoint
from device_runtime._live import async_show
from device_runtime._metrics import CaptureCounters, NodeMetrics
from device_runtime._model import (
    EngineParams,
    EngineSlot,
    LoadedModel,
    check_compatible,
    choose_variant,
    load_model,
)
from device_runtime._worker import CameraSnapshot, CameraWorker
from device_runtime.config import CameraConfig, DeviceConfig
from device_runtime.identity import NodeIdentity, resolve_identity
from device_runtime.outbox import OUTBOX_FILE, Outbox, OutboxStats

if TYPE_CHECKING:
    from aiotwin.bundle import Manifest
    from aiotwin.wire import DeviceDirectives
    from device_runtime.drift import DriftDetector
    from device_runtime.fl import SuperNodeSupervisor
    from device_runtime.offload.client import Offloader
    from device_runtime.pipeline import CameraPipeline
    from device_runtime.samples import SampleStore
    from device_runtime.uplink import Uplink, UplinkStats

_LOG = logging.getLogger("device_runtime.daemon")

NAME = "aiotwin-device"
OUTBOX_PURGE_PERIOD_S = 60.0  # TTLs are hours to days; a minute of slack is nothing
WORKER_STOP_TIMEOUT_S = 15.0  # capture join (one blocked read, ~7 s) + drain of ≤ queue-frames frames
DEMO_SOURCE = "synthetic:downtown?seed={seed}"
DEMO_CAMERA_ID = "demo-1"
DEMO_DIR_NAME = "aiotwin-demo"
TRT_CACHE_DIR = "trt-cache"  # under the data dir, unless [onnx] trt-cache-dir says otherwise


@dataclass(frozen=True)
class NodeOptions:
    """How to run a node beyond its config: test/demo limits, environment, where the config came from."""

    frames: int | None = None  # stop each camera after N frames
    live: bool = True  # show the live table / periodic status lines
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    config_where: str = "config"


def demo_data_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/aiotwin-demo`` (default ``~/.local/state``), or a temp dir without a home."""
    base = env.get("XDG_STATE_HOME") or (str(Path.home() / ".local" / "state") if env.get("HOME") else "")
    return Path(base) / DEMO_DIR_NAME if base else Path(tempfile.gettempdir()) / DEMO_DIR_NAME


def demo_config(env: Mapping[str, str], *, seed: int = 1, port: int = 0) -> DeviceConfig:
    """One synthetic camera, the shipped bundle, metrics on a free local port."""
    cam = CameraConfig(id=DEMO_CAMERA_ID, source=DEMO_SOURCE.format(seed=seed))
    cfg = DeviceConfig(cameras=[cam], data_dir=demo_data_dir(env))
    return replace(cfg, metrics=replace(cfg.metrics, port=port))


class DeviceNode:
    """One camera node: cameras, model, outbox, HTTP endpoint. See the module docstring."""

    def __init__(self, config: DeviceConfig, options: NodeOptions | None = None) -> None:
        self.config = config
        self.options = options or NodeOptions()
        self.metrics = NodeMetrics()
        self.identity: NodeIdentity | None = None
        self.outbox: Outbox | None = None
        self.slot: EngineSlot | None = None
        self.http: HttpEndpoint | None = None
        self.workers: list[CameraWorker] = []
        self.uplink: Uplink | None = None
        self.offloader: Offloader | None = None
        self.samples: SampleStore | None = None
        self.fl: SuperNodeSupervisor | None = None
        self.pipelines: list[CameraPipeline] = []
        self._tasks = TaskSet()
        self._finished = asyncio.Event()
        self._done: set[str] = set()
        self._swap_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready_at: float | None = None

    # -- start -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox, load the model, listen, start the cameras; return when ready."""
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        self.identity = await asyncio.to_thread(self._prepare_data_dir)
        _LOG.info("node %s (id from %s), data dir %s", self.identity.node_id, self.identity.source,
                  cfg.data_dir)
        self.outbox = await asyncio.to_thread(
            Outbox.open, cfg.data_dir / OUTBOX_FILE, max_events=cfg.outbox.max_events,
            ttl_s=cfg.outbox.ttl_s, overflow=cfg.outbox.overflow)
        model = await asyncio.to_thread(self._load_initial_model)
        self.slot = EngineSlot(model, on_latency=self.metrics.inference_latency.observe)
        self.metrics.set_model(model.info())
        self.metrics.add_pull(self._outbox_stats, self._capture_counters)
        self.metrics.uptime.set_function(self.uptime_s)
        _LOG.info("model %s v%d, variant %s on %s", model.bundle.manifest.name, model.bundle.manifest.version,
                  model.engine.variant, model.engine.provider)
        self.http = HttpEndpoint(cfg.metrics.host, cfg.metrics.port, self._health, self.metrics.render)
        await self.http.async_start()
        _LOG.info("metrics listening on %s", self.http.url)
        if cfg.uplink.active:
            await self._start_uplink(self.identity.node_id)
        await asyncio.to_thread(self._start_joint, self.identity.node_id)
        if cfg.fl.enabled:
            await self._start_fl(self.identity.node_id, model.bundle.manifest)
        await asyncio.to_thread(self._start_cameras, model)
        self._ready_at = time.monotonic()
        self._tasks.spawn(self._async_purge_loop(), name="outbox-purge")
        if self.options.live:
            self._tasks.spawn(async_show(self.snapshots, self._variant), name="live-view")

    async def _start_uplink(self, node_id: str) -> None:
        """CoAP uplink of the outbox to the gateway, ``/cfg`` observed ([uplink], docs/uplink.md)."""
        from device_runtime.uplink import Uplink

        assert self.outbox is not None
        self.uplink = Uplink(self.outbox, self.config.uplink, node_id=node_id, on_directives=self._on_directives)
        await self.uplink.start()
        self.metrics.add_uplink_pull(self._uplink_stats)

    async def _start_fl(self, node_id: str, manifest: Manifest) -> None:
        """The Flower SuperNode training this node's task ([fl], docs/fl.md); restarted if it dies."""
        from device_runtime.fl import supernode_for

        self.fl = supernode_for(self.config, node_id, manifest, env=self.options.env)
        await self.fl.start()
        _LOG.info("federated learning: SuperNode for %s (task %s v%d)", self.config.fl.superlink, manifest.task,
                  manifest.version)

    def _on_directives(self, directives: DeviceDirectives) -> None:
        if self.offloader is not None:
            self.offloader.update_limits(threshold=directives.offload_threshold, budget_ms=directives.tau_ms,
                                         min_p=directives.rho)

    def _start_joint(self, node_id: str) -> None:
        """The sample store and the offload thread ([samples], [offload]; docs/offload.md). Blocking."""
        cfg = self.config
        keep = cfg.samples.enabled
        if keep is None:  # on when the node learns or offloads
            keep = cfg.fl.enabled or cfg.offload.router is not None
        if keep:
            from device_runtime.samples import SAMPLES_FILE, SampleStore

            self.samples = SampleStore(cfg.data_dir / SAMPLES_FILE, max_samples=cfg.samples.max_samples)
        off = cfg.offload
        if off.router is None:
            return
        from device_runtime.offload.client import Offloader
        from device_runtime.offload.policy import OffloadLimits

        limits = OffloadLimits(threshold=off.threshold, budget_ms=off.budget_ms, min_p=off.min_p,
                               max_age_s=off.max_age_s, max_inflight=off.max_inflight,
                               probe_every_s=off.probe_every_s)
        budget = self.uplink.budget if self.uplink is not None else None
        self.offloader = Offloader(off.router, node_id, off.model, limits,
                                   bytes_available=budget.available if budget else (lambda: math.inf),
                                   spend=budget.try_spend if budget else (lambda n: True))
        self.offloader.start()
        _LOG.info("offloading unsure crops (< %.2f) to %s, model %s, budget %g ms", off.threshold, off.router,
                  off.model, off.budget_ms)

    def _uplink_stats(self) -> UplinkStats | None:
        return self.uplink.stats() if self.uplink is not None else None

    def _prepare_data_dir(self) -> NodeIdentity:
        data_dir = self.config.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(data_dir, os.W_OK | os.X_OK):
                raise PermissionError(f"no write permission on {data_dir}")
            return resolve_identity(self.config.node_id, self.config.hw_root, data_dir)
        except OSError as exc:
            raise DataDirError(f"data dir {data_dir} is unusable ({exc}); set data-dir in the config "
                               "or pass --data-dir") from exc

    def _bundle_path(self) -> Path:
        return self.config.bundle if self.config.bundle is not None else default_bundle_dir("edge")

    def _load_initial_model(self) -> LoadedModel:
        cfg = self.config
        variant = choose_variant(self._bundle_path(), cfg.hw_root, cfg.data_dir, self.options.env,
                                 variant=cfg.variant, backend=cfg.backend,
                                 config_where=self.options.config_where)
        return load_model(self._bundle_path(), variant, self._engine_params())

    def _engine_params(self) -> EngineParams:
        cfg = self.config
        return EngineParams(threads=cfg.onnx.intra_op_threads or cfg.threads, providers=tuple(cfg.onnx.providers),
                            cache_dir=cfg.onnx.trt_cache_dir or cfg.data_dir / TRT_CACHE_DIR,
                            delegate=cfg.litert.delegate)

    def _start_cameras(self, model: LoadedModel) -> None:
        """Build every camera first (so "all cameras done" is well defined), then start them."""
        from device_runtime.camera import CaptureThread
        from device_runtime.pipeline import CameraPipeline, PrivacyFilter
        from device_runtime.pipeline.joint import PseudoLabels

        assert self.slot is not None
        built: list[tuple[CameraWorker, CaptureThread]] = []
        sam = self.config.samples
        pseudo = PseudoLabels(sam.pseudo_label_threshold, sam.pseudo_labels_per_minute)
        for cam in self.config.cameras:
            pipeline = CameraPipeline(cam, self.slot, model.bundle.manifest,
                                      privacy=PrivacyFilter(self.config.privacy, cam.mask_zones),
                                      offload=self.offloader, samples=self.samples, pseudo_labels=pseudo)
            worker = CameraWorker(cam.id, pipeline, self._put_events, self.metrics,
                                  max_frames=self.options.frames, on_done=self._on_worker_done,
                                  drift=self._drift_for(cam.id, model.bundle.manifest))
            capture = CaptureThread.for_camera(cam, on_state=worker.on_state)
            worker.attach(capture)
            built.append((worker, capture))
            self.pipelines.append(pipeline)
        self.workers = [w for w, _ in built]
        for worker, capture in built:
            capture.start()
            worker.start()

    def _drift_for(self, camera_id: str, manifest: Manifest) -> DriftDetector | None:
        """The camera's drift detector ([drift]; default: on when the node learns). Blocking."""
        cfg = self.config
        if not (cfg.fl.enabled if cfg.drift.enabled is None else cfg.drift.enabled):
            return None
        from device_runtime.drift import DRIFT_DIR, DriftParams, stored_detector

        params = DriftParams.from_config(cfg.drift, len(manifest.labels))
        return stored_detector(params, cfg.data_dir / DRIFT_DIR / f"{camera_id}.json")

    # -- callbacks from worker threads -----------------------------------------------------------

    def _put_events(self, events: Sequence[Event]) -> None:
        assert self.outbox is not None
        self.outbox.put(events)
        if self.uplink is not None:
            self.uplink.wake()

    def _on_worker_done(self, camera_id: str) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing: nobody waits any more
                loop.call_soon_threadsafe(self._async_worker_done, camera_id)

    def _async_worker_done(self, camera_id: str) -> None:
        frames = next((w.snapshot().frames for w in self.workers if w.camera_id == camera_id), 0)
        _LOG.info("camera %s finished after %d frames", camera_id, frames)
        self._done.add(camera_id)
        if self._done >= {w.camera_id for w in self.workers}:
            self._finished.set()

    # -- loop tasks and views --------------------------------------------------------------------

    async def _async_purge_loop(self) -> None:
        while True:
            await asyncio.sleep(OUTBOX_PURGE_PERIOD_S)
            if self.outbox is not None:
                await asyncio.to_thread(self.outbox.purge_expired)

    def uptime_s(self) -> float:
        return 0.0 if self._ready_at is None else time.monotonic() - self._ready_at

    def snapshots(self) -> list[CameraSnapshot]:
        return [w.snapshot() for w in self.workers]

    def _variant(self) -> str:
        return self.slot.variant if self.slot is not None else "-"

    def _outbox_stats(self) -> OutboxStats | None:
        return self.outbox.stats() if self.outbox is not None else None

    def _capture_counters(self) -> list[CaptureCounters]:
        return [c for w in self.workers if (c := w.capture_counters()) is not None]

    def _health(self) -> tuple[bool, dict[str, Any]]:
        snaps = self.snapshots()
        ok = any(s.state == "streaming" for s in snaps)
        model = self.slot.model if self.slot is not None else None
        return ok, {
            "status": "ok" if ok else "unavailable",
            "node_id": self.identity.node_id if self.identity else None,
            "variant": self._variant(),
            "model_version": model.bundle.manifest.version if model else None,
            "uptime_s": round(self.uptime_s(), 3),
            "cameras": {s.camera_id: {"state": s.state, "detail": s.detail, "frames": s.frames,
                                      "fps": round(s.fps, 2)} for s in snaps},
            "uplink": None if self.uplink is None else {"gateway": self.uplink.gateway(),
                                                        "connected": self.uplink.connected},
        }

    async def wait_finished(self) -> None:
        """Return when every camera has ended (``--frames`` reached, or finite sources at their end)."""
        await self._finished.wait()

    # -- model swap ------------------------------------------------------------------------------

    async def swap_bundle(self, path: Path) -> LoadedModel:
        """Verify and load ``path`` (same variant), then switch every camera to it.

        On any failure (manifest, sha256/size/shape, engine load, changed labels) the running model
        stays, the rejection is counted (``aiotwin_bundle_swaps_total{result="rejected"}``) and logged,
        and the error is raised.
        """
        assert self.slot is not None
        async with self._swap_lock:
            try:
                new = await asyncio.to_thread(load_model, path, self.slot.variant, self._engine_params())
            except AiotwinError as exc:
                self._reject(path, exc)
                raise
            try:
                check_compatible(self.slot.model.bundle, new.bundle)
            except AiotwinError as exc:
                await asyncio.to_thread(new.engine.close)
                self._reject(path, exc)
                raise
            await asyncio.to_thread(self.slot.swap, new)
            for pipeline in self.pipelines:  # events name the model that answered (labels/input are unchanged)
                pipeline.use_manifest(new.bundle.manifest)
        self.metrics.bundle_swaps.labels("ok").inc()
        self.metrics.set_model(new.info())
        _LOG.info("model swapped to %s v%d (%s)", new.bundle.path, new.bundle.manifest.version, new.engine.variant)
        return new

    def _reject(self, path: Path, exc: Exception) -> None:
        assert self.slot is not None
        self.metrics.bundle_swaps.labels("rejected").inc()
        _LOG.error("bundle %s rejected, keeping %s: %s", path, self.slot.model.bundle.path, exc)

    # -- shutdown --------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop uplink, cameras (drain + flush), HTTP, model and outbox. Safe after a partial start."""
        await self._tasks.close()
        if self.fl is not None:
            await self.fl.shutdown()
        if self.uplink is not None:  # what it had not delivered stays in the outbox
            await self.uplink.close()
        await asyncio.to_thread(self._stop_workers)
        if self.offloader is not None:
            await asyncio.to_thread(self.offloader.stop)
        if self.samples is not None:
            await asyncio.to_thread(self.samples.close)
        if self.http is not None:
            await self.http.async_stop()
        if self.slot is not None:
            await asyncio.to_thread(self.slot.close)
        if self.outbox is not None:
            stats = await asyncio.to_thread(self.outbox.stats)
            await asyncio.to_thread(self.outbox.close)
            _LOG.info("outbox closed: %d events waiting, %d stored this run", stats.depth, stats.stored)

    def _stop_workers(self) -> None:
        for w in self.workers:
            if not w.stop(WORKER_STOP_TIMEOUT_S):
                _LOG.error("camera %s: worker did not stop within %.0f s", w.camera_id, WORKER_STOP_TIMEOUT_S)


def sync_main(config: DeviceConfig, options: NodeOptions | None = None) -> ExitCode:
    """Run a node until SIGTERM/SIGINT (or until every camera ended); return the exit code."""
    node = DeviceNode(config, options)
    return asyncio.run(run_daemon(node, name=NAME, logger=_LOG))


__all__ = ["DEMO_SOURCE", "OUTBOX_PURGE_PERIOD_S", "DeviceNode", "NodeOptions", "demo_config",
           "demo_data_dir", "sync_main"]
