"""Road-plane perspective: the pinhole camera, polygon clipping, lane extents and the counting line.

World coordinates are metres: ``x`` along the road, ``y`` across it, ``z`` up; the road plane is
``z = 0``. The camera stands at ``(0, offset, height)``; yaw 0 looks across the road (+y), yaw 90
would look along it (+x); pitch tilts it down. Image coordinates follow OpenCV (x right, y down).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import SceneError

if TYPE_CHECKING:
    from aiotwin.scenes._spec import CameraSpec, CountingLine, PerspectiveSpec

FloatArray = npt.NDArray[np.float64]

NEAR_M = 0.5  # near clipping plane (camera-space depth)
SAMPLE_RANGE_M = 600.0  # half-length of road sampled when looking for a lane's visible extent
SAMPLE_STEP_M = 0.5
PROBE_HEIGHT_M = 4.2  # a point this high above the lane (a truck roof) must be out of view at spawn
PROBE_HALF_WIDTH_M = 1.5  # and so must points this far either side of the lane centre
REGION_HEIGHT_M = 0.8  # lane regions are drawn at the height of a typical box centre
LINE_HALF_EXTRA_M = 1.0  # the derived counting line spans the lanes plus this on each side


class PinholeCamera:
    """Projects world points to pixels; ``rot`` rows are the camera's right, down and forward axes."""

    __slots__ = ("cx", "cy", "fpx", "height", "pitch", "pos", "rot", "width")

    def __init__(self, p: PerspectiveSpec, width: int, height: int) -> None:
        yaw, pitch = math.radians(p.yaw_deg), math.radians(p.pitch_deg)
        fwd = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), -math.sin(pitch)])
        right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
        self.rot: FloatArray = np.stack([right, np.cross(fwd, right), fwd])
        self.pos: FloatArray = np.array([0.0, p.camera_y, p.height_m])
        self.fpx = (width / 2.0) / math.tan(math.radians(p.fov_deg) / 2.0)
        self.cx, self.cy = width / 2.0, height / 2.0
        self.width, self.height = width, height
        self.pitch = pitch

    def to_camera(self, pts: FloatArray) -> FloatArray:
        return (pts - self.pos) @ self.rot.T

    def project_camera(self, cam: FloatArray) -> FloatArray:
        """Pixels of camera-space points (depth clamped to the near plane)."""
        scale = self.fpx / np.maximum(cam[:, 2], NEAR_M)
        out = cam[:, :2] * scale[:, None]
        out[:, 0] += self.cx
        out[:, 1] += self.cy
        return out

    def project(self, pts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pixels and camera-space depths of world points ``(N, 3)``."""
        cam = self.to_camera(pts)
        return self.project_camera(cam), cam[:, 2]

    @property
    def horizon_y(self) -> float:
        return self.cy - self.fpx * math.tan(self.pitch)

    def centre_ground(self) -> tuple[float, float]:
        """Where the ray through the image centre meets the road plane."""
        fwd = self.rot[2]
        t = self.pos[2] / -fwd[2]
        return (float(self.pos[0] + t * fwd[0]), float(self.pos[1] + t * fwd[1]))

    def ground_distance_map(self) -> npt.NDArray[np.float32]:
        """Per-pixel distance along the view ray to the road plane (``inf`` above the horizon)."""
        us = (np.arange(self.width, dtype=np.float32) + 0.5 - self.cx) / self.fpx
        vs = (np.arange(self.height, dtype=np.float32) + 0.5 - self.cy) / self.fpx
        rot = self.rot.astype(np.float32)
        ray_z = vs[:, None] * rot[1, 2] + rot[2, 2] + us[None, :] * rot[0, 2]
        norm = np.sqrt(1.0 + us[None, :] ** 2 + vs[:, None] ** 2)
        with np.errstate(divide="ignore"):
            t = np.where(ray_z < -1e-6, np.float32(self.pos[2]) / -ray_z, np.inf)
        return (t * norm).astype(np.float32)


def clip_polygon(poly: FloatArray, normal: FloatArray, offset: float) -> FloatArray:
    """Sutherland–Hodgman: keep the part of ``poly`` where ``p · normal >= offset``."""
    if len(poly) == 0:
        return poly
    d = poly @ normal - offset
    out: list[FloatArray] = []
    n = len(poly)
    for i in range(n):
        j = (i + 1) % n
        if d[i] >= 0:
            out.append(poly[i])
        if (d[i] >= 0) != (d[j] >= 0):
            t = d[i] / (d[i] - d[j])
            out.append(poly[i] + t * (poly[j] - poly[i]))
    return np.array(out, dtype=np.float64).reshape(-1, poly.shape[1])


def project_polygon(cam: PinholeCamera, poly: FloatArray) -> FloatArray | None:
    """Pixels of a world polygon clipped at the near plane (``None`` when wholly behind it)."""
    clipped = clip_polygon(cam.to_camera(poly), np.array([0.0, 0.0, 1.0]), NEAR_M)
    if len(clipped) < 3:
        return None
    return cam.project_camera(clipped)


def clip_to_frame(poly: FloatArray, width: float, height: float) -> FloatArray:
    for normal, offset in (((1.0, 0.0), 0.0), ((-1.0, 0.0), -width), ((0.0, 1.0), 0.0), ((0.0, -1.0), -height)):
        poly = clip_polygon(poly, np.array(normal), offset)
    return poly


def clip_line_to_frame(a: FloatArray, b: FloatArray, width: float, height: float) -> FloatArray | None:
    """The infinite line through ``a`` and ``b`` clipped to the frame; rows keep a→b orientation."""
    d = b - a
    lo, hi = -math.inf, math.inf
    for k, size in ((0, width), (1, height)):
        if abs(d[k]) < 1e-9:
            if not 0.0 <= a[k] <= size:
                return None
            continue
        t0, t1 = sorted(((0.0 - a[k]) / d[k], (size - a[k]) / d[k]))
        lo, hi = max(lo, t0), min(hi, t1)
    if hi - lo < 1e-9:
        return None
    return np.stack([a + lo * d, a + hi * d])


def _in_frame(cam: PinholeCamera, pts: FloatArray) -> npt.NDArray[np.bool_]:
    uv, z = cam.project(pts)
    return (z > NEAR_M) & (uv[:, 0] >= 0) & (uv[:, 0] <= cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] <= cam.height)


def lane_extent(cam: PinholeCamera, y: float, view_m: float, x_ref: float) -> tuple[float, float] | None:
    """The run of road ``x`` around ``x_ref`` where a vehicle in the lane at ``y`` can be in view."""
    xs = np.arange(-SAMPLE_RANGE_M, SAMPLE_RANGE_M + SAMPLE_STEP_M, SAMPLE_STEP_M)
    seen = np.zeros(len(xs), dtype=bool)
    for dy in (-PROBE_HALF_WIDTH_M, 0.0, PROBE_HALF_WIDTH_M):
        for z in (0.0, PROBE_HEIGHT_M):
            seen |= _in_frame(cam, np.stack([xs, np.full_like(xs, y + dy), np.full_like(xs, z)], axis=1))
    seen &= np.hypot(xs - cam.pos[0], y - cam.pos[1]) <= view_m
    idx = int(np.argmin(np.abs(xs - x_ref)))
    if not seen[idx]:
        return None
    lo, hi = idx, idx
    while lo > 0 and seen[lo - 1]:
        lo -= 1
    while hi < len(xs) - 1 and seen[hi + 1]:
        hi += 1
    return (float(xs[lo]), float(xs[hi]))


@functools.lru_cache(maxsize=64)
def camera_for(spec: CameraSpec) -> PinholeCamera:
    return PinholeCamera(spec.camera, spec.width, spec.height)


def line_x(spec: CameraSpec) -> float:
    """Road ``x`` of the counting line (``at-m`` or under the image centre)."""
    if spec.line.at_m is not None:
        return spec.line.at_m
    return camera_for(spec).centre_ground()[0]


def _lateral_span(spec: CameraSpec) -> tuple[float, float]:
    lo = min(lane.offset_m - lane.width_m / 2 for lane in spec.lanes)
    hi = max(lane.offset_m + lane.width_m / 2 for lane in spec.lanes)
    return lo, hi


def _lane_direction(cam: PinholeCamera, x0: float, y: float) -> FloatArray:
    uv, _ = cam.project(np.array([[x0 - 1.0, y, REGION_HEIGHT_M], [x0 + 1.0, y, REGION_HEIGHT_M]]))
    d = uv[1] - uv[0]
    return np.asarray(d / max(1e-9, float(np.linalg.norm(d))), dtype=np.float64)


def _derived_ends(spec: CameraSpec, cam: PinholeCamera) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Two points of the counting line (before clipping) and a visibility flag per point."""
    x0 = line_x(spec)
    lo, hi = _lateral_span(spec)
    if spec.line.orientation == "road":  # the projection of the road cross-section at x0
        uv, z = cam.project(np.array([[x0, lo - LINE_HALF_EXTRA_M, 0.0], [x0, hi + LINE_HALF_EXTRA_M, 0.0]]))
        return uv[0], uv[1], z
    # Default: through the middle of the lanes, perpendicular (in the image) to their mean direction.
    mid = sum(lane.offset_m for lane in spec.lanes) / len(spec.lanes)
    uv, z = cam.project(np.array([[x0, mid, REGION_HEIGHT_M]]))
    mean = np.sum([_lane_direction(cam, x0, lane.offset_m) for lane in spec.lanes], axis=0)
    normal = np.array([-mean[1], mean[0]])
    if normal[1] < 0:  # ends run top to bottom, whatever the lanes' direction
        normal = -normal
    return uv[0], uv[0] + normal, np.concatenate([z, z])


@functools.lru_cache(maxsize=64)
def counting_line(spec: CameraSpec) -> CountingLine:
    from aiotwin.scenes._spec import CountingLine

    ends = spec.line.explicit()
    if ends is not None:
        return CountingLine(spec.line.id, *ends)
    cam = camera_for(spec)
    a, b, z = _derived_ends(spec, cam)
    seg = clip_line_to_frame(a, b, cam.width, cam.height) if (z > NEAR_M).all() else None
    if seg is None:
        raise SceneError(f"camera {spec.name!r}: the counting line is not in view")
    x1, y1, x2, y2 = (round(float(v), 2) for v in seg.ravel())
    return CountingLine(spec.line.id, x1, y1, x2, y2)


def _crossing_point(cam: PinholeCamera, line: FloatArray, x0: float, y: float) -> FloatArray | None:
    """Where the lane at ``y`` (at box-centre height) meets the counting line, in pixels."""
    uv, z = cam.project(np.array([[x0 - 1.0, y, REGION_HEIGHT_M], [x0 + 1.0, y, REGION_HEIGHT_M]]))
    if (z <= NEAR_M).any():
        return None
    p, r = uv[0], uv[1] - uv[0]
    q, s = line[:2], line[2:] - line[:2]
    denom = r[0] * s[1] - r[1] * s[0]
    if abs(denom) < 1e-9:
        return None
    t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / denom
    return np.asarray(p + t * r, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def lane_regions(spec: CameraSpec) -> dict[str, tuple[tuple[float, float], ...]]:
    cam = camera_for(spec)
    out: dict[str, tuple[tuple[float, float], ...]] = {}
    for lane in spec.lanes:
        if lane.region is not None:
            out[lane.id] = lane.region
            continue
        x0, x1 = -SAMPLE_RANGE_M, SAMPLE_RANGE_M
        y0, y1 = lane.offset_m - lane.width_m / 2, lane.offset_m + lane.width_m / 2
        z = REGION_HEIGHT_M
        poly = project_polygon(cam, np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]]))
        poly = clip_to_frame(poly, cam.width, cam.height) if poly is not None else np.zeros((0, 2))
        out[lane.id] = tuple((round(float(u), 1), round(float(v), 1)) for u, v in poly)
    return out


def check_geometry(spec: CameraSpec, file: str) -> None:
    """The counting line must be in view, and every lane must meet it inside the frame."""
    cam = camera_for(spec)
    try:
        line = np.array(counting_line(spec).coords)
    except SceneError as exc:
        raise SceneError(f"{file} line: {exc}") from exc
    x0 = line_x(spec)
    for i, lane in enumerate(spec.lanes):
        hit = _crossing_point(cam, line, x0, lane.offset_m)
        inside = hit is not None and 0 <= hit[0] <= cam.width and 0 <= hit[1] <= cam.height
        if not inside or lane_extent(cam, lane.offset_m, spec.camera.view_distance_m, x0) is None:
            raise SceneError(f"{file} lanes[{i}] ({lane.id}): the lane does not cross the counting line in view")


__all__ = [
    "NEAR_M", "PinholeCamera", "camera_for", "check_geometry", "clip_line_to_frame", "clip_polygon",
    "clip_to_frame", "counting_line", "lane_extent", "lane_regions", "line_x", "project_polygon",
]
