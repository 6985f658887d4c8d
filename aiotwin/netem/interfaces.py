"""The layer interfaces of the emulator: the clock it runs on and what every link offers."""

from __future__ import annotations

import abc
import asyncio
import errno
from typing import Protocol

from aiotwin.netem._exceptions import LinkBindError
from aiotwin.netem.shape import LinkShape
from aiotwin.netem.stats import LinkCounters, LinkStats

Address = tuple[str, int]


class Clock(Protocol):
    """Time source of the links (injectable: tests may drive a virtual clock)."""

    def now(self) -> float:
        """Current time in seconds (monotonic)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return at or after ``deadline`` (immediately when it has passed)."""
        ...


class LoopClock:
    """The event loop's monotonic clock (the default)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_error(name: str, address: Address, exc: OSError) -> LinkBindError:
    """Wrap a failed ``bind`` of link ``name`` into :class:`LinkBindError` with a hint."""
    hint = " (port in use: pick another or 0 for a free one)" if exc.errno == errno.EADDRINUSE else ""
    return LinkBindError(f"link {name!r}: cannot listen on {format_address(address)}: {exc.strerror or exc}{hint}")


class Link(abc.ABC):
    """One emulated link: a listening socket that forwards to ``target`` through a :class:`LinkShape`."""

    protocol: str

    def __init__(self, name: str, listen: Address, target: Address, shape: LinkShape) -> None:
        self.name = name
        self.listen = listen
        self.target = target
        self.counters = LinkCounters()
        self._shape = shape

    @property
    def shape(self) -> LinkShape:
        return self._shape

    def set_shape(self, shape: LinkShape) -> None:
        """Apply ``shape`` from the next chunk on (chunks already planned keep their release time)."""
        self._shape = shape

    @property
    @abc.abstractmethod
    def address(self) -> Address:
        """The bound listening address (the real port when ``listen`` asked for port 0)."""

    @abc.abstractmethod
    async def async_start(self) -> None:
        """Bind the listening socket; raise :class:`LinkBindError` when that fails."""

    @abc.abstractmethod
    async def async_stop(self) -> None:
        """Close every socket and cancel and await every task of the link."""

    def stats(self) -> LinkStats:
        return self.counters.snapshot(self.name, self.protocol)

    def describe(self) -> dict[str, object]:
        """JSON-ready description (the control API's link object)."""
        return {"name": self.name, "protocol": self.protocol, "listen": format_address(self.address),
                "target": format_address(self.target), "shape": self.shape.to_dict()}


__all__ = ["Address", "Clock", "Link", "LoopClock", "bind_error", "format_address"]
