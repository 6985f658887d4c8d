"""aiotwin gateway role: QoS-aware router (QEdgeProxy), inference instances, CoAP ingress, FL aggregation.

Importing this package is light: it loads only the error classes. Subpackages (``gateway.router``)
are imported explicitly.
"""

from gateway._exceptions import (
    GatewayError,
    InvalidInstanceSet,
    InvalidRouterConfig,
    NoInstancesError,
    RouterError,
    UnknownPolicyError,
)

__all__ = [
    "GatewayError",
    "InvalidInstanceSet",
    "InvalidRouterConfig",
    "NoInstancesError",
    "RouterError",
    "UnknownPolicyError",
]
