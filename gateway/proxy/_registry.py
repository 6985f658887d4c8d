"""Where the router's instances come from: configuration (static) and mDNS; pure bookkeeping.

Static instances are fixed for the router's life. mDNS instances are keyed by node id (a rediscovered
node updates its URL, STYLE rule 19) and vanish when their advertisement goes. A static instance wins
a clash: an mDNS instance with the id or the URL of a static one is ignored, so one server never
appears twice. Every change returns whether the routable set changed, so the caller calls the
policy's ``set_instances`` only then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.router.http_config import INSTANCE_ID_PATTERN, StaticInstance
from gateway.router.policy import InstanceInfo

Source = Literal["static", "mdns"]


@dataclass(frozen=True)
class Upstream:
    """One routable instance: its id (the policy's arm), base URL and where it was learnt."""

    instance_id: str
    url: str
    source: Source
    rtt_ms: float | None = None

    def info(self) -> InstanceInfo:
        return InstanceInfo(self.instance_id, base_rtt_ms=self.rtt_ms)


class InstanceRegistry:
    """The union of static and discovered instances, in a stable order (static first)."""

    def __init__(self, static: Iterable[StaticInstance] = ()) -> None:
        self._static = {s.instance_id: Upstream(s.instance_id, s.base_url, "static", s.rtt_ms) for s in static}
        self._mdns: dict[str, Upstream] = {}

    def upsert_mdns(self, node_id: str, url: str) -> bool:
        """Add or update a discovered instance; return whether the routable set changed."""
        clash = node_id in self._static or any(u.url == url for u in self._static.values())
        if clash or INSTANCE_ID_PATTERN.fullmatch(node_id) is None:
            return False
        new = Upstream(node_id, url.rstrip("/"), "mdns")
        old = self._mdns.get(node_id)
        self._mdns[node_id] = new
        return old != new

    def remove_mdns(self, node_id: str) -> bool:
        """Forget a discovered instance; return whether it was routable."""
        return self._mdns.pop(node_id, None) is not None

    def upstreams(self) -> list[Upstream]:
        return [*self._static.values(), *self._mdns.values()]

    def infos(self) -> list[InstanceInfo]:
        """What the policy's ``set_instances`` takes."""
        return [u.info() for u in self.upstreams()]

    def get(self, instance_id: str) -> Upstream | None:
        return self._static.get(instance_id) or self._mdns.get(instance_id)

    def __len__(self) -> int:
        return len(self._static) + len(self._mdns)


__all__ = ["InstanceRegistry", "Source", "Upstream"]
