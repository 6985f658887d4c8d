"""Pure model-variant selection: hardware + profile + bundle + runtimes + override → :class:`Choice`.

Candidates are walked in the hardware's preferred order (a forced variant first); each one is checked
against every requirement and *all* failed requirements are kept as its rejection reasons, so
``detect`` and ``doctor`` can say exactly why a faster variant was not taken.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import cast

from aiotwin._exceptions import ConfigError, ConfigProblem
from aiotwin.bundle import VARIANT_IDS, VARIANT_RUNTIME
from device_runtime.hw._match import preferred_variants
from device_runtime.hw._profiles import Profile
from device_runtime.hw._types import (
    NO_OVERRIDE,
    AcceleratorKind,
    Backend,
    Choice,
    HardwareReport,
    Override,
    Rejection,
    RuntimeInfo,
)

ENV_VARIANT = "AIOTWIN_VARIANT"
ENV_BACKEND = "AIOTWIN_BACKEND"
BACKEND_RUNTIME: dict[str, str] = {"onnx": "onnxruntime", "tflite": "litert"}
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class Needs:
    """What a variant needs beyond its runtime being importable."""

    accelerator: AcceleratorKind | None = None
    providers: tuple[str, ...] = ()  # at least one of these onnxruntime execution providers
    edgetpu_delegate: bool = False


VARIANT_NEEDS: dict[str, Needs] = {
    "onnx-fp32": Needs(),
    "onnx-int8": Needs(),
    "onnx-fp16": Needs(accelerator="cuda", providers=GPU_PROVIDERS),
    "tflite-int8": Needs(),
    "tflite-edgetpu": Needs(accelerator="edgetpu", edgetpu_delegate=True),
}
ACCELERATOR_MISSING: dict[str, str] = {"cuda": "no CUDA GPU detected", "edgetpu": "no Edge TPU detected"}
BUNDLE_MISSING_HINT: dict[str, str] = {"tflite-edgetpu": " (no Edge TPU compiler when it was built)"}
RUNTIME_MISSING: dict[str, str] = {
    "onnxruntime": "onnxruntime not installed",
    "litert": "ai_edge_litert/tflite_runtime not installed",
}


def _override_reasons(variant: str, override: Override) -> list[str]:
    out = []
    if override.variant is not None and variant != override.variant:
        out.append(f"overridden by {override.variant_source}={override.variant}")
    if override.backend is not None and VARIANT_RUNTIME[variant] != BACKEND_RUNTIME[override.backend]:
        out.append(f"{override.backend_source}={override.backend} allows only "
                   f"{BACKEND_RUNTIME[override.backend]} variants")
    return out


def _delegate_reason(runtime: RuntimeInfo, has_edgetpu: bool) -> list[str]:
    if runtime.edgetpu_delegate is False:
        detail = f": {runtime.edgetpu_delegate_error}" if runtime.edgetpu_delegate_error else ""
        return [f"libedgetpu delegate not loadable{detail}"]
    if runtime.edgetpu_delegate is None and has_edgetpu:
        return ["libedgetpu delegate not checked"]
    return []


def _runtime_reasons(variant: str, runtime: RuntimeInfo, has_edgetpu: bool) -> list[str]:
    engine, needs = VARIANT_RUNTIME[variant], VARIANT_NEEDS[variant]
    installed = runtime.has_onnxruntime if engine == "onnxruntime" else runtime.has_tflite
    if not installed:
        return [RUNTIME_MISSING[engine]]
    if needs.providers and not set(needs.providers) & set(runtime.ort_providers):
        return [f"onnxruntime has no {' or '.join(needs.providers)}"]
    return _delegate_reason(runtime, has_edgetpu) if needs.edgetpu_delegate else []


def rejection_reasons(variant: str, report: HardwareReport, available: Collection[str],
                      runtime: RuntimeInfo, override: Override = NO_OVERRIDE) -> tuple[str, ...]:
    """Every reason ``variant`` cannot run here (empty: it can)."""
    reasons = _override_reasons(variant, override)
    if variant not in available:
        reasons.append(f"bundle has no {variant} variant{BUNDLE_MISSING_HINT.get(variant, '')}")
    need = VARIANT_NEEDS[variant].accelerator
    if need is not None and not report.has(need):
        reasons.append(ACCELERATOR_MISSING[need])
    reasons += _runtime_reasons(variant, runtime, report.has("edgetpu"))
    return tuple(reasons)


def select_variant(report: HardwareReport, profile: Profile, available: Collection[str],
                   runtime: RuntimeInfo, override: Override = NO_OVERRIDE) -> Choice:
    """Choose the first preferred variant that exists in the bundle and can run with ``runtime``."""
    preferred = preferred_variants(profile, report.accelerators)
    forced = [override.variant] if override.variant is not None else []
    rejected, runnable = [], []
    for variant in dict.fromkeys([*forced, *preferred]):
        reasons = rejection_reasons(variant, report, available, runtime, override)
        if reasons:
            rejected.append(Rejection(variant, reasons))
        else:
            runnable.append(variant)
    chosen = runnable[0] if runnable else None
    return Choice(preferred=preferred, variant=chosen, runtime=VARIANT_RUNTIME[chosen] if chosen else None,
                  rejected=tuple(rejected), runnable=tuple(runnable))


def _pick(env: Mapping[str, str], name: str, config_value: str | None,
          config_where: str, key: str) -> tuple[str | None, str, ConfigProblem]:
    """(value, source label, problem template) from the environment, else from the config."""
    if env.get(name):
        return env[name].strip(), name, ConfigProblem("environment", name, "")
    return config_value, f"{config_where} {key}", ConfigProblem(config_where, key, "")


def resolve_override(env: Mapping[str, str], variant: str | None = None, backend: str | None = None,
                     *, config_where: str = "config") -> Override:
    """Forced variant/backend: ``AIOTWIN_VARIANT``/``AIOTWIN_BACKEND`` win over config values.

    A bad value raises :class:`ConfigError` naming the variable (or config key) and the allowed values.
    """
    v, v_src, v_at = _pick(env, ENV_VARIANT, variant, config_where, "variant")
    b, b_src, b_at = _pick(env, ENV_BACKEND, backend, config_where, "backend")
    problems = []
    if v is not None and v not in VARIANT_IDS:
        problems.append(ConfigProblem(v_at.file, v_at.key, f"unknown variant {v!r} (known: {', '.join(VARIANT_IDS)})"))
    if b is not None and b not in BACKEND_RUNTIME:
        problems.append(ConfigProblem(b_at.file, b_at.key, f"unknown backend {b!r} (known: onnx, tflite)"))
    if not problems and v is not None and b is not None and VARIANT_RUNTIME[v] != BACKEND_RUNTIME[b]:
        problems.append(ConfigProblem(v_at.file, v_at.key, f"variant {v} does not run on backend {b} ({b_src})"))
    if problems:
        raise ConfigError(problems)
    if v is None and b is None:
        return NO_OVERRIDE
    return Override(variant=v, backend=cast(Backend | None, b), variant_source=v_src, backend_source=b_src)


__all__ = [
    "ACCELERATOR_MISSING", "BACKEND_RUNTIME", "ENV_BACKEND", "ENV_VARIANT", "GPU_PROVIDERS", "VARIANT_NEEDS",
    "Needs", "rejection_reasons", "resolve_override", "select_variant",
]
