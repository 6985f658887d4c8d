"""The camera a one-off ``run`` processes: one ``[[cameras]]`` entry of ``device.toml``, or defaults.

``aiotwin-device run --config device.toml --camera-id ID`` takes the camera's counting line, line id,
lanes, mask zones, region of interest and every stage threshold from the config file, so a video is
counted exactly as the node counts it (lanes give the events their lane); ``--line`` still overrides
the line. Without ``--config`` the camera has the defaults and only the command line's line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aiotwin._exceptions import ConfigError, ConfigProblem
from aiotwin.geometry import Line
from device_runtime.config import CameraConfig, DeviceConfig, load_device_config


def find_camera(cfg: DeviceConfig, camera_id: str, path: Path) -> CameraConfig:
    """The camera ``camera_id`` of ``cfg`` (loaded from ``path``); :class:`ConfigError` when it has none."""
    for cam in cfg.cameras:
        if cam.id == camera_id:
            return cam
    known = ", ".join(repr(c.id) for c in cfg.cameras) or "none"
    problem = ConfigProblem(str(path), "cameras", f"no camera with id {camera_id!r} (cameras: {known})")
    raise ConfigError([problem])


def camera_for_run(
    source: str, camera_id: str, *, config: Path | None = None, line: Line | None = None
) -> CameraConfig:
    """The camera of a ``run``: ``config``'s camera ``camera_id`` (``line`` overrides its line) or defaults."""
    if config is None:
        return CameraConfig(id=camera_id, source=source, line=line)
    cam = find_camera(load_device_config(config), camera_id, config)
    return replace(cam, source=source, line=line if line is not None else cam.line)


__all__ = ["camera_for_run", "find_camera"]
