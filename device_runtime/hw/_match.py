"""Pure interpretation of :class:`HardwareFacts`: which profile, which accelerators, which variant order.

Generic code over data: the profiles' match rules and the signal tables below. There is no code per
board; a new board is a new ``hw_profiles/<board>.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from device_runtime._exceptions import ProfileError
from device_runtime.hw._parse import jetpack_for
from device_runtime.hw._profiles import MatchRules, Profile
from device_runtime.hw._types import (
    ACCELERATOR_RANK,
    Accelerator,
    AcceleratorKind,
    HardwareFacts,
    HardwareReport,
    Interface,
)


@dataclass(frozen=True)
class NodeSignal:
    """A ``/dev`` node glob that shows an accelerator; ``counted``: one unit per matching node."""

    glob: str
    kind: AcceleratorKind
    interface: Interface
    counted: bool
    detail: str = ""


# Device nodes not claimed by a board's built-in accelerators.
NODE_SIGNALS: tuple[NodeSignal, ...] = (
    NodeSignal("dev/apex_*", "edgetpu", "pcie", counted=True, detail="Coral PCIe/M.2 Edge TPU (gasket)"),
    NodeSignal("dev/nvidia[0-9]*", "cuda", "pcie", counted=True, detail="NVIDIA GPU"),
    NodeSignal("dev/nvhost-*", "cuda", "soc", counted=False, detail="Tegra GPU (nvhost)"),
    NodeSignal("dev/nvgpu", "cuda", "soc", counted=False, detail="Tegra GPU (nvgpu)"),
)

# USB vendor:product → accelerator. The Coral USB Accelerator enumerates as 1a6e:089a (Global Unichip)
# until libedgetpu loads its firmware, then as 18d1:9302 (Google): both are one Edge TPU.
USB_SIGNALS: dict[str, tuple[AcceleratorKind, str]] = {
    "1a6e:089a": ("edgetpu", "Coral USB Accelerator (firmware not loaded yet)"),
    "18d1:9302": ("edgetpu", "Coral USB Accelerator"),
}

# The variants each accelerator runs best, in order; walked in ACCELERATOR_RANK order.
ACCELERATOR_VARIANTS: dict[AcceleratorKind, tuple[str, ...]] = {
    "cuda": ("onnx-fp16",),  # TensorRT / CUDA execution providers
    "edgetpu": ("tflite-edgetpu", "tflite-int8"),  # the int8 model is the Edge TPU compiler's input
}


def _any_match(values: Iterable[str], pattern: str) -> bool:
    return any(fnmatchcase(v, pattern) for v in values)


def match_score(rules: MatchRules, facts: HardwareFacts) -> int | None:
    """``None`` when a rule fails, else how many rules held (more = more specific)."""
    if rules.arch and facts.arch not in rules.arch:
        return None
    score = 0
    if rules.compatible:
        hits = sum(_any_match(facts.dt_compatible, pat) for pat in rules.compatible)
        if not hits:
            return None
        score += hits
    if rules.model:
        if facts.dt_model is None or not any(fnmatchcase(facts.dt_model, m) for m in rules.model):
            return None
        score += 1
    for pat in rules.nodes:
        if not _any_match(facts.dev_nodes, pat):
            return None
        score += 1
    return score


def match_profile(facts: HardwareFacts, profiles: Sequence[Profile]) -> tuple[Profile, bool, tuple[str, ...]]:
    """The most specific board whose rules all hold, else the generic profile of the architecture.

    Returns ``(profile, fallback, notes)``; raises :class:`ProfileError` when not even a generic
    profile covers ``facts.arch``.
    """
    scored = [(s, p.name, p) for p in profiles if not p.fallback and (s := match_score(p.match, facts)) is not None]
    if scored:
        scored.sort(key=lambda t: (-t[0], t[1]))
        ties = [name for s, name, _ in scored[1:] if s == scored[0][0]]
        notes = (f"also matched equally: {', '.join(ties)}",) if ties else ()
        return scored[0][2], False, notes
    generic = sorted((p for p in profiles if p.fallback and facts.arch in p.match.arch), key=lambda p: p.name)
    if not generic:
        raise ProfileError(f"no hardware profile matches this board and none is generic for arch {facts.arch}")
    board = f"board {facts.dt_model!r}" if facts.dt_model else "this board"
    return generic[0], True, (f"no profile matches {board}: using generic {generic[0].name}",)


def _builtin(facts: HardwareFacts, profile: Profile) -> tuple[list[Accelerator], set[str], list[str]]:
    found, claimed, notes = [], set(), []
    for acc in profile.accelerators:
        hits = {n for n in facts.dev_nodes if any(fnmatchcase(n, g) for g in acc.nodes)}
        claimed |= hits
        if hits:
            found.append(Accelerator(acc.kind, acc.interface, acc.count, acc.detail))
        else:
            notes.append(f"{profile.name} has a built-in {acc.kind} ({acc.interface}) but none of "
                         f"{', '.join(acc.nodes)} exists: driver not loaded or not passed to this container?")
    return found, claimed, notes


def _from_nodes(nodes: frozenset[str], gpu_names: tuple[str, ...]) -> list[Accelerator]:
    found = []
    for sig in NODE_SIGNALS:
        hits = [n for n in nodes if fnmatchcase(n, sig.glob)]
        if hits:
            detail = ", ".join(gpu_names) if sig.kind == "cuda" and sig.interface == "pcie" and gpu_names else ""
            found.append(Accelerator(sig.kind, sig.interface, len(hits) if sig.counted else 1,
                                     detail or sig.detail))
    return found


def _from_usb(usb_ids: Iterable[str]) -> list[Accelerator]:
    return [Accelerator(USB_SIGNALS[i][0], "usb", 1, USB_SIGNALS[i][1]) for i in usb_ids if i in USB_SIGNALS]


def _merge(found: Iterable[Accelerator]) -> tuple[Accelerator, ...]:
    """One entry per (kind, interface), counts summed, strongest kind first."""
    merged: dict[tuple[str, str | None], Accelerator] = {}
    for acc in found:
        key = (acc.kind, acc.interface)
        prev = merged.get(key)
        if prev is None:
            merged[key] = acc
            continue
        details = dict.fromkeys(d for d in (prev.detail, acc.detail) if d)
        merged[key] = Accelerator(acc.kind, acc.interface, prev.count + acc.count, " / ".join(details))
    order = {kind: i for i, kind in enumerate(ACCELERATOR_RANK)}
    return tuple(sorted(merged.values(), key=lambda a: (order[a.kind], a.interface or "")))


def find_accelerators(facts: HardwareFacts, profile: Profile) -> tuple[tuple[Accelerator, ...], tuple[str, ...]]:
    """Accelerators of the host: the board's built-ins, then generic node and USB signals, then the CPU."""
    found, claimed, notes = _builtin(facts, profile)
    found += _from_nodes(facts.dev_nodes - claimed, facts.gpu_names)
    found += _from_usb(facts.usb_ids)
    found.append(Accelerator("cpu", None, facts.cpu_cores, facts.cpu_model))
    return _merge(found), tuple(notes)


