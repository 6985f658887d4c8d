"""``synthetic:`` camera URIs: ``synthetic:NAME_OR_PATH?seed=N&lighting=..&weather=..&fps=..&size=WxH``."""

from __future__ import annotations

import math
from urllib.parse import unquote

from aiotwin._exceptions import SceneError
from aiotwin.scenes._spec import LIGHTINGS, WEATHERS, CameraSpec, load_camera

SCHEME = "synthetic:"
PARAMS = ("seed", "lighting", "weather", "fps", "size")
MAX_SEED = 2**63 - 1
MAX_DIGITS = 20


def _int(key: str, text: str, lo: int, hi: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
        raise SceneError(f"synthetic URI: {key} must be a non-negative integer, got {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise SceneError(f"synthetic URI: {key} must be in {lo}..{hi}, got {value}")
    return value


def _fps(text: str) -> float:
    try:
        value = float(text) if text.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 1.0 <= value <= 240.0):
        raise SceneError(f"synthetic URI: fps must be a number in 1..240, got {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep:
        raise SceneError(f"synthetic URI: size must be WIDTHxHEIGHT, got {text!r}")
    return _int("size width", w, 64, 7680), _int("size height", h, 64, 7680)


def _params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in query.split("&") if query else []:
        key, sep, value = item.partition("=")
        key, value = unquote(key), unquote(value)
        if not sep or not value:
            raise SceneError(f"synthetic URI: expected key=value, got {item!r}")
        if key not in PARAMS:
            raise SceneError(f"synthetic URI: unknown parameter {key!r} (known: {', '.join(PARAMS)})")
        if key in params:
            raise SceneError(f"synthetic URI: parameter {key!r} given twice")
        params[key] = value
    return params


def parse_synthetic_uri(uri: str) -> tuple[CameraSpec, int]:
    """Camera spec (with the URI's conditions applied) and seed of a ``synthetic:`` URI."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise SceneError(f"not a synthetic URI (expected {SCHEME}NAME?seed=N...): {uri!r}")
    target, _, query = uri[len(SCHEME):].partition("?")
    name = unquote(target.removeprefix("//"))
    if not name:
        raise SceneError(f"synthetic URI names no camera: {uri!r}")
    params = _params(query)
    lighting, weather = params.get("lighting"), params.get("weather")
    if lighting is not None and lighting not in LIGHTINGS:
        raise SceneError(f"synthetic URI: lighting must be one of {', '.join(LIGHTINGS)}, got {lighting!r}")
    if weather is not None and weather not in WEATHERS:
        raise SceneError(f"synthetic URI: weather must be one of {', '.join(WEATHERS)}, got {weather!r}")
    seed = _int("seed", params["seed"], 0, MAX_SEED) if "seed" in params else 0
    fps = _fps(params["fps"]) if "fps" in params else None
    size = _size(params["size"]) if "size" in params else None
    spec = load_camera(name).with_conditions(lighting, weather)
    return spec.with_overrides(fps=fps, size=size), seed


__all__ = ["parse_synthetic_uri"]
