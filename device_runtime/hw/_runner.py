"""Command runners for probes: the real one for the host root, a recorded one for fake trees.

A runner takes an argv and returns the command's stdout, or ``None`` when the command is absent or
failed. Probing a fake root with the real runner would describe the host, not the tree, so
:func:`runner_for_root` replays captures stored in ``<root>/_commands/<command>.txt`` instead.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

CommandRunner = Callable[[Sequence[str]], "str | None"]

# nvidia-smi answers in well under a second; a hung driver must not hang `detect`.
COMMAND_TIMEOUT_S = 5.0
RECORDED_DIR = "_commands"


def subprocess_runner(argv: Sequence[str]) -> str | None:
    """Run ``argv`` on this host (no shell); stdout on exit status 0, else ``None``."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        proc = subprocess.run(  # fixed argv from this package, no shell
            [exe, *argv[1:]], capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.decode("utf-8", errors="replace") if proc.returncode == 0 else None


def recorded_runner(directory: Path) -> CommandRunner:
    """A runner that answers ``argv`` with ``directory/<basename of argv[0]>.txt`` (``None`` if absent)."""

    def run(argv: Sequence[str]) -> str | None:
        capture = directory / f"{Path(argv[0]).name}.txt"
        try:
            return capture.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return None

    return run


def runner_for_root(root: Path) -> CommandRunner:
    """The real runner when ``root`` is this host's ``/``, else the recorded captures of the tree."""
    if root.resolve() == Path("/").resolve():
        return subprocess_runner
    return recorded_runner(root / RECORDED_DIR)


__all__ = ["COMMAND_TIMEOUT_S", "RECORDED_DIR", "CommandRunner", "recorded_runner", "runner_for_root",
           "subprocess_runner"]
