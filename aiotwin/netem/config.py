"""The links file of ``aiotwin netem run``: typed dataclasses loaded by :func:`aiotwin.config.load_toml`.

::

    control = "127.0.0.1:8470"      # optional; --control overrides it

    [[links]]
    name = "gw-cloud"
    protocol = "tcp"                # or "udp"
    listen = "127.0.0.1:7000"       # port 0 picks a free port (printed on stdout when ready)
    target = "127.0.0.1:8000"
    seed = 1                        # optional; default: the emulator's seed and the link name
    distribution = "normal"         # every shape key, kebab-case, applies to both directions...
    delay-ms = 20
    sd-ms = 5
    [links.downstream]              # ...and a direction table overrides one direction
    rate-bytes-s = 1_000_000

Unknown keys, wrong types, bad addresses and out-of-range values are reported together, each with
file, line and key (:class:`aiotwin._exceptions.ConfigError`).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiotwin.config import load_toml
from aiotwin.netem.interfaces import Address
from aiotwin.netem.shape import LinkShape, ShapePatch, apply_patch


def parse_address(text: str) -> Address:
    """``"host:port"`` or ``"[v6]:port"`` → ``(host, port)``; raises ``ValueError``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port, got {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


@dataclass(frozen=True, kw_only=True)
class LinkConfig(ShapePatch):
    """One ``[[links]]`` entry: where it listens, where it forwards, and its shape keys."""

    name: str
    protocol: Literal["tcp", "udp"]
    listen: str
    target: str
    seed: int | None = None

    def __post_init__(self) -> None:
        parse_address(self.listen)
        parse_address(self.target)
        self.shape()  # a ShapeError (a ValueError) names the bad field

    @property
    def listen_address(self) -> Address:
        return parse_address(self.listen)

    @property
    def target_address(self) -> Address:
        return parse_address(self.target)

    def shape(self) -> LinkShape:
        patch = ShapePatch(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ShapePatch)})
        return apply_patch(LinkShape(), patch)

    def rng(self) -> random.Random | None:
        return random.Random(self.seed) if self.seed is not None else None


@dataclass(frozen=True)
class NetemConfig:
    """The whole links file."""

    links: list[LinkConfig] = field(default_factory=list)
    control: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.control is not None:
            parse_address(self.control)
        names = [link.name for link in self.links]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate link names: {', '.join(duplicates)}")


def load_netem_config(path: Path) -> NetemConfig:
    """Read and validate a links file; raises :class:`aiotwin._exceptions.ConfigError`."""
    return load_toml(NetemConfig, path)


__all__ = ["LinkConfig", "NetemConfig", "load_netem_config", "parse_address"]
