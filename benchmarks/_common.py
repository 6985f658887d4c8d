"""What every benchmark script shares: arguments, timing statistics, machine facts, tables, JSON.

Benchmarks are not tests: they measure, print a rich table and write ``<out>/<name>.json``. A
:class:`Target` records a goal from the issue and whether this run met it; nothing here asserts.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "cache"
PACKAGES = ("numpy", "onnxruntime", "opencv-python-headless", "opencv-python", "ai-edge-litert", "torch")
console = Console(width=140)


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every script takes (``--out``, ``--quick``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test (numbers mean nothing)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="rendered videos (default benchmarks/results/cache)")
    return parser


# --------------------------------------------------------------------------- timing


def stats_ms(samples_ms: Sequence[float]) -> dict[str, float]:
    """Count, mean and percentiles of a list of milliseconds (empty list → zeros)."""
    arr = np.asarray(samples_ms, dtype=np.float64)
    if arr.size == 0:
        return {"n": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"n": int(arr.size), "mean": round(float(arr.mean()), 4), "p50": round(float(p50), 4),
            "p95": round(float(p95), 4), "p99": round(float(p99), 4), "max": round(float(arr.max()), 4)}


def time_calls(fn: Callable[[], object], iterations: int, warmup: int) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``iterations`` times; milliseconds per call."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def rel(path: Path) -> str:
    """``path`` relative to the project root when it is inside it (JSON stays machine-independent)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def ratio(num: float, den: float) -> float:
    return round(num / den, 3) if den > 0 else float("nan")


# --------------------------------------------------------------------------- machine facts


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return platform.processor()
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    return names[0] if names else platform.processor()


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _git_rev() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, core count, load, versions and time: printed with every result."""
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "load_start": load_average(),
        "python": platform.python_version(), "packages": _versions(), "git": _git_rev(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- targets, tables, JSON


@dataclass(frozen=True)
class Target:
    """A goal from the issue: ``value op limit`` (``op`` is ``>=`` or ``<=``), reported, never asserted."""

    name: str
    value: float
    op: str
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        if not np.isfinite(self.value):
            return False
        return self.value >= self.limit if self.op == ">=" else self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def fmt(value: object, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}" if np.isfinite(value) else "n/a"
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A title line, then a rich table (first column left-aligned, the rest right-aligned)."""
    table = Table()
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(v if isinstance(v, Text) else escape(fmt(v)) for v in row))
    console.print(f"[bold]{escape(title)}[/]")
    console.print(table)


def print_targets(targets: Sequence[Target], quick: bool) -> None:
    verdict = {True: Text("met", style="green"), False: Text("MISSED", style="bold red")}
    rows = [(t.name, f"{fmt(t.value)} {t.unit}".strip(), f"{t.op} {fmt(t.limit)} {t.unit}".strip(),
             verdict[t.met]) for t in targets]
    suffix = " (--quick: tiny counts, not a measurement)" if quick else ""
    print_table(f"Targets{suffix}", ("target", "measured", "goal", "result"), rows)


def finite(value: Any) -> Any:
    """``value`` with every NaN/inf float replaced by None (strict JSON), recursively."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


@dataclass
class Run:
    """One benchmark run: its name, output folder, ``--quick`` flag and the machine facts at start."""

    name: str
    out: Path
    quick: bool
    machine: dict[str, Any]

    @classmethod
    def start(cls, name: str, args: argparse.Namespace) -> Run:
        run = cls(name, Path(args.out), bool(args.quick), machine_info())
        console.print(f"[bold]{name}[/]: {run.machine['cpu']}, {run.machine['cores']} cores, "
                      f"load {run.machine['load_start']}{' (quick)' if run.quick else ''}")
        return run

    def finish(self, payload: dict[str, Any], targets: Sequence[Target]) -> Path:
        """Print the targets and write ``<out>/<name>.json`` (machine facts, load at end, payload, targets)."""
        print_targets(targets, self.quick)
        self.out.mkdir(parents=True, exist_ok=True)
        doc = {"benchmark": self.name, "quick": self.quick, "machine": {**self.machine, "load_end": load_average()},
               **payload, "targets": [t.to_dict() for t in targets]}
        path = self.out / f"{self.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(finite(doc), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        console.print(f"load average start {self.machine['load_start']} end {doc['machine']['load_end']}; "
                      f"wrote {path}")
        return path


# --------------------------------------------------------------------------- processes (/proc, no psutil)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(p) for p in (task / "children").read_text(encoding="ascii").split()]
        except OSError:
            continue
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from ``/proc/<pid>/task/*/children``)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MB (10^6 bytes; 0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` plus all its children, MB (shared pages counted once per process)."""
    return sum(rss_mb(p) for p in process_tree(pid))


class Daemon:
    """A daemon (``aiotwin-device start …``) in a subprocess; a thread keeps its log and notices ``ready``."""

    STOP_TIMEOUT_S = 20.0
    _URL = re.compile(r"(?:listening|serving|routing) on (http://\S+)")  # device, instance, router

    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        self.lines: list[str] = []
        self.url: str | None = None
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="bench-daemon-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.rstrip()
            self.lines.append(line)
            if (m := self._URL.search(line)) is not None:
                self.url = m.group(1)
            if line.endswith(" ready"):
                self.ready.set()

    def wait_ready(self, timeout: float) -> None:
        """Return once the daemon logged ``ready``; RuntimeError with its last log lines otherwise."""
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("daemon did not log ready:\n" + "\n".join(self.lines[-20:]))

    def stop(self) -> int:
        """SIGTERM, wait, kill if it hangs; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return int(self.proc.returncode)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads), seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
