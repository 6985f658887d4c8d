"""The ``aiotwin-gateway`` typer app and its error → exit-code table.

Each verb is a thin function in ``gateway/cli/<verb>.py`` that registers itself on :data:`app` and
runs its body through :data:`guarded`. Nothing here imports a heavy backend.
"""

from __future__ import annotations

from aiotwin._exceptions import BundleError, EngineError
from aiotwin.clitools import CORE_ERROR_CODES, Guard, make_app
from aiotwin.exitcodes import ExitCode
from aiotwin.netem._exceptions import ShapeError
from gateway._exceptions import (
    DiscoveryError,
    InvalidInstanceSet,
    InvalidRouterConfig,
    InvalidServeConfig,
    NoServableVariant,
    PortInUse,
    UnknownPolicyError,
)

guarded = Guard(
    "aiotwin-gateway",
    (
        (PortInUse, ExitCode.GATEWAY_PORT_IN_USE),
        (NoServableVariant, ExitCode.GATEWAY_NO_VARIANT),
        (BundleError, ExitCode.GATEWAY_BUNDLE_INVALID),
        (EngineError, ExitCode.GATEWAY_ENGINE_FAILED),
        (DiscoveryError, ExitCode.GATEWAY_MDNS_UNAVAILABLE),
        (InvalidServeConfig, ExitCode.USAGE),
        (InvalidRouterConfig, ExitCode.USAGE),
        (InvalidInstanceSet, ExitCode.USAGE),
        (UnknownPolicyError, ExitCode.USAGE),
        (ShapeError, ExitCode.USAGE),
        *CORE_ERROR_CODES,
    ),
)

app = make_app(
    "aiotwin-gateway",
    "The aiotwin gateway: QoS-aware routing and inference instances for offloaded crops.",
    guarded,
)


__all__ = ["app", "guarded"]
