"""The gateway's QoS-aware router: pure routing policies (QEdgeProxy v2 and baselines).

No I/O here: the HTTP hop passes ``now`` and a seeded ``random.Random`` in, calls
``set_instances``/``choose``/``observe`` and asks ``estimate`` on behalf of devices.
See ``docs/qedgeproxy.md``.
"""

from gateway.router.baselines import (
    LeastEwmaPolicy,
    PowerOfTwoEwmaPolicy,
    PowerOfTwoInFlightPolicy,
    ProximityPolicy,
    RandomPolicy,
    RoundRobinPolicy,
)
from gateway.router.config import RouterConfig, load_router_config
from gateway.router.factory import POLICIES, make_policy
from gateway.router.outlier import EjectingPolicy, OutlierDetector
from gateway.router.policy import (
    ClientEstimate,
    ClientView,
    Decision,
    InstanceInfo,
    InstanceView,
    PolicySnapshot,
    Reason,
    RoutingPolicy,
)
from gateway.router.qedgeproxy import QEdgeProxyPolicy
from gateway.router.retry import RetryBudget, RetryPolicy

__all__ = [
    "POLICIES",
    "ClientEstimate",
    "ClientView",
    "Decision",
    "EjectingPolicy",
    "InstanceInfo",
    "InstanceView",
    "LeastEwmaPolicy",
    "OutlierDetector",
    "PolicySnapshot",
    "PowerOfTwoEwmaPolicy",
    "PowerOfTwoInFlightPolicy",
    "ProximityPolicy",
    "QEdgeProxyPolicy",
    "RandomPolicy",
    "Reason",
    "RetryBudget",
    "RetryPolicy",
    "RoundRobinPolicy",
    "RouterConfig",
    "RoutingPolicy",
    "load_router_config",
    "make_policy",
]
