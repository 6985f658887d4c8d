"""The routing-policy interface every policy (QEdgeProxy and the baselines) implements.

A policy is pure decision logic: no I/O, no asyncio, no clock and no global randomness. The caller
(the HTTP hop) passes ``now`` (monotonic seconds) into every call and constructs the policy with a
seeded ``random.Random``. The calling contract:

- ``set_instances(instances, now)`` whenever discovery (mDNS, coordinator) changes the set;
- ``choose(client, now, avoid=...)`` once per attempt; ``avoid`` lists instances already tried by
  this request (a retry goes elsewhere when it can);
- exactly one ``observe(client, instance, latency_ms, now)`` per ``choose``, with ``None`` for a
  failure or timeout (a *miss*, never a fast reply); observations of unknown instances are ignored;
- ``estimate(client, now)`` lets a device decide whether an offload fits its latency budget;
- ``snapshot()`` returns plain data for metrics and the dashboard.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from gateway._exceptions import InvalidInstanceSet, NoInstancesError

Reason = Literal["pool", "explore", "best-effort", "only"]
REASONS: tuple[Reason, ...] = ("pool", "explore", "best-effort", "only")


@dataclass(frozen=True)
class InstanceInfo:
    """An inference instance as discovery reports it.

    ``base_rtt_ms`` is the gateway's network RTT to the instance; ``client_rtt_ms`` overrides it per
    client (for the proximity baseline). QEdgeProxy ignores both: it learns from measured latencies.
    """

    instance_id: str
    base_rtt_ms: float | None = None
    client_rtt_ms: Mapping[str, float] = field(default_factory=dict)

    def rtt_for(self, client: str) -> float:
        """RTT from ``client`` to this instance; ``inf`` when unknown."""
        rtt = self.client_rtt_ms.get(client, self.base_rtt_ms)
        return math.inf if rtt is None else rtt


@dataclass(frozen=True)
class Decision:
    """Where one attempt goes and why (``reason`` is a metrics label)."""

    instance: str
    reason: Reason


@dataclass(frozen=True)
class ClientEstimate:
    """What a client can expect from the router right now.

    ``expected_ms`` and ``p_within_tau`` describe the exploit mix (the pool weighted as SWRR will
    dispatch, or the best instance when the pool is empty); ``samples == 0`` means "no evidence yet"
    (then ``expected_ms`` is ``inf`` and ``p_within_tau`` 0: the caller decides whether to try).
    """

    expected_ms: float
    p_within_tau: float
    pool: tuple[str, ...]
    eps: float
    tau_ms: float
    samples: int


@dataclass(frozen=True)
class InstanceView:
    """Per (client, instance) state for metrics."""

    instance: str
    samples: int
    p_within_tau: float
    expected_ms: float
    in_pool: bool
    weight: int
    stale: bool


@dataclass(frozen=True)
class ClientView:
    """Per client state for metrics."""

    client: str
    eps: float
    success_rate: float
    pool: tuple[str, ...]
    instances: tuple[InstanceView, ...]
    decisions: Mapping[Reason, int]


@dataclass(frozen=True)
class PolicySnapshot:
    """A policy's state as plain data (``clients`` is empty for policies that keep none)."""

    policy: str
    instances: tuple[str, ...]
    ejected: tuple[str, ...] = ()
    clients: tuple[ClientView, ...] = ()
    in_flight: Mapping[str, int] = field(default_factory=dict)


@runtime_checkable
class RoutingPolicy(Protocol):
    """The decision core of the QoS-aware router."""

    @property
    def name(self) -> str: ...

    def set_instances(self, instances: Iterable[InstanceInfo | str], now: float) -> None: ...

    def choose(self, client: str, now: float, avoid: Collection[str] = ()) -> Decision: ...

    def observe(self, client: str, instance: str, latency_ms: float | None, now: float) -> None: ...

    def estimate(self, client: str, now: float) -> ClientEstimate: ...

    def snapshot(self) -> PolicySnapshot: ...


def as_info(item: InstanceInfo | str) -> InstanceInfo:
    return item if isinstance(item, InstanceInfo) else InstanceInfo(item)


class InstanceSet:
    """The ordered set of routable instances, shared by every policy."""

    __slots__ = ("_infos",)

    def __init__(self) -> None:
        self._infos: dict[str, InstanceInfo] = {}

    def replace(self, instances: Iterable[InstanceInfo | str]) -> tuple[list[str], list[str]]:
        """Install a new set; return (added, removed) ids. Empty or duplicate ids raise."""
        infos = [as_info(i) for i in instances]
        ids = [i.instance_id for i in infos]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise InvalidInstanceSet(f"instance ids must be non-empty and unique: {ids}")
        added = [i for i in ids if i not in self._infos]
        removed = [i for i in self._infos if i not in set(ids)]
        self._infos = dict(zip(ids, infos, strict=True))
        return added, removed

    def candidates(self, avoid: Collection[str] = ()) -> list[str]:
        """Instances not in ``avoid`` (all of them when that leaves none); raise when empty."""
        if not self._infos:
            raise NoInstancesError("no inference instance is known to the router")
        left = [i for i in self._infos if i not in avoid]
        return left or list(self._infos)

    def info(self, instance: str) -> InstanceInfo:
        return self._infos[instance]

    def ids(self) -> tuple[str, ...]:
        return tuple(self._infos)

    def __contains__(self, instance: object) -> bool:
        return instance in self._infos

    def __len__(self) -> int:
        return len(self._infos)


__all__ = [
    "REASONS",
    "ClientEstimate",
    "ClientView",
    "Decision",
    "InstanceInfo",
    "InstanceSet",
    "InstanceView",
    "PolicySnapshot",
    "Reason",
    "RoutingPolicy",
    "as_info",
]
