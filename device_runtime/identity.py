"""The node's identity: derived from a hardware serial, never from an address (STYLE rule 19).

Sources, first usable one wins (all read under the injected hardware ``root``):

1. ``/proc/device-tree/serial-number``  SoC serial (Raspberry Pi, Jetson, Coral Dev Board)
2. ``/sys/class/dmi/id/product_uuid``   SMBIOS system UUID (x86; readable by root)
3. ``/etc/machine-id``                  the OS install id (changes on re-install; last resort)

The serial itself is not published: the node id is ``node-`` + the first 16 hex digits of
``sha256("aiotwin-node:" + serial)``, stable for the life of the board. An explicit ``node-id`` in the
config wins. When no source is usable, a random id is created once and kept in
``<data-dir>/node-id``, so a node never changes identity between restarts.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

SERIAL_SOURCES: tuple[str, ...] = (
    "proc/device-tree/serial-number",
    "sys/class/dmi/id/product_uuid",
    "etc/machine-id",
)
NODE_ID_FILE = "node-id"
_ID_HEX_DIGITS = 16
# Placeholder values firmware writes when nobody set a serial.
_PLACEHOLDERS = {
    "", "none", "default string", "to be filled by o.e.m.", "not settable", "not specified",
    "system serial number", "03000200-0400-0500-0006-000700080009",
}
_VALID_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class NodeIdentity:
    """The node id and where it came from (a path, ``config`` or ``generated``)."""

    node_id: str
    source: str


def valid_node_id(text: str) -> bool:
    """Letters, digits, ``.``, ``_``, ``-``; 1–63 characters (safe in URLs, file names and labels)."""
    return _VALID_NODE_ID.match(text) is not None


def _usable(serial: str) -> bool:
    s = serial.strip().lower()
    return s not in _PLACEHOLDERS and set(s) - set("0-") != set() and set(s) != {"f", "-"}


def read_serial(root: Path) -> tuple[str, str] | None:
    """The first usable hardware serial under ``root`` as ``(serial, source path)``, or ``None``."""
    for rel in SERIAL_SOURCES:
        try:
            raw = (root / rel).read_bytes()
        except OSError:
            continue
        serial = raw.replace(b"\x00", b"").decode("utf-8", "replace").strip()
        if _usable(serial):
            return serial, "/" + rel
    return None


def node_id_from_serial(serial: str) -> str:
    digest = hashlib.sha256(f"aiotwin-node:{serial.strip().lower()}".encode()).hexdigest()
    return f"node-{digest[:_ID_HEX_DIGITS]}"


def _stored_or_new(data_dir: Path) -> str:
    path = data_dir / NODE_ID_FILE
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except OSError:
        stored = ""
    if valid_node_id(stored):
        return stored
    new = f"node-{uuid.uuid4().hex[:_ID_HEX_DIGITS]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new + "\n", encoding="utf-8")
    tmp.replace(path)
    return new


def resolve_identity(configured: str | None, root: Path, data_dir: Path) -> NodeIdentity:
    """Config ``node-id`` if set, else a hardware serial under ``root``, else a persisted random id.

    Blocking file I/O: call it from a thread when on the event loop.
    """
    if configured:
        if not valid_node_id(configured):
            raise ValueError(f"node-id {configured!r}: use letters, digits, '.', '_' or '-' (max 63)")
        return NodeIdentity(configured, "config")
    found = read_serial(root)
    if found is not None:
        serial, source = found
        return NodeIdentity(node_id_from_serial(serial), source)
    return NodeIdentity(_stored_or_new(data_dir), "generated")


__all__ = ["NODE_ID_FILE", "SERIAL_SOURCES", "NodeIdentity", "node_id_from_serial", "read_serial",
           "resolve_identity", "valid_node_id"]
