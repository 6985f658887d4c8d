"""``aiotwin netem run`` as a daemon: the links of a :class:`NetemConfig` behind one emulator.

Lifecycle shape of every daemon (:mod:`aiotwin.lifecycle`): ``start()`` returns once every link
and the control API listen, and hands ``announce`` the bound addresses (the CLI prints them as one
JSON line, since port 0 picks free ports); ``shutdown()`` closes everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiotwin.netem.config import LinkConfig, NetemConfig, parse_address
from aiotwin.netem.emulator import LinkEmulator
from aiotwin.netem.interfaces import format_address

_LOG = logging.getLogger(__name__)


class NetemDaemon:
    """Runs the links of ``config``; ``control`` (``host:port``) overrides the file's control address."""

    def __init__(self, config: NetemConfig, *, control: str | None = None,
                 announce: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        address = control or config.control
        self.emulator = LinkEmulator(seed=config.seed, control=parse_address(address) if address else None)
        self._announce = announce

    async def start(self) -> None:
        await self.emulator.start()
        try:
            for link in self.config.links:
                await self._async_add(link)
        except BaseException:
            await self.emulator.shutdown()
            raise
        if self._announce is not None:
            self._announce(self.ready_info())

    async def _async_add(self, cfg: LinkConfig) -> None:
        add = self.emulator.add_tcp_link if cfg.protocol == "tcp" else self.emulator.add_udp_link
        link = await add(cfg.name, cfg.listen_address, cfg.target_address, cfg.shape(), rng=cfg.rng())
        _LOG.info("link %s (%s) %s -> %s", link.name, link.protocol, format_address(link.address),
                  format_address(link.target))

    def ready_info(self) -> dict[str, Any]:
        """``{"control": url | None, "links": {name: "host:port"}}`` with the bound addresses."""
        links = {link.name: format_address(link.address) for link in self.emulator.links()}
        return {"control": self.emulator.control_url, "links": links}

    async def shutdown(self) -> None:
        await self.emulator.shutdown()


__all__ = ["NetemDaemon"]
