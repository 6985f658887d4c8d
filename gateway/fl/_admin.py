"""Operator steps on a gateway's FL work dir: authorize a camera's key, make the cloud-tier key, read the state.

One implementation behind ``aiotwin-gateway fl register-node|node-key|status`` (work dir
``<data-dir>/fl``) and ``python -m gateway.fl register-node|node-key`` (any ``serve``/``run`` work
dir). Nothing here starts a process: :func:`register_node` talks to a running SuperLink through the
``flwr`` CLI (:func:`aiotwin.flower.auth.authorize_node`), :func:`federation_status` only reads the
files the daemon, the edge ServerApp and the bridge write (:mod:`aiotwin.flower.job` layout).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiotwin.flower.auth import AuthorizedNodes, NodeRegistrationError, authorize_node
from aiotwin.flower.host import HEARTBEAT_STALE_S
from aiotwin.flower.job import HEARTBEAT_FILE, RunDir, read_json
from aiotwin.flower.pki import PkiError, write_node_key
from gateway._exceptions import NodeKeyRejected
from gateway.fl.cloud import BRIDGE_DIR, EDGE_DIR, FEDERATION_FILE, cloud_key

RECENT_RUNS = 10  # runs ``fl status`` lists per queue by default


def edge_dir(work_dir: Path) -> Path:
    """Where the edge SuperLink of a work dir keeps its state: ``edge/`` of a federation, else the dir itself."""
    return work_dir / EDGE_DIR if (work_dir / EDGE_DIR).is_dir() else work_dir


def register_node(host_dir: Path, public_key: Path, *, name: str | None = None,
                  offline: bool = False) -> dict[str, Any]:
    """Authorize a camera's Flower public key at the edge SuperLink in ``host_dir``; JSON-ready outcome.

    Stored in ``host_dir/authorized-nodes/`` (registered whenever the SuperLink starts) and, unless
    ``offline``, registered with the running SuperLink now. An unusable key or name raises
    :class:`NodeKeyRejected`; a SuperLink that is not running only leaves a ``note``.
    """
    try:
        reg = authorize_node(host_dir.resolve(), public_key, name=name, live=not offline)
    except (PkiError, NodeRegistrationError, ValueError) as exc:
        raise NodeKeyRejected(f"{public_key}: {exc}") from exc
    return reg.to_dict()


def node_key(work_dir: Path) -> Path:
    """Create (once) the gateway's cloud-tier Flower key under ``work_dir``; the public key's path."""
    key = cloud_key(work_dir.resolve())
    return write_node_key(key.private.parent, name=key.private.name).public


def heartbeat_status(path: Path, now: float) -> dict[str, Any] | None:
    """A queue's heartbeat (``serverapp.json``): state (``gone`` when stale or stopped), age, nodes, run."""
    beat = read_json(path)
    if not isinstance(beat, dict):
        return None
    age = now - float(beat.get("time", 0.0))
    alive = beat.get("state") != "stopped" and age <= HEARTBEAT_STALE_S
    return {"state": beat.get("state") if alive else "gone", "age-s": round(age, 1), "pid": beat.get("pid"),
            "nodes": list(beat.get("nodes", [])), "run-id": beat.get("run-id")}


def run_summary(run: RunDir) -> dict[str, Any]:
    """One run directory in a line: state, version, rounds, accuracy, error (what ``fl status`` lists)."""
    status = run.read_status() or {}
    record = read_json(run.path / RunDir.JOB)
    job = record.get("job", {}) if isinstance(record, dict) else {}
    final = status.get("final_eval") or {}
    return {"run-id": run.run_id, "state": status.get("state", "unknown"), "time": status.get("time"),
            "base-version": job.get("base-version"), "rounds": job.get("rounds"), "rounds-done": status.get("rounds"),
            "aggregated": status.get("aggregated_rounds"), "accuracy": final.get("accuracy"),
            "cloud-run": record.get("cloud-run") if isinstance(record, dict) else None,
            "cloud-round": record.get("cloud-round") if isinstance(record, dict) else None,
            "error": status.get("error")}


def run_dirs(work_dir: Path) -> list[RunDir]:
    """Newest first (run ids start with a UTC timestamp)."""
    runs = work_dir / "runs"
    if not runs.is_dir():
        return []
    return [RunDir(p) for p in sorted(runs.iterdir(), reverse=True) if p.is_dir()]


def run_state(run: RunDir) -> str:
    """``queued``, ``running``, ``done``, ``failed``, or ``unknown`` (no readable status yet)."""
    return str((run.read_status() or {}).get("state", "unknown"))


def _queue_status(work_dir: Path, recent: int, now: float) -> dict[str, Any]:
    runs = run_dirs(work_dir)
    states = Counter(run_state(run) for run in runs)
    return {"heartbeat": heartbeat_status(work_dir / HEARTBEAT_FILE, now), "runs-total": len(runs),
            "runs-by-state": dict(sorted(states.items())), "runs": [run_summary(r) for r in runs[:recent]]}


def _node_names(edge: Path) -> dict[str, str]:
    """Flower node id → camera name, from the newest edge run that recorded one."""
    for run in run_dirs(edge)[:3]:
        names = {node: str(c.get("node-name")) for rec in run.read_rounds()
                 for node, c in rec.get("clients", {}).items() if c.get("node-name")}
        if names:
            return names
    return {}


def _federation(work_dir: Path) -> dict[str, Any] | None:
    """``federation.json``; a ``running`` federation whose daemon pid is gone (SIGKILL, crash) reads ``gone``."""
    state = read_json(work_dir / FEDERATION_FILE)
    if not isinstance(state, dict):
        return None
    pid = state.get("pid")
    if state.get("state") == "running" and isinstance(pid, int) and not Path(f"/proc/{pid}").exists():
        state["state"] = "gone"
    return state


def federation_status(work_dir: Path, *, recent: int = RECENT_RUNS, now: float | None = None) -> dict[str, Any]:
    """The FL state of a gateway work dir (``<data-dir>/fl``), from its files only: JSON-ready."""
    now = time.time() if now is None else now
    edge = work_dir / EDGE_DIR
    out: dict[str, Any] = {"work-dir": str(work_dir), "present": work_dir.is_dir(),
                           "federation": _federation(work_dir)}
    edge_status = _queue_status(edge, recent, now)
    names = _node_names(edge)
    beat = edge_status["heartbeat"]
    edge_status["nodes"] = [{"node-id": n, "name": names.get(n)} for n in (beat or {}).get("nodes", [])]
    edge_status["authorized-nodes"] = [name for name, _ in AuthorizedNodes(edge).entries()]
    out["edge"] = edge_status
    out["bridge"] = _queue_status(work_dir / BRIDGE_DIR, recent, now)
    key = cloud_key(work_dir)
    out["cloud-key"] = str(key.public) if key.public.is_file() else None
    return out


__all__ = ["RECENT_RUNS", "edge_dir", "federation_status", "heartbeat_status", "node_key", "register_node", "run_dirs",
           "run_state", "run_summary"]
