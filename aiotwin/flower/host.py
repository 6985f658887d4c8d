"""An aggregation host: a Flower SuperLink plus one long-lived ServerApp serving a file job queue.

Both tiers run one: a gateway's edge aggregator (:class:`gateway.fl.EdgeAggregator`, the ServerApp
:mod:`aiotwin.flower.server_app`) and the coordinator's global aggregator
(:mod:`cloud_coordinator.fl`). :class:`AggregatorHost` starts ``flower-superlink`` on ``host:port``
with TLS (:class:`aiotwin.flower.pki.ServerTls`) and SuperNode authentication (only node keys in
its :class:`~aiotwin.flower.auth.AuthorizedNodes`, registered each time the SuperLink starts), or
plain HTTP without authentication when ``insecure`` is chosen explicitly; submits the App once with
``flwr run`` (its ServerApp then serves this host's :class:`~aiotwin.flower.JobQueue`), and restarts
both with backoff when the SuperLink dies. :meth:`AggregatorHost.run_job` queues one job (N rounds
from given weights of a base version) and waits for its result; every job leaves a run directory
with its config, seeds, per-round records and weights.

Layout under ``work_dir``: ``app/`` (the Flower App), ``flwr-home/{superlink,cli}``,
``logs/superlink.log``, ``authorized-nodes/``, and the job queue's ``runs/``, ``queue/``, ``serverapp.json``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt

from aiotwin.flower._exceptions import EdgeJobFailed, FlowerProcessError
from aiotwin.flower.auth import CLI_HOME, AuthorizedNodes, NodeRegistrationError, register_key
from aiotwin.flower.job import EdgeJob, JobQueue, RunDir, load_weights
from aiotwin.flower.pki import PkiError, ServerTls, load_server_tls
from aiotwin.flower.procs import FlowerProcess, flower_env, flower_executable
from aiotwin.flower.project import APP_NAME, submit_run, write_app, write_cli_config
from aiotwin.flower.protocol import round_seed
from aiotwin.lifecycle import TaskSet
from aiotwin.models.task import Weights
from aiotwin.retry import Backoff

_LOG = logging.getLogger("aiotwin.flower.host")

DEFAULT_SUPERLINK_PORT = 9092  # Flower's conventional Fleet API port
READY_TIMEOUT_S = 90.0  # SuperLink listening + ServerApp heartbeat; ~10 s on an idle host, more on a loaded one
HEARTBEAT_STALE_S = 60.0  # a ServerApp silent this long is gone (it beats every poll, ≤ 1 s)
STATUS_POLL_S = 0.25
WATCH_POLL_S = 1.0
STOP_WAIT_S = 10.0  # for the ServerApp to return after STOP, before the SuperLink is stopped


@dataclass(frozen=True)
class HostConfig:
    """Where an aggregation host keeps its state, where its SuperLink listens, and how it is secured.

    Either ``tls`` (the SuperLink's CA, certificate and key; then ``node_auth`` decides whether only
    registered SuperNode keys are accepted, on by default) or ``insecure=True`` (plain HTTP, no node
    authentication: local experiments only). Neither, or both, is a :class:`ValueError`.
    """

    work_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_SUPERLINK_PORT
    ready_timeout_s: float = READY_TIMEOUT_S
    restart_max_s: float = 30.0
    tls: ServerTls | None = None
    insecure: bool = False
    node_auth: bool = True

    def __post_init__(self) -> None:
        if self.tls is None and not self.insecure:
            raise ValueError("the SuperLink needs TLS files (CA, certificate, key) or insecure=True "
                             "(plain HTTP, no node authentication: local experiments only)")
        if self.tls is not None and self.insecure:
            raise ValueError("give TLS files or insecure=True, not both")

    @property
    def auth(self) -> bool:
        """Whether SuperNode authentication is on (it needs TLS)."""
        return self.tls is not None and self.node_auth

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class JobResult:
    """A finished job: the aggregated weights and everything recorded about its rounds."""

    run_id: str
    path: Path
    weights: Weights
    rounds: list[dict[str, Any]]
    status: dict[str, Any]

    @property
    def aggregated_rounds(self) -> int:
        return sum(1 for r in self.rounds if r.get("aggregated"))


class AggregatorHost:
    """A SuperLink + one ServerApp serving a job queue; ``async start()``, ``run_job()``, ``async shutdown()``.

    Subclasses name the Flower components (:attr:`SERVERAPP`, :attr:`CLIENTAPP`) and the App name.
    """

    SERVERAPP = "aiotwin.flower.server_app:app"
    CLIENTAPP = "aiotwin.flower.client_app:app"
    APP = APP_NAME
    ROLE = "edge aggregator"

    def __init__(self, config: HostConfig, *, env: Mapping[str, str] | None = None,
                 backoff: Backoff | None = None) -> None:
        self.config = config
        self.queue = JobQueue(config.work_dir)
        self.flower_run_id: int | None = None
        self.restarts = 0
        self.node_ids: dict[str, int] = {}  # authorized node name → Flower node id at the current SuperLink
        self._env = env
        self._backoff = backoff or Backoff(cap_s=config.restart_max_s)
        self._tasks = TaskSet()
        self._superlink: FlowerProcess | None = None
        self._started_at = 0.0
        self._busy = asyncio.Lock()

    @property
    def address(self) -> str:
        """What SuperNodes pass as ``--superlink``."""
        return self.config.address

    @property
    def superlink_pid(self) -> int | None:
        return self._superlink.pid if self._superlink is not None else None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """SuperLink up, ServerApp submitted and heartbeating; then watch the SuperLink."""
        await asyncio.to_thread(self._prepare)
        await self._async_bring_up()
        self._tasks.spawn(self._async_watch(), name="superlink-watch")
        _LOG.info("%s ready: SuperLink %s, ServerApp run %s", self.ROLE, self.address, self.flower_run_id)

    def _prepare(self) -> None:
        work = self.config.work_dir
        self.queue.ensure()
        tls = self.config.tls
        if tls is not None:
            load_server_tls(tls)  # missing, malformed, mismatched or expired: a typed PkiError now
        write_app(work / "app", work, serverapp=self.SERVERAPP, clientapp=self.CLIENTAPP, name=self.APP)
        write_cli_config(work / CLI_HOME, self.address, root_certificates=tls.ca_cert if tls else None)
        (work / "flwr-home" / "superlink").mkdir(parents=True, exist_ok=True)
        if tls is None:
            security = ["--insecure"]
        else:
            security = ["--ssl-ca-certfile", str(tls.ca_cert.resolve()), "--ssl-certfile", str(tls.cert.resolve()),
                        "--ssl-keyfile", str(tls.key.resolve())]
            if self.config.auth:
                security.append("--enable-supernode-auth")
        argv = [flower_executable("flower-superlink"), *security, "--host", self.config.host,
                "--port", str(self.config.port), "--disable-runtime-dependency-installation"]
        self._superlink = FlowerProcess("superlink", argv, env=flower_env(work / "flwr-home" / "superlink", self._env),
                                        log_path=work / "logs" / "superlink.log", cwd=work)

    async def _async_bring_up(self) -> None:
        assert self._superlink is not None
        self.queue.clear_stop()
        await asyncio.to_thread(self._superlink.start)
        self._started_at = time.time()
        await self._async_wait_listening()
        if self.config.auth:
            await asyncio.to_thread(self.register_authorized)
        self.flower_run_id = await asyncio.to_thread(submit_run, self.config.work_dir / "app",
                                                     self.config.work_dir / CLI_HOME)
        await self._async_wait_heartbeat()

    async def _async_wait_listening(self) -> None:
        assert self._superlink is not None
        give_up = time.monotonic() + self.config.ready_timeout_s
        while True:
            if self._superlink.poll() is not None:
                raise FlowerProcessError(f"flower-superlink exited with {self._superlink.poll()}:\n"
                                         f"{self._superlink.tail()}")
            try:
                _, writer = await asyncio.open_connection(self.config.host, self.config.port)
            except OSError:
                if time.monotonic() > give_up:
                    raise FlowerProcessError(f"flower-superlink not listening on {self.address} after "
                                             f"{self.config.ready_timeout_s:g} s") from None
                await asyncio.sleep(0.2)
                continue
            writer.close()
            await writer.wait_closed()
            return

    async def _async_wait_heartbeat(self) -> None:
        give_up = time.monotonic() + self.config.ready_timeout_s
        while not self._fresh_heartbeat(since=self._started_at):
            if time.monotonic() > give_up:
                raise FlowerProcessError(f"the {self.ROLE}'s ServerApp (run {self.flower_run_id}) did not start within "
                                         f"{self.config.ready_timeout_s:g} s; see {self.config.work_dir / 'logs'}")
            await asyncio.sleep(STATUS_POLL_S)

    def _fresh_heartbeat(self, *, since: float | None = None) -> bool:
        beat = self.queue.read_heartbeat()
        if beat is None or beat.get("state") == "stopped":
            return False
        at = float(beat.get("time", 0.0))
        return at >= (since if since is not None else time.time() - HEARTBEAT_STALE_S)

    async def _async_watch(self) -> None:
        """Restart SuperLink + ServerApp with backoff when the SuperLink dies."""
        assert self._superlink is not None
        while True:
            await asyncio.sleep(WATCH_POLL_S)
            code = self._superlink.poll()
            if code is None:
                await asyncio.to_thread(self._superlink.refresh_tree)
                continue
            await asyncio.to_thread(self._superlink.stop)  # also its orphaned SuperExec and ServerApp
            delay = self._backoff.next_delay()
            if delay is None:
                _LOG.error("SuperLink exited with %s; giving up", code)
                return
            _LOG.warning("SuperLink exited with %s; restarting in %.1f s", code, delay)
            await asyncio.sleep(delay)
            try:
                await self._async_bring_up()
            except FlowerProcessError as exc:
                _LOG.error("restarting the SuperLink failed: %s", exc)
                continue
            self.restarts += 1
            self._backoff.succeeded()

    async def shutdown(self) -> None:
        """Ask the ServerApp to return, then stop the SuperLink and everything it started."""
        await self._tasks.close()
        if self._superlink is None:
            return
        await asyncio.to_thread(self.queue.request_stop)
        give_up = time.monotonic() + STOP_WAIT_S
        while self._superlink.running and time.monotonic() < give_up:
            beat = await asyncio.to_thread(self.queue.read_heartbeat)
            if beat is None or beat.get("state") == "stopped":
                break
            await asyncio.sleep(STATUS_POLL_S)
        code = await asyncio.to_thread(self._superlink.stop)
        _LOG.info("SuperLink stopped (exit %s)", code)

    # -- node authentication ----------------------------------------------------------------------

    @property
    def authorized(self) -> AuthorizedNodes:
        """The node keys this host's SuperLink accepts (with ``node_auth``)."""
        return AuthorizedNodes(self.config.work_dir)

    def register_authorized(self) -> dict[str, int]:
        """Register every authorized node key with the (just started) SuperLink; name → Flower node id.

        Blocking (about 2 s per key: one ``flwr`` call each). A key the SuperLink refuses is logged
        and skipped: its node stays out, the others get in.
        """
        out: dict[str, int] = {}
        for name, path in self.authorized.entries():
            try:
                out[name] = register_key(self.config.work_dir / CLI_HOME, path, name=name)
            except (NodeRegistrationError, PkiError) as exc:
                _LOG.error("node key %s not registered: %s", path, exc)
        self.node_ids = out
        _LOG.info("%s: %d authorized node key(s) registered with the SuperLink", self.ROLE, len(out))
        return out

    # -- jobs -------------------------------------------------------------------------------------

    def connected_nodes(self) -> list[str]:
        """Flower node ids the ServerApp saw connected at its last heartbeat."""
        beat = self.queue.read_heartbeat()
        return list(beat.get("nodes", [])) if beat else []

    async def wait_for_nodes(self, count: int, timeout_s: float) -> list[str]:
        """Node ids once ``count`` are connected; :class:`EdgeJobFailed` after ``timeout_s``."""
        give_up = time.monotonic() + timeout_s
        while len(nodes := await asyncio.to_thread(self.connected_nodes)) < count:
            if time.monotonic() > give_up:
                raise EdgeJobFailed(f"{len(nodes)} SuperNode(s) connected after {timeout_s:g} s, wanted {count}")
            await asyncio.sleep(STATUS_POLL_S)
        return nodes

    async def run_job(self, job: EdgeJob, weights: Sequence[npt.NDArray[Any]], *,
                      timeout_s: float | None = None) -> JobResult:
        """Queue ``job`` from ``weights``, wait until the ServerApp finished it, return the result."""
        async with self._busy:  # one job at a time: a SuperNode handles one message at a time
            run = await asyncio.to_thread(self._new_run, job, weights)
            _LOG.info("%s job %s: %d round(s) of %s from version %s", self.ROLE, run.run_id, job.rounds,
                      job.task, job.base_version)
            limit = timeout_s or job.wait_nodes_s + job.rounds * (job.deadline_s + job.wait_nodes_s) + 60.0
            status = await self._async_wait_done(run, limit)
        if status.get("state") != "done":
            raise EdgeJobFailed(str(status.get("error", "failed")), run_id=run.run_id)
        result = await asyncio.to_thread(load_weights, run.path / RunDir.RESULT)
        return JobResult(run.run_id, run.path, result, await asyncio.to_thread(run.read_rounds), status)

    def job_record(self, job: EdgeJob) -> dict[str, Any]:
        """What ``job.json`` records next to the job itself (seeds, where it ran)."""
        return {"round-seeds": [round_seed(job.seed, r) for r in range(1, job.rounds + 1)],
                "superlink": self.address, "flower-run-id": self.flower_run_id, "created-at": time.time()}

    def _new_run(self, job: EdgeJob, weights: Sequence[npt.NDArray[Any]]) -> RunDir:
        run = self.queue.new_run(job, weights, **self.job_record(job))
        self.queue.submit(run)
        return run

    async def _async_wait_done(self, run: RunDir, limit_s: float) -> dict[str, Any]:
        give_up = time.monotonic() + limit_s
        while True:
            status = await asyncio.to_thread(run.read_status) or {}
            if status.get("state") in ("done", "failed"):
                return status
            if time.monotonic() > give_up:
                raise EdgeJobFailed(f"no result within {limit_s:g} s", run_id=run.run_id)
            if not await asyncio.to_thread(self._fresh_heartbeat):
                raise EdgeJobFailed(f"the {self.ROLE}'s ServerApp stopped responding (no heartbeat for "
                                    f"{HEARTBEAT_STALE_S:g} s)", run_id=run.run_id)
            if await asyncio.to_thread(self._job_lost, run, status):
                raise EdgeJobFailed(f"the {self.ROLE}'s ServerApp restarted while it ran this job", run_id=run.run_id)
            await asyncio.sleep(STATUS_POLL_S)

    def _job_lost(self, run: RunDir, status: dict[str, Any]) -> bool:
        """A job marked running while a newer heartbeat says the ServerApp is idle (it restarted)."""
        beat = self.queue.read_heartbeat() or {}
        if status.get("state") != "running" or beat.get("state") != "idle":
            return False
        if float(beat.get("time", 0.0)) <= float(status.get("time", 0.0)):
            return False
        again = run.read_status() or {}  # it may have finished between the two reads
        return again.get("state") == "running"


__all__ = ["DEFAULT_SUPERLINK_PORT", "READY_TIMEOUT_S", "AggregatorHost", "HostConfig", "JobResult"]
