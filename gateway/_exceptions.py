"""Errors of the gateway role.

Tree::

    AiotwinError (aiotwin)
    └── GatewayError
        ├── RouterError
        │   ├── NoInstancesError      nothing to route to: the instance set is empty (HTTP hop → 503)
        │   ├── InvalidInstanceSet    set_instances() got an empty or duplicate instance id
        │   ├── InvalidRouterConfig   a router config value is out of range (also a ValueError, so the
        │   │                         typed config loader reports it with its file and key)
        │   └── UnknownPolicyError    make_policy() got a policy name it does not know
        ├── ServeError                base of the inference instance's (``aiotwin-gateway serve``) errors
        │   ├── ServePortInUse        the HTTP port is taken: pick another or pass --port 0
        │   ├── NoServableVariant     no variant of the bundle can run here (missing runtime, unknown id)
        │   ├── InvalidServeConfig    a serve config value is out of range (also a ValueError)
        │   └── InferRequestError     one request is rejected; ``status`` is its HTTP status (4xx/503)
        │       ├── UnsupportedContentType  415: the Content-Type is not an image or tensor type
        │       ├── MalformedInput          400: empty body, undecodable image, wrong tensor shape
        │       ├── UnknownModel            404: the path names a model this instance does not serve
        │       ├── BodyTooLarge            413: the body exceeds max-body-bytes
        │       └── InstanceOverloaded      503: the batch queue is full (retry another instance)
        └── DiscoveryError            base of the mDNS advertiser's and browser's errors
            ├── MdnsUnavailable       the mDNS sockets cannot be opened (no multicast interface)
            └── TxtRecordError        a discovered TXT record is malformed (the browser ignores it)
"""

from __future__ import annotations

from typing import ClassVar

from aiotwin import AiotwinError


class GatewayError(AiotwinError):
    """Base of every error raised by the gateway role."""


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


class ServeError(GatewayError):
    """Base of the errors of one inference instance (``aiotwin-gateway serve``)."""


class ServePortInUse(ServeError):
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


class DiscoveryError(GatewayError):
    """Base of the mDNS advertiser's and browser's errors."""


class MdnsUnavailable(DiscoveryError):
    """The mDNS sockets cannot be opened on the chosen interfaces."""


class TxtRecordError(DiscoveryError, ValueError):
    """A TXT record of ``_aiotwin-infer._tcp`` is malformed; browsers ignore the instance."""


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
