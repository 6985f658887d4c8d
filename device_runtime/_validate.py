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
from device_runtime.config import CameraConfig, DeviceConfig, DriftConfig, FlConfig, OffloadConfig, UplinkConfig
from device_runtime.identity import valid_node_id

MAX_PORT = 65535
MIN_UPLINK_BATCH_BYTES = 1024  # one CoAP block: smaller batches only add round trips
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


def _check_uplink(up: UplinkConfig, add: Add) -> None:
    from aiotwin.discovery import NODE_ID_PATTERN
    from aiotwin.wire import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
    from device_runtime._locate import parse_gateway_uri

    if up.gateway is not None:
        try:
            parse_gateway_uri(up.gateway)
        except ValueError as exc:
            add("uplink/gateway", str(exc), up.gateway)
    if up.enabled and up.gateway is None and not up.mdns:
        add("uplink/enabled", "the uplink needs gateway = \"coap://host:port\" or mdns = true", None)
    if up.prefer_gateway is not None and not NODE_ID_PATTERN.fullmatch(up.prefer_gateway):
        add("uplink/prefer-gateway", "not a gateway node id (letters, digits, '_', '-')", up.prefer_gateway)
    if not 1 <= up.batch_events <= MAX_BATCH_EVENTS:
        add("uplink/batch-events", f"must be 1..{MAX_BATCH_EVENTS} (the gateway's limit)", None)
    if not MIN_UPLINK_BATCH_BYTES <= up.batch_bytes <= MAX_BATCH_BYTES:
        add("uplink/batch-bytes", f"must be {MIN_UPLINK_BATCH_BYTES}..{MAX_BATCH_BYTES} (the gateway's limit)",
            None)
    if up.request_timeout_s <= 0:
        add("uplink/request-timeout-s", "must be > 0", None)
    if up.retry_max_s <= 0:
        add("uplink/retry-max-s", "must be > 0", None)
    if up.byte_budget_per_h is not None and up.byte_budget_per_h < 0:
        add("uplink/byte-budget-per-h", "must be >= 0", None)


def _check_offload(off: OffloadConfig, add: Add) -> None:
    from urllib.parse import urlsplit

    if off.router is not None:
        try:
            parts = urlsplit(off.router)
            ok = parts.scheme == "http" and bool(parts.hostname) and parts.path in {"", "/"}
            _ = parts.port
        except ValueError:
            ok = False
        if not ok:
            add("offload/router", "must be http://HOST[:PORT] (the gateway router)", off.router)
    if not off.model or "/" in off.model:
        add("offload/model", "must be a model name without '/'", off.model)
    for key, value, low, high in (("threshold", off.threshold, 0.0, 1.0), ("min-p", off.min_p, 0.0, 1.0)):
        if not low <= value <= high:
            add(f"offload/{key}", f"must be {low:g}..{high:g}", None)
    for key, value in (("budget-ms", off.budget_ms), ("max-age-s", off.max_age_s),
                       ("probe-every-s", off.probe_every_s)):
        if value <= 0:
            add(f"offload/{key}", "must be > 0", None)
    if off.max_inflight < 1:
        add("offload/max-inflight", "must be >= 1", None)


def _check_fl(fl: FlConfig, add: Add) -> None:
    if not fl.enabled:
        return
    host, _, port = (fl.superlink or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) <= MAX_PORT:
        add("fl/superlink", "federated learning needs superlink = \"HOST:PORT\" (the gateway's SuperLink)",
            fl.superlink)
    if fl.insecure:
        for key, value in (("root-certificates", fl.root_certificates), ("auth-key", fl.auth_key)):
            if value is not None:
                add(f"fl/{key}", "insecure = true talks plain HTTP without a node key: drop this key, or drop "
                    "insecure to use TLS and node authentication (docs/fl.md)", None)
    elif fl.root_certificates is None:
        add("fl/root-certificates", "TLS needs the CA certificate of the gateway's SuperLink (root-certificates = "
            "\"ca.pem\"); insecure = true is for local experiments only (docs/fl.md)", None)
    elif not fl.root_certificates.is_file():
        add("fl/root-certificates", f"no such file: {fl.root_certificates}", None)
    if not 0 < fl.runtime_port <= MAX_PORT:
        add("fl/runtime-port", f"must be 1..{MAX_PORT}", None)
    if fl.max_samples < 0:
        add("fl/max-samples", "must be >= 0 (0: all)", None)
    if fl.restart_max_s <= 0:
        add("fl/restart-max-s", "must be > 0", None)


def _check_samples(cfg: DeviceConfig, add: Add) -> None:
    sam = cfg.samples
    if sam.max_samples < 1:
        add("samples/max-samples", "must be >= 1", None)
    if not 0.0 <= sam.pseudo_label_threshold <= 1.0:
        add("samples/pseudo-label-threshold", "must be 0..1", None)
    if sam.pseudo_labels_per_minute < 0:
        add("samples/pseudo-labels-per-minute", "must be >= 0 (0: no pseudo-labels)", None)


def _check_drift(drift: DriftConfig, add: Add) -> None:
    for key, value in (("reference", drift.reference), ("window", drift.window)):
        if value < 1:
            add(f"drift/{key}", "must be >= 1 (predictions)", None)
    if drift.confidence_bins < 2:
        add("drift/confidence-bins", "must be >= 2", None)
    if drift.threshold <= 0:
        add("drift/threshold", "must be > 0", None)
    if not 0.0 <= drift.clear_ratio < 1.0:
        add("drift/clear-ratio", "must be 0..1 (below 1: the episode ends under threshold × clear-ratio)", None)
    if drift.cooldown_s < 0:
        add("drift/cooldown-s", "must be >= 0", None)


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
    _check_uplink(cfg.uplink, add)
    _check_offload(cfg.offload, add)
    _check_fl(cfg.fl, add)
    _check_samples(cfg, add)
    _check_drift(cfg.drift, add)


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
