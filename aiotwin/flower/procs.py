"""Starting and stopping Flower's own executables (``flower-superlink``, ``flower-supernode``, ``flwr``).

Each process runs in a session of its own with its own ``FLWR_HOME``, telemetry and update checks
off, and the directory of this Python first on ``PATH`` (a SuperLink/SuperNode starts
``flower-superexec``, which starts ``flwr-serverapp``/``flwr-clientapp``, all by name).
:meth:`FlowerProcess.stop` ends the whole tree: the SuperLink starts its SuperExec in a session
of its own, so descendants are collected from ``/proc`` before the process group is signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from aiotwin.flower._exceptions import FlowerMissing, FlowerProcessError

_LOG = logging.getLogger("aiotwin.flower.procs")

STOP_GRACE_S = 5.0  # SIGTERM → SIGKILL; a SuperLink shuts its servers down in ~1 s
FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "PYTHONUNBUFFERED": "1"}


def flower_executable(name: str) -> str:
    """Path of a Flower console script: next to this Python first, then on ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FlowerMissing(f"{name} not found next to {sys.executable} or on PATH; install the train extra "
                            "(pip install 'aiotwin[train]')")
    return found


def flower_env(flwr_home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a Flower process: ``base`` (default ``os.environ``) + its own ``FLWR_HOME``."""
    env = dict(os.environ if base is None else base)
    env.update(FLOWER_ENV)
    env["FLWR_HOME"] = str(flwr_home)
    bin_dir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        env["PATH"] = bin_dir + (os.pathsep + path if path else "")
    return env


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first), read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _signal(pids: Sequence[int], groups: Sequence[int], sig: signal.Signals) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


class FlowerProcess:
    """One Flower executable in its own session, output appended to ``log_path``. Thread-safe."""

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._known: set[int] = set()  # descendants seen by refresh_tree(): killed even once orphaned

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Spawn the process (blocking for a few ms: call from a thread in async code)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise FlowerProcessError(f"{self.name} is already running (pid {self._proc.pid})")
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._close_log()
            self._log = self.log_path.open("ab")
            try:
                self._proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                              stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                self._close_log()
                raise FlowerProcessError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        _LOG.info("%s started (pid %d), log %s", self.name, self._proc.pid, self.log_path)

    def poll(self) -> int | None:
        """Exit status, or ``None`` while it runs (also ``None`` before :meth:`start`)."""
        proc = self._proc
        return proc.poll() if proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def refresh_tree(self) -> None:
        """Remember the live descendants; call it while watching.

        If the process dies, children that Flower started in sessions of their own are re-parented
        and can no longer be found from its pid; :meth:`stop` still ends them.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            found = descendants(proc.pid)
            with self._lock:
                self._known = {p for p in self._known if Path(f"/proc/{p}").exists()} | set(found)

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM the process, its group and every descendant; SIGKILL what is left after ``grace_s``."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return None
            tree = sorted(set(descendants(proc.pid)) | {p for p in self._known if Path(f"/proc/{p}").exists()})
            self._known = set()
            # The session started with the process has its pid as group id, even after it died and
            # its children (SuperExec, ClientApp) were re-parented; other sessions come from /proc.
            groups = {proc.pid} | {g for g in map(_pgid, tree) if g is not None}
            groups.discard(os.getpgrp())
            _signal([proc.pid, *tree], sorted(groups), signal.SIGTERM)
            try:
                code = proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                code = None
            left = [p for p in tree if Path(f"/proc/{p}").exists()]
            if code is None or left:
                _signal([proc.pid, *left], sorted(groups), signal.SIGKILL)
                code = proc.wait()
            self._close_log()
            return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def node_config_toml(values: Mapping[str, str | int | float | bool]) -> str:
    """A ``--node-config`` TOML file's text (flat keys; strings JSON-quoted, which TOML accepts)."""
    out = []
    for key, value in sorted(values.items()):
        if not key.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"node-config key {key!r} must be letters, digits, - or _")
        out.append(f"{key} = {json.dumps(value)}")
    return "\n".join(out) + "\n"


__all__ = ["FLOWER_ENV", "STOP_GRACE_S", "FlowerProcess", "descendants", "flower_env", "flower_executable",
           "node_config_toml"]
