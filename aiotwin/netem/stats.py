"""Byte and packet counters per link and direction, and their frozen snapshots.

``packets`` are datagrams for UDP and chunks (one ``read`` of up to ``CHUNK_BYTES``) for TCP.
``in`` counts what the proxy received from the sender, ``out`` what it released to the receiver;
``dropped`` counts UDP datagrams lost to ``loss``, a full queue or the blackhole.
``retransmits`` counts emulated TCP retransmission timeouts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DirectionStats:
    """Counters of one direction at one moment."""

    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    dropped_packets: int = 0
    dropped_bytes: int = 0
    retransmits: int = 0


@dataclass(frozen=True)
class LinkStats:
    """Counters of one link at one moment (``connections`` are TCP connections or UDP client sessions)."""

    name: str
    protocol: str
    upstream: DirectionStats
    downstream: DirectionStats
    connections_total: int = 0
    connections_active: int = 0
    connections_refused: int = 0
    connect_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class DirectionCounters:
    """Mutable counters of one direction; only the event loop touches them."""

    __slots__ = ("bytes_in", "bytes_out", "dropped_bytes", "dropped_packets", "packets_in", "packets_out",
                 "retransmits")

    def __init__(self) -> None:
        self.bytes_in = self.bytes_out = self.packets_in = self.packets_out = 0
        self.dropped_packets = self.dropped_bytes = self.retransmits = 0

    def received(self, size: int) -> None:
        self.bytes_in += size
        self.packets_in += 1

    def released(self, size: int) -> None:
        self.bytes_out += size
        self.packets_out += 1

    def dropped(self, size: int) -> None:
        self.dropped_packets += 1
        self.dropped_bytes += size

    def snapshot(self) -> DirectionStats:
        return DirectionStats(**{name: getattr(self, name) for name in self.__slots__})


class LinkCounters:
    """Mutable counters of one link."""

    def __init__(self) -> None:
        self.upstream = DirectionCounters()
        self.downstream = DirectionCounters()
        self.connections_total = 0
        self.connections_active = 0
        self.connections_refused = 0
        self.connect_failures = 0

    def snapshot(self, name: str, protocol: str) -> LinkStats:
        return LinkStats(
            name=name, protocol=protocol, upstream=self.upstream.snapshot(), downstream=self.downstream.snapshot(),
            connections_total=self.connections_total, connections_active=self.connections_active,
            connections_refused=self.connections_refused, connect_failures=self.connect_failures,
        )


__all__ = ["DirectionCounters", "DirectionStats", "LinkCounters", "LinkStats"]
