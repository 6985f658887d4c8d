"""The ``aiotwin-coordinator`` typer app, its ``fl`` and ``models`` sub-apps and the error → exit-code table.

Each verb is a thin function in ``cloud_coordinator/cli/<verb>.py`` that registers itself on
:data:`app` (or :data:`fl_app`, :data:`models_app`) and runs its body through :data:`guarded`. Nothing here imports flwr
or torch.
"""

from __future__ import annotations

from pathlib import Path

import typer

from aiotwin.clitools import CORE_ERROR_CODES, Guard, make_app
from aiotwin.exitcodes import ExitCode
from aiotwin.fl import FlConfigError
from aiotwin.flower import FlowerMissing, FlowerProcessError
from cloud_coordinator._exceptions import CoordinatorNotRunning, FlRunNotFound, ModelNotFound, ModelStoreError

DEFAULT_WORK_DIR = Path("/var/lib/aiotwin-coordinator")

guarded = Guard(
    "aiotwin-coordinator",
    (
        (CoordinatorNotRunning, ExitCode.COORDINATOR_NOT_RUNNING),
        (FlRunNotFound, ExitCode.COORDINATOR_RUN_NOT_FOUND),
        (ModelNotFound, ExitCode.COORDINATOR_MODEL_NOT_FOUND),
        (ModelStoreError, ExitCode.COORDINATOR_MODEL_STORE_ERROR),
        (FlowerMissing, ExitCode.BACKEND_MISSING),
        (FlowerProcessError, ExitCode.COORDINATOR_FLOWER_FAILED),
        (FlConfigError, ExitCode.USAGE),
        *CORE_ERROR_CODES,
    ),
)

app = make_app(
    "aiotwin-coordinator",
    "The aiotwin cloud coordinator: the global tier of hierarchical federated learning.",
    guarded,
)
fl_app = typer.Typer(help="Federated learning runs: start, status, export.", no_args_is_help=True)
app.add_typer(fl_app, name="fl")
models_app = typer.Typer(help="The model store: bundles the FL runs published, ready for OTA.", no_args_is_help=True)
app.add_typer(models_app, name="models")


__all__ = ["DEFAULT_WORK_DIR", "app", "fl_app", "guarded", "models_app"]
