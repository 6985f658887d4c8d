"""Process exit-code registry: a range per role, one line of help per code.

Ranges: 0–9 common, 10–29 core tools (``aiotwin``), 100–149 ``aiotwin-device``, 150–199
``aiotwin-coordinator``, 200–249 ``aiotwin-gateway``. (A process exit status is one byte: the range
first planned for the coordinator, 300–349, would have wrapped to 44–93.)
Every code has a documentation page ``docs/ref-exit-codes/<code>.md`` (checked by a test and by
``scripts/lint_architecture.py``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """All exit codes of all aiotwin console scripts."""

    SUCCESS = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 3
    CONFIG_INVALID = 4
    BACKEND_MISSING = 5
    TERMINATED = 6

    SCENE_INVALID = 10
    MODEL_BUILD_FAILED = 11

    DEVICE_HW_ROOT_INVALID = 100
    DEVICE_NO_VARIANT = 101
    DEVICE_BUNDLE_INVALID = 102
    DEVICE_SOURCE_FAILED = 103
    DEVICE_OUTBOX_ERROR = 104
    DEVICE_DOCTOR_MISSING = 105
    DEVICE_PORT_IN_USE = 106
    DEVICE_ENGINE_FAILED = 107
    DEVICE_DATA_DIR_INVALID = 108
    DEVICE_LABELS_INVALID = 109

    GATEWAY_PORT_IN_USE = 200
    GATEWAY_BUNDLE_INVALID = 201
    GATEWAY_NO_VARIANT = 202
    GATEWAY_ENGINE_FAILED = 203
    GATEWAY_MDNS_UNAVAILABLE = 204
    GATEWAY_DOCTOR_MISSING = 205
    GATEWAY_FL_FAILED = 206

    COORDINATOR_NOT_RUNNING = 150
    COORDINATOR_RUN_NOT_FOUND = 151
    COORDINATOR_RUN_FAILED = 152
    COORDINATOR_FLOWER_FAILED = 153
    COORDINATOR_MODEL_NOT_FOUND = 154
    COORDINATOR_MODEL_STORE_ERROR = 155


EXIT_HELP: dict[ExitCode, str] = {
    ExitCode.SUCCESS: "Finished without error.",
    ExitCode.FAILURE: "An unexpected error; rerun with -v for the traceback and report it.",
    ExitCode.USAGE: "The command line is wrong; see --help.",
    ExitCode.INTERRUPTED: "Stopped by Ctrl-C (SIGINT) after a clean shutdown.",
    ExitCode.CONFIG_INVALID: "The config file has errors; each is printed with file, line and key.",
    ExitCode.BACKEND_MISSING: "An optional backend is not installed; install the extra the message names.",
    ExitCode.TERMINATED: "Stopped by SIGTERM after a clean shutdown (only when --strict-exit is given).",
    ExitCode.SCENE_INVALID: "The synthetic camera spec is malformed or unknown.",
    ExitCode.MODEL_BUILD_FAILED: "Training or exporting the model bundle failed.",
    ExitCode.DEVICE_HW_ROOT_INVALID: "The hardware root (--root) is not a readable directory tree.",
    ExitCode.DEVICE_NO_VARIANT: "No model variant of the bundle can run on this hardware with installed runtimes.",
    ExitCode.DEVICE_BUNDLE_INVALID: "The model bundle is malformed or fails sha256/shape verification.",
    ExitCode.DEVICE_SOURCE_FAILED: "The camera source cannot be opened (and --frames/run mode cannot wait).",
    ExitCode.DEVICE_OUTBOX_ERROR: "The event outbox database cannot be opened or is corrupt.",
    ExitCode.DEVICE_DOCTOR_MISSING: "doctor --expect-all found missing backends or extras.",
    ExitCode.DEVICE_PORT_IN_USE: "The metrics/health port is already in use; set [metrics] port or use 0.",
    ExitCode.DEVICE_ENGINE_FAILED: "The inference runtime could not load or run the chosen model variant.",
    ExitCode.DEVICE_DATA_DIR_INVALID: "The data dir cannot be created or written; fix its permissions or pick another.",
    ExitCode.DEVICE_LABELS_INVALID: "The label file is malformed (file, line, reason printed); nothing was imported.",
    ExitCode.GATEWAY_PORT_IN_USE: "The router's or inference instance's HTTP port is in use; pick another or --port 0.",
    ExitCode.GATEWAY_BUNDLE_INVALID: "The bundle to serve is missing, malformed or fails sha256/shape verification.",
    ExitCode.GATEWAY_NO_VARIANT: "The bundle has no variant that can run here (or not the one --variant names).",
    ExitCode.GATEWAY_ENGINE_FAILED: "The inference runtime could not load or run the served model variant.",
    ExitCode.GATEWAY_MDNS_UNAVAILABLE: "mDNS cannot start on the chosen interfaces; fix multicast or pass --no-mdns.",
    ExitCode.GATEWAY_DOCTOR_MISSING: "gateway doctor --expect-all found a missing inference backend or no bundle.",
    ExitCode.GATEWAY_FL_FAILED: "The gateway's federated learning (edge SuperLink, ServerApp, cloud SuperNode) did not "
    "start; see DATA_DIR/fl/.",
    ExitCode.COORDINATOR_NOT_RUNNING: "No coordinator serves this work dir; run aiotwin-coordinator start first.",
    ExitCode.COORDINATOR_RUN_NOT_FOUND: "No FL run with that id under the work dir; see aiotwin-coordinator fl status.",
    ExitCode.COORDINATOR_RUN_FAILED: "The FL run failed (or did not finish within --timeout-s); see fl status RUN.",
    ExitCode.COORDINATOR_FLOWER_FAILED: "The Flower SuperLink or global ServerApp failed to start; see the logs dir.",
    ExitCode.COORDINATOR_MODEL_NOT_FOUND: "No published bundle of that name and version; see models list.",
    ExitCode.COORDINATOR_MODEL_STORE_ERROR: "The model store cannot be opened, read or written; see the message.",
}

__all__ = ["EXIT_HELP", "ExitCode"]
