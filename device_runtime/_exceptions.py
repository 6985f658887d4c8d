"""Errors of the camera node runtime.

Tree::

    AiotwinError (aiotwin)
    └── DeviceError
        ├── HardwareProbeError     the hardware root is unusable (not a directory, unreadable files)
        ├── ProfileError           a hw_profiles TOML is malformed (file, key, reason)
        ├── NoVariantError         nothing in the bundle can run here (carries every rejection reason)
        ├── SourceError            a camera source cannot be opened or has failed
        │   └── SourceUnsupported  the source kind needs a build/backend that is not present
        ├── OutboxError            the SQLite outbox cannot be opened or written
        ├── PortInUseError         the metrics/health port is taken by another process
        ├── LabelImportError       a label file is malformed (file, line, reason); nothing was imported
        └── DataDirError           the data dir cannot be created or written
            └── SampleStoreError   the sample store (crops kept to learn from) failed

Engine failures are :class:`aiotwin.EngineError` (engines live in the core, shared with gateways).
"""

from __future__ import annotations

from aiotwin._exceptions import AiotwinError


class DeviceError(AiotwinError):
    """Base of all camera-node errors."""


class HardwareProbeError(DeviceError):
    """The hardware root cannot be probed."""


class ProfileError(DeviceError):
    """A hardware profile is malformed."""


class NoVariantError(DeviceError):
    """No variant of the bundle can run on this hardware with the installed runtimes."""


class SourceError(DeviceError):
    """A camera source failed to open or read."""


class SourceUnsupported(SourceError):
    """The source kind is not supported by the installed OpenCV build or backends."""


class OutboxError(DeviceError):
    """The event outbox failed."""


class PortInUseError(DeviceError):
    """The metrics/health HTTP port is already in use."""


class LabelImportError(DeviceError):
    """A label file for ``aiotwin-device label import`` is malformed; nothing was imported."""


class DataDirError(DeviceError):
    """The node's data dir cannot be created or written."""


class SampleStoreError(DataDirError):
    """The sample store in the data dir cannot be opened or written."""


__all__ = [
    "DataDirError", "DeviceError", "HardwareProbeError", "LabelImportError", "NoVariantError", "OutboxError",
    "PortInUseError", "ProfileError", "SampleStoreError", "SourceError", "SourceUnsupported",
]
