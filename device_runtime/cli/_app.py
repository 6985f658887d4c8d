"""The ``aiotwin-device`` typer app and its error → exit-code table.

Each verb is a thin function in ``device_runtime/cli/<verb>.py`` that registers itself on :data:`app`
and runs its body through :data:`guarded`. Nothing here imports a heavy backend.
"""

from __future__ import annotations

from aiotwin._exceptions import EngineError
from aiotwin.clitools import CORE_ERROR_CODES, Guard, make_app
from aiotwin.exitcodes import ExitCode
from device_runtime._exceptions import (
    DataDirError,
    HardwareProbeError,
    NoVariantError,
    OutboxError,
    PortInUseError,
    ProfileError,
    SourceError,
)

guarded = Guard(
    "aiotwin-device",
    (
        (HardwareProbeError, ExitCode.DEVICE_HW_ROOT_INVALID),
        (ProfileError, ExitCode.CONFIG_INVALID),
        (NoVariantError, ExitCode.DEVICE_NO_VARIANT),
        (SourceError, ExitCode.DEVICE_SOURCE_FAILED),
        (OutboxError, ExitCode.DEVICE_OUTBOX_ERROR),
        (PortInUseError, ExitCode.DEVICE_PORT_IN_USE),
        (DataDirError, ExitCode.DEVICE_DATA_DIR_INVALID),
        (EngineError, ExitCode.DEVICE_ENGINE_FAILED),
        *CORE_ERROR_CODES,
    ),
)

app = make_app(
    "aiotwin-device",
    "The aiotwin camera node: detect hardware, run the camera pipeline, serve the daemon.",
    guarded,
)


__all__ = ["app", "guarded"]
