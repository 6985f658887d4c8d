"""``aiotwin-device`` console script. Verbs live in one module each and register on the app."""

from __future__ import annotations

import importlib

from device_runtime.cli._app import app

# Verb modules register themselves on ``app`` when imported; a missing module is a bug, not an option.
_VERBS = ("detect", "doctor", "run", "start", "events", "bench")
for _verb in _VERBS:
    try:
        importlib.import_module(f"device_runtime.cli.{_verb}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a verb is being written
        if _exc.name != f"device_runtime.cli.{_verb}":
            raise


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
