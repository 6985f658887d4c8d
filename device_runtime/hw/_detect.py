"""The I/O edge of detection: probe a root, load the profiles, look at the model bundle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiotwin.bundle import MANIFEST, VARIANT_IDS, default_bundle_dir, load_bundle
from device_runtime.hw._match import build_report
from device_runtime.hw._probe import probe_facts
from device_runtime.hw._profiles import Profile, load_profiles
from device_runtime.hw._runner import CommandRunner
from device_runtime.hw._types import HardwareReport

DEFAULT_BUNDLE_ARCH = "edge"
# Without a bundle on disk, assume the usual build: every variant except the Edge TPU one, which needs
# the Edge TPU compiler (x86-64 Linux only) at build time.
ASSUMED_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANT_IDS if v != "tflite-edgetpu")


@dataclass(frozen=True)
class Detection:
    """A probed host: its report and the profile it matched."""

    report: HardwareReport
    profile: Profile


@dataclass(frozen=True)
class BundleVariants:
    """The variants a model bundle offers (``found`` is false when they are assumed)."""

    path: str
    found: bool
    variants: tuple[str, ...]
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "found": self.found, "variants": list(self.variants), "note": self.note}


def detect_hardware(root: Path = Path("/"), *, profiles: Sequence[Profile] | None = None,
                    runner: CommandRunner | None = None) -> Detection:
    """Probe ``root`` and match it against ``profiles`` (default: the shipped ones)."""
    facts = probe_facts(root, runner)
    report, profile = build_report(facts, load_profiles() if profiles is None else profiles, str(root))
    return Detection(report, profile)


def bundle_variants(path: Path | None = None) -> BundleVariants:
    """Variants of the bundle at ``path``; the default bundle may be absent (then variants are assumed).

    An explicit ``path`` that has no valid manifest raises :class:`aiotwin.BundleError`.
    """
    target = default_bundle_dir(DEFAULT_BUNDLE_ARCH) if path is None else path
    if path is None and not (target / MANIFEST).is_file():
        note = f"no bundle at {target} yet: assuming {', '.join(ASSUMED_VARIANTS)}"
        return BundleVariants(str(target), False, ASSUMED_VARIANTS, note)
    offered = load_bundle(target).manifest.variants
    return BundleVariants(str(target), True, tuple(v for v in VARIANT_IDS if v in offered))


__all__ = ["ASSUMED_VARIANTS", "DEFAULT_BUNDLE_ARCH", "BundleVariants", "Detection", "bundle_variants",
           "detect_hardware"]
