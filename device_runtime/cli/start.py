"""``aiotwin-device start``: run the camera-node daemon (SIGTERM → clean shutdown, exit 0).

``--demo`` needs no config and no hardware: one synthetic camera, the shipped bundle, a data dir
under ``$XDG_STATE_HOME/aiotwin-demo`` and metrics on a free local port. The daemon module (and with
it OpenCV and the inference runtime) is imported inside the verb, so ``--help`` stays light.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aiotwin.exitcodes import ExitCode
from device_runtime.cli._app import app, guarded

if TYPE_CHECKING:
    from device_runtime.config import DeviceConfig

DEFAULT_CONFIG = Path("/etc/aiotwin/device.toml")


def _config(config: Path | None, demo: bool, port: int | None, data_dir: Path | None,
            seed: int) -> tuple[DeviceConfig, str]:
    from device_runtime._validate import load_and_validate
    from device_runtime.daemon import demo_config

    if demo:
        cfg, where = demo_config(os.environ, seed=seed), "--demo"
    else:
        path = config or DEFAULT_CONFIG
        cfg, where = load_and_validate(path), str(path)
    if port is not None:
        cfg = replace(cfg, metrics=replace(cfg.metrics, port=port))
    if data_dir is not None:
        cfg = replace(cfg, data_dir=data_dir)
    return cfg, where


@app.command()
def start(  # noqa: PLR0917 - typer maps parameters to options
    config: Annotated[Path | None, typer.Option("--config", "-c", help=f"device.toml (default {DEFAULT_CONFIG}).")]
    = None,
    demo: Annotated[bool, typer.Option("--demo", help="One synthetic camera, no config or hardware needed.")]
    = False,
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535,
                                             help="Metrics/health port (0: a free port).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Outbox, node id, pinned variant.")]
    = None,
    frames: Annotated[int | None, typer.Option("--frames", min=1, help="Stop after N frames per camera.")]
    = None,
    seed: Annotated[int, typer.Option("--seed", help="Scene seed of the --demo camera.")] = 1,
    live: Annotated[bool, typer.Option("--live/--no-live", help="Live table on a TTY, status lines "
                                       "otherwise.")] = True,
) -> None:
    """Run the camera node: cameras → pipeline → outbox, with /healthz and /metrics."""
    if demo and config is not None:
        typer.echo("error: --demo and --config exclude each other", err=True)
        raise typer.Exit(int(ExitCode.USAGE))

    def body() -> int:
        from device_runtime._heap import fit_mmap_threshold

        # Before the node allocates anything large: big temporaries go back to the OS when freed
        # instead of growing the heap for good (docs/device.md, memory). Capture threads raise it
        # above their frame size.
        fit_mmap_threshold(0)
        from device_runtime.daemon import NodeOptions, sync_main

        cfg, where = _config(config, demo, port, data_dir, seed)
        return int(sync_main(cfg, NodeOptions(frames=frames, live=live, config_where=where)))

    guarded(body)
