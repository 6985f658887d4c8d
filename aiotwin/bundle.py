"""Model bundles: ``manifest.json`` + variant files. The unit of registry, OTA and FL.

Layout::

    <bundle>/manifest.json
    <bundle>/<variant file>          e.g. model.fp32.onnx, model.int8.tflite

``manifest.json``::

    {
      "format": 1,
      "name": "vehicle-edge", "version": 3, "task": "aiotwin.models.vehicle:VehicleClassifier",
      "arch": "edge", "labels": ["car", ...],
      "input": {"height": 64, "width": 64, "channels": 3, "color": "rgb",
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
      "trained_layers": "all",
      "variants": {
        "onnx-fp32": {"file": "model.fp32.onnx", "sha256": "…", "size": 123, "layout": "nchw",
                       "dtype": "float32", "accuracy": 0.97, "latency_ms": 0.4},
        ...
      }
    }

:func:`load_manifest` parses and validates the manifest (typed :class:`BundleError` on any
problem); :func:`verify_variant` checks a variant file's size and sha256 before an engine loads it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiotwin._exceptions import BundleError, BundleIntegrityError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20

VariantId = Literal["onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8", "tflite-edgetpu"]
VARIANT_IDS: tuple[str, ...] = ("onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8", "tflite-edgetpu")
# Which runtime executes a variant (engine names in aiotwin.engines).
VARIANT_RUNTIME: dict[str, str] = {
    "onnx-fp32": "onnxruntime",
    "onnx-int8": "onnxruntime",
    "onnx-fp16": "onnxruntime",
    "tflite-int8": "litert",
    "tflite-edgetpu": "litert",
}


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    channels: int = 3
    color: Literal["rgb", "bgr"] = "rgb"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class VariantEntry:
    file: str
    sha256: str
    size: int
    layout: Literal["nchw", "nhwc"]
    dtype: str
    accuracy: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    version: int
    task: str
    arch: str
    labels: tuple[str, ...]
    input: InputSpec
    variants: dict[str, VariantEntry]
    trained_layers: str = "all"
    format: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _req(data: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise BundleError(f"{where}: missing key {key!r}")
    value = data[key]
    if isinstance(value, bool) and typ is not bool and bool not in (typ if isinstance(typ, tuple) else (typ,)):
        raise BundleError(f"{where}: key {key!r} must be {typ}, got bool")
    if not isinstance(value, typ):
        raise BundleError(f"{where}: key {key!r} must be {typ}, got {type(value).__name__}")
    return value


def _parse_input(data: Any, where: str) -> InputSpec:
    if not isinstance(data, dict):
        raise BundleError(f"{where}: 'input' must be an object")
    h = _req(data, "height", int, where + ".input")
    w = _req(data, "width", int, where + ".input")
    c = data.get("channels", 3)
    if not (8 <= h <= 1024 and 8 <= w <= 1024) or c != 3:
        raise BundleError(f"{where}.input: unsupported shape {h}x{w}x{c}")
    color = data.get("color", "rgb")
    if color not in ("rgb", "bgr"):
        raise BundleError(f"{where}.input: color must be rgb or bgr, got {color!r}")
    mean, std = data.get("mean", [0.485, 0.456, 0.406]), data.get("std", [0.229, 0.224, 0.225])
    for name, vec in (("mean", mean), ("std", std)):
        if not (isinstance(vec, list) and len(vec) == 3 and all(isinstance(v, int | float) for v in vec)):
            raise BundleError(f"{where}.input: {name} must be 3 numbers")
    if any(s <= 0 for s in std):
        raise BundleError(f"{where}.input: std must be positive")
    return InputSpec(h, w, c, color, tuple(float(v) for v in mean), tuple(float(v) for v in std))  # type: ignore[arg-type]


def _parse_variant(vid: str, data: Any, where: str) -> VariantEntry:
    w = f"{where}.variants[{vid}]"
    if vid not in VARIANT_IDS:
        raise BundleError(f"{w}: unknown variant id (known: {', '.join(VARIANT_IDS)})")
    if not isinstance(data, dict):
        raise BundleError(f"{w}: must be an object")
    file = _req(data, "file", str, w)
    if "/" in file or "\\" in file or file.startswith(".") or not file:
        raise BundleError(f"{w}: file must be a plain file name inside the bundle, got {file!r}")
    sha = _req(data, "sha256", str, w)
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        raise BundleError(f"{w}: sha256 must be 64 lowercase hex digits")
    size = _req(data, "size", int, w)
    layout = _req(data, "layout", str, w)
    if layout not in ("nchw", "nhwc"):
        raise BundleError(f"{w}: layout must be nchw or nhwc")
    acc, lat = data.get("accuracy"), data.get("latency_ms")
    for name, v in (("accuracy", acc), ("latency_ms", lat)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise BundleError(f"{w}: {name} must be a number")
    return VariantEntry(file, sha, size, layout, _req(data, "dtype", str, w),
                        None if acc is None else float(acc), None if lat is None else float(lat))


def parse_manifest(raw: bytes | str, where: str = MANIFEST) -> Manifest:
    """Parse and validate manifest JSON; raise :class:`BundleError` naming the bad key."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{where}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{where}: manifest must be a JSON object")
    fmt = data.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise BundleError(f"{where}: unsupported manifest format {fmt!r} (this runtime reads {FORMAT_VERSION})")
    version = _req(data, "version", int, where)
    if version < 0:
        raise BundleError(f"{where}: version must be >= 0")
    labels = _req(data, "labels", list, where)
    if not labels or not all(isinstance(label, str) and label for label in labels):
        raise BundleError(f"{where}: labels must be a non-empty list of strings")
    variants = _req(data, "variants", dict, where)
    if not variants:
        raise BundleError(f"{where}: bundle has no variants")
    return Manifest(
        name=_req(data, "name", str, where),
        version=version,
        task=_req(data, "task", str, where),
        arch=_req(data, "arch", str, where),
        labels=tuple(labels),
        input=_parse_input(data.get("input"), where),
        variants={k: _parse_variant(k, v, where) for k, v in variants.items()},
        trained_layers=str(data.get("trained_layers", "all")),
        extra=data.get("extra", {}) if isinstance(data.get("extra", {}), dict) else {},
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A bundle on disk with its parsed manifest."""

    path: Path
    manifest: Manifest

    def variant_path(self, variant: str) -> Path:
        if variant not in self.manifest.variants:
            have = ", ".join(self.manifest.variants)
            raise BundleError(f"{self.path}: bundle has no variant {variant!r} (has: {have})")
        return self.path / self.manifest.variants[variant].file

    def verify_variant(self, variant: str) -> Path:
        """Check size and sha256 of a variant file; return its path or raise BundleIntegrityError."""
        path = self.variant_path(variant)
        entry = self.manifest.variants[variant]
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BundleIntegrityError(f"{path}: variant {variant} file missing: {exc}") from exc
        if size != entry.size:
            raise BundleIntegrityError(f"{path}: size {size} != manifest {entry.size}")
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise BundleIntegrityError(f"{path}: sha256 {digest[:12]}… != manifest {entry.sha256[:12]}…")
        return path


def load_bundle(path: Path) -> Bundle:
    """Read ``path/manifest.json``; raise :class:`BundleError` when it is missing or malformed."""
    mpath = path / MANIFEST
    try:
        raw = mpath.read_bytes()
    except OSError as exc:
        raise BundleError(f"{mpath}: cannot read manifest: {exc}") from exc
    return Bundle(path, parse_manifest(raw, str(mpath)))


def default_bundle_dir(arch: str = "edge") -> Path:
    """The bundle shipped inside the package (``aiotwin/models/bundles/<arch>``)."""
    return Path(__file__).resolve().parent / "models" / "bundles" / arch


__all__ = [
    "FORMAT_VERSION", "MANIFEST", "VARIANT_IDS", "VARIANT_RUNTIME", "Bundle", "InputSpec", "Manifest",
    "VariantEntry", "default_bundle_dir", "load_bundle", "parse_manifest", "sha256_file",
]
