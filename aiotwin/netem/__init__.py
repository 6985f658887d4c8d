"""Userspace link emulator: TCP/UDP proxies that put "network distance" between nodes on loopback.

They add latency, jitter, loss, bandwidth limits and a blackhole (kernel netem is not available here).

Pure parts: :mod:`.shape` (parameters and partial updates) and :mod:`.delay` (release-time
planning). I/O: :mod:`.tcp`, :mod:`.udp`, :mod:`.control` (HTTP JSON API). Lifecycle:
:class:`LinkEmulator` (in-process) and :class:`NetemDaemon` (``aiotwin netem run``).
See ``docs/netem.md``.
"""

from __future__ import annotations

from aiotwin.netem._exceptions import (
    ControlRequestError,
    LinkBindError,
    LinkExists,
    LinkNotFound,
    NetemError,
    ShapeError,
)
from aiotwin.netem.config import LinkConfig, NetemConfig, load_netem_config, parse_address
from aiotwin.netem.control import ControlServer, build_app, parse_blackhole, parse_shape_update
from aiotwin.netem.daemon import NetemDaemon
from aiotwin.netem.delay import Release, plan_chunk, plan_datagram, sample_latency_s
from aiotwin.netem.emulator import LinkEmulator
from aiotwin.netem.interfaces import Address, Clock, Link, LoopClock
from aiotwin.netem.shape import DirectionPatch, DirectionShape, LinkShape, ShapePatch, apply_patch, parse_patch
from aiotwin.netem.stats import DirectionStats, LinkStats
from aiotwin.netem.tcp import TcpLink
from aiotwin.netem.udp import UdpLink

__all__ = [
    "Address",
    "Clock",
    "ControlRequestError",
    "ControlServer",
    "DirectionPatch",
    "DirectionShape",
    "DirectionStats",
    "Link",
    "LinkBindError",
    "LinkConfig",
    "LinkEmulator",
    "LinkExists",
    "LinkNotFound",
    "LinkShape",
    "LinkStats",
    "LoopClock",
    "NetemConfig",
    "NetemDaemon",
    "NetemError",
    "Release",
    "ShapeError",
    "ShapePatch",
    "TcpLink",
    "UdpLink",
    "apply_patch",
    "build_app",
    "load_netem_config",
    "parse_address",
    "parse_blackhole",
    "parse_patch",
    "parse_shape_update",
    "plan_chunk",
    "plan_datagram",
    "sample_latency_s",
]
