"""Errors of the gateway role.

Tree::

    AiotwinError (aiotwin)
    └── GatewayError
        ├── PortInUse                 an HTTP listen address is taken (router or instance): pick another
        │                             port or pass --port 0
        ├── RouterError
        │   ├── NoInstancesError      nothing to route to: the instance set is empty (HTTP hop → 503)
        │   ├── InvalidInstanceSet    set_instances() got an empty or duplicate instance id
        │   ├── InvalidRouterConfig   a router config value is out of range (also a ValueError, so the
        │   │                         typed config loader reports it with its file and key)
        │   ├── UnknownPolicyError    make_policy() got a policy name it does not know
        │   ├── RouterPortInUse       ``aiotwin-gateway start`` cannot bind its port (also a PortInUse)
        │   └── RoutedRequestError    one routed request fails; ``status`` is its HTTP status
        │       ├── InvalidRequestHeader  400: X-Client-Id missing or malformed, bad X-Deadline-Ms
        │       ├── UpstreamFailed        502: no attempt got an answer (connection errors)
        │       └── DeadlineExceeded      504: no answer within the deadline or the upstream timeout
        ├── ServeError                base of the inference instance's (``aiotwin-gateway serve``) errors
        │   ├── ServePortInUse        the HTTP port is taken: pick another or pass --port 0 (a PortInUse)
        │   ├── NoServableVariant     no variant of the bundle can run here (missing runtime, unknown id)
        │   ├── InvalidServeConfig    a serve config value is out of range (also a ValueError)
        │   └── InferRequestError     one request is rejected; ``status`` is its HTTP status (4xx/503)
        │       ├── UnsupportedContentType  415: the Content-Type is not an image or tensor type
        │       ├── MalformedInput          400: empty body, undecodable image, wrong tensor shape
        │       ├── UnknownModel            404: the path names a model this instance does not serve
        │       ├── BodyTooLarge            413: the body exceeds max-body-bytes
        │       └── InstanceOverloaded      503: the batch queue is full (retry another instance)
        ├── UplinkError               base of the CoAP uplink's errors (``gateway.uplink``)
        │   ├── UplinkStoreError      the event store cannot be opened, is in use, or a write failed
        │   └── UplinkBindError       the CoAP UDP port cannot be bound
        ├── DiscoveryError            base of the mDNS advertiser's and browser's errors
        │   ├── MdnsUnavailable       the mDNS sockets cannot be opened (no multicast interface);
        │   │                         also an aiotwin.MdnsSocketError
        │   └── TxtRecordError        a discovered TXT record is malformed (the browser ignores it);
        │                             also an aiotwin.TxtMalformed (a ValueError)
        └── FederationError           base of the gateway's federated-learning errors (``[fl]``, ``fl`` verbs)
            ├── FederationStartFailed the edge SuperLink/ServerApp, the bridge or the cloud-tier SuperNode
            │                         did not start (``aiotwin-gateway start`` exits, FL and all)
            └── NodeKeyRejected       ``fl register-node``: the key file or name is unusable (missing, not
                                      an OpenSSH ECDSA key, already authorized under another name)
"""

from __future__ import annotations

from typing import ClassVar

from aiotwin import AiotwinError
from aiotwin._exceptions import MdnsSocketError, TxtMalformed


class GatewayError(AiotwinError):
    """Base of every error raised by the gateway role."""


class PortInUse(GatewayError):
    """An HTTP listen address of the gateway (router or inference instance) is already taken."""


class RouterError(GatewayError):
    """Base of the QoS-aware router's errors."""


class NoInstancesError(RouterError):
    """``choose()`` was called while no inference instance is known: answer 503 and retry later."""


class InvalidInstanceSet(RouterError):
    """``set_instances()`` got an empty or duplicated instance id."""


class InvalidRouterConfig(RouterError, ValueError):
    """A router configuration value is out of range."""


class UnknownPolicyError(RouterError):
    """``make_policy()`` got a name that is not a known routing policy."""


class RouterPortInUse(RouterError, PortInUse):
    """``aiotwin-gateway start`` cannot bind its HTTP listen address."""


