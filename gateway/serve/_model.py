"""Which bundle and variant an instance serves, under which names, and the instance's node id.

Everything here reads files or probes runtimes, so the server calls it from its worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiotwin.bundle import MANIFEST, Bundle, InputSpec, default_bundle_dir, load_bundle
from aiotwin.engines import engine_available
from gateway._exceptions import NoServableVariant

_LOG = logging.getLogger(__name__)

# Automatic choice on a gateway-class CPU: full precision first; fp16 only helps with a GPU provider.
PREFERRED_VARIANTS: tuple[str, ...] = ("onnx-fp32", "onnx-int8", "tflite-int8", "onnx-fp16")
SERVED_ARCH = "cloud"  # the larger model offloaded crops go to
FALLBACK_ARCH = "edge"
MACHINE_ID = Path("/etc/machine-id")
NODE_ID_HASH_CHARS = 10


@dataclass(frozen=True)
class ServedModel:
    """What an instance serves: the names a request may use and the facts every answer carries."""

    name: str
    version: int
    variant: str
    provider: str
    labels: tuple[str, ...]
    input: InputSpec
    aliases: tuple[str, ...]
    bundle_path: Path

    def answers_to(self, name: str) -> bool:
        return name == self.name or name in self.aliases


def resolve_bundle(path: Path | None) -> Bundle:
    """``path``, else the shipped cloud bundle, else (logged) the shipped edge bundle."""
    if path is not None:
        return load_bundle(path)
    cloud = default_bundle_dir(SERVED_ARCH)
    if (cloud / MANIFEST).is_file():
        return load_bundle(cloud)
    edge = default_bundle_dir(FALLBACK_ARCH)
    _LOG.warning("no %s bundle at %s (not built yet?): serving the %s bundle %s instead", SERVED_ARCH, cloud,
                 FALLBACK_ARCH, edge)
    return load_bundle(edge)


def choose_variant(bundle: Bundle, requested: str | None) -> str:
    """``requested`` when the bundle has it, else the first runnable of :data:`PREFERRED_VARIANTS`."""
    have = bundle.manifest.variants
    if requested is not None:
        if requested not in have:
            raise NoServableVariant(f"{bundle.path}: no variant {requested!r} (has: {', '.join(have)})")
        return requested
    reasons: list[str] = []
    for variant in (v for v in PREFERRED_VARIANTS if v in have):
        reason = engine_available(variant)
        if reason is None:
            return variant
        reasons.append(f"{variant}: {reason}")
    raise NoServableVariant(f"{bundle.path}: no variant can run here ({'; '.join(reasons) or 'none known'})")


def model_aliases(bundle: Bundle, extra: Sequence[str]) -> tuple[str, ...]:
    """``vehicle-edge`` answers to ``vehicle`` too (the name without its ``-<arch>`` suffix)."""
    manifest = bundle.manifest
    short = manifest.name.removesuffix(f"-{manifest.arch}")
    names = ([short] if short and short != manifest.name else []) + list(extra)
    return tuple(dict.fromkeys(n for n in names if n != manifest.name))


def default_node_id(port: int, machine_id: Path = MACHINE_ID) -> str:
    """``gw-<hash of the machine id>-<port>``: stable across restarts on a fixed port.

    The machine id is hashed because it is confidential (machine-id(5)); hosts without one use the
    host name. With ``--port 0`` the id changes on each start: pass ``--node-id`` for a stable one.
    """
    try:
        seed = machine_id.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        seed = ""
    seed = seed or socket.gethostname()
    digest = hashlib.sha256(seed.encode()).hexdigest()[:NODE_ID_HASH_CHARS]
    return f"gw-{digest}-{port}"


__all__ = [
    "FALLBACK_ARCH", "MACHINE_ID", "NODE_ID_HASH_CHARS", "PREFERRED_VARIANTS", "SERVED_ARCH", "ServedModel",
    "choose_variant", "default_node_id", "model_aliases", "resolve_bundle",
]
