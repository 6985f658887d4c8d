"""``aiotwin-gateway`` console script. Verbs live in one module each and register on the app."""

from __future__ import annotations

import importlib

from gateway.cli._app import app

# Verb modules register themselves on ``app`` when imported; a missing module is a bug, not an option.
# ``start`` (the gateway daemon: router + ingress) is added by its own step.
_VERBS = ("serve", "doctor")
for _verb in _VERBS:
    importlib.import_module(f"gateway.cli.{_verb}")


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
