"""Probing a root: parsers, unusable roots and files, bytes that are not UTF-8, symlinks, runners."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from device_runtime._exceptions import HardwareProbeError
from device_runtime.hw import (
    RootFS,
    detect_hardware,
    probe_facts,
    recorded_runner,
    runner_for_root,
    subprocess_runner,
)
from device_runtime.hw import _parse as parse
from tests.device_runtime.hw.conftest import FIXTURES

A72 = ("processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
       "CPU architecture: 8\nCPU part\t: 0xd08\n")
MEMINFO = "MemTotal:        3884328 kB\nMemFree:         1000000 kB\n"


def make_root(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for rel, data in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return tmp_path


def minimal(tmp_path: Path, **extra: str | bytes) -> Path:
    return make_root(tmp_path, {"proc/cpuinfo": A72, "proc/meminfo": MEMINFO, **extra})


@pytest.mark.parametrize(
    ("cpuinfo", "arch"),
    [
        ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 lm avx2\n", "x86_64"),
        ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2\n", "i686"),
        (A72, "aarch64"),
        ("processor\t: 0\nFeatures\t: fp asimd\n", "aarch64"),
        ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nCPU architecture: 7\n", "armv7l"),
        ("processor\t: 0\nCPU architecture: 7\n", "armv7l"),
        ("processor\t: 0\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n", "armv6l"),
        ("processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc\n", "riscv64"),
        ("", "unknown"),
    ],
)
def test_arch_comes_from_cpuinfo_in_uname_spelling(cpuinfo: str, arch: str):
    assert parse.cpu_arch(parse.cpuinfo_fields(cpuinfo)) == arch


def test_cores_flags_and_model():
    text = (FIXTURES / "x86-64" / "proc" / "cpuinfo").read_text()
    pairs = parse.cpuinfo_fields(text)
    assert parse.cpu_cores(pairs) == 8
    assert {"avx2", "avx512_vnni", "fma"} <= set(parse.cpu_flags(pairs))
    assert "lm" not in parse.cpu_flags(pairs)  # only the flags that matter to runtimes
    assert parse.cpu_model(pairs).startswith("11th Gen Intel")
    old_arm = "Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nprocessor\t: 1\n"
    assert parse.cpu_cores(parse.cpuinfo_fields(old_arm)) == 2


@pytest.mark.parametrize(
    ("release", "l4t", "jetpack"),
    [
        ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64", "32.7.1", "4.6"),
        ("# R32 (release), REVISION: 5.1, GCID: 1, BOARD: t210ref", "32.5.1", "4.5"),
        ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref", "35.4.1", "5"),
        ("# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic", "36.3.0", "6"),
        ("# R99 (release), REVISION: 1.0", "99.1.0", None),
        ("garbage", None, None),
    ],
)
def test_l4t_release_to_jetpack(release: str, l4t: str | None, jetpack: str | None):
    assert parse.l4t_release(release) == l4t
    assert parse.jetpack_for(l4t) == jetpack


def test_device_tree_strings_and_meminfo():
    assert parse.dt_string("Raspberry Pi 5 Model B Rev 1.0\0") == "Raspberry Pi 5 Model B Rev 1.0"
    assert parse.dt_string_list("a,b\0c,d\0\0") == ("a,b", "c,d")
    assert parse.mem_total_mb(MEMINFO) == 3793
    assert parse.mem_total_mb("MemFree: 1 kB\n") is None
    assert parse.usb_id("1A6E\n") == "1a6e"
    assert parse.usb_id("zz") is None


def test_root_that_is_a_file_or_missing_is_a_probe_error(tmp_path: Path):
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(HardwareProbeError, match="is not a directory"):
        probe_facts(afile)
    with pytest.raises(HardwareProbeError, match="does not exist"):
        probe_facts(tmp_path / "nope")


def test_empty_root_says_what_is_missing(tmp_path: Path):
    with pytest.raises(HardwareProbeError, match=r"proc/cpuinfo is missing"):
        probe_facts(tmp_path)


def test_directory_where_a_file_is_expected(tmp_path: Path):
    root = make_root(tmp_path, {"proc/cpuinfo/x": "", "proc/meminfo": MEMINFO})
    with pytest.raises(HardwareProbeError, match=r"proc/cpuinfo is a directory, expected a file"):
        probe_facts(root)


def test_usb_id_that_is_a_directory_is_a_probe_error(tmp_path: Path):
    root = minimal(tmp_path, **{"sys/bus/usb/devices/1-1/idVendor/x": "", "sys/bus/usb/devices/1-1/idProduct": "9302"})
    with pytest.raises(HardwareProbeError, match="idVendor is a directory"):
        probe_facts(root)


def test_unparseable_meminfo_and_cpuinfo(tmp_path: Path):
    with pytest.raises(HardwareProbeError, match="MemTotal"):
        probe_facts(make_root(tmp_path, {"proc/cpuinfo": A72, "proc/meminfo": "nothing\n"}))
    with pytest.raises(HardwareProbeError, match="cannot tell the CPU"):
        probe_facts(make_root(tmp_path, {"proc/cpuinfo": "hello\n"}))


def test_bytes_that_are_not_utf8_do_not_crash(tmp_path: Path):
    root = minimal(
        tmp_path,
        **{
            "proc/device-tree/model": b"Raspberry Pi 5 \xff\xfe Model B\0",
            "proc/device-tree/compatible": b"raspberrypi,5-model-b\0brcm,bcm2712\0\xc3\x28\0",
            "proc/cpuinfo": A72.encode() + b"Hardware\t: \x80\x81\n",
            "sys/bus/usb/devices/1-1/idVendor": b"\xff\xff\n",
            "sys/bus/usb/devices/1-1/idProduct": b"9302\n",
        },
    )
    report = detect_hardware(root).report
    assert report.profile == "rpi5"
    assert "\ufffd" in (report.model or "")
    assert report.usb_ids == ()
    assert any("not UTF-8" in n for n in report.notes)
    assert any("malformed USB id" in n for n in report.notes)


def test_absolute_symlinks_resolve_inside_the_root(tmp_path: Path):
    root = minimal(tmp_path, **{
        "sys/firmware/devicetree/base/model": "Raspberry Pi 4 Model B Rev 1.4\0",
        "sys/firmware/devicetree/base/compatible": "raspberrypi,4-model-b\0brcm,bcm2711\0",
    })
    (root / "proc" / "device-tree").symlink_to("/sys/firmware/devicetree/base")
    (root / "sys/bus/usb/devices").mkdir(parents=True)
    (root / "sys/devices/usb1/1-1").mkdir(parents=True)
    (root / "sys/devices/usb1/1-1/idVendor").write_text("18d1\n")
    (root / "sys/devices/usb1/1-1/idProduct").write_text("9302\n")
    (root / "sys/bus/usb/devices/1-1").symlink_to("../../../devices/usb1/1-1")
    report = detect_hardware(root).report
    assert (report.profile, report.model, report.usb_ids) == ("rpi4", "Raspberry Pi 4 Model B Rev 1.4", ("18d1:9302",))
    assert RootFS(root).resolve("proc/device-tree/model") == root / "sys/firmware/devicetree/base/model"
    assert RootFS(root).resolve("../../etc/passwd") == root / "etc/passwd"


def test_symlink_loop_is_a_probe_error(tmp_path: Path):
    root = minimal(tmp_path)
    (root / "proc" / "device-tree").symlink_to("/proc/device-tree")
    with pytest.raises(HardwareProbeError, match="too many levels of symbolic links"):
        probe_facts(root)


def test_fifo_where_a_file_is_expected(tmp_path: Path):
    root = minimal(tmp_path)
    (root / "etc").mkdir()
    os.mkfifo(root / "etc" / "nv_tegra_release")
    with pytest.raises(HardwareProbeError, match="not a regular file"):
        probe_facts(root)


def test_runners(tmp_path: Path):
    (tmp_path / "nvidia-smi.txt").write_text("GPU A\nGPU B\n")
    run = recorded_runner(tmp_path)
    assert run(["/usr/bin/nvidia-smi", "-L"]) == "GPU A\nGPU B\n"
    assert run(["lsusb"]) is None
    assert runner_for_root(Path("/")) is subprocess_runner
    assert runner_for_root(tmp_path) is not subprocess_runner
    assert subprocess_runner(["aiotwin-no-such-command-xyz"]) is None
    assert subprocess_runner([shutil.which("true") or "true"]) == ""
    assert subprocess_runner([shutil.which("false") or "false"]) is None


def test_gpu_names_come_from_the_injected_runner_only_with_a_gpu_node(tmp_path: Path):
    calls: list[list[str]] = []

    def spy(argv):
        calls.append(list(argv))
        return "Fake GPU\n"

    root = minimal(tmp_path / "gpu", **{"dev/nvidia0": ""})
    facts = probe_facts(root, spy)
    assert facts.gpu_names == ("Fake GPU",)
    assert calls == [["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]]
    assert probe_facts(minimal(tmp_path / "plain"), spy).gpu_names == ()  # no GPU node: not asked
    assert len(calls) == 1


def test_unreadable_tegra_release_is_noted_not_fatal(tmp_path: Path):
    root = minimal(tmp_path, **{"etc/nv_tegra_release": "something else\n"})
    facts = probe_facts(root)
    assert facts.l4t is None
    assert any("nv_tegra_release" in n for n in facts.notes)
