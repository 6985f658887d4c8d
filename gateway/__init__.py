"""aiotwin gateway role: QoS-aware router (QEdgeProxy), inference instances, CoAP ingress, FL aggregation.

Importing this package is light: it loads only the error classes. Subpackages (``gateway.router``,
``gateway.serve``, ``gateway.transports``) are imported explicitly.
"""

from gateway._exceptions import (
    BodyTooLarge,
    DiscoveryError,
    GatewayError,
    InferRequestError,
    InstanceOverloaded,
    InvalidInstanceSet,
    InvalidRouterConfig,
    InvalidServeConfig,
    MalformedInput,
    MdnsUnavailable,
    NoInstancesError,
    NoServableVariant,
    RouterError,
    ServeError,
    ServePortInUse,
    TxtRecordError,
    UnknownModel,
    UnknownPolicyError,
    UnsupportedContentType,
)

__all__ = [
    "BodyTooLarge",
    "DiscoveryError",
    "GatewayError",
    "InferRequestError",
    "InstanceOverloaded",
    "InvalidInstanceSet",
    "InvalidRouterConfig",
    "InvalidServeConfig",
    "MalformedInput",
    "MdnsUnavailable",
    "NoInstancesError",
    "NoServableVariant",
    "RouterError",
    "ServeError",
    "ServePortInUse",
    "TxtRecordError",
    "UnknownModel",
    "UnknownPolicyError",
    "UnsupportedContentType",
]