class RoutedRequestError(RouterError):
    """One routed request fails; the router answers ``status`` with ``{"error": str(exc)}``."""

    status: ClassVar[int] = 400


class InvalidRequestHeader(RoutedRequestError):
    """``X-Client-Id`` is missing or malformed, or ``X-Deadline-Ms`` is not a positive number (HTTP 400)."""

    status = 400


class UpstreamFailed(RoutedRequestError):
    """No attempt got an HTTP answer from an instance (connection refused or reset; HTTP 502)."""

    status = 502


class DeadlineExceeded(RoutedRequestError):
    """No answer arrived within the request's deadline or the upstream timeout (HTTP 504)."""

    status = 504


class ServeError(GatewayError):
    """Base of the errors of one inference instance (``aiotwin-gateway serve``)."""


class ServePortInUse(ServeError, PortInUse):
    """The HTTP listen address is already taken."""


class NoServableVariant(ServeError):
    """The bundle has no variant that can run here (or not the one asked for)."""


class InvalidServeConfig(ServeError, ValueError):
    """A serve configuration value is out of range."""


class InferRequestError(ServeError):
    """One inference request is rejected; the server answers ``status`` with ``{"error": str(exc)}``."""

    status: ClassVar[int] = 400


class UnsupportedContentType(InferRequestError):
    """The request's Content-Type is neither an image nor a tensor type (HTTP 415)."""

    status = 415


class MalformedInput(InferRequestError):
    """The body is empty, not a decodable image, or a tensor of the wrong shape (HTTP 400)."""

    status = 400


class UnknownModel(InferRequestError):
    """The path names a model that this instance does not serve (HTTP 404)."""

    status = 404


class BodyTooLarge(InferRequestError):
    """The body exceeds the instance's ``max-body-bytes`` (HTTP 413)."""

    status = 413


class InstanceOverloaded(InferRequestError):
    """The batch queue is full or the instance is stopping (HTTP 503: try another instance)."""

    status = 503


class UplinkError(GatewayError):
    """Base of the CoAP uplink's errors (event ingress and ``/cfg``)."""


class UplinkStoreError(UplinkError):
    """The durable event store cannot be opened, is in use by another process, or a write failed."""


class UplinkBindError(UplinkError):
    """The CoAP UDP port cannot be bound (bad address, or no permission for a port below 1024)."""


class DiscoveryError(GatewayError):
    """Base of the mDNS advertiser's and browser's errors."""


class MdnsUnavailable(DiscoveryError, MdnsSocketError):
    """The mDNS sockets cannot be opened on the chosen interfaces."""


class TxtRecordError(DiscoveryError, TxtMalformed):
    """A TXT record of ``_aiotwin-infer._tcp`` is malformed; browsers ignore the instance."""


class FederationError(GatewayError):
    """Base of the gateway's federated-learning errors (its edge aggregator and cloud-tier node)."""


class FederationStartFailed(FederationError):
    """The gateway's FL part (edge SuperLink + ServerApp, bridge, cloud-tier SuperNode) did not start."""


class NodeKeyRejected(FederationError):
    """A camera's Flower key cannot be authorized: missing or malformed file, bad name, duplicate key."""


__all__ = [
    "BodyTooLarge",
    "DeadlineExceeded",
    "DiscoveryError",
    "FederationError",
    "FederationStartFailed",
    "GatewayError",
    "InferRequestError",
    "InstanceOverloaded",
    "InvalidInstanceSet",
    "InvalidRequestHeader",
    "InvalidRouterConfig",
    "InvalidServeConfig",
    "MalformedInput",
    "MdnsUnavailable",
    "NoInstancesError",
    "NoServableVariant",
    "NodeKeyRejected",
    "PortInUse",
    "RoutedRequestError",
    "RouterError",
    "RouterPortInUse",
    "ServeError",
    "ServePortInUse",
    "TxtRecordError",
    "UnknownModel",
    "UnknownPolicyError",
    "UnsupportedContentType",
    "UplinkBindError",
    "UplinkError",
    "UplinkStoreError",
    "UpstreamFailed",
]
