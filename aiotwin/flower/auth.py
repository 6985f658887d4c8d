"""SuperNode authentication: which node keys a SuperLink accepts, and registering them with it.

A SuperLink started with ``--enable-supernode-auth`` accepts only SuperNodes whose public key was
registered through its Control API (``flwr supernode register``); any other SuperNode is refused
when it activates (``flower-supernode`` exits, Flower exit code 305; see
:mod:`aiotwin.flower.supernode`). Flower keeps registrations in the SuperLink's state, which is in
memory, so an aggregation host also keeps them on disk:

- :class:`AuthorizedNodes`: ``<work>/authorized-nodes/<name>.pub``, one OpenSSH public key per
  node (validated with :mod:`aiotwin.flower.pki`). :class:`aiotwin.flower.host.AggregatorHost`
  registers every key in it each time its SuperLink (re)starts.
- :func:`register_key`: one registration against a running SuperLink, through the ``flwr`` CLI
  (the public way; it reads the connection from ``$FLWR_HOME/config.toml``). Returns Flower's node id.
- :func:`authorize_node`: both, the scriptable step behind ``aiotwin-gateway fl register-node``
  and ``aiotwin-coordinator fl register-gateway`` (and later the enrolment flow, or re-homing a
  node to another gateway).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiotwin.flower._exceptions import FlowerError
from aiotwin.flower.pki import load_node_public_key, public_key_openssh
from aiotwin.flower.procs import flower_env, flower_executable
from aiotwin.flower.project import CONNECTION

_LOG = logging.getLogger("aiotwin.flower.auth")

AUTHORIZED_DIR = "authorized-nodes"
CLI_HOME = Path("flwr-home") / "cli"  # an aggregation host's flwr CLI config, under its work dir
FLWR_CLI_TIMEOUT_S = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class NodeRegistrationError(FlowerError):
    """A node key could not be registered with a SuperLink (not running, refused, bad key)."""


@dataclass(frozen=True)
class Registration:
    """A node key authorized at an aggregation host; ``node_id`` is set when a running SuperLink took it."""

    name: str
    public_key: Path
    node_id: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What the ``register-node``/``register-gateway`` commands print (``note``: why it is not live yet)."""
        return {"name": self.name, "stored": str(self.public_key), "node-id": self.node_id, "note": self.error}


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"node name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


class AuthorizedNodes:
    """The node public keys an aggregation host's SuperLink accepts (``<work>/authorized-nodes/``)."""

    def __init__(self, work_dir: Path) -> None:
        self.directory = work_dir / AUTHORIZED_DIR

    def add(self, public_key: Path, name: str | None = None) -> Path:
        """Store a copy of ``public_key`` as ``<name>.pub`` (default name: the file's stem); return its path.

        The same key under another name is refused (one identity, one name); a new key under an
        existing name replaces it (the node generated a new key).
        """
        key = load_node_public_key(public_key)
        name = _check_name(name or public_key.name.removesuffix(".pub"))
        text = public_key_openssh(key)
        for other, path in self.entries():
            if other != name and public_key_openssh(load_node_public_key(path)) == text:
                raise NodeRegistrationError(f"this key is already authorized as {other!r} ({path})")
        self.directory.mkdir(parents=True, exist_ok=True)
        dest = self.directory / f"{name}.pub"
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(f"{text} {name}\n", encoding="ascii")
        tmp.replace(dest)
        return dest

    def remove(self, name: str) -> bool:
        path = self.directory / f"{_check_name(name)}.pub"
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def entries(self) -> list[tuple[str, Path]]:
        """``(name, path)`` of every authorized key, sorted by name."""
        if not self.directory.is_dir():
            return []
        return [(p.name.removesuffix(".pub"), p) for p in sorted(self.directory.glob("*.pub"))]


def _flwr(flwr_home: Path, args: list[str], timeout_s: float) -> dict[str, Any]:
    argv = [flower_executable("flwr"), *args, "--format", "json"]
    try:
        out = subprocess.run(argv, env=flower_env(flwr_home), capture_output=True, text=True, timeout=timeout_s,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NodeRegistrationError(f"flwr {args[0]} {args[1]} failed: {exc}") from exc
    data: Any = None
    start = out.stdout.find("{")
    if start >= 0:
        try:
            data = json.loads(out.stdout[start:])
        except ValueError:
            data = None
    if isinstance(data, dict) and data.get("success"):
        return data
    detail = (data.get("error-message") if isinstance(data, dict) else None) or (out.stderr or out.stdout)[-600:]
    raise NodeRegistrationError(f"flwr {args[0]} {args[1]} (exit {out.returncode}): {str(detail).strip()}")


def register_key(flwr_home: Path, public_key: Path, *, name: str | None = None,
                 timeout_s: float = FLWR_CLI_TIMEOUT_S) -> int:
    """Register ``public_key`` with the SuperLink of the ``flwr`` config in ``flwr_home``; Flower's node id."""
    load_node_public_key(public_key)  # a typed PkiError before the CLI's own message
    args = ["supernode", "register", str(public_key.resolve()), CONNECTION]
    if name:
        args += ["--name", name]
    data = _flwr(flwr_home, args, timeout_s)
    return int(data["node-id"])


def list_nodes(flwr_home: Path, *, timeout_s: float = FLWR_CLI_TIMEOUT_S) -> list[dict[str, Any]]:
    """``flwr supernode list``: every node the SuperLink knows (``node-id``, ``status``, …)."""
    nodes = _flwr(flwr_home, ["supernode", "list", CONNECTION], timeout_s).get("nodes", [])
    return [n for n in nodes if isinstance(n, dict)]


def authorize_node(work_dir: Path, public_key: Path, *, name: str | None = None, live: bool = True,
                   timeout_s: float = FLWR_CLI_TIMEOUT_S) -> Registration:
    """Authorize a node key at the aggregation host in ``work_dir``.

    The key is stored in :class:`AuthorizedNodes` (registered again by the host whenever its
    SuperLink starts); with ``live``, it is also registered with the SuperLink now if the host has
    one configured. A SuperLink that is not running is not an error: ``error`` says why ``node_id``
    is ``None``.
    """
    stored = AuthorizedNodes(work_dir).add(public_key, name)
    name = stored.name.removesuffix(".pub")
    home = work_dir / CLI_HOME
    if not live or not (home / "config.toml").is_file():
        return Registration(name, stored, error="no SuperLink configured yet: registered when it starts")
    try:
        node_id = register_key(home, stored, name=name, timeout_s=timeout_s)
    except NodeRegistrationError as exc:
        return Registration(name, stored, error=str(exc))
    _LOG.info("node %s registered with the SuperLink: Flower node id %d", name, node_id)
    return Registration(name, stored, node_id)


__all__ = ["AUTHORIZED_DIR", "AuthorizedNodes", "NodeRegistrationError", "Registration",
           "authorize_node", "list_nodes", "register_key"]
