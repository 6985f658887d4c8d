"""Errors of the gateway role.

Tree::

    AiotwinError (aiotwin)
    └── GatewayError
        └── RouterError
            ├── NoInstancesError      nothing to route to: the instance set is empty (HTTP hop → 503)
            ├── InvalidInstanceSet    set_instances() got an empty or duplicate instance id
            ├── InvalidRouterConfig   a router config value is out of range (also a ValueError, so the
            │                         typed config loader reports it with its file and key)
            └── UnknownPolicyError    make_policy() got a policy name it does not know
"""

from __future__ import annotations

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


__all__ = [
    "GatewayError",
    "InvalidInstanceSet",
    "InvalidRouterConfig",
    "NoInstancesError",
    "RouterError",
    "UnknownPolicyError",
]
