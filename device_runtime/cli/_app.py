"""The ``aiotwin-device`` typer app and its error → exit-code table.

Each verb is a thin function in ``device_runtime/cli/<verb>.py`` that registers itself on :data:`app`
and runs its body through :data:`guarded`. Nothing here imports a heavy backend.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiotwin._exceptions import EngineError
from aiotwin.clitools import CORE_ERROR_CODES, Guard, make_app
from aiotwin.exitcodes import ExitCode
from device_runtime._exceptions import (
    DataDirError,
    HardwareProbeError,
    LabelImportError,
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
        (LabelImportError, ExitCode.DEVICE_LABELS_INVALID),
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


def node_data_dir(data_dir: Path | None, config: Path | None) -> Path:
    """``--data-dir``, else the ``data-dir`` of ``--config``, else the ``--demo`` data dir."""
    if data_dir is not None:
        return data_dir
    if config is not None:
        from device_runtime.config import load_device_config

        return load_device_config(config).data_dir
    from device_runtime.daemon import demo_data_dir

    return demo_data_dir(os.environ)


__all__ = ["app", "guarded", "node_data_dir"]
