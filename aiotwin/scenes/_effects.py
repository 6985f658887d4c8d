"""Per-frame camera effects: illumination flicker, sensor noise and rain streaks.

Drawing fresh noise for 2.7 M values a frame is too slow, so noise and rain are precomputed tiles a
little larger than the frame, cached per size, and each frame reads them at an offset taken from a
seeded table indexed by the frame number. Frames therefore depend only on ``(spec, seed, index)``.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import numpy.typing as npt

from aiotwin.scenes._look import Look

U8Image = npt.NDArray[np.uint8]

TILE_PAD = 64  # extra rows/columns of the noise and rain tiles (the offset range)
OFFSET_TABLE = 4096
NOISE_SEED = 0x5EED
NOISE_STEPS = 2  # sigma is rounded to 1/NOISE_STEPS grey levels so few tiles are cached
RAIN_SEED = 0xA1
RAIN_LAYERS = 4
RAIN_STREAKS_PER_MPX = 700
RAIN_LENGTH_PX = (10.0, 28.0)  # at 720 rows; scaled with the frame height
RAIN_SLANT = 0.18  # horizontal drift per unit of fall
RAIN_LEVEL = (10, 30)
FLICKER_HZ = (0.11, 0.37, 1.3)
FLICKER_WEIGHTS = (0.5, 0.3, 0.2)
FX_STREAM = 7


def _unit_noise(height: int, width: int) -> npt.NDArray[np.float32]:
    # Not cached: the float32 field is ~12 MB at 720p and only needed to build a uint8 tile (cached below).
    rng = np.random.default_rng(NOISE_SEED)
    return rng.standard_normal((height + TILE_PAD, width + TILE_PAD, 3), dtype=np.float32)


@functools.lru_cache(maxsize=12)
def noise_tile(height: int, width: int, sigma_tenths: int) -> U8Image:
    """Gaussian sensor noise around 128 (so ``frame + tile - 128`` adds zero-mean noise)."""
    noise = _unit_noise(height, width) * np.float32(sigma_tenths / 10.0) + np.float32(128.5)
    tile = np.asarray(np.clip(noise, 0, 255), dtype=np.uint8)
    tile.setflags(write=False)
    return tile


def _streaks(rng: np.random.Generator, height: int, width: int) -> U8Image:
    layer = np.zeros((height + TILE_PAD, width + TILE_PAD), dtype=np.uint8)
    n = int(RAIN_STREAKS_PER_MPX * layer.size / 1e6)
    scale = height / 720.0
    xs = rng.uniform(0, layer.shape[1], n)
    ys = rng.uniform(0, layer.shape[0], n)
    lengths = rng.uniform(*RAIN_LENGTH_PX, n) * scale
    levels = rng.integers(*RAIN_LEVEL, n)
    for x, y, length, level in zip(xs, ys, lengths, levels, strict=True):
        end = (round(x + RAIN_SLANT * length), round(y + length))
        cv2.line(layer, (round(x), round(y)), end, int(level), 1, cv2.LINE_AA)
    return np.asarray(cv2.cvtColor(layer, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


@functools.lru_cache(maxsize=4)
def rain_layers(height: int, width: int) -> tuple[U8Image, ...]:
    rng = np.random.default_rng(RAIN_SEED)
    layers = tuple(_streaks(rng, height, width) for _ in range(RAIN_LAYERS))
    for layer in layers:
        layer.setflags(write=False)
    return layers


class Effects:
    """Applies flicker, noise and rain to a drawn frame (returns a new array)."""

    def __init__(self, look: Look, *, noise: float, flicker: float, fps: float, seed: int,
                 size: tuple[int, int]) -> None:
        width, height = size
        sigma = noise * look.noise_gain
        self._noise = noise_tile(height, width, round(sigma * NOISE_STEPS) * 10 // NOISE_STEPS) if sigma > 0 else None
        self._rain = rain_layers(height, width) if look.rain else None
        rng = np.random.default_rng([seed, FX_STREAM])
        self._offsets = rng.integers(0, TILE_PAD, size=(OFFSET_TABLE, 4))
        self._phases = rng.uniform(0.0, 2.0 * math.pi, len(FLICKER_HZ))
        self._flicker = flicker
        self._fps = fps
        self._size = (height, width)

    def gain(self, index: int) -> float:
        t = index / self._fps
        wave = sum(w * math.sin(2.0 * math.pi * hz * t + ph)
                   for w, hz, ph in zip(FLICKER_WEIGHTS, FLICKER_HZ, self._phases, strict=True))
        return 1.0 + self._flicker * wave

    def apply(self, frame: U8Image, index: int) -> U8Image:
        h, w = self._size
        oy, ox, ry, rx = (int(v) for v in self._offsets[index % OFFSET_TABLE])
        out = np.empty_like(frame)
        if self._noise is not None:
            cv2.addWeighted(frame, self.gain(index), self._noise[oy:oy + h, ox:ox + w], 1.0, -128.0, dst=out)
        else:
            cv2.convertScaleAbs(frame, out, alpha=self.gain(index))
        if self._rain is not None:
            layer = self._rain[index % RAIN_LAYERS]
            cv2.add(out, layer[ry:ry + h, rx:rx + w], dst=out)
        return out


__all__ = ["Effects", "noise_tile", "rain_layers"]
