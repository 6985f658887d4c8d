"""Hardware detection and model-variant selection for the camera node.

Flow (I/O only at the two ends)::

    probe_facts(root, runner)           read /proc, /sys, /dev, /etc of a root   → HardwareFacts
    build_report(facts, profiles)       match hw_profiles/*.toml (pure)          → HardwareReport, Profile
    probe_runtimes()                    importable runtimes of this interpreter  → RuntimeInfo
    select_variant(report, profile, available, runtime, override)   (pure)      → Choice

:func:`detect_hardware` and :func:`bundle_variants` wrap the I/O steps. Importing this package imports
no heavy backend: :func:`probe_runtimes` imports onnxruntime (and LiteRT only to try the Edge TPU
delegate) when it is called.
"""

from __future__ import annotations

from device_runtime.hw._detect import (
    ASSUMED_VARIANTS,
    BundleVariants,
    Detection,
    bundle_variants,
    detect_hardware,
)
from device_runtime.hw._match import (
    ACCELERATOR_VARIANTS,
    build_report,
    find_accelerators,
    match_profile,
    preferred_variants,
)
from device_runtime.hw._probe import probe_facts
from device_runtime.hw._profiles import (
    BuiltinAccelerator,
    CameraDefaults,
    MatchRules,
    Power,
    Profile,
    Threads,
    load_profile,
    load_profiles,
)
from device_runtime.hw._rootfs import RootFS
from device_runtime.hw._runner import CommandRunner, recorded_runner, runner_for_root, subprocess_runner
from device_runtime.hw._runtime import probe_runtimes
from device_runtime.hw._select import (
    ENV_BACKEND,
    ENV_VARIANT,
    rejection_reasons,
    resolve_override,
    select_variant,
)
from device_runtime.hw._types import (
    NO_OVERRIDE,
    Accelerator,
    Choice,
    HardwareFacts,
    HardwareReport,
    Override,
    Rejection,
    RuntimeInfo,
)

__all__ = [
    "ACCELERATOR_VARIANTS",
    "ASSUMED_VARIANTS",
    "ENV_BACKEND",
    "ENV_VARIANT",
    "NO_OVERRIDE",
    "Accelerator",
    "BuiltinAccelerator",
    "BundleVariants",
    "CameraDefaults",
    "Choice",
    "CommandRunner",
    "Detection",
    "HardwareFacts",
    "HardwareReport",
    "MatchRules",
    "Override",
    "Power",
    "Profile",
    "Rejection",
    "RootFS",
    "RuntimeInfo",
    "Threads",
    "build_report",
    "bundle_variants",
    "detect_hardware",
    "find_accelerators",
    "load_profile",
    "load_profiles",
    "match_profile",
    "preferred_variants",
    "probe_facts",
    "probe_runtimes",
    "recorded_runner",
    "rejection_reasons",
    "resolve_override",
    "runner_for_root",
    "select_variant",
    "subprocess_runner",
]
