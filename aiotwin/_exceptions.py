"""Errors of the core package.

Tree::

    AiotwinError
    ├── ConfigError              a config file is malformed (carries every problem found)
    ├── BundleError              a model bundle is malformed or fails verification
    │   └── BundleIntegrityError a variant file's sha256/size/shape does not match the manifest
    ├── SceneError               a synthetic camera spec is malformed
    ├── BackendMissing           an optional heavy backend is not installed (carries the install hint)
    ├── EngineError              an inference engine failed to load or run a variant
    ├── MdnsError                base of the shared mDNS helpers' errors (aiotwin.discovery)
    │   ├── MdnsSocketError      the mDNS sockets cannot be opened (no multicast interface)
    │   ├── MdnsNameConflict     the service instance name is already advertised by another host
    │   └── TxtMalformed         a TXT record is malformed (browsers ignore the service)
    ├── FlError                  base of federated-learning errors (subtree in aiotwin.fl._exceptions)
    └── NodeLifecycleError       base of the lifecycle-steering errors below
        ├── NodeNotReady         retry later (a supervisor backs off and tries again)
        ├── NodeAuthFailed       credentials rejected: re-enrol
        └── NodeSetupError       give up: the node cannot start with this setup

Roles derive their own package base from :class:`AiotwinError`.
"""

from __future__ import annotations

from dataclasses import dataclass


class AiotwinError(Exception):
    """Base of every error raised by aiotwin packages."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where it is and what is wrong."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = self.key or "<root>"
        return f"{where} {key}: {self.message}"


class ConfigError(AiotwinError):
    """A config file failed validation; ``problems`` lists every error found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        lines = "\n  ".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} config error(s):\n  {lines}")


class BundleError(AiotwinError):
    """A model bundle is malformed (manifest, layout, unknown variant)."""


class BundleIntegrityError(BundleError):
    """A variant file does not match its manifest entry (sha256, size or tensor shape)."""


class SceneError(AiotwinError):
    """A synthetic camera/scene specification is malformed."""


class BackendMissing(AiotwinError):
    """An optional backend is not installed."""

    def __init__(self, backend: str, missing: list[str], extra: str) -> None:
        self.backend = backend
        self.missing = missing
        self.extra = extra
        super().__init__(
            f"backend {backend!r} needs {', '.join(missing)}: pip install 'aiotwin[{extra}]'"
        )


class EngineError(AiotwinError):
    """An inference engine failed to load or run a model variant."""


class MdnsError(AiotwinError):
    """Base of the errors of the shared mDNS helpers (:mod:`aiotwin.discovery`)."""


class MdnsSocketError(MdnsError):
    """The mDNS sockets cannot be opened on the chosen interfaces."""


class MdnsNameConflict(MdnsError):
    """Another host already advertises this service instance name: give this node a unique id."""


class TxtMalformed(MdnsError, ValueError):
    """A DNS-SD TXT record is malformed; browsers ignore the service."""


class NodeLifecycleError(AiotwinError):
    """Base of errors whose class name says what the supervisor should do."""


class NodeNotReady(NodeLifecycleError):
    """A dependency is not ready yet: retry with backoff."""


class NodeAuthFailed(NodeLifecycleError):
    """Credentials were rejected: re-enrol the node."""


class NodeSetupError(NodeLifecycleError):
    """The node cannot start with this setup: give up and report."""


__all__ = [
    "AiotwinError",
    "BackendMissing",
    "BundleError",
    "BundleIntegrityError",
    "ConfigError",
    "ConfigProblem",
    "EngineError",
    "MdnsError",
    "MdnsNameConflict",
    "MdnsSocketError",
    "NodeAuthFailed",
    "NodeLifecycleError",
    "NodeNotReady",
    "NodeSetupError",
    "SceneError",
    "TxtMalformed",
]
