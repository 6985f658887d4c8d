"""A supervised Flower SuperNode: a camera node's, or a gateway's in the cloud tier.

A camera node runs one from ``aiotwin-device start`` (``[fl]``), a gateway from :mod:`gateway.fl.cloud`.

:class:`SuperNodeSupervisor` runs ``flower-supernode`` in its own session with its own
``FLWR_HOME`` and runtime port (several nodes on one host each need one), pointed at the gateway's
SuperLink, with a node-config file naming the node, its data dir and sample source, and the only
task it trains (its bundle's). The SuperNode reconnects to the SuperLink by itself; when the
SuperNode process dies, the supervisor restarts it after an :class:`aiotwin.retry.Backoff` delay
(the backoff resets once a run stayed up ``STABLE_S``). Nothing of Flower is imported here: the
ClientApp runs in Flower's own processes, so an inference-only node pays nothing while ``[fl]`` is
off, and a training node pays the SuperNode and SuperExec processes, plus a ClientApp per round.

Security: by default the SuperNode dials the SuperLink over TLS (``root_certificates``: the CA
that signed the SuperLink's certificate) and authenticates with its own ECDSA key (``auth_key``,
OpenSSH format; :func:`aiotwin.flower.pki.write_node_key`), which must be registered at that
SuperLink (:mod:`aiotwin.flower.auth`). A SuperNode whose key is not registered is refused and
exits (Flower's exit code 305 in its log): the supervisor logs that, counts it in
:attr:`SuperNodeSupervisor.refusals` and retries with its backoff (the key may be registered
meanwhile). ``insecure=True`` (plain HTTP, no key) is for local experiments only.

Layout under its work dir (a camera node's ``<data-dir>/fl/``): ``flwr-home/``, ``node-config.toml``, ``supernode.log``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from aiotwin._exceptions import NodeSetupError
from aiotwin.flower.procs import FlowerProcess, flower_env, flower_executable, node_config_toml
from aiotwin.lifecycle import TaskSet
from aiotwin.retry import Backoff

_LOG = logging.getLogger("aiotwin.flower.supernode")

WATCH_POLL_S = 1.0  # how soon a dead SuperNode is noticed (each poll also reads /proc: a few ms)
STABLE_S = 60.0  # a SuperNode up this long resets the restart backoff
DEFAULT_RESTART_MAX_S = 30.0  # backoff cap (aiotwin.retry default)
REFUSED_EXIT = 305  # flower-supernode: could not activate (an unregistered key, or no key where auth is on)
REFUSED_MARK = "Failed to activate SuperNode"  # its log line (with "Exit Code: 305"; the process exits 1)


class SuperNodeSupervisor:
    """Start, watch and restart one ``flower-supernode``; ``async start()``/``async shutdown()``."""

    def __init__(self, superlink: str, work_dir: Path, *, runtime_port: int,
                 node_config: Mapping[str, str | int | float | bool], backoff: Backoff | None = None,
                 insecure: bool = False, root_certificates: Path | None = None, auth_key: Path | None = None,
                 env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if insecure and (root_certificates is not None or auth_key is not None):
            raise NodeSetupError("insecure SuperNode: give no root certificates or node key (they need TLS)")
        if not insecure and root_certificates is None:
            raise NodeSetupError("the SuperNode needs the CA certificate of its SuperLink (root_certificates) "
                                 "or insecure=True (plain HTTP: local experiments only)")
        self.insecure = insecure
        self.root_certificates = root_certificates
        self.auth_key = auth_key
        self.refusals = 0  # exits because the SuperLink refused this node (key not registered, no key)
        self.superlink = superlink
        self.work_dir = work_dir
        self.runtime_port = runtime_port
        self.node_config = dict(node_config)
        self.backoff = backoff or Backoff(cap_s=DEFAULT_RESTART_MAX_S)
        self.restarts = 0
        self.gave_up = False
        self._env = env
        self._clock = clock
        self._tasks = TaskSet()
        self._proc: FlowerProcess | None = None
        self._up_since = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    def security_args(self) -> list[str]:
        """``flower-supernode`` arguments for TLS and node authentication; checks the files first.

        Raises :class:`NodeSetupError` naming the file when the CA certificate or the node key is
        missing, malformed, of the wrong type or expired.
        """
        if self.insecure:
            return ["--insecure"]
        assert self.root_certificates is not None
        from aiotwin.flower.pki import NodeKey, PkiError, load_cert, load_node_key  # cryptography: only with TLS

        try:
            load_cert(self.root_certificates)
            args = ["--root-certificates", str(self.root_certificates.resolve())]
            if self.auth_key is not None:
                load_node_key(NodeKey(self.auth_key, self.auth_key.with_name(self.auth_key.name + ".pub")))
                args += ["--auth-supernode-private-key", str(self.auth_key.resolve())]
        except PkiError as exc:
            raise NodeSetupError(f"SuperNode TLS/authentication files: {exc}") from exc
        return args

    def _build(self) -> FlowerProcess:
        security = self.security_args()
        home = self.work_dir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "node-config.toml"
        config.write_text(node_config_toml(self.node_config), encoding="utf-8")
        argv = [flower_executable("flower-supernode"), *security, "--superlink", self.superlink,
                "--host", "127.0.0.1", "--port", str(self.runtime_port), "--node-config", str(config)]
        return FlowerProcess("supernode", argv, env=flower_env(home, self._env),
                             log_path=self.work_dir / "supernode.log", cwd=self.work_dir)

    async def start(self) -> None:
        """Spawn the SuperNode (it connects to the SuperLink on its own) and watch it."""
        self._proc = await asyncio.to_thread(self._build)
        await asyncio.to_thread(self._proc.start)
        self._up_since = self._clock()
        _LOG.info("SuperNode for %s started (pid %s, runtime port %d)", self.superlink, self._proc.pid,
                  self.runtime_port)
        self._tasks.spawn(self._async_watch(), name="supernode-watch")

    async def _async_watch(self) -> None:
        assert self._proc is not None
        while True:
            await asyncio.sleep(WATCH_POLL_S)
            code = self._proc.poll()
            if code is None:
                await asyncio.to_thread(self._proc.refresh_tree)
                if self.backoff.attempts and self._clock() - self._up_since >= STABLE_S:
                    self.backoff.succeeded()
                continue
            if not await self._async_restart(code):
                return

    async def _async_restart(self, code: int) -> bool:
        """Back off, then start the SuperNode again; ``False`` when the backoff gives up."""
        assert self._proc is not None
        await asyncio.to_thread(self._proc.stop)  # leftovers of the dead one (SuperExec, ClientApp)
        if code == REFUSED_EXIT or REFUSED_MARK in self._proc.tail(30):
            self.refusals += 1
            _LOG.warning("the SuperLink %s refused this SuperNode (exit %d): %s", self.superlink, code,
                         "its key is not registered there" if self.auth_key is not None
                         else "it has no node key and the SuperLink requires one")
        delay = self.backoff.next_delay()
        if delay is None:
            self.gave_up = True
            _LOG.error("SuperNode exited with %s; giving up after %d restarts", code, self.restarts)
            return False
        _LOG.warning("SuperNode exited with %s; restarting in %.1f s. Last log lines:\n%s", code, delay,
                     self._proc.tail(8))
        await asyncio.sleep(delay)
        await asyncio.to_thread(self._proc.start)
        self.restarts += 1
        self._up_since = self._clock()
        return True

    async def shutdown(self) -> None:
        """Stop watching, then stop the SuperNode and everything it started."""
        await self._tasks.close()
        if self._proc is not None:
            code = await asyncio.to_thread(self._proc.stop)
            _LOG.info("SuperNode stopped (exit %s, %d restarts)", code, self.restarts)


__all__ = ["DEFAULT_RESTART_MAX_S", "REFUSED_EXIT", "REFUSED_MARK", "STABLE_S", "WATCH_POLL_S", "SuperNodeSupervisor"]
