"""Pure parsers for the text files of a hardware root, and the fact tables they use.

Nothing here touches the filesystem: each function takes the text already read.
"""

from __future__ import annotations

import re

# (CPU implementer, CPU part) from ARM /proc/cpuinfo → core name (ARM TRMs; Linux arch/arm64 cputype.h).
ARM_CORES: dict[tuple[str, str], str] = {
    ("0x41", "0xd03"): "Cortex-A53",
    ("0x41", "0xd04"): "Cortex-A35",
    ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57",
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0a"): "Cortex-A75",
    ("0x41", "0xd0b"): "Cortex-A76",
    ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd0d"): "Cortex-A77",
    ("0x41", "0xd40"): "Neoverse-V1",
    ("0x41", "0xd41"): "Cortex-A78",
    ("0x41", "0xd42"): "Cortex-A78AE",
    ("0x41", "0xd49"): "Neoverse-N2",
    ("0x41", "0xd4f"): "Neoverse-V2",
    ("0x41", "0xc07"): "Cortex-A7",
    ("0x41", "0xc08"): "Cortex-A8",
    ("0x41", "0xc09"): "Cortex-A9",
    ("0x41", "0xc0f"): "Cortex-A15",
    ("0x41", "0xb76"): "ARM1176",
    ("0x4e", "0x004"): "NVIDIA Carmel",
}

# CPU features that matter to inference runtimes (x86 ``flags``, ARM ``Features``); others are dropped.
INTERESTING_FLAGS: frozenset[str] = frozenset({
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "amx_int8", "amx_bf16", "neon", "vfpv4", "asimd", "asimdhp", "asimddp", "fphp",
    "sve", "sve2", "i8mm", "bf16",
})

# L4T release prefix → JetPack generation (NVIDIA "Jetson Linux" release notes).
JETPACK_BY_L4T: tuple[tuple[str, str], ...] = (
    ("28", "3"), ("32.4", "4.4"), ("32.5", "4.5"), ("32.6", "4.6"), ("32.7", "4.6"),
    ("35", "5"), ("36", "6"),
)

_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")
_MEMTOTAL = re.compile(r"^MemTotal:\s*(\d+)\s*kB", re.MULTILINE)
_USB_ID = re.compile(r"^[0-9a-f]{4}$")


def cpuinfo_fields(text: str) -> list[tuple[str, str]]:
    """``key: value`` pairs of /proc/cpuinfo in file order (keys stripped, values stripped)."""
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def cpu_cores(pairs: list[tuple[str, str]]) -> int:
    """Number of ``processor : N`` entries (old ARM kernels also have a ``Processor : name`` line)."""
    return sum(1 for key, value in pairs if key == "processor" and value.isdigit())


def _first(pairs: list[tuple[str, str]], key: str) -> str | None:
    return next((value for k, value in pairs if k == key), None)


def cpu_arch(pairs: list[tuple[str, str]]) -> str:
    """``uname -m`` spelling of the architecture the cpuinfo describes, or ``unknown``."""
    keys = {k for k, _ in pairs}
    if "vendor_id" in keys or "flags" in keys:
        return "x86_64" if "lm" in cpu_flag_set(pairs) else "i686"
    model = _first(pairs, "model name") or ""
    for tag, arch in (("(v6l)", "armv6l"), ("(v7l)", "armv7l")):
        if tag in model:
            return arch
    version = _first(pairs, "CPU architecture")
    if version in ("8", "AArch64") or "asimd" in cpu_flag_set(pairs):
        return "aarch64"
    if version == "7":
        return "armv7l"
    isa = _first(pairs, "isa") or ""
    return "riscv64" if isa.startswith("rv64") else "unknown"


def cpu_flag_set(pairs: list[tuple[str, str]]) -> set[str]:
    """All CPU feature words (x86 ``flags`` and ARM ``Features``) of every processor."""
    return {word for k, value in pairs if k in ("flags", "Features") for word in value.split()}


def cpu_flags(pairs: list[tuple[str, str]]) -> tuple[str, ...]:
    """The :data:`INTERESTING_FLAGS` this CPU has, sorted."""
    return tuple(sorted(cpu_flag_set(pairs) & INTERESTING_FLAGS))


def cpu_model(pairs: list[tuple[str, str]]) -> str:
    """x86 ``model name``; for ARM the distinct core names from implementer/part (big.LITTLE joined)."""
    if "vendor_id" in {k for k, _ in pairs}:
        return _first(pairs, "model name") or "x86 CPU"
    names: list[str] = []
    implementer = ""
    for key, value in pairs:
        if key == "CPU implementer":
            implementer = value.lower()
        elif key == "CPU part":
            name = ARM_CORES.get((implementer, value.lower()), f"ARM part {value}")
            if name not in names:
                names.append(name)
    return " + ".join(names) or _first(pairs, "model name") or _first(pairs, "Hardware") or "unknown CPU"


def mem_total_mb(text: str) -> int | None:
    """``MemTotal`` of /proc/meminfo in MiB, or ``None`` when the line is missing or malformed."""
    m = _MEMTOTAL.search(text)
    return int(m.group(1)) // 1024 if m else None


def dt_string(raw: str) -> str:
    """A device-tree string property: NUL-terminated (sometimes with padding) → plain text."""
    return raw.split("\0", 1)[0].strip()


def dt_string_list(raw: str) -> tuple[str, ...]:
    """A device-tree string list property (NUL-separated) → its entries."""
    return tuple(s.strip() for s in raw.split("\0") if s.strip())


def l4t_release(text: str) -> str | None:
    """``/etc/nv_tegra_release`` → ``32.7.1`` (``# R32 (release), REVISION: 7.1, ...``)."""
    m = _L4T.search(text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def jetpack_for(l4t: str | None) -> str | None:
    """JetPack generation of an L4T release (``32.7.1`` → ``4.6``, ``35.4.1`` → ``5``)."""
    if l4t is None:
        return None
    for prefix, jetpack in JETPACK_BY_L4T:
        if l4t == prefix or l4t.startswith(prefix + "."):
            return jetpack
    return None


def usb_id(raw: str) -> str | None:
    """A sysfs ``idVendor``/``idProduct`` value (4 hex digits) normalised, or ``None`` if malformed."""
    value = raw.strip().lower()
    return value if _USB_ID.match(value) else None


def gpu_names(text: str) -> tuple[str, ...]:
    """``nvidia-smi --query-gpu=name --format=csv,noheader`` output → one name per GPU."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


__all__ = [
    "ARM_CORES", "INTERESTING_FLAGS", "JETPACK_BY_L4T", "cpu_arch", "cpu_cores", "cpu_flag_set",
    "cpu_flags", "cpu_model", "cpuinfo_fields", "dt_string", "dt_string_list", "gpu_names",
    "jetpack_for", "l4t_release", "mem_total_mb", "usb_id",
]
