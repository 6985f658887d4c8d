"""The ``aiotwin-device`` typer app and its error → exit-code mapping.

Each verb is a thin function in ``device_runtime/cli/<verb>.py`` that registers itself on :data:`app`.
Nothing here imports a heavy backend: verbs import them inside their bodies.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import typer

from aiotwin._exceptions import AiotwinError, BackendMissing, BundleError, ConfigError
from aiotwin.exitcodes import ExitCode
from device_runtime._exceptions import (
    HardwareProbeError,
    NoVariantError,
    OutboxError,
    SourceError,
)

app = typer.Typer(
    name="aiotwin-device",
    help="The aiotwin camera node: detect hardware, run the camera pipeline, serve the daemon.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATE: dict[str, Any] = {"verbose": False}

# Most specific first: the first matching class decides the exit code.
_ERROR_CODES: list[tuple[type[BaseException], ExitCode]] = [
    (ConfigError, ExitCode.CONFIG_INVALID),
    (BackendMissing, ExitCode.BACKEND_MISSING),
    (HardwareProbeError, ExitCode.DEVICE_HW_ROOT_INVALID),
    (NoVariantError, ExitCode.DEVICE_NO_VARIANT),
    (BundleError, ExitCode.DEVICE_BUNDLE_INVALID),
    (SourceError, ExitCode.DEVICE_SOURCE_FAILED),
    (OutboxError, ExitCode.DEVICE_OUTBOX_ERROR),
]


def exit_code_for(exc: BaseException) -> ExitCode:
    for cls, code in _ERROR_CODES:
        if isinstance(exc, cls):
            return code
    return ExitCode.FAILURE


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs and tracebacks on errors."),
) -> None:
    _STATE["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def guarded(fn: Callable[[], int | None]) -> None:
    """Run a verb body: map aiotwin errors to one stderr line and the registry's exit code."""
    try:
        code = fn()
    except AiotwinError as exc:
        if _STATE["verbose"]:
            logging.getLogger("aiotwin-device").exception("failed")
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(int(exit_code_for(exc))) from None
    raise typer.Exit(int(code or 0))


__all__ = ["app", "exit_code_for", "guarded"]
