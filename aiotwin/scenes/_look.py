"""Lighting and weather as data: one :class:`Look` per (lighting, weather) pair.

Every colour in the scene is authored for a clear day; a look turns it into the final colour with a
per-channel tint (light level and colour temperature) and an exponential fog toward ``fog_colour``.
Lamps (head/tail lights, lit bus windows, street lamps) are emissive: they skip the tint when on.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aiotwin.scenes._models import LIGHT_GLASS, LIGHT_HEAD, LIGHT_TAIL

BGR = tuple[float, float, float]


@dataclass(frozen=True)
class Look:
    tint: BGR  # multiplies day colours (light level × colour temperature)
    sky_top: BGR
    sky_horizon: BGR
    fog_colour: BGR
    fog_m: float  # e-folding distance of the fog/haze
    shadow: float  # how much a cast shadow darkens the ground (0: no shadows)
    lights_on: bool
    glow: float  # additive halo strength around lamps (0..1)
    beam: float  # headlight pool on the road (0..1)
    noise_gain: float  # sensor gain: multiplies the camera's noise sigma
    rain: bool = False


_LIGHTING: dict[str, Look] = {
    "day": Look(tint=(1.0, 1.0, 1.0), sky_top=(225, 185, 140), sky_horizon=(235, 220, 205),
                fog_colour=(225, 215, 205), fog_m=1200.0, shadow=0.42, lights_on=False, glow=0.0, beam=0.0,
                noise_gain=1.0),
    "dusk": Look(tint=(0.5, 0.56, 0.72), sky_top=(110, 70, 60), sky_horizon=(100, 150, 235),
                 fog_colour=(90, 100, 130), fog_m=900.0, shadow=0.15, lights_on=True, glow=0.55, beam=0.2,
                 noise_gain=1.6),
    "night": Look(tint=(0.3, 0.3, 0.32), sky_top=(22, 12, 8), sky_horizon=(45, 35, 32),
                  fog_colour=(35, 32, 30), fog_m=700.0, shadow=0.0, lights_on=True, glow=1.0, beam=0.5,
                  noise_gain=2.2),
}

RAIN_DIM = 0.78
RAIN_FOG_M = 220.0
RAIN_SHADOW = 0.35  # fraction of the clear-weather shadow left under an overcast sky
FOG_M = 55.0
FOG_GREY = 195.0

LAMP_ON: dict[int, BGR] = {
    LIGHT_HEAD: (235, 250, 255),
    LIGHT_TAIL: (60, 50, 255),
    LIGHT_GLASS: (120, 200, 235),
}


@functools.cache
def look_for(lighting: str, weather: str) -> Look:
    base = _LIGHTING[lighting]
    if weather == "rain":
        tint = (base.tint[0] * RAIN_DIM, base.tint[1] * RAIN_DIM, base.tint[2] * RAIN_DIM)
        return dataclasses.replace(base, tint=tint, fog_m=min(base.fog_m, RAIN_FOG_M),
                                   shadow=base.shadow * RAIN_SHADOW, rain=True)
    if weather == "fog":
        level = sum(base.tint) / 3.0
        grey = (FOG_GREY * level, FOG_GREY * level, FOG_GREY * level * 1.02)
        return dataclasses.replace(base, fog_colour=grey, fog_m=FOG_M, shadow=0.0, sky_top=grey, sky_horizon=grey)
    return base


def fog_factor(look: Look, distance: float) -> float:
    return 1.0 - float(np.exp(-distance / look.fog_m))


def lit_colours(look: Look, colours: npt.NDArray[np.float64], lights: npt.NDArray[np.int8],
                distance: float) -> list[tuple[int, int, int]]:
    """Final BGR of a model's colour table seen at ``distance`` metres under ``look``."""
    f = fog_factor(look, distance)
    out = colours * np.asarray(look.tint) * (1.0 - f) + np.asarray(look.fog_colour) * f
    if look.lights_on:
        for kind, bgr in LAMP_ON.items():
            mask = lights == kind
            if mask.any():
                out[mask] = np.asarray(bgr) * (1.0 - 0.5 * f) + np.asarray(look.fog_colour) * 0.5 * f
    return [(int(b), int(g), int(r)) for b, g, r in np.clip(out, 0.0, 255.0)]


__all__ = ["LAMP_ON", "Look", "fog_factor", "lit_colours", "look_for"]
