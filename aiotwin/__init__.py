"""aiotwin core: what every role shares (wire types, config, errors, models, scenes)."""

from aiotwin._exceptions import (
    AiotwinError,
    BackendMissing,
    BundleError,
    BundleIntegrityError,
    ConfigError,
    ConfigProblem,
    EngineError,
    MdnsError,
    MdnsNameConflict,
    MdnsSocketError,
    NodeAuthFailed,
    NodeLifecycleError,
    NodeNotReady,
    NodeSetupError,
    SceneError,
    TxtMalformed,
)

__version__ = "0.1.0"

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
    "__version__",
]
