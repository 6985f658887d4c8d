"""Build a camera node's :class:`SuperNodeSupervisor` from its config and bundle (``[fl]``, docs/fl.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aiotwin._exceptions import NodeSetupError
from aiotwin.availability import require
from aiotwin.bundle import Manifest
from aiotwin.flower.protocol import (
    NODE_DATA_DIR,
    NODE_MAX_SAMPLES,
    NODE_MODEL_VERSION,
    NODE_NAME,
    NODE_SAMPLE_SOURCE,
    NODE_SAMPLES_NPZ,
    NODE_TASK,
)
from aiotwin.retry import Backoff
from device_runtime.config import DeviceConfig
from device_runtime.fl.supervisor import FL_DIR, SuperNodeSupervisor

SAMPLE_SOURCE = "device_runtime.fl.samples:load"
KEYS_DIR = "keys"
NODE_KEY = "flwr-node"


def node_config(config: DeviceConfig, node_id: str, manifest: Manifest) -> dict[str, str | int | float | bool]:
    """The SuperNode's ``--node-config``: who the node is, where its samples are, what it trains."""
    fl = config.fl
    out: dict[str, str | int | float | bool] = {
        NODE_NAME: node_id, NODE_DATA_DIR: str(config.data_dir), NODE_TASK: manifest.task,
        NODE_MODEL_VERSION: manifest.version, NODE_MAX_SAMPLES: fl.max_samples,
    }
    if fl.samples_npz is not None:
        out[NODE_SAMPLES_NPZ] = str(fl.samples_npz)
    else:
        out[NODE_SAMPLE_SOURCE] = SAMPLE_SOURCE
    return out


def supernode_for(config: DeviceConfig, node_id: str, manifest: Manifest, *,
                  env: Mapping[str, str] | None = None) -> SuperNodeSupervisor:
    """A supervisor for ``[fl]``; :class:`NodeSetupError` / :class:`aiotwin.BackendMissing` when it cannot run."""
    fl = config.fl
    if not fl.superlink:
        raise NodeSetupError("[fl] enabled needs superlink = \"host:port\" (the gateway's SuperLink)")
    if not fl.insecure and fl.root_certificates is None:
        raise NodeSetupError("[fl] needs root-certificates (the CA of the gateway's SuperLink), or insecure = true "
                             "for local experiments (docs/fl.md)")
    require("flower")
    key = None if fl.insecure else ensure_node_key(config)
    return SuperNodeSupervisor(fl.superlink, config.data_dir / FL_DIR, runtime_port=fl.runtime_port,
                               node_config=node_config(config, node_id, manifest),
                               backoff=Backoff(cap_s=fl.restart_max_s), env=env, insecure=fl.insecure,
                               root_certificates=fl.root_certificates, auth_key=key)


def node_key_path(config: DeviceConfig) -> Path:
    """The node's Flower private key: ``[fl] auth-key``, default ``<data-dir>/fl/keys/flwr-node``."""
    return config.fl.auth_key or config.data_dir / FL_DIR / KEYS_DIR / NODE_KEY


def ensure_node_key(config: DeviceConfig) -> Path:
    """The node's Flower key, created (P-384, 0600) on first use; its ``.pub`` is what the gateway registers."""
    from aiotwin.flower.pki import PkiError, write_node_key  # cryptography (a flwr dependency): only with [fl]

    path = node_key_path(config)
    try:
        write_node_key(path.parent, name=path.name)
    except PkiError as exc:
        raise NodeSetupError(f"[fl] auth-key: {exc}") from exc
    return path


__all__ = ["KEYS_DIR", "NODE_KEY", "SAMPLE_SOURCE", "ensure_node_key", "node_config", "node_key_path",
           "supernode_for"]
