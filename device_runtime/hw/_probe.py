"""Read the raw hardware signals of a filesystem root into :class:`HardwareFacts`.

This is the only I/O of hardware detection: everything it reads goes through :class:`RootFS` (so a
fake tree never leaks host facts) and the injected command runner. Interpretation is in ``_match``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

from device_runtime._exceptions import HardwareProbeError
from device_runtime.hw import _parse
from device_runtime.hw._rootfs import RootFS
from device_runtime.hw._runner import CommandRunner
from device_runtime.hw._types import HardwareFacts

CPUINFO = "proc/cpuinfo"
MEMINFO = "proc/meminfo"
DT_MODEL = "proc/device-tree/model"
DT_COMPATIBLE = "proc/device-tree/compatible"
TEGRA_RELEASE = "etc/nv_tegra_release"
USB_DEVICES = "sys/bus/usb/devices"
DEV = "dev"
NVIDIA_SMI = ("nvidia-smi", "--query-gpu=name", "--format=csv,noheader")
NVIDIA_GPU_NODES = "dev/nvidia[0-9]*"


class _Reader:
    """A :class:`RootFS` that records a note for every file with bytes that are not UTF-8."""

    def __init__(self, fs: RootFS) -> None:
        self.fs = fs
        self.notes: list[str] = []

    def text(self, rel: str) -> str | None:
        text = self.fs.read_text(rel)
        if text is not None and "\ufffd" in text:
            self.notes.append(f"{rel}: bytes that are not UTF-8 were replaced")
        return text

    def required(self, rel: str) -> str:
        text = self.text(rel)
        if text is None:
            raise HardwareProbeError(f"{self.fs.where(rel)} is missing: is {self.fs.root} a system root?")
        return text


def _cpu(reader: _Reader) -> tuple[str, int, str, tuple[str, ...]]:
    pairs = _parse.cpuinfo_fields(reader.required(CPUINFO))
    arch, cores = _parse.cpu_arch(pairs), _parse.cpu_cores(pairs)
    if cores == 0 or arch == "unknown":
        raise HardwareProbeError(
            f"{reader.fs.where(CPUINFO)}: cannot tell the CPU (architecture {arch}, {cores} processors)"
        )
    return arch, cores, _parse.cpu_model(pairs), _parse.cpu_flags(pairs)


def _memory(reader: _Reader) -> int:
    mem = _parse.mem_total_mb(reader.required(MEMINFO))
    if mem is None:
        raise HardwareProbeError(f"{reader.fs.where(MEMINFO)}: no 'MemTotal: N kB' line")
    return mem


def _usb_ids(reader: _Reader) -> tuple[str, ...]:
    """``vvvv:pppp`` of every USB device; interface entries (``1-1:1.0``) have no ids and are skipped."""
    ids = []
    for name in reader.fs.list_dir(USB_DEVICES):
        vendor = reader.text(f"{USB_DEVICES}/{name}/idVendor")
        product = reader.text(f"{USB_DEVICES}/{name}/idProduct")
        if vendor is None or product is None:
            continue
        v, p = _parse.usb_id(vendor), _parse.usb_id(product)
        if v is None or p is None:
            reader.notes.append(f"{USB_DEVICES}/{name}: malformed USB id {vendor.strip()!r}:{product.strip()!r}")
            continue
        ids.append(f"{v}:{p}")
    return tuple(ids)


def _gpu_names(nodes: frozenset[str], runner: CommandRunner | None) -> tuple[str, ...]:
    if runner is None or not any(fnmatchcase(n, NVIDIA_GPU_NODES) for n in nodes):
        return ()
    return _parse.gpu_names(runner(NVIDIA_SMI) or "")


def probe_facts(root: Path = Path("/"), runner: CommandRunner | None = None) -> HardwareFacts:
    """Read every hardware signal of ``root``; raise :class:`HardwareProbeError` if it is unusable.

    ``runner`` (optional) answers host commands such as ``nvidia-smi``; pass one that matches
    ``root`` (see :func:`device_runtime.hw.runner_for_root`).
    """
    reader = _Reader(RootFS(root))
    arch, cores, model_name, flags = _cpu(reader)
    mem = _memory(reader)
    dt_model, dt_compat = reader.text(DT_MODEL), reader.text(DT_COMPATIBLE)
    release = reader.text(TEGRA_RELEASE)
    l4t = None if release is None else _parse.l4t_release(release)
    if release is not None and l4t is None:
        reader.notes.append(f"{TEGRA_RELEASE}: no '# R<major> (release), REVISION: <x.y>' line")
    nodes = frozenset(f"{DEV}/{name}" for name in reader.fs.list_dir(DEV))
    return HardwareFacts(
        arch=arch, cpu_cores=cores, cpu_model=model_name, cpu_flags=flags, mem_total_mb=mem,
        dt_model=None if dt_model is None else _parse.dt_string(dt_model),
        dt_compatible=() if dt_compat is None else _parse.dt_string_list(dt_compat),
        l4t=l4t,
        usb_ids=_usb_ids(reader), dev_nodes=nodes, gpu_names=_gpu_names(nodes, runner),
        notes=tuple(reader.notes),
    )


__all__ = ["probe_facts"]
