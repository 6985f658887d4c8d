"""Camera specs: frozen dataclasses loaded from TOML (shipped package data or a file path).

A spec describes one fixed camera over a straight road: the camera pose (perspective), the lanes in
road coordinates (``x`` along the road, ``y`` across it, metres), the class mix, the traffic density,
the default lighting/weather and the counting line. Everything is validated on load; problems are
reported as ``file:line key: message``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from aiotwin._exceptions import ConfigError, SceneError
from aiotwin.config import load_dataclass, parse_toml
from aiotwin.labels import CLASSES

LIGHTINGS: tuple[str, ...] = ("day", "dusk", "night")
WEATHERS: tuple[str, ...] = ("clear", "rain", "fog")
Lighting = Literal["day", "dusk", "night"]
Weather = Literal["clear", "rain", "fog"]
LaneKind = Literal["road", "bike", "sidewalk"]
Ground = Literal["grass", "concrete", "water", "dirt"]

MIN_SIZE_PX = 64
MAX_SIZE_PX = 7680
MAX_FPS = 240.0
_CAMERAS_PACKAGE = "aiotwin.scenes"
_CAMERAS_DIR = "cameras"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_range(name: str, pair: tuple[float, float], lo: float) -> None:
    _check(lo <= pair[0] <= pair[1], f"{name}: expected {lo} <= min <= max, got {list(pair)}")


@dataclass(frozen=True)
class PerspectiveSpec:
    """Pinhole camera pose over the road plane (z = 0): the horizon and vanishing point follow."""

    height_m: float = 8.0
    pitch_deg: float = 30.0
    yaw_deg: float = 30.0
    fov_deg: float = 60.0
    aim_y_m: float = 0.0  # road y that the image centre looks at
    offset_m: float | None = None  # camera's road y (overrides aim-y-m)
    view_distance_m: float = 160.0

    def __post_init__(self) -> None:
        _check(0.5 <= self.height_m <= 200.0, f"height-m: expected 0.5..200, got {self.height_m}")
        _check(2.0 <= self.pitch_deg <= 85.0, f"pitch-deg: expected 2..85, got {self.pitch_deg}")
        _check(-85.0 <= self.yaw_deg <= 85.0, f"yaw-deg: expected -85..85, got {self.yaw_deg}")
        _check(15.0 <= self.fov_deg <= 120.0, f"fov-deg: expected 15..120, got {self.fov_deg}")
        _check(self.view_distance_m > 5.0, f"view-distance-m: expected > 5, got {self.view_distance_m}")

    @property
    def camera_y(self) -> float:
        if self.offset_m is not None:
            return self.offset_m
        reach = self.height_m / math.tan(math.radians(self.pitch_deg))
        return self.aim_y_m - reach * math.cos(math.radians(self.yaw_deg))


@dataclass(frozen=True)
class LaneSpec:
    """One lane: a strip of the road at lateral ``offset_m``, travelled in ``direction`` (+1/-1 along x)."""

    id: str
    offset_m: float
    direction: int
    speed_kmh: tuple[float, float]
    classes: tuple[str, ...]
    width_m: float = 3.5
    kind: LaneKind = "road"
    region: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        _check(bool(self.id), "id: must not be empty")
        _check(self.direction in (1, -1), f"direction: expected 1 or -1, got {self.direction}")
        _check_range("speed-kmh", self.speed_kmh, 0.5)
        _check(0.5 <= self.width_m <= 10.0, f"width-m: expected 0.5..10, got {self.width_m}")
        _check(bool(self.classes), "classes: at least one class")
        for cls in self.classes:
            _check(cls in CLASSES, f"classes: unknown class {cls!r} (known: {', '.join(CLASSES)})")
        _check(self.region is None or len(self.region) >= 3, "region: at least 3 points")


@dataclass(frozen=True)
class MixSpec:
    """Relative spawn weights per class (need not sum to 1; zero means never)."""

    car: float = 0.0
    bus: float = 0.0
    truck: float = 0.0
    motorcycle: float = 0.0
    bicycle: float = 0.0
    pedestrian: float = 0.0

    def __post_init__(self) -> None:
        for name, w in self.weights().items():
            _check(w >= 0.0 and math.isfinite(w), f"{name}: expected a weight >= 0, got {w}")
        _check(sum(self.weights().values()) > 0.0, "at least one class needs a weight > 0")

    def weights(self) -> dict[str, float]:
        return {cls: float(getattr(self, cls)) for cls in CLASSES}

    def shares(self) -> dict[str, float]:
        total = sum(self.weights().values())
        return {cls: w / total for cls, w in self.weights().items()}


@dataclass(frozen=True)
class ScenerySpec:
    """Static background: what lies beside the road (drawn once per renderer)."""

    ground: Ground = "grass"
    buildings: bool = True
    building_height_m: tuple[float, float] = (8.0, 24.0)
    trees_per_100m: float = 4.0
    lamps: bool = True
    crosswalk: bool = False
    layout_seed: int = 0

    def __post_init__(self) -> None:
        _check_range("building-height-m", self.building_height_m, 2.0)
        _check(0.0 <= self.trees_per_100m <= 40.0, f"trees-per-100m: expected 0..40, got {self.trees_per_100m}")


@dataclass(frozen=True)
class LineSpec:
    """The counting line: explicit pixel ends, or derived across every lane.

    Derived lines pass through the lanes' middle at road ``x = at-m`` (default: under the image
    centre). ``orientation = "image"`` makes the line perpendicular to the lanes' mean direction in
    the image; ``"road"`` makes it the projection of the road cross-section at that ``x``.
    """

    id: str = "line0"
    orientation: Literal["image", "road"] = "image"
    at_m: float | None = None
    x1: float | None = None
    y1: float | None = None
    x2: float | None = None
    y2: float | None = None

    def __post_init__(self) -> None:
        ends = (self.x1, self.y1, self.x2, self.y2)
        _check(all(e is None for e in ends) or all(e is not None for e in ends),
               "x1, y1, x2, y2: give all four or none")
        _check(self.x1 is None or (self.at_m is None and self.orientation == "image"),
               "x1..y2 exclude at-m and orientation")

    def explicit(self) -> tuple[float, float, float, float] | None:
        if self.x1 is None or self.y1 is None or self.x2 is None or self.y2 is None:
            return None
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class CountingLine:
    """A resolved counting line in pixels (``aiotwin.geometry`` convention)."""

    id: str
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def coords(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "x1": self.x1, "y1": self.y1, "x2": self.x2, "y2": self.y2}


@dataclass(frozen=True)
class CameraSpec:
    """One synthetic camera. Load with :func:`load_camera`; derive variants with ``with_*``."""

    lanes: tuple[LaneSpec, ...]
    mix: MixSpec
    name: str = ""
    description: str = ""
    width: int = 1280
    height: int = 720
    fps: float = 25.0
    camera: PerspectiveSpec = field(default_factory=PerspectiveSpec)
    scenery: ScenerySpec = field(default_factory=ScenerySpec)
    line: LineSpec = field(default_factory=LineSpec)
    density: float = 20.0
    max_objects: int = 8
    lighting: Lighting = "day"
    weather: Weather = "clear"
    noise: float = 3.0
    blur: float = 0.35
    flicker: float = 0.02
    stop_and_go: float = 0.0
    stop_s: tuple[float, float] = (1.0, 3.0)

    def __post_init__(self) -> None:
        _check(MIN_SIZE_PX <= self.width <= MAX_SIZE_PX, f"width: expected {MIN_SIZE_PX}..{MAX_SIZE_PX}")
        _check(MIN_SIZE_PX <= self.height <= MAX_SIZE_PX, f"height: expected {MIN_SIZE_PX}..{MAX_SIZE_PX}")
        _check(1.0 <= self.fps <= MAX_FPS, f"fps: expected 1..{MAX_FPS}, got {self.fps}")
        _check(self.density > 0.0, f"density: expected > 0 spawns/min, got {self.density}")
        _check(1 <= self.max_objects <= 64, f"max-objects: expected 1..64, got {self.max_objects}")
        _check(0.0 <= self.noise <= 50.0, f"noise: expected 0..50, got {self.noise}")
        _check(0.0 <= self.blur <= 1.0, f"blur: expected 0..1, got {self.blur}")
        _check(0.0 <= self.flicker <= 0.2, f"flicker: expected 0..0.2, got {self.flicker}")
        _check(0.0 <= self.stop_and_go <= 1.0, f"stop-and-go: expected 0..1, got {self.stop_and_go}")
        _check_range("stop-s", self.stop_s, 0.0)
        self._check_lanes()

    def _check_lanes(self) -> None:
        _check(bool(self.lanes), "lanes: at least one lane")
        ids = [lane.id for lane in self.lanes]
        _check(len(set(ids)) == len(ids), f"lanes: duplicate lane ids in {ids}")
        allowed = {cls for lane in self.lanes for cls in lane.classes}
        for cls, w in self.mix.weights().items():
            _check(w == 0.0 or cls in allowed, f"mix/{cls}: weight > 0 but no lane allows {cls!r}")

    def with_conditions(self, lighting: str | None = None, weather: str | None = None) -> CameraSpec:
        """The same camera under other lighting and/or weather (``None`` keeps the current one)."""
        if lighting is not None and lighting not in LIGHTINGS:
            raise SceneError(f"lighting: expected one of {', '.join(LIGHTINGS)}, got {lighting!r}")
        if weather is not None and weather not in WEATHERS:
            raise SceneError(f"weather: expected one of {', '.join(WEATHERS)}, got {weather!r}")
        return dataclasses.replace(self, lighting=cast(Lighting, lighting or self.lighting),
                                   weather=cast(Weather, weather or self.weather))

    def with_overrides(self, *, fps: float | None = None, size: tuple[int, int] | None = None) -> CameraSpec:
        """The same camera at another frame rate and/or resolution (explicit pixel geometry is scaled)."""
        spec = self
        try:
            if fps is not None:
                spec = dataclasses.replace(spec, fps=float(fps))
            if size is not None:
                spec = _resized(spec, size)
        except ValueError as exc:
            raise SceneError(f"camera {self.name!r}: {exc}") from exc
        if size is not None:
            from aiotwin.scenes._road import check_geometry

            check_geometry(spec, f"{self.name} at {size[0]}x{size[1]}")
        return spec

    @property
    def counting_line(self) -> CountingLine:
        from aiotwin.scenes._road import counting_line

        return counting_line(self)

    def lane_regions(self) -> dict[str, tuple[tuple[float, float], ...]]:
        """Image polygon of each lane (the explicit ``region`` or the strip raised to box-centre height)."""
        from aiotwin.scenes._road import lane_regions

        return lane_regions(self)


def _resized(spec: CameraSpec, size: tuple[int, int]) -> CameraSpec:
    sx, sy = size[0] / spec.width, size[1] / spec.height
    line = spec.line
    ends = line.explicit()
    if ends is not None:
        line = dataclasses.replace(line, x1=ends[0] * sx, y1=ends[1] * sy, x2=ends[2] * sx, y2=ends[3] * sy)
    lanes = tuple(
        lane if lane.region is None
        else dataclasses.replace(lane, region=tuple((x * sx, y * sy) for x, y in lane.region))
        for lane in spec.lanes
    )
    return dataclasses.replace(spec, width=size[0], height=size[1], line=line, lanes=lanes)


def camera_names() -> list[str]:
    """Names of the shipped cameras (``aiotwin/scenes/cameras/*.toml``)."""
    folder = resources.files(_CAMERAS_PACKAGE).joinpath(_CAMERAS_DIR)
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def parse_camera(text: str, *, file: str, name: str) -> CameraSpec:
    """Build a spec from TOML text; raise :class:`SceneError` (caused by the ConfigError) on problems."""
    try:
        data = parse_toml(text, file=file)
        spec = load_dataclass(CameraSpec, data, file=file, text=text)
    except ConfigError as exc:
        raise SceneError(f"invalid camera spec {file}: {exc}") from exc
    spec = spec if spec.name else dataclasses.replace(spec, name=name)
    from aiotwin.scenes._road import check_geometry

    check_geometry(spec, file)
    return spec


def load_camera(name_or_path: str) -> CameraSpec:
    """A shipped camera by name, or a camera spec TOML file by path."""
    if name_or_path in camera_names():
        res = resources.files(_CAMERAS_PACKAGE).joinpath(_CAMERAS_DIR, f"{name_or_path}.toml")
        return parse_camera(res.read_text(encoding="utf-8"), file=f"{name_or_path}.toml", name=name_or_path)
    if not name_or_path.endswith(".toml") and "/" not in name_or_path:
        known = ", ".join(camera_names())
        raise SceneError(f"unknown camera {name_or_path!r} (known: {known}; or a path to a .toml file)")
    return _load_file(name_or_path)


def _load_file(path_text: str) -> CameraSpec:
    try:
        path = Path(path_text).expanduser()
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise SceneError(f"cannot read camera spec {path_text!r}: {exc}") from exc
    return parse_camera(text, file=str(path), name=path.stem)


__all__ = [
    "LIGHTINGS", "WEATHERS", "CameraSpec", "CountingLine", "LaneSpec", "LineSpec", "MixSpec",
    "PerspectiveSpec", "ScenerySpec", "camera_names", "load_camera", "parse_camera",
]
