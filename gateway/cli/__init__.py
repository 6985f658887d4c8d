"""``aiotwin-gateway`` console script. Verbs live in one module each and register on the app."""

from __future__ import annotations

from aiotwin.clitools import register_verbs
from gateway.cli._app import app

register_verbs(__name__, ("start", "serve", "doctor", "fl"))


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
