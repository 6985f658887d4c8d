"""``aiotwin-coordinator`` console script. Verbs live in one module each and register on the app."""

from __future__ import annotations

from aiotwin.clitools import register_verbs
from cloud_coordinator.cli._app import app

register_verbs(__name__, ("start", "fl", "models"))


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
