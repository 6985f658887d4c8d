"""Labelled crops for classifier training, cut around truth boxes the way a motion detector would.

A motion detector's box holds the object *and* what moves with it: its cast shadow by day, its
headlight pool at night (:attr:`ObjectTruth.motion_box`); the pipeline then pads it by
:data:`PIPELINE_PAD` per side. Most crops (:data:`MOTION_PROB`) therefore take a box between the
object's own box and its motion box (uniformly interpolated: detections are often partial), the
rest the object's box, sometimes stretched downward over a bit of shadow and road. Every box is
padded like the pipeline's with probability :data:`PAD_PROB`, jittered by up to ``±jitter`` of its
size per edge, then resized with ``cv2.INTER_AREA`` exactly as the pipeline's
:func:`aiotwin.models.preprocess.resize_crops` does. (Training on tight boxes alone left a
train/serve gap: pipeline crops of two-wheelers are half shadow, and were called cars and trucks.) Each (camera, seed)
is sampled with its class weights flattened (square root: every class it has, none it lacks), and
each class is capped at ``per_camera / classes`` per camera, so the output is class-balanced as far
as each camera's mix allows; the remainder is filled with surplus crops of the common classes.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import SceneError
from aiotwin.geometry import Box
from aiotwin.labels import CLASS_INDEX
from aiotwin.scenes._renderer import SceneRenderer
from aiotwin.scenes._spec import LIGHTINGS, WEATHERS, CameraSpec, MixSpec, load_camera

U8Image = npt.NDArray[np.uint8]

MIXED = "mixed"
MIXED_LIGHTING = {"day": 0.5, "dusk": 0.25, "night": 0.25}
MIXED_WEATHER = {"clear": 0.6, "rain": 0.2, "fog": 0.2}
WARMUP_S = 12.0  # start each scene populated
CROP_STREAM = 11
CONDITION_STREAM = 12
MOTION_PROB = 0.7  # share of crops cut from between the object's box and its motion box
PIPELINE_PAD = 0.1  # device_runtime ClassifyConfig.padding default: share of the box per side
PAD_PROB = 0.7
SHADOW_PROB = 0.35  # share of the other crops stretched downward over the shadow/road
SHADOW_EXTRA = 0.25  # by up to this fraction of the box height
MIN_SIDE_PX = 8  # boxes smaller than this (short side) or MIN_LONG_PX (long side) are skipped
MIN_LONG_PX = 20
BALANCE_FRAMES_PER_CROP = 0.6  # sampled frames spent filling rare classes before settling for surplus
SEED_CAP_FACTOR = 2.0  # one seed may fill at most this multiple of its even share of a class
TRACK_CAP = 10  # crops per object at most (slow walkers would otherwise fill a class alone)
TRACK_GAP_FRAMES = 6  # and at least this many frames apart
MIN_BALANCE_FRAMES = 20
MAX_FRAMES_PER_CROP = 40  # hard stop for scenes that cannot deliver the quota


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _choose(options: dict[str, float], rng: np.random.Generator) -> str:
    names = list(options)
    return names[int(rng.choice(len(names), p=np.array([options[n] for n in names])))]


def conditions_for(spec: CameraSpec, seed: int, lighting: str | None, weather: str | None) -> CameraSpec:
    """Apply ``lighting``/``weather`` (``None``: the camera's own; ``"mixed"``: drawn per seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode()), CONDITION_STREAM])
    light = _choose(MIXED_LIGHTING, rng) if lighting == MIXED else lighting
    sky = _choose(MIXED_WEATHER, rng) if weather == MIXED else weather
    return spec.with_conditions(light, sky)


def detector_box(box: Box, motion_box: Box | None, rng: np.random.Generator) -> Box:
    """A box as a motion detector plus the pipeline's padding might give for an object at ``box``."""
    x1, y1, x2, y2 = box
    if motion_box is not None and rng.random() < MOTION_PROB:
        t = float(rng.uniform(0.0, 1.0))
        x1, y1, x2, y2 = (a + t * (b - a) for a, b in zip(box, motion_box, strict=True))
    elif rng.random() < SHADOW_PROB:
        y2 += float(rng.uniform(0.0, SHADOW_EXTRA)) * (y2 - y1)
    if rng.random() < PAD_PROB:
        w, h = x2 - x1, y2 - y1
        x1, y1, x2, y2 = x1 - PIPELINE_PAD * w, y1 - PIPELINE_PAD * h, x2 + PIPELINE_PAD * w, y2 + PIPELINE_PAD * h
    return (x1, y1, x2, y2)


def jittered_crop(frame: U8Image, box: Box, rng: np.random.Generator, jitter: float, size: int, *,
                  motion_box: Box | None = None) -> U8Image:
    """An RGB ``size×size`` crop around a :func:`detector_box` of ``box`` with random edge jitter."""
    x1, y1, x2, y2 = detector_box(box, motion_box, rng)
    w, h = x2 - x1, y2 - y1
    j = rng.uniform(-jitter, jitter, 4)
    x1, x2, y1, y2 = x1 + j[0] * w, x2 + j[1] * w, y1 + j[2] * h, y2 + j[3] * h
    fh, fw = frame.shape[:2]
    c0, r0 = min(max(0, math.floor(x1)), fw - 2), min(max(0, math.floor(y1)), fh - 2)
    c1, r1 = max(min(fw, math.ceil(x2)), c0 + 2), max(min(fh, math.ceil(y2)), r0 + 2)
    crop = cv2.resize(frame[r0:r1, c0:c1], (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop[:, :, ::-1])


def _usable(box: Box) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return min(w, h) >= MIN_SIDE_PX and max(w, h) >= MIN_LONG_PX


def sampling_mix(spec: CameraSpec) -> CameraSpec:
    """The camera with its class weights flattened (square root) for crop sampling.

    Every class the camera has stays, none is added; rare classes pass by more often, so the
    per-class caps fill in fewer frames.
    """
    flat = MixSpec(**{cls: math.sqrt(w) for cls, w in spec.mix.weights().items()})
    return dataclasses.replace(spec, mix=flat)


class _Collector:
    """Crops of one camera under a per-class cap over all seeds (and a softer one per seed).

    A bounded surplus fills up the quota when rare classes stay short.
    """

    def __init__(self, spec: CameraSpec, quota: int, seeds: int) -> None:
        self.present = [cls for cls, w in spec.mix.weights().items() if w > 0]
        self.cap = math.ceil(quota / len(self.present))
        self.seed_cap = math.ceil(SEED_CAP_FACTOR * self.cap / seeds)
        self.quota = quota
        self.taken: dict[str, list[U8Image]] = {cls: [] for cls in self.present}
        self.spare: list[tuple[U8Image, str]] = []
        self.this_seed: dict[str, int] = dict.fromkeys(self.present, 0)

    def start_seed(self) -> None:
        self.this_seed = dict.fromkeys(self.present, 0)

    def _takes(self, cls: str) -> bool:
        return len(self.taken[cls]) < self.cap and self.this_seed[cls] < self.seed_cap

    def wants(self, cls: str) -> bool:
        return cls in self.taken and (self._takes(cls) or len(self.spare) < self.quota - self.cap)

    def add(self, crop: U8Image, cls: str) -> None:
        if self._takes(cls):
            self.taken[cls].append(crop)
            self.this_seed[cls] += 1
        else:
            self.spare.append((crop, cls))

    def accepted(self) -> int:
        return sum(len(v) for v in self.taken.values())

    def full(self) -> bool:
        return all(len(v) >= self.cap for v in self.taken.values())

    def result(self) -> list[tuple[U8Image, str]]:
        rounds = max((len(v) for v in self.taken.values()), default=0)
        out = [(v[i], cls) for i in range(rounds) for cls, v in self.taken.items() if i < len(v)]
        return (out + self.spare)[: self.quota]


@dataclass(frozen=True)
class _Sampling:
    size: int
    min_visible: float
    jitter: float
    stride: int


def _harvest(spec: CameraSpec, seed: int, bag: _Collector, *, target: int, share: int, how: _Sampling) -> None:
    """Sample one seed's scene until ``target`` crops are accepted (or its frame budget runs out)."""
    renderer = SceneRenderer(spec, seed, warmup_s=WARMUP_S)
    rng = np.random.default_rng([seed, CROP_STREAM])
    tracks: dict[int, tuple[int, int]] = {}  # track id -> (crops taken, frame of the last one)
    balance = MIN_BALANCE_FRAMES + math.ceil(share * BALANCE_FRAMES_PER_CROP)
    for i in range(MIN_BALANCE_FRAMES + share * MAX_FRAMES_PER_CROP):
        if bag.accepted() >= target or bag.full() or (i >= balance and bag.accepted() + len(bag.spare) >= target):
            return
        truth, render = renderer.next_lazy()
        wanted = [o for o in truth.objects if _fresh(tracks, o.track_id, truth.index)
                  and o.visible_frac >= how.min_visible and _usable(o.box) and bag.wants(o.cls)]
        if wanted:
            frame = render()
            for obj in wanted:
                bag.add(jittered_crop(frame, obj.box, rng, how.jitter, how.size, motion_box=obj.motion_box), obj.cls)
                tracks[obj.track_id] = (tracks.get(obj.track_id, (0, 0))[0] + 1, truth.index)
        renderer.skip(how.stride - 1)


def _fresh(tracks: dict[int, tuple[int, int]], track_id: int, index: int) -> bool:
    taken, last = tracks.get(track_id, (0, -TRACK_GAP_FRAMES))
    return taken < TRACK_CAP and index - last >= TRACK_GAP_FRAMES


def _camera_crops(name: str, seeds: Sequence[int], per_camera: int, conditions: tuple[str | None, str | None],
                  how: _Sampling) -> list[tuple[U8Image, str]]:
    spec = sampling_mix(load_camera(name))
    bag = _Collector(spec, per_camera, len(seeds))
    shares = _split(per_camera, len(seeds))
    for k, (seed, share) in enumerate(zip(seeds, shares, strict=True)):
        if bag.full():
            break
        bag.start_seed()
        scene = conditions_for(spec, seed, *conditions)
        _harvest(scene, seed, bag, target=sum(shares[: k + 1]), share=share, how=how)
    return bag.result()


def _check_args(seeds: Sequence[int], per_camera: int, *, size: int, jitter: float, stride: int,
                lighting: str | None, weather: str | None) -> None:
    if not seeds:
        raise SceneError("crop_dataset: at least one seed")
    if per_camera < 0 or size < 8 or stride < 1 or not 0.0 <= jitter < 0.5:
        raise SceneError(f"crop_dataset: bad arguments per_camera={per_camera} size={size} "
                         f"stride={stride} jitter={jitter}")
    if lighting not in (None, MIXED, *LIGHTINGS):
        raise SceneError(f"crop_dataset: lighting must be None, {MIXED!r} or one of {LIGHTINGS}")
    if weather not in (None, MIXED, *WEATHERS):
        raise SceneError(f"crop_dataset: weather must be None, {MIXED!r} or one of {WEATHERS}")


def crop_dataset(cameras: Sequence[str], seeds: Sequence[int], per_camera: int, size: int = 64, *,
                 lighting: str | None = None, weather: str | None = None, min_visible: float = 0.6,
                 jitter: float = 0.12, stride: int = 3) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """``X``: N×size×size×3 uint8 RGB crops; ``y``: int64 indices into :data:`aiotwin.labels.CLASSES`.

    ``per_camera`` crops per camera, split over ``seeds``; ``lighting``/``weather`` ``None`` keeps
    each camera's default, ``"mixed"`` draws one per (camera, seed). Deterministic by the arguments.
    """
    _check_args(seeds, per_camera, size=size, jitter=jitter, stride=stride, lighting=lighting, weather=weather)
    how = _Sampling(size, min_visible, jitter, stride)
    items: list[tuple[U8Image, str]] = []
    for name in cameras:
        if per_camera > 0:
            items += _camera_crops(name, seeds, per_camera, (lighting, weather), how)
    x = np.stack([crop for crop, _ in items]) if items else np.zeros((0, size, size, 3), dtype=np.uint8)
    y = np.array([CLASS_INDEX[cls] for _, cls in items], dtype=np.int64)
    return x, y


__all__ = ["MIXED", "conditions_for", "crop_dataset", "detector_box", "jittered_crop"]
