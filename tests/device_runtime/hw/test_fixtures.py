"""Detection over every recorded fake-hardware tree: profile, arch, cores, accelerators, fallback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from device_runtime.hw import detect_hardware, preferred_variants, runner_for_root
from hw_profiles import profile_paths
from tests.device_runtime.hw.conftest import BOARDS, FIXTURES

Acc = tuple[str, str | None, int]


@dataclass(frozen=True)
class Expected:
    profile: str
    fallback: bool
    arch: str
    cores: int
    mem_mb: int
    accelerators: tuple[Acc, ...]
    preferred: tuple[str, ...]
    l4t: str | None = None
    jetpack: str | None = None


ARM_CPU = ("tflite-int8", "onnx-int8", "onnx-fp32")
X86_CPU = ("onnx-int8", "onnx-fp32", "tflite-int8")
JETSON = ("onnx-fp16", *ARM_CPU)
EDGETPU_ARM = ("tflite-edgetpu", "tflite-int8", "onnx-int8", "onnx-fp32")

EXPECTED: dict[str, Expected] = {
    "jetson-nano": Expected("jetson-nano", False, "aarch64", 4, 3964, (("cuda", "soc", 1), ("cpu", None, 4)),
                            JETSON, "32.7.1", "4.6"),
    "jetson-xavier-nx": Expected("jetson-xavier-nx", False, "aarch64", 6, 7583,
                                 (("cuda", "soc", 1), ("cpu", None, 6)), JETSON, "35.4.1", "5"),
    "jetson-orin-nano": Expected("jetson-orin-nano", False, "aarch64", 6, 7442,
                                 (("cuda", "soc", 1), ("cpu", None, 6)), JETSON, "36.4.3", "6"),
    "jetson-agx-orin": Expected("jetson-agx-orin", False, "aarch64", 12, 62827,
                                (("cuda", "soc", 1), ("cpu", None, 12)),
                                ("onnx-fp16", "onnx-int8", "tflite-int8", "onnx-fp32"), "35.5.0", "5"),
    "coral-dev-board": Expected("coral-dev-board", False, "aarch64", 4, 986,
                                (("edgetpu", "pcie", 1), ("cpu", None, 4)), EDGETPU_ARM),
    "rpi4": Expected("rpi4", False, "aarch64", 4, 3793, (("cpu", None, 4),), ARM_CPU),
    "rpi5": Expected("rpi5", False, "aarch64", 4, 8051, (("cpu", None, 4),), ARM_CPU),
    "x86-64": Expected("x86-64", True, "x86_64", 8, 15784, (("cpu", None, 8),), X86_CPU),
    "arm64-generic": Expected("arm64-generic", True, "aarch64", 4, 7769, (("cpu", None, 4),), ARM_CPU),
    "armv7-generic": Expected("armv7-generic", True, "armv7l", 1, 486, (("cpu", None, 1),), ARM_CPU),
    "rpi5-coral-usb": Expected("rpi5", False, "aarch64", 4, 8051, (("edgetpu", "usb", 1), ("cpu", None, 4)),
                               EDGETPU_ARM),
    "rpi4-coral-usb-loaded": Expected("rpi4", False, "aarch64", 4, 3793,
                                      (("edgetpu", "usb", 1), ("cpu", None, 4)), EDGETPU_ARM),
    "x86-64-coral-pcie": Expected("x86-64", True, "x86_64", 4, 15864, (("edgetpu", "pcie", 2), ("cpu", None, 4)),
                                  ("tflite-edgetpu", "tflite-int8", "onnx-int8", "onnx-fp32")),
    "x86-64-cuda": Expected("x86-64", True, "x86_64", 16, 32026, (("cuda", "pcie", 1), ("cpu", None, 16)),
                            ("onnx-fp16", *X86_CPU)),
    "unknown-arm64": Expected("arm64-generic", True, "aarch64", 8, 15761, (("cpu", None, 8),), ARM_CPU),
}


def test_every_fixture_has_an_expectation_and_every_profile_a_fixture():
    assert set(BOARDS) == set(EXPECTED)
    assert {p.stem for p in profile_paths()} <= set(BOARDS)


def test_detection_matches_the_table(board: str, board_root: Path, profiles):
    exp = EXPECTED[board]
    report = detect_hardware(board_root, profiles=profiles, runner=runner_for_root(board_root)).report
    got = (report.profile, report.fallback, report.arch, report.cpu_cores, report.mem_total_mb, report.l4t,
           report.jetpack)
    assert got == (exp.profile, exp.fallback, exp.arch, exp.cores, exp.mem_mb, exp.l4t, exp.jetpack)
    assert tuple((a.kind, a.interface, a.count) for a in report.accelerators) == exp.accelerators


def test_preferred_order_per_fixture(board: str, board_root: Path, profiles):
    detection = detect_hardware(board_root, profiles=profiles)
    assert preferred_variants(detection.profile, detection.report.accelerators) == EXPECTED[board].preferred


@pytest.mark.parametrize("board", ["jetson-orin-nano"])
def test_nvgpu_directory_counts_as_the_soc_gpu(board_root: Path):
    assert (board_root / "dev" / "nvgpu").is_dir()
    report = detect_hardware(board_root).report
    assert report.accelerators[0].kind == "cuda"
    assert report.accelerators[0].interface == "soc"


@pytest.mark.parametrize("board", ["rpi5-coral-usb", "rpi4-coral-usb-loaded"])
def test_usb_interface_entries_without_ids_are_skipped(board_root: Path):
    devices = board_root / "sys" / "bus" / "usb" / "devices"
    assert any(":" in p.name and not (p / "idVendor").exists() for p in devices.iterdir())
    report = detect_hardware(board_root).report
    assert all(len(i) == 9 and i[4] == ":" for i in report.usb_ids)
    assert len(report.usb_ids) == sum(1 for p in devices.iterdir() if (p / "idVendor").exists())


@pytest.mark.parametrize("board", ["x86-64-cuda"])
def test_recorded_nvidia_smi_names_the_gpu(board_root: Path):
    report = detect_hardware(board_root, runner=runner_for_root(board_root)).report
    assert report.accelerators[0].detail == "NVIDIA GeForce RTX 3060"


def test_unknown_board_notes_the_fallback():
    report = detect_hardware(FIXTURES / "unknown-arm64").report
    assert report.model == "Radxa ROCK 5B"
    assert any("Radxa ROCK 5B" in n and "arm64-generic" in n for n in report.notes)
    assert report.cpu_model == "Cortex-A55 + Cortex-A76"
