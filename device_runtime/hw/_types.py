"""Typed results of hardware detection and variant selection (plain data, no I/O).

``HardwareFacts`` are the raw signals read from a filesystem root; ``HardwareReport`` adds the matched
profile and the accelerators; ``RuntimeInfo`` describes the runtimes importable in *this* interpreter;
``Choice`` is what :func:`device_runtime.hw.select_variant` decided and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from device_runtime._exceptions import NoVariantError

AcceleratorKind = Literal["cuda", "edgetpu", "cpu"]
Interface = Literal["usb", "pcie", "soc"]
Backend = Literal["onnx", "tflite"]

# Strongest first: the first detected kind leads the preferred variant order.
ACCELERATOR_RANK: tuple[AcceleratorKind, ...] = ("cuda", "edgetpu", "cpu")


@dataclass(frozen=True)
class Accelerator:
    """One kind of compute unit the host has (``interface`` is ``None`` for the CPU)."""

    kind: AcceleratorKind
    interface: Interface | None
    count: int
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "interface": self.interface, "count": self.count, "detail": self.detail}


@dataclass(frozen=True)
class HardwareFacts:
    """Raw signals of one filesystem root, before any profile is applied."""

    arch: str
    cpu_cores: int
    cpu_model: str
    cpu_flags: tuple[str, ...]
    mem_total_mb: int
    dt_model: str | None = None
    dt_compatible: tuple[str, ...] = ()
    l4t: str | None = None
    usb_ids: tuple[str, ...] = ()
    dev_nodes: frozenset[str] = frozenset()
    gpu_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HardwareReport:
    """What the hardware is: the matched board profile plus the detected accelerators."""

    root: str
    profile: str
    fallback: bool
    arch: str
    cpu_cores: int
    cpu_model: str
    cpu_flags: tuple[str, ...]
    mem_total_mb: int
    accelerators: tuple[Accelerator, ...]
    model: str | None = None
    compatible: tuple[str, ...] = ()
    l4t: str | None = None
    jetpack: str | None = None
    usb_ids: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def has(self, kind: AcceleratorKind) -> bool:
        return any(a.kind == kind for a in self.accelerators)

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "fallback": self.fallback, "root": self.root, "arch": self.arch,
            "cpu_cores": self.cpu_cores, "cpu_model": self.cpu_model, "cpu_flags": list(self.cpu_flags),
            "mem_total_mb": self.mem_total_mb, "model": self.model, "compatible": list(self.compatible),
            "l4t": self.l4t, "jetpack": self.jetpack, "usb_ids": list(self.usb_ids),
            "accelerators": [a.as_dict() for a in self.accelerators], "notes": list(self.notes),
        }


@dataclass(frozen=True)
class RuntimeInfo:
    """Inference runtimes importable in the running interpreter (never read from the probed root).

    ``edgetpu_delegate`` is ``None`` when loading the libedgetpu delegate was not attempted.
    """

    onnxruntime_version: str | None = None
    ort_providers: tuple[str, ...] = ()
    tflite_module: str | None = None
    edgetpu_delegate: bool | None = None
    edgetpu_delegate_error: str | None = None
    edgetpu_compiler: str | None = None

    @property
    def has_onnxruntime(self) -> bool:
        return self.onnxruntime_version is not None

    @property
    def has_tflite(self) -> bool:
        return self.tflite_module is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "onnxruntime": self.onnxruntime_version, "ort_providers": list(self.ort_providers),
            "tflite_module": self.tflite_module, "edgetpu_delegate": self.edgetpu_delegate,
            "edgetpu_delegate_error": self.edgetpu_delegate_error, "edgetpu_compiler": self.edgetpu_compiler,
        }


@dataclass(frozen=True)
class Override:
    """A forced variant and/or backend, with where each came from (for the rejection reasons)."""

    variant: str | None = None
    backend: Backend | None = None
    variant_source: str = "AIOTWIN_VARIANT"
    backend_source: str = "AIOTWIN_BACKEND"


NO_OVERRIDE = Override()


@dataclass(frozen=True)
class Rejection:
    """A candidate variant that cannot run here, with every reason why."""

    variant: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def as_dict(self) -> dict[str, str]:
        return {"variant": self.variant, "reason": self.reason}


@dataclass(frozen=True)
class Choice:
    """Outcome of variant selection: the preferred order, the winner and every rejected candidate."""

    preferred: tuple[str, ...]
    variant: str | None
    runtime: str | None
    rejected: tuple[Rejection, ...]
    runnable: tuple[str, ...] = field(default=())

    def require(self) -> str:
        """Return the chosen variant or raise :class:`NoVariantError` listing every rejection."""
        if self.variant is None:
            why = "; ".join(f"{r.variant}: {r.reason}" for r in self.rejected) or "no candidates"
            raise NoVariantError(f"no model variant can run here ({why})")
        return self.variant

    def as_dict(self) -> dict[str, Any]:
        return {
            "preferred": list(self.preferred), "variant": self.variant, "runtime": self.runtime,
            "runnable": list(self.runnable), "rejected": [r.as_dict() for r in self.rejected],
        }


__all__ = [
    "ACCELERATOR_RANK", "NO_OVERRIDE", "Accelerator", "AcceleratorKind", "Backend", "Choice",
    "HardwareFacts", "HardwareReport", "Interface", "Override", "Rejection", "RuntimeInfo",
]
