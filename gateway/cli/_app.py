"""The ``aiotwin-gateway`` typer app and its error → exit-code table.

Each verb is a thin function in ``gateway/cli/<verb>.py`` that registers itself on :data:`app` (or
the ``fl`` sub-app :data:`fl_app`) and runs its body through :data:`guarded`. Nothing here imports a
heavy backend or :mod:`gateway.fl`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from aiotwin._exceptions import BundleError, EngineError
from aiotwin.clitools import CORE_ERROR_CODES, Guard, make_app
from aiotwin.exitcodes import ExitCode
from aiotwin.netem._exceptions import ShapeError
from gateway._exceptions import (
    DiscoveryError,
    FederationStartFailed,
    InvalidInstanceSet,
    InvalidRouterConfig,
    InvalidServeConfig,
    NodeKeyRejected,
    NoServableVariant,
    PortInUse,
    UnknownPolicyError,
)

DEFAULT_DATA_DIR = Path("/var/lib/aiotwin-gateway")  # events.sqlite3, fl/

guarded = Guard(
    "aiotwin-gateway",
    (
        (PortInUse, ExitCode.GATEWAY_PORT_IN_USE),
        (NoServableVariant, ExitCode.GATEWAY_NO_VARIANT),
        (BundleError, ExitCode.GATEWAY_BUNDLE_INVALID),
        (EngineError, ExitCode.GATEWAY_ENGINE_FAILED),
        (DiscoveryError, ExitCode.GATEWAY_MDNS_UNAVAILABLE),
        (FederationStartFailed, ExitCode.GATEWAY_FL_FAILED),
        (NodeKeyRejected, ExitCode.USAGE),
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
    "The aiotwin gateway: QoS-aware routing, inference instances, the devices' uplink, federated learning.",
    guarded,
)
fl_app = typer.Typer(help="The gateway's federated learning: camera keys, its cloud-tier key, the edge state.",
                     no_args_is_help=True)
app.add_typer(fl_app, name="fl")


__all__ = ["DEFAULT_DATA_DIR", "app", "fl_app", "guarded"]