def preferred_variants(profile: Profile, accelerators: Iterable[Accelerator]) -> tuple[str, ...]:
    """Variants of the strongest accelerators first, then the profile's own order as fallbacks."""
    kinds = {a.kind for a in accelerators}
    lead = [v for kind in ACCELERATOR_RANK if kind in kinds for v in ACCELERATOR_VARIANTS.get(kind, ())]
    return tuple(dict.fromkeys([*lead, *profile.variants]))


def build_report(facts: HardwareFacts, profiles: Sequence[Profile], root: str = "/") -> tuple[HardwareReport, Profile]:
    """Match ``facts`` against ``profiles`` and describe the host; pure."""
    profile, fallback, match_notes = match_profile(facts, profiles)
    accelerators, acc_notes = find_accelerators(facts, profile)
    report = HardwareReport(
        root=root, profile=profile.name, fallback=fallback, arch=facts.arch, cpu_cores=facts.cpu_cores,
        cpu_model=facts.cpu_model, cpu_flags=facts.cpu_flags, mem_total_mb=facts.mem_total_mb,
        accelerators=accelerators, model=facts.dt_model, compatible=facts.dt_compatible, l4t=facts.l4t,
        jetpack=jetpack_for(facts.l4t), usb_ids=facts.usb_ids,
        notes=(*facts.notes, *match_notes, *acc_notes),
    )
    return report, profile


__all__ = [
    "ACCELERATOR_VARIANTS", "NODE_SIGNALS", "USB_SIGNALS", "NodeSignal", "build_report", "find_accelerators",
    "match_profile", "match_score", "preferred_variants",
]
