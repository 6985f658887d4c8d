"""The Flower App that runs aiotwin's apps, and submitting it to a SuperLink with ``flwr run``.

The App directory holds only ``pyproject.toml``: its components name the ServerApp and ClientApp
of the installed ``aiotwin`` package, so the FAB carries no code and a SuperNode runs whatever
aiotwin version its node has installed (runtime dependency installation stays off on both sides).
The ``flwr`` CLI reads its SuperLink connection from ``$FLWR_HOME/config.toml``; each aggregator
writes its own under its work directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from aiotwin.flower._exceptions import FlowerProcessError
from aiotwin.flower.procs import flower_env, flower_executable

APP_NAME = "aiotwin-edge"
CONNECTION = "aiotwin"
FLWR_RUN_TIMEOUT_S = 120.0  # builds the FAB and calls the Control API; seconds on an idle host

_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "1.0.0"
description = "aiotwin federated learning: the ServerApp and ClientApp of the installed aiotwin package"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "aiotwin"

[tool.flwr.app.components]
serverapp = "{serverapp}"
clientapp = "{clientapp}"

[tool.flwr.app.config]
work-dir = {work_dir}
"""

_CLI_CONFIG = """\
[superlink]
default = "{name}"

[superlink.{name}]
address = {address}
{security}
"""


def write_app(app_dir: Path, work_dir: Path, *, serverapp: str = "aiotwin.flower.server_app:app",
              clientapp: str = "aiotwin.flower.client_app:app", name: str = APP_NAME) -> Path:
    """Write the App's ``pyproject.toml``; ``work_dir`` becomes the run config ``work-dir``."""
    app_dir.mkdir(parents=True, exist_ok=True)
    text = _PYPROJECT.format(name=name, serverapp=serverapp, clientapp=clientapp,
                             work_dir=json.dumps(str(work_dir.resolve())))
    (app_dir / "pyproject.toml").write_text(text, encoding="utf-8")
    return app_dir


def write_cli_config(flwr_home: Path, address: str, *, root_certificates: Path | None = None) -> None:
    """``$FLWR_HOME/config.toml`` with one connection to ``address``.

    TLS verified with the CA ``root_certificates``, or insecure (plain HTTP) when it is ``None``.
    """
    flwr_home.mkdir(parents=True, exist_ok=True)
    security = ("insecure = true" if root_certificates is None
                else f"root-certificates = {json.dumps(str(root_certificates.resolve()))}")
    text = _CLI_CONFIG.format(name=CONNECTION, address=json.dumps(address), security=security)
    (flwr_home / "config.toml").write_text(text, encoding="utf-8")


def submit_run(app_dir: Path, flwr_home: Path, *, timeout_s: float = FLWR_RUN_TIMEOUT_S) -> int:
    """``flwr run APP aiotwin --format json``; return Flower's run id. Blocking (seconds)."""
    argv = [flower_executable("flwr"), "run", str(app_dir), CONNECTION, "--format", "json"]
    try:
        out = subprocess.run(argv, env=flower_env(flwr_home), capture_output=True, text=True, timeout=timeout_s,
                             check=False, cwd=app_dir)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FlowerProcessError(f"flwr run failed: {exc}") from exc
    try:
        data = json.loads(out.stdout[out.stdout.find("{"):])
        if data.get("success"):
            return int(data["run-id"])
    except (ValueError, KeyError):
        data = {}
    detail = (data.get("error-message") if isinstance(data, dict) else None) or (out.stderr or out.stdout)[-800:]
    raise FlowerProcessError(f"flwr run (exit {out.returncode}) did not start the ServerApp: {detail.strip()}")


__all__ = ["APP_NAME", "CONNECTION", "FLWR_RUN_TIMEOUT_S", "submit_run", "write_app", "write_cli_config"]
