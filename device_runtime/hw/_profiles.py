"""Board profiles: the schema of ``hw_profiles/*.toml`` and its loader.

The schema is the dataclasses below, read by :mod:`aiotwin.config` (unknown keys and wrong types are
rejected with file, line and key). A second pass checks what types cannot say (``name`` equals the
file name, a generic profile has an ``arch`` rule, ``power-w`` idle ≤ busy, …). Every problem of every
file is reported at once as one :class:`ProfileError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiotwin._exceptions import ConfigError, ConfigProblem
from aiotwin.bundle import VariantId
from aiotwin.config import load_toml
from device_runtime._exceptions import ProfileError
from hw_profiles import profile_paths

Extra = Literal["infer", "train", "export"]


@dataclass(frozen=True)
class MatchRules:
    """How a board is recognised; every rule that is given must hold.

    ``compatible``: globs, at least one must match an entry of ``/proc/device-tree/compatible``
    (each matching glob adds to the specificity score); ``model``: globs, one must match
    ``/proc/device-tree/model``; ``arch``: allowed ``uname -m`` values; ``nodes``: globs of device
    nodes (``dev/...``), each must exist. The matching board with the highest score wins.
    """

    compatible: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    arch: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuiltinAccelerator:
    """An accelerator the board has on board; present when one of ``nodes`` (globs) exists."""

    kind: Literal["cuda", "edgetpu"]
    interface: Literal["soc", "pcie", "usb"]
    nodes: tuple[str, ...]
    count: int = 1
    detail: str = ""


@dataclass(frozen=True)
class Threads:
    """Thread budget: ``inference`` intra-op threads of CPU runtimes, ``pipeline`` for capture/motion."""

    inference: int
    pipeline: int = 1


@dataclass(frozen=True)
class CameraDefaults:
    source: Literal["csi", "usb", "rtsp", "file", "synthetic"]
    width: int
    height: int
    fps: int


@dataclass(frozen=True)
class Power:
    """Board power draw in watts (for the emulator and energy reports)."""

    idle: float
    busy: float


@dataclass(frozen=True)
class Profile:
    """One board (or one generic architecture when ``fallback`` is true)."""

    name: str
    description: str
    match: MatchRules
    ram_mb: int
    variants: tuple[VariantId, ...]
    threads: Threads
    camera: CameraDefaults
    service_time_ms: float
    power_w: Power
    fl_client: bool
    extras: tuple[Extra, ...]
    accelerators: tuple[BuiltinAccelerator, ...] = ()
    fallback: bool = False
    soc: str = ""


def _positive(value: float, key: str) -> list[tuple[str, str]]:
    return [] if value > 0 else [(key, f"must be > 0, got {value}")]


def _semantic_problems(p: Profile, stem: str) -> list[tuple[str, str]]:
    """(key, message) for every rule the types cannot express."""
    out: list[tuple[str, str]] = []
    if p.name != stem:
        out.append(("name", f"must equal the file name {stem!r}, got {p.name!r}"))
    if p.fallback and not p.match.arch:
        out.append(("match/arch", "a fallback profile needs the architectures it stands for"))
    if not p.fallback and not (p.match.compatible or p.match.model):
        out.append(("match", "needs a compatible or model rule (or fallback = true)"))
    if not p.variants:
        out.append(("variants", "must list at least one model variant"))
    if len(set(p.variants)) != len(p.variants):
        out.append(("variants", "lists a variant twice"))
    if p.power_w.idle > p.power_w.busy:
        out.append(("power-w/idle", f"idle {p.power_w.idle} W exceeds busy {p.power_w.busy} W"))
    for i, acc in enumerate(p.accelerators):
        if not acc.nodes:
            out.append((f"accelerators[{i}]/nodes", "must name at least one device node glob"))
        out += _positive(acc.count, f"accelerators[{i}]/count")
    for key, value in (("ram-mb", p.ram_mb), ("service-time-ms", p.service_time_ms),
                       ("threads/inference", p.threads.inference), ("camera/fps", p.camera.fps)):
        out += _positive(value, key)
    return out


def load_profile(path: Path) -> Profile:
    """Load and check one profile file; raise :class:`ProfileError` naming file, key and reason."""
    try:
        profile = load_toml(Profile, path)
    except ConfigError as exc:
        raise ProfileError(f"invalid hardware profile {path}:\n  {_lines(exc.problems)}") from exc
    problems = [ConfigProblem(str(path), k, m) for k, m in _semantic_problems(profile, path.stem)]
    if problems:
        raise ProfileError(f"invalid hardware profile {path}:\n  {_lines(problems)}") from ConfigError(problems)
    return profile


def _lines(problems: Iterable[ConfigProblem]) -> str:
    return "\n  ".join(str(p) for p in problems)


def load_profiles(paths: Sequence[Path] | None = None) -> tuple[Profile, ...]:
    """Load every profile (default: the shipped ``hw_profiles/*.toml``), reporting all bad files at once."""
    if paths is None:
        paths = profile_paths()
    profiles, errors = [], []
    for path in paths:
        try:
            profiles.append(load_profile(path))
        except ProfileError as exc:
            errors.append(str(exc))
    if errors:
        raise ProfileError("\n".join(errors))
    if not profiles:
        raise ProfileError("no hardware profiles found")
    return tuple(profiles)


__all__ = [
    "BuiltinAccelerator", "CameraDefaults", "Extra", "MatchRules", "Power", "Profile", "Threads",
    "load_profile", "load_profiles",
]
