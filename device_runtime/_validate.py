"""Cross-section checks of a loaded ``device.toml`` (the read-only second pass, STYLE rule 17).

The loader already checked keys and types; this pass checks what only makes sense across keys or
against the rest of the node: unique camera ids, source forms, ranges. Every problem is collected
and raised together as one :class:`aiotwin.ConfigError` with file, line and key path.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aiotwin._exceptions import AiotwinError, ConfigError, ConfigProblem
from device_runtime.config import CameraConfig, DeviceConfig
from device_runtime.identity import valid_node_id

MAX_PORT = 65535
_ID_RULE = "use letters, digits, '.', '_' or '-' (1-63 characters)"

Add = Callable[[str, str, str | None], None]


def _line_finder(text: str) -> Callable[[str, str | None], int | None]:
    lines = text.splitlines()

    def find(key: str, value: str | None) -> int | None:
        leaf = key.rsplit("/", 1)[-1].split("[", 1)[0]
        pat = re.compile(rf"^\s*{re.escape(leaf)}\s*=\s*" + (re.escape(f'"{value}"') if value else ""))
        return next((i for i, line in enumerate(lines, start=1) if pat.match(line)), None)

    return find


def _check_camera(i: int, cam: CameraConfig, add: Add) -> None:
    at = f"cameras[{i}]"
    if not valid_node_id(cam.id):
        add(f"{at}/id", _ID_RULE, cam.id)
    from device_runtime.camera._dispatch import source_kind

    try:
        if source_kind(cam.source) == "synthetic":
            from aiotwin.scenes import parse_synthetic_uri

            parse_synthetic_uri(cam.source.strip())
    except AiotwinError as exc:  # SourceError / SceneError: a malformed source string
        add(f"{at}/source", str(exc), cam.source)
    if cam.fps is not None and cam.fps < 0:
        add(f"{at}/fps", "must be >= 0 (0: unpaced)", None)
    if cam.queue_frames < 1:
        add(f"{at}/queue-frames", "must be >= 1", None)


def _check_node(cfg: DeviceConfig, add: Add) -> None:
    if cfg.node_id is not None and not valid_node_id(cfg.node_id):
        add("node-id", _ID_RULE, cfg.node_id)
    if not 0 <= cfg.metrics.port <= MAX_PORT:
        add("metrics/port", f"must be 0..{MAX_PORT} (0: a free port)", None)
    if cfg.outbox.max_events < 1:
        add("outbox/max-events", "must be >= 1", None)
    if cfg.outbox.ttl_s <= 0:
        add("outbox/ttl-s", "must be > 0", None)
    if cfg.threads < 1:
        add("threads", "must be >= 1", None)
    if cfg.bundle is not None and not (cfg.bundle / "manifest.json").is_file():
        add("bundle", f"no manifest.json in {cfg.bundle}", None)


def validate_config(cfg: DeviceConfig, *, file: str = "<config>", text: str = "") -> None:
    """Raise :class:`ConfigError` listing every cross-section problem of ``cfg``."""
    find = _line_finder(text)
    problems: list[ConfigProblem] = []

    def add(key: str, message: str, value: str | None) -> None:
        problems.append(ConfigProblem(file, key, message, find(key, value)))

    if not cfg.cameras:
        add("cameras", "no [[cameras]] configured: add at least one (or use --demo)", None)
    for cam_id, n in Counter(c.id for c in cfg.cameras).items():
        if n > 1:
            add("cameras/id", f"camera id {cam_id!r} is used {n} times; ids must be unique", cam_id)
    for i, cam in enumerate(cfg.cameras):
        _check_camera(i, cam, add)
    _check_node(cfg, add)
    if problems:
        raise ConfigError(problems)


def _resolve_file_sources(cfg: DeviceConfig, base: Path) -> DeviceConfig:
    """Relative video-file sources are relative to the config file, like every other path in it."""
    from device_runtime.camera._dispatch import source_kind

    def fix(cam: CameraConfig) -> CameraConfig:
        try:
            kind = source_kind(cam.source)
        except AiotwinError:  # reported by validate_config
            return cam
        src = cam.source.removeprefix("file://")
        if kind != "file" or Path(src).is_absolute():
            return cam
        return replace(cam, source=str(base / src))

    return replace(cfg, cameras=[fix(c) for c in cfg.cameras])


def load_and_validate(path: Path) -> DeviceConfig:
    """Load ``device.toml`` and run the cross-section checks (all errors at once, file:line key)."""
    from device_runtime.config import load_device_config

    cfg = _resolve_file_sources(load_device_config(path), path.parent)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    validate_config(cfg, file=str(path), text=text)
    return cfg


__all__ = ["load_and_validate", "validate_config"]
