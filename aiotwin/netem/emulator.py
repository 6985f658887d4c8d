"""The emulator object: named links, run-time updates, counters and the optional HTTP control API.

::

    async with LinkEmulator(seed=1, control=("127.0.0.1", 0)) as emu:
        link = await emu.add_tcp_link("gw-cloud", listen=("127.0.0.1", 0), target=("127.0.0.1", 8000),
                                      shape=LinkShape.from_params(delay_ms=20, sd_ms=5, distribution="normal"))
        host, port = link.address          # connect here instead of the target
        emu.update("gw-cloud", downstream={"rate_bytes_s": 1_000_000})
        emu.blackhole("gw-cloud", True)
        emu.stats("gw-cloud").upstream.bytes_out

Each link draws from its own ``random.Random``: the one passed as ``rng``, else one seeded with
``f"{seed}/{name}"``, so a run is reproducible by seed (draws of concurrent TCP connections on one
link follow their arrival order).
"""

from __future__ import annotations

import random
from types import TracebackType
from typing import Any

from aiotwin.netem._exceptions import LinkExists, LinkNotFound
from aiotwin.netem.control import ControlServer
from aiotwin.netem.interfaces import Address, Clock, Link
from aiotwin.netem.shape import LinkShape
from aiotwin.netem.stats import LinkStats
from aiotwin.netem.tcp import TcpLink
from aiotwin.netem.udp import UdpLink


class LinkEmulator:
    """Owns every link and the control server; ``start()``/``shutdown()`` as every daemon does.

    Links can be added before or after :meth:`start`; :meth:`shutdown` closes every socket and
    cancels every task of every link.
    """

    def __init__(self, *, seed: int = 0, clock: Clock | None = None, control: Address | None = None) -> None:
        self.seed = seed
        self.clock = clock
        self._links: dict[str, Link] = {}
        self._control = ControlServer(self, control) if control is not None else None

    async def start(self) -> None:
        """Start the control API (if configured); returns when it is listening."""
        if self._control is not None:
            await self._control.async_start()

    async def shutdown(self) -> None:
        """Stop the control API, then every link."""
        if self._control is not None:
            await self._control.async_stop()
        for name in list(self._links):
            await self.remove_link(name)

    async def __aenter__(self) -> LinkEmulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.shutdown()

    @property
    def control_url(self) -> str | None:
        """Base URL of the HTTP control API, or ``None`` when it is not enabled."""
        return self._control.url if self._control is not None else None

    async def add_tcp_link(self, name: str, listen: Address, target: Address, shape: LinkShape | None = None, *,
                           rng: random.Random | None = None) -> TcpLink:
        """Listen on ``listen`` (port 0: a free port, see ``link.address``) and forward TCP to ``target``."""
        link = TcpLink(name, listen, target, shape or LinkShape(), rng=rng or self._rng(name), clock=self.clock)
        await self._async_add(link)
        return link

    async def add_udp_link(self, name: str, listen: Address, target: Address, shape: LinkShape | None = None, *,
                           rng: random.Random | None = None) -> UdpLink:
        """Listen on ``listen`` and forward UDP datagrams to ``target`` (replies come back)."""
        link = UdpLink(name, listen, target, shape or LinkShape(), rng=rng or self._rng(name), clock=self.clock)
        await self._async_add(link)
        return link

    async def remove_link(self, name: str) -> None:
        """Stop the link (closing its connections) and forget it."""
        link = self.link(name)
        del self._links[name]
        await link.async_stop()

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{name}")

    async def _async_add(self, link: Link) -> None:
        if link.name in self._links:
            raise LinkExists(f"link {link.name!r} already exists")
        await link.async_start()
        self._links[link.name] = link

    def link(self, name: str) -> Link:
        try:
            return self._links[name]
        except KeyError:
            raise LinkNotFound(f"no link named {name!r} (links: {', '.join(sorted(self._links)) or 'none'})") from None

    def links(self) -> list[Link]:
        return [self._links[name] for name in sorted(self._links)]

    def update(self, name: str, **params: Any) -> LinkShape:
        """Apply a partial shape (``delay_ms=30``, ``upstream={"loss": 0.1}``, ``blackhole=True``)."""
        link = self.link(name)
        link.set_shape(link.shape.updated(**params))
        return link.shape

    def set_shape(self, name: str, shape: LinkShape) -> None:
        """Replace the whole shape of link ``name``."""
        self.link(name).set_shape(shape)

    def blackhole(self, name: str, on: bool = True) -> None:
        """Switch the blackhole of link ``name`` on or off."""
        self.update(name, blackhole=on)

    def stats(self, name: str) -> LinkStats:
        """Counters of link ``name`` now."""
        return self.link(name).stats()

    def metrics(self) -> dict[str, Any]:
        """Counters of every link, JSON-ready (what ``GET /metrics`` returns)."""
        return {"links": {link.name: link.stats().to_dict() for link in self.links()}}


__all__ = ["LinkEmulator"]
