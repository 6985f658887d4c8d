"""Variant selection is a pure function: table-driven cases, overrides, and a property over all inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin._exceptions import ConfigError
from aiotwin.bundle import VARIANT_IDS
from device_runtime._exceptions import NoVariantError
from device_runtime.hw import (
    NO_OVERRIDE,
    Accelerator,
    HardwareReport,
    Override,
    RuntimeInfo,
    rejection_reasons,
    resolve_override,
    select_variant,
)

ALL = set(VARIANT_IDS)
NO_EDGETPU = ALL - {"tflite-edgetpu"}
CPU_ORT = ("CPUExecutionProvider",)
ORT = RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=CPU_ORT)
ORT_CUDA = RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=("CUDAExecutionProvider", *CPU_ORT))
ORT_TRT = RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=("TensorrtExecutionProvider", *CPU_ORT))
LITERT = RuntimeInfo(tflite_module="ai_edge_litert", edgetpu_delegate=False, edgetpu_delegate_error="no lib")
BOTH = RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=CPU_ORT, tflite_module="ai_edge_litert")
BOTH_TPU = RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=CPU_ORT, tflite_module="tflite_runtime",
                       edgetpu_delegate=True)
BOTH_NO_TPU = RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=CPU_ORT, tflite_module="tflite_runtime",
                          edgetpu_delegate=False)
NOTHING = RuntimeInfo()

CUDA_SOC = Accelerator("cuda", "soc", 1)
CUDA_PCIE = Accelerator("cuda", "pcie", 1)
TPU_USB = Accelerator("edgetpu", "usb", 1)
TPU_PCIE = Accelerator("edgetpu", "pcie", 2)


def report(profile: str, *accelerators: Accelerator, arch: str = "aarch64") -> HardwareReport:
    return HardwareReport(root="/", profile=profile, fallback=False, arch=arch, cpu_cores=4, cpu_model="cpu",
                          cpu_flags=(), mem_total_mb=4000,
                          accelerators=(*accelerators, Accelerator("cpu", None, 4)))


@dataclass(frozen=True)
class Case:
    id: str
    profile: str
    accelerators: tuple[Accelerator, ...]
    available: set[str]
    runtime: RuntimeInfo
    variant: str | None
    rejected: dict[str, str] = field(default_factory=dict)  # variant → substring of its reason
    override: Override = NO_OVERRIDE


CASES = [
    Case("jetson-cuda-ep", "jetson-orin-nano", (CUDA_SOC,), ALL, ORT_CUDA, "onnx-fp16"),
    Case("jetson-trt-ep", "jetson-nano", (CUDA_SOC,), ALL, ORT_TRT, "onnx-fp16"),
    Case("jetson-cpu-only-ort", "jetson-nano", (CUDA_SOC,), ALL, BOTH, "tflite-int8",
         {"onnx-fp16": "onnxruntime has no TensorrtExecutionProvider or CUDAExecutionProvider"}),
    Case("jetson-no-ort", "jetson-xavier-nx", (CUDA_SOC,), ALL, LITERT, "tflite-int8",
         {"onnx-fp16": "onnxruntime not installed"}),
    Case("jetson-bundle-without-fp16", "jetson-agx-orin", (CUDA_SOC,), NO_EDGETPU - {"onnx-fp16"}, ORT_CUDA,
         "onnx-int8", {"onnx-fp16": "bundle has no onnx-fp16 variant"}),
    Case("jetson-no-gpu-node", "jetson-nano", (), ALL, ORT_CUDA, "onnx-int8",
         {"tflite-int8": "ai_edge_litert/tflite_runtime not installed"}),
    Case("x86-cuda", "x86-64", (CUDA_PCIE,), ALL, ORT_CUDA, "onnx-fp16"),
    Case("x86-cuda-cpu-ort", "x86-64", (CUDA_PCIE,), ALL, ORT, "onnx-int8",
         {"onnx-fp16": "onnxruntime has no TensorrtExecutionProvider or CUDAExecutionProvider"}),
    Case("x86-plain", "x86-64", (), ALL, BOTH, "onnx-int8"),
    Case("x86-only-fp32-in-bundle", "x86-64", (), {"onnx-fp32"}, BOTH, "onnx-fp32",
         {"onnx-int8": "bundle has no onnx-int8 variant", "tflite-int8": "bundle has no tflite-int8 variant"}),
    Case("x86-litert-only", "x86-64", (), ALL, LITERT, "tflite-int8",
         {"onnx-int8": "onnxruntime not installed", "onnx-fp32": "onnxruntime not installed"}),
    Case("rpi5-coral-usb", "rpi5", (TPU_USB,), ALL, BOTH_TPU, "tflite-edgetpu"),
    Case("rpi5-coral-no-edgetpu-variant", "rpi5", (TPU_USB,), NO_EDGETPU, BOTH_TPU, "tflite-int8",
         {"tflite-edgetpu": "bundle has no tflite-edgetpu variant (no Edge TPU compiler when it was built)"}),
    Case("rpi5-coral-no-libedgetpu", "rpi5", (TPU_USB,), ALL, BOTH_NO_TPU, "tflite-int8",
         {"tflite-edgetpu": "libedgetpu delegate not loadable"}),
    Case("rpi5-coral-delegate-unchecked", "rpi5", (TPU_USB,), ALL, BOTH, "tflite-int8",
         {"tflite-edgetpu": "libedgetpu delegate not checked"}),
    Case("rpi5-coral-no-litert", "rpi5", (TPU_USB,), ALL, ORT, "onnx-int8",
         {"tflite-edgetpu": "ai_edge_litert/tflite_runtime not installed",
          "tflite-int8": "ai_edge_litert/tflite_runtime not installed"}),
    Case("coral-dev-board", "coral-dev-board", (Accelerator("edgetpu", "pcie", 1),), ALL, BOTH_TPU,
         "tflite-edgetpu"),
    Case("x86-coral-pcie", "x86-64", (TPU_PCIE,), ALL, BOTH_TPU, "tflite-edgetpu"),
    Case("rpi4-plain", "rpi4", (), NO_EDGETPU, BOTH, "tflite-int8"),
    Case("rpi4-ort-only", "rpi4", (), NO_EDGETPU, ORT, "onnx-int8",
         {"tflite-int8": "ai_edge_litert/tflite_runtime not installed"}),
    Case("nothing-installed", "rpi4", (), ALL, NOTHING, None,
         {"tflite-int8": "not installed", "onnx-int8": "onnxruntime not installed"}),
    Case("empty-bundle", "x86-64", (), set(), BOTH, None, {"onnx-int8": "bundle has no onnx-int8 variant"}),
    Case("cuda-and-coral", "x86-64", (CUDA_PCIE, TPU_USB), ALL, BOTH_TPU, "tflite-edgetpu",
         {"onnx-fp16": "onnxruntime has no"}),
    Case("force-variant", "rpi5", (), ALL, BOTH, "onnx-fp32",
         {"tflite-int8": "overridden by AIOTWIN_VARIANT=onnx-fp32"}, Override(variant="onnx-fp32")),
    Case("force-variant-outside-preferred", "x86-64", (TPU_USB,), ALL, BOTH_TPU, "onnx-fp32",
         {"tflite-edgetpu": "overridden by AIOTWIN_VARIANT=onnx-fp32"}, Override(variant="onnx-fp32")),
    Case("force-unrunnable-variant", "x86-64", (), ALL, ORT, None,
         {"onnx-fp16": "no CUDA GPU detected", "onnx-int8": "overridden by"}, Override(variant="onnx-fp16")),
    Case("force-edgetpu-without-tpu", "rpi5", (), ALL, BOTH_TPU, None,
         {"tflite-edgetpu": "no Edge TPU detected"}, Override(variant="tflite-edgetpu")),
    Case("backend-onnx", "rpi5", (TPU_USB,), ALL, BOTH_TPU, "onnx-int8",
         {"tflite-edgetpu": "AIOTWIN_BACKEND=onnx allows only onnxruntime variants",
          "tflite-int8": "AIOTWIN_BACKEND=onnx allows only onnxruntime variants"}, Override(backend="onnx")),
    Case("backend-tflite", "x86-64", (CUDA_PCIE,), ALL, ORT_CUDA, None,
         {"onnx-fp16": "allows only litert variants", "tflite-int8": "ai_edge_litert/tflite_runtime not installed"},
         Override(backend="tflite")),
    Case("backend-tflite-x86", "x86-64", (), ALL, BOTH, "tflite-int8", {}, Override(backend="tflite")),
    Case("config-override-source", "rpi4", (), ALL, BOTH, "onnx-int8",
         {"tflite-int8": "overridden by device.toml variant=onnx-int8"},
         Override(variant="onnx-int8", variant_source="device.toml variant")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_selection_table(case: Case, profile_by_name):
    hw = report(case.profile, *case.accelerators)
    choice = select_variant(hw, profile_by_name[case.profile], case.available, case.runtime, case.override)
    assert choice.variant == case.variant
    reasons = {r.variant: r.reason for r in choice.rejected}
    for variant, expected in case.rejected.items():
        assert expected in reasons.get(variant, "<not rejected>"), (variant, reasons)
    if choice.variant is not None:
        assert choice.runtime == ("onnxruntime" if choice.variant.startswith("onnx") else "litert")
        assert choice.require() == choice.variant
    else:
        with pytest.raises(NoVariantError):
            choice.require()


def test_reason_lists_every_failed_requirement(profile_by_name):
    hw = report("rpi5")
    reasons = rejection_reasons("tflite-edgetpu", hw, NO_EDGETPU, NOTHING, Override(backend="onnx"))
    assert reasons == (
        "AIOTWIN_BACKEND=onnx allows only onnxruntime variants",
        "bundle has no tflite-edgetpu variant (no Edge TPU compiler when it was built)",
        "no Edge TPU detected",
        "ai_edge_litert/tflite_runtime not installed",
    )


def test_every_candidate_is_either_rejected_with_a_reason_or_runnable(profile_by_name):
    choice = select_variant(report("jetson-nano", CUDA_SOC), profile_by_name["jetson-nano"], ALL, LITERT)
    assert choice.preferred == ("onnx-fp16", "tflite-int8", "onnx-int8", "onnx-fp32")
    assert [r.variant for r in choice.rejected] == ["onnx-fp16", "onnx-int8", "onnx-fp32"]
    assert choice.runnable == ("tflite-int8",)
    assert all(r.reason for r in choice.rejected)
    assert choice.as_dict()["rejected"][0] == {"variant": "onnx-fp16", "reason": "onnxruntime not installed"}


runtimes = st.builds(
    RuntimeInfo,
    onnxruntime_version=st.sampled_from([None, "1.32.0"]),
    ort_providers=st.sets(st.sampled_from(["CUDAExecutionProvider", "TensorrtExecutionProvider",
                                           "CPUExecutionProvider"])).map(tuple),
    tflite_module=st.sampled_from([None, "tflite_runtime", "ai_edge_litert"]),
    edgetpu_delegate=st.sampled_from([None, True, False]),
)
accelerator_sets = st.sets(st.sampled_from([CUDA_SOC, CUDA_PCIE, TPU_USB, TPU_PCIE]), max_size=2)
overrides = st.builds(Override, variant=st.sampled_from([None, *VARIANT_IDS]),
                      backend=st.sampled_from([None, "onnx", "tflite"]))
boards = st.sampled_from(["jetson-nano", "coral-dev-board", "rpi4", "rpi5", "x86-64", "arm64-generic"])


@given(board=boards, accs=accelerator_sets, available=st.sets(st.sampled_from(VARIANT_IDS)), runtime=runtimes,
       override=overrides)
def test_selection_invariants(profile_by_name, board, accs, available, runtime, override):
    hw = report(board, *sorted(accs, key=lambda a: (a.kind, a.interface)))
    choice = select_variant(hw, profile_by_name[board], available, runtime, override)
    candidates = [r.variant for r in choice.rejected] + list(choice.runnable)
    assert len(candidates) == len(set(candidates))
    assert set(candidates) == set(choice.preferred) | ({override.variant} if override.variant else set())
    assert all(r.reasons for r in choice.rejected)
    if choice.variant is not None:
        assert choice.variant == choice.runnable[0]
        assert choice.variant in available
        assert override.variant in (None, choice.variant)
        assert rejection_reasons(choice.variant, hw, available, runtime, override) == ()
    else:
        assert choice.runnable == ()


def test_resolve_override_env_wins_over_config():
    o = resolve_override({"AIOTWIN_VARIANT": "onnx-fp32"}, variant="tflite-int8", backend="onnx")
    assert (o.variant, o.variant_source, o.backend, o.backend_source) == (
        "onnx-fp32", "AIOTWIN_VARIANT", "onnx", "config backend")
    assert resolve_override({}, variant="tflite-int8", config_where="device.toml").variant_source == (
        "device.toml variant")
    assert resolve_override({"AIOTWIN_VARIANT": "", "AIOTWIN_BACKEND": ""}) == NO_OVERRIDE
    assert resolve_override({"AIOTWIN_BACKEND": "tflite"}).backend == "tflite"


@pytest.mark.parametrize(
    ("env", "config", "where"),
    [
        ({"AIOTWIN_VARIANT": "onnx-fp64"}, {}, "environment AIOTWIN_VARIANT: unknown variant 'onnx-fp64'"),
        ({"AIOTWIN_BACKEND": "tensorrt"}, {}, "environment AIOTWIN_BACKEND: unknown backend 'tensorrt'"),
        ({}, {"variant": "best"}, "device.toml variant: unknown variant 'best'"),
        ({"AIOTWIN_VARIANT": "tflite-int8", "AIOTWIN_BACKEND": "onnx"}, {},
         "environment AIOTWIN_VARIANT: variant tflite-int8 does not run on backend onnx"),
    ],
)
def test_bad_override_is_a_clear_config_error(env, config, where):
    with pytest.raises(ConfigError) as info:
        resolve_override(env, **config, config_where="device.toml")
    assert where in str(info.value)
