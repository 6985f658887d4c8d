"""``aiotwin`` console script. Verbs live in one module each and register on the app."""

from __future__ import annotations

from aiotwin.cli._app import app
from aiotwin.clitools import register_verbs

register_verbs(__name__, ("scenes", "models", "netem"))


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
