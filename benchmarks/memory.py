"""Memory: RSS of ``aiotwin-device start --demo`` with only the ``infer`` extra installed (no torch).

Creates ``benchmarks/.venv-infer`` (gitignored) with ``pip install -e '.[infer]'`` when it is missing or
older than ``pyproject.toml``, checks that ``torch`` is not importable there, starts the demo daemon
from it and samples the RSS of the daemon and all its children (``/proc``) for ``--seconds`` after it
logs ``ready``. Peak = the largest sample; steady = the median of the second half of the samples.
MB = 10^6 bytes. For attribution, the same daemon then runs with one 1280×720 file camera instead of
the demo's synthetic camera (rendered in-process); ``--no-file`` skips that.

    .venv/bin/python benchmarks/memory.py [--seconds 30] [--quick]
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, Daemon, Run, Target, base_parser, console, print_table, process_tree, rel, tree_rss_mb

VENV = ROOT / "benchmarks" / ".venv-infer"
STAMP = VENV / ".infer-stamp"
TARGET_MB = 200.0
READY_TIMEOUT_S = 120.0
SAMPLE_PERIOD_S = 0.25
TOP_MAPPINGS = 6
ANON = "(anonymous: heap, arenas)"


def parse_args(argv: list[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling time after ready (default 30)")
    parser.add_argument("--reinstall", action="store_true", help="recreate benchmarks/.venv-infer")
    parser.add_argument("--no-file", action="store_true", help="skip the file-camera run (attribution)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 3.0
    return args


# --------------------------------------------------------------------------- the infer-only venv


def ensure_venv(reinstall: bool) -> Path:
    """``benchmarks/.venv-infer`` with ``-e '.[infer]'`` installed; its ``bin`` folder."""
    fresh = STAMP.exists() and STAMP.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime
    if fresh and not reinstall:
        return VENV / "bin"
    console.print(f"creating {VENV} with pip install -e '.[infer]' …", markup=False)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    _quiet([*pip, "--upgrade", "pip"])
    _quiet([*pip, "-e", f"{ROOT}[infer]"])
    STAMP.touch()
    return VENV / "bin"


def _quiet(cmd: list[str]) -> None:
    """Run ``cmd``; show its output only when it fails."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        console.print(out.stdout[-4000:], out.stderr[-4000:], markup=False)
        raise subprocess.CalledProcessError(out.returncode, cmd)


def importable(bin_dir: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([str(bin_dir / "python"), "-c", code], check=False).returncode == 0


def installed(bin_dir: Path) -> list[str]:
    out = subprocess.run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                         text=True, check=False)
    return sorted(out.stdout.split())


# --------------------------------------------------------------------------- the daemon


def sample_rss(pid: int, seconds: float) -> list[tuple[float, float, int]]:
    """``(seconds since start, tree RSS MB, processes)`` every :data:`SAMPLE_PERIOD_S`."""
    tick, out, t0 = threading.Event(), [], time.monotonic()
    while (now := time.monotonic() - t0) < seconds:
        out.append((round(now, 3), round(tree_rss_mb(pid), 2), len(process_tree(pid))))
        tick.wait(SAMPLE_PERIOD_S)
    return out


def top_mappings(pid: int, n: int = TOP_MAPPINGS) -> list[tuple[str, float]]:
    """The ``n`` largest resident mappings of ``pid`` by file (heap and other anonymous memory under one name), MB."""
    sizes: dict[str, float] = {}
    name = ANON
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps").read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                name = Path(parts[5]).name if len(parts) > 5 and parts[5].startswith("/") else ANON
            elif parts[0] == "Rss:":
                sizes[name] = sizes.get(name, 0.0) + int(parts[1]) * 1024 / 1e6
    return [(k, round(v, 1)) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:n]]


