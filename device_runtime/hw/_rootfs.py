"""Read-only access to a hardware root (``/`` or a fake tree), chroot-style.

Absolute symlinks resolve *inside* the root (``/proc/device-tree`` → ``/sys/firmware/devicetree/base``
stays in the tree), so a captured or mounted root never leaks reads of the host running the probe.
Every low-level failure becomes a :class:`HardwareProbeError` that names the path.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from device_runtime._exceptions import HardwareProbeError

MAX_FILE_BYTES = 8 << 20  # /proc/cpuinfo of a 256-thread server is under 1 MiB; more is not a proc file
MAX_SYMLINK_HOPS = 40  # Linux's own limit (MAXSYMLINKS)


def _parts(path: PurePosixPath) -> list[str]:
    return [p for p in path.parts if p not in ("/", ".")]


class RootFS:
    """Files under ``root``; missing optional files read as ``None``, broken ones raise."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            what = "does not exist" if not root.exists() else "is not a directory"
            raise HardwareProbeError(f"hardware root {root} {what}")
        self.root = root

    def where(self, rel: str) -> str:
        """Human-readable location of ``rel`` for messages."""
        return str(self.root / rel)

    def resolve(self, rel: str) -> Path:
        """Map ``rel`` to a host path, following symlinks with the root as ``/``."""
        todo, done, hops = _parts(PurePosixPath(rel)), list[str](), 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            path = self.root.joinpath(*done, part)
            if not path.is_symlink():
                done.append(part)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise HardwareProbeError(f"{self.where(rel)}: too many levels of symbolic links")
            target = PurePosixPath(path.readlink())
            done = [] if target.is_absolute() else done
            todo = _parts(target) + todo
        return self.root.joinpath(*done)

    def exists(self, rel: str) -> bool:
        return self.resolve(rel).exists()

    def read_bytes(self, rel: str) -> bytes | None:
        """Contents of a regular file, ``None`` when it is absent."""
        path = self.resolve(rel)
        if not path.exists():
            return None
        if not path.is_file():
            kind = "a directory" if path.is_dir() else "not a regular file"
            raise HardwareProbeError(f"{self.where(rel)} is {kind}, expected a file")
        try:
            with path.open("rb") as fh:
                return fh.read(MAX_FILE_BYTES)
        except OSError as exc:
            raise HardwareProbeError(f"{self.where(rel)}: cannot read: {exc.strerror or exc}") from exc

    def read_text(self, rel: str) -> str | None:
        """Like :meth:`read_bytes`, decoded as UTF-8; bad bytes become U+FFFD instead of failing."""
        raw = self.read_bytes(rel)
        return None if raw is None else raw.decode("utf-8", errors="replace")

    def list_dir(self, rel: str) -> list[str]:
        """Sorted entry names of a directory; empty when it is absent or not a directory."""
        path = self.resolve(rel)
        if not path.is_dir():
            return []
        try:
            return sorted(p.name for p in path.iterdir())
        except OSError as exc:
            raise HardwareProbeError(f"{self.where(rel)}: cannot list: {exc.strerror or exc}") from exc


__all__ = ["MAX_FILE_BYTES", "RootFS"]
