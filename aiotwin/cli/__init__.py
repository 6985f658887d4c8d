"""``aiotwin`` console script. Verb groups live in one module each and register on the app."""

from __future__ import annotations

import importlib

from aiotwin.cli._app import app

_VERBS = ("scenes", "models", "demo", "netem")
for _verb in _VERBS:
    try:
        importlib.import_module(f"aiotwin.cli.{_verb}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a verb is being written
        if _exc.name != f"aiotwin.cli.{_verb}":
            raise


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