def measure(bin_dir: Path, seconds: float, config: Path | None) -> dict[str, Any]:
    """Start the daemon (``--demo``, or ``--config config``), wait for ready, sample ``seconds``, stop."""
    with tempfile.TemporaryDirectory(prefix="aiotwin-mem-") as data_dir:
        how = ["--demo"] if config is None else ["--config", str(config)]
        daemon = Daemon([str(bin_dir / "aiotwin-device"), "start", *how, "--port", "0", "--data-dir", data_dir,
                         "--no-live"])
        try:
            t0 = time.monotonic()
            daemon.wait_ready(READY_TIMEOUT_S)
            ready_s = time.monotonic() - t0
            samples = sample_rss(daemon.proc.pid, seconds)
            mappings = top_mappings(daemon.proc.pid)
        finally:
            code = daemon.stop()
    return summarize(samples, ready_s, mappings, code, daemon)


def file_config(tmp: Path, seconds: float, cache: Path) -> Path:
    """A device.toml with one 1280×720 file camera (for attribution: the demo renders its camera in-process)."""
    from _pipeline import frames_for, rendered

    video = rendered("junction", 9001, frames_for("junction", seconds + 10.0), cache=cache)
    cfg = tmp / "device.toml"
    cfg.write_text(f'[[cameras]]\nid = "file-1"\nsource = "{video.mp4}"\nfps = {video.truth["fps"]:g}\n',
                   encoding="utf-8")
    return cfg


def summarize(samples: list[tuple[float, float, int]], ready_s: float, mappings: list[tuple[str, float]],
              code: int, daemon: Daemon) -> dict[str, Any]:
    rss = np.asarray([s[1] for s in samples])
    second_half = rss[len(rss) // 2:] if len(rss) > 1 else rss
    return {
        "command": " ".join(daemon.command), "ready_after_s": round(ready_s, 2), "exit_code": code,
        "rss_mb": {"at_ready": float(rss[0]), "peak": float(rss.max()), "steady": float(np.median(second_half)),
                   "samples": len(rss), "processes": max(s[2] for s in samples)},
        "top_mappings_mb": dict(mappings),
        "variant_line": next((ln for ln in daemon.lines if "variant" in ln), ""),
        "samples": samples,
    }


def print_result(title: str, result: dict[str, Any], torch_ok: bool) -> None:
    rss = result["rss_mb"]
    print_table(title, ("measure", "value"),
                [("RSS at ready (MB)", rss["at_ready"]), ("RSS peak (MB)", rss["peak"]),
                 ("RSS steady, median of 2nd half (MB)", rss["steady"]), ("processes in tree", rss["processes"]),
                 ("torch importable in the venv", "yes" if torch_ok else "no"),
                 ("ready after (s)", result["ready_after_s"]), ("daemon exit code", result["exit_code"])])
    print_table("largest resident mappings of the daemon (MB)", ("mapping", "RSS"),
                list(result["top_mappings_mb"].items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run.start("memory", args)
    bin_dir = ensure_venv(args.reinstall)
    torch_ok = importable(bin_dir, "torch")
    result = measure(bin_dir, args.seconds, None)
    print_result(f"memory: aiotwin-device start --demo, infer extra only, {args.seconds:g} s after ready",
                 result, torch_ok)
    result |= {"venv": rel(VENV), "torch_importable": torch_ok, "packages": installed(bin_dir)}
    file_run = None
    if not args.no_file:
        with tempfile.TemporaryDirectory(prefix="aiotwin-memcfg-") as tmp:
            file_run = measure(bin_dir, args.seconds, file_config(Path(tmp), args.seconds, args.cache))
        print_result("for attribution: the same daemon with one 720p file camera instead of the demo's "
                     "synthetic one", file_run, torch_ok)
    rss = result["rss_mb"]
    goals = [Target("demo RSS peak incl. children", rss["peak"], "<=", TARGET_MB, "MB"),
             Target("demo RSS steady incl. children", rss["steady"], "<=", TARGET_MB, "MB"),
             Target("torch importable in the infer venv (0 = no)", float(torch_ok), "<=", 0.0)]
    params = {"seconds": args.seconds, "period_s": SAMPLE_PERIOD_S, "unit": "MB = 10^6 bytes"}
    run.finish({"params": params, "result": result, "file_source": file_run}, goals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
